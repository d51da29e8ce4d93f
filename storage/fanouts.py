"""Completed scheduled fan-outs (reminders, summaries), so each runs once across processes."""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from core.ports import Clock
from storage.documents import Database

FANOUTS_KEPT = timedelta(days=7)


class FanoutRepo:
    """The `fanouts` collection: `_id` is the fan-out key; a TTL index forgets old ones."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._fanouts = db["fanouts"]
        self._clock = clock

    async def is_done(self, key: str) -> bool:
        """Whether the fan-out `key` already completed."""
        return await self._fanouts.find_one({"_id": key}) is not None

    async def mark_done(self, key: str) -> None:
        """Record that `key` completed (a repeat is harmless)."""
        with suppress(DuplicateKeyError):
            await self._fanouts.insert_one({"_id": key, "at": self._clock.now()})
