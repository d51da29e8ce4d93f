"""Staff work on cases: lists, details, missed windows, reviews, acknowledgements, updates."""

from __future__ import annotations

from datetime import timedelta

from core.channel import Button
from core.dates import format_date, parse_date
from core.models import Ack, Case, CaseStatus, Declaration, LabTest, Person, Review
from core.schedule import Window
from core.texts import t
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, finish
from handlers.notices import to_accounts
from handlers.staff import authorize, scope

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


def _args(ctx: Context) -> list[str]:
    return ctx.incoming.payload.split()


async def _case_in_scope(ctx: Context, permission: str, number: str) -> tuple[Case, Person] | None:
    """The case with this number if the staff member may act on it (audited), else None."""
    case = await ctx.services.cases.by_number(int(number)) if number.isdigit() else None
    if case is None:
        await authorize(ctx, permission)  # still audited: who looked for what
        await ctx.say("case.not_found", number=number)
        return None
    if await authorize(ctx, permission, case.area) is None:
        return None
    person = await ctx.services.people.get(case.person_id)
    assert person is not None
    return case, person


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
            name=people[c.person_id].name,
            slots=_slot_marks(ctx, c, declarations),
        )
        for c in cases
    ]
    await ctx.send("\n".join(lines))


async def show_case(ctx: Context) -> None:
    """/case N: details, recent declarations and the latest selfie."""
    args = _args(ctx)
    if not args:
        await ctx.say("case.usage_case")
        return
    found = await _case_in_scope(ctx, "case.view", args[0])
    if found is None:
        return
    case, person = found
    today = ctx.services.today()
    days = [today - timedelta(days=n) for n in range(TABLE_DAYS)]
    declarations = await ctx.services.declarations.on_dates([case.id], days)
    await ctx.send(_details(ctx, case, person, declarations))
    latest = next((d for d in reversed(declarations) if d.selfie_id), None)
    jpeg = await ctx.services.photos.get(latest.selfie_id) if latest and latest.selfie_id else None
    if latest and jpeg:
        await ctx.reply_photo(
            jpeg, ctx.text("case.last_selfie", at=ctx.local_time(latest.submitted_at))
        )


def _details(ctx: Context, case: Case, person: Person, declarations: list[Declaration]) -> str:
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
    return ctx.text(
        "case.details",
        number=case.number,
        status=ctx.text(f"case.status_{case.status.value}"),
        name=person.name,
        phone=person.phone,
        address=person.address,
        area=ctx.services.areas.name(case.area),
        start=format_date(case.start),
        end=format_date(case.end),
        tests=tests,
        table="\n".join(rows) or ctx.text("case.no_declarations"),
    )


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
    lines = [ctx.text("missed.title", slot=window.slot, date=day, count=len(missed))] + [
        ctx.text(
            "missed.line",
            number=c.number,
            name=people[c.person_id].name,
            phone=people[c.person_id].phone,
        )
        for c in missed
    ]
    await ctx.send("\n".join(lines))


async def _closed_window(ctx: Context) -> Window | None:
    schedule, now = ctx.services.policy.schedule, ctx.services.clock.now()
    args = _args(ctx)
    if not args:
        return schedule.last_closed(now)
    window = schedule.window(schedule.local_date(now), args[0])
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


async def acknowledge(ctx: Context) -> None:
    """/ack <receipt> or the page's button: staff take over a symptom page."""
    receipt = (ctx.incoming.payload or ctx.choice.removeprefix("ack:")).strip().upper()
    if not receipt:
        await _list_pages(ctx)
        return
    declaration = await ctx.services.declarations.by_receipt(receipt)
    staff = await authorize(ctx, "page.ack", declaration.area if declaration else None)
    if staff is None:
        return
    if declaration is None:
        await ctx.say("page.not_found", receipt=receipt)
        return
    case = await ctx.services.cases.get(declaration.case_id)
    ack = Ack(by=ctx.actor, at=ctx.services.clock.now())
    if not await ctx.services.declarations.acknowledge(declaration.id, ack):
        await ctx.say("page.already", receipt=receipt)
        return
    await ctx.say("page.acked", receipt=receipt, number=case.number if case else "?")


async def _list_pages(ctx: Context) -> None:
    staff = await authorize(ctx, "page.ack")
    if staff is None:
        return
    waiting = await ctx.services.declarations.waiting_ack(scope(staff))
    if not waiting:
        await ctx.say("page.none_waiting")
        return
    lines = [ctx.text("page.usage")] + [
        f"• {d.receipt} — {ctx.local_time(d.submitted_at)}" for d in waiting
    ]
    await ctx.send("\n".join(lines))


async def start_review(ctx: Context) -> None:
    """/review: go through flagged selfies one by one."""
    if await authorize(ctx, "review.decide"):
        await begin(ctx, REVIEW)


async def ask_review(ctx: Context) -> None:
    """Show the oldest flagged selfie in scope, with the decision buttons."""
    staff = await ctx.services.staff.get(ctx.incoming.platform, ctx.incoming.user_id)
    skipped = set(ctx.conversation.data.get("skipped", []))
    waiting = [
        d
        for d in await ctx.services.declarations.waiting_review(scope(staff) if staff else [])
        if d.id not in skipped
    ]
    if not waiting or staff is None:
        await ctx.say("review.empty")
        finish(ctx)
        return
    item = waiting[0]
    case = await ctx.services.cases.get(item.case_id)
    person = await ctx.services.people.get(case.person_id) if case else None
    ctx.conversation.data["current"] = item.id
    await _show_photo(ctx, case.reference_selfie if case else None, "review.reference")
    await _show_photo(ctx, item.selfie_id, "review.flagged")
    flags = ", ".join(ctx.text(f"review.flag_{flag}") for flag in item.flags)
    buttons = [
        [
            Button(ctx.text("review.approve"), "review:approve"),
            Button(ctx.text("review.reject"), "review:reject"),
        ],
        [Button(ctx.text("review.skip"), "review:skip")],
    ]
    await ctx.say(
        "review.item",
        buttons=buttons,
        left=len(waiting),
        number=case.number if case else "?",
        name=person.name if person else "?",
        at=ctx.local_time(item.submitted_at),
        receipt=item.receipt,
        flags=flags,
    )


async def _show_photo(ctx: Context, photo_id: str | None, caption_key: str) -> None:
    jpeg = await ctx.services.photos.get(photo_id) if photo_id else None
    if jpeg:
        await ctx.reply_photo(jpeg, ctx.text(caption_key))


async def take_review(ctx: Context) -> str | None:
    """Record approve/reject (who and when, audited) or skip, then show the next one."""
    decision = ctx.choice.removeprefix("review:")
    current = str(ctx.conversation.data.get("current", ""))
    if decision not in ("approve", "reject", "skip"):
        await ctx.say("common.choose_option")
        return None
    if decision == "skip":
        ctx.conversation.data.setdefault("skipped", []).append(current)
        return "item"
    declaration = await ctx.services.declarations.get(current)
    if declaration is None or await authorize(ctx, "review.decide", declaration.area) is None:
        return END
    review = Review(decision=decision, by=ctx.actor, at=ctx.services.clock.now())
    await ctx.services.declarations.decide(current, review)
    await ctx.services.audit.append(ctx.actor, f"review.{decision}", True, target=current)
    await ctx.say("review.decided", receipt=declaration.receipt)
    return "item"


async def extend_case(ctx: Context) -> None:
    """/extend N days|date: move the last quarantine day and tell the resident."""
    args = _args(ctx)
    found = await _case_in_scope(ctx, "case.update", args[0]) if len(args) == 2 else None
    if found is None:
        if len(args) != 2:
            await ctx.say("case.usage_extend")
        return
    case, person = found
    new_end = (
        case.end + timedelta(days=int(args[1]))
        if args[1].isdigit()
        else parse_date(args[1], ctx.services.today())
    )
    if new_end is None or new_end < case.start or case.status is CaseStatus.ENDED:
        await ctx.say("case.usage_extend")
        return
    case.end = new_end
    await ctx.services.cases.save(case)
    await _tell_resident(
        ctx,
        case,
        person,
        f"extended:{case.id}:{new_end}",
        "quarantine.extended",
        end=format_date(new_end),
    )
    await ctx.say("case.extended", number=case.number, end=format_date(new_end))


async def record_test(ctx: Context) -> None:
    """/test N kind date result: add a test result to a case."""
    args = _args(ctx)
    kind = TEST_KINDS.get(args[1].lower()) if len(args) == 4 else None
    result = TEST_RESULTS.get(args[3].lower()) if len(args) == 4 else None
    on = parse_date(args[2], ctx.services.today()) if len(args) == 4 else None
    if kind is None or result is None or on is None:
        await ctx.say("case.usage_test")
        return
    found = await _case_in_scope(ctx, "case.update", args[0])
    if found is None:
        return
    case, _person = found
    case.tests.append(
        LabTest(
            kind=args[1].lower(),
            on=on,
            result=args[3].lower(),
            by=ctx.actor,
            at=ctx.services.clock.now(),
        )
    )
    await ctx.services.cases.save(case)
    await ctx.say(
        "case.test_saved",
        number=case.number,
        kind=ctx.text(f"case.{kind}"),
        on=format_date(on),
        result=ctx.text(f"case.{result}"),
    )


async def start_end(ctx: Context) -> None:
    """/end N reason: ask to confirm ending a case (the resident is told)."""
    args = _args(ctx)
    found = await _case_in_scope(ctx, "case.update", args[0]) if len(args) >= 2 else None
    if found is None:
        if len(args) < 2:
            await ctx.say("case.usage_end")
        return
    case, _person = found
    if case.status is CaseStatus.ENDED:
        await ctx.say("case.already_ended", number=case.number)
        return
    await begin(ctx, END_CASE, data={"case": case.id, "reason": " ".join(args[1:])[:200]})


async def ask_end(ctx: Context) -> None:
    """The confirmation question."""
    case = await ctx.services.cases.get(str(ctx.conversation.data["case"]))
    person = await ctx.services.people.get(case.person_id) if case else None
    buttons = [
        [Button(ctx.text("case.end_yes"), "end:yes"), Button(ctx.text("case.end_no"), "end:no")]
    ]
    await ctx.say(
        "case.end_confirm",
        buttons=buttons,
        number=case.number if case else "?",
        name=person.name if person else "?",
        reason=ctx.conversation.data["reason"],
    )


async def take_end(ctx: Context) -> str | None:
    """End the case and tell the resident, or keep it."""
    case = await ctx.services.cases.get(str(ctx.conversation.data["case"]))
    if case is None or ctx.choice not in ("end:yes", "end:no"):
        await ctx.say("common.choose_option")
        return None
    if ctx.choice == "end:no":
        await ctx.say("case.kept", number=case.number)
        return END
    reason = str(ctx.conversation.data["reason"])
    await end_case(ctx, case, reason)
    await ctx.services.audit.append(
        ctx.actor, "case.end", True, target=case.id, details={"reason": reason}
    )
    await ctx.say("case.ended", number=case.number)
    return END


async def end_case(ctx: Context, case: Case, reason: str) -> None:
    """Mark a case ended now and tell the resident why."""
    case.status, case.end_reason = CaseStatus.ENDED, reason
    case.ended_at = ctx.services.clock.now()
    await ctx.services.cases.save(case)
    person = await ctx.services.people.get(case.person_id)
    if person:
        await _tell_resident(
            ctx, case, person, f"ended:{case.id}", "quarantine.ended", reason=reason
        )


async def _tell_resident(
    ctx: Context, case: Case, person: Person, key: str, text_key: str, **values: object
) -> None:
    services = ctx.services
    accounts = await services.accounts.of_person(person.id)

    def text(lang: str) -> str:
        return t(lang, text_key, number=case.number, **values)

    await services.outbox.enqueue(to_accounts(key, accounts, text))
    services.wake_dispatchers()


REVIEW = Flow(name="review", first="item", steps={"item": Step(ask_review, take_review)})
END_CASE = Flow(name="end_case", first="confirm", steps={"confirm": Step(ask_end, take_end)})
