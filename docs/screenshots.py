"""Screenshots of the README walkthrough: `.venv/bin/python docs/screenshots.py`.

Starts the bot the way `make run` does (`python -m bot`, sandbox mode, in a subprocess) with a
temporary DATA_DIR and free ports, drives the sandbox chat page in Debian's headless Chromium and
writes PNGs to docs/screenshots/. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from io import BytesIO
from pathlib import Path

from PIL import Image
from playwright.async_api import Browser, Locator, Page, ViewportSize, async_playwright, expect
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
DESKTOP = ViewportSize(width=1100, height=720)
PHONE = ViewportSize(width=390, height=800)
START_TIMEOUT_S = 120.0
STEP_TIMEOUT_MS = 30_000
PAGE_LINE = re.compile(r"Sandbox chat page: (\S+)")

LAN = "Bà Nguyễn Thị Lan"
MINH = "Ông Trần Văn Minh"
OFFICER = "Cán bộ y tế xã Tân Hội"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_bot(data_dir: Path) -> Iterator[str]:
    """`python -m bot` in sandbox mode; yields the chat page's URL, stops the bot afterwards."""
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SANDBOX_PORT": str(free_port()),
        "HTTP_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    for key in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "MONGODB_URI"):
        env.pop(key, None)
    dotenv = ROOT / ".env"
    configured = re.compile(r"^(TELEGRAM_BOT_TOKEN|ZALO_BOT_TOKEN|MONGODB_URI)=\S", re.M)
    if dotenv.exists() and configured.search(dotenv.read_text()):
        raise SystemExit(".env sets a token or MONGODB_URI: screenshots need the bare sandbox")
    log = (data_dir / "bot.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if match := PAGE_LINE.search(line):
                url = match[1]
                break
        if not url:
            raise RuntimeError(f"the bot exited without a page URL; see {data_dir / 'bot.log'}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def selfie() -> bytes:
    """A face photo: the head of scikit-image's astronaut sample."""
    astronaut = data.astronaut()  # type: ignore[no-untyped-call]
    head = Image.fromarray(astronaut).convert("RGB").crop((120, 10, 320, 230))
    out = BytesIO()
    head.resize((400, 440)).save(out, "JPEG", quality=85)
    return out.getvalue()


async def shoot(target: Page | Locator, name: str) -> None:
    """Save a PNG under docs/screenshots/ (fonts and images loaded first)."""
    page = target if isinstance(target, Page) else target.page
    await page.wait_for_timeout(400)
    path = OUT / f"{name}.png"
    shot = Image.open(BytesIO(await target.screenshot()))
    # 256 colours keep text sharp and each file well under 150 KB.
    shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True
    )
    print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")


def last_bot(page: Page) -> Locator:
    """The newest bot message."""
    return page.get_by_test_id("bot-message").last


async def pick_user(page: Page, name: str) -> None:
    """Select a simulated user in the sidebar."""
    item = page.get_by_test_id("user-item").filter(has_text=name)
    if await item.is_visible():
        await item.click()
    else:  # the phone shot hides the sidebar
        await item.dispatch_event("click")
    await expect(page.get_by_test_id("chat-title")).to_contain_text(name)


async def say(page: Page, text: str) -> None:
    """Type and send a message."""
    count = await page.get_by_test_id("bot-message").count()
    await page.get_by_test_id("message-input").fill(text)
    await page.get_by_test_id("message-input").press("Enter")
    await expect(page.get_by_test_id("user-message").last).to_contain_text(text)
    await expect(page.get_by_test_id("bot-message")).not_to_have_count(count)


async def tap(page: Page, label: str) -> None:
    """Tap the inline button with this label on the newest bot message offering it."""
    button = page.get_by_test_id("inline-button").filter(has_text=label).last
    await expect(button).to_be_visible()
    count = await page.get_by_test_id("bot-message").count()
    await button.click()
    await expect(page.get_by_test_id("bot-message")).not_to_have_count(count)


async def choose(page: Page, label: str) -> None:
    """Zalo has no buttons: answer the newest numbered list with the number of `label`."""
    try:
        await expect(last_bot(page)).to_contain_text(label)
    except AssertionError:
        print(await page.get_by_test_id("messages").inner_text())
        raise
    text = await last_bot(page).get_by_test_id("message-text").inner_text()
    number = re.search(rf"^(\d+)\. .*{re.escape(label)}", text, re.MULTILINE)
    assert number, f"{label!r} is not a numbered option of: {text}"
    await say(page, number[1])


async def jump(page: Page, to: str) -> None:
    """The header clock: jump to a time today."""
    await page.get_by_test_id("clock-to").fill(to)
    await page.get_by_test_id("clock-jump").click()
    await expect(page.get_by_test_id("clock-now")).to_contain_text(to)


@asynccontextmanager
async def open_page(browser: Browser, url: str, viewport: ViewportSize) -> AsyncIterator[Page]:
    """The chat page in a fresh browser context."""
    context = await browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport=viewport
    )
    page = await context.new_page()
    await page.goto(url)
    try:
        yield page
    finally:
        await context.close()


async def walkthrough(browser: Browser, url: str) -> None:
    """The README's steps, one screenshot each."""
    async with open_page(browser, url, DESKTOP) as desk:
        # Before seeding: the case then starts at 06:30, in the open morning window (06:00–08:00).
        await jump(desk, "06:30")
        await desk.get_by_test_id("demo").click()
        await expect(desk.get_by_test_id("status")).to_contain_text("Dữ liệu mẫu", timeout=120_000)
        await say(desk, "/cases")
        await shoot(desk, "1-demo-cases")

        # The resident declares, with symptoms, on a phone screen.
        async with open_page(browser, url, PHONE) as phone:
            # On a phone the page is one column, users above the chat: show the chat only.
            await phone.add_style_tag(content=".sidebar { display: none; }")
            await pick_user(phone, LAN)
            await say(phone, "/khaibao")
            await tap(phone, "Có triệu chứng")
            await tap(phone, "Có")  # fever
            await say(phone, "38,5")
            for _ in ("cough", "breath", "throat", "taste_smell", "fatigue"):
                await tap(phone, "Không")
            await tap(phone, "Không có")  # nothing else
            count = await phone.get_by_test_id("bot-message").count()
            await phone.get_by_test_id("photo-input").set_input_files(
                {"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": selfie()}
            )
            await expect(phone.get_by_test_id("bot-message")).not_to_have_count(count)
            await expect(phone.get_by_test_id("messages")).to_contain_text("Mã biên nhận")
            await shoot(phone.locator(".chat"), "2-resident-declares-phone")

        # The officer was paged: name, answers, the selfie; «Đã tiếp nhận» takes it over.
        await pick_user(desk, OFFICER)
        ack = desk.get_by_test_id("inline-button").filter(has_text="Đã tiếp nhận").last
        await expect(ack).to_be_visible(timeout=STEP_TIMEOUT_MS)
        await expect(desk.get_by_test_id("message-photo").last).to_be_visible()
        paged = desk.get_by_test_id("bot-message").filter(has_text="CÓ TRIỆU CHỨNG").last
        await paged.evaluate("(node) => node.scrollIntoView({block: 'start'})")
        await shoot(desk, "3-officer-paged")
        await ack.click()
        await expect(desk.get_by_test_id("messages")).to_contain_text("đã tiếp nhận lúc")

        # The clock: the midday window opens (reminder), then its deadline passes (missed).
        await pick_user(desk, LAN)
        await jump(desk, "11:00")
        await expect(desk.get_by_test_id("messages")).to_contain_text(
            "Đã đến giờ khai báo", timeout=STEP_TIMEOUT_MS
        )
        await jump(desk, "12:35")
        await expect(desk.get_by_test_id("messages")).to_contain_text(
            "nữa là hết hạn", timeout=STEP_TIMEOUT_MS
        )
        await jump(desk, "13:05")
        await expect(desk.get_by_test_id("messages")).to_contain_text(
            "chưa có khai báo", timeout=STEP_TIMEOUT_MS
        )
        await shoot(desk, "4-clock-reminder-missed")
        await pick_user(desk, OFFICER)
        await expect(last_bot(desk)).to_contain_text("Nguyễn Thị Lan", timeout=STEP_TIMEOUT_MS)
        await shoot(desk, "5-officer-ack-missed")

        # Zalo: the officer enrols Mr Minh; on Zalo he sends the code instead of opening a link.
        await say(desk, "/enroll")
        await say(desk, "Trần Văn Minh")
        await say(desk, "0912 000 004")
        await say(desk, "Số 9, ấp Tân Hội")
        await tap(desk, "Tân Hội")
        await tap(desk, "Hôm nay")
        await tap(desk, "Đến hết")
        await tap(desk, "Cuộc trò chuyện này")
        await tap(desk, "Tạo ca")
        await expect(desk.get_by_test_id("messages")).to_contain_text("nhắn mã")
        text = await desk.get_by_test_id("messages").inner_text()
        codes = re.findall(r"nhắn mã (\S+) cho bot Zalo", text)
        assert codes, "no Zalo code in the invitation"
        await expect(desk.get_by_test_id("message-photo").last).to_be_visible()
        await shoot(desk, "6-invitation-link-qr-code")

        await desk.get_by_test_id("platform-zalo").click()
        await pick_user(desk, MINH)
        await say(desk, codes[-1])
        await expect(last_bot(desk)).to_contain_text("Tiếng Việt")
        await shoot(desk, "7-zalo-code")
        await choose(desk, "Tiếng Việt")
        await choose(desk, "Đồng ý")
        await expect(last_bot(desk)).to_contain_text("số điện thoại")
        await say(desk, "0912 000 004")
        await choose(desk, "Đúng, xác nhận")
        await expect(desk.get_by_test_id("messages")).to_contain_text("đang được theo dõi")
        await shoot(desk, "8-zalo-registered")


async def main() -> None:
    """Start the bot, take the screenshots, stop the bot."""
    OUT.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with tempfile.TemporaryDirectory(prefix="khaibao-shots-") as tmp, running_bot(Path(tmp)) as url:
        print(f"sandbox page: {url}")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                await walkthrough(browser, url)
            finally:
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
