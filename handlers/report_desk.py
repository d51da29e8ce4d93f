"""Working on field reports: the open list, a ticket, replies both ways, status changes.

Staff act through the one gate with `report.handle` over the report's commune; a citizen
acts only on their own reports. A closed report (resolved, or a duplicate) takes nothing
more. Buttons on proactive messages work on Telegram; on Zalo, `/phieu <number>` opens
the ticket in the conversation, whose numbered choices do the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.channel import Button
from core.models import FieldReport, ReportNote, ReportStatus
from core.texts import t
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, finish
from handlers.registry import REGISTRY
from handlers.report_notices import (
    ACTION,
    age_text,
    answer_buttons,
    category_name,
    handlers_of,
    notice_text,
    staff_buttons,
    status_name,
    tell_citizen,
    tell_staff,
)
from handlers.reports import MAX_TEXT, typed_text
from handlers.rights import may, scope
from handlers.staff import authorize, authorize_found

LISTED = 20  # tickets offered as buttons under the open list


@REGISTRY.command("reports", "phananhmo", staff=True)
async def open_reports(ctx: Context) -> None:
    """/reports: the open reports of my communes, oldest first, with their age."""
    if await authorize(ctx, "report.handle") is not None:
        await begin(ctx, REPORT_DESK)


@REGISTRY.command("phieu", "ticket", in_groups=True)
async def ticket_command(ctx: Context) -> None:
    """/phieu N: one report with its thread, and what can be done with it."""
    typed = ctx.incoming.payload.strip().lstrip("#")
    if not typed.isdigit():
        await ctx.say("reports.ticket_usage")
        return
    await open_ticket(ctx, int(typed))


@REGISTRY.action(ACTION, in_groups=True)
async def report_button(ctx: Context) -> None:
    """A button on a report notice, a reply or a ticket: "rpt:<verb>:<number>"."""
    await run_verb(ctx, ctx.choice)


async def run_verb(ctx: Context, data: str) -> None:
    """Do what a report button says."""
    verb, _, number = data.removeprefix(ACTION).partition(":")
    run = VERBS.get(verb)
    if run is None or not number.isdigit():
        await ctx.say("common.stale_button")
        return
    await run(ctx, int(number))


async def ask_list(ctx: Context) -> None:
    """The open reports in the staff member's communes, each one a choice."""
    staff = await ctx.staff_member()
    covered = scope(staff) if staff else []
    areas = [a.code for a in ctx.services.areas.areas] if covered is None else covered
    found = await ctx.services.reports.open_in(areas)
    if not found:
        await ctx.say("reports.list_empty")
        finish(ctx)
        return
    now, lang = ctx.services.clock.now(), ctx.voice
    lines = [ctx.text("reports.list_title", count=len(found))]
    lines += [
        ctx.text(
            "reports.list_line",
            index=index,
            number=report.number,
            category=category_name(lang, report),
            area=ctx.services.areas.name(report.area),
            age=age_text(lang, report.created_at, now),
            status=status_name(lang, report),
        )
        for index, report in enumerate(found, 1)
    ]
    buttons = [[_open_button(ctx, report)] for report in found[:LISTED]]
    await ctx.send("\n".join(lines), buttons)


def _open_button(ctx: Context, report: FieldReport) -> Button:
    category = category_name(ctx.voice, report)
    label = ctx.text("reports.open_button", number=report.number, category=category)
    return Button(label, f"{ACTION}open:{report.number}")


async def take_choice(ctx: Context) -> str | None:
    """A ticket picked from the list, or an action on the ticket shown."""
    if not ctx.choice.startswith(ACTION):
        await ctx.choose_again()
        return None
    await run_verb(ctx, ctx.choice)
    # An action that began a flow (this one again, at a ticket) has asked its question.
    began = ctx.conversation.flow != REPORT_DESK.name or ctx.choice.startswith(f"{ACTION}open:")
    return None if began else END


async def open_ticket(ctx: Context, number: int) -> None:
    """Show a report to its citizen or to staff who may handle it."""
    await begin(ctx, REPORT_DESK, data={"number": number}, step="ticket")


async def ask_ticket(ctx: Context) -> None:
    """The report, its status and thread; its actions while it is open."""
    report = await _ticket(ctx, int(ctx.conversation.data["number"]))
    if report is None:
        finish(ctx)
        return
    lang, number = ctx.voice, report.number
    own = _own(ctx, report)
    notes = [_note_line(ctx, note) for note in report.notes]
    shown = ctx.text(
        "reports.ticket",
        notice=notice_text(lang, ctx.services, report),
        status=status_name(lang, report),
    )
    buttons: list[list[Button]] = []
    if report.status.open:
        buttons = answer_buttons(lang, number) if own else staff_buttons(lang, number)
    await ctx.send("\n".join([shown, *notes]), buttons)
    if not buttons:
        finish(ctx)


def _note_line(ctx: Context, note: ReportNote) -> str:
    key = "reports.note_staff" if note.from_staff else "reports.note_citizen"
    return ctx.text(key, at=ctx.local_time(note.at), text=note.text)


def _own(ctx: Context, report: FieldReport) -> bool:
    """Whether the user is the citizen who sent the report."""
    incoming = ctx.incoming
    return (report.platform, report.user_id) == (incoming.platform, incoming.user_id)


async def _ticket(ctx: Context, number: int) -> FieldReport | None:
    """The report if it is the user's own or they may handle it; else None (user told)."""
    report = await ctx.services.reports.by_number(number)
    if report is not None and _own(ctx, report):
        return report
    if await ctx.staff_member() is None:  # a citizen asking about someone else's report
        await ctx.say("reports.not_found", number=number)
        return None
    return await _gated(ctx, report, number)


async def _gated(ctx: Context, report: FieldReport | None, number: int) -> FieldReport | None:
    """The report if this staff member may handle it (the gate, audited); else None."""
    found = (report.area, report.id) if report else None
    person = report.person_id if report else ""
    allowed = await authorize_found(
        ctx, "report.handle", found, "reports.not_found", person=person, number=number
    )
    return report if allowed else None


async def _handled(ctx: Context, number: int) -> FieldReport | None:
    """The report numbered `number`, through the gate."""
    return await _gated(ctx, await ctx.services.reports.by_number(number), number)


async def _refuse_closed(ctx: Context, report: FieldReport) -> None:
    await ctx.say("reports.closed", number=report.number, status=status_name(ctx.voice, report))


async def _open_handled(ctx: Context, number: int) -> FieldReport | None:
    """The open report numbered `number`, through the gate (a closed one is refused)."""
    report = await _handled(ctx, number)
    if report is not None and not report.status.open:
        await _refuse_closed(ctx, report)
        return None
    return report


async def start_reply(ctx: Context, number: int) -> None:
    """Staff: type a reply for the citizen."""
    if report := await _open_handled(ctx, number):
        await begin(ctx, REPORT_NOTE, data={"report": report.id, "number": number, "staff": True})


async def start_answer(ctx: Context, number: int) -> None:
    """The citizen: answer back on their own report."""
    report = await ctx.services.reports.by_number(number)
    if report is None or not _own(ctx, report):
        await ctx.say("reports.not_found", number=number)
        return
    if not report.status.open:
        await _refuse_closed(ctx, report)
        return
    await begin(ctx, REPORT_NOTE, data={"report": report.id, "number": number, "staff": False})


async def ask_note(ctx: Context) -> None:
    """The reply's text."""
    data = ctx.conversation.data
    key = "reports.ask_reply" if data["staff"] else "reports.ask_answer"
    await ctx.say(key, number=data["number"], max=MAX_TEXT)


async def take_note(ctx: Context) -> str | None:
    """Add the reply to the thread and pass it on: to the citizen, or to the staff."""
    text = await typed_text(ctx)
    if text is None:
        return None
    data, services = ctx.conversation.data, ctx.services
    note = ReportNote(
        id=ctx.new_id("report-note"),
        from_staff=bool(data["staff"]),
        actor=ctx.actor,
        text=text,
        at=services.clock.now(),
    )
    report = await services.reports.add_note(str(data["report"]), note)
    if report is None:
        closed = await services.reports.get(str(data["report"]))
        if closed is not None:
            await _refuse_closed(ctx, closed)
        return END
    occasion = f"note:{note.id}"
    if note.from_staff:
        await tell_citizen(
            services, report, occasion, "reports.staff_reply", answerable=True, text=text
        )
        await ctx.say("reports.reply_sent", number=report.number)
        return END

    def answer(lang: str) -> str:
        return t(lang, "reports.citizen_answer", number=report.number, text=text)

    await tell_staff(services, report, await handlers_of(services, report), occasion, answer)
    await ctx.say("reports.answer_sent", number=report.number)
    return END


async def mark_in_progress(ctx: Context, number: int) -> None:
    """Staff: «Đang xử lý»."""
    await mark(ctx, number, ReportStatus.IN_PROGRESS)


async def mark_resolved(ctx: Context, number: int) -> None:
    """Staff: «Đã giải quyết»."""
    await mark(ctx, number, ReportStatus.RESOLVED)


async def mark(
    ctx: Context, number: int, status: ReportStatus, duplicate_of: int | None = None
) -> None:
    """Move an open report to `status` and tell its citizen (once, even run again)."""
    report = await _handled(ctx, number)
    if report is None:
        return
    services, change = ctx.services, ctx.new_id("report-status")
    done_before = change in report.changed_by
    if not done_before and report.status is status:
        await ctx.say(f"reports.marked_{status.value}", number=number, other=duplicate_of)
        return
    changed = None
    if done_before or report.status.open:
        now = services.clock.now()
        changed = await services.reports.set_status(report.id, status, change, now, duplicate_of)
    if changed is None:
        await _refuse_closed(ctx, await services.reports.get(report.id) or report)
        return
    told = f"reports.told_{status.value}"
    await tell_citizen(services, changed, f"status:{change}", told, other=duplicate_of)
    await ctx.say(f"reports.marked_{status.value}", number=number, other=duplicate_of)


async def start_duplicate(ctx: Context, number: int) -> None:
    """Staff: «Trùng với #…» asks which report this one repeats."""
    if await _open_handled(ctx, number):
        await begin(ctx, REPORT_DUPLICATE, data={"number": number})


async def ask_other(ctx: Context) -> None:
    """The number of the report it repeats."""
    await ctx.say("reports.ask_duplicate", number=ctx.conversation.data["number"])


async def take_other(ctx: Context) -> str | None:
    """Another report within the staff member's communes; then this one is a duplicate."""
    number = int(ctx.conversation.data["number"])
    typed = ctx.incoming.text.strip().lstrip("#")
    other = await ctx.services.reports.by_number(int(typed)) if typed.isdigit() else None
    staff = await ctx.staff_member()
    if other is None or other.number == number or not may(staff, "report.handle", other.area):
        await ctx.say("reports.duplicate_invalid", number=number)
        return None
    await mark(ctx, number, ReportStatus.DUPLICATE, other.number)
    return END


VERBS: dict[str, Callable[[Context, int], Awaitable[None]]] = {
    "open": open_ticket,
    "reply": start_reply,
    "answer": start_answer,
    "work": mark_in_progress,
    "done": mark_resolved,
    "dup": start_duplicate,
}

REPORT_DESK = Flow(
    name="report_desk",
    first="list",
    steps={"list": Step(ask_list, take_choice), "ticket": Step(ask_ticket, take_choice)},
    staff=True,
)
REPORT_NOTE = Flow(
    name="report_note", first="text", steps={"text": Step(ask_note, take_note)}, staff=True
)
REPORT_DUPLICATE = Flow(
    name="report_duplicate", first="other", steps={"other": Step(ask_other, take_other)}, staff=True
)
