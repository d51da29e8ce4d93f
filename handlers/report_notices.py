"""What field reports send through the outbox: notices to staff, news to the citizen.

Every outbox key about a report starts with "report:<id>:", so erasing its citizen finds
them all; a key names its occasion too, so a re-run enqueues nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from core.areas import in_sentence
from core.channel import Button, Platform
from core.dates import format_moment
from core.models import (
    REPORT_NOTICE_PREFIX,
    FieldReport,
    OutgoingMessage,
    Priority,
    Role,
    Staff,
    StaffChat,
)
from core.personal_data import withdrawn
from core.phone import display_phone
from core.texts import t
from handlers.context import Services
from handlers.notices import ChatText, chats_covering, queue, to_chats, to_staff
from handlers.rights import may

ACTION = "rpt:"  # report buttons: "rpt:<verb>:<number>"


def report_key(report_id: str, occasion: str) -> str:
    """The outbox key of a message about a report."""
    return f"{REPORT_NOTICE_PREFIX}{report_id}:{occasion}"


def category_name(lang: str, report: FieldReport) -> str:
    """The report's category in words."""
    return t(lang, f"reports.category_{report.category.value}")


def status_name(lang: str, report: FieldReport) -> str:
    """The report's status in words."""
    return t(lang, f"reports.status_{report.status.value}")


def area_name(services: Services, report: FieldReport) -> str:
    """The report's commune inside a sentence ("xã Tân Hà")."""
    return in_sentence(services.areas.name(report.area))


def notice_text(lang: str, services: Services, report: FieldReport) -> str:
    """The report as staff read it: what, where, when, who (unless anonymous)."""
    if report.anonymous:
        who = t(lang, "reports.who_anonymous")
    else:
        phone = display_phone(report.phone) if report.phone else t(lang, "reports.no_phone")
        who = t(lang, "reports.who_named", name=report.name, phone=phone)
    lines = [
        t(
            lang,
            "reports.notice",
            number=report.number,
            category=category_name(lang, report),
            area=services.areas.name(report.area),
            time=format_moment(report.created_at, services.timezone),
            who=who,
            text=report.text,
        )
    ]
    if report.lat is not None and report.lon is not None:
        lines.append(
            t(lang, "reports.location_line", lat=f"{report.lat:.5f}", lon=f"{report.lon:.5f}")
        )
    return "\n".join(lines)


def staff_buttons(lang: str, number: int) -> list[list[Button]]:
    """Reply, in progress, resolved, duplicate: what staff can do with an open report."""

    def button(label: str, verb: str) -> Button:
        return Button(t(lang, f"reports.{label}"), f"{ACTION}{verb}:{number}")

    return [
        [button("reply", "reply")],
        [button("mark_in_progress", "work"), button("mark_resolved", "done")],
        [button("mark_duplicate", "dup")],
    ]


def answer_buttons(lang: str, number: int) -> list[list[Button]]:
    """The citizen's «Trả lời» on news about their open report."""
    return [[Button(t(lang, "reports.reply"), f"{ACTION}answer:{number}")]]


def age_text(lang: str, since: datetime, now: datetime) -> str:
    """How long ago: "vừa xong", "25 phút trước", "2 giờ trước", "3 ngày trước"."""
    minutes = int((now - since) / timedelta(minutes=1))
    if minutes < 1:
        return t(lang, "reports.age_now")
    if minutes < 60:
        return t(lang, "reports.age_minutes", count=minutes)
    if minutes < 24 * 60:
        return t(lang, "reports.age_hours", count=minutes // 60)
    return t(lang, "reports.age_days", count=minutes // (24 * 60))


async def handlers_of(services: Services, report: FieldReport) -> list[Staff]:
    """Who hears of a report: its commune's staff, and the district admins once escalated."""
    members = [m for m in await services.staff.all() if may(m, "report.handle", report.area)]
    return [m for m in members if m.role is not Role.DISTRICT_ADMIN or report.escalated_at]


async def district_admins(services: Services) -> list[Staff]:
    """The district admins, who hear of reports nobody in the commune took up."""
    return [m for m in await services.staff.all() if m.role is Role.DISTRICT_ADMIN]


async def tell_staff(
    services: Services,
    report: FieldReport,
    members: list[Staff],
    occasion: str,
    text: Callable[[str], str],
    with_photos: bool = False,
    chats: Sequence[StaffChat] = (),
) -> None:
    """A message about an open report to each member and bound group chat, with the
    report's buttons on Telegram (on Zalo, which has no buttons on such messages, how to
    open the ticket)."""

    def body(platform: Platform, lang: str) -> str:
        if platform is Platform.TELEGRAM:
            return text(lang)
        return f"{text(lang)}\n{t(lang, 'reports.how_to_act', number=report.number)}"

    def buttons(platform: Platform, lang: str) -> list[list[Button]]:
        return staff_buttons(lang, report.number) if platform is Platform.TELEGRAM else []

    key = report_key(report.id, occasion)
    messages = _to_all(key, members, chats, body, buttons)
    if with_photos:
        messages += _photos(report, key, members, chats)
    await queue(services, messages)


def _to_all(
    key: str,
    members: list[Staff],
    chats: Sequence[StaffChat],
    text: ChatText,
    buttons: Callable[[Platform, str], list[list[Button]]] = lambda _, __: [],
) -> list[OutgoingMessage]:
    """The same message to members' private chats and to bound group chats."""
    return [
        *to_staff(
            key,
            members,
            lambda m: text(m.platform, m.language),
            lambda m: buttons(m.platform, m.language),
            Priority.NORMAL,
        ),
        *to_chats(key, chats, text, buttons, Priority.NORMAL),
    ]


def _photos(
    report: FieldReport, key: str, members: list[Staff], chats: Sequence[StaffChat]
) -> list[OutgoingMessage]:
    """The report's photos to each member and chat, one message each after the notice."""
    return [
        message.model_copy(update={"photo_id": photo_id})
        for index, photo_id in enumerate(report.photos, 1)
        for message in _to_all(
            f"{key}/photo{index}", members, chats, partial(_caption, report=report, index=index)
        )
    ]


def _caption(platform: Platform, lang: str, report: FieldReport, index: int) -> str:
    count = len(report.photos)
    return t(lang, "reports.photo_caption", index=index, count=count, number=report.number)


async def tell_commune(services: Services, report: FieldReport) -> None:
    """A new report, with its photos, to the staff of its commune."""
    members = await handlers_of(services, report)
    await tell_staff(
        services,
        report,
        members,
        "notice",
        lambda lang: notice_text(lang, services, report),
        with_photos=True,
        chats=await chats_covering(services, [report.area]),
    )


async def escalate(services: Services, report: FieldReport, after: timedelta) -> None:
    """A report nobody in its commune took up within `after`, to the district admins."""
    hours = f"{after / timedelta(hours=1):g}"

    def text(lang: str) -> str:
        return t(
            lang,
            "reports.escalation",
            number=report.number,
            area=area_name(services, report),
            hours=hours,
            notice=notice_text(lang, services, report),
        )

    admins = await district_admins(services)
    district_chats = await chats_covering(services, [])
    await tell_staff(
        services, report, admins, "escalation", text, with_photos=True, chats=district_chats
    )


async def tell_citizen(
    services: Services,
    report: FieldReport,
    occasion: str,
    key: str,
    answerable: bool = False,
    **values: object,
) -> None:
    """News about their report to the citizen (unless they withdrew their consent since);
    with `answerable`, how to answer back."""
    if report.person_id and withdrawn(await services.people.get(report.person_id)):
        return
    voice, number = report.voice, report.number
    text = t(voice, key, number=number, **values)
    buttons: list[list[Button]] = []
    if answerable and report.platform is Platform.TELEGRAM:
        buttons = answer_buttons(voice, number)
    elif answerable:
        text = f"{text}\n{t(voice, 'reports.how_to_answer', number=number)}"
    message = OutgoingMessage(
        key=report_key(report.id, occasion),
        platform=report.platform,
        chat_id=report.chat_id,
        text=text,
        buttons=buttons,
    )
    await queue(services, [message])
