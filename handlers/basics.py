"""The commands every chat has: /start (with its deep-link payloads), /cancel and /help."""

from __future__ import annotations

from handlers.account import show_help
from handlers.binding import INVITE
from handlers.context import Context
from handlers.flow import ask_again, begin, finish
from handlers.menu import show_menu
from handlers.onboarding import ONBOARDING
from handlers.registry import REGISTRY
from handlers.staff import describe_role

# Cancelling one of these before registering starts the sign-up over.
SIGNUP_FLOWS = frozenset({ONBOARDING.name, INVITE.name})


@REGISTRY.command("start", "batdau")
async def start(ctx: Context) -> None:
    """/start: a deep link's payload goes to its handler; otherwise register or show the menu."""
    payload = ctx.incoming.payload
    if payload:
        found = REGISTRY.payload_for(payload)
        if found is not None:
            run, rest = found
            await run(ctx, rest)
            return
        await ctx.say("payload.invalid")
    if ctx.account:
        if not payload:
            await ctx.say("onboarding.already")
            await show_menu(ctx)
    elif staff := await ctx.staff_member():
        await describe_role(ctx, staff)  # staff work from their menu; no resident sign-up
    else:
        await begin(ctx, ONBOARDING)


@REGISTRY.command("cancel", "huy", in_groups=True)
async def cancel(ctx: Context) -> None:
    """/cancel: leave the current flow (an unfinished registration starts over next time)."""
    flow = ctx.conversation.flow
    finish(ctx)
    if not flow:
        await ctx.say("common.nothing_to_cancel")
    elif ctx.account is None and flow in SIGNUP_FLOWS:
        await ctx.say("onboarding.restart")
        ctx.conversation.data.clear()
        return
    else:
        await ctx.say("common.cancelled")
    if ctx.account and ctx.incoming.private:
        await show_menu(ctx)


@REGISTRY.command("help", "trogiup", in_groups=True)
async def help_command(ctx: Context) -> None:
    """/help: the commands this user has, then back to the current question."""
    await show_help(ctx)
    await ask_again(ctx)
