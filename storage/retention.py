"""Deleting data past its retention period, in bounded steps, with a log of counts only.

Each data class is walked in the order it ages (cases by the moment they ended, visits by
day, reports by number, audit entries by seq) from a mark kept in `retention`, so a run
reads only what aged since the last one. Every step is an equality and a range on indexed
fields (DESIGN.md, query shapes); a step done twice deletes nothing the second time, so a
run stopped half-way simply starts again at its mark.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.models import CaseStatus
from core.retention import DataClass
from storage.documents import Database, Document

MARKS = "retention"  # per data class, where the next run starts ("audit": the first kept seq)
DAY = timedelta(days=1)
REPORT_WINDOW = 200  # report numbers read at once
AUDIT_WINDOW = 500  # audit seqs read (and deleted) at once
VISIT_KEYS = ("short_checkpoint", "long_checkpoint")  # every visit has one (storage/visits)
CASE_DATA = {DataClass.SELFIES: "selfies", DataClass.DECLARATIONS: "declarations"}


@dataclass(frozen=True)
class _Unit:
    """One bounded delete; `resume` is where the next run starts when this one stops first."""

    collection: str
    query: Document
    resume: object
    then: tuple[str, Document, Document] | None = None  # (collection, filter, update) after
    kept_from: int | None = None  # the audit seq that is first once this unit is gone


@dataclass(frozen=True)
class _Stop:
    """Everything old enough was visited: the next run starts at `mark`."""

    mark: object


class RetentionRepo:
    """Marks in `retention`; counts per data class and day in `deletion_log`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._marks = db[MARKS]
        self._log = db["deletion_log"]

    async def pending(self, data: DataClass, before: datetime) -> int:
        """How many items of `data` older than `before` would go (nothing changes)."""
        total = 0
        async for unit in self._units(data, before, await self._mark(data)):
            if isinstance(unit, _Unit):
                total += await self._db[unit.collection].count_documents(unit.query)
        return total

    async def sweep(self, data: DataClass, before: datetime, limit: int) -> tuple[int, bool]:
        """Delete about `limit` items of `data` older than `before`: (deleted, all done)."""
        deleted = 0
        async for unit in self._units(data, before, await self._mark(data)):
            if isinstance(unit, _Stop):
                await self._set_mark(data, unit.mark)
                return deleted, True
            if deleted >= limit:
                await self._set_mark(data, unit.resume)
                return deleted, False
            deleted += (await self._db[unit.collection].delete_many(unit.query)).deleted_count
            if unit.then:
                collection, query, update = unit.then
                await self._db[collection].update_one(query, update)
            if unit.kept_from is not None:  # the chain is verified from here at once
                await self._set_mark(data, unit.kept_from)
        return deleted, True

    async def record(self, day: date, counts: dict[DataClass, int]) -> None:
        """Add a run's counts to the deletion log of `day` (counts only, no content)."""
        for data, count in counts.items():
            await self._log.update_one(
                {"_id": f"{day.isoformat()}/{data.value}"},
                {
                    "$inc": {"count": count},
                    "$setOnInsert": {"day": day.isoformat(), "data": data.value},
                },
                upsert=True,
            )

    async def log(self, day: date) -> dict[str, int]:
        """The counts logged for `day`, by data class."""
        cursor = self._log.find({"day": day.isoformat()})
        return {str(entry["data"]): int(entry["count"]) async for entry in cursor}

    async def _mark(self, data: DataClass) -> object:
        found = await self._marks.find_one({"_id": data.value})
        return found["mark"] if found else None

    async def _set_mark(self, data: DataClass, mark: object) -> None:
        await self._marks.update_one({"_id": data.value}, {"$set": {"mark": mark}}, upsert=True)

    def _units(
        self, data: DataClass, before: datetime, mark: object
    ) -> AsyncIterator[_Unit | _Stop]:
        if data in CASE_DATA:
            return self._case_units(data, before, mark)
        if data is DataClass.VISITS:
            return self._visit_units(before, mark)
        if data is DataClass.REPORT_PHOTOS:
            return self._report_units(before, mark)
        return self._audit_units(before, mark)

    async def _case_units(
        self, data: DataClass, before: datetime, mark: object
    ) -> AsyncIterator[_Unit | _Stop]:
        """Per case ended in [mark, before): its selfies (and reference) or declarations."""
        ended: Document = {"$lt": before}
        if isinstance(mark, datetime):
            ended["$gte"] = mark
        query = {"status": CaseStatus.ENDED.value, "ended_at": ended}
        cases = [c async for c in self._db["cases"].find(query, {"ended_at": 1})]
        for case in sorted(cases, key=lambda c: (c["ended_at"], c["_id"])):
            forget = {"$set": {"reference_selfie": None, "reference_face": None}}
            yield _Unit(
                CASE_DATA[data],
                {"case_id": case["_id"]},
                case["ended_at"],
                ("cases", {"_id": case["_id"]}, forget) if data is DataClass.SELFIES else None,
            )
        yield _Stop(before)

    async def _visit_units(self, before: datetime, mark: object) -> AsyncIterator[_Unit | _Stop]:
        """Per day from the mark (at first, the oldest visit) and checkpoint, its visits."""
        checkpoints = [str(c["_id"]) async for c in self._db["checkpoints"].find({}, {"_id": 1})]
        start = mark if isinstance(mark, datetime) else await self._oldest_visit(checkpoints)
        while start is not None and start < before:
            end = min(start + DAY, before)
            for checkpoint in checkpoints:
                for key in VISIT_KEYS:
                    query = {key: checkpoint, "in_at": {"$gte": start, "$lt": end}}
                    yield _Unit("visits", query, start)
            start = end
        yield _Stop(before)

    async def _oldest_visit(self, checkpoints: list[str]) -> datetime | None:
        """When the oldest visit began (read once, on the first run)."""
        oldest: list[datetime] = []
        for checkpoint in checkpoints:
            for key in VISIT_KEYS:
                cursor = self._db["visits"].find({key: checkpoint}, {"in_at": 1})
                async for visit in cursor.sort("in_at", 1).limit(1):
                    oldest.append(visit["in_at"])
        return min(oldest, default=None)

    async def _report_units(self, before: datetime, mark: object) -> AsyncIterator[_Unit | _Stop]:
        """The photos of reports by number, up to the first report younger than `before`."""
        number = mark if isinstance(mark, int) else 1
        last = await self._counter("reports")
        while number <= last:
            window = {"number": {"$gte": number, "$lt": number + REPORT_WINDOW}}
            found = self._db["reports"].find(window, {"number": 1, "created_at": 1, "photos": 1})
            for report in sorted([r async for r in found], key=lambda r: int(r["number"])):
                if report["created_at"] >= before:
                    yield _Stop(int(report["number"]))
                    return
                for photo in report.get("photos", []):
                    drop = {"$pull": {"photos": photo}}
                    then = ("reports", {"_id": report["_id"]}, drop)
                    yield _Unit("selfies", {"_id": photo}, int(report["number"]), then)
            number += REPORT_WINDOW
        yield _Stop(number)

    async def _audit_units(self, before: datetime, mark: object) -> AsyncIterator[_Unit | _Stop]:
        """Audit entries from the oldest kept, by seq, up to the first younger than `before`:
        the chain stays verifiable from the first entry that remains."""
        seq = mark if isinstance(mark, int) else 1
        head = await self._counter("audit")
        while seq <= head:
            window = {"seq": {"$gte": seq, "$lt": seq + AUDIT_WINDOW}}
            found = self._db["audit"].find(window, {"seq": 1, "at": 1})
            entries = sorted([e async for e in found], key=lambda e: int(e["seq"]))
            young = next((int(e["seq"]) for e in entries if e["at"] >= before), None)
            last = int(entries[-1]["seq"]) + 1 if entries else seq + AUDIT_WINDOW
            end = young if young is not None else last  # after the last: the next one written
            if end > seq:
                yield _Unit("audit", {"seq": {"$gte": seq, "$lt": end}}, seq, kept_from=end)
            if young is not None:
                yield _Stop(young)
                return
            seq = end
        yield _Stop(seq)

    async def _counter(self, name: str) -> int:
        found = await self._db["counters"].find_one({"_id": name})
        return int(found["seq"]) if found else 0
