"""Binding a resident's chat account to a quarantine case, from an invitation.

Whoever opens an invitation must first prove the phone number staff enrolled (typed and
compared in +84 form, or shared as their own Telegram contact); only then is the invitation
claimed, atomically, and the enrolled details shown. A forwarded link or a guessed code
therefore reaches no one's data, and a second opener finds the invitation used.
"""

from __future__ import annotations

from core.channel import Kind
from core.models import Case, Invite
from handlers.context import Context
from handlers.flow import END, Flow, Step
from handlers.limits import phone_failed, phone_tries_left
from handlers.menu import show_menu
from handlers.notices import welcome_text
from handlers.phones import ask_for_phone, phone_answer
from handlers.proxies import bind_proxy


async def ask_phone(ctx: Context) -> None:
    """Ask for the enrolled phone number (Telegram may share it with the contact button)."""
    await ask_for_phone(ctx, "invite.prove_phone")


async def take_phone(ctx: Context) -> str | None:
    """Compare with the enrolled number; on a match claim the invitation and go on."""
    phone = await phone_answer(ctx, offer_share=True)
    if phone is None:
        return None
    invite_id = str(ctx.conversation.data["invite"])
    if not await phone_tries_left(ctx, invite_id):
        await ctx.say("invite.too_many_tries")
        return END
    services = ctx.services
    invite = await services.invites.find(invite_id=invite_id)
    case = await services.cases.get(invite.case_id) if invite else None
    enrolled = await services.people.get(case.person_id) if case else None
    expected = invite.proxy_phone if invite and invite.proxy_phone else enrolled and enrolled.phone
    if invite is None or enrolled is None or phone != expected:
        go_on = await phone_failed(ctx, invite_id)
        await ctx.say("invite.phone_mismatch" if go_on else "invite.too_many_tries")
        return None if go_on else END
    claimed = await services.invites.claim(invite.id, ctx.actor, services.clock.now())
    if claimed is None:
        await ctx.say("invite.used")
        return END
    verified = ctx.incoming.kind is Kind.CONTACT  # the adapter passes only the sender's own
    if ctx.account is None:
        data = ctx.conversation.data
        if claimed.proxy_phone:  # a proxy registers as themselves, with the phone just proven
            data.update(phone=phone, verified=verified, phone_proven=True)
            return "name"
        data.update(name=enrolled.name, phone=phone, area=enrolled.area, verified=verified)
        return "confirm"
    await bind_invite(ctx, claimed)
    return END


async def bind_invite(ctx: Context, invite: Invite) -> None:
    """Put the case of a claimed invitation under the user's own record, then welcome them."""
    services, account = ctx.services, ctx.account
    assert account is not None  # onboarding runs first for new users
    case = await services.cases.get(invite.case_id)
    if case is None:
        await ctx.say("invite.invalid")
        return
    if invite.proxy_phone:
        await bind_proxy(ctx, case)
        return
    if case.person_id != account.person_id:
        await _adopt(ctx, case)
    person = await services.people.get(account.person_id)
    assert person is not None
    await services.audit.append(ctx.actor, "case.bind", True, target=case.id, person=case.person_id)
    await ctx.send(welcome_text(ctx.lang, services, case, person))
    await show_menu(ctx)


async def _adopt(ctx: Context, case: Case) -> None:
    """The resident registered on their own before: the case moves to their record.

    The record staff typed at enrolment keeps nothing the resident's own lacks (the
    address), and is removed when no chat account uses it.
    """
    services, account = ctx.services, ctx.account
    assert account is not None
    typed = await services.people.get(case.person_id)
    if not await services.cases.move_to_person(case.id, case.person_id, account.person_id):
        return  # moved already: this update is running again
    if typed is None:
        return
    if typed.address:
        await services.people.fill_address(account.person_id, typed.address)
    if not await services.accounts.of_person(typed.id):
        await services.people.delete(typed.id)


PROVE_PHONE = Step(ask_phone, take_phone)
INVITE = Flow(name="invite", first="phone", steps={"phone": PROVE_PHONE})
