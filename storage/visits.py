"""Visits to QR checkpoints: scans in and out, automatic check-out, tracing lookups."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from core.models import Visit
from storage.documents import Database, Document, to_document, without_id

# Keys an open visit carries and a closed one loses, on sparse indexes: SecantusDB scans the
# collection for a query on a partial index, and for `{_id, out_at: None}` as well.
OPEN_KEYS = ("open_person", "open_visit", "open_due")
# Most visits are short: a tracing query reaches back this far before its window for them
# (`short_checkpoint`), and as far as the longest stay only for visits open or longer
# (`long_checkpoint`). Each visit is under one of the two keys, so none is read twice.
SHORT_STAY = timedelta(hours=1)
INTERNAL_KEYS = (*OPEN_KEYS, "long_checkpoint", "short_checkpoint")
VISIT_INDEXES = [
    IndexModel([("short_checkpoint", ASCENDING), ("in_at", ASCENDING)], sparse=True),
    IndexModel([("long_checkpoint", ASCENDING), ("in_at", ASCENDING)], sparse=True),
    IndexModel([("person_id", ASCENDING), ("in_at", ASCENDING)]),
    IndexModel("open_person", unique=True, sparse=True),  # one open visit per person
    IndexModel("open_visit", sparse=True),
    IndexModel("open_due", sparse=True),
]
OVERDUE_BATCH = 500


class VisitsRepo:
    """The `visits` collection; every query is an equality and a range on one index's fields
    (see DESIGN.md, query shapes), everything else is filtered by the caller."""

    def __init__(self, db: Database) -> None:
        self._visits = db["visits"]

    @staticmethod
    def document(visit: Visit) -> Document:
        """A visit as stored, with the keys of its open state."""
        document = {"_id": visit.id, **to_document(visit)}
        if visit.out_at is None:
            document |= {
                "open_person": visit.person_id,
                "open_visit": visit.id,
                "open_due": visit.due_at,
            }
        document["long_checkpoint" if _long(visit) else "short_checkpoint"] = visit.checkpoint_id
        return document

    async def check_in(self, visit: Visit) -> Visit | None:
        """Store a new visit: the stored one (the same on a re-run), None when the person
        still has another open visit (close it first)."""
        try:
            await self._visits.insert_one(self.document(visit))
        except DuplicateKeyError:
            return await self.get(visit.id)
        return visit

    async def get(self, visit_id: str) -> Visit | None:
        """A visit by id."""
        return _visit(await self._visits.find_one({"_id": visit_id}))

    async def open_visit(self, person_id: str) -> Visit | None:
        """The person's visit not checked out yet, if any."""
        return _visit(await self._visits.find_one({"open_person": person_id}))

    async def close(self, visit: Visit, at: datetime, how: str, by: str = "") -> Visit | None:
        """Check an open visit out at `at` (`by` names the scan that did): the closed visit,
        None when it was closed already. One conditional write: one close wins."""
        ending: Document = {"out_at": at, "closed": how, "closed_by": by}
        closed = visit.model_copy(update=ending)
        gone = OPEN_KEYS if _long(closed) else (*OPEN_KEYS, "long_checkpoint")
        short = {} if _long(closed) else {"short_checkpoint": visit.checkpoint_id}
        result = await self._visits.update_one(
            {"open_visit": visit.id},
            {"$set": ending | short, "$unset": dict.fromkeys(gone, "")},
        )
        return closed if result.modified_count == 1 else None

    async def of_person(self, person_id: str, since: datetime) -> list[Visit]:
        """The person's visits that began at `since` or later, oldest first."""
        query = {"person_id": person_id, "in_at": {"$gte": since}}
        return sorted(await self._find(query), key=lambda visit: visit.in_at)

    async def short_at(self, checkpoint_id: str, start: datetime, end: datetime) -> list[Visit]:
        """The closed visits of at most `SHORT_STAY` at a checkpoint that may overlap
        [start, end): those that began in [start - SHORT_STAY, end)."""
        began = {"$gte": start - SHORT_STAY, "$lt": end}
        return await self._find({"short_checkpoint": checkpoint_id, "in_at": began})

    async def long_at(self, checkpoint_id: str, start: datetime, end: datetime) -> list[Visit]:
        """The open or longer visits at a checkpoint that began in [start, end) (the caller
        reaches back by the longest stay)."""
        began = {"$gte": start, "$lt": end}
        return await self._find({"long_checkpoint": checkpoint_id, "in_at": began})

    async def overdue(self, before: datetime, limit: int = OVERDUE_BATCH) -> list[Visit]:
        """Open visits due to close automatically before `before` (only open visits are
        indexed, so this reads no more than the overdue ones)."""
        cursor = self._visits.find({"open_due": {"$lt": before}}).limit(limit)
        return [visit async for document in cursor if (visit := _visit(document))]

    async def _find(self, query: Document) -> list[Visit]:
        return [visit async for document in self._visits.find(query) if (visit := _visit(document))]


def _visit(document: Document | None) -> Visit | None:
    document = without_id(document)
    if document is None:
        return None
    for internal in INTERNAL_KEYS:
        document.pop(internal, None)
    return Visit.model_validate(document)


def _long(visit: Visit) -> bool:
    """Whether a visit is open or lasted longer than `SHORT_STAY`."""
    return visit.out_at is None or visit.out_at - visit.in_at > SHORT_STAY
