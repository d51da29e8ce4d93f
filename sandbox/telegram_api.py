"""Telegram Bot API emulator: the methods khaibao uses, with Telegram's shapes and errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.ports import Clock
from sandbox.common import (
    ApiError,
    ControlError,
    Fields,
    FileStore,
    StoredFile,
    Upload,
    bad_request,
    unix_s,
    webhook_url_ok,
)
from sandbox.emulator import CONTENT_KEYS, BotEmulator, Handler, ok, retry_seconds
from sandbox.media import (
    STICKER_SIDE,
    PhotoFacts,
    extension,
    guess_mime,
    inspect_photo,
    sticker_image,
)
from sandbox.model import ChatLog, Entry
from sandbox.telegram_html import EntityError, html_to_text
from sandbox.telegram_markup import parse_markup

BOT_FIRST_NAME = "Khai Báo (sandbox)"
BOT_USERNAME = "khaibao_sandbox_bot"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
FIRST_UPDATE_ID = 100_000_000
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
LANGUAGE_RE = re.compile(r"[a-z]{2}")
DIGITS_RE = re.compile(r"[0-9]+")
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
FILE_ID_PREFIX = {"photos": "AgAC", "documents": "BQAC", "stickers": "CAAC", "videos": "BAAC"}
VIDEO_PLACEHOLDER = b"\x00\x00\x00\x18ftypmp42sandbox video"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
# The bot uploads every file; sending by file_id or URL is not emulated.
UPLOAD_ONLY = "the sandbox takes files as uploads only (no file_id or URL)"
MIGRATED = "group chat was upgraded to a supergroup chat"
# Supergroup ids are -100 followed by the channel id; migrations number theirs from here.
SUPERGROUP_BASE = -1_000_000_000_000
FIRST_CHANNEL_ID = 1_500_000_000
DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT_POLLING,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class TgFile:
    """A file the Bot API knows: ids, download path and the stored bytes."""

    file_id: str
    unique_id: str
    path: str
    stored: StoredFile


@dataclass
class _Pending:
    update: dict[str, Any]
    returned: bool = False


def unique_file_id(data: bytes) -> str:
    """A `file_unique_id` that is the same for identical bytes."""
    digest = hashlib.sha256(data).digest()[:12]
    return "AQAD" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


class TelegramEmulator(BotEmulator):
    """The Telegram Bot API at {base}/bot{token}/{method} and {base}/file/bot{token}/{path}."""

    platform = "telegram"
    webhook_header = "X-Telegram-Bot-Api-Secret-Token"
    content_keys = frozenset(CONTENT_KEYS)

    def __init__(self, token: str, files: FileStore, poll_cap: float, clock: Clock) -> None:
        super().__init__(token, files, poll_cap, clock)
        bot_id = token.partition(":")[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self._pending: list[_Pending] = []
        self._last_update_id = FIRST_UPDATE_ID
        self._poll_generation = 0
        self._allowed_updates: list[str] = []
        self._files: dict[str, TgFile] = {}
        self._paths: dict[str, TgFile] = {}
        self._callbacks: set[str] = set()
        self._placeholders: dict[str, TgFile] = {}
        # Upgraded groups: old chat id -> the supergroup's id.
        self._migrated: dict[str, int] = {}
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "sendChatAction": self._send_chat_action,
        }
        # Telegram matches method names case-insensitively.
        self._handlers = {name.lower(): handler for name, handler in handlers.items()}

    # ---- BotEmulator hooks ----------------------------------------------------------------

    def method(self, name: str) -> Handler | None:
        """The handler of a method (case-insensitive, as Telegram)."""
        return self._handlers.get(name.lower())

    def unknown_method(self) -> ApiError:
        """Telegram answers unknown methods with 404."""
        return ApiError(404, "Not Found")

    def rate_limited(self, wait: float) -> ApiError:
        """Telegram's flood-wait error."""
        seconds = retry_seconds(wait)
        return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    def default_description(self, code: int, parameters: dict[str, Any]) -> str:
        """Telegram's usual wording for an error code."""
        if code == 429:
            return f"Too Many Requests: retry after {parameters['retry_after']}"
        return DESCRIPTIONS.get(code, f"Error {code}")

    def default_parameters(self, code: int) -> dict[str, Any]:
        """A flood wait always names its retry_after."""
        return {"retry_after": 1} if code == 429 else {}

    def accepts(self, update: dict[str, Any]) -> bool:
        """Honour `allowed_updates` from getUpdates/setWebhook."""
        kind = next((key for key in update if key != "update_id"), None)
        return not self._allowed_updates or kind in self._allowed_updates

    def check_raw(self, update: dict[str, Any]) -> None:
        """Telegram updates always carry an integer update_id."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ControlError("a raw Telegram update needs an integer update_id")

    def enqueue(self, update: dict[str, Any]) -> str:
        """Queue for getUpdates."""
        self._pending.append(_Pending(update))
        self.updates.notify()
        return "queued"

    def dump(self) -> dict[str, Any]:
        """The chats plus the update and supergroup numbering, which a restart continues."""
        return {
            **super().dump(),
            "last_update_id": self._last_update_id,
            "migrated": self._migrated,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue from a `dump`: the bot drops updates whose ids it has seen."""
        super().restore(saved)
        self._last_update_id = saved["last_update_id"]
        self._migrated = saved["migrated"]

    # ---- updates and webhook --------------------------------------------------------------

    async def _get_me(self, p: Fields) -> dict[str, Any]:
        return ok(
            {
                **self.bot_user,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    async def _get_updates(self, p: Fields) -> dict[str, Any]:
        if self.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = min(max(p.integer("timeout") or 0, 0), self.poll_cap)
        self._remember_allowed(p)
        self._confirm(p.integer("offset"))
        self._poll_generation += 1
        generation = self._poll_generation
        self.updates.notify()  # an older getUpdates still waiting must give up
        await self.updates.wait(
            lambda: (
                bool(self._pending)
                or generation != self._poll_generation
                or self.webhook is not None
            ),
            timeout,
        )
        if generation != self._poll_generation:
            raise ApiError(409, CONFLICT_POLLING)
        if self.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        batch = self._pending[:limit]
        for item in batch:
            item.returned = True
        return ok([item.update for item in batch])

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
            return
        # Only updates already returned are confirmed, so a raw re-delivery of an old
        # update_id (a deliberate duplicate) still reaches the bot once.
        self._pending = [
            item
            for item in self._pending
            if not (item.returned and item.update["update_id"] < offset)
        ]

    def _remember_allowed(self, p: Fields) -> None:
        allowed = p.json("allowed_updates")
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed updates")
        self._allowed_updates = allowed

    async def _set_webhook(self, p: Fields) -> dict[str, Any]:
        url = p.text("url") or ""
        if not url:
            return await self._delete_webhook(p)
        if not webhook_url_ok(url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.text("secret_token") or None
        if secret is not None and not SECRET_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self._remember_allowed(p)
        if p.flag("drop_pending_updates"):
            self._pending.clear()
        self.set_webhook(url, secret)
        return ok(True, "Webhook was set")

    async def _delete_webhook(self, p: Fields) -> dict[str, Any]:
        if p.flag("drop_pending_updates"):
            self._pending.clear()
        existed, self.webhook = self.webhook is not None, None
        return ok(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    # ---- sending --------------------------------------------------------------------------

    def _chat_log(self, chat_id: int) -> ChatLog:
        chat = self.transcript.chat(str(chat_id))
        if not chat.info:
            chat.info = (
                {"id": chat_id, "type": "private"}
                if chat_id > 0
                else {"id": chat_id, "type": "group", "title": f"Nhóm {chat_id}"}
            )
        return chat

    def _target(self, p: Fields) -> ChatLog:
        """The chat a send*/edit* call addresses; an upgraded group answers with its new id."""
        raw = p.require("chat_id", "chat_id is empty")
        try:
            chat = self._chat_log(int(raw))
        except ValueError:
            raise bad_request("chat not found") from None
        if chat.id in self._migrated:
            parameters = {"migrate_to_chat_id": self._migrated[chat.id]}
            raise ApiError(400, f"Bad Request: {MIGRATED}", parameters)
        return chat

    def _formatted(self, p: Fields, name: str, limit: int, required: bool) -> str:
        raw = p.text(name) or ""
        mode = (p.text("parse_mode") or "").lower()
        if mode == "html":
            try:
                raw = html_to_text(raw)
            except EntityError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        elif mode not in {"", "markdown", "markdownv2"}:
            raise bad_request("unsupported parse_mode")
        if required and not raw.strip():
            raise bad_request("message text is empty")
        if len(raw) > limit:
            raise bad_request("message is too long" if required else "message caption is too long")
        return raw

    def _bot_message(self, chat: ChatLog, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": chat.next_number(),
            "from": self.bot_user,
            "chat": chat.info,
            "date": unix_s(self.clock),
            **content,
        }

    def _log(self, chat: ChatLog, message: dict[str, Any], entry: Entry) -> dict[str, Any]:
        entry.message_id = str(message["message_id"])
        entry.date = message["date"]
        entry.native = message
        self.transcript.add(chat, entry)
        return message

    def _send(
        self, p: Fields, chat: ChatLog, content: dict[str, Any], entry: Entry
    ) -> dict[str, Any]:
        markup = parse_markup(p.json("reply_markup"))
        caption = self._formatted(p, "caption", CAPTION_LIMIT, required=False)
        if caption:
            content["caption"] = entry.caption = caption
        message = self._bot_message(chat, content)
        if markup.echo is not None:
            message["reply_markup"] = markup.echo
        for name, value in markup.entry_fields().items():
            setattr(entry, name, value)
        return ok(self._log(chat, message, entry))

    async def _send_message(self, p: Fields) -> dict[str, Any]:
        chat = self._target(p)
        text = self._formatted(p, "text", TEXT_LIMIT, required=True)
        return self._send(p, chat, {"text": text}, Entry("bot", "text", text=text))

    async def _send_photo(self, p: Fields) -> dict[str, Any]:
        chat = self._target(p)
        sizes = await self._photo_param(p)
        entry = Entry("bot", "photo", file_url=self._file_url(sizes[-1]["file_id"]))
        return self._send(p, chat, {"photo": sizes}, entry)

    async def _send_document(self, p: Fields) -> dict[str, Any]:
        chat = self._target(p)
        document = self._document_param(p)
        url = self._file_url(document["file_id"])
        entry = Entry("bot", "document", file_url=url, filename=document["file_name"])
        return self._send(p, chat, {"document": document}, entry)

    async def _send_chat_action(self, p: Fields) -> dict[str, Any]:
        self._target(p)
        if p.text("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return ok(True)

    @staticmethod
    def _upload(p: Fields, name: str) -> Upload:
        upload = p.upload(name)
        if upload is not None:
            return upload
        if p.present(name):
            raise bad_request(UPLOAD_ONLY)
        raise bad_request(f"there is no {name} in the request")

    async def _photo_param(self, p: Fields) -> list[dict[str, Any]]:
        data = self._upload(p, "photo").data
        facts = await asyncio.to_thread(inspect_photo, data)
        if not facts.valid:
            raise bad_request("IMAGE_PROCESS_FAILED")
        if facts.width + facts.height > 10_000:
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return self._store_photo(data, facts)

    def _document_param(self, p: Fields) -> dict[str, Any]:
        upload = self._upload(p, "document")
        if not upload.data:
            raise bad_request("file must be non-empty")
        mime = guess_mime(upload.filename, upload.content_type)
        return self._store_document(upload.data, upload.filename, mime)

    def _register(self, data: bytes, mime: str, folder: str) -> TgFile:
        stored = self.files.put(data, mime)
        path = f"{folder}/file_{len(self._files) + 1}{extension(mime)}"
        file_id = FILE_ID_PREFIX[folder] + secrets.token_urlsafe(30)
        tg_file = TgFile(file_id, unique_file_id(data), path, stored)
        self._files[file_id] = self._paths[path] = tg_file
        return tg_file

    def _placeholder(self, folder: str, data: bytes, mime: str) -> TgFile:
        if folder not in self._placeholders:
            self._placeholders[folder] = self._register(data, mime, folder)
        return self._placeholders[folder]

    def _file_url(self, file_id: str) -> str:
        return self.files.url(self._files[file_id].stored)

    def _store_photo(self, data: bytes, facts: PhotoFacts) -> list[dict[str, Any]]:
        full = self._register(data, facts.mime, "photos")
        largest = self._photo_size(full, facts.width, facts.height)
        smallest = largest
        if facts.thumb is not None:
            thumb = self._register(facts.thumb, "image/jpeg", "photos")
            smallest = self._photo_size(thumb, facts.thumb_width, facts.thumb_height)
        return [smallest, largest]

    @staticmethod
    def _photo_size(tg_file: TgFile, width: int, height: int) -> dict[str, Any]:
        return {
            "file_id": tg_file.file_id,
            "file_unique_id": tg_file.unique_id,
            "file_size": len(tg_file.stored.data),
            "width": width,
            "height": height,
        }

    def _store_document(self, data: bytes, name: str, mime: str) -> dict[str, Any]:
        tg_file = self._register(data, mime, "documents")
        return {
            "file_id": tg_file.file_id,
            "file_unique_id": tg_file.unique_id,
            "file_name": name,
            "mime_type": mime,
            "file_size": len(data),
        }

    # ---- editing and callbacks ------------------------------------------------------------

    def _editable(self, p: Fields) -> tuple[ChatLog, Entry]:
        if p.present("inline_message_id"):
            raise bad_request("inline messages are not supported by the sandbox")
        chat = self._target(p)
        message_id = p.require("message_id", "message identifier is not specified")
        entry = chat.entries.get(message_id)
        if entry is None:
            raise bad_request("message to edit not found")
        if entry.sender != "bot":
            raise bad_request("message can't be edited")
        if entry.kind != "text":
            raise bad_request("there is no text in the message to edit")
        return chat, entry

    async def _edit_message_text(self, p: Fields) -> dict[str, Any]:
        chat, entry = self._editable(p)
        text = self._formatted(p, "text", TEXT_LIMIT, required=True)
        markup = parse_markup(p.json("reply_markup"), inline_only=True)
        before = {key: value for key, value in entry.native.items() if key != "edit_date"}
        message = {key: value for key, value in before.items() if key != "reply_markup"}
        message["text"] = text
        if markup.echo is not None:
            message["reply_markup"] = markup.echo
        if message == before:
            raise bad_request(NOT_MODIFIED)
        message["edit_date"] = unix_s(self.clock)
        entry.native, entry.text, entry.buttons, entry.edited = message, text, markup.buttons, True
        self.transcript.bump(chat, entry)
        return ok(message)

    async def _answer_callback_query(self, p: Fields) -> dict[str, Any]:
        query_id = p.text("callback_query_id")
        if query_id not in self._callbacks:
            raise bad_request(QUERY_TOO_OLD)
        self._callbacks.discard(query_id)
        return ok(True)

    # ---- files ----------------------------------------------------------------------------

    async def _get_file(self, p: Fields) -> dict[str, Any]:
        tg_file = self._files.get(p.require("file_id", "file_id is empty"))
        if tg_file is None:
            raise bad_request("invalid file_id")
        if len(tg_file.stored.data) > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return ok(
            {
                "file_id": tg_file.file_id,
                "file_unique_id": tg_file.unique_id,
                "file_size": len(tg_file.stored.data),
                "file_path": tg_file.path,
            }
        )

    async def download(self, request: web.Request) -> web.Response:
        """Serve GET {base}/file/bot{token}/{file_path}."""
        tg_file = self._paths.get(request.match_info["path"])
        if not secrets.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            tg_file = None
        if tg_file is None:
            return self.error_response(ApiError(404, "Not Found"))
        return web.Response(body=tg_file.stored.data, content_type=tg_file.stored.content_type)

    # ---- commands -------------------------------------------------------------------------

    async def _set_my_commands(self, p: Fields) -> dict[str, Any]:
        """Validate the menu as Telegram does; tests read what was set from the call log."""
        commands = p.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            self._check_command(command)
        language = p.text("language_code") or ""
        if language and not LANGUAGE_RE.fullmatch(language):
            raise bad_request("LANG_CODE_INVALID")
        return ok(True)

    @staticmethod
    def _check_command(command: Any) -> None:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not COMMAND_RE.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")

    # ---- simulated users (control API) ----------------------------------------------------

    async def build_update(self, kind: str, body: Fields, name: str) -> dict[str, Any]:
        """A Telegram update for a simulated user's action."""
        user = self._user(body, name)
        if kind == "callback_data":
            return self._update({"callback_query": self._callback_query(body, user)})
        chat = self._user_chat(body, user)
        content, entry = await self._user_content(kind, body, user)
        return self._update({"message": self._user_message(chat, user, content, entry)})

    async def migrate(self, chat_id: str, body: Fields, name: str) -> dict[str, Any]:
        """Upgrade a group to a supergroup as a simulated user does; return the delivery."""
        user = self._user(body, name)
        group = self._group_to_upgrade(chat_id)
        new_id = SUPERGROUP_BASE - FIRST_CHANNEL_ID - len(self._migrated)
        info = {"id": new_id, "type": "supergroup", "title": group.info["title"]}
        self.transcript.chat(str(new_id), info)
        content = {"migrate_to_chat_id": new_id}
        entry = Entry("user", "migrated", text=f"upgraded to supergroup {new_id}")
        message = self._user_message(group, user, content, entry)
        self._migrated[group.id] = new_id
        return {**await self.deliver(self._update({"message": message})), **content}

    def _group_to_upgrade(self, chat_id: str) -> ChatLog:
        try:
            number = int(chat_id)
        except ValueError:
            raise ControlError("a Telegram chat id is an integer") from None
        chat = self._chat_log(number) if number < 0 else None
        if chat is None or chat.info["type"] != "group":
            raise ControlError(f"chat {chat_id} is not a group, so it cannot be upgraded")
        self._refuse_migrated(chat.id)
        return chat

    def _refuse_migrated(self, chat_id: str) -> None:
        if chat_id in self._migrated:
            new_id = self._migrated[chat_id]
            raise ControlError(f"group {chat_id} was upgraded to supergroup {new_id}")

    def _update(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._last_update_id += 1
        return {"update_id": self._last_update_id, **payload}

    @staticmethod
    def _user(body: Fields, name: str) -> dict[str, Any]:
        user_id = body.require("user_id")
        if not DIGITS_RE.fullmatch(user_id):
            raise ControlError("a Telegram user_id is digits only")
        return {
            "id": int(user_id),
            "is_bot": False,
            "first_name": name,
            "language_code": body.text("language_code") or "vi",
        }

    def _user_chat(self, body: Fields, user: dict[str, Any]) -> ChatLog:
        chat_type = (body.text("chat_type") or "private").lower()
        if chat_type == "private":
            info = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            return self.transcript.chat(str(user["id"]), info)
        if chat_type not in {"group", "supergroup"}:
            raise ControlError("chat_type must be private, group or supergroup")
        chat_id = body.integer("chat_id")
        if chat_id is None or chat_id >= 0:
            raise ControlError("group chats need a negative chat_id")
        chat = self._chat_log(chat_id)
        self._refuse_migrated(chat.id)
        chat.info = {**chat.info, "type": chat_type}
        return chat

    def _user_message(
        self, chat: ChatLog, user: dict[str, Any], content: dict[str, Any], entry: Entry
    ) -> dict[str, Any]:
        message = {
            "message_id": chat.next_number(),
            "from": user,
            "chat": chat.info,
            "date": unix_s(self.clock),
            **content,
        }
        return self._log(chat, message, entry)

    async def _user_content(
        self, kind: str, body: Fields, user: dict[str, Any]
    ) -> tuple[dict[str, Any], Entry]:
        if kind == "text":
            return self._in_text(body)
        if kind == "photo":
            return await self._in_photo(body)
        if kind == "document":
            return self._in_document(body)
        if kind == "contact":
            return self._in_contact(body, user)
        if kind == "location":
            return self._in_location(body)
        if kind == "sticker":
            return self._in_sticker()
        return self._in_video()

    @staticmethod
    def _in_text(body: Fields) -> tuple[dict[str, Any], Entry]:
        text = body.require("text")
        if len(text) > TEXT_LIMIT:
            raise ControlError(f"text is longer than {TEXT_LIMIT} characters")
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(command)}
            ]
        return content, Entry("user", "text", text=text)

    def _caption(self, body: Fields, content: dict[str, Any], entry: Entry) -> None:
        caption = body.text("caption") or ""
        if len(caption) > CAPTION_LIMIT:
            raise ControlError(f"caption is longer than {CAPTION_LIMIT} characters")
        if caption:
            content["caption"] = entry.caption = caption

    async def _in_photo(self, body: Fields) -> tuple[dict[str, Any], Entry]:
        data = body.base64("photo")
        sizes = self._store_photo(data, await asyncio.to_thread(inspect_photo, data))
        content: dict[str, Any] = {"photo": sizes}
        entry = Entry("user", "photo", file_url=self._file_url(sizes[-1]["file_id"]))
        self._caption(body, content, entry)
        return content, entry

    def _in_document(self, body: Fields) -> tuple[dict[str, Any], Entry]:
        filename = body.text("filename") or "file.bin"
        mime = body.text("mime_type") or guess_mime(filename)
        document = self._store_document(body.base64("document"), filename, mime)
        content: dict[str, Any] = {"document": document}
        url = self._file_url(document["file_id"])
        entry = Entry("user", "document", file_url=url, filename=filename)
        self._caption(body, content, entry)
        return content, entry

    @staticmethod
    def _in_contact(body: Fields, user: dict[str, Any]) -> tuple[dict[str, Any], Entry]:
        spec = Fields(body.mapping("contact") or {}, ControlError)
        phone = spec.require("phone_number")
        contact = {
            "phone_number": phone,
            "first_name": spec.text("first_name") or user["first_name"],
            "user_id": spec.integer("user_id") or user["id"],
        }
        return {"contact": contact}, Entry("user", "contact", text=phone)

    @staticmethod
    def _in_location(body: Fields) -> tuple[dict[str, Any], Entry]:
        spec = Fields(body.mapping("location") or {}, ControlError)
        latitude, longitude = spec.number("latitude"), spec.number("longitude")
        if latitude is None or longitude is None:
            raise ControlError("location needs latitude and longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ControlError("latitude/longitude out of range")
        location = {"latitude": latitude, "longitude": longitude}
        accuracy = spec.number("horizontal_accuracy")
        if accuracy is not None:
            if not 0 <= accuracy <= 1500:
                raise ControlError("horizontal_accuracy must be 0-1500 metres")
            location["horizontal_accuracy"] = accuracy
        return {"location": location}, Entry("user", "location", text=f"{latitude}, {longitude}")

    def _in_sticker(self) -> tuple[dict[str, Any], Entry]:
        tg_file = self._placeholder("stickers", sticker_image(), "image/webp")
        sticker = {
            "file_id": tg_file.file_id,
            "file_unique_id": tg_file.unique_id,
            "type": "regular",
            "width": STICKER_SIDE,
            "height": STICKER_SIDE,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "file_size": len(tg_file.stored.data),
        }
        entry = Entry("user", "sticker", text="👍", file_url=self.files.url(tg_file.stored))
        return {"sticker": sticker}, entry

    def _in_video(self) -> tuple[dict[str, Any], Entry]:
        tg_file = self._placeholder("videos", VIDEO_PLACEHOLDER, "video/mp4")
        video = {
            "file_id": tg_file.file_id,
            "file_unique_id": tg_file.unique_id,
            "width": 640,
            "height": 360,
            "duration": 3,
            "mime_type": "video/mp4",
            "file_size": len(VIDEO_PLACEHOLDER),
        }
        return {"video": video}, Entry("user", "video", text="🎬")

    def _callback_query(self, body: Fields, user: dict[str, Any]) -> dict[str, Any]:
        chat_id = body.text("chat_id") or str(user["id"])
        self._refuse_migrated(chat_id)
        message_id = body.require("message_id")
        entry = self.transcript.find(chat_id, message_id)
        if entry is None or entry.sender != "bot":
            raise ControlError(f"no bot message {message_id} in chat {chat_id}")
        query_id = str(secrets.randbits(63))
        self._callbacks.add(query_id)
        digest = hashlib.sha256(f"{self.token}:{chat_id}".encode()).digest()
        return {
            "id": query_id,
            "from": user,
            "message": entry.native,
            "chat_instance": str(int.from_bytes(digest[:8], "big", signed=True)),
            "data": body.require("callback_data"),
        }
