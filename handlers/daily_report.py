"""/report [dd/mm/yyyy] [commune]: the daily report on demand, and the pieces the scheduled
report and the command line share (figures, chart and workbook for a commune or the district).

A report holds figures only: asking it about a person (a phone, a case number) is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.areas import AreaCatalog
from core.daily_report import (
    DailyFigures,
    chart_png,
    combine,
    days_of,
    figures,
    final_until,
    summary_text,
    trend_days,
    workbook,
)
from core.dates import format_date, parse_date
from core.ports import AuditLog, ReportFigures
from core.schedule import Schedule
from core.texts import t
from handlers.context import Context, Services
from handlers.registry import REGISTRY
from handlers.rights import scope
from handlers.staff import authorize

DISTRICT = None  # the key of the district's report among the communes' codes


@dataclass(frozen=True)
class Rendered:
    """A report as sent: the chart with its summary, and the workbook's file."""

    chart: bytes
    summary: str
    workbook: bytes
    filename: str


async def build_reports(
    source: ReportFigures,
    audit: AuditLog,
    catalog: AreaCatalog,
    schedule: Schedule,
    day: date,
    now: datetime,
    wanted: Sequence[str | None],
) -> dict[str | None, DailyFigures]:
    """The figures of each wanted commune (`DISTRICT` for the whole district: the sum of its
    communes'), gathered once, with the audit trail's head so that a rewrite of the database
    shows. The final days of each commune's trend are kept, so that the next reports read
    only the declarations of the days that may still change."""
    everywhere = DISTRICT in wanted
    codes = [a.code for a in catalog.areas] if everywhere else [w for w in wanted if w]
    days = trend_days(day)
    final = min(day, final_until(now, schedule))
    known = await source.known_days(codes, days[0], final)
    since = min((d for d in days if any(d not in known[code] for code in codes)), default=day)
    records = await source.records(codes, day, schedule, since)
    communes: dict[str, DailyFigures] = {}
    for code in codes:
        # Every case against every window of 14 days: pure Python work, kept off the loop.
        communes[code] = await asyncio.to_thread(
            figures, records[code], code, catalog.name(code), day, now, schedule, known[code]
        )
        kept = days_of(communes[code]).items()
        await source.keep_days(code, {d: f for d, f in kept if d <= final and d not in known[code]})
    seq, chain = await audit.head()
    sealed = {"chain_seq": seq, "chain_hash": chain}
    return {
        area: (
            combine(list(communes.values()), catalog.district)
            if area is DISTRICT
            else communes[area]
        ).model_copy(update=sealed)
        for area in dict.fromkeys(wanted)
    }


async def render(report: DailyFigures, lang: str) -> Rendered:
    """Chart, summary and workbook in `lang` (matplotlib and openpyxl run in a thread)."""
    chart = await asyncio.to_thread(chart_png, report, lang)
    book = await asyncio.to_thread(workbook, report, lang)
    area = report.area or t(lang, "daily_report.district_file")
    filename = t(lang, "daily_report.file_name", area=area, day=f"{report.day:%Y%m%d}")
    return Rendered(chart, summary_text(report, lang), book, filename)


async def reports_of(
    services: Services, day: date, wanted: Sequence[str | None]
) -> dict[str | None, DailyFigures]:
    """`build_reports` with the services' repositories, areas and schedule."""
    return await build_reports(
        services.figures,
        services.audit,
        services.areas,
        services.policy.schedule,
        day,
        services.clock.now(),
        wanted,
    )


@REGISTRY.command("report", "baocao", staff=True)
async def report_command(ctx: Context) -> None:
    """/report [dd/mm/yyyy] [commune]: the chart, summary and workbook, today by default."""
    request = await _request(ctx)
    if request is None:
        return
    day, typed_area = request
    if typed_area is not None:
        if await authorize(ctx, "figures.read", typed_area) is None:
            return
        wanted: list[str | None] = [typed_area]
    else:
        staff = await authorize(ctx, "figures.read")
        if staff is None:
            return
        areas = scope(staff)
        wanted = [DISTRICT] if areas is None else list(areas)
    await ctx.say("daily_report.working")
    for report in (await reports_of(ctx.services, day, wanted)).values():
        rendered = await render(report, ctx.lang)
        await ctx.reply_photo(rendered.chart, rendered.summary)
        await ctx.out.send_document(
            ctx.incoming.chat_id,
            rendered.workbook,
            rendered.filename,
            ctx.text("daily_report.file_caption"),
        )


async def _request(ctx: Context) -> tuple[date, str | None] | None:
    """(day, commune code or None) from "05/12/2026 Tân Hà"; None when refused (told why)."""
    today = ctx.services.today()
    words = ctx.incoming.payload.split()
    day = today
    if words and any(ch.isdigit() for ch in words[0]) and not _person_like(words[0]):
        parsed = parse_date(words[0], today)
        if parsed is None:
            example = format_date(today - timedelta(days=1))
            await ctx.say("daily_report.bad_date", typed=words[0], example=example)
            return None
        day, words = parsed, words[1:]
    if day > today:
        await ctx.say("daily_report.future", day=format_date(day))
        return None
    typed = " ".join(words)
    if not typed:
        return day, None
    if any(ch.isdigit() for ch in typed):  # a phone or a case number: a person, not a commune
        await ctx.say("daily_report.people_refused")
        return None
    area = ctx.services.areas.find(typed)
    if area is None:
        await ctx.say("daily_report.unknown_area", typed=typed)
        return None
    return day, area.code


def _person_like(word: str) -> bool:
    """A phone or a case number rather than a date: digits only, no separators."""
    return word.lstrip("+").isdigit()
