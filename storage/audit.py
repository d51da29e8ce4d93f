"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from contextlib import suppress

from pymongo.errors import DuplicateKeyError

from core.audit import GENESIS, entry_hash
from core.models import AuditEntry
from core.ports import Clock
from storage.documents import Database, without_id


class AuditRepo:
    """The `audit` collection (unique `seq`) plus a head counter in `counters`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._audit = db["audit"]
        self._counters = db["counters"]
        self._clock = clock

    async def _head(self) -> int:
        counter = await self._counters.find_one({"_id": "audit"})
        return int(counter["seq"]) if counter else 0

    async def append(
        self,
        actor: str,
        action: str,
        allowed: bool,
        target: str = "",
        details: dict[str, str] | None = None,
    ) -> AuditEntry:
        """Add an entry chained to the previous one; concurrent writers take the next free seq."""
        details = details or {}
        now = self._clock.now()
        # MongoDB keeps milliseconds: hash what will be read back.
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        seq = await self._head() + 1
        while True:
            previous = await self._audit.find_one({"seq": seq - 1}) if seq > 1 else None
            prev_hash = str(previous["hash"]) if previous else GENESIS
            entry = AuditEntry(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                allowed=allowed,
                target=target,
                details=details,
                prev_hash=prev_hash,
                hash=entry_hash(prev_hash, seq, at, actor, action, allowed, target, details),
            )
            try:
                await self._audit.insert_one(entry.model_dump())
                break
            except DuplicateKeyError:
                seq += 1
        # The head is only a hint where to start looking; losing its first upsert race is fine.
        with suppress(DuplicateKeyError):
            await self._counters.update_one({"_id": "audit"}, {"$max": {"seq": seq}}, upsert=True)
        return entry

    async def latest(self, count: int) -> list[AuditEntry]:
        """The newest entries, newest first (a bounded window below the head)."""
        head = await self._head()
        cursor = self._audit.find({"seq": {"$gt": head - count, "$lte": head}}).sort("seq", -1)
        return [AuditEntry.model_validate(without_id(document)) async for document in cursor]
