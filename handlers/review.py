"""Staff review flagged selfies one by one: approve, reject or leave for later.

The right to review is checked again for every photo shown (and each showing is audited),
so an officer whose role or communes change mid-review sees nothing more.
"""

from __future__ import annotations

from core.channel import Button
from core.models import Declaration, Review, Staff
from handlers.case_views import name_and_phone, show_photo
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, finish
from handlers.registry import REGISTRY
from handlers.rights import may, scope
from handlers.staff import authorize


@REGISTRY.command("review", staff=True)
async def start_review(ctx: Context) -> None:
    """/review: go through flagged selfies one by one."""
    if await authorize(ctx, "review.decide"):
        await begin(ctx, REVIEW)


async def _next_item(ctx: Context, staff: Staff) -> tuple[Declaration, int] | None:
    """The oldest flagged selfie in the staff member's scope not skipped, and how many wait."""
    skipped = set(ctx.conversation.data.get("skipped", []))
    waiting = [
        d
        for d in await ctx.services.declarations.waiting_review(scope(staff))
        if d.id not in skipped
    ]
    return (waiting[0], len(waiting)) if waiting else None


async def ask_review(ctx: Context) -> None:
    """Show the next flagged selfie beside the reference one, with the decision buttons."""
    staff = await ctx.staff_member()
    if not may(staff, "review.decide"):
        await authorize(ctx, "review.decide")  # refuses, and records the attempt
        finish(ctx)
        return
    assert staff is not None
    found = await _next_item(ctx, staff)
    if found is None:
        await ctx.say("review.empty")
        finish(ctx)
        return
    item, left = found
    case = await ctx.services.cases.get(item.case_id)
    person_id = case.person_id if case else ""
    if await authorize(ctx, "review.decide", item.area, item.id, person_id) is None:
        if ctx.conversation.flow == REVIEW.name:  # not when asked the purpose first
            finish(ctx)
        return
    person = await ctx.services.people.get(case.person_id) if case else None
    ctx.conversation.data["current"] = item.id
    await show_photo(ctx, case.reference_selfie if case else None, ctx.text("review.reference"))
    await show_photo(ctx, item.selfie_id, ctx.text("review.flagged"))
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
        left=left,
        number=case.number if case else "?",
        name=name_and_phone(ctx, person)[0],
        at=ctx.local_time(item.submitted_at),
        receipt=item.receipt,
        flags=flags,
    )


async def take_review(ctx: Context) -> str | None:
    """Record approve/reject (who and when, audited) or skip, then show the next one."""
    decision = ctx.choice.removeprefix("review:")
    current = str(ctx.conversation.data.get("current", ""))
    if decision not in ("approve", "reject", "skip"):
        await ctx.choose_again()
        return None
    if decision == "skip":
        ctx.conversation.data.setdefault("skipped", []).append(current)
        return "item"
    declaration = await ctx.services.declarations.get(current)
    if declaration is None:
        return "item"
    case = await ctx.services.cases.get(declaration.case_id)
    person_id = case.person_id if case else ""
    if await authorize(ctx, "review.decide", declaration.area, current, person_id) is None:
        return END
    review = Review(decision=decision, by=ctx.actor, at=ctx.services.clock.now())
    if await ctx.services.declarations.decide(current, review):
        await ctx.services.audit.append(
            ctx.actor, f"review.{decision}", True, target=current, person=person_id
        )
        await _say_decided(ctx, declaration, decision)
    else:
        await _already_decided(ctx, current)
    return "item"


async def _say_decided(ctx: Context, declaration: Declaration, decision: str) -> None:
    """Repeat what was decided, and for which case, so a slip is seen at once."""
    case = await ctx.services.cases.get(declaration.case_id)
    await ctx.say(
        "review.decided",
        number=case.number if case else "?",
        verdict=ctx.text(f"review.verdict_{decision}"),
        receipt=declaration.receipt,
    )


async def _already_decided(ctx: Context, declaration_id: str) -> None:
    """Another officer decided first: say who and what, and move on."""
    decided = await ctx.services.declarations.get(declaration_id)
    review = decided.review if decided else None
    if decided is None or review is None:
        return
    await ctx.say(
        "review.already_decided",
        receipt=decided.receipt,
        decision=ctx.text(f"review.{review.decision}"),
        at=ctx.local_time(review.at),
    )


REVIEW = Flow(
    name="review", first="item", steps={"item": Step(ask_review, take_review)}, staff=True
)
