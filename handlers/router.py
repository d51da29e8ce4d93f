"""Entry point of conversation logic: one update in, replies out, the same on every platform."""

from __future__ import annotations

import asyncio
import logging

from core.channel import Incoming, Kind, Outbound
from core.tokens import normalize_code

# Importing a handler module registers its commands, actions, codes and payloads.
from handlers import (  # noqa: F401
    account,
    alert_approval,
    alerts,
    basics,
    cards,
    case_changes,
    case_views,
    daily_report,
    declaration,
    enrolment,
    exports,
    imports,
    invites,
    pages,
    places,
    report_desk,
    review,
    scans,
    staff,
    staff_admin,
    staff_invites,
    trace,
    worker_records,
)
from handlers.basics import cancel
from handlers.context import Context, Services, resolve_choice
from handlers.declaration import start_declaration, unprompted
from handlers.flow import ask_again, begin, flow_named, resume
from handlers.groups import moved_group
from handlers.imports import file_received
from handlers.limits import code_failed, codes_blocked
from handlers.menu import run_menu_item, show_menu
from handlers.onboarding import ONBOARDING
from handlers.registry import REGISTRY
from handlers.scans import scan_photo

log = logging.getLogger(__name__)

CANCEL_WORDS = frozenset({"hủy", "huỷ", "huy", "cancel", "thoát"})
DECLARE_WORDS = frozenset({"khai báo", "khai bao", "khaibao"})
IGNORED_KINDS = (Kind.STICKER, Kind.UNSUPPORTED)


class Router:
    """Turns each `Incoming` into replies: commands, button actions, codes, flows.

    The inbox worker calls it once per stored update, one update per user at a time. What a
    command, button or code does is registered by the handler modules (handlers/registry.py).
    Resident flows run only in private chats; in a group, staff commands and staff flows
    answer staff members and everything else is left unanswered.
    """

    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, incoming: Incoming, out: Outbound) -> None:
        """Answer one update; a failure apologises instead of crashing."""
        ctx = await self._context(incoming, out)
        try:
            if await self._allowed_here(ctx):
                await self._route(ctx)
                await self._save(ctx)
        except Exception:
            log.exception("update failed", extra={"update": incoming.dedupe_key})
            await self._apologise(ctx)

    async def _context(self, incoming: Incoming, out: Outbound) -> Context:
        services, who = self.services, (incoming.platform, incoming.user_id)
        account_, conversation = await asyncio.gather(
            services.accounts.get(*who), services.conversations.get(*who)
        )
        if account_ and account_.blocked:  # writing to us again means they unblocked the bot
            account_.blocked = False
            await services.accounts.unblock(*who)
            await services.subscribers.unblock(*who)
        ctx = Context(incoming, out, services, account_, conversation)
        if account_ is None:  # staff who are not residents keep their language on their record
            member = await ctx.staff_member()
            ctx.staff_language = member.language if member else ""
        return ctx

    async def _allowed_here(self, ctx: Context) -> bool:
        """In a group chat only staff, and only with what is meant for groups."""
        incoming = ctx.incoming
        if incoming.private:
            return True
        if incoming.kind is Kind.MIGRATED:
            await moved_group(ctx)
            return False
        meant_for_groups = (
            (incoming.kind is Kind.COMMAND and _command_for_groups(incoming.command))
            or (incoming.kind is Kind.BUTTON and _action_for_groups(incoming.button_data))
            or _staff_flow(ctx)
        )
        if not meant_for_groups:
            return False
        return await ctx.staff_member() is not None

    async def _route(self, ctx: Context) -> None:
        if ctx.incoming.kind is Kind.BUTTON:
            action = REGISTRY.action_for(ctx.incoming.button_data)
            if action is not None:
                ctx.choice = ctx.incoming.button_data
                await action.run(ctx)
                return
        choice = resolve_choice(ctx.incoming, ctx.conversation.options)
        if choice is None:  # an answer to a question that has moved on: ask the current one
            await ctx.say("common.stale_button")
            await (ask_again(ctx) if ctx.conversation.flow else show_menu(ctx))
            return
        ctx.choice = choice
        flow = flow_named(ctx.conversation.flow)
        words = ctx.incoming.text.strip().casefold()
        code = normalize_code(ctx.incoming.text) if ctx.incoming.kind is Kind.TEXT else None
        if ctx.incoming.kind is Kind.COMMAND:
            await self._command(ctx)
        elif words in CANCEL_WORDS:
            await cancel(ctx)
        elif code:
            await self._code(ctx, code)
        elif words in DECLARE_WORDS and ctx.account:
            await start_declaration(ctx)
        elif ctx.choice.startswith("menu:"):  # a typed number from a menu (staff have one too)
            await run_menu_item(ctx)
        elif flow is None and ctx.incoming.kind is Kind.DOCUMENT:  # in a flow, its step decides
            await file_received(ctx)
        elif flow is None and await self._poster_photo(ctx):
            pass
        elif ctx.account is None and flow is None:
            await begin(ctx, ONBOARDING)
        elif ctx.incoming.kind in IGNORED_KINDS:
            await ctx.say("common.not_understood")
            await (ask_again(ctx) if flow else show_menu(ctx))
        elif flow is not None:
            await resume(ctx, flow)
        else:
            await unprompted(ctx)

    @staticmethod
    async def _poster_photo(ctx: Context) -> bool:
        """A photo of a checkpoint's poster (how Zalo users scan), answered as a scan.

        People in home quarantine do not pass checkpoints: their photos are selfies.
        """
        if ctx.incoming.kind is not Kind.PHOTO or await ctx.cases_to_declare():
            return False
        return await scan_photo(ctx)

    async def _command(self, ctx: Context) -> None:
        command = REGISTRY.command_named(ctx.incoming.command)
        if command is None:
            await ctx.say("common.unknown_command", command=ctx.incoming.command)
            await ask_again(ctx)
            return
        await command.run(ctx)

    async def _code(self, ctx: Context, code: str) -> None:
        """A typed code (Zalo has no deep links); guessing is limited per account and overall."""
        if await codes_blocked(ctx):
            await ctx.say("common.too_many_codes")
            return
        for run in REGISTRY.codes_for(code):
            if await run(ctx, code):
                return
        await code_failed(ctx, code)
        await ctx.say("payload.invalid")

    async def _save(self, ctx: Context) -> None:
        conversation = ctx.conversation
        # Outside a flow only the buttons of the latest reply count.
        if not conversation.flow and not ctx.offered:
            conversation.options = []
        if conversation.flow or conversation.options:
            await self.services.conversations.save(conversation)
        elif conversation.expires_at is not None:  # a stored state: nothing in progress now
            # Keep nothing (a declined consent leaves no trace).
            await self.services.conversations.clear(conversation.platform, conversation.user_id)

    async def _apologise(self, ctx: Context) -> None:
        try:
            await ctx.say("common.error")
        except Exception:
            log.exception("apology failed", extra={"update": ctx.incoming.dedupe_key})


def _command_for_groups(name: str) -> bool:
    command = REGISTRY.command_named(name)
    return command is not None and command.for_groups


def _action_for_groups(data: str) -> bool:
    action = REGISTRY.action_for(data)
    return action is not None and action.in_groups


def _staff_flow(ctx: Context) -> bool:
    flow = flow_named(ctx.conversation.flow)
    return flow is not None and flow.staff
