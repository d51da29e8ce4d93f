"""What officers read in the staff views: the case list's marks and alerts, one case's photos,
who missed a window, the answer to a review decision, and the audit trail in plain words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from PIL import Image

from bot.app import Service
from core.clock import FixedClock
from core.models import Account, Answers, Case, Consent, Declaration, Person, Review, Role
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import at, staff_user
from tests.images import encode
from tests.test_casework import DAY, a_case, a_flagged_declaration, chat_of


def jpeg(shade: int) -> bytes:
    """A small photo of one colour, so each stored selfie is a different image."""
    return encode(Image.new("RGB", (64, 64), (shade, 120, 200)))


async def declare(
    storage: Storage,
    case: Case,
    moment: datetime,
    slot: str | None = "08:00",
    answers: Answers | None = None,
    flags: tuple[str, ...] = (),
    selfie: bytes | None = None,
) -> Declaration:
    """A declaration of `case` made at `moment`, stored with its selfie."""
    declaration = Declaration(
        id=f"d{case.number}-{moment:%d%H%M}",
        receipt=f"R{case.number}{moment:%d%H%M}",
        case_id=case.id,
        area=case.area,
        local_date=moment.date(),
        slot=slot,
        timing="on_time" if slot else "adhoc",
        answers=answers or Answers(),
        selfie_id=f"s{case.number}-{moment:%d%H%M}" if selfie else None,
        flags=list(flags),
        submitted_at=moment,
    )
    assert await storage.declarations.add(declaration, selfie=selfie)
    return declaration


def line_of(text: str, number: int) -> str:
    """The line of a listing about case `number`."""
    return next(line for line in text.splitlines() if f"#{number} " in line)


async def test_the_case_list_explains_its_marks_and_flags_unacknowledged_pages(
    officer: User, storage: Storage
) -> None:
    paged = await a_case(storage, 1, chat_of(officer))
    await a_case(storage, 2, chat_of(officer))
    page = await declare(storage, paged, at(7, 30), answers=Answers(fever=True))
    [listed] = await officer.says("/cases")
    assert line_of(listed["text"], 1).startswith("🚨 #1 Người thứ 1 — 08:00 ✅")
    assert line_of(listed["text"], 2).startswith("#2 Người thứ 2 — 08:00 ❌")
    assert listed["text"].splitlines()[-1] == (
        "Chú thích: ✅ đúng giờ · 🕑 muộn · ❌ bỏ lỡ · ⏳ đang mở · "
        "▫️ chưa đến giờ hoặc không phải khai báo · 🚨 có cảnh báo triệu chứng chưa ai tiếp nhận"
    )
    await officer.says(f"/ack {page.receipt}", 2)  # the answer, and the page marked as taken
    [after] = await officer.says("/cases")
    assert line_of(after["text"], 1).startswith("#1 Người thứ 1 — 08:00 ✅")


async def test_missed_and_the_case_list_count_only_windows_that_were_due(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    staff_chat = chat_of(officer)
    await a_case(storage, 1, staff_chat)
    declared = await a_case(storage, 2, staff_chat)
    await declare(storage, declared, at(7, 40))
    later = await a_case(storage, 3, staff_chat)
    await storage.db["cases"].update_one({"_id": later.id}, {"$set": {"start": "2026-11-28"}})
    await a_case(storage, 4, staff_chat, end=DAY - timedelta(days=1))  # not yet completed
    enrolled_late = await a_case(storage, 5, staff_chat)
    await storage.db["cases"].update_one(
        {"_id": enrolled_late.id}, {"$set": {"created_at": at(8, 30)}}
    )
    [missed] = await officer.says("/missed")
    assert missed["text"].splitlines() == [
        "⏰ Khai báo buổi sáng, hạn 8 giờ, ngày 27/11/2026: 1 người chưa khai báo",
        "• #1 Người thứ 1 — 0900 000 001",
    ]
    clock.set(at(11, 30))
    [listed] = await officer.says("/cases")
    assert line_of(listed["text"], 1).endswith("08:00 ❌ · 13:00 ⏳ · 19:00 ▫️")
    for number in (3, 4):
        assert line_of(listed["text"], number).endswith("08:00 ▫️ · 13:00 ▫️ · 19:00 ▫️")
    assert line_of(listed["text"], 5).endswith("08:00 ▫️ · 13:00 ⏳ · 19:00 ▫️")


@pytest.mark.parametrize(
    ("decision", "newest_caption"),
    [
        ("reject", "Ảnh lúc 08:45 27/11/2026 bị đánh dấu KHÔNG hợp lệ"),
        (None, "Ảnh lúc 08:45 27/11/2026 đang chờ cán bộ xem lại"),
    ],
)
async def test_a_case_shows_its_reference_photo_and_latest_accepted_selfie(
    officer: User, storage: Storage, clock: FixedClock, decision: str | None, newest_caption: str
) -> None:
    case = await a_case(storage, 1, chat_of(officer))
    first = await declare(storage, case, at(7, 15, day=21), selfie=jpeg(10))
    assert first.selfie_id and await storage.cases.set_reference(
        case.id, [0.1] * 128, first.selfie_id
    )
    await declare(storage, case, at(18, 30, day=26), slot="19:00", selfie=jpeg(90))
    doubtful = await declare(
        storage, case, at(8, 45), slot=None, flags=("mismatch",), selfie=jpeg(200)
    )
    if decision:
        review = Review(decision=decision, by="telegram:1", at=clock.now())
        assert await storage.declarations.decide(doubtful.id, review)
    details, reference, accepted, newest = await officer.says("/case 1", replies=4)
    assert "26/11/2026 19:00: đúng hạn" in details["text"]
    assert "21/11/2026" not in details["text"]  # the table keeps to the last three days
    assert (reference["kind"], reference["caption"]) == ("photo", "Ảnh gốc, chụp ngày 21/11/2026")
    assert accepted["caption"] == "Ảnh khuôn mặt gần nhất (18:30 26/11/2026)"
    assert newest["caption"] == newest_caption


async def test_an_approved_photo_is_the_latest_accepted_one(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, chat_of(officer))
    await declare(storage, case, at(18, 30, day=26), slot="19:00", selfie=jpeg(90))
    doubtful = await declare(
        storage, case, at(8, 45), slot=None, flags=("no_face",), selfie=jpeg(200)
    )
    review = Review(decision="approve", by="telegram:1", at=clock.now())
    assert await storage.declarations.decide(doubtful.id, review)
    _details, accepted = await officer.says("/case 1", replies=2)
    assert accepted["caption"] == "Ảnh khuôn mặt gần nhất (08:45 27/11/2026)"
    [listed] = await officer.says("/cases")  # no other photo came before this answer
    assert listed["text"].startswith("📋 Các ca đang cách ly (1)")


async def test_a_review_decision_answers_with_what_was_decided(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    for number in (1, 2):
        case = await a_case(storage, number, chat_of(officer))
        await a_flagged_declaration(storage, case, number, clock.now() + timedelta(minutes=number))
    await officer.says("/review")
    rejected, _second = await officer.choose("❌ Không hợp lệ", 2)
    assert rejected["text"] == "Đã ghi nhận. Ảnh của ca số 1: KHÔNG hợp lệ (mã RCPT0001)."
    approved, _empty = await officer.choose("✅ Ảnh hợp lệ", 2)
    assert approved["text"] == "Đã ghi nhận. Ảnh của ca số 2: hợp lệ (mã RCPT0002)."


@pytest.fixture
async def admin(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A district administrator, who may read the audit trail, on the test's platform."""
    user_id = "300004" if platform == "telegram" else "c3d4e5f6a7b800112233"
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.DISTRICT_ADMIN, (), "Quản trị viên"
    ) as staff:
        yield staff


async def name_the_account(storage: Storage, user: User, name: str, language: str = "vi") -> None:
    """Make a chat account also a registered person, so the bot knows their name and language."""
    person = Person(
        id=f"p-{user.user_id}",
        name=name,
        phone="+84901234567",
        area="tan-ha",
        consent=Consent(version="2026-11", at=at(7, 0)),
        created_at=at(7, 0),
    )
    await storage.people.add(person)
    account = Account(
        platform=user.platform,
        user_id=user.user_id,
        chat_id=user.user_id,
        person_id=person.id,
        language=language,
        created_at=at(7, 0),
    )
    await storage.accounts.save(account)


async def test_the_audit_trail_reads_in_plain_words(
    officer: User, admin: User, storage: Storage, clock: FixedClock
) -> None:
    await name_the_account(storage, officer, "Nguyễn Văn Hùng")
    case = await a_case(storage, 4, chat_of(officer))
    receipt = await a_flagged_declaration(storage, case, 1, clock.now())
    await officer.says("/case 4")
    await officer.says("/review")
    clock.advance(timedelta(minutes=5))
    await officer.choose("✅ Ảnh hợp lệ", 2)
    await admin.says("/cases")
    [log] = await admin.says("/audit")
    lines = log["text"].splitlines()
    hung = "Cán bộ y tế Nguyễn Văn Hùng (xã Tân Hà)"
    own = f"Quản trị viên huyện (toàn huyện, {admin.platform.value.capitalize()} {admin.user_id})"
    assert lines == [
        "📜 Nhật ký truy cập gần đây:",
        f"09:35 27/11 — {own} đã xem nhật ký truy cập",
        f"09:35 27/11 — {own} đã xem danh sách ca",
        f"09:35 27/11 — {hung} đã đánh giá ảnh mã {receipt} (ca số 4) là hợp lệ",
        f"09:35 27/11 — {hung} đã mở ảnh mã {receipt} (ca số 4) để xem lại",
        f"09:30 27/11 — {hung} đã mở ảnh mã {receipt} (ca số 4) để xem lại",
        f"09:30 27/11 — {hung} đã mở danh sách ảnh cần xem lại",
        f"09:30 27/11 — {hung} đã xem ca số 4",
    ]


async def test_the_audit_trail_names_refusals_and_speaks_the_readers_language(
    officer: User, admin: User, user: User, storage: Storage
) -> None:
    await name_the_account(storage, admin, "Trần Thị Lan", language="en")
    await a_case(storage, 4, chat_of(officer))
    await officer.says("/case 4")
    await user.says("/cases")
    [log] = await admin.says("/audit")
    account = officer.platform.value.capitalize()
    assert log["text"].splitlines() == [
        "📜 Recent access log:",
        "09:30 27/11 — District administrator Trần Thị Lan (the whole district): "
        "read the access log",
        f"⛔ 09:30 27/11 — Account {account} {user.user_id}: view the case list — refused",
        f"09:30 27/11 — Health officer (xã Tân Hà, {account} {officer.user_id}): view case 4",
    ]
