"""Issuing invitations: a stored single-use code, a signed deep link, and how staff pass it on."""

from __future__ import annotations

from core.models import Case, Invite
from core.qr import qr_png
from core.tokens import new_code, sign
from handlers.context import Context

INVITE_KIND = "inv"


async def issue_invite(
    ctx: Context, case: Case, proxy_phone: str = ""
) -> tuple[Invite, str | None]:
    """A new single-use invitation to a case, stored with a free code; and its deep link."""
    services = ctx.services
    expires_at = services.clock.now() + services.policy.invite_ttl
    draft = Invite(
        id=ctx.new_id("invite", 12),
        code=new_code(),
        case_id=case.id,
        expires_at=expires_at,
        proxy_phone=proxy_phone,
    )
    while (invite := await services.invites.add(draft)) is None:  # that code was taken
        draft = draft.model_copy(update={"code": new_code()})
    token = sign(services.keys, INVITE_KIND, invite.id, invite.expires_at)
    return invite, await services.start_link(f"{INVITE_KIND}_{token}")


async def hand_out(ctx: Context, intro: str, invite: Invite, link: str | None, number: int) -> None:
    """The invitation as staff pass it on: a Telegram link and its QR code, a code for Zalo."""
    lines = [
        intro,
        *([ctx.text("invite.via_telegram", link=link)] if link else []),
        ctx.text("invite.via_zalo", code=invite.code),
    ]
    await ctx.send("\n".join(lines))
    if link:
        await ctx.reply_photo(qr_png(link), ctx.text("invite.qr_caption", number=number))
