"""Personal QR cards for people without a smartphone: `/the <phone> [full name]` prints one.

A gate account (a staff member who chose «📟 Ghi nhận thẻ tại đây» on a checkpoint) then
types the card's code or sends a photo of it to record the holder's visit (handlers/scans.py).
"""

from __future__ import annotations

import asyncio

from core.checkpoints import card_qr
from core.models import Card, Person, Role
from core.phone import leading_phone
from core.posters import CardItem, card_pdf, card_png
from core.tokens import new_code
from handlers.context import Context
from handlers.enrolment import enrolled_record
from handlers.registry import REGISTRY
from handlers.rights import may
from handlers.staff import authorize

_NAME_WORDS = 2  # "Nguyễn Tư" at least


@REGISTRY.command("card", "the", staff=True)
async def card_command(ctx: Context) -> None:
    """/the: a personal card for the person with this phone (created with the name given)."""
    staff = await authorize(ctx, "place.manage")
    if staff is None:
        return
    phone, name = _parse(ctx.incoming.payload)
    if phone is None:
        await ctx.say("cards.usage")
        return
    person = await _holder(ctx, phone, name)
    if person is None:
        return
    services = ctx.services
    card = await services.cards.add(
        Card(
            id=ctx.new_id("card", 12),
            person_id=person.id,
            code=new_code(),
            created_by=ctx.actor,
            created_at=services.clock.now(),
        )
    )
    await services.audit.append(ctx.actor, "card.issue", True, target=person.id, person=person.id)
    item = CardItem(
        person.name, services.areas.name(person.area), card.code, card_qr(services.keys, card)
    )
    png, pdf = await asyncio.gather(
        asyncio.to_thread(card_png, item, ctx.lang), asyncio.to_thread(card_pdf, [item], ctx.lang)
    )
    await ctx.reply_photo(png, ctx.text("cards.made", name=person.name, code=card.code))
    await ctx.out.send_document(
        ctx.incoming.chat_id, pdf, f"the-{card.code}.pdf", ctx.text("cards.print")
    )


def _parse(arguments: str) -> tuple[str | None, str]:
    """The phone (typed in groups or not) and the name after it."""
    phone, rest = leading_phone(arguments.split())
    return phone, " ".join(rest)


async def _holder(ctx: Context, phone: str, name: str) -> Person | None:
    """Whose card: the person with this phone in the user's areas (an org manager: on their
    worker lists), or a new record when nobody has the phone and a name is given."""
    services, staff = ctx.services, await ctx.staff_member()
    assert staff is not None
    people = await services.people.with_phone(phone)
    if staff.role is Role.ORG_MANAGER:
        return await _listed_worker(ctx, staff.orgs, phone, people)
    known = [person for person in people if may(staff, "place.manage", person.area)]
    if known or people:  # someone elsewhere has this phone: not theirs to print or rename
        if not known:
            await ctx.say("cards.not_found")
        return known[0] if known else None
    if len(name.split()) < _NAME_WORDS or not staff.areas:
        await ctx.say("cards.need_name")
        return None
    return await enrolled_record(services, name, phone, staff.areas[0], "")


async def _listed_worker(
    ctx: Context, orgs: list[str], phone: str, people: list[Person]
) -> Person | None:
    """An org manager prints cards only for people on their organisations' lists."""
    services = ctx.services
    listed = [w for w in await services.workers.with_phone(phone) if w.org_id in orgs]
    if not listed:
        await ctx.say("cards.not_found")
        return None
    worker = listed[0]
    linked = next((person for person in people if person.id == worker.person_id), None)
    if linked is not None:
        return linked
    if people:  # they use the bot but have not agreed to the list yet
        await ctx.say("cards.not_linked")
        return None
    org = await services.orgs.get(worker.org_id)
    return await enrolled_record(services, worker.name, phone, org.area if org else "", "")
