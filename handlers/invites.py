"""Opening an invitation: a Telegram deep link (`/start inv_...`) or a code typed on Zalo."""

from __future__ import annotations

from core.models import Invite
from core.tokens import InvalidToken, verify
from handlers.binding import bind_invite
from handlers.context import Context
from handlers.flow import begin
from handlers.onboarding import ONBOARDING

INVITE_KIND = "inv"


async def open_token(ctx: Context, token: str) -> None:
    """A deep-link payload: check its signature and expiry before touching the database."""
    try:
        claim = verify(ctx.services.keys, INVITE_KIND, token, ctx.services.clock.now())
    except InvalidToken as refused:
        await ctx.say("invite.expired" if refused.reason == "expired" else "invite.invalid")
        return
    await _accept(ctx, await ctx.services.invites.find(invite_id=claim.id))


async def open_code(ctx: Context, code: str) -> None:
    """A short code sent as text (Zalo has no deep links)."""
    invite = await ctx.services.invites.find(code=code)
    if invite and invite.expires_at <= ctx.services.clock.now():
        await ctx.say("invite.expired")
        return
    await _accept(ctx, invite)


async def _accept(ctx: Context, invite: Invite | None) -> None:
    if invite is None:
        await ctx.say("invite.invalid")
    elif invite.used_at is not None:
        await ctx.say("invite.used")
    elif ctx.account is None:
        await ctx.say("invite.opening")
        await begin(ctx, ONBOARDING, data={"invite": invite.id})
    else:
        await bind_invite(ctx, invite)
