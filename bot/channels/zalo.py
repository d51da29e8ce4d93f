"""Zalo Bot Platform adapter over plain httpx: events to `Incoming`, `Outbound` calls to the API."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import mimetypes
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.channels.common import text_incoming
from core.channel import (
    DOCUMENT_MAX_BYTES,
    Accept,
    Action,
    Ask,
    ChannelError,
    Document,
    Incoming,
    Keyboard,
    Kind,
    MediaStore,
    Photo,
    Platform,
    Received,
    RetryLater,
    Sent,
    TooLarge,
    UploadStore,
    choices,
    split_text,
)

logger = logging.getLogger(__name__)

TEXT_LIMIT = 2000  # also the caption limit
MAX_REDIRECTS = 3
PRIVATE_CHAT = "PRIVATE"
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
API_TIMEOUT = httpx.Timeout(10.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0)
POLL_MARGIN = 5.0  # seconds the client waits beyond the server-side long-poll timeout
BACKOFF_MAX = 30.0

TEXT_EVENT = "message.text.received"
IMAGE_EVENT = "message.image.received"
STICKER_EVENT = "message.sticker.received"
# Zalo delivers no locations to bots: our own location page stores them as this event.
PAGE_LOCATION_EVENT = "khaibao.location.page"
# Nor files: our upload page stores the file and this event names it.
PAGE_FILE_EVENT = "khaibao.file.page"

Download = Callable[[], Awaitable[bytes]]


class _Model(BaseModel):
    # Ids are documented as strings; accept numbers too rather than dropping the update.
    model_config = ConfigDict(coerce_numbers_to_str=True)


class _Sender(_Model):
    id: str
    display_name: str | None = None
    name: str | None = None


class _Chat(_Model):
    id: str
    chat_type: str | None = None


class _Attachment(_Model):
    url: str | None = None


class _Position(_Model):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy: float | None = Field(None, ge=0)


class _Upload(_Model):
    id: str = Field(min_length=1, max_length=64)
    filename: str = Field(max_length=255)
    size: int | None = Field(None, ge=0)


class _Message(_Model):
    sender: _Sender = Field(alias="from")
    chat: _Chat
    message_id: str
    date: int  # Unix milliseconds
    text: str | None = None
    caption: str | None = None
    photo_url: str | None = None
    photo: object = None  # documented as a URL string; other shapes are ignored
    attachments: list[_Attachment] = Field(default_factory=list)
    location: _Position | None = None  # only in our location page's events
    upload: _Upload | None = None  # only in our upload page's events

    def image_url(self) -> str | None:
        """The image URL: `photo_url` in real payloads, `photo` in the docs, else `attachments`."""
        if self.photo_url:
            return self.photo_url
        if isinstance(self.photo, str) and self.photo:
            return self.photo
        return next((item.url for item in self.attachments if item.url), None)


class _Event(_Model):
    event_name: str
    message: _Message


class ZaloChannel:
    """The Zalo side of the service: events in by polling or webhook, Bot API calls out.

    Receiving only stores: each event goes to `accept` (the inbox) before the next
    `getUpdates` call or the webhook's answer. Zalo hands each event out once, with no
    acknowledgement, so storing right away is all that keeps it. The inbox worker later
    turns the stored event into an `Incoming` with `open`; only then is an image fetched.
    """

    platform = Platform.ZALO

    def __init__(
        self,
        token: str,
        api_base: str,
        media: MediaStore,
        public_base_url: str,
        poll_timeout: float = 30.0,
        max_image_bytes: int = 10_000_000,
        local_images: bool = False,
        uploads: UploadStore | None = None,
    ) -> None:
        self._api = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/bot{token}/", timeout=API_TIMEOUT
        )
        # Image URLs come from Zalo's CDN; a separate client never resolves them against the
        # API, and redirects are followed by hand (same host only).
        self._files = httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False)
        self._media = media
        self._uploads = uploads  # files sent from our upload page
        self._public_base_url = public_base_url.rstrip("/")
        self._poll_timeout = poll_timeout
        self._max_image_bytes = max_image_bytes
        # The sandbox's emulator serves images from loopback over plain HTTP.
        self._local_images = local_images
        self._poller: asyncio.Task[None] | None = None
        self._waiting_for_events = False
        self._stopping = False

    async def me(self) -> str:
        """The bot's account name."""
        result = await self._call("getMe", {})
        name = result.get("account_name") if isinstance(result, dict) else None
        if not isinstance(name, str):
            raise ChannelError(f"zalo getMe: unexpected result {result!r}")
        return name

    async def start_link(self, payload: str) -> str | None:
        """Zalo has no deep links: people type a code instead."""
        return None

    async def start_polling(self, accept: Accept) -> None:
        """Drop any webhook, then store events by long polling until `stop_receiving()`."""
        await self._call("deleteWebhook", {})
        self._stopping = False
        self._poller = asyncio.create_task(self._poll(accept))
        try:
            await self._poller
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we were cancelled ourselves, not stopped

    async def set_webhook(self, url: str, secret: str) -> None:
        """Ask Zalo to push events to `url` with `secret` in the secret-token header."""
        await self._call("setWebhook", {"url": url, "secret_token": secret})

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Zalo bots have no command menu: nothing to publish."""

    def add_webhook_route(
        self, app: web.Application, path: str, secret: str, accept: Accept
    ) -> None:
        """Serve Zalo's webhook at `path`: 403 without the secret, 200 once stored."""
        if not secret:
            raise ValueError("a Zalo webhook needs a secret token")
        expected = secret.encode()

        async def receive(request: web.Request) -> web.Response:
            offered = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(offered, expected):
                logger.warning("zalo webhook: wrong or missing secret from %s", request.remote)
                return web.json_response({"ok": False, "description": "Forbidden"}, status=403)
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"ok": False, "description": "Bad JSON"}, status=400)
            if isinstance(body, dict) and body.get("ok") is True and "result" in body:
                body = body["result"]
            try:
                for event in _events(body):
                    await self._store(event, accept)
            except Exception:
                logger.exception("zalo webhook: could not store the event")
                return web.json_response({"ok": False, "description": "Try again"}, status=503)
            return web.json_response({"ok": True})

        app.router.add_post(path, receive)

    async def stop_receiving(self) -> None:
        """Stop polling; events already handed to us are stored first."""
        self._stopping = True
        poller = self._poller
        if poller is None:
            return
        if self._waiting_for_events:
            poller.cancel()  # nothing in hand yet: a cancelled long poll returns no events
        await asyncio.gather(poller, return_exceptions=True)

    async def close(self) -> None:
        """Close the HTTP clients (after the last send)."""
        await self._api.aclose()
        await self._files.aclose()

    async def open(self, raw: Mapping[str, Any]) -> Incoming | None:
        """A stored event as an `Incoming`; an image is fetched only when the handler asks."""
        event = _Event.model_validate(raw)
        message = event.message
        base = Incoming(
            platform=Platform.ZALO,
            chat_id=message.chat.id,
            user_id=message.sender.id,
            kind=Kind.UNSUPPORTED,
            dedupe_key=_key(event),
            date=datetime.fromtimestamp(message.date / 1000, tz=UTC),
            private=message.chat.chat_type in (None, PRIVATE_CHAT),
            message_id=message.message_id,
            display_name=message.sender.display_name or message.sender.name or "",
        )
        if event.event_name == TEXT_EVENT:
            return text_incoming(base, message.text or "")
        if event.event_name == IMAGE_EVENT:
            url = message.image_url()
            download = partial(self._download, url) if url else _failing("no image URL")
            photo = Photo(download=download)
            return replace(base, kind=Kind.PHOTO, text=message.caption or "", photo=photo)
        if event.event_name == STICKER_EVENT:
            return replace(base, kind=Kind.STICKER)
        if event.event_name == PAGE_LOCATION_EVENT and message.location:
            where = (message.location.latitude, message.location.longitude)
            return replace(
                base, kind=Kind.LOCATION, location=where, accuracy=message.location.accuracy
            )
        if event.event_name == PAGE_FILE_EVENT and message.upload:
            upload = message.upload
            document = Document(
                download=partial(self._read_upload, upload.id),
                filename=upload.filename,
                size=upload.size,
                mime=mimetypes.guess_type(upload.filename)[0],
            )
            return replace(base, kind=Kind.DOCUMENT, document=document)
        return base

    async def send_text(
        self, chat_id: str, text: str, buttons: Keyboard = (), ask: Ask | None = None
    ) -> Sent:
        """Send a text in ≤2000-char chunks; buttons become a numbered list on the last one.

        `ask` is ignored: Zalo cannot request a contact or location, so texts ask users to type.
        """
        chunks = split_text(text, TEXT_LIMIT)
        if buttons:
            chunks = _with_menu(chunks, _numbered_menu(buttons))
        sent = [await self._send_message(chat_id, chunk) for chunk in chunks]
        return sent[-1]

    async def send_photo(self, chat_id: str, image: bytes, caption: str = "") -> Sent:
        """Send an image by URL (Zalo takes no uploads); a long caption continues as texts."""
        url = await self._host(image, _image_mime(image))
        head, *rest = split_text(caption, TEXT_LIMIT)
        params = {"chat_id": chat_id, "photo": url} | ({"caption": head} if head else {})
        sent = _sent("sendPhoto", await self._call("sendPhoto", params))
        for chunk in rest:
            await self._send_message(chat_id, chunk)
        return sent

    async def send_document(
        self, chat_id: str, data: bytes, filename: str, caption: str = ""
    ) -> Sent:
        """Zalo has no file messages: host the file and send its link with the caption."""
        url = await self._host(
            data, mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        link = f"{filename}: {url}"
        return await self.send_text(chat_id, f"{caption}\n\n{link}" if caption else link)

    async def edit_text(
        self, chat_id: str, message_id: str, text: str, buttons: Keyboard = ()
    ) -> None:
        """Zalo cannot edit messages, so the new text is sent as a new message."""
        await self.send_text(chat_id, text, buttons)

    async def send_action(self, chat_id: str, action: Action) -> None:
        """Show "typing…" (Zalo's only working action); failures are ignored."""
        try:
            await self._call("sendChatAction", {"chat_id": chat_id, "action": "typing"})
        except ChannelError as exc:
            logger.debug("zalo chat action failed: %s", exc)

    async def _send_message(self, chat_id: str, text: str) -> Sent:
        return _sent(
            "sendMessage", await self._call("sendMessage", {"chat_id": chat_id, "text": text})
        )

    async def _host(self, data: bytes, mime: str) -> str:
        token = await self._media.put(data, mime)
        return f"{self._public_base_url}/media/{token}"

    async def _poll(self, accept: Accept) -> None:
        delay = 0.0
        while not self._stopping:
            try:
                self._waiting_for_events = True
                events = await self._next_events()
            except ChannelError as exc:
                delay = min(max(2 * delay, 1.0), BACKOFF_MAX)
                logger.warning("zalo getUpdates failed (%s); polling again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            finally:
                self._waiting_for_events = False
            delay = 0.0
            for event in events:
                try:
                    await self._store(event, accept)
                except Exception:
                    # Zalo has handed the event out already: it cannot be asked for again.
                    logger.exception("zalo event %s could not be stored", _label(event))

    async def _next_events(self) -> list[Mapping[str, object]]:
        """The next long-poll result; an empty list when the poll timed out (error 408)."""
        wait = math.ceil(self._poll_timeout)
        body = await self._post(
            "getUpdates",
            {"timeout": str(wait)},
            httpx.Timeout(API_TIMEOUT.connect, read=wait + POLL_MARGIN),
        )
        if body.get("ok") is not True and body.get("error_code") == 408:
            return []
        return _events(_result("getUpdates", body))

    @staticmethod
    async def _store(event: Mapping[str, object], accept: Accept) -> None:
        """Hand one raw event to the inbox; one we could never answer is dropped here."""
        try:
            parsed = _Event.model_validate(event)
        except ValidationError as exc:
            logger.warning("ignoring malformed zalo event %s: %s", _label(event), exc)
            return
        await accept(Received(Platform.ZALO, _key(parsed), parsed.message.sender.id, event))

    async def _read_upload(self, upload_id: str) -> bytes:
        """The bytes of a file sent from our upload page (kept for a day)."""
        found = await self._uploads.get(upload_id) if self._uploads else None
        if found is None:
            raise ChannelError(f"upload {upload_id} is gone")
        data = found[0]
        if len(data) > DOCUMENT_MAX_BYTES:
            raise TooLarge(f"upload of {len(data)} bytes, over {DOCUMENT_MAX_BYTES}")
        return data

    async def _download(self, url: str) -> bytes:
        """Fetch an inbound image: https, public addresses, same-host redirects, size-capped."""
        for _ in range(MAX_REDIRECTS + 1):
            await self._check_image_url(url)
            async with self._files.stream("GET", url) as response:
                if response.is_redirect:
                    target = response.url.join(response.headers.get("location", ""))
                    if target.host != response.url.host:
                        raise ChannelError(f"image redirected to another host: {target.host}")
                    url = str(target)
                    continue
                if response.is_error:
                    raise ChannelError(f"image download: HTTP {response.status_code}")
                return await self._read_capped(response)
        raise ChannelError("image download: too many redirects")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > self._max_image_bytes:
                raise TooLarge(f"image larger than {self._max_image_bytes} bytes")
        return bytes(data)

    async def _check_image_url(self, url: str) -> None:
        """Refuse URLs that could make us fetch from ourselves or the local network."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ChannelError(f"bad image URL: {exc}") from exc
        if self._local_images and parsed.scheme in ("http", "https"):
            return
        if parsed.scheme != "https" or not parsed.host:
            raise ChannelError("image URL is not https")
        try:
            found = await asyncio.get_running_loop().getaddrinfo(parsed.host, parsed.port or 443)
        except OSError as exc:
            raise ChannelError(f"image host does not resolve: {exc}") from exc
        addresses = {ipaddress.ip_address(info[4][0]) for info in found}
        if not addresses or not all(address.is_global for address in addresses):
            raise ChannelError(f"image host {parsed.host} is not a public address")

    async def _call(self, method: str, params: Mapping[str, object]) -> object:
        return _result(method, await self._post(method, params, API_TIMEOUT))

    async def _post(
        self, method: str, params: Mapping[str, object], timeout: httpx.Timeout
    ) -> Mapping[str, object]:
        """POST a method and return its JSON envelope, whatever the HTTP status."""
        try:
            response = await self._api.post(method, json=params, timeout=timeout)
        except httpx.HTTPError as exc:
            # The request URL holds the token, so only the error type and text are reported.
            raise ChannelError(f"zalo {method}: {type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise ChannelError(f"zalo {method}: HTTP {response.status_code}, no JSON") from exc
        if not isinstance(body, dict):
            raise ChannelError(f"zalo {method}: HTTP {response.status_code}, not an envelope")
        return body


def _result(method: str, body: Mapping[str, object]) -> object:
    """The `result` of a successful envelope; otherwise the matching `ChannelError`."""
    if body.get("ok") is True:
        return body.get("result")
    code = body.get("error_code")
    text = f"zalo {method}: error {code}: {body.get('description', '')}"
    if code == 429:
        raise RetryLater(_retry_after(body), text)
    if code in (401, 403):
        logger.error("%s; is ZALO_BOT_TOKEN right?", text)
    raise ChannelError(text)


def _retry_after(body: Mapping[str, object]) -> float | None:
    """The wait a 429 names, if any: Zalo's "Quota exceeded" names none."""
    parameters = body.get("parameters")
    given = parameters.get("retry_after") if isinstance(parameters, dict) else None
    given = body.get("retry_after", given)
    return float(given) if isinstance(given, int | float) and given > 0 else None


def _sent(method: str, result: object) -> Sent:
    if not isinstance(result, dict) or result.get("message_id") is None:
        raise ChannelError(f"zalo {method}: unexpected result {result!r}")
    return Sent(str(result["message_id"]))


def _events(result: object) -> list[Mapping[str, object]]:
    """Events in a poll result or webhook body: one object, or (defensively) a list of them."""
    items = result if isinstance(result, list) else [result]
    return [item for item in items if isinstance(item, dict)]


def page_location(
    chat_id: str, user_id: str, link_id: str, where: tuple[float, float, float | None], at: datetime
) -> Received:
    """A position sent from our location page, as a Zalo event to store in the inbox."""
    latitude, longitude, accuracy = where
    position = {"latitude": latitude, "longitude": longitude, "accuracy": accuracy}
    return _page_event(
        PAGE_LOCATION_EVENT, chat_id, user_id, f"page-{link_id}", at, location=position
    )


def page_file(
    chat_id: str, user_id: str, upload_id: str, filename: str, size: int, at: datetime
) -> Received:
    """A file sent from our upload page (stored as `upload_id`), as a Zalo event for the inbox."""
    upload = {"id": upload_id, "filename": filename, "size": size}
    return _page_event(PAGE_FILE_EVENT, chat_id, user_id, f"file-{upload_id}", at, upload=upload)


def _page_event(
    name: str, chat_id: str, user_id: str, message_id: str, at: datetime, **content: object
) -> Received:
    """Something sent from one of our pages, shaped like a Zalo event of its user."""
    message = {
        "from": {"id": user_id},
        "chat": {"id": chat_id, "chat_type": PRIVATE_CHAT},
        "message_id": message_id,
        "date": int(at.timestamp() * 1000),
        **content,
    }
    event = {"event_name": name, "message": message}
    return Received(Platform.ZALO, _key(_Event.model_validate(event)), user_id, event)


def _key(event: _Event) -> str:
    """The dedupe key of an event: Zalo's message ids are unique."""
    return f"zl:{event.event_name}:{event.message.message_id}"


def _label(event: Mapping[str, object]) -> str:
    """The dedupe key of a raw event, for logs, even when it does not validate."""
    message = event.get("message")
    message_id = message.get("message_id") if isinstance(message, dict) else None
    return f"zl:{event.get('event_name')}:{message_id}"


def _numbered_menu(buttons: Keyboard) -> str:
    """Buttons as "1. Label" lines, row by row: the user answers with the number or the label."""
    numbered = enumerate(choices(buttons), 1)
    return "\n".join(f"{number}. {button.label}" for number, button in numbered)


def _with_menu(chunks: list[str], menu: str) -> list[str]:
    """Append the menu to the last chunk after a blank line, or send it alone if it won't fit."""
    last = f"{chunks[-1]}\n\n{menu}"
    if len(last) <= TEXT_LIMIT:
        return [*chunks[:-1], last]
    return [*chunks, *split_text(menu, TEXT_LIMIT)]


def _image_mime(image: bytes) -> str:
    return "image/png" if image.startswith(b"\x89PNG\r\n\x1a\n") else "image/jpeg"


def _failing(reason: str) -> Download:
    async def download() -> bytes:
        raise ChannelError(reason)

    return download
