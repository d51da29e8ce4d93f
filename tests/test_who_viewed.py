"""«Ai đã xem thông tin của tôi?»: a resident sees which staff read or changed their data (role,
unit, time; names only when configured), and nobody else's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import Service
from bot.selfies import SelfiePool
from core.channel import Platform
from core.clock import FixedClock
from core.models import Account, Case, ChatRef, Consent, Person, Role, Staff
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at, sandbox_settings, staff_user
from tests.test_casework import DAY, a_flagged_declaration
from tests.test_trace import a_town, ids


@pytest.fixture
async def service(
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    selfie_pool: SelfiePool,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Service]:
    """The bot, with the settings a test asks for (`indirect` parameters)."""
    settings = sandbox_settings(sandbox, **getattr(request, "param", {}))
    running = Service(settings, storage, clock, selfies=selfie_pool, run_scheduler=False)
    await running.start()
    yield running
    await running.stop()


async def resident_with_case(storage: Storage, user: User, number: int) -> Case:
    """`user` as a registered resident of Xã Tân Hà with active case `number`."""
    created = at(7, 0, day=20)
    person = Person(
        id=f"p-{user.user_id}",
        name="Lê Thị Hoa",
        phone=f"+8498{number:07d}",
        area="tan-ha",
        consent=Consent(version="2026-11", at=created),
        created_at=created,
    )
    await storage.people.add(person)
    await storage.accounts.save(
        Account(
            platform=user.platform,
            user_id=user.user_id,
            chat_id=user.user_id,
            person_id=person.id,
            created_at=created,
        )
    )
    case = Case(
        id=f"c{number}",
        number=number,
        person_id=person.id,
        area="tan-ha",
        start=DAY - timedelta(days=3),
        end=DAY + timedelta(days=10),
        staff_chat=ChatRef(platform=user.platform, chat_id="-100"),
        officer="test",
        created_at=created,
    )
    assert await storage.cases.add(case) == case
    return case


def neighbour(sandbox: Sandbox, platform: str) -> User:
    """A second resident of the commune."""
    user_id = "100009" if platform == "telegram" else "a1b2c3d4e5f600119999"
    return User(sandbox.url, platform, user_id, name="Trần Văn Bình")


async def test_a_resident_sees_who_opened_their_case_and_a_neighbour_sees_nothing_of_it(
    user: User, officer: User, sandbox: Sandbox, storage: Storage, clock: FixedClock, platform: str
) -> None:
    await resident_with_case(storage, user, 7)
    other = neighbour(sandbox, platform)
    await resident_with_case(storage, other, 8)
    [nothing_yet] = await user.says("/aixem")
    assert "chưa có cán bộ nào xem" in nothing_yet["text"]

    clock.advance(timedelta(minutes=5))
    [shown] = await officer.says("/case 7")
    assert "Lê Thị Hoa" in shown["text"]
    [seen] = await user.says("/aixem")
    assert seen["text"].splitlines() == [
        "👁 Ai đã xem, cập nhật thông tin của tôi trong 30 ngày qua (mới nhất ở trên):",
        "• 09:35 27/11 — Cán bộ y tế (Xã Tân Hà): xem ca số 7",
    ]
    [theirs] = await other.says("/whoviewed")
    assert "chưa có cán bộ nào xem" in theirs["text"]
    await other.aclose()


async def test_the_menu_and_help_offer_it_and_strangers_get_nothing(
    user: User, storage: Storage, sandbox: Sandbox, platform: str
) -> None:
    stranger = neighbour(sandbox, platform)
    [unregistered] = await stranger.says("/aixem")
    assert "Chưa đăng ký" in unregistered["text"]
    await stranger.aclose()
    await resident_with_case(storage, user, 7)
    [help_text] = await user.says("/trogiup")
    assert "/aixem (hoặc /whoviewed)" in help_text["text"]
    [menu] = await user.says("menu")
    assert "👁 Ai đã xem thông tin của tôi?" in options_of(menu, platform)
    [answer] = await user.choose("👁 Ai đã xem thông tin của tôi?")
    assert "chưa có cán bộ nào xem" in answer["text"]


@pytest.mark.parametrize("service", [{"audit_show_names": True}], indirect=True)
async def test_staff_names_show_when_configured(
    user: User, service: Service, sandbox: Sandbox, storage: Storage, clock: FixedClock
) -> None:
    await resident_with_case(storage, user, 7)
    user_id = "200007" if user.platform == "telegram" else "b2c3d4e5f6a700117777"
    await storage.staff.add(
        Staff(
            platform=Platform(user.platform),
            user_id=user_id,
            role=Role.COMMUNE_STAFF,
            areas=["tan-ha"],
            name="Nguyễn Văn Hùng",
            added_by="test",
            added_at=clock.now(),
        )
    )
    staff = User(sandbox.url, user.platform, user_id)
    await staff.says("/case 7")
    await staff.aclose()
    [seen] = await user.says("/aixem")
    assert "• 09:30 27/11 — Cán bộ xã Nguyễn Văn Hùng (Xã Tân Hà): xem ca số 7" in seen["text"]


async def test_a_photo_review_a_trace_and_a_worker_record_show_up_for_that_person(
    user: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    case = await resident_with_case(storage, user, 7)
    receipt = await a_flagged_declaration(storage, case, 1, clock.now())
    [item] = await officer.says("/review")
    assert receipt in item["text"]
    await officer.says("/cancel")
    _working, traced, _file = await officer.says("/truyvet 7", 3)
    assert "Truy vết Lê Thị Hoa" in traced["text"]
    [record] = await officer.says("/congnhan 0980000007")
    assert "Lê Thị Hoa" in record["text"]
    [seen] = await user.says("/aixem")
    who = "Cán bộ y tế (Xã Tân Hà)"
    assert seen["text"].splitlines()[1:] == [
        f"• 09:30 27/11 — {who}: xem hồ sơ người lao động",
        f"• 09:30 27/11 — {who}: nhận kết quả truy vết tiếp xúc",
        f"• 09:30 27/11 — {who}: truy vết tiếp xúc",
        f"• 09:30 27/11 — {who}: mở ảnh mã {receipt} (ca số 7) để xem lại",
    ]


async def test_the_contacts_a_trace_found_see_that_their_scans_were_read(
    officer: User, sandbox: Sandbox, storage: Storage, clock: FixedClock, platform: str
) -> None:
    await a_town(storage, Platform(platform), at(0, 0, 26))
    await officer.says("/truyvet 0912 000 001", 4)
    minh = User(sandbox.url, platform, ids(Platform(platform), 1))
    [seen] = await minh.says("/aixem")
    await minh.aclose()
    assert seen["text"].splitlines()[1:] == [
        "• 09:30 27/11 — Cán bộ y tế (Xã Tân Hà): truy vết tiếp xúc: xem lịch sử quét mã QR"
    ]


async def test_an_export_shows_up_for_each_person_in_it(
    user: User, sandbox: Sandbox, service: Service, storage: Storage, clock: FixedClock
) -> None:
    await resident_with_case(storage, user, 7)
    user_id = "200021" if user.platform == "telegram" else "b2c3d4e5f6a721"
    async with staff_user(
        storage, clock, sandbox, user.platform, user_id, Role.COMMUNE_STAFF
    ) as staff:
        await staff.says("/xuat ca csv godata", replies=2)
    [seen] = await user.says("/aixem")
    what = "đưa thông tin vào tệp xuất dữ liệu cho hệ thống khác"
    assert seen["text"].splitlines()[1:] == [f"• 09:30 27/11 — Cán bộ xã (Xã Tân Hà): {what}"]
