"""Staff group chats bound to areas."""

from __future__ import annotations

from core.models import ChatRef, StaffChat
from storage.documents import Database, without_id


class StaffChatRepo:
    """The `staff_chats` collection, one document per chat (unique on platform and chat id)."""

    def __init__(self, db: Database) -> None:
        self._chats = db["staff_chats"]

    async def bind(self, chat: StaffChat) -> None:
        """Bind a chat to its areas, replacing an earlier binding of the same chat."""
        query = {"chat.platform": chat.chat.platform.value, "chat.chat_id": chat.chat.chat_id}
        # Only the binding's fields: a concurrent `move` of the chat id is not undone.
        binding = chat.model_dump(mode="python", exclude={"chat"})
        await self._chats.update_one(query, {"$set": binding}, upsert=True)

    async def unbind(self, chat: ChatRef) -> bool:
        """Forget a chat's binding; False when it had none."""
        query = {"chat.platform": chat.platform.value, "chat.chat_id": chat.chat_id}
        return (await self._chats.delete_one(query)).deleted_count > 0

    async def get(self, chat: ChatRef) -> StaffChat | None:
        """The binding of a chat, if any."""
        query = {"chat.platform": chat.platform.value, "chat.chat_id": chat.chat_id}
        document = without_id(await self._chats.find_one(query))
        return StaffChat.model_validate(document) if document else None

    async def for_area(self, area: str) -> list[StaffChat]:
        """The chats bound to `area`, and those bound to the whole district."""
        cursor = self._chats.find({"$or": [{"areas": area}, {"areas": []}]})
        return [StaffChat.model_validate(without_id(document)) async for document in cursor]

    async def all(self) -> list[StaffChat]:
        """Every bound chat (a district has tens)."""
        cursor = self._chats.find({}).sort([("chat.platform", 1), ("chat.chat_id", 1)])
        return [StaffChat.model_validate(without_id(document)) async for document in cursor]

    async def move(self, old: ChatRef, new: ChatRef) -> None:
        """A Telegram group became a supergroup: its binding follows the new chat id."""
        query = {"chat.platform": old.platform.value, "chat.chat_id": old.chat_id}
        await self._chats.update_one(query, {"$set": {"chat": new.model_dump(mode="python")}})
