"""Named, expiring leases: one process at a time runs a scheduler tick or drains a dispatch lane."""

from __future__ import annotations

from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from core.ports import Clock
from storage.documents import Database


class LeaseRepo:
    """The `locks` collection: `_id` is the lease name, with its `holder` and `until`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._locks = db["locks"]
        self._clock = clock

    async def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease; False when another holder has it."""
        now = self._clock.now()
        try:
            await self._locks.find_one_and_update(
                {"_id": name, "$or": [{"holder": holder}, {"until": {"$lte": now}}]},
                {"$set": {"holder": holder, "until": now + ttl}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The lease exists and is another's, so the upsert tried to insert a second one.
            return False
        return True

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up early (only if it is still ours)."""
        await self._locks.delete_one({"_id": name, "holder": holder})
