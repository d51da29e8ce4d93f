"""Entry point of conversation logic: one update in, replies out, the same on every platform."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from core.channel import Incoming, Kind, Outbound
from core.tokens import normalize_code
from handlers import account, casework, declaration, enrolment, invites, staff
from handlers.context import Context, Services, resolve_choice
from handlers.flow import ask_again, begin, finish, flow_named, resume
from handlers.menu import show_menu
from handlers.onboarding import ONBOARDING
from handlers.payloads import PayloadRouter

log = logging.getLogger(__name__)

Command = Callable[[Context], Awaitable[None]]
CANCEL_WORDS = frozenset({"hủy", "huỷ", "huy", "cancel", "thoát"})
DECLARE_WORDS = frozenset({"khai báo", "khai bao", "khaibao"})
IGNORED_KINDS = (Kind.STICKER, Kind.UNSUPPORTED)


class Router:
    """Turns each `Incoming` into replies: commands, button actions, codes, flows.

    The inbox worker calls it once per stored update, one update per user at a time.
    """

    def __init__(self, services: Services, payloads: PayloadRouter | None = None) -> None:
        self.services = services
        self.payloads = payloads or PayloadRouter()
        self.payloads.register(f"{invites.INVITE_KIND}_", invites.open_token)
        # Buttons on proactive messages (reminders, pages) belong to no conversation.
        self.actions: dict[str, Command] = {
            "ack:": casework.acknowledge,
            "act:declare": declaration.start_declaration,
        }
        self.commands: dict[str, Command] = {
            "start": self._start,
            "cancel": self._cancel,
            "huy": self._cancel,
            "help": self._help,
            "me": self._me,
            "language": self._language,
            "delete": account.start_delete,
            "xoa": account.start_delete,
            "staff": staff.staff_info,
            "audit": staff.audit_log,
            "khaibao": declaration.start_declaration,
            "declare": declaration.start_declaration,
            "unwell": declaration.start_unwell,
            "enroll": enrolment.start_enrolment,
            "cases": casework.list_cases,
            "case": casework.show_case,
            "missed": casework.list_missed,
            "review": casework.start_review,
            "ack": casework.acknowledge,
            "extend": casework.extend_case,
            "end": casework.start_end,
            "test": casework.record_test,
        }

    async def handle(self, incoming: Incoming, out: Outbound) -> None:
        """Answer one update; a failure apologises instead of crashing."""
        ctx = await self._context(incoming, out)
        try:
            await self._route(ctx)
            await self._save(ctx)
        except Exception:
            log.exception("update failed", extra={"update": incoming.dedupe_key})
            await self._apologise(ctx)

    async def _context(self, incoming: Incoming, out: Outbound) -> Context:
        services = self.services
        account_ = await services.accounts.get(incoming.platform, incoming.user_id)
        if account_ and account_.blocked:  # writing to us again means they unblocked the bot
            account_.blocked = False
            await services.accounts.save(account_)
        conversation = await services.conversations.get(incoming.platform, incoming.user_id)
        return Context(incoming, out, services, account_, conversation)

    async def _route(self, ctx: Context) -> None:
        action = self._action(ctx)
        if action is not None:
            await action(ctx)
            return
        choice = resolve_choice(ctx.incoming, ctx.conversation.options)
        if choice is None:
            await ctx.say("common.stale_button")
            return
        ctx.choice = choice
        flow = flow_named(ctx.conversation.flow)
        words = ctx.incoming.text.strip().casefold()
        code = normalize_code(ctx.incoming.text) if ctx.incoming.kind is Kind.TEXT else None
        if ctx.incoming.kind is Kind.COMMAND:
            await self._command(ctx)
        elif words in CANCEL_WORDS:
            await self._cancel(ctx)
        elif code:
            await invites.open_code(ctx, code)
        elif words in DECLARE_WORDS and ctx.account:
            await declaration.start_declaration(ctx)
        elif ctx.account is None and flow is None:
            await begin(ctx, ONBOARDING)
        elif ctx.incoming.kind in IGNORED_KINDS:
            await ctx.say("common.not_understood")
            await (ask_again(ctx) if flow else show_menu(ctx))
        elif flow is not None:
            await resume(ctx, flow)
        elif ctx.choice.startswith("menu:"):
            await self.commands[ctx.choice.removeprefix("menu:")](ctx)
        else:
            await show_menu(ctx)

    def _action(self, ctx: Context) -> Command | None:
        if ctx.incoming.kind is not Kind.BUTTON:
            return None
        data = ctx.incoming.button_data
        ctx.choice = data
        return next((run for prefix, run in self.actions.items() if data.startswith(prefix)), None)

    async def _command(self, ctx: Context) -> None:
        command = self.commands.get(ctx.incoming.command)
        if command is None:
            await ctx.say("common.unknown_command", command=ctx.incoming.command)
            await ask_again(ctx)
            return
        await command(ctx)

    async def _save(self, ctx: Context) -> None:
        conversation = ctx.conversation
        # Outside a flow only the buttons of the latest reply count.
        if not conversation.flow and not ctx.offered:
            conversation.options = []
        if conversation.flow or conversation.options:
            await self.services.conversations.save(conversation)
        else:  # nothing in progress: keep nothing (a declined consent leaves no trace)
            await self.services.conversations.clear(conversation.platform, conversation.user_id)

    async def _apologise(self, ctx: Context) -> None:
        try:
            await ctx.say("common.error")
        except Exception:
            log.exception("apology failed", extra={"update": ctx.incoming.dedupe_key})

    async def _start(self, ctx: Context) -> None:
        payload = ctx.incoming.payload
        if payload:
            handled = await self.payloads.dispatch(ctx, payload)
            if handled or ctx.account:
                return
        if ctx.account:
            await ctx.say("onboarding.already")
            await show_menu(ctx)
        else:
            await begin(ctx, ONBOARDING)

    async def _cancel(self, ctx: Context) -> None:
        flow = ctx.conversation.flow
        finish(ctx)
        if not flow:
            await ctx.say("common.nothing_to_cancel")
        elif ctx.account is None:
            await ctx.say("onboarding.restart")
            ctx.conversation.data.clear()
            return
        else:
            await ctx.say("common.cancelled")
        if ctx.account:
            await show_menu(ctx)

    async def _help(self, ctx: Context) -> None:
        await account.show_help(ctx)
        await ask_again(ctx)

    async def _me(self, ctx: Context) -> None:
        await account.show_me(ctx)
        await ask_again(ctx)

    async def _language(self, ctx: Context) -> None:
        await account.change_language(ctx)
