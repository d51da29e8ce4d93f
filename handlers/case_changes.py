"""Staff change cases: extend the quarantine, record a test, end a case (after confirming).

Every change is one conditional write, so two officers (or an officer and the scheduler's
completion) acting at once cannot undo each other.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from core.channel import Button
from core.dates import format_date, parse_date
from core.models import Case, CaseStatus, LabTest
from handlers.case_views import TEST_KINDS, TEST_RESULTS, args, name_and_phone
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin
from handlers.notices import tell_resident
from handlers.registry import REGISTRY
from handlers.staff import authorize, authorize_case

MAX_EXTENSION_DAYS = 365
DAY = timedelta(days=1)
DAY_WORDS = frozenset({"ngày", "ngay", "day", "days"})


@REGISTRY.command("extend", staff=True)
async def extend_case(ctx: Context) -> None:
    """/extend N days|date: move the last quarantine day and tell the resident."""
    words = _without_day_word(args(ctx))
    if len(words) != 2:
        await ctx.say("case.usage_extend")
        return
    case = await authorize_case(ctx, "case.update", words[0])
    if case is None:
        return
    new_end = _new_end(ctx, case, words[1])
    if new_end is None:
        await ctx.say("case.usage_extend")
        return
    extended = await ctx.services.cases.extend(case.id, new_end)
    if extended is None:
        await ctx.say("case.already_ended", number=case.number)
        return
    end = format_date(new_end)
    await tell_resident(
        ctx.services, case, f"extended:{case.id}:{new_end}", "quarantine.extended", end=end
    )
    await ctx.say("case.extended", number=case.number, end=end)


def _without_day_word(words: list[str]) -> list[str]:
    """The words with a unit after the number of days dropped: `/extend 3 7 ngày`."""
    unit = unicodedata.normalize("NFC", words[-1]).lower() if len(words) == 3 else ""
    return words[:2] if unit in DAY_WORDS and words[1].isdigit() else words


def _new_end(ctx: Context, case: Case, typed: str) -> date | None:
    """A number of days added to the last day, or a date; None when out of bounds."""
    if typed.isdigit():
        days = int(typed)
        return case.end + timedelta(days=days) if 1 <= days <= MAX_EXTENSION_DAYS else None
    new_end = parse_date(typed, ctx.services.today())
    if new_end is None or not case.start <= new_end <= case.start + MAX_EXTENSION_DAYS * DAY:
        return None
    return new_end


@REGISTRY.command("test", staff=True)
async def record_test(ctx: Context) -> None:
    """/test N kind date result: add a test result to a case."""
    words = args(ctx)
    kind = TEST_KINDS.get(words[1].lower()) if len(words) == 4 else None
    result = TEST_RESULTS.get(words[3].lower()) if len(words) == 4 else None
    on = parse_date(words[2], ctx.services.today()) if len(words) == 4 else None
    if kind is None or result is None or on is None:
        await ctx.say("case.usage_test")
        return
    case = await authorize_case(ctx, "case.update", words[0])
    if case is None:
        return
    test = LabTest(
        kind=words[1].lower(),
        on=on,
        result=words[3].lower(),
        by=ctx.actor,
        at=ctx.services.clock.now(),
    )
    await ctx.services.cases.add_test(case.id, test)
    await ctx.services.audit.append(
        ctx.actor, "case.test", True, target=case.id, person=case.person_id
    )
    await ctx.say(
        "case.test_saved",
        number=case.number,
        kind=ctx.text(f"case.{kind}"),
        on=format_date(on),
        result=ctx.text(f"case.{result}"),
    )


@REGISTRY.command("end", staff=True)
async def start_end(ctx: Context) -> None:
    """/end N reason: ask to confirm ending a case (the resident is told)."""
    words = args(ctx)
    if len(words) < 2:
        await ctx.say("case.usage_end")
        return
    case = await authorize_case(ctx, "case.update", words[0])
    if case is None:
        return
    if case.status is CaseStatus.ENDED:
        await ctx.say("case.already_ended", number=case.number)
        return
    await begin(ctx, END_CASE, data={"case": case.id, "reason": " ".join(words[1:])[:200]})


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
        name=name_and_phone(ctx, person)[0],
        reason=ctx.conversation.data["reason"],
    )


async def take_end(ctx: Context) -> str | None:
    """End the case and tell the resident, or keep it; the right is checked again first."""
    case = await ctx.services.cases.get(str(ctx.conversation.data["case"]))
    if case is None or ctx.choice not in ("end:yes", "end:no"):
        await ctx.choose_again()
        return None
    if ctx.choice == "end:no":
        await ctx.say("case.kept", number=case.number)
        return END
    if await authorize(ctx, "case.update", case.area, case.id, case.person_id) is None:
        return END
    reason = str(ctx.conversation.data["reason"])
    if await ctx.services.cases.end(case.id, reason, ctx.services.clock.now()) is None:
        await ctx.say("case.already_ended", number=case.number)
        return END
    await tell_resident(ctx.services, case, f"ended:{case.id}", "quarantine.ended", reason=reason)
    await ctx.services.audit.append(
        ctx.actor,
        "case.end",
        True,
        target=case.id,
        details={"reason": reason},
        person=case.person_id,
    )
    await ctx.say("case.ended", number=case.number)
    return END


END_CASE = Flow(
    name="end_case",
    first="confirm",
    steps={"confirm": Step(ask_end, take_end)},
    staff=True,
)
