"""Invitations and identities tried as an attacker would: a forwarded link, a guessed code,
a typed phone number that belongs to someone else, two openers and two officers at once."""

from __future__ import annotations

import asyncio

from core.channel import Platform
from core.clock import FixedClock
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import at
from tests.test_onboarding import register
from tests.test_quarantine import enrol, open_invite, up_to_the_confirmation

ENROLLED_PHONE = "0987111222"


def person(sandbox: Sandbox, platform: str, n: int, name: str = "Trần Văn Lạ") -> User:
    """Someone on the platform (distinct ids per n)."""
    user_id = f"50000{n}" if platform == "telegram" else f"e5f6a7b{n}"
    return User(sandbox.url, platform, user_id, name=name)


def opening(user: User, payload: str, code: str) -> str:
    """What this user sends to open the invitation."""
    return f"/start {payload}" if user.platform is Platform.TELEGRAM else code


async def up_to_the_phone_question(user: User, payload: str, code: str) -> None:
    """Open the invitation, choose the language and consent: the bot asks for the phone."""
    await user.says(opening(user, payload, code), 3)
    await user.choose("🇻🇳 Tiếng Việt")
    [asked] = await user.choose("✅ Đồng ý")
    assert "số điện thoại" in asked["text"] and "Lê Thị Hoa" not in asked["text"]


async def test_a_forwarded_invitation_shows_nothing_to_someone_without_the_phone(
    officer: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    stranger = person(sandbox, platform, 1)
    await up_to_the_phone_question(stranger, payload, code)
    [refused] = await stranger.says("0912 345 678")
    assert "không khớp" in refused["text"] and "Lê Thị Hoa" not in refused["text"]
    assert await storage.db["channel_accounts"].count_documents({}) == 0
    invite = await storage.db["invites"].find_one({})
    assert invite is not None and invite["used_at"] is None
    # The invitation still works for the person it was meant for.
    await open_invite(person(sandbox, platform, 2, "Lê Thị Hoa"), payload, code)


async def test_wrong_phone_numbers_are_limited(
    officer: User, sandbox: Sandbox, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    guesser = person(sandbox, platform, 1)
    await up_to_the_phone_question(guesser, payload, code)
    for guess in range(4):
        [refused] = await guesser.says(f"090000000{guess}")
        assert "không khớp" in refused["text"]
    [locked] = await guesser.says("0900000009")
    assert "quá nhiều lần" in locked["text"]
    await up_to_the_phone_question(guesser, payload, code)
    [still_locked] = await guesser.says(ENROLLED_PHONE)  # even the right number, this hour
    assert "quá nhiều lần" in still_locked["text"]


async def test_a_second_opener_of_a_used_invitation_changes_nothing(
    officer: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(person(sandbox, platform, 1, "Lê Thị Hoa"), payload, code)
    bound = await storage.db["channel_accounts"].count_documents({})
    relative = person(sandbox, platform, 2)
    [used] = await relative.says(opening(relative, payload, code))
    assert "đã được sử dụng" in used["text"]
    assert await storage.db["channel_accounts"].count_documents({}) == bound


async def test_two_openers_with_the_phone_at_once_one_gets_the_case(
    officer: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    first, second = person(sandbox, platform, 1), person(sandbox, platform, 2)
    for opener in (first, second):
        await up_to_the_phone_question(opener, payload, code)
    replies = await asyncio.gather(
        first.share_phone(ENROLLED_PHONE), second.share_phone(ENROLLED_PHONE)
    )
    texts = [reply["text"] for [reply] in replies]
    assert sum("đã được sử dụng" in text for text in texts) == 1
    assert sum("Lê Thị Hoa" in text for text in texts) == 1
    invite = await storage.db["invites"].find_one({})
    assert invite is not None
    assert invite["used_by"] in {f"{platform}:{first.user_id}", f"{platform}:{second.user_id}"}


async def test_guessed_codes_are_cut_off_and_audited_once_a_minute(
    user: User, storage: Storage, platform: str
) -> None:
    if platform == "telegram":
        return  # codes are Zalo's way in; Telegram uses signed links
    await register(user)
    for guess in range(5):
        [refused] = await user.says(f"KB2345678{guess + 2}")
        assert "không hợp lệ" in refused["text"]
    for guess in range(20):
        [blocked] = await user.says(f"KB22222{guess:03d}".replace("0", "3").replace("1", "4"))
        assert "quá nhiều lần" in blocked["text"]
    failed = [e for e in await storage.audit.latest(50) if e.action == "code.failed"]
    assert len(failed) == 1  # one entry this minute, however many guesses


async def test_a_typed_phone_number_is_not_an_identity(
    officer: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    impostor = person(sandbox, platform, 1, "Lê Thị Hoa")
    if platform == "telegram":  # on Telegram typing instead of sharing the contact
        await impostor.says("/start", 2)
        await impostor.choose("🇻🇳 Tiếng Việt")
        await impostor.choose("✅ Đồng ý")
        await impostor.says("Lê Thị Hoa")
        await impostor.says(ENROLLED_PHONE)
        await impostor.choose("Xã Tân Hà")
        await impostor.choose("✅ Đúng, xác nhận", 2)
    else:
        await register(impostor, phone=ENROLLED_PHONE)
    clock.set(at(9, 30))
    _payload, _code = await enrol(officer)  # an invitation, not a direct binding
    [reply] = await impostor.says("/khaibao")
    assert "chưa có hồ sơ cách ly" in reply["text"]
    assert await storage.db["outbox"].count_documents({"key": {"$regex": "^welcome:"}}) == 0


async def test_a_shared_own_contact_lets_staff_bind_the_case_directly(
    officer: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    if platform == "zalo":
        return  # Zalo cannot share a contact: its residents always get an invitation
    resident = person(sandbox, platform, 1, "Lê Thị Hoa")
    await register(resident, phone=ENROLLED_PHONE)  # the contact button on Telegram
    clock.set(at(9, 30))
    await up_to_the_confirmation(officer)
    [bound] = await officer.choose("✅ Tạo ca")
    assert "đã dùng bot" in bound["text"]
    assert await storage.db["invites"].count_documents({}) == 0


async def test_two_officers_enrolling_one_person_at_once_get_one_case(
    officer: User, colleague: User, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    for staff in (officer, colleague):
        await up_to_the_confirmation(staff)
    await asyncio.gather(
        officer.send(0, **_create_press(officer)), colleague.send(0, **_create_press(colleague))
    )
    texts = [m["text"] for staff in (officer, colleague) for m in await staff.replies(1)]
    assert sum("Đã tạo ca cách ly số" in text for text in texts) == 1
    assert sum("đang có ca cách ly số" in text for text in texts) == 1
    assert await storage.db["cases"].count_documents({}) == 1


def _create_press(staff: User) -> dict[str, object]:
    """The fields of pressing «✅ Tạo ca» on the confirmation (typing its number on Zalo)."""
    message = staff.history[-1]
    if staff.platform is Platform.TELEGRAM:
        data = next(b["data"] for row in message["buttons"] for b in row if "Tạo ca" in b["label"])
        return {"callback_data": data, "message_id": message["message_id"]}
    return {"text": "1"}
