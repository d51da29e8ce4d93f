"""Chats and their transcripts, shared by both emulators and read by the control API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.common import Changes

Buttons = list[list[dict[str, str]]]


@dataclass
class Entry:
    """One message in a chat as tests and the page see it."""

    sender: str
    kind: str
    message_id: str = ""
    seq: int = 0
    text: str = ""
    caption: str = ""
    buttons: Buttons = field(default_factory=list)
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)
    ask: str | None = None
    remove_keyboard: bool = False
    one_time_keyboard: bool = False
    file_url: str | None = None
    filename: str | None = None
    edited: bool = False
    error: str | None = None
    date: int = 0  # Unix seconds on the emulator's clock, set when the message is logged
    # The platform's own message object (Telegram `Message`), used by callbacks and edits.
    native: dict[str, Any] = field(default_factory=dict, repr=False)

    def view(self) -> dict[str, Any]:
        """The JSON shape of GET /control/{platform}/chats/{id}/messages."""
        return {
            "seq": self.seq,
            "message_id": self.message_id,
            "from": self.sender,
            "kind": self.kind,
            "text": self.text,
            "caption": self.caption,
            "buttons": self.buttons,
            "keyboard": self.keyboard,
            "ask": self.ask,
            "remove_keyboard": self.remove_keyboard,
            "one_time_keyboard": self.one_time_keyboard,
            "file_url": self.file_url,
            "filename": self.filename,
            "edited": self.edited,
            "error": self.error,
            "date": self.date,
        }


@dataclass
class ChatLog:
    """A chat: its platform object and its messages keyed by message id."""

    id: str
    info: dict[str, Any]
    entries: dict[str, Entry] = field(default_factory=dict)
    last_seq: int = 0
    last_number: int = 0

    def next_number(self) -> int:
        """The next sequential message id (Telegram numbers messages per chat)."""
        self.last_number += 1
        return self.last_number

    def dump(self) -> dict[str, Any]:
        """The chat as JSON, for the sandbox's saved state."""
        return {
            "id": self.id,
            "info": self.info,
            "entries": [asdict(entry) for entry in self.entries.values()],
            "last_seq": self.last_seq,
            "last_number": self.last_number,
        }

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> ChatLog:
        """A chat from its `dump`."""
        entries = {entry["message_id"]: Entry(**entry) for entry in saved["entries"]}
        return cls(saved["id"], saved["info"], entries, saved["last_seq"], saved["last_number"])


class Transcript:
    """All chats of one platform, with long-poll waiting for new entries."""

    def __init__(self) -> None:
        self.changes = Changes()
        self._chats: dict[str, ChatLog] = {}

    def chat(self, chat_id: str, info: dict[str, Any] | None = None) -> ChatLog:
        """The chat with this id, created (with `info`) when new; `info` refreshes it."""
        log = self._chats.get(chat_id)
        if log is None:
            log = self._chats[chat_id] = ChatLog(chat_id, info or {})
        elif info:
            log.info = info
        return log

    def dump(self) -> list[dict[str, Any]]:
        """Every chat as JSON, for the sandbox's saved state."""
        return [chat.dump() for chat in self._chats.values()]

    def restore(self, saved: list[dict[str, Any]]) -> None:
        """Bring back the chats of a `dump`."""
        self._chats = {chat["id"]: ChatLog.restore(chat) for chat in saved}

    def find(self, chat_id: str, message_id: str) -> Entry | None:
        """A message of a chat, if both exist."""
        log = self._chats.get(chat_id)
        return log.entries.get(message_id) if log else None

    def add(self, chat: ChatLog, entry: Entry) -> Entry:
        """Append a message to a chat."""
        chat.entries[entry.message_id] = entry
        return self.bump(chat, entry)

    def bump(self, chat: ChatLog, entry: Entry) -> Entry:
        """Give a (changed) message the next sequence number so pollers see it again."""
        chat.last_seq += 1
        entry.seq = chat.last_seq
        self.changes.notify()
        return entry

    def since(self, chat_id: str, after: int, include_user: bool) -> tuple[list[Entry], int]:
        """Messages with seq > after (bot messages only unless asked), and the chat's last seq."""
        log = self._chats.get(chat_id)
        if log is None:
            return [], after
        found = [
            entry
            for entry in log.entries.values()
            if entry.seq > after and (include_user or entry.sender == "bot")
        ]
        return sorted(found, key=lambda entry: entry.seq), max(after, log.last_seq)

    async def wait(
        self, chat_id: str, after: int, include_user: bool, timeout: float
    ) -> tuple[list[Entry], int]:
        """Like `since`, waiting up to `timeout` seconds for at least one message."""
        await self.changes.wait(lambda: bool(self.since(chat_id, after, include_user)[0]), timeout)
        return self.since(chat_id, after, include_user)
