"""The append-only, HMAC-chained audit trail, and the purposes officers gave for their access."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta

from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from core.audit import GENESIS, Verdict, entry_hash, flaw
from core.models import AuditEntry
from core.ports import Clock
from core.retention import DataClass
from storage.documents import Database, Document, without_id
from storage.retention import MARKS as RETENTION_MARKS

PURPOSE_KEPT = timedelta(hours=1)
VERIFY_BATCH = 500
AUDIT_INDEXES = [
    IndexModel("seq", unique=True),
    IndexModel([("person", ASCENDING), ("at", DESCENDING)]),
]
PURPOSE_INDEXES = [
    # Purposes are read only within the hour; the sweep just keeps the collection small.
    IndexModel("at", expireAfterSeconds=int(PURPOSE_KEPT.total_seconds()) * 2),
]


class AuditRepo:
    """The `audit` collection (unique `seq`) plus a head counter in `counters`."""

    def __init__(self, db: Database, clock: Clock, key: bytes) -> None:
        self._audit = db["audit"]
        self._counters = db["counters"]
        self._purposes = db["audit_purposes"]
        self._retention = db[RETENTION_MARKS]
        self._clock = clock
        self._key = key
        self._writing = asyncio.Lock()

    async def _hint(self) -> int:
        counter = await self._counters.find_one({"_id": "audit"})
        return int(counter["seq"]) if counter else 0

    async def append(
        self,
        actor: str,
        action: str,
        allowed: bool,
        target: str = "",
        details: dict[str, str] | None = None,
        person: str = "",
        purpose: str = "",
    ) -> AuditEntry:
        """Add an entry chained to the previous one; concurrent writers take the next free seq.

        An access to a `person`'s data without a stated `purpose` records the one the actor
        gave within the hour, if any.
        """
        if person and not purpose:
            purpose = await self.purpose_of(actor)
        now = self._clock.now()
        content = AuditEntry(
            seq=0,
            # MongoDB keeps milliseconds: seal what will be read back.
            at=now.replace(microsecond=now.microsecond // 1000 * 1000),
            actor=actor,
            action=action,
            allowed=allowed,
            target=target,
            details=details or {},
            person=person,
            purpose=purpose,
            prev_hash=GENESIS,
            hash="",
        )
        # One writer at a time in this process; other processes race on the unique seq.
        async with self._writing:
            return await self._chain(content)

    async def _chain(self, content: AuditEntry) -> AuditEntry:
        """Store `content` as the entry after the newest one, sealed."""
        seq = await self._hint() + 1
        while True:
            previous = await self._audit.find_one({"seq": seq - 1}) if seq > 1 else None
            prev_hash = str(previous["hash"]) if previous else GENESIS
            entry = content.model_copy(update={"seq": seq, "prev_hash": prev_hash})
            entry.hash = entry_hash(self._key, entry)
            try:
                await self._audit.insert_one(entry.model_dump())
                break
            except DuplicateKeyError:
                seq += 1
        # The counter is only a hint where to start looking; losing its first upsert race is fine.
        with suppress(DuplicateKeyError):
            await self._counters.update_one({"_id": "audit"}, {"$max": {"seq": seq}}, upsert=True)
        return entry

    async def latest(self, count: int) -> list[AuditEntry]:
        """The newest entries, newest first (a bounded window below the head)."""
        head, _ = await self.head()
        cursor = self._audit.find({"seq": {"$gt": head - count, "$lte": head}}).sort("seq", -1)
        return [AuditEntry.model_validate(without_id(document)) async for document in cursor]

    async def head(self) -> tuple[int, str]:
        """The newest entry's (seq, hash); (0, GENESIS) for an empty trail."""
        # The counter may lag behind a writer that lost its upsert: look just past it.
        newest: Document | None = None
        async for document in self._audit.find({"seq": {"$gte": await self._hint()}}):
            if newest is None or document["seq"] > newest["seq"]:
                newest = document
        return (int(newest["seq"]), str(newest["hash"])) if newest else (0, GENESIS)

    async def for_person(self, person: str, since: datetime, limit: int) -> list[AuditEntry]:
        """Entries about one person since `since`, newest first, at most `limit`."""
        cursor = (
            self._audit.find({"person": person, "at": {"$gte": since}})
            .sort([("at", -1), ("seq", -1)])
            .limit(limit)
        )
        return [AuditEntry.model_validate(without_id(document)) async for document in cursor]

    async def verify(self, batch: int = VERIFY_BATCH) -> Verdict:
        """Check the whole chain in order, a window of `batch` entries at a time."""
        previous, cursor = await self._kept_from()
        while True:
            window = self._audit.find({"seq": {"$gte": cursor, "$lt": cursor + batch}})
            documents = sorted([d async for d in window], key=lambda d: int(d["seq"]))
            if not documents:  # the end, or a hole wider than a window: jump to what follows
                after = await self._audit.find_one({"seq": {"$gte": cursor}}, sort=[("seq", 1)])
                if after is None:
                    break
                documents = [after]
            for document in documents:
                entry, reason = _read(document)
                if entry is not None:
                    reason = flaw(self._key, entry, previous)
                if reason:
                    seq = previous.seq + 1 if previous else 1
                    return Verdict(seq - 1, previous.hash if previous else GENESIS, seq, reason)
                previous = entry
            cursor = documents[-1]["seq"] + 1
        return await self._strays(previous)

    async def _kept_from(self) -> tuple[AuditEntry | None, int]:
        """Where the chain starts: entry 1, or the first one the retention run kept (those
        before it were deleted on schedule), taken as linked to the one it names before it."""
        kept = await self._retention.find_one({"_id": DataClass.AUDIT.value})
        first = kept["mark"] if kept and isinstance(kept.get("mark"), int) else 1
        document = await self._audit.find_one({"seq": first}) if first > 1 else None
        entry = _read(document)[0] if document else None
        if entry is None:
            return None, first
        return entry.model_copy(update={"seq": first - 1, "hash": entry.prev_hash}), first

    async def _strays(self, last: AuditEntry | None) -> Verdict:
        """The verdict for a sound chain, unless an entry sits outside its numbering."""
        count, head = (last.seq, last.hash) if last else (0, GENESIS)
        stray = await self._audit.find_one({"seq": {"$not": {"$gte": 1}}})
        if stray is not None:
            reason = f"a stray entry with no valid number (seq {stray.get('seq')!r})"
            return Verdict(count, head, count + 1, reason)
        return Verdict(count, head)

    async def purpose_of(self, actor: str) -> str:
        """The purpose `actor` gave within the last hour; "" when none."""
        since = self._clock.now() - PURPOSE_KEPT
        found = await self._purposes.find_one({"_id": actor, "at": {"$gt": since}})
        return str(found["purpose"]) if found else ""

    async def remember_purpose(self, actor: str, purpose: str) -> None:
        """Keep the purpose `actor` just gave for the next hour."""
        now = self._clock.now()
        await self._purposes.update_one(
            {"_id": actor}, {"$set": {"purpose": purpose, "at": now}}, upsert=True
        )


def _read(document: Document) -> tuple[AuditEntry | None, str]:
    """The entry a document holds, or why it holds none."""
    try:
        return AuditEntry.model_validate(without_id(document)), ""
    except ValidationError:
        return None, "it is not a well-formed audit entry"
