"""The outbox: proactive messages in lanes (platform, priority), each numbered by its own counter.

Every query is bounded: a key, a lane's counters, a window of sequence numbers in one lane, or
one chat's messages (`(platform, chat_id)`, when a Telegram group moved to a new chat id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from core.channel import Platform
from core.models import OutboxEntry, OutboxStatus, OutgoingMessage, Priority, Tally
from core.ports import Clock
from storage.counters import increment
from storage.documents import Database, Document, Session

DUPLICATE_KEY = 11000
# One block of numbers per chunk, so a chunk's insert lands within seconds of its allocation:
# the dispatcher takes a number still missing after a minute for one that will never be used.
ENQUEUE_CHUNK = 5_000
ERROR_LENGTH = 500

Lane = tuple[Platform, Priority]


def _head_id(platform: Platform, priority: Priority) -> str:
    return f"outbox:{platform.value}:{int(priority)}"


def _cursor_id(platform: Platform, priority: Priority) -> str:
    return f"outbox-cursor:{platform.value}:{int(priority)}"


class OutboxRepo:
    """The `outbox` collection, its lane counters, and the tallies of alerts' outcomes.

    Indexes: unique `key`; `(platform, priority, seq)` for lanes; `(platform, chat_id)` to retarget;
    the tallies' `alert`.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._outbox = db["outbox"]
        self._counters = db["counters"]
        self._tallies = db["tallies"]
        self._clock = clock

    async def enqueue(self, messages: Sequence[OutgoingMessage]) -> int:
        """Add messages, skipping keys already enqueued; returns how many were added."""
        added = 0
        for (platform, priority), group in _by_lane(messages).items():
            for start in range(0, len(group), ENQUEUE_CHUNK):
                chunk = await self._new(group[start : start + ENQUEUE_CHUNK])
                if chunk:
                    added += await self.insert(await self._numbered(platform, priority, chunk))
        return added

    async def _new(self, messages: list[OutgoingMessage]) -> list[OutgoingMessage]:
        """The messages whose keys are not enqueued yet: a re-run (a broadcast queued again
        after a crash) then uses up no numbers the dispatcher would wait for."""
        keys = [message.key for message in messages]
        found = self._outbox.find({"key": {"$in": keys}}, {"key": 1, "_id": 0})
        known = {document["key"] async for document in found}
        return [message for message in messages if message.key not in known]

    async def numbered(self, messages: Sequence[OutgoingMessage]) -> list[Document]:
        """The documents of a few messages, numbered in their lanes, for `insert` (a number
        left unused when the insert never happens is skipped by the dispatcher)."""
        return [
            document
            for (platform, priority), group in _by_lane(messages).items()
            for document in await self._numbered(platform, priority, group)
        ]

    async def _numbered(
        self, platform: Platform, priority: Priority, messages: list[OutgoingMessage]
    ) -> list[Document]:
        head = await increment(self._counters, _head_id(platform, priority), len(messages))
        first = head - len(messages)
        now = self._clock.now()
        return [_document(message, first + n, now) for n, message in enumerate(messages)]

    async def insert(self, documents: list[Document], session: Session | None = None) -> int:
        """Insert numbered documents (in `session`'s transaction, if given); a key enqueued
        before is skipped. Returns how many were added."""
        if not documents:
            return 0
        try:
            result = await self._outbox.insert_many(documents, ordered=False, session=session)
        except BulkWriteError as error:
            # A key enqueued before fails alone and leaves its number unused: that is the dedupe.
            if any(failure["code"] != DUPLICATE_KEY for failure in error.details["writeErrors"]):
                raise
            return int(error.details["nInserted"])
        return len(result.inserted_ids)

    async def bounds(self, platform: Platform, priority: Priority) -> tuple[int, int]:
        """The lane's cursor (below it nothing is pending) and head (the next number to give)."""
        cursor_id, head_id = _cursor_id(platform, priority), _head_id(platform, priority)
        values = {cursor_id: 0, head_id: 0}
        async for counter in self._counters.find({"_id": {"$in": [cursor_id, head_id]}}):
            values[counter["_id"]] = int(counter["seq"])
        return values[cursor_id], values[head_id]

    async def advance(self, platform: Platform, priority: Priority, seq: int) -> None:
        """Move the lane's cursor up to `seq` (never back)."""
        await self._counters.update_one(
            {"_id": _cursor_id(platform, priority)}, {"$max": {"seq": seq}}, upsert=True
        )

    async def window(
        self, platform: Platform, priority: Priority, start: int, size: int
    ) -> list[OutboxEntry]:
        """The lane's messages with start <= seq < start + size (in flight: due when claims end)."""
        found = self._outbox.find(
            {
                "platform": platform.value,
                "priority": int(priority),
                "seq": {"$gte": start, "$lt": start + size},
            },
            {"_id": 0},
        )
        return [_entry(document) async for document in found]

    async def claim(self, entries: Sequence[OutboxEntry], until: datetime) -> None:
        """Mark messages in flight until `until`: nobody else sends them meanwhile."""
        keys = [entry.key for entry in entries]
        await self._outbox.update_many({"key": {"$in": keys}}, {"$set": {"lease_until": until}})

    async def settle(self, entries: Sequence[OutboxEntry]) -> None:
        """Store how sends went (status, attempts, next_at, sent_at, error), ending claims."""
        if not entries:
            return
        # Only a pending message changes: a late writer never undoes another's final outcome.
        now = self._clock.now()
        updates = [
            UpdateOne(
                {"key": entry.key, "status": OutboxStatus.PENDING.value},
                {
                    "$set": {
                        "status": entry.status.value,
                        "attempts": entry.attempts,
                        "next_at": entry.next_at,
                        "sent_at": entry.sent_at,
                        "message_id": entry.message_id,
                        "error": entry.error[:ERROR_LENGTH],
                        "settled_at": None if entry.status == OutboxStatus.PENDING else now,
                    },
                    "$unset": {"lease_until": ""},
                },
            )
            for entry in entries
        ]
        counted = [e for e in entries if e.tally and e.status != OutboxStatus.PENDING]
        # Only what this settle finishes counts: a message settled before is not counted again.
        finishing = (
            await self._keys_in([e.key for e in counted], OutboxStatus.PENDING)
            if counted
            else set()
        )
        await self._outbox.bulk_write(updates, ordered=False)
        await self._count([entry for entry in counted if entry.key in finishing])

    async def _keys_in(self, keys: Sequence[str], status: OutboxStatus) -> set[str]:
        """Which of these messages have `status`."""
        found = self._outbox.find(
            {"key": {"$in": list(keys)}, "status": status.value}, {"key": 1, "_id": 0}
        )
        return {document["key"] async for document in found}

    async def _count(self, entries: Sequence[OutboxEntry]) -> None:
        """Add final outcomes to their tallies (one dispatcher per platform writes them)."""
        counts: Counter[tuple[str, Platform, str]] = Counter(
            (entry.tally, entry.platform, entry.status.value) for entry in entries
        )
        updates = [
            UpdateOne(
                {"_id": f"{tally}:{platform.value}"},
                {
                    "$inc": {status: count},
                    "$setOnInsert": dict(
                        zip(("alert", "area"), tally.split("/", 1), strict=True),
                        platform=platform.value,
                    ),
                },
                upsert=True,
            )
            for (tally, platform, status), count in counts.items()
        ]
        if updates:
            await self._tallies.bulk_write(updates, ordered=False)

    async def sent_among(self, keys: Sequence[str]) -> set[str]:
        """Which of these messages have been sent."""
        return await self._keys_in(keys, OutboxStatus.SENT)

    async def tallies(self, alert_id: str) -> list[Tally]:
        """How an alert's messages went so far, per platform and area."""
        found = self._tallies.find({"alert": alert_id}, {"_id": 0})
        return [Tally.model_validate(document) async for document in found]

    async def sent_message_id(self, key: str) -> str:
        """The platform's id of a sent message ("" when not sent, or sent before ids were kept)."""
        found = await self._outbox.find_one({"key": key}, {"message_id": 1})
        return str(found.get("message_id") or "") if found else ""

    async def retarget(self, platform: Platform, chat_id: str, new_chat_id: str) -> int:
        """Move the chat's pending messages to `new_chat_id`; returns how many moved."""
        result = await self._outbox.update_many(
            {"platform": platform.value, "chat_id": chat_id, "status": OutboxStatus.PENDING.value},
            {"$set": {"chat_id": new_chat_id}},
        )
        return result.modified_count


def _by_lane(messages: Sequence[OutgoingMessage]) -> dict[Lane, list[OutgoingMessage]]:
    """The messages of each lane in order, each key once."""
    lanes: dict[Lane, dict[str, OutgoingMessage]] = {}
    for message in messages:
        lanes.setdefault((message.platform, message.priority), {}).setdefault(message.key, message)
    return {lane: list(unique.values()) for lane, unique in lanes.items()}


def _document(message: OutgoingMessage, seq: int, now: datetime) -> Document:
    next_at = max(now, message.not_before) if message.not_before else now
    entry = OutboxEntry(**message.model_dump(), seq=seq, next_at=next_at, created_at=now)
    return {**entry.model_dump(mode="python"), "priority": int(entry.priority)}


def _entry(document: Document) -> OutboxEntry:
    lease_until = document.pop("lease_until", None)
    entry = OutboxEntry.model_validate(document)
    if lease_until is not None and lease_until > entry.next_at:
        entry.next_at = lease_until
    return entry
