"""Images we serve by URL for a day (Zalo fetches outbound photos itself, maybe more than once)."""

from __future__ import annotations

import secrets

from bson import Binary

from core.ports import Clock
from storage.documents import Database


class MediaRepo:
    """The `media` collection: `_id` is an unguessable token; a TTL index expires entries."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._media = db["media"]
        self._clock = clock

    async def put(self, data: bytes, mime: str) -> str:
        """Store bytes and return an unguessable token."""
        token = secrets.token_urlsafe(24)
        await self._media.insert_one(
            {"_id": token, "data": Binary(data), "mime": mime, "at": self._clock.now()}
        )
        return token

    async def get(self, token: str) -> tuple[bytes, str] | None:
        """Bytes and MIME type for a token, or None when unknown or expired."""
        document = await self._media.find_one({"_id": token})
        return (bytes(document["data"]), str(document["mime"])) if document else None
