"""Telegram adapter (aiogram 3): Bot API updates to `Incoming`, `Outbound` calls to the Bot API."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
    User,
)
from aiogram.utils.deep_linking import create_start_link
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.channels.common import text_incoming
from core.channel import (
    DOCUMENT_MAX_BYTES,
    Accept,
    Action,
    Ask,
    Blocked,
    ChannelError,
    ChatMigrated,
    Incoming,
    Keyboard,
    Kind,
    Photo,
    Platform,
    Received,
    RetryLater,
    Sent,
    TooLarge,
    choices,
    split_text,
)
from core.channel import Document as File

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8
DEFAULT_LANGUAGE = "vi"  # its command list is also the one for users with any other language
ASK_LABELS = {
    Ask.CONTACT: "📱 Gửi số điện thoại / Share phone",
    Ask.LOCATION: "📍 Gửi vị trí / Share location",
}

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


class TelegramChannel:
    """The Telegram side of the service: updates in by polling or webhook, Bot API calls out.

    Receiving only stores: each update goes to `accept` (the inbox) and polling asks for the
    next updates, which acknowledges these, only after `accept` returned. The inbox worker
    later turns the stored update into an `Incoming` with `open`.
    """

    platform = Platform.TELEGRAM

    def __init__(self, token: str, api_base: str | None = None) -> None:
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(api_base))
            if api_base
            else AiohttpSession()
        )
        self._bot = Bot(token, session=session)
        # Conversation state lives in MongoDB, never in aiogram's FSM.
        self._dispatcher = Dispatcher(disable_fsm=True)
        self._dispatcher.message.register(self._receive)
        self._dispatcher.callback_query.register(self._receive)
        self._reply_keyboards: set[str] = set()
        self._polling = False

    async def me(self) -> str:
        """The bot's username (for deep links and health checks)."""
        with _translated_errors():
            user = await self._bot.me()
        if not user.username:
            raise ChannelError("the Telegram bot has no username")
        return user.username

    async def start_link(self, payload: str) -> str:
        """The `t.me` link that opens the bot with `/start <payload>`."""
        with _translated_errors():
            return await create_start_link(self._bot, payload)

    async def start_polling(self, accept: Accept) -> None:
        """Drop any webhook, then store updates by long polling until `stop_receiving()`."""
        with _translated_errors():
            await self._bot.delete_webhook()
        self._polling = True
        try:
            # One update at a time: the next getUpdates acknowledges only stored updates.
            await self._dispatcher.start_polling(
                self._bot,
                handle_signals=False,
                close_bot_session=False,
                handle_as_tasks=False,
                accept=accept,
            )
        finally:
            self._polling = False

    async def set_webhook(self, url: str, secret: str) -> None:
        """Ask Telegram to push updates to `url` with `secret` in the secret-token header."""
        with _translated_errors():
            await self._bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=self._dispatcher.resolve_used_update_types(),
            )

    def add_webhook_route(
        self, app: web.Application, path: str, secret: str, accept: Accept
    ) -> None:
        """Serve Telegram's webhook at `path`: 401 without the secret, 200 once stored."""
        if not secret:
            raise ValueError("a Telegram webhook needs a secret token")
        # Not in the background: the 200 must mean "stored" (a failure answers 500 and
        # Telegram delivers the update again).
        SimpleRequestHandler(
            self._dispatcher,
            self._bot,
            handle_in_background=False,
            secret_token=secret,
            accept=accept,
        ).register(app, path=path)

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Publish the command menu per language; Vietnamese is also the default list."""
        for language, entries in commands.items():
            menu = [BotCommand(command=command, description=text) for command, text in entries]
            with _translated_errors():
                await self._bot.set_my_commands(menu, language_code=language)
                if language == DEFAULT_LANGUAGE:
                    await self._bot.set_my_commands(menu)

    async def stop_receiving(self) -> None:
        """Stop polling (a stored update is processed by the inbox worker, not here)."""
        if self._polling:
            await self._dispatcher.stop_polling()

    async def close(self) -> None:
        """Close the HTTP session (after the last send)."""
        await self._bot.session.close()

    async def open(self, raw: Mapping[str, Any]) -> Incoming | None:
        """A stored update as an `Incoming` (None for kinds we do not handle).

        A button press is answered here, when work on it starts, so its spinner stops.
        """
        update = Update.model_validate(raw, context={"bot": self._bot})
        key = f"tg:{update.update_id}"
        if update.message is not None and update.message.from_user is not None:
            return self._from_message(update.message, update.message.from_user, key)
        if update.callback_query is not None:
            await self._answer(update.callback_query.id, key)
            return _from_callback(update.callback_query, key)
        return None

    async def send_text(
        self, chat_id: str, text: str, buttons: Keyboard = (), ask: Ask | None = None
    ) -> Sent:
        """Send a text in ≤4096-char chunks; buttons or the share request go on the last one."""
        markup = self._markup(chat_id, buttons, ask)
        *head, last = split_text(text, TEXT_LIMIT)
        for chunk in head:
            await self._send_message(chat_id, chunk, None)
        sent = await self._send_message(chat_id, last, markup)
        if isinstance(markup, ReplyKeyboardMarkup):
            self._reply_keyboards.add(chat_id)
        elif isinstance(markup, ReplyKeyboardRemove):
            self._reply_keyboards.discard(chat_id)
        return sent

    async def send_photo(self, chat_id: str, image: bytes, caption: str = "") -> Sent:
        """Upload an image; a caption over 1024 chars continues in following texts."""
        head, *rest = split_text(caption, CAPTION_LIMIT)
        with _translated_errors():
            message = await self._bot.send_photo(
                chat_id, BufferedInputFile(image, "photo.jpg"), caption=head or None
            )
        for chunk in rest:
            await self.send_text(chat_id, chunk)
        return Sent(str(message.message_id))

    async def send_document(
        self, chat_id: str, data: bytes, filename: str, caption: str = ""
    ) -> Sent:
        """Upload a file; a caption over 1024 chars continues in following texts."""
        head, *rest = split_text(caption, CAPTION_LIMIT)
        with _translated_errors():
            message = await self._bot.send_document(
                chat_id, BufferedInputFile(data, filename), caption=head or None
            )
        for chunk in rest:
            await self.send_text(chat_id, chunk)
        return Sent(str(message.message_id))

    async def edit_text(
        self, chat_id: str, message_id: str, text: str, buttons: Keyboard = ()
    ) -> None:
        """Replace a sent message's text and inline buttons; an unchanged edit is no error."""
        markup = _inline_keyboard(buttons) if buttons else None
        with _translated_errors():
            try:
                await self._bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=int(message_id), reply_markup=markup
                )
            except TelegramBadRequest as exc:
                if "message is not modified" not in exc.message:
                    raise

    async def send_action(self, chat_id: str, action: Action) -> None:
        """Show "typing…" or "sending photo…"; it only decorates, so failures are ignored."""
        try:
            await self._bot.send_chat_action(chat_id, action.value)
        except (TelegramAPIError, TimeoutError, aiohttp.ClientError) as exc:
            logger.debug("chat action failed: %s", exc)

    def _markup(self, chat_id: str, buttons: Keyboard, ask: Ask | None) -> Markup | None:
        if ask is not None:
            return _ask_keyboard(ask, buttons)
        if buttons:
            return _inline_keyboard(buttons)
        if chat_id in self._reply_keyboards:
            # A share-contact keyboard stays on screen until we explicitly remove it.
            return ReplyKeyboardRemove()
        return None

    async def _send_message(self, chat_id: str, text: str, markup: Markup | None) -> Sent:
        with _translated_errors():
            message = await self._bot.send_message(chat_id, text, reply_markup=markup)
        return Sent(str(message.message_id))

    async def _receive(self, event: TelegramObject, event_update: Update, accept: Accept) -> None:
        """Store a message or a button press; anything without a sender has no one to answer."""
        sender = getattr(event, "from_user", None)
        if sender is None:
            return
        raw = event_update.model_dump(mode="json", exclude_none=True, by_alias=True)
        await accept(
            Received(Platform.TELEGRAM, f"tg:{event_update.update_id}", str(sender.id), raw)
        )

    async def _answer(self, query_id: str, key: str) -> None:
        try:
            await self._bot.answer_callback_query(query_id)
        except TelegramAPIError as exc:
            # Only the button's spinner depends on it (and it expires); the press still counts.
            logger.warning("could not answer callback of update %s: %s", key, exc)

    def _from_message(self, message: Message, sender: User, key: str) -> Incoming:
        base = Incoming(
            platform=Platform.TELEGRAM,
            chat_id=str(message.chat.id),
            user_id=str(sender.id),
            kind=Kind.UNSUPPORTED,
            dedupe_key=key,
            date=message.date.astimezone(UTC),
            private=message.chat.type == ChatType.PRIVATE,
            message_id=str(message.message_id),
            display_name=sender.full_name,
            language_hint=sender.language_code,
        )
        return self._classify(message, base)

    def _classify(self, message: Message, base: Incoming) -> Incoming:
        document = message.document
        if message.migrate_to_chat_id is not None:
            return replace(base, kind=Kind.MIGRATED, migrated_to=str(message.migrate_to_chat_id))
        if message.text is not None:
            return text_incoming(base, message.text)
        if message.photo:
            largest = max(message.photo, key=lambda size: size.width * size.height)
            return self._with_photo(base, message, largest, "image/jpeg")
        if document and document.mime_type and document.mime_type.startswith("image/"):
            # Users often send selfies "as file" to avoid compression.
            return self._with_photo(base, message, document, document.mime_type)
        if document:
            return self._with_document(base, message, document)
        if message.contact:
            # Anyone's contact card can be forwarded; only the sender's own proves their number.
            if str(message.contact.user_id) != base.user_id:
                return base
            return replace(base, kind=Kind.CONTACT, contact_phone=message.contact.phone_number)
        if message.location:
            place = message.location
            where = (place.latitude, place.longitude)
            accuracy = place.horizontal_accuracy
            return replace(base, kind=Kind.LOCATION, location=where, accuracy=accuracy)
        if message.sticker:
            return replace(base, kind=Kind.STICKER)
        return base

    def _with_photo(
        self, base: Incoming, message: Message, file: PhotoSize | Document, mime: str
    ) -> Incoming:
        photo = Photo(
            download=partial(self._download, file.file_id),
            size=file.file_size,
            mime=mime,
            unique_id=file.file_unique_id,
        )
        return replace(base, kind=Kind.PHOTO, text=message.caption or "", photo=photo)

    def _with_document(self, base: Incoming, message: Message, document: Document) -> Incoming:
        file = File(
            download=partial(self._download_document, document.file_id, document.file_size),
            filename=document.file_name or "",
            size=document.file_size,
            mime=document.mime_type,
        )
        return replace(base, kind=Kind.DOCUMENT, text=message.caption or "", document=file)

    async def _download_document(self, file_id: str, size: int | None) -> bytes:
        """A sent file's bytes; one over `DOCUMENT_MAX_BYTES` is refused, unfetched if we can."""
        if size is not None and size > DOCUMENT_MAX_BYTES:
            raise TooLarge(f"file of {size} bytes, over {DOCUMENT_MAX_BYTES}")
        data = await self._download(file_id)
        if len(data) > DOCUMENT_MAX_BYTES:
            raise TooLarge(f"file of {len(data)} bytes, over {DOCUMENT_MAX_BYTES}")
        return data

    async def _download(self, file_id: str) -> bytes:
        buffer = io.BytesIO()
        with _translated_errors():
            await self._bot.download(file_id, destination=buffer)
        return buffer.getvalue()


def _from_callback(query: CallbackQuery, key: str) -> Incoming:
    origin = query.message
    return Incoming(
        platform=Platform.TELEGRAM,
        chat_id=str(origin.chat.id if origin else query.from_user.id),
        user_id=str(query.from_user.id),
        kind=Kind.BUTTON if query.data is not None else Kind.UNSUPPORTED,
        dedupe_key=key,
        date=datetime.now(UTC),
        private=origin is None or origin.chat.type == ChatType.PRIVATE,
        message_id=str(origin.message_id) if origin else "",
        display_name=query.from_user.full_name,
        language_hint=query.from_user.language_code,
        button_data=query.data or "",
    )


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn aiogram/aiohttp failures into the neutral `ChannelError` family."""
    try:
        yield
    except TelegramRetryAfter as exc:
        raise RetryLater(float(exc.retry_after), exc.message) from exc
    except TelegramMigrateToChat as exc:
        raise ChatMigrated(str(exc.migrate_to_chat_id), exc.message) from exc
    except TelegramForbiddenError as exc:
        raise Blocked(exc.message) from exc
    except TelegramAPIError as exc:
        if "chat not found" in exc.message.lower():
            raise Blocked(exc.message) from exc
        raise ChannelError(str(exc)) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        # File downloads stream through aiohttp without aiogram's error wrapping.
        raise ChannelError(f"Telegram transfer failed: {exc!r}") from exc


def _inline_keyboard(buttons: Keyboard) -> InlineKeyboardMarkup:
    rows = [[_inline_button(button.label, button.data) for button in row] for row in buttons]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _inline_button(label: str, data: str) -> InlineKeyboardButton:
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
    return InlineKeyboardButton(text=label, callback_data=data)


def _ask_keyboard(ask: Ask, buttons: Keyboard) -> ReplyKeyboardMarkup:
    """A one-time keyboard with the share button, labelled by the first given button if any;
    further buttons become keys that send their label as text (a «skip»)."""
    keys = choices(buttons)
    label = keys[0].label if keys else ASK_LABELS[ask]
    if ask is Ask.CONTACT:
        share = KeyboardButton(text=label, request_contact=True)
    else:
        share = KeyboardButton(text=label, request_location=True)
    rows = [[share], *([KeyboardButton(text=button.label)] for button in keys[1:])]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
