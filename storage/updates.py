"""Processed update keys, so a redelivered update has no second effect."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from core.ports import Clock
from storage.documents import Database


class UpdateLogRepo:
    """The `updates` collection: `_id` is the dedupe key; a TTL index forgets old keys."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._updates = db["updates"]
        self._clock = clock

    async def first_time(self, key: str) -> bool:
        """Record the key; False when it was already recorded."""
        try:
            await self._updates.insert_one({"_id": key, "at": self._clock.now()})
        except DuplicateKeyError:
            return False
        return True
