"""Declaring for someone without a phone: a household member invited as the case's proxy,
proving their own phone, declaring for one or several people, reminded, and shown to staff."""

from __future__ import annotations

import re

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at
from tests.test_quarantine import SELFIE, declare_without_symptoms, enrol

PROXY_PHONE = "0977 000 111"


def household_member(sandbox: Sandbox, platform: str, number: int = 1) -> User:
    """The resident's son, who has the phone in the family."""
    user_id = f"50000{number}" if platform == "telegram" else f"e5f6a7b{number}"
    return User(sandbox.url, platform, user_id, name="Trần Văn Minh")


async def invite_proxy(officer: User, case_number: int = 1) -> tuple[str, str]:
    """Staff invite the proxy for a case; returns the deep-link payload and the Zalo code."""
    invite, qr = await officer.says(f"/proxy {case_number} {PROXY_PHONE}", 2)
    assert qr["kind"] == "photo"  # the Telegram link's QR code, to scan from the officer's phone
    assert "khai báo hộ" in invite["text"] and "0977 000 111" in invite["text"]
    link = re.search(r"\?start=(inv_[A-Za-z0-9_-]+)", invite["text"])
    code = re.search(r"\b(KB[A-Z0-9]{8})\b", invite["text"])
    assert link and code
    return link.group(1), code.group(1)


async def become_proxy(proxy: User, payload: str, code: str) -> dict[str, object]:
    """A newcomer opens the proxy invitation, proves the phone and registers as themselves."""
    opening = f"/start {payload}" if proxy.platform == Platform.TELEGRAM else code.lower()
    await proxy.says(opening, 3)
    await proxy.choose("🇻🇳 Tiếng Việt")
    await proxy.choose("✅ Đồng ý")
    [ask_name] = await proxy.share_phone(PROXY_PHONE)
    assert "họ và tên" in ask_name["text"]  # their own name: the phone is proven already
    await proxy.says("Trần Văn Minh")
    await proxy.choose("Xã Tân Hà")
    _done, bound, _menu = await proxy.choose("✅ Đúng, xác nhận", 3)
    return bound


async def test_a_proxy_declares_for_a_resident_without_a_phone(
    sandbox: Sandbox, officer: User, clock: FixedClock, platform: str, storage: Storage
) -> None:
    clock.set(at(9, 30))
    await enrol(officer)  # Lê Thị Hoa's own invitation stays unused: she has no phone
    payload, code = await invite_proxy(officer)
    proxy = household_member(sandbox, platform)
    bound = await become_proxy(proxy, payload, code)
    assert "khai báo sức khỏe giúp Lê Thị Hoa (ca số 1)" in str(bound["text"])

    clock.set(at(12, 0))
    receipt = await declare_without_symptoms(proxy, SELFIE)
    text = str(receipt["text"])
    assert "buổi trưa, hạn 13 giờ" in text and "đúng hạn" in text
    assert "👥 Khai báo giúp: Lê Thị Hoa (ca số 1)" in text
    [declaration] = await storage.db["declarations"].find({}).to_list()
    proxy_account = await storage.accounts.get(Platform(platform), proxy.user_id)
    assert proxy_account is not None and declaration["declared_by"] == proxy_account.person_id

    details, *_ = await officer.says("/case 1", 2)
    assert "👥 Người khai báo hộ: Trần Văn Minh" in details["text"]
    assert "(khai báo hộ: Trần Văn Minh)" in details["text"]


async def test_a_forwarded_proxy_invitation_needs_the_proxys_phone(
    sandbox: Sandbox, officer: User, clock: FixedClock, platform: str, storage: Storage
) -> None:
    clock.set(at(9, 30))
    await enrol(officer)
    payload, code = await invite_proxy(officer)
    stranger = household_member(sandbox, platform, 2)
    opening = f"/start {payload}" if platform == "telegram" else code.lower()
    await stranger.says(opening, 3)
    await stranger.choose("🇻🇳 Tiếng Việt")
    await stranger.choose("✅ Đồng ý")
    [refused] = await stranger.share_phone("0987 111 222")  # the resident's, not the proxy's
    assert "không khớp" in refused["text"]
    [case] = await storage.db["cases"].find({}).to_list()
    assert case.get("proxies", []) == []


async def test_one_proxy_for_two_household_members_is_asked_whom_and_reminded_for_each(
    sandbox: Sandbox,
    officer: User,
    clock: FixedClock,
    platform: str,
    service: Service,
) -> None:
    clock.set(at(9, 30))
    await enrol(officer)
    payload, code = await invite_proxy(officer, 1)
    proxy = household_member(sandbox, platform)
    await become_proxy(proxy, payload, code)
    await officer.says("/enroll")
    for answer in ("Trần Văn Tư", "0966 222 333", "Số 12, ấp Tân Lợi"):
        await officer.says(answer)
    for label in ("Xã Tân Hà", "Hôm nay (27/11/2026)", "Đến hết 10/12/2026 (14 ngày)"):
        await officer.choose(label)
    await officer.choose("Cuộc trò chuyện này")
    await officer.choose("✅ Tạo ca", 2)
    payload, code = await invite_proxy(officer, 2)
    await proxy.says(f"/start {payload}" if platform == "telegram" else code)  # only the phone
    [bound, _menu] = await proxy.share_phone(PROXY_PHONE, 2)
    assert "Trần Văn Tư (ca số 2)" in bound["text"]

    clock.set(at(11, 30))
    await service.tick()
    reminders = await proxy.replies(2)
    assert {m["text"].splitlines()[0] for m in reminders} == {
        "👥 Nhắc khai báo giúp Lê Thị Hoa (ca số 1):",
        "👥 Nhắc khai báo giúp Trần Văn Tư (ca số 2):",
    }
    [whom] = await proxy.says("/khaibao")
    assert options_of(whom, platform) == ["👥 Lê Thị Hoa (ca số 1)", "👥 Trần Văn Tư (ca số 2)"]
    await proxy.choose("👥 Trần Văn Tư (ca số 2)")
    await proxy.choose("✅ Không có triệu chứng nào")
    [receipt] = await proxy.photo(SELFIE)
    assert "👥 Khai báo giúp: Trần Văn Tư (ca số 2)" in receipt["text"]
