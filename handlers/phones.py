"""Asking for a phone number: the share-contact button on Telegram, typed on Zalo."""

from __future__ import annotations

from core.channel import Ask, Button, Platform
from core.phone import normalize_phone
from handlers.context import Context


async def ask_for_phone(ctx: Context, question: str) -> None:
    """Ask `question`: its "_telegram" text with the share button, or its "_zalo" one."""
    if ctx.incoming.platform is Platform.TELEGRAM:
        await _say_with_share_button(ctx, f"{question}_telegram")
    else:
        await ctx.say(f"{question}_zalo")


async def phone_answer(ctx: Context, *, offer_share: bool = False) -> str | None:
    """The number shared or typed, in +84 form; None (the user told why) when it is none.

    With `offer_share` (the user's own number), Telegram keeps the share button offered.
    """
    typed = ctx.incoming.contact_phone or ctx.incoming.text
    phone = normalize_phone(typed)
    if phone is not None:
        return phone
    shown = typed.strip()[:30]
    if offer_share and ctx.incoming.platform is Platform.TELEGRAM:
        await _say_with_share_button(ctx, "onboarding.phone_invalid_telegram", text=shown)
    else:
        await ctx.say("onboarding.phone_invalid", text=shown)
    return None


async def _say_with_share_button(ctx: Context, key: str, **values: object) -> None:
    """Say `key` with Telegram's one-tap «share my number» keyboard button."""
    share = [[Button(ctx.text("onboarding.phone_button"), "")]]
    await ctx.say(key, buttons=share, ask=Ask.CONTACT, **values)
