"""Symptom pages: staff take one over with its button or `/ack <receipt>`."""

from __future__ import annotations

from core.models import Ack
from handlers.context import Context
from handlers.notices import update_page
from handlers.registry import REGISTRY
from handlers.rights import scope
from handlers.staff import authorize


@REGISTRY.command("ack", staff=True)
@REGISTRY.action("ack:", in_groups=True)
async def acknowledge(ctx: Context) -> None:
    """/ack <receipt> or the page's button: take a page over (once: a second officer is told)."""
    receipt = (ctx.incoming.payload or ctx.choice.removeprefix("ack:")).strip().upper()
    if not receipt:
        await _list_pages(ctx)
        return
    declaration = await ctx.services.declarations.by_receipt(receipt)
    area = declaration.area if declaration else None
    subject = declaration.id if declaration else ""
    case = await ctx.services.cases.get(declaration.case_id) if declaration else None
    person = case.person_id if case else ""
    if await authorize(ctx, "page.ack", area, subject, person) is None:
        return
    if declaration is None:
        await ctx.say("page.not_found", receipt=receipt)
        return
    ack = Ack(by=ctx.actor, at=ctx.services.clock.now(), name=ctx.incoming.display_name)
    if not await ctx.services.declarations.acknowledge(declaration.id, ack):
        await ctx.say("page.already", receipt=receipt)
        return
    await update_page(ctx.services, declaration.model_copy(update={"ack": ack}), "taken")
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
