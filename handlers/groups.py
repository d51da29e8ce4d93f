"""Staff group chats: a Telegram group that becomes a supergroup changes its chat id."""

from __future__ import annotations

import logging

from core.models import ChatRef
from handlers.context import Context

log = logging.getLogger(__name__)


async def moved_group(ctx: Context) -> None:
    """Every case paging the old group pages the new supergroup from now on."""
    platform = ctx.incoming.platform
    old = ChatRef(platform=platform, chat_id=ctx.incoming.chat_id)
    new = ChatRef(platform=platform, chat_id=ctx.incoming.migrated_to)
    moved = await ctx.services.cases.move_staff_chat(old, new)
    log.info("staff group moved", extra={"old": old.chat_id, "new": new.chat_id, "cases": moved})
