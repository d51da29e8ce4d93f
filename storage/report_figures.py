"""What the daily report counts, gathered per commune with bounded, indexed queries.

Every query is an equality on a commune (or a checkpoint, a flag) and a range of dates or
times on exactly the fields of one index (DESIGN.md, query shapes); the counting is done in
Python by `core.daily_report`. Only the fields counted are read: no names, phones or answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from pymongo import ASCENDING, IndexModel, UpdateOne

from core.daily_report import TREND_DAYS, CaseSpan, DayFigures, DeclarationRow, Records
from core.models import OPEN_REPORT_STATUSES, AlertState
from core.schedule import Schedule
from storage.alerts import AlertsRepo
from storage.documents import Database, Document
from storage.outbox import OutboxRepo

# One query per commune each: its cases not finished before the trend starts, its declarations
# of the trend's days.
CASE_FIGURES_INDEX = IndexModel([("area", ASCENDING), ("end", ASCENDING)])
DECLARATION_FIGURES_INDEX = IndexModel([("area", ASCENDING), ("local_date", ASCENDING)])
# The final days of each commune's trend, computed once (`report_days`).
REPORT_DAY_INDEX = IndexModel([("area", ASCENDING), ("day", ASCENDING)])
RECENT_ALERTS = 200  # the day's alerts are among the district's latest ones
UNSENT = (AlertState.PENDING.value, AlertState.REFUSED.value)
CASE_FIELDS = {"start": 1, "end": 1, "created_at": 1, "ended_at": 1, "traced": 1}
DECLARATION_FIELDS = {
    "case_id": 1,
    "local_date": 1,
    "slot": 1,
    "timing": 1,
    "submitted_at": 1,
    "needs_ack": 1,
    "ack.at": 1,
}


class ReportFiguresRepo:
    """Reads for the daily report over the cases, declarations, checkpoints, visits, alerts
    and reports collections."""

    def __init__(self, db: Database, alerts: AlertsRepo, outbox: OutboxRepo) -> None:
        self._db = db
        self._alerts = alerts
        self._outbox = outbox

    async def records(
        self, areas: Sequence[str], day: date, schedule: Schedule, since: date
    ) -> dict[str, Records]:
        """Each commune's records for `day` and the days of its trend before it (their
        declarations from `since` on)."""
        start, end = _day_bounds(day, schedule)
        alerts = await self._alerts_by_area(start, end)
        return {
            area: Records(
                cases=await self._cases(area, day),
                declarations=await self._declarations(area, since, day),
                flagged_open=await self._count({"needs_review": True, "area": area}),
                scans=await self._scans(area, start, end),
                alerts=alerts.get(area, {}),
                open_reports=await self._open_reports(area),
            )
            for area in areas
        }

    async def _cases(self, area: str, day: date) -> list[CaseSpan]:
        first = day - timedelta(days=TREND_DAYS - 1)
        query = {"area": area, "end": {"$gte": first.isoformat()}}
        return [
            CaseSpan(
                id=str(document["_id"]),
                start=date.fromisoformat(document["start"]),
                end=date.fromisoformat(document["end"]),
                created_at=document["created_at"],
                ended_at=document.get("ended_at"),
                traced=bool(document.get("traced")),
            )
            async for document in self._db["cases"].find(query, CASE_FIELDS)
            if date.fromisoformat(document["start"]) <= day
        ]

    async def known_days(
        self, areas: Sequence[str], first: date, last: date
    ) -> dict[str, dict[date, DayFigures]]:
        """The days from `first` to `last` already kept for each commune."""
        days = self._db["report_days"]
        known: dict[str, dict[date, DayFigures]] = {}
        for area in areas:
            query = {"area": area, "day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
            known[area] = {
                date.fromisoformat(document["day"]): DayFigures.model_validate(document["figures"])
                async for document in days.find(query)
            }
        return known

    async def keep_days(self, area: str, days: dict[date, DayFigures]) -> None:
        """Keep a commune's final days (a day kept before stays as it was)."""
        updates = [
            UpdateOne(
                {"_id": f"{area}:{day}"},
                {
                    "$setOnInsert": {
                        "area": area,
                        "day": day.isoformat(),
                        "figures": figures.model_dump(mode="json"),
                    }
                },
                upsert=True,
            )
            for day, figures in days.items()
        ]
        if updates:
            await self._db["report_days"].bulk_write(updates, ordered=False)

    async def _declarations(self, area: str, first: date, day: date) -> list[DeclarationRow]:
        query = {"area": area, "local_date": {"$gte": first.isoformat(), "$lte": day.isoformat()}}
        return [
            DeclarationRow(
                case_id=str(document["case_id"]),
                local_date=date.fromisoformat(document["local_date"]),
                slot=document.get("slot"),
                timing=str(document.get("timing", "")),
                # `needs_ack` marks a symptom page until it is taken over, `ack` after.
                symptomatic=bool(document.get("needs_ack") or document.get("ack")),
                submitted_at=document["submitted_at"],
                acked_at=(document.get("ack") or {}).get("at"),
            )
            async for document in self._db["declarations"].find(query, DECLARATION_FIELDS)
        ]

    async def _scans(self, area: str, start: datetime, end: datetime) -> dict[str, int]:
        """Scans that day at each live checkpoint of the commune (two indexed lookups each)."""
        visits = self._db["visits"]
        scans: dict[str, int] = {}
        async for checkpoint in self._db["checkpoints"].find({"area": area}, {"retired": 1}):
            if checkpoint.get("retired"):
                continue
            scans[checkpoint["_id"]] = 0
            for key in ("short_checkpoint", "long_checkpoint"):
                query = {key: checkpoint["_id"], "in_at": {"$gte": start, "$lt": end}}
                scans[checkpoint["_id"]] += len(await visits.find(query, {"_id": 1}).to_list())
        return scans

    async def _alerts_by_area(
        self, start: datetime, end: datetime
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """Per commune, the alerts created that day: (messages delivered, messages settled)."""
        by_area: dict[str, dict[str, tuple[int, int]]] = {}
        for alert in await self._alerts.recent(RECENT_ALERTS):
            if not start <= alert.created_at < end or alert.state.value in UNSENT:
                continue
            for tally in await self._outbox.tallies(alert.id):
                mine = by_area.setdefault(tally.area, {})
                sent, settled = mine.get(alert.id, (0, 0))
                mine[alert.id] = (sent + tally.sent, settled + tally.settled)
            for area in alert.areas:  # an alert still queued counts, with no messages yet
                by_area.setdefault(area, {}).setdefault(alert.id, (0, 0))
        return by_area

    async def _open_reports(self, area: str) -> list[datetime]:
        reports = self._db["reports"]
        return [
            document["created_at"]
            for status in OPEN_REPORT_STATUSES
            async for document in reports.find(
                {"area": area, "status": status.value}, {"created_at": 1}
            )
        ]

    async def _count(self, query: Document) -> int:
        return len(await self._db["declarations"].find(query, {"_id": 1}).to_list())


def _day_bounds(day: date, schedule: Schedule) -> tuple[datetime, datetime]:
    """The local day as a UTC range."""
    start = datetime.combine(day, time(), schedule.tz).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(), schedule.tz).astimezone(UTC)
