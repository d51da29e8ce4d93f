"""The daily report of one commune (or the whole district): figures only, never a person.

Storage gathers light records (`Records`); `figures` turns them into a day's `DailyFigures`
with a 14-day trend; `summary_text`, `chart_png` and `workbook` write them for staff.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import BytesIO

from pydantic import BaseModel

from core.dates import format_date
from core.schedule import Schedule, Timing, Window
from core.spreadsheets import xlsx_bytes
from core.texts import t, window_name

TREND_DAYS = 14
CHART_SIZE = (960, 540)  # pixels: a phone shows it whole, and it stays readable when zoomed
CHART_DPI = 100
REPORT_AGES = (1, 3)  # open field reports are counted as < 1 day, 1–3 days and older
FINAL_AFTER = 2  # days after which a day's counts no longer change (see `final_until`)
DAY_FIELDS = ("active", "new", "ended", "on_time", "late", "missed")
WINDOW_FIELDS = ("due", "on_time", "late", "missed")
TOTAL_FIELDS = (
    "f1_enrolled",
    "pages",
    "pages_acked",
    "flagged_open",
    "scans",
    "checkpoints",
    "idle_checkpoints",
    "alert_messages",
    "alert_delivered",
)
LocalDate = Callable[[datetime], date]


@dataclass(frozen=True)
class CaseSpan:
    """A case as the report counts it: when it was enrolled, due to declare, and ended."""

    id: str
    start: date
    end: date
    created_at: datetime
    ended_at: datetime | None
    traced: bool = False  # enrolled as an F1 from a trace


@dataclass(frozen=True)
class DeclarationRow:
    """A declaration as the report counts it."""

    case_id: str
    local_date: date
    slot: str | None
    timing: str
    symptomatic: bool
    submitted_at: datetime
    acked_at: datetime | None


@dataclass
class Records:
    """What storage gathered for one commune and the 14 days up to the report's day."""

    cases: list[CaseSpan] = field(default_factory=list)
    declarations: list[DeclarationRow] = field(default_factory=list)
    flagged_open: int = 0
    scans: dict[str, int] = field(default_factory=dict)  # checkpoint id → scans that day
    alerts: dict[str, tuple[int, int]] = field(default_factory=dict)  # id → (sent, settled)
    open_reports: list[datetime] = field(default_factory=list)  # when each was created


class WindowCounts(BaseModel):
    """One declaration window: who had to declare, and how they did."""

    day: date
    slot: str
    due: int
    on_time: int
    late: int
    missed: int


class DayCounts(BaseModel):
    """One day of the trend."""

    day: date
    active: int
    new: int
    ended: int
    on_time: int
    late: int
    missed: int


class DayFigures(BaseModel):
    """One day of one commune's trend: its counts and its windows. A day older than
    `FINAL_AFTER` days no longer changes, so it is computed once and kept."""

    counts: DayCounts
    windows: list[WindowCounts]


class DailyFigures(BaseModel):
    """A day's figures for one commune (`area` is its code) or the district (`area` "")."""

    area: str
    area_name: str
    day: date
    trend: list[DayCounts]  # oldest first; the last is `day`
    windows: list[WindowCounts]
    f1_enrolled: int
    pages: int
    pages_acked: int
    ack_minutes: list[float]  # time to acknowledgement of each page acknowledged
    flagged_open: int
    scans: int
    checkpoints: int
    idle_checkpoints: int
    alert_ids: list[str]  # the alerts of the day sent to this area
    alert_messages: int
    alert_delivered: int
    reports_by_age: list[int]  # open field reports: < 1 day, 1–3 days, older
    chain_seq: int = 0  # the audit trail's head when the report was made
    chain_hash: str = ""

    @property
    def today(self) -> DayCounts:
        """The report day's counts."""
        return self.trend[-1]

    @property
    def alerts(self) -> int:
        """How many alerts were sent to the area that day."""
        return len(self.alert_ids)

    @property
    def delivery_rate(self) -> float | None:
        """The share of settled alert messages that were delivered (None: none settled)."""
        return self.alert_delivered / self.alert_messages if self.alert_messages else None

    @property
    def ack_median(self) -> float | None:
        """The median minutes to acknowledge a symptom page."""
        return statistics.median(self.ack_minutes) if self.ack_minutes else None


def figures(
    records: Records,
    area: str,
    area_name: str,
    day: date,
    now: datetime,
    schedule: Schedule,
    known: Mapping[date, DayFigures] | None = None,
) -> DailyFigures:
    """The figures of `day` (windows after `now` are not counted yet) and the 14 days before;
    the days in `known` are taken as they are (their declarations need not be in `records`)."""
    local = schedule.local_date
    known = known or {}
    declared: dict[tuple[str, date, str], str] = {
        (d.case_id, d.local_date, d.slot): d.timing for d in records.declarations if d.slot
    }
    trend = [
        known.get(d) or _day_figures(records.cases, declared, d, now, schedule)
        for d in trend_days(day)
    ]
    pages = [d for d in records.declarations if d.symptomatic and local(d.submitted_at) == day]
    acked = [d for d in pages if d.acked_at is not None]
    return DailyFigures(
        area=area,
        area_name=area_name,
        day=day,
        trend=[d.counts for d in trend],
        windows=[w for d in trend for w in d.windows],
        f1_enrolled=sum(1 for c in records.cases if c.traced and local(c.created_at) == day),
        pages=len(pages),
        pages_acked=len(acked),
        ack_minutes=[_minutes(d.acked_at, d.submitted_at) for d in acked if d.acked_at],
        flagged_open=records.flagged_open,
        scans=sum(records.scans.values()),
        checkpoints=len(records.scans),
        idle_checkpoints=sum(1 for count in records.scans.values() if count == 0),
        alert_ids=sorted(records.alerts),
        alert_messages=sum(settled for _, settled in records.alerts.values()),
        alert_delivered=sum(sent for sent, _ in records.alerts.values()),
        reports_by_age=_by_age(records.open_reports, now),
    )


def trend_days(day: date) -> list[date]:
    """The days of a report's trend, oldest first, ending with `day`."""
    return [day - timedelta(days=back) for back in range(TREND_DAYS - 1, -1, -1)]


def final_until(now: datetime, schedule: Schedule) -> date:
    """The newest day whose counts no longer change: late declarations for a day's last
    window come until the next day's first deadline."""
    return schedule.local_date(now) - timedelta(days=FINAL_AFTER)


def days_of(report: DailyFigures) -> dict[date, DayFigures]:
    """A commune's report as its days, to keep those that are final."""
    return {
        counts.day: DayFigures(
            counts=counts, windows=[w for w in report.windows if w.day == counts.day]
        )
        for counts in report.trend
    }


def combine(parts: Sequence[DailyFigures], area_name: str) -> DailyFigures:
    """The district's figures as the sum of its communes' (of the same day)."""
    first = parts[0]
    windows: dict[tuple[date, str], list[WindowCounts]] = {}
    for part in parts:
        for window in part.windows:
            windows.setdefault((window.day, window.slot), []).append(window)
    return first.model_copy(
        update={
            "area": "",
            "area_name": area_name,
            "trend": [
                DayCounts(day=d.day, **_sums([p.trend[i] for p in parts], DAY_FIELDS))
                for i, d in enumerate(first.trend)
            ],
            "windows": [
                WindowCounts(day=d, slot=slot, **_sums(same, WINDOW_FIELDS))
                for (d, slot), same in windows.items()
            ],
            "ack_minutes": [m for p in parts for m in p.ack_minutes],
            "alert_ids": sorted({a for p in parts for a in p.alert_ids}),
            "reports_by_age": [
                sum(ages) for ages in zip(*(p.reports_by_age for p in parts), strict=True)
            ],
            **_sums(parts, TOTAL_FIELDS),
        }
    )


def _sums(parts: Sequence[BaseModel], names: Sequence[str]) -> dict[str, int]:
    return {name: sum(getattr(part, name) for part in parts) for name in names}


def _day_figures(
    cases: Sequence[CaseSpan],
    declared: dict[tuple[str, date, str], str],
    day: date,
    now: datetime,
    schedule: Schedule,
) -> DayFigures:
    windows = [
        _window_counts(cases, declared, window)
        for window in schedule.windows_on(day)
        if window.deadline <= now
    ]
    return DayFigures(counts=_day_counts(cases, windows, day, schedule.local_date), windows=windows)


def _window_counts(
    cases: Sequence[CaseSpan], declared: dict[tuple[str, date, str], str], window: Window
) -> WindowCounts:
    due = [c for c in cases if _due(c, window)]
    timings = [declared.get((c.id, window.local_date, window.slot)) for c in due]
    on_time = timings.count(Timing.ON_TIME.value)
    late = timings.count(Timing.LATE.value)
    return WindowCounts(
        day=window.local_date,
        slot=window.slot,
        due=len(due),
        on_time=on_time,
        late=late,
        missed=len(due) - on_time - late,
    )


def _due(case: CaseSpan, window: Window) -> bool:
    """In quarantine that day, enrolled before the deadline and not ended before it."""
    return (
        case.start <= window.local_date <= case.end
        and case.created_at < window.deadline
        and (case.ended_at is None or case.ended_at >= window.deadline)
    )


def _day_counts(
    cases: Sequence[CaseSpan], windows: Sequence[WindowCounts], day: date, local: LocalDate
) -> DayCounts:
    mine = [w for w in windows if w.day == day]
    return DayCounts(
        day=day,
        active=sum(1 for c in cases if _active_on(c, day, local)),
        new=sum(1 for c in cases if local(c.created_at) == day),
        ended=sum(1 for c in cases if c.ended_at is not None and local(c.ended_at) == day),
        on_time=sum(w.on_time for w in mine),
        late=sum(w.late for w in mine),
        missed=sum(w.missed for w in mine),
    )


def _active_on(case: CaseSpan, day: date, local: LocalDate) -> bool:
    """Enrolled by that day, and in quarantine that day (until it ended)."""
    last = case.end if case.ended_at is None else min(case.end, local(case.ended_at))
    return local(case.created_at) <= day and case.start <= day <= last


def _minutes(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() / 60, 1)


def _by_age(created: Iterable[datetime], now: datetime) -> list[int]:
    counts = [0] * (len(REPORT_AGES) + 1)
    for at in created:
        age = (now - at) / timedelta(days=1)
        counts[sum(1 for limit in REPORT_AGES if age >= limit)] += 1
    return counts


def _percent(lang: str, part: float | None) -> str:
    return "–" if part is None else t(lang, "daily_report.percent", value=round(part * 100))


def _ack_text(lang: str, report: DailyFigures) -> str:
    median = report.ack_median
    if median is None:
        return t(lang, "daily_report.no_ack")
    return t(
        lang, "daily_report.ack_time", median=round(median), longest=round(max(report.ack_minutes))
    )


def summary_text(report: DailyFigures, lang: str) -> str:
    """A few lines for the chat; the chart and the workbook hold the rest."""
    today = report.today
    due = today.on_time + today.late + today.missed
    return t(
        lang,
        "daily_report.summary",
        area=report.area_name,
        day=format_date(report.day),
        active=today.active,
        new=today.new,
        ended=today.ended,
        f1=report.f1_enrolled,
        on_time=today.on_time,
        late=today.late,
        missed=today.missed,
        due=due,
        pages=report.pages,
        open_pages=report.pages - report.pages_acked,
        ack=_ack_text(lang, report),
        flagged=report.flagged_open,
        scans=report.scans,
        idle=report.idle_checkpoints,
        checkpoints=report.checkpoints,
        alerts=report.alerts,
        rate=_percent(lang, report.delivery_rate),
        reports=sum(report.reports_by_age),
        old_reports=report.reports_by_age[-1],
        seq=report.chain_seq,
        chain=report.chain_hash[:16],
    )


def _nfc(text: str) -> str:
    # Decomposed accents draw as colliding marks: every drawn string is composed first.
    return unicodedata.normalize("NFC", text)


def chart_png(report: DailyFigures, lang: str) -> bytes:
    """One 960×540 PNG: declarations per day (on time, late, missed) with active cases over
    14 days, and the day's key numbers beside it."""
    # Heavy to import (0.3 s): loaded on the first chart, which runs in a worker thread.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    def say(key: str, **values: object) -> str:
        return _nfc(t(lang, f"daily_report.{key}", **values))

    width, height = CHART_SIZE
    figure = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
    bars = figure.add_axes((0.07, 0.16, 0.6, 0.7))
    labels = [f"{d.day:%d/%m}" for d in report.trend]
    places = list(range(len(report.trend)))
    bottom = [0] * len(places)
    for part, colour in (("on_time", "#2e7d32"), ("late", "#f9a825"), ("missed", "#c62828")):
        values = [getattr(d, part) for d in report.trend]
        bars.bar(places, values, bottom=bottom, color=colour, label=say(f"chart_{part}"))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    bars.set_xticks(places, labels, rotation=45, fontsize=8)
    bars.set_ylabel(say("chart_declarations"))
    cases = bars.twinx()
    cases.plot(places, [d.active for d in report.trend], color="#1565c0", marker="o")
    cases.set_ylabel(say("chart_active"), color="#1565c0")
    cases.set_ylim(bottom=0)
    bars.legend(loc="upper left", fontsize=8)
    figure.suptitle(say("chart_title", area=report.area_name, day=format_date(report.day)))
    figure.text(
        0.76, 0.84, _nfc(_key_numbers(report, lang)), va="top", fontsize=10, linespacing=1.6
    )
    out = BytesIO()
    figure.savefig(out, format="png", dpi=CHART_DPI)
    return out.getvalue()


def _key_numbers(report: DailyFigures, lang: str) -> str:
    today = report.today
    return t(
        lang,
        "daily_report.chart_numbers",
        active=today.active,
        new=today.new,
        ended=today.ended,
        missed=today.missed,
        pages=report.pages,
        flagged=report.flagged_open,
        scans=report.scans,
        idle=report.idle_checkpoints,
        rate=_percent(lang, report.delivery_rate),
        reports=sum(report.reports_by_age),
    )


def workbook(report: DailyFigures, lang: str) -> bytes:
    """An XLSX with one sheet per topic (write-only mode: it stays small in memory)."""

    def say(key: str, **values: object) -> str:
        return t(lang, f"daily_report.{key}", **values)

    def header(*columns: str) -> list[str]:
        return [say(f"col_{column}") for column in columns]

    ack = report.ack_median
    summary = [
        (say("row_area"), report.area_name),
        (say("row_day"), format_date(report.day)),
        (say("row_active"), report.today.active),
        (say("row_f1"), report.f1_enrolled),
        (say("row_pages"), report.pages),
        (say("row_pages_acked"), report.pages_acked),
        (say("row_ack_median"), "" if ack is None else round(ack, 1)),
        (say("row_flagged"), report.flagged_open),
        (say("row_chain_seq"), report.chain_seq),
        (say("row_chain_hash"), report.chain_hash),
    ]
    rate = report.delivery_rate
    return xlsx_bytes(
        [
            (say("sheet_summary"), header("item", "value"), summary),
            (
                say("sheet_cases"),
                header("day", "active", "new", "ended"),
                [(format_date(d.day), d.active, d.new, d.ended) for d in report.trend],
            ),
            (
                say("sheet_declarations"),
                header("day", "window", "due", "on_time", "late", "missed"),
                [
                    (
                        format_date(w.day),
                        window_name(lang, w.slot),
                        w.due,
                        w.on_time,
                        w.late,
                        w.missed,
                    )
                    for w in report.windows
                ],
            ),
            (
                say("sheet_pages"),
                header("pages", "acked", "open", "ack_median", "ack_longest"),
                [
                    (
                        report.pages,
                        report.pages_acked,
                        report.pages - report.pages_acked,
                        "" if ack is None else round(ack, 1),
                        max(report.ack_minutes, default=""),
                    )
                ],
            ),
            (
                say("sheet_scans"),
                header("scans", "checkpoints", "idle"),
                [(report.scans, report.checkpoints, report.idle_checkpoints)],
            ),
            (
                say("sheet_alerts"),
                header("alerts", "messages", "delivered", "rate"),
                [
                    (
                        report.alerts,
                        report.alert_messages,
                        report.alert_delivered,
                        "" if rate is None else round(rate * 100, 1),
                    )
                ],
            ),
            (
                say("sheet_reports"),
                header("age", "open"),
                [(say(f"age_{n}"), count) for n, count in enumerate(report.reports_by_age)],
            ),
        ]
    )
