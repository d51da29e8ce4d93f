"""The daily report, sent without asking at `DAILY_REPORT_AT` (local time) to each leader, each
district admin, each commune's staff and each staff group chat, for their areas.

It runs once a day across processes: under the lease `daily-report`, and recorded in the
fan-out log when every message is queued. Outbox keys name the day, the chat and the area,
so a crash half-way and the re-run that follows queue nothing twice.

Catch-up: a bot that was down at that time sends the report when it is back the same
evening, up to midnight. It does not send yesterday's the next morning: by then the day's
report would arrive beside the next one's figures, and `/report dd/mm/yyyy` gives it on demand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, time, timedelta

from core.models import ChatRef, OutgoingMessage, Role, Staff
from core.ports import FanoutLog, Leases
from core.texts import LANGUAGES, t
from handlers.context import Services
from handlers.daily_report import DISTRICT, Rendered, render, reports_of
from handlers.notices import staff_language
from handlers.rights import covers_district

log = logging.getLogger(__name__)

LEASE = "daily-report"
LEASE_TTL = timedelta(minutes=15)  # building every commune's report takes well under this
REPORT_PHOTOS = "daily-report"  # the photo store's owner of the charts and workbooks
# A report's files outlive its messages (settled within the hour) by far, then go.
FILES_KEPT = timedelta(days=7)

Recipient = tuple[ChatRef, str | None]  # a chat and the area of the report it gets


@dataclass
class DailyReports:
    """The daily report job (see the module's docstring)."""

    services: Services
    fanouts: FanoutLog
    leases: Leases
    holder: str
    at: time

    async def run(self) -> None:
        """Queue today's reports once the time has come, if not queued yet."""
        now = self.services.clock.now()
        local = now.astimezone(self.services.timezone)
        day = local.date()
        done_key = f"daily-report:{day}"
        if local.time() < self.at or await self.fanouts.done([done_key]):
            return
        if not await self.leases.acquire(LEASE, self.holder, LEASE_TTL):
            return
        try:
            queued = await send_reports(self.services, day)
            await self.fanouts.mark_done(done_key)
            log.info("daily reports queued", extra={"messages": queued})
        finally:
            await self.leases.release(LEASE, self.holder)


async def send_reports(services: Services, day: date) -> int:
    """Build each wanted area's report once and queue it to its chats; returns how many
    messages were added."""
    recipients = await _recipients(services)
    if not recipients:
        return 0
    wanted = list(dict.fromkeys(area for _, area in recipients))
    reports = await reports_of(services, day, wanted)
    rendered: dict[tuple[str | None, str], Rendered] = {}
    messages: list[OutgoingMessage] = []
    for chat, area in recipients:
        lang = await staff_language(services, chat)
        if (area, lang) not in rendered:
            rendered[area, lang] = await _stored(
                services, await render(reports[area], lang), day, area, lang
            )
        messages += _messages(chat, area, day, rendered[area, lang], lang)
    added = await services.outbox.enqueue(messages)
    services.wake_dispatchers()
    await _forget_files(services, day - FILES_KEPT)
    return added


async def _forget_files(services: Services, day: date) -> None:
    """Delete the charts and workbooks built for `day` (for every area and language)."""
    areas = [DISTRICT, *(area.code for area in services.areas.areas)]
    await services.photos.delete(
        _file_id(day, area, lang, part)
        for area in areas
        for lang in LANGUAGES
        for part in ("chart", "xlsx")
    )


async def _recipients(services: Services) -> list[Recipient]:
    """Every chat that gets a report, with its area: private chats of staff, bound groups."""
    found: dict[tuple[str, str, str | None], Recipient] = {}
    for member in await services.staff.all():
        chat = ChatRef(platform=member.platform, chat_id=member.user_id)
        for area in _areas_of(member):
            found[chat.platform.value, chat.chat_id, area] = (chat, area)
    for bound in await services.staff_chats.all():
        chat = bound.chat
        areas: list[str | None] = [*bound.areas] or [DISTRICT]
        for area in areas:
            found[chat.platform.value, chat.chat_id, area] = (chat, area)
    return list(found.values())


def _areas_of(member: Staff) -> list[str | None]:
    """The reports a staff member gets in their private chat."""
    if covers_district(member):
        return [DISTRICT]
    if member.role in (Role.LEADER, Role.COMMUNE_STAFF, Role.HEALTH_OFFICER):
        return list(member.areas)
    return []


def _file_id(day: date, area: str | None, lang: str, part: str) -> str:
    return f"{REPORT_PHOTOS}:{day}:{area or 'district'}:{lang}:{part}"


async def _stored(
    services: Services, rendered: Rendered, day: date, area: str | None, lang: str
) -> Rendered:
    """Put the chart and the workbook in the photo store, where the dispatchers find them."""
    await services.photos.put(_file_id(day, area, lang, "chart"), rendered.chart, REPORT_PHOTOS)
    await services.photos.put(_file_id(day, area, lang, "xlsx"), rendered.workbook, REPORT_PHOTOS)
    return rendered


def _messages(
    chat: ChatRef, area: str | None, day: date, rendered: Rendered, lang: str
) -> list[OutgoingMessage]:
    """The chart with its summary, then the workbook (same lane: they arrive in this order)."""
    key = f"daily-report:{day}:{chat.platform.value}:{chat.chat_id}:{area or 'district'}"
    return [
        OutgoingMessage(
            key=f"{key}:chart",
            platform=chat.platform,
            chat_id=chat.chat_id,
            text=rendered.summary,
            photo_id=_file_id(day, area, lang, "chart"),
        ),
        OutgoingMessage(
            key=f"{key}:xlsx",
            platform=chat.platform,
            chat_id=chat.chat_id,
            text=t(lang, "daily_report.file_caption"),
            document_id=_file_id(day, area, lang, "xlsx"),
            document_name=rendered.filename,
        ),
    ]
