"""Zalo Bot Platform emulator (shared/reference/zalo-bot-api.md, section 4)."""

from __future__ import annotations

import secrets
from collections import deque
from typing import Any

from core.ports import Clock
from sandbox.common import (
    ApiError,
    ControlError,
    FetchError,
    Fields,
    FileStore,
    bad_request,
    fetch,
    unix_ms,
    webhook_url_ok,
)
from sandbox.emulator import COMMON_CONFIG, BotEmulator, Handler, ok
from sandbox.media import sniff_image_mime, sticker_image
from sandbox.model import ChatLog, Entry

TEXT_LIMIT = 2000
DEFAULT_POLL_TIMEOUT = 30.0
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
NAME_FIELDS = frozenset({"display_name", "name"})
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Internal server error",
    404: "Not found",
    408: "Request timeout",
    429: "Quota exceeded",
}


def new_id() -> str:
    """A 20-hex-char id, the form of Zalo message and user ids."""
    return secrets.token_hex(10)


class ZaloEmulator(BotEmulator):
    """The Zalo Bot API at {base}/bot{token}/{method}."""

    platform = "zalo"
    webhook_header = "X-Bot-Api-Secret-Token"
    content_keys = frozenset({"text", "photo", "sticker", "unsupported", "video", "raw"})
    config_keys = COMMON_CONFIG | {
        "http_errors",
        "webhook_wrapped",
        "legacy_photo_field",
        "name_field",
    }

    def __init__(self, token: str, files: FileStore, poll_cap: float, clock: Clock) -> None:
        super().__init__(token, files, poll_cap, clock)
        self.bot_id = token.partition(":")[0]
        self.http_errors = False
        self.webhook_wrapped = False
        self.legacy_photo_field = False
        self.name_field = "display_name"
        self._pending: deque[dict[str, Any]] = deque()
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
        }

    # ---- BotEmulator hooks ----------------------------------------------------------------

    def method(self, name: str) -> Handler | None:
        """The handler of a method (names are case-sensitive on Zalo)."""
        return self._handlers.get(name)

    def unknown_method(self) -> ApiError:
        """Zalo answers an invalid API name with 400."""
        return ApiError(400, "Invalid API name")

    def rate_limited(self, wait: float) -> ApiError:
        """Zalo's only throttling error."""
        return ApiError(429, "Quota exceeded")

    def default_description(self, code: int, parameters: dict[str, Any]) -> str:
        """Zalo's documented wording for an error code."""
        return DESCRIPTIONS.get(code, f"Error {code}")

    def error_status(self, error: ApiError) -> int:
        """Zalo seems to send errors with HTTP 200; `http_errors` switches to real statuses."""
        return error.code if self.http_errors else 200

    def webhook_body(self, update: dict[str, Any]) -> dict[str, Any]:
        """Bare `{event_name, message}` or, per config, wrapped in `{ok, result}`."""
        return {"ok": True, "result": update} if self.webhook_wrapped else update

    def check_raw(self, update: dict[str, Any]) -> None:
        """Any object goes: tests use raw events to probe the adapter with odd payloads."""

    def enqueue(self, update: dict[str, Any]) -> str:
        """Queue for getUpdates."""
        self._pending.append(update)
        self.updates.notify()
        return "queued"

    def configure(self, cfg: Fields) -> None:
        """Apply common settings plus Zalo's payload and error-style switches."""
        super().configure(cfg)
        for name in ("http_errors", "webhook_wrapped", "legacy_photo_field"):
            if name in cfg:
                setattr(self, name, cfg.flag(name))
        if "name_field" in cfg:
            name_field = cfg.text("name_field")
            if name_field not in NAME_FIELDS:
                raise ControlError("name_field must be display_name or name")
            self.name_field = name_field

    # ---- API methods ----------------------------------------------------------------------

    async def _get_me(self, p: Fields) -> dict[str, Any]:
        return ok(
            {
                "id": self.bot_id,
                "account_name": "bot.sandbox",
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    async def _get_updates(self, p: Fields) -> dict[str, Any]:
        if self.webhook is not None:
            raise bad_request("webhook is active, call deleteWebhook before getUpdates")
        timeout = p.number("timeout")
        timeout = DEFAULT_POLL_TIMEOUT if timeout is None else max(timeout, 0.0)
        await self.updates.wait(
            lambda: bool(self._pending) or self.webhook is not None,
            min(timeout, self.poll_cap),
        )
        if not self._pending or self.webhook is not None:
            raise ApiError(408, "Request timeout")
        return ok(self._pending.popleft())

    async def _set_webhook(self, p: Fields) -> dict[str, Any]:
        url = p.require("url", "url is required")
        if not webhook_url_ok(url):
            raise bad_request("url must be an https URL")
        secret = p.require("secret_token", "secret_token is required")
        if not 8 <= len(secret) <= 256:
            raise bad_request("secret_token must be 8-256 characters")
        hook = self.set_webhook(url, secret)
        return ok({"url": hook.url, "updated_at": hook.updated_at})

    async def _delete_webhook(self, p: Fields) -> dict[str, Any]:
        self.webhook = None
        return ok({"url": "", "updated_at": unix_ms(self.clock)})

    def _target(self, p: Fields) -> ChatLog:
        chat_id = p.require("chat_id", "chat_id is required")
        chat = self.transcript.chat(chat_id)
        if not chat.info:
            chat.info = {"id": chat_id, "chat_type": "PRIVATE"}
        return chat

    @staticmethod
    def _text(p: Fields, name: str, required: bool) -> str:
        text = p.text(name) or ""
        if (required or text) and not 1 <= len(text) <= TEXT_LIMIT:
            raise bad_request(f"{name} must be 1-{TEXT_LIMIT} characters")
        return text

    def _sent(self, chat: ChatLog, entry: Entry) -> dict[str, Any]:
        date = unix_ms(self.clock)
        entry.message_id, entry.date = new_id(), date // 1000
        self.transcript.add(chat, entry)
        return ok({"message_id": entry.message_id, "date": date})

    async def _send_message(self, p: Fields) -> dict[str, Any]:
        chat = self._target(p)
        text = self._text(p, "text", required=True)
        return self._sent(chat, Entry("bot", "text", text=text))

    async def _send_photo(self, p: Fields) -> dict[str, Any]:
        chat = self._target(p)
        url = p.require("photo", "photo is required")
        if not url.startswith(("http://", "https://")):
            raise bad_request("photo must be an http(s) URL")
        caption = self._text(p, "caption", required=False)
        entry = Entry("bot", "photo", caption=caption)
        # Zalo downloads the image itself; a URL it cannot fetch shows as a broken image.
        try:
            data, mime = await fetch(self.http, url)
        except FetchError as error:
            entry.error = str(error)
        else:
            entry.file_url = self.files.url(self.files.put(data, mime))
        return self._sent(chat, entry)

    async def _send_chat_action(self, p: Fields) -> dict[str, Any]:
        self._target(p)
        if p.text("action") not in CHAT_ACTIONS:
            raise bad_request("action must be typing or upload_photo")
        return {"ok": True}

    # ---- simulated users (control API) ----------------------------------------------------

    async def build_update(self, kind: str, body: Fields, name: str) -> dict[str, Any]:
        """A Zalo event for a simulated user's action."""
        user_id = body.require("user_id")
        chat = self._user_chat(body, user_id)
        date = unix_ms(self.clock)
        message: dict[str, Any] = {
            "message_id": new_id(),
            "date": date,
            "from": {"id": user_id, self.name_field: name, "is_bot": False},
            "chat": chat.info,
        }
        event_name, entry = self._content(kind, body, message)
        entry.message_id, entry.date = message["message_id"], date // 1000
        self.transcript.add(chat, entry)
        return {"event_name": event_name, "message": message}

    def _user_chat(self, body: Fields, user_id: str) -> ChatLog:
        chat_type = (body.text("chat_type") or "private").upper()
        if chat_type == "PRIVATE":
            return self.transcript.chat(user_id, {"id": user_id, "chat_type": "PRIVATE"})
        if chat_type != "GROUP":
            raise ControlError("chat_type must be private or group")
        chat_id = body.require("chat_id")
        return self.transcript.chat(chat_id, {"id": chat_id, "chat_type": "GROUP"})

    def _content(self, kind: str, body: Fields, message: dict[str, Any]) -> tuple[str, Entry]:
        if kind == "text":
            text = body.require("text")
            message["text"] = text
            return "message.text.received", Entry("user", "text", text=text)
        if kind == "photo":
            return "message.image.received", self._photo(body, message)
        if kind == "sticker":
            stored = self.files.put(sticker_image(), "image/webp")
            message["sticker"] = new_id()
            message["url"] = self.files.url(stored)
            return "message.sticker.received", Entry("user", "sticker", file_url=message["url"])
        return "message.unsupported.received", Entry("user", "unsupported")

    def _photo(self, body: Fields, message: dict[str, Any]) -> Entry:
        data = body.base64("photo")
        caption = body.text("caption") or ""
        url = self.files.url(self.files.put(data, sniff_image_mime(data)))
        message["message_type"] = "CHAT_PHOTO"
        message["caption"] = caption
        message["photo" if self.legacy_photo_field else "photo_url"] = url
        return Entry("user", "photo", caption=caption, file_url=url)
