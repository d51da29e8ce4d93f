"""Conversation state per (platform, user), expiring after a day of silence."""

from __future__ import annotations

from datetime import timedelta

from core.channel import Platform
from core.models import Conversation
from core.ports import Clock
from storage.documents import Database, without_id

IDLE_EXPIRY = timedelta(hours=24)


class ConversationsRepo:
    """The `conversations` collection; a TTL index drops abandoned flows."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._conversations = db["conversations"]
        self._clock = clock

    async def get(self, platform: Platform, user_id: str) -> Conversation:
        """The current state (an empty conversation when there is none or it expired)."""
        document = without_id(
            await self._conversations.find_one({"platform": platform.value, "user_id": user_id})
        )
        conversation = Conversation.model_validate(document) if document else None
        # The TTL monitor runs about once a minute, so check expiry here too.
        if conversation and conversation.expires_at and conversation.expires_at > self._clock.now():
            return conversation
        return Conversation(platform=platform, user_id=user_id)

    async def save(self, conversation: Conversation) -> None:
        """Store the state, refreshing its expiry (only the user's own updates write it, one
        at a time, so the whole state is set)."""
        conversation.expires_at = self._clock.now() + IDLE_EXPIRY
        await self._conversations.update_one(
            {"platform": conversation.platform.value, "user_id": conversation.user_id},
            {"$set": conversation.model_dump(mode="python")},
            upsert=True,
        )

    async def clear(self, platform: Platform, user_id: str) -> None:
        """Drop the state."""
        await self._conversations.delete_one({"platform": platform.value, "user_id": user_id})
