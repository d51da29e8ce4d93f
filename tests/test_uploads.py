"""Files from staff on both platforms: Telegram documents, and on Zalo (whose bots receive no
files) a one-time upload page of ours whose file becomes an inbox update of its sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, Service
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import PAGE_FILE_EVENT, ZaloChannel, page_file
from core.channel import DOCUMENT_MAX_BYTES, ChannelError, Incoming, Kind, Platform, TooLarge
from core.clock import FixedClock
from handlers.context import Context
from handlers.page_links import upload_link, upload_target, use_upload_link
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from tests.channel_support import Inbox
from tests.chat import User, opened, post_upload
from tests.chat import upload_link as link_in
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

CSV = "Họ và tên,Số điện thoại\nNguyễn Văn An,0912345678\n".encode()
TG_USER = "100001"


@pytest.fixture
async def telegram(sandbox: Sandbox) -> AsyncIterator[TelegramChannel]:
    """A Telegram adapter pointed at the emulator."""
    adapter = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    yield adapter
    await adapter.stop_receiving()
    await adapter.close()


@pytest.fixture
async def tg_inbox(telegram: TelegramChannel) -> AsyncIterator[Inbox]:
    """What the Telegram adapter stores while long polling."""
    received = Inbox(telegram)
    receiving = asyncio.create_task(telegram.start_polling(received))
    yield received
    await telegram.stop_receiving()
    await asyncio.wait_for(receiving, 5)


async def test_a_telegram_file_is_a_document_fetched_on_demand(
    tg: SandboxClient, tg_inbox: Inbox
) -> None:
    await tg.send(TG_USER, document=CSV, filename="danh-sach.csv", caption="Công nhân")
    incoming = await tg_inbox.next()
    assert incoming.kind is Kind.DOCUMENT and incoming.document is not None
    document = incoming.document
    assert (document.filename, document.size, document.mime) == (
        "danh-sach.csv",
        len(CSV),
        "text/csv",
    )
    assert incoming.text == "Công nhân" and incoming.photo is None
    assert not await tg.calls("getFile")  # lazy: nothing fetched until the handler asks
    assert await document.download() == CSV


async def test_a_telegram_file_over_the_limit_is_refused_unfetched(
    tg: SandboxClient, tg_inbox: Inbox
) -> None:
    big = b"a," * (DOCUMENT_MAX_BYTES // 2 + 1)
    await tg.send(TG_USER, document=big, filename="lon.csv")
    incoming = await tg_inbox.next()
    assert incoming.document is not None and incoming.document.size == len(big)
    with pytest.raises(TooLarge):
        await incoming.document.download()
    assert not await tg.calls("getFile")


@pytest.mark.parametrize("platform", ["telegram"])
async def test_a_file_outside_a_flow_goes_to_the_import_handler(
    service: Service, user: User, storage: Storage
) -> None:
    [answer] = await user.document(CSV, "danh-sach.csv")
    assert answer["text"]  # the import handler's answer (to a resident: staff only)
    await processed(storage, {"user_id": user.user_id})


async def processed(storage: Storage, query: dict[str, object]) -> None:
    """Wait until the inbox entry matching `query` is marked done (right after its answer)."""
    for _ in range(100):
        entry = await storage.db["inbox"].find_one(query)
        if entry is not None and entry["status"] == "done":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"inbox entry {query} not processed: {entry}")


async def new_upload_link(service: Service, user_id: str) -> str:
    """Hand out an upload link as a flow would, and keep the conversation holding it."""
    assert service.router is not None
    services = service.router.services
    incoming = Incoming(
        platform=Platform.ZALO,
        chat_id=user_id,
        user_id=user_id,
        kind=Kind.TEXT,
        dedupe_key=f"test:{user_id}",
        date=datetime.now(UTC),
    )
    conversation = await services.conversations.get(Platform.ZALO, user_id)
    zalo = next(c for c in service.channels if c.platform is Platform.ZALO)
    ctx = Context(incoming, zalo, services, None, conversation)
    link = await upload_link(ctx)
    assert ctx.conversation.data["upload_link"]
    await services.conversations.save(ctx.conversation)
    return link


@pytest.mark.parametrize("platform", ["zalo"])
async def test_the_zalo_upload_page_stores_the_file_as_an_update_once(
    service: Service, sandbox: Sandbox, officer: User, storage: Storage, clock: FixedClock
) -> None:
    link = await new_upload_link(service, officer.user_id)
    assert (
        f"{service.settings.base_url}/tep/" in link
        and link_in({"text": f"Gửi tại {link} nhé"}) == link
    )
    async with httpx.AsyncClient() as http:
        page = await http.get(link)
        assert page.status_code == 200 and "Gửi tệp danh sách" in page.text
        assert 'type="file"' in page.text and 'accept=".xlsx,.csv"' in page.text
        assert "📤 Gửi tệp" in page.text and "no-store" in page.headers["Cache-Control"]
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        forged = await http.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
        assert forged.status_code == 410 and "hết hạn hoặc đã được dùng" in forged.text

        # Refusals that leave the link usable: too large, not a spreadsheet, no file.
        huge = await http.post(link, files={"file": ("lon.csv", b"x" * 6_000_000)})
        assert huge.status_code == 413 and "lớn hơn 5 MB" in huge.text
        pdf = await http.post(link, files={"file": ("a.pdf", b"%PDF-1.4")})
        assert pdf.status_code == 415 and "Chỉ nhận tệp Excel (.xlsx) hoặc .csv" in pdf.text
        empty = await http.post(link, files={"file": ("a.csv", b"")})
        assert empty.status_code == 400 and "Chưa chọn tệp" in empty.text
        assert (await http.post(link, json={"file": "x"})).status_code == 400
        assert (await http.post(link, data={"file": "x"})).status_code == 400
        assert (await http.post(link, content=b"--x\r\n")).status_code == 400

        async def chunks() -> AsyncIterator[bytes]:
            yield b"--x\r\n"

        unmeasured = await http.post(
            link, content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert unmeasured.status_code == 400  # no length: nothing read
        assert await storage.db["uploads"].count_documents({}) == 0

        sent = await post_upload(http, link, CSV, "C:\\Users\\can bo\\danh sách.csv")
        assert sent.status_code == 200 and "✅ Đã gửi tệp" in sent.text
        assert CSV.decode() not in sent.text  # uploads are never served back
        await officer.replies()  # the update was processed: the import handler answered
        again = await http.post(link, files={"file": ("b.csv", CSV)})
        assert again.status_code == 410
        assert (await http.get(link)).status_code == 410

    [upload] = await storage.db["uploads"].find().to_list()
    assert (upload["filename"], upload["mime"], bytes(upload["data"])) == (
        "danh sách.csv",
        "text/csv",
        CSV,
    )
    await processed(storage, {"_id": f"zl:{PAGE_FILE_EVENT}:file-{upload['_id']}"})

    # The stored event, as the Zalo adapter opens it: a document read from the uploads.
    zalo = ZaloChannel(
        SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, storage.media, "", uploads=storage.uploads
    )
    raw = page_file(
        officer.user_id, officer.user_id, upload["_id"], "danh sách.csv", len(CSV), clock.now()
    ).raw
    incoming = await zalo.open(raw)
    assert incoming is not None and incoming.kind is Kind.DOCUMENT
    assert incoming.document is not None and incoming.user_id == officer.user_id
    assert (incoming.document.filename, incoming.document.size) == ("danh sách.csv", len(CSV))
    assert incoming.document.mime == "text/csv"
    assert await incoming.document.download() == CSV
    await storage.uploads.delete(upload["_id"])
    with pytest.raises(ChannelError):
        await incoming.document.download()
    await zalo.close()


@pytest.mark.parametrize("platform", ["zalo"])
async def test_an_upload_link_expires_and_works_once_across_counting_windows(
    service: Service, officer: User, clock: FixedClock
) -> None:
    assert service.router is not None
    services = service.router.services
    clock.set(datetime(2026, 11, 27, 2, 55, tzinfo=UTC))
    link = await new_upload_link(service, officer.user_id)
    token = link.rsplit("/", 1)[1]
    target = await upload_target(services, token)
    assert target is not None and (target.user_id, target.chat_id) == (officer.user_id,) * 2
    assert target.platform is Platform.ZALO and target.language == "vi"
    clock.set(datetime(2026, 11, 27, 2, 59, 50, tzinfo=UTC))
    assert await use_upload_link(services, token) == target
    clock.set(datetime(2026, 11, 27, 3, 0, 10, tzinfo=UTC))  # a new hour: a new counter
    assert await use_upload_link(services, token) is None
    assert await upload_target(services, token) is None

    fresh = (await new_upload_link(service, officer.user_id)).rsplit("/", 1)[1]
    clock.set(clock.now() + timedelta(minutes=31))
    assert await upload_target(services, fresh) is None
    async with httpx.AsyncClient() as http:
        expired = await opened(http, link)
        assert expired.status_code == 410


@pytest.mark.parametrize("platform", ["zalo"])
async def test_an_upload_link_is_only_for_staff(service: Service, user: User) -> None:
    assert service.router is not None
    token = (await new_upload_link(service, user.user_id)).rsplit("/", 1)[1]
    assert await upload_target(service.router.services, token) is None


@pytest.mark.parametrize("platform", ["zalo"])
async def test_the_page_in_a_browser_sends_the_chosen_file(
    service: Service, officer: User, storage: Storage
) -> None:
    link = await new_upload_link(service, officer.user_id)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page(locale="vi-VN")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await page.locator('input[type="file"]').set_input_files(
            {"name": "danh-sach.csv", "mimeType": "text/csv", "buffer": CSV}
        )
        await page.get_by_role("button", name="📤 Gửi tệp").click()
        await expect(page.locator("body")).to_contain_text("Đã gửi tệp", timeout=10_000)
        await browser.close()
    assert errors == []
    await officer.replies()
    [upload] = await storage.db["uploads"].find().to_list()
    assert (upload["filename"], bytes(upload["data"])) == ("danh-sach.csv", CSV)
