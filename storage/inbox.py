"""The inbox: every update stored as received, until it has been processed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from core.models import InboxEntry
from storage.documents import Database, Document

NEW = "new"
DONE = "done"


class InboxRepo:
    """The `inbox` collection: `_id` is the platform's update key (a redelivery is a duplicate).

    Only unfinished entries have `status: "new"`, so the index on it stays as small as the
    work in flight. A processed entry keeps its key (the TTL index forgets it after days)
    but loses its content: the raw update can hold personal data. The raw update is kept
    as JSON text: whatever keys and numbers a platform (or an attacker) sends, it stores.
    """

    def __init__(self, db: Database) -> None:
        self._inbox = db["inbox"]

    async def add(self, entry: InboxEntry, holder: str, until: datetime) -> bool:
        """Store a new update held by `holder`; False when its key was received before."""
        document: Document = {
            "_id": entry.key,
            **entry.model_dump(mode="python", exclude={"raw"}),
            "raw": json.dumps(entry.raw, ensure_ascii=False),
            "status": NEW,
            "holder": holder,
            "lease_until": until,
        }
        try:
            await self._inbox.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def done(self, keys: Sequence[str], now: datetime) -> None:
        """These updates have been processed: forget their content, keep their keys a while."""
        change = {
            "$set": {"status": DONE, "done_at": now},
            "$unset": {"raw": "", "holder": "", "lease_until": ""},
        }
        await self._each(keys, {}, change)

    async def stale(self, now: datetime) -> list[InboxEntry]:
        """Unfinished updates whose lease has run out, in arrival order."""
        found = [
            document
            async for document in self._inbox.find({"status": NEW})
            if document["lease_until"] <= now
        ]
        found.sort(key=lambda document: (document["received_at"], document["order"]))
        return [
            InboxEntry.model_validate({**document, "raw": json.loads(document["raw"])})
            for document in found
        ]

    async def held_elsewhere(self, holder: str) -> set[tuple[str, str]]:
        """The (platform, user) of unfinished updates another process holds (or held)."""
        cursor = self._inbox.find({"status": NEW}, {"platform": 1, "user_id": 1, "holder": 1})
        return {
            (str(document["platform"]), str(document["user_id"]))
            async for document in cursor
            if document.get("holder") != holder
        }

    async def take_over(self, key: str, holder: str, until: datetime, now: datetime) -> bool:
        """Hold a stale update; False when another process took it first."""
        result = await self._inbox.update_one(
            {"_id": key, "status": NEW, "lease_until": {"$lte": now}},
            {"$set": {"holder": holder, "lease_until": until}},
        )
        return result.modified_count == 1

    async def renew(self, keys: Sequence[str], holder: str, until: datetime) -> None:
        """Extend the leases of updates this holder still works on."""
        await self._each(keys, {"status": NEW, "holder": holder}, {"$set": {"lease_until": until}})

    async def release(self, keys: Sequence[str], holder: str, now: datetime) -> None:
        """Give up updates not started (at shutdown): the next process takes them at once."""
        await self._each(keys, {"status": NEW, "holder": holder}, {"$set": {"lease_until": now}})

    async def _each(self, keys: Sequence[str], guard: Document, change: Document) -> None:
        """One change to each of these entries, in one round trip (an `$in` would scan)."""
        if keys:
            writes = [UpdateOne({"_id": key, **guard}, change) for key in keys]
            await self._inbox.bulk_write(writes, ordered=False)
