"""The demo walked through the sandbox page in Chromium, as a person clicks it, on Telegram and
Zalo: a resident registers, the commune's officer enrols her, she declares on time with her
position and a retaken selfie, then reports a fever; the officer takes the symptom page over
(edited in place on Telegram; Zalo cannot edit, so the taken page comes as a new message).

With symptoms the bot keeps the first photo, clear or not (staff are not kept waiting), so the
retake is shown in the on-time declaration without symptoms and the page comes from the fever."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Dialog,
    FilePayload,
    Geolocation,
    Locator,
    Page,
    expect,
)

from core.channel import Platform
from core.clock import FixedClock
from core.models import Role, Staff
from sandbox.demo import OFFICER
from sandbox.server import Sandbox
from storage.database import Storage
from tests.conftest import at
from tests.images import ASTRONAUT, HEAD, encode, sample
from tests.test_browser import add_user, choose, last_bot_message, say, share_contact
from tests.test_demo import browser, seed, seedable

__all__ = ["browser", "seedable"]  # the Chromium and Demo fixtures of the other page tests

NAME, PHONE, ADDRESS, AREA = "Lê Thị Hoa", "0987 111 222", "Số 12, ấp Tân Hội", "Xã Tân Hội"
HOME = Geolocation(latitude=10.776, longitude=106.700, accuracy=20.0)
NO_FACE = encode(sample("coffee"))
FACE = encode(ASTRONAUT, quality=92)
# Her second selfie: the same face, another shot (a re-sent photo would be flagged as re-used).
ANOTHER_SHOT = encode(HEAD.resize((400, 440)), quality=90)
ZALO_OFFICER_ID = "b2c3d4e5f6a700112233"


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A phone's browser in Vietnam, which lets pages read its position (at the resident's)."""
    opened = await browser.new_context(
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        viewport={"width": 1280, "height": 900},
        geolocation=HOME,
        permissions=["geolocation"],
    )
    yield opened
    await opened.close()


@pytest.fixture
async def page(context: BrowserContext, seedable: Sandbox) -> AsyncIterator[Page]:
    """The sandbox chat page, with the bot polling behind it; no script errors."""
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(seedable.page_url)
    yield opened
    assert errors == [], f"the page threw: {errors}"


async def select(page: Page, name: str) -> None:
    """Open this user's chat from the list."""
    await page.get_by_test_id("user-item").filter(has_text=name).click()
    await expect(page.get_by_test_id("chat-title")).to_contain_text(name)


async def answer(page: Page, question: str, text: str) -> None:
    """Wait for the bot's question, then type the answer."""
    await expect(last_bot_message(page)).to_contain_text(question)
    await say(page, text)


async def pick(page: Page, platform: Platform, question: str, label: str) -> None:
    """Wait for the bot's question, then pick one of its options."""
    await expect(last_bot_message(page)).to_contain_text(question)
    await choose(page, platform, label)


async def send_photo(page: Page, photo: bytes) -> None:
    """Attach a photo with the camera button's file picker."""
    photos = page.locator('[data-testid="user-message"][data-kind="photo"]')
    before = await photos.count()
    await page.get_by_test_id("photo-input").set_input_files(
        files=FilePayload(name="selfie.jpg", mimeType="image/jpeg", buffer=photo)
    )
    await expect(photos).to_have_count(before + 1)


async def officer_of_tan_hoi(
    page: Page, platform: Platform, storage: Storage, clock: FixedClock
) -> str:
    """The commune's health officer: the Demo's on Telegram; on Zalo, one added as staff."""
    if platform is Platform.TELEGRAM:
        await seed(page)
        return OFFICER.name
    await storage.staff.add(
        Staff(
            platform=platform,
            user_id=ZALO_OFFICER_ID,
            role=Role.HEALTH_OFFICER,
            areas=["tan-hoi"],
            added_by="test",
            added_at=clock.now(),
        )
    )
    await page.get_by_test_id("new-user-id").fill(ZALO_OFFICER_ID)
    await add_user(page, platform, OFFICER.name)
    return OFFICER.name


async def register(page: Page, platform: Platform) -> None:
    """A new resident signs up: language, consent, name, phone, commune, confirmation."""
    await add_user(page, platform, NAME)
    await say(page, "/start" if platform is Platform.TELEGRAM else "Xin chào")
    await expect(page.get_by_test_id("messages")).to_contain_text("khai báo y tế")
    await choose(page, platform, "🇻🇳 Tiếng Việt")
    await pick(page, platform, "Thông báo về thông tin cá nhân", "✅ Đồng ý")
    await answer(page, "họ và tên", NAME)
    await expect(last_bot_message(page)).to_contain_text("số điện thoại")
    if platform is Platform.TELEGRAM:
        await share_contact(page, PHONE)
    else:  # Zalo cannot share a contact: the number is typed
        await say(page, PHONE)
    await pick(page, platform, "Hiện đang ở xã, thị trấn nào?", AREA)
    await pick(page, platform, PHONE, "✅ Đúng, xác nhận")
    await expect(page.get_by_test_id("messages")).to_contain_text("Đăng ký thành công")


async def enrol(page: Page, platform: Platform) -> Locator:
    """The officer answers /enroll for the resident; returns the bot's answer to "Tạo ca"."""
    await say(page, "/enroll")
    await answer(page, "Họ và tên người cách ly", NAME)
    await answer(page, "Số điện thoại của người cách ly", PHONE)
    await answer(page, "Địa chỉ nơi cách ly", ADDRESS)
    await pick(page, platform, "Xã, thị trấn nơi cách ly", AREA)
    await pick(page, platform, "Ngày bắt đầu cách ly", "Hôm nay (27/11/2026)")
    await pick(page, platform, "Ngày kết thúc cách ly", "Đến hết 10/12/2026 (14 ngày)")
    await pick(page, platform, "Cảnh báo triệu chứng của ca này gửi về đâu", "Cuộc trò chuyện này")
    await pick(page, platform, "Tạo ca cách ly?", "✅ Tạo ca")
    created = page.get_by_test_id("bot-message").filter(has_text="Đã tạo ca cách ly số")
    await expect(created).to_have_count(1)
    return created


async def open_invitation(page: Page, code: str) -> None:
    """On Zalo the registered resident sends the code and proves the enrolled phone."""
    await say(page, code)
    await answer(page, "nhập số điện thoại mà cán bộ y tế đã ghi", PHONE)


async def declare_on_time(page: Page, platform: Platform) -> None:
    """/khaibao with no symptoms: the selfie question comes with the location request."""
    await say(page, "/khaibao")
    await pick(page, platform, "có triệu chứng nào không", "✅ Không có triệu chứng nào")


async def report_fever(page: Page, platform: Platform) -> None:
    """«🤒 Tôi thấy không khỏe» from the menu: a fever of 38.5 °C and nothing else."""
    await choose(page, platform, "🤒 Tôi thấy không khỏe")
    await pick(page, platform, "Hiện có bị sốt không?", "Có")
    await answer(page, "Nhiệt độ cơ thể", "38,5")
    for question in ("bị ho", "khó thở", "đau họng", "mất vị giác", "mệt mỏi"):
        await pick(page, platform, question, "Không")
    await pick(page, platform, "Còn triệu chứng nào khác không?", "Không có")


async def share_position(page: Page, platform: Platform) -> None:
    """Confirm where she is, the platform's way, and see the bot take it."""
    if platform is Platform.TELEGRAM:
        await share_position_on_telegram(page)
    else:
        await share_position_on_zalo(page)
    await expect(last_bot_message(page)).to_contain_text("Đã nhận vị trí")


async def share_position_on_telegram(page: Page) -> None:
    """Tap the location key and type the position into the prompt it opens."""
    prompts: list[str] = []

    async def accept(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        await dialog.accept(f"{HOME['latitude']}, {HOME['longitude']}")

    key = page.get_by_test_id("share-location")
    await expect(key).to_have_text("📍 Gửi vị trí hiện tại")
    page.once("dialog", accept)
    await key.click()
    await expect(page.get_by_test_id("user-message").last).to_have_attribute(
        "data-kind", "location"
    )
    assert prompts == ["Vị trí “vĩ độ, kinh độ” (latitude, longitude):"]


async def share_position_on_zalo(page: Page) -> None:
    """Open the message's one-time link in a new page of the phone's browser, tap its button."""
    prompt = last_bot_message(page)
    await expect(prompt).to_contain_text("mở liên kết sau và bấm «Gửi vị trí»")
    async with page.context.expect_page() as opening:
        await prompt.get_by_test_id("message-link").filter(has_text="/vitri/").click()
    location = await opening.value
    errors: list[str] = []
    location.on("pageerror", lambda error: errors.append(str(error)))
    await expect(location.get_by_role("heading")).to_have_text("Xác nhận nơi cách ly")
    await location.get_by_role("button", name="📍 Gửi vị trí").click()
    await expect(location.get_by_role("status")).to_contain_text("Đã gửi vị trí")
    await location.close()
    assert errors == [], f"the location page threw: {errors}"


async def take_the_page_over(page: Page, platform: Platform, receipt: str) -> None:
    """The officer takes the symptom page: its button on Telegram, /ack on Zalo."""
    pages = page.get_by_test_id("bot-message").filter(has_text="🚨 CÓ TRIỆU CHỨNG")
    alert = pages.first
    await expect(pages).to_have_count(1)
    await expect(alert).to_contain_text(NAME)
    await expect(alert).to_contain_text("Nhiệt độ: 38,5 °C")
    await expect(alert).not_to_contain_text("đã tiếp nhận lúc")
    if platform is Platform.TELEGRAM:
        message_id = await alert.get_attribute("data-message-id")
        await alert.get_by_test_id("inline-button").filter(has_text="✔️ Đã tiếp nhận").click()
        edited = page.locator(f'[data-testid="bot-message"][data-message-id="{message_id}"]')
        await expect(edited).to_contain_text("đã tiếp nhận lúc 11:45")
        await expect(edited).to_have_attribute("data-edited", "true")
        await expect(edited.get_by_test_id("inline-button")).to_have_count(0)
        await expect(pages).to_have_count(1)
    else:  # Zalo cannot edit a sent message: the page comes again, taken
        await expect(alert).to_contain_text(f"/ack {receipt}")
        await say(page, f"/ack {receipt}")
        await expect(pages).to_have_count(2)
        taken = pages.last
        await expect(taken).to_contain_text("đã tiếp nhận lúc 11:45")
        await expect(taken).not_to_contain_text("/ack")
        await expect(alert).not_to_contain_text("đã tiếp nhận lúc")
    await expect(page.get_by_test_id("messages")).to_contain_text(
        f"Đã tiếp nhận cảnh báo {receipt}"
    )


@pytest.mark.parametrize("platform", [Platform.TELEGRAM, Platform.ZALO])
async def test_register_enrol_declare_and_take_the_page_over(
    page: Page, platform: Platform, storage: Storage, clock: FixedClock
) -> None:
    officer = await officer_of_tan_hoi(page, platform, storage, clock)
    await register(page, platform)

    await select(page, officer)
    created = await enrol(page, platform)
    if platform is Platform.TELEGRAM:  # her phone was her own shared contact: no invitation
        await expect(created).to_contain_text("Người này đã dùng bot")
        await select(page, NAME)
    else:  # a typed phone proves nothing: she gets the code
        await expect(created).to_contain_text("Zalo: nhắn mã")
        code = re.search(r"\bKB[A-Z0-9]{8}\b", await created.inner_text())
        assert code, "no Zalo code in the invitation"
        await select(page, NAME)
        await open_invitation(page, code[0])
    await expect(page.get_by_test_id("messages")).to_contain_text(
        "đang được theo dõi cách ly y tế tại nhà"
    )

    clock.set(at(11, 30))  # the 13:00 window is open
    await declare_on_time(page, platform)
    await share_position(page, platform)
    await send_photo(page, NO_FACE)
    await expect(last_bot_message(page)).to_contain_text("Chưa thấy rõ khuôn mặt")
    await send_photo(page, FACE)
    receipt = last_bot_message(page)
    await expect(receipt).to_contain_text("Tình trạng: đúng hạn")
    await expect(receipt).to_contain_text("📍")

    clock.set(at(11, 45))  # then she feels feverish: staff are paged at once
    await report_fever(page, platform)
    await share_position(page, platform)
    await send_photo(page, ANOTHER_SHOT)
    receipt = last_bot_message(page)
    await expect(receipt).to_contain_text("Tình trạng: khai báo thêm")
    await expect(receipt).to_contain_text("Cán bộ y tế đã được báo")
    number = re.search(r"Mã biên nhận: (\w+)", await receipt.inner_text())
    assert number, "no receipt number"

    await select(page, officer)
    await take_the_page_over(page, platform, number[1])
