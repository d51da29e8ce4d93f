"""The neutral message model every platform adapter translates to and from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Platform(StrEnum):
    """A chat platform the service runs on."""

    TELEGRAM = "telegram"
    ZALO = "zalo"


class Kind(StrEnum):
    """What a user sent, as far as conversation logic cares."""

    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    PHOTO = "photo"
    CONTACT = "contact"
    LOCATION = "location"
    DOCUMENT = "document"  # a file (a spreadsheet to import); images are photos
    STICKER = "sticker"
    MIGRATED = "migrated"  # a Telegram group became a supergroup with a new chat id
    UNSUPPORTED = "unsupported"


class Action(StrEnum):
    """What the bot shows it is busy doing ("typing…") while it works on an answer."""

    TYPING = "typing"
    UPLOAD_PHOTO = "upload_photo"


class Ask(StrEnum):
    """A special reply keyboard: ask the user to share something."""

    CONTACT = "contact"
    LOCATION = "location"


@dataclass(frozen=True)
class Button:
    """One choice offered to the user: the label shown and the data we get back."""

    label: str
    data: str


Keyboard = Sequence[Sequence[Button]]


def choices(buttons: Keyboard) -> list[Button]:
    """The buttons in answer order (row by row): what "1", "2"... mean on Zalo."""
    return [button for row in buttons for button in row]


@dataclass(frozen=True)
class Photo:
    """An image the user sent; `download` fetches its bytes (call it at once: URLs expire)."""

    download: Callable[[], Awaitable[bytes]]
    size: int | None = None
    mime: str | None = None
    unique_id: str | None = None


DOCUMENT_MAX_BYTES = 5_000_000  # the largest file a user may send us (spreadsheets)


@dataclass(frozen=True)
class Document:
    """A file the user sent; `download` fetches its bytes (call it at once: links expire).

    `download` raises `TooLarge` above `DOCUMENT_MAX_BYTES` and `ChannelError` when the file
    cannot be fetched. `filename` is the sender's name for it: untrusted, for display and type.
    """

    download: Callable[[], Awaitable[bytes]]
    filename: str
    size: int | None = None
    mime: str | None = None


@dataclass(frozen=True)
class Received:
    """An update as it arrived, before any work on it: what the inbox stores.

    `key` is the platform's own id of the update (a redelivery has the same key) and
    `user_id` the sender, whose updates are processed in arrival order.
    """

    platform: Platform
    key: str
    user_id: str
    raw: Mapping[str, Any]


Accept = Callable[[Received], Awaitable[None]]


@dataclass(frozen=True)
class Incoming:
    """One inbound update from any platform, already validated by its adapter.

    `inbox_id` names the stored update: unique forever and the same when the update is
    processed again after a crash, so records created from it can take ids derived from it.
    """

    platform: Platform
    chat_id: str
    user_id: str
    kind: Kind
    dedupe_key: str
    date: datetime
    inbox_id: str = ""
    private: bool = True
    message_id: str = ""
    display_name: str = ""
    language_hint: str | None = None
    text: str = ""
    command: str = ""
    payload: str = ""
    button_data: str = ""
    photo: Photo | None = None
    document: Document | None = None
    contact_phone: str = ""
    location: tuple[float, float] | None = None  # latitude, longitude
    accuracy: float | None = None  # metres, when the device reported it
    migrated_to: str = ""


@dataclass(frozen=True)
class Sent:
    """What an adapter returns for a message it delivered."""

    message_id: str


class Outbound(Protocol):
    """The send side of one platform; adapters implement it."""

    platform: Platform

    async def send_text(
        self, chat_id: str, text: str, buttons: Keyboard = (), ask: Ask | None = None
    ) -> Sent:
        """Send a text, with optional choice buttons or a share-contact/location request."""
        ...

    async def send_photo(self, chat_id: str, image: bytes, caption: str = "") -> Sent:
        """Send a JPEG/PNG image with an optional caption."""
        ...

    async def send_document(
        self, chat_id: str, data: bytes, filename: str, caption: str = ""
    ) -> Sent:
        """Send a file (reports, exports)."""
        ...

    async def edit_text(
        self, chat_id: str, message_id: str, text: str, buttons: Keyboard = ()
    ) -> None:
        """Replace the text (and buttons) of a message we sent earlier."""
        ...

    async def send_action(self, chat_id: str, action: Action) -> None:
        """Show "typing…" or "sending a photo…" for a few seconds; failures are ignored."""
        ...


class ChannelError(Exception):
    """A platform refused or failed a send; adapters raise it or a subclass."""


class RetryLater(ChannelError):
    """The platform asked us to slow down (HTTP 429).

    `retry_after` is the wait the platform named, or None when it named none (Zalo's quota).
    """

    def __init__(self, retry_after: float | None, description: str = "") -> None:
        super().__init__(description or f"retry after {retry_after}s")
        self.retry_after = retry_after


class ChatMigrated(ChannelError):
    """A Telegram group became a supergroup: its messages now go to `new_chat_id`."""

    def __init__(self, new_chat_id: str, description: str = "") -> None:
        super().__init__(description or f"the chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class TooLarge(ChannelError):
    """A file the user sent is over the size we accept (found while downloading it)."""


class Blocked(ChannelError):
    """The user blocked the bot or the chat no longer exists: stop sending to it."""


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into chunks of at most `limit` characters, at line breaks when possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def parse_command(text: str) -> tuple[str, str] | None:
    """Split "/start@bot payload" into ("start", "payload"); None when the text is no command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, payload = text[1:].partition(" ")
    command = head.split("@", 1)[0].lower()
    if not command or not command.replace("_", "").isalnum():
        return None
    return command, payload.strip()


class MediaStore(Protocol):
    """Short-lived storage for images we must serve by URL (Zalo only sends photos by URL)."""

    async def put(self, data: bytes, mime: str) -> str:
        """Store bytes and return an unguessable token."""
        ...

    async def get(self, token: str) -> tuple[bytes, str] | None:
        """Bytes and MIME type for a token, or None when unknown or expired."""
        ...


class UploadStore(Protocol):
    """Files sent from our upload page (Zalo bots receive no files), kept for a day."""

    async def get(self, upload_id: str) -> tuple[bytes, str, str] | None:
        """The bytes, file name and MIME type of an upload, or None when unknown or expired."""
        ...
