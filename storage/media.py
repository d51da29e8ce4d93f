"""Images we serve by URL for a day (Zalo fetches outbound photos itself, maybe more than once)."""

from __future__ import annotations

import hashlib
import secrets

from bson import Binary

from core.ports import Clock
from storage.documents import Database


def media_digest(data: bytes) -> str:
    """The SHA-256 of served bytes, as stored beside them."""
    return hashlib.sha256(data).hexdigest()


class MediaRepo:
    """The `media` collection: `_id` is an unguessable token; a TTL index expires entries."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._media = db["media"]
        self._clock = clock

    async def put(self, data: bytes, mime: str) -> str:
        """Store bytes and return an unguessable token."""
        token = secrets.token_urlsafe(24)
        document = {
            "_id": token,
            "data": Binary(data),
            "mime": mime,
            "sha256": media_digest(data),  # so an erasure finds the copies of a selfie
            "at": self._clock.now(),
        }
        await self._media.insert_one(document)
        return token

    async def get(self, token: str) -> tuple[bytes, str] | None:
        """Bytes and MIME type for a token, or None when unknown or expired."""
        document = await self._media.find_one({"_id": token})
        return (bytes(document["data"]), str(document["mime"])) if document else None
