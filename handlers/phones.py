"""Asking for a phone number: the share-contact button on Telegram, typed on Zalo."""

from __future__ import annotations

from core.channel import Ask, Button, Platform
from core.phone import normalize_phone
from handlers.context import Context


async def ask_for_phone(ctx: Context, question: str) -> None:
    """Ask `question`: its "_telegram" text with the share button, or its "_zalo" one."""
    if ctx.incoming.platform is Platform.TELEGRAM:
        share = [[Button(ctx.text("onboarding.phone_button"), "")]]
        await ctx.say(f"{question}_telegram", buttons=share, ask=Ask.CONTACT)
    else:
        await ctx.say(f"{question}_zalo")


async def phone_answer(ctx: Context) -> str | None:
    """The number shared or typed, in +84 form; None (the user told why) when it is none."""
    typed = ctx.incoming.contact_phone or ctx.incoming.text
    phone = normalize_phone(typed)
    if phone is None:
        await ctx.say("onboarding.phone_invalid", text=typed.strip()[:30])
    return phone
