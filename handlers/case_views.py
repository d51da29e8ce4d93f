"""What staff see of cases: the list with today's windows, one case in detail, who missed."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.channel import Action
from core.dates import format_date
from core.matching import fold
from core.models import Case, Declaration, LabTest, Person, Staff
from core.phone import display_phone
from core.schedule import Window, was_due
from core.texts import window_name
from handlers.context import Context
from handlers.registry import REGISTRY
from handlers.rights import may, scope
from handlers.staff import authorize, authorize_case

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


def _slot_mark(case: Case, window: Window, declared: Declaration | None, now: datetime) -> str:
    if declared:
        return "✅" if declared.timing == "on_time" else "🕑"
    if not was_due(case, window):
        return "▫️"
    if window.deadline <= now:
        return "❌"
    return "⏳" if window.opens_at <= now else "▫️"


def _slot_marks(ctx: Context, case: Case, declarations: list[Declaration]) -> str:
    """Today's windows as marks: ✅ on time, 🕑 late, ❌ missed, ⏳ open, ▫️ later or not due."""
    now, schedule = ctx.services.clock.now(), ctx.services.policy.schedule
    by_slot = {d.slot: d for d in declarations if d.case_id == case.id}
    return " · ".join(
        f"{window.slot} {_slot_mark(case, window, by_slot.get(window.slot), now)}"
        for window in schedule.windows_on(schedule.local_date(now))
    )


async def list_reader(ctx: Context) -> Staff | None:
    """The gate of the case lists: officers read them in full (`case.view`), a hamlet's team
    (`case.list`) only its hamlet's cases, without phone numbers or health details."""
    staff = await ctx.staff_member()
    reads_all = staff is None or may(staff, "case.view")
    return await authorize(ctx, "case.view" if reads_all else "case.list")


async def listed_cases(
    ctx: Context, staff: Staff, cases: list[Case]
) -> tuple[list[Case], dict[str, Person]]:
    """The cases a staff member may see in a list, with their people: all of their areas',
    or for a hamlet's team those whose address names the hamlet."""
    people = await ctx.services.people.many(c.person_id for c in cases)
    if may(staff, "case.view"):
        return cases, people
    hamlet = fold(staff.hamlet)

    def in_hamlet(case: Case) -> bool:
        person = people.get(case.person_id)
        return person is not None and hamlet in fold(person.address)

    return [c for c in cases if in_hamlet(c)], people


@REGISTRY.command("cases", staff=True)
async def list_cases(ctx: Context) -> None:
    """/cases: active cases in scope with today's status per window."""
    staff = await list_reader(ctx)
    if staff is None:
        return
    cases, people = await listed_cases(ctx, staff, await ctx.services.cases.active(scope(staff)))
    if not cases:
        await ctx.say("case.list_empty")
        return
    today = ctx.services.today()
    declarations = await ctx.services.declarations.on_dates([c.id for c in cases], [today])
    paged = (
        {d.case_id for d in await ctx.services.declarations.waiting_ack(scope(staff))}
        if may(staff, "page.ack")
        else set()
    )
    lines = [ctx.text("case.list_title", count=len(cases), date=format_date(today))] + [
        ctx.text(
            "case.list_line",
            alert="🚨 " if c.id in paged else "",
            number=c.number,
            name=name_and_phone(ctx, people.get(c.person_id))[0],
            slots=_slot_marks(ctx, c, declarations),
        )
        for c in cases
    ]
    await ctx.send("\n".join([*lines, ctx.text("case.list_legend")]))


@REGISTRY.command("case", staff=True)
async def show_case(ctx: Context) -> None:
    """/case N: details, recent declarations, the reference photo and the latest selfies."""
    words = args(ctx)
    if not words:
        await ctx.say("case.usage_case")
        return
    case = await authorize_case(ctx, "case.view", words[0])
    if case is None:
        return
    person = await ctx.services.people.get(case.person_id)
    declarations = await _all_declarations(ctx, case)
    recent = ctx.services.today() - timedelta(days=TABLE_DAYS - 1)
    table = [d for d in declarations if d.local_date >= recent]
    proxies = await ctx.services.people.many({*case.proxies, *(d.declared_by for d in table)})
    await ctx.send(_details(ctx, case, person, table, proxies))
    await _show_reference(ctx, case, declarations)
    await _show_latest_selfies(ctx, [d for d in declarations if d.selfie_id])


async def _all_declarations(ctx: Context, case: Case) -> list[Declaration]:
    """Every declaration of a case so far, oldest first (a quarantine lasts weeks, not years)."""
    first = min(case.start, ctx.services.policy.schedule.local_date(case.created_at))
    days = (ctx.services.today() - first).days + 1
    return await ctx.services.declarations.on_dates(
        [case.id], [first + timedelta(days=n) for n in range(days)]
    )


async def _show_reference(ctx: Context, case: Case, declarations: list[Declaration]) -> None:
    """The reference photo, labelled with the day it was taken."""
    if case.reference_selfie is None:
        return
    taken = next((d for d in declarations if d.selfie_id == case.reference_selfie), None)
    caption = (
        ctx.text("case.reference_photo", date=format_date(taken.local_date))
        if taken
        else ctx.text("case.reference_photo_undated")
    )
    await show_photo(ctx, case.reference_selfie, caption)


def _accepted(declaration: Declaration) -> bool:
    """A selfie nobody doubts: not flagged by the checks, or approved by an officer."""
    review = declaration.review
    return not declaration.flags or (review is not None and review.decision == "approve")


async def _show_latest_selfies(ctx: Context, with_selfie: list[Declaration]) -> None:
    """The latest accepted selfie, and a newer doubtful one marked as such."""
    accepted = next((d for d in reversed(with_selfie) if _accepted(d)), None)
    if accepted:
        caption = ctx.text("case.last_selfie", at=ctx.local_time(accepted.submitted_at))
        await show_photo(ctx, accepted.selfie_id, caption)
    newest = with_selfie[-1] if with_selfie else None
    if newest and newest is not accepted:
        rejected = newest.review is not None and newest.review.decision == "reject"
        key = "case.selfie_rejected" if rejected else "case.selfie_pending"
        await show_photo(
            ctx, newest.selfie_id, ctx.text(key, at=ctx.local_time(newest.submitted_at))
        )


async def show_photo(ctx: Context, photo_id: str | None, caption: str) -> None:
    """Send a stored selfie to the staff member's chat, if it still exists."""
    jpeg = await ctx.services.photos.get(photo_id) if photo_id else None
    if jpeg:
        await ctx.out.send_action(ctx.incoming.chat_id, Action.UPLOAD_PHOTO)
        await ctx.reply_photo(jpeg, caption)


def lab_test_text(ctx: Context, test: LabTest) -> str:
    """A test as staff read it: "PCR 27/11/2026: âm tính"."""
    kind = ctx.text("case." + TEST_KINDS.get(test.kind, "test_pcr"))
    result = ctx.text("case." + TEST_RESULTS.get(test.result, "result_pending"))
    return f"{kind} {format_date(test.on)}: {result}"


def _details(
    ctx: Context,
    case: Case,
    person: Person | None,
    declarations: list[Declaration],
    proxies: dict[str, Person],
) -> str:
    tests = "; ".join(lab_test_text(ctx, x) for x in case.tests) or ctx.text("case.no_tests")
    rows = [
        f"{format_date(d.local_date)} {d.slot or ctx.text('quarantine.slot_adhoc')}: "
        f"{ctx.text('quarantine.timing_' + d.timing)}, {ctx.local_time(d.submitted_at)}"
        f"{' ⚠️' if d.answers.symptomatic else ''}{' 🔍' if d.flags else ''}"
        f"{' 📍❗' if d.location and d.location.at_home is False else ''}"
        f"{_by_proxy(ctx, d, proxies)}"
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
        proxies=_proxies_line(ctx, case, proxies),
        table="\n".join(rows) or ctx.text("case.no_declarations"),
    )


def _proxies_line(ctx: Context, case: Case, people: dict[str, Person]) -> str:
    """Who may declare for the resident ("" when nobody does)."""
    names = [people[p].name for p in case.proxies if p in people]
    return ctx.text("proxy.proxies", names=", ".join(names)) if names else ""


def _by_proxy(ctx: Context, declaration: Declaration, proxies: dict[str, Person]) -> str:
    """ " (khai báo hộ: Minh)" for a declaration someone made for the resident."""
    if not declaration.declared_by:
        return ""
    proxy = proxies.get(declaration.declared_by)
    name = proxy.name if proxy else ctx.text("case.person_erased")
    return ctx.text("proxy.table_by", name=name)


@REGISTRY.command("missed", staff=True)
async def list_missed(ctx: Context) -> None:
    """/missed [slot]: who has not declared for the latest closed window (or a given one today)."""
    staff = await list_reader(ctx)
    if staff is None:
        return
    window = await _closed_window(ctx)
    if window is None:
        return
    missed, people = await listed_cases(ctx, staff, await missed_cases(ctx, window, scope(staff)))
    day = format_date(window.local_date)
    if not missed:
        await ctx.say("missed.none", slot=window_name(ctx.lang, window.slot), date=day)
        return
    slot = window_name(ctx.lang, window.slot)
    lines = [ctx.text("missed.title", slot=slot, date=day, count=len(missed))]
    line = "missed.line" if may(staff, "case.view") else "missed.line_no_phone"
    for case in missed:
        name, phone = name_and_phone(ctx, people.get(case.person_id))
        lines.append(ctx.text(line, number=case.number, name=name, phone=phone))
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
        await ctx.say("missed.not_yet", slot=window_name(ctx.lang, window.slot))
        return None
    return window


async def missed_cases(ctx: Context, window: Window, areas: list[str] | None) -> list[Case]:
    """Active cases in `areas` that were due for the window and did not declare."""
    declared = await ctx.services.declarations.declared_cases(window.local_date, window.slot)
    return [
        case
        for case in await ctx.services.cases.active(areas)
        if was_due(case, window) and case.id not in declared
    ]
