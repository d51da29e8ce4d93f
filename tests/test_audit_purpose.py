"""With AUDIT_ASK_PURPOSE=1 an officer says why before opening personal data: asked once an
hour, the answer recorded in every entry, and the command they sent carried out after it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import FixedClock
from core.models import AuditEntry
from storage.database import Storage
from tests.chat import User, options_of
from tests.test_casework import a_flagged_declaration
from tests.test_who_viewed import resident_with_case, service

__all__ = ["service"]  # the module's bot runs with the settings its tests ask for

pytestmark = pytest.mark.parametrize("service", [{"audit_ask_purpose": True}], indirect=True)

CHOICES = ["🏠 Theo dõi cách ly", "🔎 Truy vết tiếp xúc", "📣 Xử lý phản ánh", "✏️ Khác"]


async def views(storage: Storage) -> list[AuditEntry]:
    """The case views recorded so far, oldest first."""
    return [e for e in reversed(await storage.audit.latest(50)) if e.action == "case.view"]


async def test_asked_once_an_hour_and_recorded_in_each_entry(
    user: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await resident_with_case(storage, user, 7)
    [asked] = await officer.says("/case 7")
    assert "mục đích" in asked["text"] and options_of(asked, officer.platform) == CHOICES
    assert await views(storage) == []  # nothing opened yet
    noted, shown = await officer.choose("🏠 Theo dõi cách ly", 2)
    assert "Đã ghi nhận mục đích" in noted["text"] and "Lê Thị Hoa" in shown["text"]

    clock.advance(timedelta(minutes=59))
    [again] = await officer.says("/case 7")  # within the hour: straight to the case
    assert "Lê Thị Hoa" in again["text"]
    [listed] = await officer.says("/cases")
    assert "#7" in listed["text"]

    clock.advance(timedelta(minutes=61))
    [asked] = await officer.says("/case 7")
    assert "mục đích" in asked["text"]
    [typed] = await officer.choose("✏️ Khác")
    assert "gõ ngắn gọn mục đích" in typed["text"]
    [too_short] = await officer.says("ok")
    assert "từ 3 đến 200 ký tự" in too_short["text"]
    noted, shown = await officer.says("Xác minh địa chỉ cho UBND xã", 2)
    assert "Lê Thị Hoa" in shown["text"]

    recorded = [(e.person, e.purpose) for e in await views(storage)]
    assert recorded == [
        (case.person_id, "quarantine"),
        (case.person_id, "quarantine"),
        ("", "quarantine"),  # the list: nobody's in particular, with the purpose too
        (case.person_id, "Xác minh địa chỉ cho UBND xã"),
    ]
    assert (await storage.audit.verify()).intact


async def test_cancel_abandons_and_a_menu_button_is_carried_out_after_the_answer(
    user: User, officer: User, storage: Storage
) -> None:
    await resident_with_case(storage, user, 7)
    await officer.says("/case 7")
    [cancelled] = await officer.says("/huy")
    assert "Đã hủy" in cancelled["text"] and await views(storage) == []

    [menu] = await officer.says("/start")
    assert "📋 Các ca đang theo dõi" in options_of(menu, officer.platform)
    [asked] = await officer.choose("📋 Các ca đang theo dõi")
    assert "mục đích" in asked["text"]
    _noted, listed = await officer.choose("🔎 Truy vết tiếp xúc", 2)
    assert "#7" in listed["text"]
    assert [e.purpose for e in await views(storage)] == ["tracing"]


async def test_asked_again_mid_review_the_decision_goes_through_after_the_answer(
    user: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await resident_with_case(storage, user, 7)
    receipt = await a_flagged_declaration(storage, case, 1, clock.now())
    await officer.says("/review")
    _noted, item = await officer.choose("🏠 Theo dõi cách ly", 2)
    assert receipt in item["text"]
    clock.advance(timedelta(minutes=61))
    [asked] = await officer.choose("✅ Ảnh hợp lệ")
    assert "mục đích" in asked["text"]
    _noted, decided, _empty = await officer.choose("🏠 Theo dõi cách ly", 3)
    assert decided["text"] == f"Đã ghi nhận. Ảnh của ca số 7: hợp lệ (mã {receipt})."
    approved = [e for e in await storage.audit.latest(20) if e.action == "review.approve"]
    assert [(e.person, e.purpose) for e in approved] == [(case.person_id, "quarantine")]


async def test_a_new_request_while_asked_replaces_the_first(
    user: User, officer: User, storage: Storage
) -> None:
    case = await resident_with_case(storage, user, 7)
    await officer.says("/case 7")
    [asked] = await officer.says("/cases")
    assert "mục đích" in asked["text"]
    _noted, listed = await officer.choose("🔎 Truy vết tiếp xúc", 2)
    assert "#7" in listed["text"]
    [shown] = await officer.says("/case 7")  # nothing left waiting for an answer
    assert "Lê Thị Hoa" in shown["text"]
    assert [e.person for e in await views(storage)] == ["", case.person_id]
