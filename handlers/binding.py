"""Binding a resident's chat account to a quarantine case (from an invite)."""

from __future__ import annotations

from core.models import Case, Invite
from handlers.context import Context
from handlers.menu import show_menu
from handlers.notices import welcome_text


async def bind_invite(ctx: Context, invite: Invite) -> None:
    """Use the invite once and put the case under the user's own record, then welcome them."""
    services, account = ctx.services, ctx.account
    assert account is not None  # onboarding runs first for new users
    claimed = await services.invites.claim(invite.id, ctx.actor, services.clock.now())
    case = await services.cases.get(invite.case_id)
    if claimed is None or case is None:
        await ctx.say("invite.used")
        return
    if case.person_id != account.person_id:
        await _adopt(ctx, case)
    person = await services.people.get(account.person_id)
    assert person is not None
    await services.audit.append(ctx.actor, "case.bind", True, target=case.id)
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
    own = await services.people.get(account.person_id)
    if typed and own:
        own.address = own.address or typed.address
        await services.people.save(own)
        if not await services.accounts.of_person(typed.id):
            await services.people.delete(typed.id)
    case.person_id = account.person_id
    await services.cases.save(case)
