"""The main menu a registered user sees when no flow is in progress."""

from __future__ import annotations

from core.channel import Button
from core.models import Staff
from handlers.context import Context
from handlers.registry import REGISTRY
from handlers.rights import may

# Each staff menu item, with the right it needs: staff see only what they may do.
STAFF_ITEMS = {
    "cases": "case.list",
    "missed": "case.list",
    "enroll": "case.enroll",
    "review": "review.decide",
    "ack": "page.ack",
    "places": "place.manage",
    "alert": "alert.send",
    "staff": "staff.manage",
    "whoami": "staff.info",
    "reports": "report.handle",
    "report": "figures.read",
    "export": "export.run",
}


async def show_menu(ctx: Context, lead: str = "") -> None:
    """Offer the main menu, after `lead` in the same message; people in quarantine see the
    declaration items first, staff their own items after the resident ones."""
    items = ["me", "mydata", "aixem", "phananh", "thongbao", "language", "help"]
    buttons = [[Button(ctx.text(f"menu.{item}"), f"menu:{item}")] for item in items]
    if await ctx.cases_to_declare():
        buttons = [
            [Button(ctx.text("quarantine.menu_declare"), "menu:declare")],
            [Button(ctx.text("quarantine.menu_unwell"), "menu:unwell")],
            *buttons,
        ]
    if staff := await ctx.staff_member():
        buttons += staff_buttons(ctx, staff)
    title = ctx.text("menu.title")
    await ctx.send(f"{lead}\n\n{title}" if lead else title, buttons)


def staff_buttons(ctx: Context, staff: Staff) -> list[list[Button]]:
    """The staff commands that need no argument and this member may use, as menu buttons."""
    return [
        [Button(ctx.text(f"menu.staff_{item}"), f"menu:{item}")]
        for item, permission in STAFF_ITEMS.items()
        if may(staff, permission)
    ]


@REGISTRY.action("menu:")
async def run_menu_item(ctx: Context) -> None:
    """A main-menu button does what it says whenever it is pressed, even inside a flow."""
    item, ctx.choice = ctx.choice.removeprefix("menu:"), ""  # the command sees no answer
    await REGISTRY.commands[item].run(ctx)
