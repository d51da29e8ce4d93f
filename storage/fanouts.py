"""Completed scheduled fan-outs (reminders, summaries), so each runs once across processes."""

from __future__ import annotations

from collections.abc import Iterable
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

    async def done(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The completed fan-outs among `keys`, each with the number of cases it concerned."""
        found = self._fanouts.find({"_id": {"$in": list(keys)}})
        return {str(document["_id"]): document.get("cases") async for document in found}

    async def mark_done(self, key: str, cases: int | None = None) -> None:
        """Record that `key` completed, concerning `cases` cases (a repeat is harmless)."""
        document = {"_id": key, "at": self._clock.now(), "cases": cases}
        with suppress(DuplicateKeyError):
            await self._fanouts.insert_one(document)
