"""What staff see of cases: the list with today's windows, one case in detail, who missed."""

from __future__ import annotations

from datetime import timedelta

from core.channel import Action
from core.dates import format_date
from core.models import Case, Declaration, Person
from core.phone import display_phone
from core.schedule import Window
from handlers.context import Context
from handlers.registry import REGISTRY
from handlers.staff import authorize, authorize_case, scope

TABLE_DAYS = 3
TEST_KINDS = {"nhanh": "test_rapid", "rapid": "test_rapid", "pcr": "test_pcr"}
TEST_RESULTS = {
    "am": "result_negative",
    "âm": "result_negative",
    "duong": "result_positive",
    "dương": "result_positive",
    "cho": "result_pending",
    "chờ": "result_pending",
}


def args(ctx: Context) -> list[str]:
    """The words after the command."""
    return ctx.incoming.payload.split()


def name_and_phone(ctx: Context, person: Person | None) -> tuple[str, str]:
    """A person's name and phone, or a note that they erased their data."""
    if person is None:
        return ctx.text("case.person_erased"), "—"
    return person.name, display_phone(person.phone)


def _slot_marks(ctx: Context, case: Case, declarations: list[Declaration]) -> str:
    """Today's windows as marks: ✅ on time, 🕑 late, ❌ missed, ⏳ open, ▫️ later."""
    now, schedule = ctx.services.clock.now(), ctx.services.policy.schedule
    by_slot = {d.slot: d for d in declarations if d.case_id == case.id}
    marks = []
    for window in schedule.windows_on(schedule.local_date(now)):
        declared = by_slot.get(window.slot)
        if declared:
            mark = "✅" if declared.timing == "on_time" else "🕑"
        elif window.deadline <= now:
            mark = "❌" if window.deadline > case.created_at else "▫️"
        else:
            mark = "⏳" if window.opens_at <= now else "▫️"
        marks.append(f"{window.slot} {mark}")
    return " · ".join(marks)


@REGISTRY.command("cases", staff=True)
async def list_cases(ctx: Context) -> None:
    """/cases: active cases in scope with today's status per window."""
    staff = await authorize(ctx, "case.view")
    if staff is None:
        return
    cases = await ctx.services.cases.active(scope(staff))
    if not cases:
        await ctx.say("case.list_empty")
        return
    today = ctx.services.today()
    declarations = await ctx.services.declarations.on_dates([c.id for c in cases], [today])
    people = await ctx.services.people.many(c.person_id for c in cases)
    lines = [ctx.text("case.list_title", count=len(cases), date=format_date(today))] + [
        ctx.text(
            "case.list_line",
            number=c.number,
            name=name_and_phone(ctx, people.get(c.person_id))[0],
            slots=_slot_marks(ctx, c, declarations),
        )
        for c in cases
    ]
    await ctx.send("\n".join(lines))


@REGISTRY.command("case", staff=True)
async def show_case(ctx: Context) -> None:
    """/case N: details, recent declarations and the latest selfie."""
    words = args(ctx)
    if not words:
        await ctx.say("case.usage_case")
        return
    case = await authorize_case(ctx, "case.view", words[0])
    if case is None:
        return
    person = await ctx.services.people.get(case.person_id)
    today = ctx.services.today()
    days = [today - timedelta(days=n) for n in range(TABLE_DAYS)]
    declarations = await ctx.services.declarations.on_dates([case.id], days)
    await ctx.send(_details(ctx, case, person, declarations))
    latest = next((d for d in reversed(declarations) if d.selfie_id), None)
    if latest and latest.selfie_id:
        caption = ctx.text("case.last_selfie", at=ctx.local_time(latest.submitted_at))
        await show_photo(ctx, latest.selfie_id, caption)


async def show_photo(ctx: Context, photo_id: str | None, caption: str) -> None:
    """Send a stored selfie to the staff member's chat, if it still exists."""
    jpeg = await ctx.services.photos.get(photo_id) if photo_id else None
    if jpeg:
        await ctx.out.send_action(ctx.incoming.chat_id, Action.UPLOAD_PHOTO)
        await ctx.reply_photo(jpeg, caption)


def _details(
    ctx: Context, case: Case, person: Person | None, declarations: list[Declaration]
) -> str:
    tests = "; ".join(
        f"{ctx.text('case.' + TEST_KINDS.get(x.kind, 'test_pcr'))} {format_date(x.on)}: "
        f"{ctx.text('case.' + TEST_RESULTS.get(x.result, 'result_pending'))}"
        for x in case.tests
    ) or ctx.text("case.no_tests")
    rows = [
        f"{format_date(d.local_date)} {d.slot or ctx.text('quarantine.slot_adhoc')}: "
        f"{ctx.text('quarantine.timing_' + d.timing)}, {ctx.local_time(d.submitted_at)}"
        f"{' ⚠️' if d.answers.symptomatic else ''}{' 🔍' if d.flags else ''}"
        for d in declarations
    ]
    name, phone = name_and_phone(ctx, person)
    return ctx.text(
        "case.details",
        number=case.number,
        status=ctx.text(f"case.status_{case.status.value}"),
        name=name,
        phone=phone,
        address=person.address if person else "—",
        area=ctx.services.areas.name(case.area),
        start=format_date(case.start),
        end=format_date(case.end),
        tests=tests,
        table="\n".join(rows) or ctx.text("case.no_declarations"),
    )


@REGISTRY.command("missed", staff=True)
async def list_missed(ctx: Context) -> None:
    """/missed [slot]: who has not declared for the latest closed window (or a given one today)."""
    staff = await authorize(ctx, "case.view")
    if staff is None:
        return
    window = await _closed_window(ctx)
    if window is None:
        return
    missed = await missed_cases(ctx, window, scope(staff))
    day = format_date(window.local_date)
    if not missed:
        await ctx.say("missed.none", slot=window.slot, date=day)
        return
    people = await ctx.services.people.many(c.person_id for c in missed)
    lines = [ctx.text("missed.title", slot=window.slot, date=day, count=len(missed))]
    for case in missed:
        name, phone = name_and_phone(ctx, people.get(case.person_id))
        lines.append(ctx.text("missed.line", number=case.number, name=name, phone=phone))
    await ctx.send("\n".join(lines))


async def _closed_window(ctx: Context) -> Window | None:
    schedule, now = ctx.services.policy.schedule, ctx.services.clock.now()
    words = args(ctx)
    if not words:
        return schedule.last_closed(now)
    window = schedule.window(schedule.local_date(now), words[0])
    if window is None:
        await ctx.say("missed.usage")
    elif window.deadline > now:
        await ctx.say("missed.not_yet", slot=window.slot)
        return None
    return window


async def missed_cases(ctx: Context, window: Window, areas: list[str] | None) -> list[Case]:
    """Active cases in `areas` that existed at the window's deadline and did not declare."""
    declared = await ctx.services.declarations.declared_cases(window.local_date, window.slot)
    return [
        case
        for case in await ctx.services.cases.active(areas)
        if case.start <= window.local_date <= case.end
        and case.created_at < window.deadline
        and case.id not in declared
    ]
