"""The sandbox page as a newcomer meets it: the Demo button, links, hints, times, a phone screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from bot.app import Service
from core.channel import Platform
from sandbox.client import SandboxClient
from sandbox.demo import OFFICER, PEOPLE, Chat, enrol
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Database
from tests.test_browser import add_user, browser, last_bot_message, say

__all__ = ["browser"]  # the module's Chromium fixture, shared with the chat-page tests

SEEDING_TIMEOUT_MS = 60_000
PHONE_SCREEN = ViewportSize(width=375, height=667)
# Pages are opened in a browser zone far from the bot's, so the shown times must be converted.
BROWSER_ZONE = "America/New_York"


@pytest.fixture
def seedable(sandbox: Sandbox, service: Service, mongo_uri: str, db: Database) -> Sandbox:
    """The sandbox with its Demo button's staff CLI pointed at this test's database."""
    sandbox.control.demo.cli_env = {"MONGODB_URI": mongo_uri, "MONGODB_DB": db.name}
    return sandbox


@asynccontextmanager
async def open_page(
    browser: Browser, sandbox: Sandbox, viewport: ViewportSize
) -> AsyncIterator[Page]:
    """The chat page in a new context of this size; it must not throw."""
    context = await browser.new_context(locale="vi-VN", timezone_id=BROWSER_ZONE, viewport=viewport)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(sandbox.page_url)
    yield page
    await context.close()
    assert errors == [], f"the page threw: {errors}"


@pytest.fixture
async def desk(browser: Browser, seedable: Sandbox) -> AsyncIterator[Page]:
    """The page on a desktop screen."""
    async with open_page(browser, seedable, ViewportSize(width=1280, height=900)) as page:
        yield page


@pytest.fixture
async def phone(browser: Browser, seedable: Sandbox) -> AsyncIterator[Page]:
    """The page on a 375×667 phone screen."""
    async with open_page(browser, seedable, PHONE_SCREEN) as page:
        yield page


async def seed(page: Page) -> None:
    """Click Demo and wait until the page reports the seeded people."""
    await page.get_by_test_id("demo").click()
    status = page.get_by_test_id("status")
    await expect(status).to_contain_text("Dữ liệu mẫu", timeout=SEEDING_TIMEOUT_MS)
    await expect(page.get_by_test_id("demo")).to_be_enabled()


async def test_demo_button_seeds_staff_residents_and_a_case(desk: Page, storage: Storage) -> None:
    await seed(desk)
    await seed(desk)  # a second click finds everything in place

    users = desk.get_by_test_id("user-item")
    await expect(users).to_have_count(len(PEOPLE))
    for person, item in zip(PEOPLE, await users.all(), strict=True):
        await expect(item).to_contain_text(person.name)
        await expect(item.get_by_test_id("user-id")).to_have_text(f"id {person.telegram_id}")
    await expect(desk.get_by_test_id("chat-title")).to_contain_text(OFFICER.name)

    await say(desk, "/cases")
    await expect(last_bot_message(desk)).to_contain_text("Nguyễn Thị Lan")
    assert len(await storage.cases.active(None)) == 1

    [factory] = await storage.orgs.list("tan-hoi")
    assert [c.name for c in await storage.checkpoints.of_org(factory.id)] == ["Nhà ăn ca 1"]

    await users.filter(has_text="Bà Nguyễn Thị Lan").click()
    await expect(desk.get_by_test_id("messages")).to_contain_text("Đăng ký thành công")


async def test_a_deep_link_in_a_message_opens_the_chat_with_start(
    desk: Page, seedable: Sandbox
) -> None:
    await seed(desk)
    client = SandboxClient(seedable.url, "telegram")
    try:
        await enrol(Chat(client, OFFICER), "Trần Văn Minh", "0912 000 004", "Số 9, ấp Tân Hội")
    finally:
        await client.aclose()
    invitation = desk.get_by_test_id("message-link").filter(has_text="?start=inv_")
    await expect(desk.get_by_test_id("message-photo").last).to_be_visible()
    await desk.wait_for_function(
        "(box) => box.scrollTop + box.clientHeight >= box.scrollHeight - 1",
        arg=await desk.get_by_test_id("messages").element_handle(),
    )

    await invitation.click()

    await expect(desk.get_by_test_id("user-message").last).to_contain_text("/start inv_")
    await expect(desk.get_by_test_id("messages")).to_contain_text("được mời khai báo")


async def test_an_empty_chat_says_how_to_begin_and_times_are_the_bots(
    desk: Page, seedable: Sandbox
) -> None:
    sim_id = await add_user(desk, Platform.TELEGRAM, "Chi")
    hint = desk.get_by_test_id("empty-hint")
    await expect(hint).to_contain_text("Gõ /start để bắt đầu")
    await expect(hint).to_contain_text("Type /start to begin")

    await say(desk, "/start")

    await expect(hint).to_have_count(0)
    welcome = desk.get_by_test_id("bot-message").first
    await expect(welcome).to_contain_text("khai báo y tế")
    [chi] = [user for user in seedable.users.all() if user["id"] == sim_id]
    client = SandboxClient(seedable.url, "telegram")
    try:
        [sent, *_] = await client.messages(chi["telegram_id"])
    finally:
        await client.aclose()
    local = datetime.fromtimestamp(sent["date"], UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    await expect(welcome.get_by_test_id("message-time")).to_have_text(local.strftime("%H:%M"))


async def test_the_page_fits_a_phone_screen(phone: Page) -> None:
    await seed(phone)
    await say(phone, "https://example.org/" + "a-very-long-path-without-spaces" * 4)
    await expect(phone.get_by_test_id("message-link").last).to_have_attribute("target", "_blank")

    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_SCREEN["width"], f"horizontal scroll: {width}px"
    sidebar = await phone.locator(".sidebar").bounding_box()
    chat = await phone.locator(".chat").bounding_box()
    assert sidebar and chat and chat["y"] >= sidebar["y"] + sidebar["height"] - 1, "not one column"
    for testid in ("message-input", "send", "demo"):
        await expect(phone.get_by_test_id(testid)).to_be_in_viewport()
