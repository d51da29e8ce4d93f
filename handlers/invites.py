"""Opening an invitation: a Telegram deep link (`/start inv_...`) or a code typed on Zalo.

The opener then proves the enrolled phone number (handlers/binding.py) before anything of
the case is shown or claimed.
"""

from __future__ import annotations

from core.models import Invite
from core.tokens import CODE_PREFIX, InvalidToken, verify
from handlers.binding import INVITE
from handlers.context import Context
from handlers.flow import begin
from handlers.invitations import INVITE_KIND
from handlers.onboarding import ONBOARDING
from handlers.registry import REGISTRY


@REGISTRY.payload(f"{INVITE_KIND}_")
async def open_token(ctx: Context, token: str) -> None:
    """A deep-link payload: check its signature and expiry before touching the database."""
    try:
        claim = verify(ctx.services.keys, INVITE_KIND, token, ctx.services.clock.now())
    except InvalidToken as refused:
        await ctx.say("invite.expired" if refused.reason == "expired" else "invite.invalid")
        return
    await _open(ctx, await ctx.services.invites.find(invite_id=claim.id))


@REGISTRY.code(CODE_PREFIX)
async def open_code(ctx: Context, code: str) -> bool:
    """A short code sent as text; False when no invitation has it."""
    invite = await ctx.services.invites.find(code=code)
    if invite is None:
        return False
    await _open(ctx, invite)
    return True


async def _open(ctx: Context, invite: Invite | None) -> None:
    if invite is None:
        await ctx.say("invite.invalid")
    elif invite.used_by and invite.used_by != ctx.actor:
        await ctx.say("invite.used")
    elif invite.expires_at <= ctx.services.clock.now():
        await ctx.say("invite.expired")
    elif ctx.account is None:
        await ctx.say("invite.opening")
        await begin(ctx, ONBOARDING, data={"invite": invite.id})
    else:
        await begin(ctx, INVITE, data={"invite": invite.id})
