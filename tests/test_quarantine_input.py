"""Bad input during enrolment, invitations and declarations: a clear message, nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Service
from core.clock import FixedClock
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import at
from tests.images import ASTRONAUT, encode, noise, png_bomb
from tests.test_quarantine import enrol, open_invite


def resident_on(sandbox: Sandbox, platform: str, number: int = 1) -> User:
    """A resident on the platform (distinct ids per number)."""
    user_id = f"40000{number}" if platform == "telegram" else f"d4e5f6a{number}"
    return User(sandbox.url, platform, user_id, name="Lê Thị Hoa")


@pytest.fixture
async def at_selfie_step(
    service: Service, sandbox: Sandbox, officer: User, clock: FixedClock, platform: str
) -> User:
    """A registered case at 12:00 (13:00 window open) asked for the selfie."""
    resident = resident_on(sandbox, platform)
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(resident, payload, code)
    clock.set(at(12, 0))
    await resident.says("/khaibao")
    await resident.choose("✅ Không có triệu chứng nào")
    return resident


async def test_stranger_cannot_enrol(user: User, storage: Storage) -> None:
    [refused] = await user.says("/enroll")
    assert "không có quyền" in refused["text"]
    [entry] = await storage.audit.latest(1)
    assert (entry.action, entry.allowed) == ("case.enroll", False)
    assert await storage.db["cases"].count_documents({}) == 0


async def test_forged_invite_or_unknown_code_is_refused(user: User, storage: Storage) -> None:
    forged = "/start inv_" + "A" * 30 if user.platform == "telegram" else "KB7F3K9QXM"
    [refused] = await user.says(forged)
    assert "không hợp lệ" in refused["text"]
    assert await storage.db["channel_accounts"].count_documents({}) == 0


async def test_an_invite_works_once(
    officer: User, sandbox: Sandbox, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(resident_on(sandbox, platform, 1), payload, code)
    other = resident_on(sandbox, platform, 2)
    [used] = await other.says(f"/start {payload}" if platform == "telegram" else code)
    assert "đã được sử dụng" in used["text"]


async def test_an_expired_invite_is_refused(
    officer: User, sandbox: Sandbox, platform: str, clock: FixedClock
) -> None:
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    clock.advance(timedelta(hours=73))
    [expired] = await resident_on(sandbox, platform).says(
        f"/start {payload}" if platform == "telegram" else code
    )
    assert "đã hết hạn" in expired["text"]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (encode(noise(300, 300)).replace(b"\xff\xd9", b"")[:4000], "Không đọc được ảnh"),
        (png_bomb(20_000), "Không đọc được ảnh"),
        (encode(ASTRONAUT.resize((40, 40))), "Ảnh quá nhỏ"),
        (b"\xff\xd8" + bytes(30_000_000), "Ảnh quá lớn"),
    ],
    ids=["truncated-jpeg", "decompression-bomb", "tiny", "30-mb"],
)
async def test_bad_photos_get_a_clear_message(
    at_selfie_step: User, storage: Storage, upload: bytes, message: str
) -> None:
    [refused] = await at_selfie_step.photo(upload)
    assert message in refused["text"]
    assert await storage.db["declarations"].count_documents({}) == 0
    [receipt] = await at_selfie_step.photo(encode(ASTRONAUT))  # still waiting for one
    assert "Đã nhận khai báo" in receipt["text"]


async def test_text_sticker_or_video_instead_of_a_selfie(at_selfie_step: User) -> None:
    [expected] = await at_selfie_step.says("đây là ảnh")
    assert "Vui lòng gửi một ảnh chụp khuôn mặt" in expected["text"]
    not_read, asked_again = await at_selfie_step.send(2, sticker=True)
    assert "chưa đọc được" in not_read["text"] and "chụp và gửi" in asked_again["text"]
    not_read, asked_again = await at_selfie_step.send(2, unsupported=True)
    assert "chưa đọc được" in not_read["text"]


async def test_a_button_from_an_old_message(at_selfie_step: User) -> None:
    if at_selfie_step.platform == "telegram":
        stale, asked_again = await at_selfie_step.choose("✅ Không có triệu chứng nào", 2)
        assert "tin nhắn cũ" in stale["text"]
        assert "chụp" in asked_again["text"]  # the current question again, not a dead end
    else:  # on Zalo an old number (here «2. Có triệu chứng») is just text at this step
        [expected] = await at_selfie_step.says("2")
        assert "Vui lòng gửi một ảnh" in expected["text"]


async def test_help_of_a_quarantined_resident_lists_the_declaration(at_selfie_step: User) -> None:
    [help_text, *_] = await at_selfie_step.says("/trogiup")
    assert "/khaibao" in help_text["text"] and "/khongkhoe" in help_text["text"]
