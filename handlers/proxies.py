"""Declaring for someone without a phone: a household member invited as the case's proxy.

Staff invite the proxy by phone (`/proxy <case> <phone>`); whoever opens the invitation must
prove that phone, as a resident proves theirs (handlers/binding.py). The same person may be
the proxy of several household members.
"""

from __future__ import annotations

from core.models import Case
from core.phone import display_phone, normalize_phone
from handlers.context import Context
from handlers.invitations import hand_out, issue_invite
from handlers.menu import show_menu
from handlers.registry import REGISTRY
from handlers.staff import authorize_case


@REGISTRY.command("proxy", "khaibaoho", staff=True)
async def invite_proxy(ctx: Context) -> None:
    """/proxy <case number> <phone>: invite a household member to declare for the resident."""
    number, _, typed = ctx.incoming.payload.strip().partition(" ")
    phone = normalize_phone(typed)
    if not number.isdigit() or phone is None:
        await ctx.say("proxy.usage")
        return
    case = await authorize_case(ctx, "case.update", number)
    if case is None:
        return
    person = await ctx.services.people.get(case.person_id)
    invite, link = await issue_invite(ctx, case, proxy_phone=phone)
    intro = ctx.text(
        "proxy.sent",
        number=case.number,
        name=person.name if person else ctx.text("case.person_erased"),
        phone=display_phone(phone),
        expires=ctx.local_time(invite.expires_at),
    )
    await hand_out(ctx, intro, invite, link, case.number)


async def bind_proxy(ctx: Context, case: Case) -> None:
    """The proxy has proven their phone: from now on they declare for the case too."""
    assert ctx.account is not None  # onboarding runs first for new users
    services = ctx.services
    await services.cases.add_proxy(case.id, ctx.account.person_id)
    await services.audit.append(
        ctx.actor, "case.proxy", True, target=case.id, person=case.person_id
    )
    person = await services.people.get(case.person_id)
    name = person.name if person else ctx.text("case.person_erased")
    await ctx.say("proxy.bound", name=name, number=case.number)
    await show_menu(ctx)
