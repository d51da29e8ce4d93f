"""Staff case work under pressure: two writers at once (two connections), an officer whose
right changes mid-flow, a resident who erased their data, out-of-range input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Account,
    Answers,
    Case,
    CaseStatus,
    ChatRef,
    Consent,
    Declaration,
    LabTest,
    Person,
    Review,
)
from storage.database import Storage
from storage.documents import Database, Document
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY, at
from tests.test_quarantine import up_to_the_confirmation

DAY = date(2026, 11, 27)


@pytest.fixture
async def other(mongo_uri: str, db: Database, clock: FixedClock) -> AsyncIterator[Storage]:
    """A second process's view of the same database: its own connection."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield Storage.over(client[db.name], clock, TEST_AUDIT_KEY.encode())
    await client.close()


async def a_case(
    storage: Storage, number: int, staff_chat: ChatRef, end: date = DAY, area: str = "tan-ha"
) -> Case:
    """A person with a Telegram account and an active case, straight in the repositories."""
    created = at(7, 0, day=20)
    person = Person(
        id=f"p{number}",
        name=f"Người thứ {number}",
        phone=f"+8490{number:07d}",
        area=area,
        address="Ấp Tân Lợi",
        consent=Consent(version="2026-11", at=created),
        created_at=created,
    )
    await storage.people.add(person)
    await storage.accounts.save(
        Account(
            platform=Platform.TELEGRAM,
            user_id=f"9{number}",
            chat_id=f"9{number}",
            person_id=person.id,
            created_at=created,
        )
    )
    case = Case(
        id=f"c{number}",
        number=number,
        person_id=person.id,
        area=area,
        start=DAY - timedelta(days=7),
        end=end,
        staff_chat=staff_chat,
        officer="test",
        created_at=created,
    )
    assert await storage.cases.add(case) == case
    return case


async def a_flagged_declaration(storage: Storage, case: Case, n: int, moment: datetime) -> str:
    """A declaration of `case` whose selfie was flagged "no face"; returns its receipt."""
    receipt = f"RCPT000{n}"
    declaration = Declaration(
        id=f"d{case.number}-{n}",
        receipt=receipt,
        case_id=case.id,
        area=case.area,
        local_date=DAY,
        slot=None,
        timing="adhoc",
        answers=Answers(),
        flags=["no_face"],
        submitted_at=moment,
    )
    assert await storage.declarations.add(declaration)
    return receipt


def chat_of(officer: User) -> ChatRef:
    """The officer's own chat, where the cases page."""
    return ChatRef(platform=officer.platform, chat_id=officer.user_id)


async def test_extension_and_completion_at_once_never_undo_each_other(
    storage: Storage, other: Storage, clock: FixedClock
) -> None:
    staff_chat = ChatRef(platform=Platform.TELEGRAM, chat_id="-100")
    for number in range(1, 13):
        case = await a_case(storage, number, staff_chat)
        extended, completed = await asyncio.gather(
            storage.cases.extend(case.id, DAY + timedelta(days=7)),
            other.cases.complete(case.id, DAY, clock.now()),
        )
        stored = await storage.cases.get(case.id)
        assert stored is not None
        if extended is not None:  # the extension came first: the case goes on
            assert not completed
            assert (stored.status, stored.end) == (CaseStatus.ACTIVE, DAY + timedelta(days=7))
        else:  # the completion came first: the officer is told, nothing is half-done
            assert completed
            assert (stored.status, stored.end) == (CaseStatus.ENDED, DAY)


async def test_a_test_result_and_the_reference_face_at_once_both_stay(
    storage: Storage, other: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id="-100"))
    test = LabTest(kind="pcr", on=DAY, result="am", by="telegram:1", at=clock.now())
    added, referenced = await asyncio.gather(
        storage.cases.add_test(case.id, test),
        other.cases.set_reference(case.id, [0.1] * 128, "selfie-1"),
    )
    stored = await storage.cases.get(case.id)
    assert added and referenced and stored is not None
    assert stored.tests == [test] and stored.reference_selfie == "selfie-1"
    # The reference face is set once: a later selfie does not replace it.
    assert not await other.cases.set_reference(case.id, [0.2] * 128, "selfie-2")


async def test_two_officers_deciding_one_photo_at_once_record_one_decision(
    storage: Storage, other: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id="-100"))
    await a_flagged_declaration(storage, case, 1, clock.now())
    approve = Review(decision="approve", by="telegram:1", at=clock.now())
    reject = Review(decision="reject", by="telegram:2", at=clock.now())
    results = await asyncio.gather(
        storage.declarations.decide("d1-1", approve), other.declarations.decide("d1-1", reject)
    )
    assert sorted(results) == [False, True]
    stored = await storage.declarations.get("d1-1")
    assert stored is not None and stored.review in (approve, reject)


async def test_the_officer_who_decides_second_is_told_who_decided(
    officer: User, colleague: User, storage: Storage, clock: FixedClock
) -> None:
    second = colleague
    case = await a_case(storage, 1, chat_of(officer))
    await a_flagged_declaration(storage, case, 1, clock.now())
    for staff in (officer, second):
        await staff.says("/review")
    await officer.choose("✅ Ảnh hợp lệ", 2)  # the decision, then "nothing more to review"
    told, _empty = await second.choose("❌ Không hợp lệ", 2)
    assert "đã được cán bộ khác quyết định" in told["text"] and "Ảnh hợp lệ" in told["text"]
    stored = await storage.declarations.get("d1-1")
    assert stored is not None and stored.review is not None
    assert stored.review.decision == "approve"


async def test_staff_views_do_not_break_when_a_resident_erased_their_data(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, chat_of(officer))
    await a_flagged_declaration(storage, case, 1, clock.now())
    await storage.db["people"].delete_many({})
    [listed] = await officer.says("/cases")
    assert "#1 (người này đã xóa thông tin)" in listed["text"]
    [details] = await officer.says("/case 1")
    assert "Ca cách ly số 1" in details["text"] and "đã xóa thông tin" in details["text"]
    clock.set(at(8, 30))
    [missed] = await officer.says("/missed")
    assert "#1 (người này đã xóa thông tin)" in missed["text"]
    [item] = await officer.says("/review")
    assert "ca số 1, (người này đã xóa thông tin)" in item["text"]


async def test_review_checks_the_right_again_for_each_photo(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, chat_of(officer))
    first = await a_flagged_declaration(storage, case, 1, clock.now())
    await a_flagged_declaration(storage, case, 2, clock.now() + timedelta(minutes=1))
    [item] = await officer.says("/review")
    assert first in item["text"]
    await storage.staff.remove(officer.platform, officer.user_id)  # moved to another post
    [refused] = await officer.choose("⏭ Để sau")
    assert "không có quyền" in refused["text"]
    shown = [e for e in await storage.audit.latest(10) if e.action == "review.decide"]
    assert [(e.target, e.allowed) for e in reversed(shown)] == [
        ("", True),  # /review itself
        ("d1-1", True),  # the first photo shown
        ("", False),  # then the right was gone: the second photo was not shown
    ]


async def test_ending_a_case_checks_the_right_again_at_confirmation(
    officer: User, storage: Storage
) -> None:
    await a_case(storage, 1, chat_of(officer))
    [confirm] = await officer.says("/end 1 chuyển viện")
    assert "Kết thúc ca cách ly số 1" in confirm["text"]
    await storage.staff.remove(officer.platform, officer.user_id)
    [refused] = await officer.choose("✅ Kết thúc ca")
    assert "không có quyền" in refused["text"]
    stored = await storage.cases.get("c1")
    assert stored is not None and stored.status is CaseStatus.ACTIVE


@pytest.mark.parametrize("typed", ["99999999", "0", "31/12/2099", "hôm qua"])
async def test_an_extension_out_of_range_gets_the_usage(
    officer: User, storage: Storage, typed: str
) -> None:
    await a_case(storage, 1, chat_of(officer))
    [usage] = await officer.says(f"/extend 1 {typed}")
    assert "Cách dùng: /extend" in usage["text"]
    stored = await storage.cases.get("c1")
    assert stored is not None and stored.end == DAY


@pytest.mark.parametrize("typed", ["7", "7 ngày", "7 ngay", "7 NGÀY", "7 days", "7 day"])
async def test_an_extension_in_days_may_name_the_unit(
    officer: User, storage: Storage, typed: str
) -> None:
    await a_case(storage, 1, chat_of(officer))
    [extended] = await officer.says(f"/extend 1 {typed}")
    assert "Ca số 1 được gia hạn đến hết ngày 04/12/2026" in extended["text"]
    stored = await storage.cases.get("c1")
    assert stored is not None and stored.end == DAY + timedelta(days=7)


@pytest.mark.parametrize("typed", ["7 tuần", "15/12/2026 ngày"])
async def test_an_extension_with_another_word_gets_the_usage(
    officer: User, storage: Storage, typed: str
) -> None:
    await a_case(storage, 1, chat_of(officer))
    [usage] = await officer.says(f"/extend 1 {typed}")
    assert "Cách dùng: /extend" in usage["text"]


@pytest.mark.parametrize("command", ["/case 1", "/extend 1 7", "/test 1 pcr 27/11 am", "/end 1 x"])
async def test_a_case_outside_the_officers_area_is_answered_like_a_missing_one(
    officer: User, storage: Storage, command: str
) -> None:
    await a_case(storage, 1, chat_of(officer), area="suoi-ngo")
    [outside] = await officer.says(command)
    [missing] = await officer.says(command.replace(" 1", " 99", 1))
    assert outside["text"] == missing["text"].replace("99", "1")
    assert "Không tìm thấy ca số 1" in outside["text"]
    stored = await storage.cases.get("c1")
    assert stored is not None and (stored.end, stored.tests) == (DAY, [])
    [entry, *_] = [e for e in await storage.audit.latest(10) if e.target == "c1"]
    assert not entry.allowed  # the refusal is still in the audit trail


async def test_the_enrolment_summary_says_where_alerts_will_go(officer: User) -> None:
    confirm = await up_to_the_confirmation(officer, chat_id="-1001234")  # a team's group
    assert "🚨 Cảnh báo triệu chứng gửi về: cuộc trò chuyện có mã -1001234" in str(confirm["text"])
