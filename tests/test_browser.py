"""The sandbox chat page in headless Chromium: a person registers on Telegram and on Zalo."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Locator, Page, async_playwright, expect

from bot.app import Service
from core.channel import Platform
from sandbox.server import Sandbox
from sandbox.telegram_api import BOT_USERNAME
from storage.database import Storage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
EXPECT_TIMEOUT_MS = 10_000
NAME, PHONE, AREA = "Nguyễn Văn An", "0912 345 678", "Xã Suối Dây"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium for this module; without it the tests fail, never skip."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's Chromium "
            "(`make test` installs it; or `apt-get install chromium`)",
            pytrace=False,
        )
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, sandbox: Sandbox, service: Service) -> AsyncIterator[Page]:
    """The sandbox chat page, with the bot polling the emulators behind it; no script errors."""
    context = await browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport={"width": 1280, "height": 900}
    )
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(sandbox.page_url)
    yield opened
    await context.close()
    assert errors == [], f"the page threw: {errors}"


def last_bot_message(page: Page) -> Locator:
    """The newest message from the bot."""
    return page.get_by_test_id("bot-message").last


async def add_user(page: Page, platform: Platform, name: str) -> str:
    """Switch to the platform, add a user with this display name; return its sandbox id."""
    switch = page.get_by_test_id(f"platform-{platform}")
    await switch.click()
    await expect(switch).to_have_attribute("aria-pressed", "true")
    await page.get_by_test_id("new-user-name").fill(name)
    await page.get_by_test_id("new-user").click()
    selected = page.locator('[data-testid="user-item"][aria-selected="true"]')
    await expect(selected).to_contain_text(name)
    await expect(page.get_by_test_id("chat-title")).to_contain_text(name)
    user_id = await selected.get_attribute("data-user-id")
    assert user_id, "the selected user has no data-user-id"
    return user_id


async def say(page: Page, text: str) -> None:
    """Type a message into the composer and press Enter."""
    await page.get_by_test_id("message-input").fill(text)
    await page.get_by_test_id("message-input").press("Enter")
    await expect(page.get_by_test_id("user-message").last).to_contain_text(text.strip())


async def choose(page: Page, platform: Platform, label: str) -> None:
    """Pick an option of the bot's last message: tap its button, or type its number on Zalo."""
    message = last_bot_message(page)
    await expect(message).to_contain_text(label)
    if platform is Platform.TELEGRAM:
        await message.get_by_test_id("inline-button").filter(has_text=label).click()
        return
    text = await message.get_by_test_id("message-text").inner_text()
    number = re.search(rf"^(\d+)\. {re.escape(label)}$", text, re.MULTILINE)
    assert number, f"{label!r} is not a numbered option of: {text}"
    await say(page, number[1])


async def share_contact(page: Page, phone: str) -> None:
    """Tap the share-contact button and type the number into the prompt it opens."""
    prompts: list[str] = []

    async def answer(dialog: Dialog) -> None:
        prompts.append(f"{dialog.type}: {dialog.message} [{dialog.default_value}]")
        await dialog.accept(phone)

    page.once("dialog", answer)
    await page.get_by_test_id("share-contact").click()
    await expect(page.get_by_test_id("user-message").last).to_contain_text(phone)
    assert prompts == ["prompt: Số điện thoại của bạn (Phone number): [+84]"]


@pytest.mark.parametrize("platform", [Platform.TELEGRAM, Platform.ZALO])
async def test_resident_registers_through_the_page(
    page: Page, platform: Platform, sandbox: Sandbox, storage: Storage, tmp_path: Path
) -> None:
    sim_id = await add_user(page, platform, "An")

    await say(page, "/start" if platform is Platform.TELEGRAM else "Xin chào")
    await expect(page.get_by_test_id("messages")).to_contain_text("khai báo y tế")
    await choose(page, platform, "🇻🇳 Tiếng Việt")
    await expect(last_bot_message(page)).to_contain_text("Thông báo về thông tin cá nhân")
    await choose(page, platform, "✅ Đồng ý")
    await expect(last_bot_message(page)).to_contain_text("họ và tên")
    await say(page, f"  {NAME} ")
    await expect(last_bot_message(page)).to_contain_text("số điện thoại")
    if platform is Platform.TELEGRAM:
        await share_contact(page, PHONE)
    else:  # Zalo cannot ask for a contact: the number is typed
        await expect(page.get_by_test_id("share-contact")).to_have_count(0)
        await say(page, PHONE)
    await choose(page, platform, AREA)
    await expect(last_bot_message(page)).to_contain_text(NAME)
    await expect(last_bot_message(page)).to_contain_text("0912 345 678")
    await choose(page, platform, "✅ Đúng, xác nhận")
    await expect(page.get_by_test_id("messages")).to_contain_text("Đăng ký thành công")
    await expect(last_bot_message(page)).to_contain_text("👤 Thông tin của tôi")
    await expect(page.get_by_test_id("share-contact")).to_have_count(0)
    await expect(page.get_by_test_id("status")).not_to_have_class(re.compile(r"\berror\b"))
    await page.screenshot(path=tmp_path / f"registered-{platform}.png")

    [sim] = [user for user in sandbox.users.all() if user["id"] == sim_id]
    account = await storage.accounts.get(platform, sim[f"{platform}_id"])
    assert account is not None and account.language == "vi"
    person = await storage.people.get(account.person_id)
    assert person is not None
    assert (person.name, person.phone, person.area) == (NAME, "+84912345678", "suoi-day")


async def test_telegram_deep_link_with_a_bad_code_is_refused(page: Page, tmp_path: Path) -> None:
    await add_user(page, Platform.TELEGRAM, "Bình")

    await page.get_by_test_id("deeplink-input").fill(
        f"https://t.me/{BOT_USERNAME}?start=bad_payload"
    )
    await page.get_by_test_id("deeplink-open").click()

    await expect(page.get_by_test_id("user-message").last).to_contain_text("/start bad_payload")
    await expect(page.get_by_test_id("messages")).to_contain_text("Mã này không hợp lệ")
    await expect(page.get_by_test_id("deeplink-input")).to_have_value("")
    await page.screenshot(path=tmp_path / "deep-link.png")
