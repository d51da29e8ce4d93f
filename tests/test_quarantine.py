"""A whole home-quarantine day with a fixed clock, on Telegram and on Zalo: enrolment through
an invite, reminders, on-time and late declarations, a symptom page, a missed window with its
staff summary and nudge, a re-used selfie and a wrong face going to review, the end of the case."""

from __future__ import annotations

import re

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at
from tests.images import ASTRONAUT, encode, lfw_face

SELFIE = encode(ASTRONAUT, quality=92)
SAME_SELFIE_AGAIN = encode(ASTRONAUT.resize((400, 400)), quality=70)
SOMEONE_ELSE = encode(lfw_face(0), quality=92)


async def up_to_the_confirmation(staff: User, chat_id: str = "") -> dict[str, object]:
    """A staff member answers the enrolment questions for Lê Thị Hoa; returns the summary.

    Alerts go to this chat, or to `chat_id` when one is typed.
    """
    await staff.says("/enroll")
    await staff.says("Lê Thị Hoa")
    await staff.says("0987 111 222")
    [area] = await staff.says("Số 12, ấp Tân Lợi")
    assert options_of(area, staff.platform) == ["Xã Tân Hà"]  # only the officer's commune
    await staff.choose("Xã Tân Hà")
    await staff.choose("Hôm nay (27/11/2026)")
    await staff.choose("Đến hết 10/12/2026 (14 ngày)")
    if chat_id:
        [confirm] = await staff.says(chat_id)
    else:
        [confirm] = await staff.choose("Cuộc trò chuyện này")
    return confirm


async def enrol(officer: User) -> tuple[str, str]:
    """Staff create case 1 for Lê Thị Hoa; returns the deep-link payload and the Zalo code."""
    confirm = await up_to_the_confirmation(officer)
    assert "Lê Thị Hoa" in str(confirm["text"]) and "0987 111 222" in str(confirm["text"])
    assert "Cảnh báo triệu chứng gửi về: cuộc trò chuyện này" in str(confirm["text"])
    invite, qr = await officer.choose("✅ Tạo ca", 2)
    assert "ca cách ly số 1" in invite["text"] and qr["kind"] == "photo"
    link = re.search(r"\?start=(inv_[A-Za-z0-9_-]+)", invite["text"])
    code = re.search(r"\b(KB[A-Z0-9]{8})\b", invite["text"])
    assert link and code
    return link.group(1), code.group(1)


async def open_invite(resident: User, payload: str, code: str, phone: str = "0987111222") -> None:
    """The resident opens the invite, consents, proves the enrolled phone, checks the details."""
    opening = f"/start {payload}" if resident.platform is Platform.TELEGRAM else code.lower()
    intro, _welcome, _language = await resident.says(opening, 3)
    assert "được mời khai báo" in intro["text"]
    await resident.choose("🇻🇳 Tiếng Việt")
    [prove] = await resident.choose("✅ Đồng ý")
    assert "Lê Thị Hoa" not in prove["text"] and "số điện thoại" in prove["text"]
    [confirm] = await resident.share_phone(phone)
    assert "Lê Thị Hoa" in confirm["text"] and "Xã Tân Hà" in confirm["text"]
    _done, welcome, _menu = await resident.choose("✅ Đúng, xác nhận", 3)
    assert "ca số 1" in welcome["text"] and "10/12/2026" in welcome["text"]
    assert "08:00, 13:00, 19:00" in welcome["text"]


async def declare_without_symptoms(resident: User, photo: bytes) -> dict[str, object]:
    """The one-tap declaration: no symptoms, then the selfie; returns the receipt message."""
    await resident.says("/khaibao")
    await resident.choose("✅ Không có triệu chứng nào")
    [receipt] = await resident.photo(photo)
    return receipt


async def answer_symptoms(resident: User, fever: bool) -> None:
    """Answer the symptom questions: fever (38.5 °C) or not, and fatigue."""
    if fever:
        await resident.choose("Có")
        [refused] = await resident.says("abc")
        assert "«abc» chưa đúng" in refused["text"]
        [refused] = await resident.says("50")
        assert "«50» chưa đúng" in refused["text"]
        await resident.says("38,5")
    else:
        await resident.choose("Không")
    for answer in ("Không", "Không", "Không", "Không", "Có"):
        await resident.choose(answer)
    await resident.choose("Không có")


async def symptom_page(officer: User) -> str:
    """The page: its text first (nothing can hold it back), then the selfie."""
    text, photo = await officer.replies(2)
    assert text["kind"] == "text" and photo["kind"] == "photo"
    return "\n".join(f"{m['caption']}{m['text']}" for m in (text, photo))


async def flagged_page(officer: User, service: Service, why: str) -> str:
    """The page once the background check flagged its selfie (Zalo: the page sent again)."""
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()
    [edited] = await officer.replies()
    assert f"📷 Ảnh cần xem lại: {why}" in edited["text"]
    return str(edited["text"])


async def test_a_quarantine_day(
    service: Service,
    sandbox: Sandbox,
    officer: User,
    clock: FixedClock,
    storage: Storage,
    platform: str,
) -> None:
    resident = User(
        sandbox.url, platform, "300003" if platform == "telegram" else "c3d4e5f6", name="Lê Thị Hoa"
    )
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(resident, payload, code)

    # 13:00 window: the reminder at opening time, then an on-time declaration.
    clock.set(at(11, 30))
    await service.tick()
    [reminder] = await resident.replies()
    assert "khai báo sức khỏe buổi trưa, hạn 13 giờ" in reminder["text"]
    receipt = await declare_without_symptoms(resident, SELFIE)
    assert "Gửi lúc: 11:30 27/11/2026" in str(receipt["text"])
    assert "buổi trưa, hạn 13 giờ" in str(receipt["text"]) and "đúng hạn" in str(receipt["text"])
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()  # this first clean selfie becomes the reference face
    already, _menu = await resident.says("/khaibao", 2)
    assert "Đã có khai báo buổi trưa, hạn 13 giờ" in already["text"]
    clock.set(at(12, 30))
    await service.tick()  # declared: no second reminder

    # 19:00 window: reminded twice, missed, summary to staff and a nudge.
    clock.set(at(17, 0))
    await service.tick()
    clock.set(at(18, 30))
    await service.tick()
    opened, due = await resident.replies(2)
    assert "buổi tối, hạn 19 giờ" in opened["text"] and "Còn 30 phút" in due["text"]
    clock.set(at(19, 0))
    await service.tick()
    [summary] = await officer.replies()
    assert (
        "hết hạn khai báo buổi tối, hạn 19 giờ" in summary["text"]
        and "Lê Thị Hoa" in summary["text"]
    )
    assert "0987 111 222" in summary["text"]
    [nudge] = await resident.replies()
    assert "chưa có khai báo sức khỏe buổi tối, hạn 19 giờ" in nudge["text"]
    [missed] = await officer.says("/missed")
    assert "1 người chưa khai báo" in missed["text"] and "Lê Thị Hoa" in missed["text"]

    # A late declaration with fever and a re-used photo: the staff chat is paged at once.
    clock.set(at(19, 30))
    await resident.says("/khaibao")
    await resident.choose("⚠️ Có triệu chứng")
    await answer_symptoms(resident, fever=True)
    [late] = await resident.photo(SAME_SELFIE_AGAIN)
    assert "trễ hạn" in late["text"] and "Cán bộ y tế đã được báo" in late["text"]
    page = await symptom_page(officer)
    assert "CÓ TRIỆU CHỨNG" in page and "Nhiệt độ: 38,5 °C" in page and "Mệt mỏi" in page
    await flagged_page(officer, service, "ảnh trùng ảnh đã gửi trước đó")
    late_receipt = re.search(r"Mã biên nhận: (\w+)", late["text"])
    assert late_receipt and f"/ack {late_receipt.group(1)}" in page
    answers = await officer.says(f"/ack {late_receipt.group(1)}", 2)
    [acked] = [m for m in answers if "tiếp nhận cảnh báo" in m["text"]]
    [taken] = [m for m in answers if m is not acked]  # the page, edited (Zalo: sent again)
    assert "CÓ TRIỆU CHỨNG" in taken["text"] and "đã tiếp nhận lúc 19:30" in taken["text"]
    assert not taken["buttons"] and "/ack" not in taken["text"]

    # "I feel unwell" from the menu, with someone else's face.
    clock.set(at(19, 40))
    await resident.choose("🤒 Tôi thấy không khỏe")
    await answer_symptoms(resident, fever=False)
    [extra] = await resident.photo(SOMEONE_ELSE)
    assert "khai báo thêm" in extra["text"]
    unwell_page = await symptom_page(officer)
    assert "Mệt mỏi" in unwell_page and "Nhiệt độ" not in unwell_page
    assert "/ack" in await flagged_page(officer, service, "khuôn mặt khác ảnh gốc")

    # Review: the re-used photo and the wrong face, each decided once.
    await service.selfie_checks.idle()  # the checks run after the receipts
    reference, photo, first = await officer.says("/review", 3)
    assert "Ảnh gốc" in reference["caption"] and "Ảnh cần xem lại" in photo["caption"]
    assert "ảnh trùng ảnh đã gửi trước đó" in first["text"]
    _decided, _reference, _photo, second = await officer.choose("✅ Ảnh hợp lệ", 4)
    assert "khuôn mặt khác ảnh gốc" in second["text"]
    _decided, empty = await officer.choose("❌ Không hợp lệ", 2)
    assert "Không có ảnh nào cần xem lại" in empty["text"]
    decisions = {
        d["review"]["decision"]
        async for d in storage.db["declarations"].find({"review": {"$ne": None}})
    }
    assert decisions == {"approve", "reject"}

    # Staff views and updates, then the end of the case.
    [cases] = await officer.says("/cases")
    assert "#1 Lê Thị Hoa — 08:00 ▫️ · 13:00 ✅ · 19:00 🕑" in cases["text"]
    details, _reference, last_photo, _rejected = await officer.says("/case 1", 4)
    assert "Lê Thị Hoa" in details["text"] and "0987 111 222" in details["text"]
    assert last_photo["kind"] == "photo"
    [extended] = await officer.says("/extend 1 3")
    assert "13/12/2026" in extended["text"]
    [told] = await resident.replies()
    assert "gia hạn đến hết ngày 13/12/2026" in told["text"]
    [tested] = await officer.says("/test 1 pcr 27/11/2026 am")
    assert "RT-PCR" in tested["text"] and "âm tính" in tested["text"]
    await officer.says("/end 1 chuyển viện")
    [ended] = await officer.choose("✅ Kết thúc ca")
    assert "Đã kết thúc ca số 1" in ended["text"]
    [goodbye] = await resident.replies()
    assert "đã kết thúc (chuyển viện)" in goodbye["text"]
    [not_needed] = await resident.says("/khaibao")
    assert "chưa có hồ sơ cách ly" in not_needed["text"]
    await resident.aclose()
