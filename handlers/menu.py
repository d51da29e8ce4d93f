"""The main menu a registered user sees when no flow is in progress."""

from __future__ import annotations

from core.channel import Button
from handlers.context import Context
from handlers.registry import REGISTRY


async def show_menu(ctx: Context, lead: str = "") -> None:
    """Offer the main menu, after `lead` in the same message; people in quarantine see the
    declaration items first."""
    items = ["me", "language", "help"]
    buttons = [[Button(ctx.text(f"menu.{item}"), f"menu:{item}")] for item in items]
    if await ctx.active_case():
        buttons = [
            [Button(ctx.text("quarantine.menu_declare"), "menu:declare")],
            [Button(ctx.text("quarantine.menu_unwell"), "menu:unwell")],
            *buttons,
        ]
    title = ctx.text("menu.title")
    await ctx.send(f"{lead}\n\n{title}" if lead else title, buttons)


@REGISTRY.action("menu:")
async def run_menu_item(ctx: Context) -> None:
    """A main-menu button does what it says whenever it is pressed, even inside a flow."""
    await REGISTRY.commands[ctx.choice.removeprefix("menu:")].run(ctx)
