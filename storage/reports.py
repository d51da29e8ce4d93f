"""Citizens' field reports: numbered tickets whose thread grows with replies.

Every change is conditional on the report still being open, and remembers the update that
made it, so an update processed again finds its change done instead of doing it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.models import OPEN_REPORT_STATUSES, FieldReport, ReportNote, ReportStatus
from storage.counters import increment
from storage.documents import Database, Document, to_document, without_id

REPORT_INDEXES = [
    IndexModel("number", unique=True),
    IndexModel([("area", ASCENDING), ("status", ASCENDING)]),
    IndexModel([("platform", ASCENDING), ("user_id", ASCENDING)]),
    IndexModel("person_id"),
    # Set only while a report waits for its first staff action: the escalation's range.
    IndexModel("waiting_since", sparse=True),
]
OPEN = {"status": {"$in": [status.value for status in OPEN_REPORT_STATUSES]}}


class ReportsRepo:
    """The `reports` collection; `number` is the ticket number citizens and staff quote."""

    def __init__(self, db: Database) -> None:
        self._reports = db["reports"]
        self._counters = db["counters"]

    async def add(self, report: FieldReport) -> tuple[FieldReport, bool]:
        """Store a report under its id, numbering it; the stored one and whether it is new."""
        stored = await self.get(report.id)
        if stored is not None:
            return stored, False
        numbered = report.model_copy(update={"number": await increment(self._counters, "reports")})
        try:
            await self._reports.insert_one({"_id": numbered.id, **to_document(numbered)})
        except DuplicateKeyError:  # the same update, run twice at once
            stored = await self.get(report.id)
            assert stored is not None
            return stored, False
        return numbered, True

    async def get(self, report_id: str) -> FieldReport | None:
        """A report by id."""
        return _report(await self._reports.find_one({"_id": report_id}))

    async def by_number(self, number: int) -> FieldReport | None:
        """A report by its ticket number."""
        return _report(await self._reports.find_one({"number": number}))

    async def open_in(self, areas: Iterable[str]) -> list[FieldReport]:
        """The open reports of these communes, oldest first."""
        cursor = self._reports.find({"area": {"$in": list(areas)}, **OPEN})
        found = [FieldReport.model_validate(without_id(document)) async for document in cursor]
        return sorted(found, key=lambda report: report.number)

    async def add_note(self, report_id: str, note: ReportNote) -> FieldReport | None:
        """Add a reply to an open report (a staff one counts as handling it); None if closed."""
        change: Document = {"$push": {"notes": to_document(note)}}
        if note.from_staff:
            change |= {"$set": {"touched_at": note.at}, "$unset": {"waiting_since": ""}}
        query = {"_id": report_id, **OPEN, "notes.id": {"$ne": note.id}}
        return await self._change(query, change, {"_id": report_id, "notes.id": note.id})

    async def set_status(
        self,
        report_id: str,
        status: ReportStatus,
        change: str,
        at: datetime,
        duplicate_of: int | None = None,
    ) -> FieldReport | None:
        """Move an open report to `status` (once per `change`); None when it was closed."""
        fields: Document = {"status": status.value, "touched_at": at}
        if duplicate_of is not None:
            fields["duplicate_of"] = duplicate_of
        update = {"$set": fields, "$unset": {"waiting_since": ""}, "$push": {"changed_by": change}}
        query = {"_id": report_id, **OPEN, "changed_by": {"$ne": change}}
        return await self._change(query, update, {"_id": report_id, "changed_by": change})

    async def overdue(self, before: datetime) -> list[FieldReport]:
        """Reports nobody acted on since before `before` and not escalated yet."""
        cursor = self._reports.find({"waiting_since": {"$lte": before}})
        return [FieldReport.model_validate(without_id(document)) async for document in cursor]

    async def escalated(self, report_id: str, at: datetime) -> bool:
        """Mark a waiting report escalated; False when it was handled or escalated meanwhile."""
        result = await self._reports.update_one(
            {"_id": report_id, "waiting_since": {"$ne": None}},
            {"$set": {"escalated_at": at}, "$unset": {"waiting_since": ""}},
        )
        return result.modified_count == 1

    async def _change(
        self, query: Document, update: Document, done_before: Document
    ) -> FieldReport | None:
        """Apply `update` where `query` matches; else the report if `done_before` says this
        change was made already (a re-run), else None."""
        changed = await self._reports.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return _report(changed or await self._reports.find_one(done_before))


def _report(document: Document | None) -> FieldReport | None:
    found = without_id(document)
    return FieldReport.model_validate(found) if found else None
