"""The Telegram adapter against the sandbox's Telegram Bot API emulator, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC

import httpx
import pytest
from aiohttp import web

from bot.app import SANDBOX_TELEGRAM_TOKEN
from bot.channels.telegram import TelegramChannel
from core.channel import Ask, Blocked, Button, ChannelError, Kind, RetryLater
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from tests.channel_support import Inbox, jpeg, png, polling_survives_a_failing_accept, serving

USER = "100001"
SECRET = "webhook-secret-123"


@pytest.fixture
async def channel(sandbox: Sandbox) -> AsyncIterator[TelegramChannel]:
    """An adapter pointed at the emulator."""
    adapter = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    yield adapter
    await adapter.stop_receiving()
    await adapter.close()


@pytest.fixture
async def inbox(channel: TelegramChannel) -> AsyncIterator[Inbox]:
    """What the adapter delivers while long polling; stopping must end `start_polling`."""
    received = Inbox(channel)
    receiving = asyncio.create_task(channel.start_polling(received))
    yield received
    await channel.stop_receiving()
    await asyncio.wait_for(receiving, 5)


async def test_text_is_delivered_with_identity(tg: SandboxClient, inbox: Inbox) -> None:
    await tg.send(USER, text="Xin chào", display_name="Nguyễn Văn An")
    incoming = await inbox.next()
    assert (incoming.kind, incoming.text) == (Kind.TEXT, "Xin chào")
    assert (incoming.chat_id, incoming.user_id) == (USER, USER)
    assert incoming.display_name == "Nguyễn Văn An"
    assert incoming.language_hint == "vi"
    assert incoming.dedupe_key.startswith("tg:") and incoming.dedupe_key[3:].isdigit()
    assert incoming.message_id.isdigit()
    assert incoming.date.tzinfo is UTC


async def test_deep_link_command_carries_payload(tg: SandboxClient, inbox: Inbox) -> None:
    await tg.send(USER, text="/start cp_AbC-123")
    incoming = await inbox.next()
    assert (incoming.kind, incoming.command, incoming.payload) == (
        Kind.COMMAND,
        "start",
        "cp_AbC-123",
    )


async def test_photo_downloads_the_largest_size_on_demand(tg: SandboxClient, inbox: Inbox) -> None:
    image = jpeg(640, 480)
    await tg.send(USER, photo=image, caption="sáng nay")
    incoming = await inbox.next()
    assert incoming.kind is Kind.PHOTO and incoming.photo is not None
    assert incoming.text == "sáng nay"
    assert (incoming.photo.size, incoming.photo.mime) == (len(image), "image/jpeg")
    assert incoming.photo.unique_id
    assert not await tg.calls("getFile")  # lazy: nothing fetched until the handler asks
    assert await incoming.photo.download() == image


async def test_image_sent_as_file_is_a_photo(tg: SandboxClient, inbox: Inbox) -> None:
    image = png()
    await tg.send(USER, document=image, filename="selfie.png", mime_type="image/png")
    incoming = await inbox.next()
    assert incoming.kind is Kind.PHOTO and incoming.photo is not None
    assert incoming.photo.mime == "image/png"
    assert await incoming.photo.download() == image


async def test_other_files_are_documents(tg: SandboxClient, inbox: Inbox) -> None:
    await tg.send(USER, document=b"%PDF-1.4", filename="a.pdf", mime_type="application/pdf")
    incoming = await inbox.next()
    assert incoming.kind is Kind.DOCUMENT and incoming.document is not None
    assert incoming.document.filename == "a.pdf"
    assert await incoming.document.download() == b"%PDF-1.4"


async def test_only_the_senders_own_contact_counts(tg: SandboxClient, inbox: Inbox) -> None:
    await tg.send(USER, contact={"phone_number": "+84901234567"})
    own = await inbox.next()
    assert (own.kind, own.contact_phone) == (Kind.CONTACT, "+84901234567")
    await tg.send(USER, contact={"phone_number": "+84907654321", "user_id": 999})
    forwarded = await inbox.next()
    assert (forwarded.kind, forwarded.contact_phone) == (Kind.UNSUPPORTED, "")


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"location": {"latitude": 10.77, "longitude": 106.7}}, Kind.LOCATION),
        ({"sticker": True}, Kind.STICKER),
        ({"video": True}, Kind.UNSUPPORTED),
    ],
)
async def test_other_kinds(
    tg: SandboxClient, inbox: Inbox, fields: dict[str, object], kind: Kind
) -> None:
    await tg.send(USER, **fields)
    incoming = await inbox.next()
    assert incoming.kind is kind
    if kind is Kind.LOCATION:
        assert incoming.location == (10.77, 106.7)


async def test_button_press_is_delivered_and_answered(
    tg: SandboxClient, channel: TelegramChannel, inbox: Inbox
) -> None:
    sent = await channel.send_text(USER, "Bạn có sốt không?", [[Button("Có", "fever:yes")]])
    await tg.send(USER, callback_data="fever:yes", message_id=sent.message_id)
    press = await inbox.next()
    assert (press.kind, press.button_data, press.message_id) == (
        Kind.BUTTON,
        "fever:yes",
        sent.message_id,
    )
    assert press.chat_id == USER and press.dedupe_key.startswith("tg:")
    answers = await tg.calls("answerCallbackQuery")
    assert len(answers) == 1 and answers[0]["ok"]


async def test_a_failing_accept_does_not_stop_polling(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    await polling_survives_a_failing_accept(tg, USER, channel)


async def test_buttons_render_as_inline_keyboard(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    keyboard = [[Button("Có", "y"), Button("Không", "n")], [Button("Huỷ", "cancel")]]
    await channel.send_text(USER, "Chọn", keyboard)
    (message,) = await tg.wait_for(USER)
    assert message["buttons"] == [
        [{"label": "Có", "data": "y"}, {"label": "Không", "data": "n"}],
        [{"label": "Huỷ", "data": "cancel"}],
    ]


async def test_callback_data_over_64_bytes_is_a_programming_error(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        await channel.send_text(USER, "Chọn", [[Button("x", "đ" * 33)]])
    assert not await tg.calls("sendMessage")


async def test_long_text_is_split_with_buttons_on_the_last_chunk(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    text = "\n".join(f"{n:03} " + "a" * 95 for n in range(45))  # 4499 chars
    await channel.send_text(USER, text, [[Button("OK", "ok")]])
    first, second = await tg.wait_for(USER, 2)
    assert len(first["text"]) <= 4096 and not first["buttons"]
    assert f"{first['text']}\n{second['text']}" == text
    assert second["buttons"] == [[{"label": "OK", "data": "ok"}]]


async def test_contact_request_keyboard_is_removed_afterwards(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    await channel.send_text(USER, "Số điện thoại của bạn?", ask=Ask.CONTACT)
    await channel.send_text(USER, "Cảm ơn")
    await channel.send_text(USER, "Tiếp tục")
    asking, thanks, onwards = await tg.wait_for(USER, 3)
    assert asking["ask"] == "contact"
    assert asking["keyboard"][0][0]["label"] == "📱 Gửi số điện thoại / Share phone"
    assert thanks["remove_keyboard"] and not onwards["remove_keyboard"]


async def test_contact_request_takes_its_label_from_the_first_button(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    await channel.send_text(USER, "SĐT?", [[Button("Chia sẻ số", "share")]], ask=Ask.CONTACT)
    (message,) = await tg.wait_for(USER)
    assert message["ask"] == "contact"
    assert message["keyboard"][0][0]["label"] == "Chia sẻ số"


async def test_edit_replaces_text_and_an_unchanged_edit_is_fine(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    sent = await channel.send_text(USER, "Đang xử lý", [[Button("Huỷ", "cancel")]])
    await channel.edit_text(USER, sent.message_id, "Xong")
    await channel.edit_text(USER, sent.message_id, "Xong")
    (message,) = await tg.messages(USER)
    assert (message["text"], message["edited"], message["buttons"]) == ("Xong", True, [])


async def test_photo_and_document_are_uploaded(tg: SandboxClient, channel: TelegramChannel) -> None:
    image, report = jpeg(), b"ma_ho,ten\n1,An\n"
    photo = await channel.send_photo(USER, image, caption="Mã QR")
    document = await channel.send_document(USER, report, "bao-cao.csv", caption="Báo cáo")
    assert photo.message_id != document.message_id
    sent_photo, sent_document = await tg.wait_for(USER, 2)
    assert (sent_photo["kind"], sent_photo["caption"]) == ("photo", "Mã QR")
    assert (sent_document["filename"], sent_document["caption"]) == ("bao-cao.csv", "Báo cáo")
    async with httpx.AsyncClient() as http:
        assert (await http.get(sent_document["file_url"])).content == report


async def test_long_caption_continues_as_text(tg: SandboxClient, channel: TelegramChannel) -> None:
    caption = "\n".join(["x" * 99] * 12)  # 1199 chars
    await channel.send_photo(USER, jpeg(), caption=caption)
    photo, rest = await tg.wait_for(USER, 2)
    assert f"{photo['caption']}\n{rest['text']}" == caption


async def test_rate_limit_becomes_retry_later(tg: SandboxClient, channel: TelegramChannel) -> None:
    await tg.configure(fail={"method": "sendMessage", "error_code": 429, "retry_after": 7})
    with pytest.raises(RetryLater) as raised:
        await channel.send_text(USER, "alert")
    assert raised.value.retry_after == 7


@pytest.mark.parametrize(
    "failure",
    [
        {"error_code": 403},  # "Forbidden: bot was blocked by the user"
        {"error_code": 400, "description": "Bad Request: chat not found"},
    ],
)
async def test_unreachable_chats_are_blocked(
    tg: SandboxClient, channel: TelegramChannel, failure: dict[str, object]
) -> None:
    await tg.configure(fail={"method": "sendMessage", **failure})
    with pytest.raises(Blocked):
        await channel.send_text(USER, "alert")


async def test_other_api_errors_are_channel_errors(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    await tg.configure(fail={"method": "sendPhoto", "error_code": 500})
    with pytest.raises(ChannelError) as raised:
        await channel.send_photo(USER, jpeg())
    assert not isinstance(raised.value, Blocked | RetryLater)


async def test_me_and_commands(tg: SandboxClient, channel: TelegramChannel) -> None:
    assert await channel.me()
    await channel.set_commands({"vi": [("start", "Bắt đầu")], "en": [("start", "Start")]})
    published = [call["params"] for call in await tg.calls("setMyCommands")]
    languages = sorted(str(params.get("language_code", "")) for params in published)
    assert languages == ["", "en", "vi"]


def webhook_app(channel: TelegramChannel, inbox: Inbox) -> web.Application:
    """Our web server with only the Telegram webhook route."""
    app = web.Application()
    channel.add_webhook_route(app, "/webhook/telegram", SECRET, inbox)
    return app


async def test_webhook_delivers_with_the_right_secret_only(
    tg: SandboxClient, channel: TelegramChannel
) -> None:
    received = Inbox(channel)
    async with serving(webhook_app(channel, received)) as base:
        url = f"{base}/webhook/telegram"
        await channel.set_webhook(url, SECRET)
        pushed = await tg.send(USER, text="qua webhook")
        assert pushed["webhook_status"] == 200
        assert (await received.next()).text == "qua webhook"

        await channel.set_webhook(url, "not-the-secret")
        refused = await tg.send(USER, text="giả mạo")
        assert refused["webhook_status"] == 401

        async with httpx.AsyncClient() as http:
            bare = await http.post(url, json=refused["update"])
        assert bare.status_code == 401
        await received.nothing()


def test_a_webhook_needs_a_secret() -> None:
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN)
    with pytest.raises(ValueError, match="secret"):
        channel.add_webhook_route(web.Application(), "/hook", "", Inbox(channel))
