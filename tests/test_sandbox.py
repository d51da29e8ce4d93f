"""The sandbox emulators over real HTTP: aiogram against the Telegram side, httpx against Zalo."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiohttp import web
from PIL import Image

from bot.app import SANDBOX_TELEGRAM_TOKEN as TG_TOKEN
from bot.app import SANDBOX_ZALO_TOKEN as ZALO_TOKEN
from sandbox.client import SandboxClient
from sandbox.server import Sandbox

BOT_ID = int(TG_TOKEN.partition(":")[0])
ZALO_USER = "6ede9afa66b88fe6d6a9"
ZALO_GROUP = "c0ffee00c0ffee00c0ff"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"


def jpeg(width: int = 800, height: int = 600, color: str = "red") -> bytes:
    """A real JPEG image."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Receiver:
    """A tiny web server recording webhook POSTs and serving one image."""

    url: str = ""
    image: bytes = field(default_factory=jpeg)
    posts: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(sandbox.telegram_api_base)
    telegram = Bot(TG_TOKEN, session=AiohttpSession(api=api))
    yield telegram
    await telegram.session.close()


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.posts.append((dict(request.headers), await request.json()))
        return web.json_response({}, status=state.status)

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=state.image, content_type="image/jpeg")

    app = web.Application()
    app.add_routes([web.post("/hook", hook), web.get("/selfie.jpg", image)])
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


async def zalo_call(
    http: httpx.AsyncClient, method: str, token: str = ZALO_TOKEN, **params: Any
) -> httpx.Response:
    return await http.post(f"/zalo/bot{token}/{method}", json=params)


# ---- Telegram -------------------------------------------------------------------------------


async def test_aiogram_round_trip_text_keyboard_and_callback(bot: Bot, tg: SandboxClient) -> None:
    me = await bot.get_me()
    assert me.id == BOT_ID and me.is_bot and me.username

    sent = await tg.send("42", display_name="Nguyễn An", text="/start cp_abc")
    assert sent["delivery"] == "queued"
    updates = await bot.get_updates(timeout=1)
    message = updates[0].message
    assert message is not None and message.text == "/start cp_abc"
    assert message.entities is not None and message.entities[0].length == len("/start")
    assert message.from_user is not None and message.from_user.first_name == "Nguyễn An"
    assert message.chat.type == "private" and message.chat.id == 42

    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Có", callback_data="yes")]]
    )
    reply = await bot.send_message(
        42, "<b>Bạn</b> có sốt không?", reply_markup=keyboard, parse_mode="HTML"
    )
    assert reply.text == "Bạn có sốt không?" and reply.reply_markup is not None
    assert reply.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    [shown] = await tg.wait_for("42")
    assert shown["buttons"] == [[{"label": "Có", "data": "yes"}]]
    assert shown["message_id"] == str(reply.message_id)

    await tg.send("42", callback_data="yes", message_id=reply.message_id)
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
    query = updates[0].callback_query
    assert query is not None and query.data == "yes" and query.message is not None
    assert query.message.message_id == reply.message_id
    assert await bot.answer_callback_query(query.id, text="OK")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)

    # A confirmed update is not returned again.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []


async def test_photo_upload_get_file_and_download(bot: Bot, tg: SandboxClient) -> None:
    image = jpeg()
    first = (await tg.send("42", photo=image, caption="selfie"))["update"]["message"]
    second = (await tg.send("42", photo=image))["update"]["message"]
    assert len(first["photo"]) >= 2 and first["caption"] == "selfie"
    largest = first["photo"][-1]
    assert (largest["width"], largest["height"]) == (800, 600)
    assert largest["file_unique_id"] == second["photo"][-1]["file_unique_id"]

    info = await bot.get_file(largest["file_id"])
    assert info.file_size == len(image) and info.file_path
    downloaded = await bot.download_file(info.file_path)
    assert downloaded is not None and downloaded.read() == image

    sent = await bot.send_photo(42, BufferedInputFile(jpeg(color="blue"), "chart.jpg"))
    assert sent.photo is not None and len(sent.photo) >= 2
    [entry] = await tg.wait_for("42")
    assert entry["kind"] == "photo" and entry["file_url"]
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(42, BufferedInputFile(b"not an image", "x.jpg"))
    with pytest.raises(TelegramBadRequest, match="uploads only"):
        await bot.send_photo(42, sent.photo[-1].file_id)


async def test_documents_and_reply_keyboards(bot: Bot, tg: SandboxClient, sandbox: Sandbox) -> None:
    doc = await bot.send_document(42, BufferedInputFile(b"a,b\n1,2\n", "bao-cao.csv"))
    assert doc.document is not None and doc.document.mime_type == "text/csv"
    ask = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Chia sẻ số điện thoại", request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await bot.send_message(42, "Số điện thoại của bạn?", reply_markup=ask)
    document, question = await tg.wait_for("42", count=2)
    assert document["filename"] == "bao-cao.csv"
    async with httpx.AsyncClient() as client:
        assert (await client.get(document["file_url"])).content == b"a,b\n1,2\n"
    assert question["ask"] == "contact" and question["keyboard"][0][0]["request"] == "contact"

    contact = (await tg.send("42", contact={"phone_number": "+84912345678"}))["update"]
    assert contact["message"]["contact"] == {
        "phone_number": "+84912345678",
        "first_name": "Người dùng 42",
        "user_id": 42,
    }
    location = (await tg.send("42", location={"latitude": 21.03, "longitude": 105.85}))["update"]
    assert location["message"]["location"] == {"latitude": 21.03, "longitude": 105.85}
    sticker = (await tg.send("42", sticker=True))["update"]["message"]["sticker"]
    assert sticker["type"] == "regular" and not sticker["is_animated"]
    assert "video" in (await tg.send("42", video=True))["update"]["message"]
    updates = await bot.get_updates(timeout=0)
    assert [u.message.content_type for u in updates if u.message] == [
        "contact",
        "location",
        "sticker",
        "video",
    ]


async def test_edits_bump_the_transcript(bot: Bot, tg: SandboxClient) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="1", callback_data="one")]]
    )
    sent = await bot.send_message(7, "Chọn", reply_markup=keyboard)
    await tg.wait_for("7")
    edited = await bot.edit_message_text(text="Đã chọn 1", chat_id=7, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.edit_date is not None
    [entry] = await tg.wait_for("7")
    assert entry["edited"] and entry["text"] == "Đã chọn 1" and entry["buttons"] == []
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="Đã chọn 1", chat_id=7, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="?", chat_id=7, message_id=999)
    await bot.edit_message_text(
        text="Chọn lại", chat_id=7, message_id=sent.message_id, reply_markup=keyboard
    )
    [entry] = await tg.wait_for("7")
    assert entry["buttons"] == [[{"label": "1", "data": "one"}]]
    assert len(await tg.messages("7")) == 1


async def test_telegram_error_shapes(
    bot: Bot, sandbox: Sandbox, http: httpx.AsyncClient, tg: SandboxClient
) -> None:
    wrong = Bot(
        f"{BOT_ID}:WRONG",
        session=AiohttpSession(api=TelegramAPIServer.from_base(sandbox.telegram_api_base)),
    )
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await wrong.session.close()

    class NoSuchMethod(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "noSuchMethod"

    with pytest.raises(TelegramNotFound):
        await bot(NoSuchMethod())

    base = f"/telegram/bot{TG_TOKEN}"
    empty = await http.post(f"{base}/sendMessage", json={"chat_id": 1, "text": ""})
    assert empty.status_code == 400
    assert empty.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }
    too_long = await http.post(f"{base}/sendMessage", data={"chat_id": "1", "text": "x" * 4097})
    assert too_long.json()["description"] == "Bad Request: message is too long"
    by_url = await http.get(
        f"{base}/sendPhoto", params={"chat_id": 1, "photo": "https://example.com/a.jpg"}
    )
    assert by_url.status_code == 400 and "uploads only" in by_url.json()["description"]
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(1, BufferedInputFile(jpeg(), "a.jpg"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<Nguyễn> xin chào", parse_mode="HTML")

    await tg.configure(fail={"method": "sendMessage", "error_code": 429, "retry_after": 3})
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(1, "hi")
    assert flood.value.retry_after == 3
    await bot.send_message(1, "the failure was used up")

    await tg.configure(rate_limit_per_s=2)
    results = await asyncio.gather(
        *(bot.send_message(1, f"burst {i}") for i in range(4)), return_exceptions=True
    )
    assert any(isinstance(result, TelegramRetryAfter) for result in results)
    await tg.configure(rate_limit_per_s=None)
    calls = await tg.calls("sendMessage")
    assert {call["error_code"] for call in calls} >= {None, 400, 429}


async def test_telegram_webhook_delivery_and_conflict(
    bot: Bot, tg: SandboxClient, receiver: Receiver
) -> None:
    await tg.send("42", text="queued before the webhook")
    assert await bot.set_webhook(
        f"{receiver.url}/hook", secret_token="s3cr3t_-", drop_pending_updates=True
    )
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()

    result = await tg.send("42", text="xin chào")
    assert result["webhook_status"] == 200 and result["delivery"] == "webhook"
    headers, body = receiver.posts[0]
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t_-"
    assert body == result["update"] and body["message"]["text"] == "xin chào"

    with pytest.raises(TelegramBadRequest, match="secret token"):
        await bot.set_webhook(f"{receiver.url}/hook", secret_token="bad secret!")
    with pytest.raises(TelegramBadRequest, match="HTTPS URL"):
        await bot.set_webhook("http://example.com/hook")
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_allowed_updates_and_raw_duplicates(bot: Bot, tg: SandboxClient) -> None:
    sent = await tg.send("5", text="một")
    await bot.get_updates(timeout=0, allowed_updates=["message"])
    first = await bot.get_updates(offset=sent["update"]["update_id"] + 1, timeout=0)
    assert first == []
    again = await tg.send("5", raw=sent["update"])
    assert again["delivery"] == "queued"
    [duplicate] = await bot.get_updates(offset=sent["update"]["update_id"] + 1, timeout=0)
    assert duplicate.update_id == sent["update"]["update_id"]

    reply = await bot.send_message(
        5,
        "?",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="a")]]
        ),
    )
    pressed = await tg.send("5", callback_data="a", message_id=reply.message_id)
    assert pressed["delivery"] == "filtered"


async def test_bot_commands_and_chat_actions(bot: Bot, tg: SandboxClient) -> None:
    commands = [BotCommand(command="khaibao", description="Khai báo y tế")]
    assert await bot.set_my_commands(commands, language_code="vi")
    [call] = await tg.calls("setMyCommands")
    assert call["params"]["language_code"] == "vi"
    assert call["params"]["commands"] == [{"command": "khaibao", "description": "Khai báo y tế"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    with pytest.raises(TelegramBadRequest, match="LANG_CODE_INVALID"):
        await bot.set_my_commands(commands, language_code="vie")
    assert await bot.send_chat_action(42, "typing")
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(42, "dancing")


async def test_group_migrates_to_a_supergroup(
    bot: Bot, tg: SandboxClient, http: httpx.AsyncClient
) -> None:
    await tg.send("42", display_name="Cán bộ", text="/baocao", chat_type="group", chat_id="-555")
    [asked] = await bot.get_updates(timeout=0)
    before = await bot.send_message(-555, "Báo cáo tuần")

    migrated = await tg.migrate("-555", "42")
    new_id = migrated["migrate_to_chat_id"]
    assert str(new_id).startswith("-100") and len(str(new_id)) == 14
    assert migrated["delivery"] == "queued"
    service = migrated["update"]["message"]
    assert service.keys() == {"message_id", "date", "chat", "from", "migrate_to_chat_id"}
    assert service["chat"] == {"id": -555, "type": "group", "title": "Nhóm -555"}
    assert (service["from"]["id"], service["from"]["first_name"]) == (42, "Cán bộ")
    [update] = await bot.get_updates(offset=asked.update_id + 1, timeout=0)
    assert update.message is not None and update.message.migrate_to_chat_id == new_id

    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(-555, "vẫn gửi nhóm cũ")
    assert raised.value.migrate_to_chat_id == new_id
    with pytest.raises(TelegramMigrateToChat):
        await bot.edit_message_text(text="sửa", chat_id=-555, message_id=before.message_id)
    with pytest.raises(TelegramMigrateToChat):
        await bot.send_photo(-555, BufferedInputFile(jpeg(), "a.jpg"))
    with pytest.raises(TelegramMigrateToChat):
        await bot.send_chat_action(-555, "typing")
    raw = await http.post(
        f"/telegram/bot{TG_TOKEN}/sendMessage", json={"chat_id": "-555", "text": "x"}
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "ok": False,
        "error_code": 400,
        "description": MIGRATED,
        "parameters": {"migrate_to_chat_id": new_id},
    }

    await bot.send_message(new_id, "Chào siêu nhóm")
    [shown] = await tg.wait_for(str(new_id))
    assert shown["text"] == "Chào siêu nhóm"
    said = await tg.send("42", text="/baocao", chat_type="supergroup", chat_id=str(new_id))
    chat = said["update"]["message"]["chat"]
    assert chat == {"id": new_id, "type": "supergroup", "title": "Nhóm -555"}
    old = await http.get("/control/telegram/chats/-555/messages", params={"include_user": "true"})
    assert [entry["kind"] for entry in old.json()["messages"]] == ["text", "text", "migrated"]


async def test_migration_is_refused_where_telegram_would_refuse_it(
    tg: SandboxClient, zl: SandboxClient, http: httpx.AsyncClient
) -> None:
    new_id = (await tg.migrate("-7", "42"))["migrate_to_chat_id"]
    refused = [
        (f"/control/telegram/chats/{new_id}/migrate", {"user_id": "42"}),  # a supergroup
        ("/control/telegram/chats/42/migrate", {"user_id": "42"}),  # a private chat
        ("/control/telegram/chats/x/migrate", {"user_id": "42"}),
        ("/control/telegram/chats/-8/migrate", {}),
        (
            "/control/telegram/send",
            {"user_id": "42", "text": "hi", "chat_type": "group", "chat_id": -7},
        ),
    ]
    for path, body in refused:
        response = await http.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]
    again = await http.post("/control/telegram/chats/-7/migrate", json={"user_id": "42"})
    assert f"upgraded to supergroup {new_id}" in again.json()["error"]
    with pytest.raises(AssertionError, match="404"):
        await zl.migrate(ZALO_USER, ZALO_USER)


async def test_migration_reaches_a_webhook(bot: Bot, tg: SandboxClient, receiver: Receiver) -> None:
    await bot.set_webhook(f"{receiver.url}/hook", secret_token="s3cr3t")
    migrated = await tg.migrate("-31", "42")
    assert (migrated["delivery"], migrated["webhook_status"]) == ("webhook", 200)
    [(_, body)] = receiver.posts
    assert body["message"]["migrate_to_chat_id"] == migrated["migrate_to_chat_id"]


async def test_injected_failures_carry_parameters(
    bot: Bot, tg: SandboxClient, zl: SandboxClient, http: httpx.AsyncClient
) -> None:
    parameters = {"migrate_to_chat_id": -1001234567890}
    await tg.configure(
        fail={
            "method": "sendMessage",
            "error_code": 400,
            "description": MIGRATED,
            "parameters": parameters,
        }
    )
    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(-12, "x")
    assert raised.value.migrate_to_chat_id == -1001234567890

    await tg.configure(fail={"method": "sendMessage", "error_code": 429})
    flood = await http.post(
        f"/telegram/bot{TG_TOKEN}/sendMessage", json={"chat_id": 1, "text": "x"}
    )
    assert flood.json()["parameters"] == {"retry_after": 1}

    await zl.configure(
        fail={"method": "sendMessage", "error_code": 429, "parameters": {"retry_after": 5}}
    )
    quota = await zalo_call(http, "sendMessage", chat_id=ZALO_USER, text="hi")
    assert quota.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Quota exceeded",
        "parameters": {"retry_after": 5},
    }


# ---- Zalo -----------------------------------------------------------------------------------


async def test_zalo_user_in_a_group_chat(http: httpx.AsyncClient, zl: SandboxClient) -> None:
    sent = await zl.send(
        ZALO_USER, display_name="Ted", text="/baocao", chat_type="GROUP", chat_id=ZALO_GROUP
    )
    message = sent["update"]["message"]
    assert message["chat"] == {"id": ZALO_GROUP, "chat_type": "GROUP"}
    assert message["from"] == {"id": ZALO_USER, "display_name": "Ted", "is_bot": False}
    polled = (await zalo_call(http, "getUpdates", timeout=0)).json()["result"]
    assert polled == sent["update"]

    assert (await zalo_call(http, "sendMessage", chat_id=ZALO_GROUP, text="Đã nhận")).json()["ok"]
    [reply] = await zl.wait_for(ZALO_GROUP)
    assert reply["text"] == "Đã nhận"
    private = (await zl.send(ZALO_USER, text="riêng"))["update"]["message"]["chat"]
    assert private == {"id": ZALO_USER, "chat_type": "PRIVATE"}


async def test_zalo_get_updates_returns_one_object_then_408(
    http: httpx.AsyncClient, zl: SandboxClient
) -> None:
    me = (await zalo_call(http, "getMe")).json()
    assert me["result"]["id"] == ZALO_TOKEN.partition(":")[0]
    assert me["result"]["account_type"] == "BASIC"

    await zl.send(ZALO_USER, display_name="Ted", text="Xin chào")
    await zl.send(ZALO_USER, photo=jpeg(), caption="ảnh")
    first = (await zalo_call(http, "getUpdates", timeout="30")).json()
    assert first["ok"] and first["result"]["event_name"] == "message.text.received"
    message = first["result"]["message"]
    assert message["from"] == {"id": ZALO_USER, "display_name": "Ted", "is_bot": False}
    assert message["chat"] == {"id": ZALO_USER, "chat_type": "PRIVATE"}
    assert len(message["message_id"]) == 20 and message["date"] > 10**12

    image = (await zalo_call(http, "getUpdates", timeout=1)).json()["result"]
    assert image["event_name"] == "message.image.received"
    assert (await http.get(image["message"]["photo_url"])).content == jpeg()

    empty = await zalo_call(http, "getUpdates", timeout=0.2)
    assert empty.status_code == 200
    assert empty.json() == {"ok": False, "error_code": 408, "description": "Request timeout"}


async def test_zalo_errors_and_switches(http: httpx.AsyncClient, zl: SandboxClient) -> None:
    wrong = await zalo_call(http, "getMe", token="1:nope")
    assert wrong.status_code == 200 and wrong.json()["error_code"] == 401
    assert (await zalo_call(http, "getme")).json()["error_code"] == 400
    too_long = await zalo_call(http, "sendMessage", chat_id=ZALO_USER, text="x" * 2001)
    assert too_long.status_code == 200 and too_long.json()["error_code"] == 400
    fine = await zalo_call(http, "sendMessage", chat_id=ZALO_USER, text="x" * 2000)
    assert len(fine.json()["result"]["message_id"]) == 20
    assert (
        await zalo_call(http, "sendPhoto", chat_id=ZALO_USER, photo="file:///etc/passwd")
    ).json()["error_code"] == 400

    await zl.configure(http_errors=True, fail={"method": "sendMessage", "error_code": 429})
    quota = await zalo_call(http, "sendMessage", chat_id=ZALO_USER, text="hi")
    assert quota.status_code == 429
    assert quota.json() == {"ok": False, "error_code": 429, "description": "Quota exceeded"}
    action = await http.get(
        f"/zalo/bot{ZALO_TOKEN}/sendChatAction", params={"chat_id": ZALO_USER, "action": "typing"}
    )
    assert action.json() == {"ok": True}

    await zl.configure(name_field="name", legacy_photo_field=True)
    event = (await zl.send("u-1", display_name="X", photo=jpeg()))["update"]
    assert event["message"]["from"]["name"] == "X" and "photo" in event["message"]
    assert "photo_url" not in event["message"]
    unsupported = (await zl.send("u-1", unsupported=True))["update"]
    assert unsupported["event_name"] == "message.unsupported.received"
    bad = await http.post("/control/zalo/send", json={"user_id": "u-1", "contact": {}})
    assert bad.status_code == 400 and "cannot send contact" in bad.json()["error"]


async def test_zalo_webhook_wrapped_and_bare(
    http: httpx.AsyncClient, zl: SandboxClient, receiver: Receiver
) -> None:
    short = await zalo_call(http, "setWebhook", url=f"{receiver.url}/hook", secret_token="short")
    assert short.json()["error_code"] == 400
    hook = await zalo_call(
        http, "setWebhook", url=f"{receiver.url}/hook", secret_token="secret-123"
    )
    assert hook.json()["result"]["url"] == f"{receiver.url}/hook"
    blocked = await zalo_call(http, "getUpdates", timeout=1)
    assert blocked.json()["error_code"] == 400

    bare = await zl.send(ZALO_USER, text="một")
    await zl.configure(webhook_wrapped=True)
    receiver.status = 403
    wrapped = await zl.send(ZALO_USER, text="hai")
    assert (bare["webhook_status"], wrapped["webhook_status"]) == (200, 403)
    (headers, first), (_, second) = receiver.posts
    assert headers["X-Bot-Api-Secret-Token"] == "secret-123"
    assert first == bare["update"] and first["event_name"] == "message.text.received"
    assert second == {"ok": True, "result": wrapped["update"]}

    assert (await zalo_call(http, "deleteWebhook")).json()["result"]["url"] == ""
    assert (await zalo_call(http, "getUpdates", timeout=0)).json()["error_code"] == 408


async def test_zalo_send_photo_fetches_the_url(
    http: httpx.AsyncClient, zl: SandboxClient, receiver: Receiver
) -> None:
    ok = await zalo_call(
        http, "sendPhoto", chat_id=ZALO_USER, photo=f"{receiver.url}/selfie.jpg", caption="Ảnh"
    )
    broken = await zalo_call(
        http, "sendPhoto", chat_id=ZALO_USER, photo=f"{receiver.url}/missing.jpg"
    )
    assert ok.json()["ok"] and broken.json()["ok"]
    fetched, failed = await zl.wait_for(ZALO_USER, count=2)
    assert fetched["caption"] == "Ảnh" and fetched["error"] is None
    assert (await http.get(fetched["file_url"])).content == receiver.image
    assert failed["file_url"] is None and "404" in failed["error"]
    calls = await zl.calls("sendPhoto")
    assert calls[0]["params"]["photo"] == f"{receiver.url}/selfie.jpg"


# ---- control API and client -----------------------------------------------------------------


async def test_control_rejects_malformed_requests(http: httpx.AsyncClient) -> None:
    cases = [
        ("/control/telegram/send", b"not json"),
        ("/control/telegram/send", b"[1, 2]"),
        ("/control/telegram/send", b'{"user_id": "abc", "text": "hi"}'),
        ("/control/telegram/send", b'{"user_id": "1", "text": "a", "sticker": true}'),
        ("/control/telegram/send", b'{"user_id": "1", "photo": "***"}'),
        ("/control/telegram/send", b'{"user_id": "1", "callback_data": "x", "message_id": 9}'),
        ("/control/telegram/config", b'{"rate_limit_per_s": "fast"}'),
        ("/control/telegram/config", b'{"http_errors": true}'),
        ("/control/zalo/config", b'{"fail": [1]}'),
        ("/control/zalo/config", b'{"fail": {"method": "*", "parameters": [1]}}'),
        ("/control/zalo/send", b'{"user_id": "u", "text": "hi", "chat_type": "group"}'),
        ("/control/zalo/send", b'{"user_id": "u", "text": "hi", "chat_type": "channel"}'),
    ]
    for path, body in cases:
        response = await http.post(path, content=body)
        assert response.status_code == 400, (path, body, response.text)
        assert response.json()["error"]
    missing = await http.get("/control/viber/calls")
    assert missing.status_code == 404 and missing.json()["error"]
    assert (await http.get("/control/files/nope")).status_code == 404
    bad_wait = await http.get("/control/telegram/chats/1/messages", params={"wait": "x"})
    assert bad_wait.status_code == 400


async def test_client_wait_for_and_users(
    bot: Bot, tg: SandboxClient, http: httpx.AsyncClient
) -> None:
    async def reply_later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(9, "một")
        await bot.send_message(9, "hai")

    task = asyncio.create_task(reply_later())
    assert [m["text"] for m in await tg.wait_for("9", count=2)] == ["một", "hai"]
    await task
    with pytest.raises(AssertionError, match="expected 1 new bot message"):
        await tg.wait_for("9", timeout=0.3)

    await tg.send("9", display_name="Bà Chín", text="hi")
    created = (await http.post("/control/users", json={"name": "Ông Tư"})).json()
    assert created["telegram_id"].isdigit() and len(created["zalo_id"]) == 20
    users = (await http.get("/control/users")).json()["users"]
    assert [u["name"] for u in users] == ["Bà Chín", "Ông Tư"]
    assert (await http.get("/")).status_code == 200


async def test_second_poller_group_chats_and_targeted_failures(
    bot: Bot, http: httpx.AsyncClient, tg: SandboxClient
) -> None:
    base = f"/telegram/bot{TG_TOKEN}/getUpdates"
    older = asyncio.create_task(http.post(base, json={"timeout": 1}))
    await asyncio.sleep(0.1)
    newer = await http.post(base, json={"timeout": 0})
    assert newer.json() == {"ok": True, "result": []}
    assert (await older).json()["description"].startswith("Conflict: terminated by other")

    group = await tg.send(
        "42", text="/baocao@khaibao_sandbox_bot", chat_type="group", chat_id="-100"
    )
    chat = group["update"]["message"]["chat"]
    assert chat == {"id": -100, "type": "group", "title": "Nhóm -100"}
    entity = group["update"]["message"]["entities"][0]
    assert entity["length"] == len("/baocao@khaibao_sandbox_bot")

    blocked = "Forbidden: bot was blocked by the user"
    await tg.configure(
        fail={
            "method": "*",
            "chat_id": "43",
            "error_code": 403,
            "count": None,
            "description": blocked,
        }
    )
    await bot.send_message(42, "vẫn gửi được")
    for _ in range(2):
        response = await http.post(
            f"/telegram/bot{TG_TOKEN}/sendMessage", json={"chat_id": 43, "text": "x"}
        )
        assert (response.status_code, response.json()["description"]) == (403, blocked)
    await tg.configure(fail=None)
    await bot.send_message(43, "đã bỏ chặn")
