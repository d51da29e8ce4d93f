"""Staff group chats: a Telegram group that becomes a supergroup changes its chat id."""

from __future__ import annotations

import logging

from core.models import ChatRef
from handlers.context import Context

log = logging.getLogger(__name__)


async def moved_group(ctx: Context) -> None:
    """Every case paging the old group pages the new supergroup, and what waits goes there."""
    platform = ctx.incoming.platform
    old = ChatRef(platform=platform, chat_id=ctx.incoming.chat_id)
    new = ChatRef(platform=platform, chat_id=ctx.incoming.migrated_to)
    cases = await ctx.services.cases.move_staff_chat(old, new)
    await ctx.services.staff_chats.move(old, new)
    messages = await ctx.services.outbox.retarget(platform, old.chat_id, new.chat_id)
    extra = {"old": old.chat_id, "new": new.chat_id, "cases": cases, "messages": messages}
    log.info("staff group moved", extra=extra)
