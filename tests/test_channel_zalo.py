"""The Zalo adapter against the sandbox's Zalo Bot API emulator, over real HTTP."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC

import httpx
import pytest
from aiohttp import web

from bot.app import SANDBOX_ZALO_TOKEN
from bot.channels.zalo import ZaloChannel
from core.channel import Button, ChannelError, Kind, RetryLater
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from tests.channel_support import Inbox, jpeg, png, polling_survives_a_failing_accept, serving

USER = "a1b2c3d4e5f600112233"
SECRET = "zalo-webhook-secret"
BIG = 20 * 1024 * 1024 + 1


class DictMedia:
    """A `MediaStore` in a dict, served at /media/{token} like our web server does."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[bytes, str]] = {}

    async def put(self, data: bytes, mime: str) -> str:
        """Store bytes under a fresh token."""
        token = secrets.token_urlsafe(16)
        self.items[token] = (data, mime)
        return token

    async def get(self, token: str) -> tuple[bytes, str] | None:
        """Bytes and MIME type of a token."""
        return self.items.get(token)

    async def serve(self, request: web.Request) -> web.Response:
        """GET /media/{token}."""
        found = await self.get(request.match_info["token"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])


async def big_file(request: web.Request) -> web.StreamResponse:
    """An image response over the 20 MB download cap, streamed without a length."""
    response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
    await response.prepare(request)
    for _ in range(BIG // (1024 * 1024) + 1):
        await response.write(b"\0" * 1024 * 1024)
    await response.write_eof()
    return response


@pytest.fixture
async def media() -> AsyncIterator[tuple[DictMedia, str]]:
    """The media store and the base URL of the web server serving it (plus a huge file)."""
    store = DictMedia()
    app = web.Application()
    app.router.add_get("/media/{token}", store.serve)
    app.router.add_get("/big.jpg", big_file)
    async with serving(app) as base:
        yield store, base


@pytest.fixture
async def channel(sandbox: Sandbox, media: tuple[DictMedia, str]) -> AsyncIterator[ZaloChannel]:
    """An adapter pointed at the emulator, long polling for 1 s (the emulator caps it lower)."""
    store, base = media
    adapter = ZaloChannel(
        SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, store, base, poll_timeout=1, local_images=True
    )
    yield adapter
    await adapter.stop_receiving()
    await adapter.close()


@pytest.fixture
async def inbox(channel: ZaloChannel) -> AsyncIterator[Inbox]:
    """What the adapter delivers while long polling; stopping must end `start_polling`."""
    received = Inbox(channel)
    receiving = asyncio.create_task(channel.start_polling(received))
    yield received
    await channel.stop_receiving()
    await asyncio.wait_for(receiving, 5)


def image_event(url: str, message_id: str = "msg-123") -> dict[str, object]:
    """A real-shaped image event (OpenClaw's sanitized payload) pointing at `url`."""
    return {
        "event_name": "message.image.received",
        "message": {
            "date": 1774086023728,
            "chat": {"chat_type": "PRIVATE", "id": USER},
            "caption": "",
            "message_id": message_id,
            "message_type": "CHAT_PHOTO",
            "from": {"id": USER, "is_bot": False, "display_name": "Test User"},
            "photo_url": url,
        },
    }


async def test_text_is_delivered_with_identity(zl: SandboxClient, inbox: Inbox) -> None:
    sent = await zl.send(USER, text="Xin chào", display_name="Trần Thị Bình")
    incoming = await inbox.next()
    message = sent["update"]["message"]
    assert (incoming.kind, incoming.text) == (Kind.TEXT, "Xin chào")
    assert (incoming.chat_id, incoming.user_id) == (USER, USER)
    assert incoming.display_name == "Trần Thị Bình"
    assert incoming.message_id == message["message_id"]
    assert incoming.dedupe_key == f"zl:message.text.received:{message['message_id']}"
    assert incoming.date.tzinfo is UTC
    assert int(incoming.date.timestamp() * 1000) == message["date"]  # milliseconds


async def test_command_carries_payload(zl: SandboxClient, inbox: Inbox) -> None:
    await zl.send(USER, text="/start CHECKIN 7Q2K")
    incoming = await inbox.next()
    assert (incoming.kind, incoming.command, incoming.payload) == (
        Kind.COMMAND,
        "start",
        "CHECKIN 7Q2K",
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["photo_url", "photo"])
async def test_photo_is_downloaded_when_the_handler_asks(
    zl: SandboxClient, inbox: Inbox, legacy: bool
) -> None:
    await zl.configure(legacy_photo_field=legacy)
    image = jpeg(480, 640)
    await zl.send(USER, photo=image, caption="ảnh tự chụp")
    incoming = await inbox.next()
    assert incoming.kind is Kind.PHOTO and incoming.photo is not None
    assert incoming.text == "ảnh tự chụp"
    assert await incoming.photo.download() == image


@pytest.mark.parametrize(("path", "reason"), [("media/expired", "404"), ("big.jpg", "larger")])
async def test_unfetchable_photo_still_arrives_but_fails_to_download(
    zl: SandboxClient, inbox: Inbox, media: tuple[DictMedia, str], path: str, reason: str
) -> None:
    _, base = media
    await zl.send(USER, raw=image_event(f"{base}/{path}"))
    incoming = await inbox.next()
    assert incoming.kind is Kind.PHOTO and incoming.photo is not None
    with pytest.raises(ChannelError, match=reason):
        await incoming.photo.download()


async def test_attachments_url_is_the_last_resort(
    zl: SandboxClient, inbox: Inbox, media: tuple[DictMedia, str]
) -> None:
    store, base = media
    image = png()
    token = await store.put(image, "image/png")
    event = image_event("")
    message = event["message"]
    assert isinstance(message, dict)
    del message["photo_url"]
    message["attachments"] = [{"type": "image", "url": f"{base}/media/{token}"}]
    await zl.send(USER, raw=event)
    incoming = await inbox.next()
    assert incoming.photo is not None
    assert await incoming.photo.download() == image


async def test_sender_name_falls_back_to_name(zl: SandboxClient, inbox: Inbox) -> None:
    await zl.configure(name_field="name")
    await zl.send(USER, text="chào", display_name="Lê Văn Cường")
    assert (await inbox.next()).display_name == "Lê Văn Cường"


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"sticker": True}, Kind.STICKER),
        ({"unsupported": True}, Kind.UNSUPPORTED),
        ({"video": True}, Kind.UNSUPPORTED),
    ],
)
async def test_other_kinds(
    zl: SandboxClient, inbox: Inbox, fields: dict[str, object], kind: Kind
) -> None:
    await zl.send(USER, **fields)
    incoming = await inbox.next()
    assert (incoming.kind, incoming.chat_id) == (kind, USER)


async def test_unknown_events_are_unsupported(zl: SandboxClient, inbox: Inbox) -> None:
    event = image_event("")
    event["event_name"] = "message.voice.received"
    await zl.send(USER, raw=event)
    incoming = await inbox.next()
    assert (incoming.kind, incoming.dedupe_key) == (
        Kind.UNSUPPORTED,
        "zl:message.voice.received:msg-123",
    )


async def test_malformed_events_are_skipped(zl: SandboxClient, inbox: Inbox) -> None:
    await zl.send(USER, raw={"event_name": "message.text.received", "message": {"text": "?"}})
    await zl.send(USER, text="sau đó")
    assert (await inbox.next()).text == "sau đó"


async def test_empty_polls_keep_polling(zl: SandboxClient, inbox: Inbox) -> None:
    await asyncio.sleep(1.5)  # the emulator answers 408 after its 0.5 s cap
    await zl.send(USER, text="vẫn nghe chứ?")
    assert (await inbox.next()).text == "vẫn nghe chứ?"
    polls = await zl.calls("getUpdates")
    assert sum(call["error_code"] == 408 for call in polls) >= 2
    assert (await zl.calls())[0]["method"] == "deleteWebhook"


async def test_poll_errors_back_off_and_recover(zl: SandboxClient, inbox: Inbox) -> None:
    await zl.configure(http_errors=True, fail={"method": "getUpdates", "error_code": 500})
    await zl.send(USER, text="sau sự cố")
    assert (await inbox.next()).text == "sau sự cố"


async def test_a_failing_accept_does_not_stop_polling(
    zl: SandboxClient, channel: ZaloChannel
) -> None:
    await polling_survives_a_failing_accept(zl, USER, channel)


async def test_buttons_become_a_numbered_list(zl: SandboxClient, channel: ZaloChannel) -> None:
    keyboard = [[Button("Có", "y"), Button("Không", "n")], [Button("Huỷ", "cancel")]]
    sent = await channel.send_text(USER, "Bạn có sốt không?", keyboard)
    (message,) = await zl.wait_for(USER)
    assert message["text"] == "Bạn có sốt không?\n\n1. Có\n2. Không\n3. Huỷ"
    assert message["message_id"] == sent.message_id


async def test_long_text_splits_at_line_boundaries(zl: SandboxClient, channel: ZaloChannel) -> None:
    text = "\n".join(f"Dòng {n:02}: " + "x" * 90 for n in range(25))  # 2524 chars
    await channel.send_text(USER, text, [[Button("OK", "ok")]])
    first, second = await zl.wait_for(USER, 2)
    assert len(first["text"]) <= 2000 and "1. OK" not in first["text"]
    assert second["text"].endswith("\n\n1. OK")
    body = second["text"].removesuffix("\n\n1. OK")
    assert f"{first['text']}\n{body}" == text
    assert body.startswith("Dòng ")


async def test_menu_that_does_not_fit_goes_alone(zl: SandboxClient, channel: ZaloChannel) -> None:
    await channel.send_text(USER, "y" * 1995, [[Button("Đồng ý", "ok")]])
    text, menu = await zl.wait_for(USER, 2)
    assert (len(text["text"]), menu["text"]) == (1995, "1. Đồng ý")


async def test_photo_is_sent_by_our_url(
    zl: SandboxClient, channel: ZaloChannel, media: tuple[DictMedia, str]
) -> None:
    store, _ = media
    image = jpeg()
    caption = "\n".join(["c" * 99] * 25)  # 2499 chars: the rest follows as a text
    await channel.send_photo(USER, image, caption=caption)
    photo, rest = await zl.wait_for(USER, 2)
    assert photo["kind"] == "photo" and photo["error"] is None
    assert f"{photo['caption']}\n{rest['text']}" == caption
    async with httpx.AsyncClient() as http:
        fetched = await http.get(photo["file_url"])  # what the emulator downloaded from us
    assert fetched.content == image
    assert [mime for _, mime in store.items.values()] == ["image/jpeg"]


async def test_document_is_sent_as_a_link(
    zl: SandboxClient, channel: ZaloChannel, media: tuple[DictMedia, str]
) -> None:
    store, base = media
    report = b"ma_ho,ten\n1,An\n"
    await channel.send_document(USER, report, "bao-cao.csv", caption="Báo cáo tuần")
    (message,) = await zl.wait_for(USER)
    caption, link = message["text"].split("\n\n")
    assert caption == "Báo cáo tuần" and link.startswith(f"bao-cao.csv: {base}/media/")
    token = link.rsplit("/", 1)[1]
    assert store.items[token] == (report, "text/csv")


async def test_edit_sends_a_new_message(zl: SandboxClient, channel: ZaloChannel) -> None:
    sent = await channel.send_text(USER, "Đang xử lý")
    await channel.edit_text(USER, sent.message_id, "Xong")
    first, second = await zl.wait_for(USER, 2)
    assert (first["text"], second["text"], second["edited"]) == ("Đang xử lý", "Xong", False)


@pytest.mark.parametrize("http_errors", [False, True], ids=["status-200", "status-429"])
async def test_rate_limit_becomes_retry_later(
    zl: SandboxClient, channel: ZaloChannel, http_errors: bool
) -> None:
    await zl.configure(http_errors=http_errors, fail={"method": "sendMessage", "error_code": 429})
    with pytest.raises(RetryLater) as raised:
        await channel.send_text(USER, "cảnh báo")
    assert raised.value.retry_after is None  # Zalo names no time to wait


async def test_a_bad_token_is_a_channel_error(
    sandbox: Sandbox, media: tuple[DictMedia, str], caplog: pytest.LogCaptureFixture
) -> None:
    store, base = media
    adapter = ZaloChannel("1:wrong", sandbox.zalo_api_base, store, base)
    try:
        with pytest.raises(ChannelError) as raised:
            await adapter.me()
    finally:
        await adapter.close()
    assert not isinstance(raised.value, RetryLater)
    assert "ZALO_BOT_TOKEN" in caplog.text


async def test_me(channel: ZaloChannel) -> None:
    assert await channel.me() == "bot.sandbox"


def webhook_app(channel: ZaloChannel, inbox: Inbox) -> web.Application:
    """Our web server with only the Zalo webhook route."""
    app = web.Application()
    channel.add_webhook_route(app, "/webhook/zalo", SECRET, inbox)
    return app


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapped"])
async def test_webhook_delivers_both_body_shapes(
    zl: SandboxClient, channel: ZaloChannel, wrapped: bool
) -> None:
    received = Inbox(channel)
    await zl.configure(webhook_wrapped=wrapped)
    async with serving(webhook_app(channel, received)) as base:
        await channel.set_webhook(f"{base}/webhook/zalo", SECRET)
        pushed = await zl.send(USER, text="qua webhook")
        assert pushed["webhook_status"] == 200
        assert (await received.next()).text == "qua webhook"


async def test_webhook_refuses_a_wrong_or_missing_secret(
    zl: SandboxClient, channel: ZaloChannel
) -> None:
    received = Inbox(channel)
    async with serving(webhook_app(channel, received)) as base:
        url = f"{base}/webhook/zalo"
        await channel.set_webhook(url, "not-the-secret")
        refused = await zl.send(USER, text="giả mạo")
        assert refused["webhook_status"] == 403
        async with httpx.AsyncClient() as http:
            bare = await http.post(url, json=refused["update"])
        assert bare.status_code == 403 and bare.json()["ok"] is False
        await received.nothing()


async def redirect_to(request: web.Request) -> web.Response:
    """A 302 to the URL in `?to=`."""
    raise web.HTTPFound(request.query["to"])


@pytest.fixture
async def strict(sandbox: Sandbox, media: tuple[DictMedia, str]) -> AsyncIterator[ZaloChannel]:
    """The adapter as it runs against the real Zalo: images only from public https hosts."""
    store, base = media
    adapter = ZaloChannel(SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, store, base)
    yield adapter
    await adapter.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://{host}/media/x", "not https"),
        ("https://127.0.0.1:1/selfie.jpg", "not a public address"),
        ("https://localhost:1/selfie.jpg", "not a public address"),
        ("https://10.0.0.5/selfie.jpg", "not a public address"),
        ("https://[::1]:1/selfie.jpg", "not a public address"),
        ("file:///etc/passwd", "not https"),
    ],
)
async def test_images_are_fetched_only_from_public_https_hosts(
    strict: ZaloChannel, media: tuple[DictMedia, str], url: str, reason: str
) -> None:
    _, base = media
    incoming = await strict.open(image_event(url.format(host=base.removeprefix("http://"))))
    assert incoming is not None and incoming.photo is not None
    with pytest.raises(ChannelError, match=reason):
        await incoming.photo.download()


async def test_an_image_redirect_to_another_host_is_refused(
    channel: ZaloChannel, media: tuple[DictMedia, str], sandbox: Sandbox
) -> None:
    store, base = media
    token = await store.put(png(), "image/png")
    app = web.Application()
    app.router.add_get("/redirect", redirect_to)
    async with serving(app) as elsewhere:
        followed = await channel.open(image_event(f"{elsewhere}/redirect?to=/nowhere"))
        assert followed is not None and followed.photo is not None
        with pytest.raises(ChannelError, match="HTTP 404"):
            await followed.photo.download()  # a same-host redirect is followed
        other = base.replace("127.0.0.1", "localhost")
        away = await channel.open(image_event(f"{elsewhere}/redirect?to={other}/media/{token}"))
        assert away is not None and away.photo is not None
        with pytest.raises(ChannelError, match="another host"):
            await away.photo.download()
