"""Confirming the quarantine place: a one-tap position with each declaration (the location key
on Telegram, a one-time page of ours on Zalo), compared with the home position; the modes
off / ask / require; the home proposed by the resident and confirmed by staff; erasure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from bot.app import Service
from bot.config import Settings
from bot.selfies import SelfiePool
from core.clock import FixedClock
from core.geo import (
    Check,
    LocationRules,
    Point,
    allowed_m,
    at_home,
    distance_m,
    parse_areas,
    parse_point,
)
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, location_link, opened
from tests.conftest import at, sandbox_settings
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_quarantine import SELFIE, enrol, open_invite, up_to_the_confirmation

HOME = (10.776, 106.700)
NEXT_DOOR = (10.7762, 106.7003)  # about 40 m away
ACROSS_TOWN = (10.7868, 106.700)  # about 1.2 km north


@pytest.fixture
async def service(
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    selfie_pool: SelfiePool,
) -> AsyncIterator[Service]:
    """The bot with this test's location settings (`indirect` parameters)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings: Settings = sandbox_settings(sandbox, **overrides)
    running = Service(settings, storage, clock, selfies=selfie_pool, run_scheduler=False)
    await running.start()
    yield running
    await running.stop()


async def resident_of(sandbox: Sandbox, officer: User, platform: str) -> User:
    """Lê Thị Hoa, enrolled without a home position and registered, at 11:30."""
    resident = User(sandbox.url, platform, "300003" if platform == "telegram" else "c3d4e5f6")
    payload, code = await enrol(officer)
    await open_invite(resident, payload, code)
    return resident


async def selfie_prompt(resident: User) -> dict[str, Any]:
    """Start a declaration without symptoms; returns the selfie question."""
    await resident.says("/khaibao")
    [prompt] = await resident.choose("✅ Không có triệu chứng nào")
    return prompt


def keys_of(message: dict[str, Any]) -> list[str]:
    """The reply-keyboard keys of a Telegram message."""
    return [key["label"] for row in message["keyboard"] for key in row]


@pytest.mark.parametrize("platform", ["telegram"])
async def test_telegram_at_home_then_away_is_flagged(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(11, 30))
    await up_to_the_confirmation(officer)
    [pin] = await officer.choose("📍 Thêm vị trí nơi cách ly")
    assert "10.776, 106.700" in pin["text"]
    saved, _confirm = await officer.send(2, location={"latitude": HOME[0], "longitude": HOME[1]})
    assert "10.77600, 106.70000" in saved["text"]
    invite, _qr = await officer.choose("✅ Tạo ca", 2)
    payload = re.search(r"\?start=(inv_[A-Za-z0-9_-]+)", invite["text"])
    assert payload
    resident = User(sandbox.url, "telegram", "300003")
    await open_invite(resident, payload.group(1), "")
    case = await storage.cases.by_number(1)
    assert case and case.home and case.home.source == "officer" and case.home.confirmed

    prompt = await selfie_prompt(resident)
    assert prompt["ask"] == "location" and keys_of(prompt) == ["📍 Gửi vị trí hiện tại", "Bỏ qua"]
    [received] = await resident.share_location(*NEXT_DOOR, accuracy=15)
    assert "Đã nhận vị trí" in received["text"] and received["remove_keyboard"]
    [receipt] = await resident.photo(SELFIE)
    assert "đúng hạn" in receipt["text"] and "📍 Tại nơi cách ly." in receipt["text"]

    clock.set(at(17, 30))
    await selfie_prompt(resident)
    await resident.share_location(*ACROSS_TOWN, accuracy=30)
    [receipt] = await resident.photo(SELFIE)
    assert "📍 Không ở nơi cách ly (cách khoảng 1,2 km)" in receipt["text"]
    places = [d["location"] async for d in storage.db["declarations"].find().sort("slot", 1)]
    assert [p["at_home"] for p in places] == [True, False]
    assert places[1]["distance_m"] == pytest.approx(1201, abs=2) and places[1]["accuracy"] == 30
    details, _photo = await officer.says("/case 1", 2)  # the details, then the photo
    [away] = [line for line in details["text"].splitlines() if "19:00" in line]
    assert away.endswith("📍❗") and "📍❗" not in details["text"].replace(away, "")

    # Erasure takes the positions with the case and its declarations.
    accounts = await storage.accounts.of_person(case.person_id)
    await storage.erasure.erase(case.person_id, accounts, clock.now())
    for collection in ("cases", "declarations", "conversations"):
        assert await storage.db[collection].count_documents({}) == 0
    await resident.aclose()


@pytest.mark.parametrize("platform", ["zalo"])
async def test_zalo_page_proposes_the_home_and_staff_confirm_it(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(11, 30))
    resident = await resident_of(sandbox, officer, "zalo")
    prompt = await selfie_prompt(resident)
    link = location_link(prompt)
    assert "1. Bỏ qua" in prompt["text"]
    async with httpx.AsyncClient() as http:
        page = await opened(http, link)
        assert page.status_code == 200 and "Xác nhận nơi cách ly" in page.text
        assert "getCurrentPosition" in page.text and "no-store" in page.headers["Cache-Control"]
        forged = await http.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
        assert forged.status_code == 410 and "hết hạn hoặc đã được dùng" in forged.text
        refused = await http.post(link, json={"lat": 200, "lon": 0})
        assert refused.status_code == 400
    [received] = await resident.share_location(*HOME, accuracy=12)
    assert "Đã nhận vị trí" in received["text"]
    again = await post_location_status(link, *HOME)
    assert again == 410  # the link works once
    [receipt] = await resident.photo(SELFIE)
    assert "được ghi nhận là nơi cách ly; cán bộ y tế sẽ xác nhận" in receipt["text"]
    case = await storage.cases.by_number(1)
    assert case and case.home and case.home.source == "resident" and not case.home.confirmed

    [confirmed] = await officer.says("/home 1 ok")
    assert "Đã lưu nơi cách ly của ca số 1" in confirmed["text"]
    case = await storage.cases.by_number(1)
    assert case and case.home and case.home.confirmed
    [usage] = await officer.says("/home 1 nowhere")
    assert "Cách dùng: /home <số ca> ok" in usage["text"]
    [moved] = await officer.says("/home 1 10.7761, 106.7001")
    assert "Đã lưu nơi cách ly của ca số 1" in moved["text"]
    case = await storage.cases.by_number(1)
    assert case and case.home and (case.home.lat, case.home.source) == (10.7761, "officer")

    clock.set(at(17, 30))
    await selfie_prompt(resident)
    await resident.share_location(*NEXT_DOOR, accuracy=20)
    [receipt] = await resident.photo(SELFIE)
    assert "📍 Tại nơi cách ly." in receipt["text"]
    await resident.aclose()


async def post_location_status(link: str, lat: float, lon: float) -> int:
    """The status of a position posted straight to a page link (no page opened first)."""
    async with httpx.AsyncClient() as http:
        return (await http.post(link, json={"lat": lat, "lon": lon})).status_code


@pytest.mark.parametrize("service", [{"location_check": "off"}], indirect=True)
async def test_off_asks_nothing(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, platform: str
) -> None:
    clock.set(at(11, 30))
    resident = await resident_of(sandbox, officer, platform)
    prompt = await selfie_prompt(resident)
    assert "vitri" not in prompt["text"] and not prompt.get("ask")
    [receipt] = await resident.photo(SELFIE)
    assert "Đã nhận khai báo" in receipt["text"] and "📍" not in receipt["text"]
    await resident.aclose()


@pytest.mark.parametrize("service", [{"location_check_areas": "tan-ha:require"}], indirect=True)
async def test_require_has_no_skip_and_waits_for_the_position(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, platform: str
) -> None:
    clock.set(at(11, 30))
    resident = await resident_of(sandbox, officer, platform)
    prompt = await selfie_prompt(resident)
    if platform == "telegram":
        assert keys_of(prompt) == ["📍 Gửi vị trí hiện tại"]
    else:
        assert "Bỏ qua" not in prompt["text"] and location_link(prompt)
    [refused] = await resident.photo(SELFIE)
    assert "cần xác nhận vị trí trước khi nhận ảnh" in refused["text"]
    [received] = await resident.share_location(*HOME)
    assert "Đã nhận vị trí" in received["text"]
    [receipt] = await resident.photo(SELFIE)
    assert "được ghi nhận là nơi cách ly" in receipt["text"]

    # A selfie sent first (right after a reminder): the position is asked for last.
    clock.set(at(17, 30))
    await resident.photo(SELFIE)
    [last_step] = await resident.choose("✅ Không có triệu chứng nào")
    assert "Còn một bước: xác nhận nơi đang ở" in last_step["text"]
    [receipt] = await resident.share_location(*NEXT_DOOR)
    assert "buổi tối" in receipt["text"] and "📍 Tại nơi cách ly." in receipt["text"]
    await resident.aclose()


async def test_skip_in_ask_mode_gives_a_receipt_without_a_position(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, platform: str
) -> None:
    clock.set(at(11, 30))
    resident = await resident_of(sandbox, officer, platform)
    await selfie_prompt(resident)
    [skipped] = await resident.says("Bỏ qua")
    assert "Đã bỏ qua bước vị trí" in skipped["text"]
    [receipt] = await resident.photo(SELFIE)
    assert "Đã nhận khai báo" in receipt["text"] and "📍" not in receipt["text"]
    await resident.aclose()


def test_distances() -> None:
    home = Point(*HOME)
    assert distance_m(home, home) == 0
    assert distance_m(home, Point(*ACROSS_TOWN)) == pytest.approx(1201, abs=2)
    # One degree of latitude is about 111.2 km; Hanoi to Ho Chi Minh City about 1,140 km.
    assert distance_m(Point(0, 0), Point(1, 0)) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(Point(21.0285, 105.8542), home) == pytest.approx(1_140_000, rel=0.01)
    assert distance_m(Point(0, 179.9), Point(0, -179.9)) == pytest.approx(22_239, rel=1e-3)
    with pytest.raises(ValueError):
        Point(91, 0)


def test_at_home_rule_widens_with_accuracy_but_only_so_far() -> None:
    home, next_door = Point(*HOME), Point(*NEXT_DOOR)
    assert at_home(home, next_door, radius_m=100, accuracy_m=None)
    assert not at_home(home, next_door, radius_m=20, accuracy_m=None)
    assert at_home(home, next_door, radius_m=20, accuracy_m=30)
    assert allowed_m(100, 5000) == 600  # a vague fix cannot stretch home across town
    assert not at_home(home, Point(*ACROSS_TOWN), radius_m=100, accuracy_m=5000)


def test_parsing_settings_and_typed_coordinates() -> None:
    rules = LocationRules(Check.ASK, parse_areas("tan-hoi:require, suoi-day:off"))
    assert rules.mode_for("tan-hoi") is Check.REQUIRE and rules.mode_for("suoi-day") is Check.OFF
    assert rules.mode_for("tan-ha") is Check.ASK
    with pytest.raises(ValueError):
        parse_areas("tan-hoi=require")
    with pytest.raises(ValueError):
        parse_areas("tan-hoi:sometimes")
    assert parse_point("10.776, 106.700") == Point(10.776, 106.7)
    assert parse_point(" 10.776 106.7 ") == Point(10.776, 106.7)
    assert parse_point("95, 106") is None and parse_point("số 12") is None


@pytest.mark.parametrize("platform", ["zalo"])
async def test_the_page_in_a_browser_sends_the_phone_position(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock
) -> None:
    clock.set(at(11, 30))
    resident = await resident_of(sandbox, officer, "zalo")
    link = location_link(await selfie_prompt(resident))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(
            locale="vi-VN",
            geolocation={"latitude": HOME[0], "longitude": HOME[1], "accuracy": 25},
            permissions=["geolocation"],
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await page.get_by_role("button", name="📍 Gửi vị trí").click()
        await expect(page.get_by_role("status")).to_contain_text("Đã gửi vị trí", timeout=10_000)
        await browser.close()
    assert errors == []
    [received] = await resident.replies()
    assert "Đã nhận vị trí" in received["text"]
    [receipt] = await resident.photo(SELFIE)
    assert "được ghi nhận là nơi cách ly" in receipt["text"]
    await resident.aclose()
