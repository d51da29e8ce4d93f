"""Declaring the way people do: a selfie sent on its own, symptoms typed as words, an
"I feel unwell" report inside a window, and selfies that need taking again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.imaging import normalise_photo
from core.models import Answers, Case, ChatRef, Declaration
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at
from tests.images import ASTRONAUT, darkened, encode, gradient, sample, two_heads
from tests.test_quarantine import SELFIE, answer_symptoms, enrol, open_invite
from tests.test_quarantine_input import resident_on

NO_SYMPTOMS = "✅ Không có triệu chứng nào"
UNWELL = "🤒 Tôi thấy không khỏe"


@pytest.fixture
async def resident(service: Service, sandbox: Sandbox, officer: User, clock: FixedClock) -> User:
    """Lê Thị Hoa, in quarantine since 09:30 (case 1), with no flow in progress."""
    person = resident_on(sandbox, officer.platform)
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(person, payload, code)
    return person


async def declarations(storage: Storage) -> list[dict[str, Any]]:
    """Every stored declaration."""
    return [d async for d in storage.db["declarations"].find()]


async def no_symptoms_then_skip_the_position(resident: User) -> dict[str, Any]:
    """After a selfie sent first: no symptoms, then skip the position; returns the receipt."""
    await resident.choose(NO_SYMPTOMS)
    [receipt] = await resident.says("Bỏ qua")
    return receipt


async def test_a_lone_selfie_in_a_window_starts_the_declaration_with_it(
    resident: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(12, 0))
    [question] = await resident.photo(SELFIE)
    assert NO_SYMPTOMS in options_of(question, resident.platform)
    [where] = await resident.choose(NO_SYMPTOMS)  # not asked for the selfie again
    assert "xác nhận nơi đang ở" in where["text"]  # the position comes last, skippable
    [receipt] = await resident.says("Bỏ qua")
    assert "buổi trưa, hạn 13 giờ" in receipt["text"] and "đúng hạn" in receipt["text"]
    [declaration] = await declarations(storage)
    [photo] = [p async for p in storage.db["selfies"].find()]
    assert declaration["selfie_id"] == photo["_id"] and declaration["slot"] == "13:00"
    assert declaration["dhash"] == f"{normalise_photo(SELFIE).dhash:016x}"


async def test_a_lone_selfie_outside_the_windows_offers_an_extra_declaration(
    resident: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(9, 45))
    [offer] = await resident.photo(SELFIE)
    assert "khai báo thêm" in offer["text"] and options_of(offer, resident.platform) == [
        "Có",
        "Không",
    ]
    [declined] = await resident.choose("Không")
    assert "không được lưu" in declined["text"]
    assert await storage.db["selfies"].count_documents({}) == 0

    await resident.photo(SELFIE)
    await resident.choose("Có")
    receipt = await no_symptoms_then_skip_the_position(resident)
    assert "khai báo thêm" in receipt["text"]
    [declaration] = await declarations(storage)
    assert (declaration["slot"], declaration["timing"]) == (None, "adhoc")
    assert await storage.db["selfies"].count_documents({}) == 1


async def test_words_offer_the_unwell_report_only_during_quarantine(
    resident: User, officer: User
) -> None:
    [offer] = await resident.says("hôm nay tôi bị ho")
    assert "chọn «🤒 Tôi thấy không khỏe»" in offer["text"]
    assert UNWELL in options_of(offer, resident.platform)

    await officer.says("/end 1 chuyển viện")
    await officer.choose("✅ Kết thúc ca")
    await resident.replies()  # the case ended
    [menu] = await resident.says("hôm nay tôi bị ho")
    assert "không khỏe" not in menu["text"]
    assert UNWELL not in options_of(menu, resident.platform)


async def test_unwell_inside_an_unfilled_window_counts_for_it(
    resident: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(12, 0))
    await resident.choose(UNWELL)
    await answer_symptoms(resident, fever=False)
    [receipt] = await resident.photo(SELFIE)
    assert "buổi trưa, hạn 13 giờ" in receipt["text"] and "đúng hạn" in receipt["text"]

    clock.set(at(12, 20))  # the window is filled now: another report is extra
    await resident.says("/khongkhoe")
    await answer_symptoms(resident, fever=False)
    [extra] = await resident.photo(SELFIE)
    assert "khai báo thêm" in extra["text"]
    timings = sorted(str(d["timing"]) for d in await declarations(storage))
    assert timings == ["adhoc", "on_time"]


async def test_unwell_after_a_missed_window_stays_extra(
    resident: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(13, 30))  # the 13:00 window was missed: /khaibao would fill it, late
    await resident.says("/khongkhoe")
    await answer_symptoms(resident, fever=False)
    [receipt] = await resident.photo(SELFIE)
    assert "khai báo thêm" in receipt["text"] and "trễ hạn" not in receipt["text"]
    [declaration] = await declarations(storage)
    assert (declaration["slot"], declaration["timing"]) == (None, "adhoc")


@pytest.mark.parametrize(
    ("image", "message", "flag"),
    [
        (sample("coffee"), "Chưa thấy rõ khuôn mặt. Vui lòng chụp lại", "no_face"),
        (two_heads(), "Ảnh có nhiều khuôn mặt", "several_faces"),
        (darkened(ASTRONAUT), "Ảnh quá tối", "no_face"),  # kept even if dlib finds her face
        (gradient(800, 600), "Ảnh bị mờ", "no_face"),
    ],
    ids=["no-face", "two-faces", "dark", "blurred"],
)
async def test_an_unclear_selfie_is_asked_again_twice_then_kept_and_flagged(
    resident: User,
    clock: FixedClock,
    storage: Storage,
    service: Service,
    image: Image.Image,
    message: str,
    flag: str,
) -> None:
    clock.set(at(12, 0))
    await resident.says("/khaibao")
    await resident.choose(NO_SYMPTOMS)
    for _ in range(2):
        [retake] = await resident.photo(encode(image))
        assert message in retake["text"] and "nhìn thẳng vào máy" in retake["text"]
    [receipt] = await resident.photo(encode(image))
    assert "Đã nhận khai báo" in receipt["text"] and "đúng hạn" in receipt["text"]
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()
    [declaration] = await declarations(storage)
    assert flag in declaration["flags"] and declaration["needs_review"] is True


async def test_a_lone_unclear_selfie_is_asked_again_before_the_questions(
    resident: User, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(12, 0))
    [retake] = await resident.photo(encode(sample("coffee")))
    assert "Chưa thấy rõ khuôn mặt" in retake["text"]
    [question] = await resident.photo(SELFIE)
    assert NO_SYMPTOMS in options_of(question, resident.platform)
    receipt = await no_symptoms_then_skip_the_position(resident)
    assert "đúng hạn" in receipt["text"]
    [declaration] = await declarations(storage)
    assert declaration["flags"] == []


async def other_case_declared(storage: Storage, photo: bytes, days_ago: int) -> None:
    """Case 2, of another resident, declared with `photo` some days before 27/11."""
    created = at(8, 0) - timedelta(days=20)
    case = Case(
        id="other-case",
        number=2,
        person_id="other-person",
        area="tan-ha",
        start=created.date(),
        end=created.date() + timedelta(days=30),
        staff_chat=ChatRef(platform=Platform.TELEGRAM, chat_id="1"),
        officer="test",
        created_at=created,
    )
    await storage.cases.add(case)
    sent = at(11, 45) - timedelta(days=days_ago)
    normalised = normalise_photo(photo)
    declaration = Declaration(
        id=f"other-{days_ago}",
        receipt=f"OTHER{days_ago:03d}",
        case_id=case.id,
        area=case.area,
        local_date=sent.date(),
        slot="13:00",
        timing="on_time",
        answers=Answers(),
        selfie_id=f"other-selfie-{days_ago}",
        dhash=f"{normalised.dhash:016x}",
        submitted_at=sent,
    )
    assert await storage.declarations.add(declaration, selfie=normalised.jpeg)


@pytest.mark.parametrize(("days_ago", "reused"), [(3, True), (15, False)])
async def test_a_photo_another_resident_sent_in_the_last_14_days_is_flagged(
    resident: User,
    clock: FixedClock,
    storage: Storage,
    service: Service,
    days_ago: int,
    reused: bool,
) -> None:
    await other_case_declared(storage, encode(ASTRONAUT.resize((400, 400)), quality=70), days_ago)
    clock.set(at(12, 0))
    await resident.photo(SELFIE)
    await no_symptoms_then_skip_the_position(resident)
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()
    mine = await storage.db["declarations"].find_one({"case_id": {"$ne": "other-case"}})
    assert mine is not None
    assert ("reused" in mine["flags"]) is reused


async def test_with_symptoms_an_unclear_selfie_is_kept_at_once(
    resident: User, officer: User, clock: FixedClock, storage: Storage, service: Service
) -> None:
    clock.set(at(12, 0))
    await resident.says("/khongkhoe")
    await answer_symptoms(resident, fever=False)
    [receipt] = await resident.photo(encode(sample("coffee")))  # staff are not kept waiting
    assert "Cán bộ y tế đã được báo" in receipt["text"]
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()
    [declaration] = await declarations(storage)
    assert declaration["flags"] == ["no_face"]
