"""What a quarantined resident reads about themselves: /me with the case and today's windows."""

from __future__ import annotations

from core.clock import FixedClock
from sandbox.server import Sandbox
from tests.chat import User
from tests.conftest import at
from tests.test_quarantine import SELFIE, declare_without_symptoms, enrol, open_invite
from tests.test_quarantine_input import resident_on


async def test_me_shows_the_case_its_end_and_todays_declarations(
    sandbox: Sandbox, officer: User, clock: FixedClock, platform: str
) -> None:
    resident = resident_on(sandbox, platform)
    clock.set(at(9, 30))
    payload, code = await enrol(officer)
    await open_invite(resident, payload, code)
    clock.set(at(12, 5))
    receipt = await declare_without_symptoms(resident, SELFIE)
    assert "Đã nhận khai báo" in str(receipt["text"]), receipt
    clock.set(at(12, 40))
    [me] = await resident.says("/toi")
    text = me["text"]
    assert "ca số 1, đến hết ngày 10/12/2026" in text and "0987 111 222" in text
    assert "✅ buổi trưa, hạn 13 giờ: đã khai báo lúc 12:05" in text, text
    assert "▫️ buổi tối, hạn 19 giờ: chưa đến giờ" in text
    assert "buổi sáng" not in text  # closed before the case was enrolled: never due
    clock.set(at(20, 0, day=28))
    [me] = await resident.says("/toi")
    assert "❌ buổi sáng, hạn 8 giờ: chưa khai báo" in me["text"]
