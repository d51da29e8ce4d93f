"""Deep-link payloads (`/start <payload>`): later features register their prefixes here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.context import Context

PayloadHandler = Callable[[Context, str], Awaitable[None]]


class PayloadRouter:
    """Sends a payload to the handler registered for its prefix (e.g. "inv_", "cp_")."""

    def __init__(self) -> None:
        self._handlers: dict[str, PayloadHandler] = {}

    def register(self, prefix: str, handler: PayloadHandler) -> None:
        """Route payloads starting with `prefix` to `handler`."""
        self._handlers[prefix] = handler

    async def dispatch(self, ctx: Context, payload: str) -> bool:
        """Run the matching handler; False (and a polite refusal) when none matches."""
        for prefix, handler in self._handlers.items():
            if payload.startswith(prefix):
                await handler(ctx, payload.removeprefix(prefix))
                return True
        await ctx.say("payload.invalid")
        return False
