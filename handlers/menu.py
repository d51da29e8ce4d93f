"""The main menu a registered user sees when no flow is in progress."""

from __future__ import annotations

from core.channel import Button
from handlers.context import Context


async def show_menu(ctx: Context) -> None:
    """Offer the main menu."""
    items = ("me", "language", "help")
    buttons = [[Button(ctx.text(f"menu.{item}"), f"menu:{item}")] for item in items]
    await ctx.say("menu.title", buttons=buttons)
