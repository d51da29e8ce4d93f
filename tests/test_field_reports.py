"""Citizens' field reports («Phản ánh») through the emulators: a ticket with photos and
anonymity, the thread between staff and citizen, status news, the open list, escalation to
the district, the hourly limit, closed tickets and the staff gate."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import ReportStatus, Role
from sandbox.server import Sandbox
from scheduler.reports import escalate_waiting
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import staff_user
from tests.images import gradient
from tests.test_onboarding import register

EPIDEMIC = "🦠 Tình hình dịch bệnh"
TAN_HA = "Xã Tân Hà"
REPLY = "💬 Trả lời"
IN_PROGRESS = "🔄 Đang xử lý"
RESOLVED = "✅ Đã giải quyết"
DUPLICATE = "🔁 Trùng với #…"
SEND = "📨 Gửi"
ELSEWHERE_IDS = {"telegram": "200009", "zalo": "b2c3d4e5f6a709"}
ADMIN_IDS = {"telegram": "200001", "zalo": "b2c3d4e5f6a701"}


def scene_photo() -> bytes:
    """A photo of a scene as a phone takes it, with EXIF metadata (the camera, GPS)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (10.0, 46.0, 30.0)}  # GPSInfo
    out = BytesIO()
    gradient(640, 480).save(out, "JPEG", exif=exif)
    return out.getvalue()


async def send_report(
    user: User,
    text: str,
    photos: tuple[bytes, ...] = (),
    anonymous: bool = False,
    area: str = TAN_HA,
) -> int:
    """Report an epidemic matter the way a person would; returns the ticket number."""
    await user.says("/phananh")
    await user.choose(EPIDEMIC)
    [ask_photos] = await user.says(text)
    assert "tối đa 3 ảnh" in ask_photos["text"]
    for photo in photos:
        [received] = await user.photo(photo)
        assert "Đã nhận ảnh" in received["text"]
    [after_photos] = await user.choose("✅ Xong phần ảnh" if photos else "Không có ảnh")
    if user.platform is Platform.TELEGRAM:
        assert after_photos["ask"] == "location"
        await user.share_location(11.55, 106.28, replies=2)
    if area in options_of(user.history[-1], user.platform):  # Zalo, or not registered
        await user.choose(area)
    [summary] = await user.choose("Có" if anonymous else "Không")
    assert text in summary["text"] and SEND in options_of(summary, user.platform)
    [receipt] = await user.choose(SEND)
    assert "Đã gửi phản ánh" in receipt["text"]
    found = re.search(r"#(\d+)", receipt["text"])
    assert found, receipt
    return int(found.group(1))


async def press(
    person: User, number: int, label: str, replies: int = 1, ticket: bool = False
) -> list[dict[str, Any]]:
    """A report button: on the latest message about ticket `number` (Telegram), or on the
    ticket `/phieu` opens (Zalo, or with `ticket`)."""
    if ticket or person.platform is Platform.ZALO:
        [shown] = await person.says(f"/phieu {number}")
        assert label in options_of(shown, person.platform), shown
        return await person.choose(label, replies)
    about = re.compile(rf"#{number}\b")
    message = next(
        m
        for m in reversed(person.history)
        if about.search(m["text"] or m["caption"]) and label in options_of(m, person.platform)
    )
    data = next(b["data"] for row in message["buttons"] for b in row if b["label"] == label)
    return await person.send(replies, callback_data=data, message_id=message["message_id"])


async def report_in_db(storage: Storage, number: int) -> dict[str, Any]:
    """The stored report with this ticket number."""
    document = await storage.db["reports"].find_one({"number": number})
    assert document is not None
    return document


@pytest.fixture
async def resident(user: User) -> User:
    """A resident registered in Xã Tân Hà."""
    await register(user, area=TAN_HA)
    return user


@pytest.fixture
async def elsewhere(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A health officer of another commune (Xã Suối Dây)."""
    async with staff_user(
        storage,
        clock,
        sandbox,
        platform,
        ELSEWHERE_IDS[platform],
        Role.HEALTH_OFFICER,
        ("suoi-day",),
    ) as staff:
        yield staff


@pytest.fixture
async def admin(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A district admin."""
    async with staff_user(
        storage, clock, sandbox, platform, ADMIN_IDS[platform], Role.DISTRICT_ADMIN, ()
    ) as staff:
        yield staff


async def test_an_anonymous_report_with_a_photo_becomes_a_ticket_with_a_thread(
    resident: User, officer: User, service: Service, storage: Storage, clock: FixedClock
) -> None:
    await resident.says("/phananh")
    await resident.choose(EPIDEMIC)
    [too_long] = await resident.says("x" * 2001)
    assert "quá giới hạn 2000 ký tự" in too_long["text"]
    await resident.says("Nhiều người sốt ở xóm trên")
    [refused] = await resident.photo(scene_photo()[:300])  # a truncated upload
    assert "Không đọc được ảnh này" in refused["text"]
    await resident.says("/huy", replies=2)

    number = await send_report(
        resident, "Nhiều người sốt ở xóm trên, ấp 3", photos=(scene_photo(),), anonymous=True
    )
    stored = await report_in_db(storage, number)
    assert stored["anonymous"] and stored["area"] == "tan-ha" and len(stored["photos"]) == 1
    jpeg = await storage.photos.get(stored["photos"][0])
    assert jpeg is not None and not Image.open(BytesIO(jpeg)).getexif()  # EXIF stripped

    notice, photo = sorted(await officer.replies(2), key=lambda m: m["kind"] == "photo")
    assert f"Phản ánh #{number}" in notice["text"] and "Nhiều người sốt" in notice["text"]
    assert "giấu tên" in notice["text"]
    assert "Nguyễn Văn An" not in notice["text"] and "0912" not in notice["text"]
    assert photo["kind"] == "photo" and f"#{number}" in photo["caption"]
    if officer.platform is Platform.TELEGRAM:
        assert "maps.google.com/?q=11.55000,106.28000" in notice["text"]
        assert REPLY in options_of(notice, officer.platform)
    else:
        assert f"/phieu {number}" in notice["text"]

    clock.advance(timedelta(hours=2))
    [listed] = await officer.says("/reports")
    assert f"#{number}" in listed["text"] and "2 giờ trước" in listed["text"]

    [ask] = await press(officer, number, REPLY)
    assert f"#{number}" in ask["text"]
    [sent] = await officer.says("Trạm y tế sẽ đến kiểm tra chiều nay.")
    assert "Đã gửi trả lời" in sent["text"]
    [answer] = await resident.replies()
    assert "Trạm y tế sẽ đến kiểm tra chiều nay." in answer["text"]

    await press(resident, number, REPLY)
    [passed_on] = await resident.says("Cảm ơn, nhà thứ hai sau cổng ấp.")
    assert "Đã chuyển tới cán bộ" in passed_on["text"]
    [back] = await officer.replies()
    assert "Cảm ơn, nhà thứ hai sau cổng ấp." in back["text"] and f"#{number}" in back["text"]

    await press(officer, number, IN_PROGRESS)
    [news] = await resident.replies()
    assert "đang xử lý" in news["text"]
    stored = await report_in_db(storage, number)
    assert stored["status"] == ReportStatus.IN_PROGRESS.value and len(stored["notes"]) == 2


async def test_status_news_and_a_reply_to_a_closed_ticket_is_refused(
    resident: User, officer: User, storage: Storage
) -> None:
    first = await send_report(resident, "Có người tụ tập đông ở chợ")
    [notice] = await officer.replies()
    assert "Nguyễn Văn An" in notice["text"] and "0912 345 678" in notice["text"]
    second = await send_report(resident, "Lại có người tụ tập đông ở chợ")
    await officer.replies()

    await press(officer, second, DUPLICATE)
    [invalid] = await officer.says(str(second))
    assert "một phản ánh khác" in invalid["text"]
    [marked] = await officer.says(f"#{first}")
    assert f"trùng với phản ánh #{first}" in marked["text"]
    [news] = await resident.replies()
    assert f"#{second} trùng với phản ánh #{first}" in news["text"]

    await press(resident, first, REPLY, ticket=True)  # the citizen starts an answer…
    await press(officer, first, RESOLVED)  # …and the ticket is closed meanwhile
    [resolved] = await resident.replies()
    assert f"#{first} đã được giải quyết" in resolved["text"]
    [refused] = await resident.says("Vẫn còn người tụ tập")
    assert f"#{first} đã đóng" in refused["text"]
    if officer.platform is Platform.TELEGRAM:  # the notice's buttons no longer act
        [refused] = await press(officer, first, REPLY)
        assert f"#{first} đã đóng (đã giải quyết)" in refused["text"]
    else:  # the ticket shows its status and offers nothing to do
        [ticket] = await officer.says(f"/phieu {first}")
        assert "đã giải quyết" in ticket["text"] and options_of(ticket, "zalo") == []
    stored = await report_in_db(storage, first)
    assert stored["status"] == ReportStatus.RESOLVED.value and stored["notes"] == []
    [empty] = await officer.says("/reports")
    assert "Không có phản ánh nào đang mở" in empty["text"]


async def test_a_ticket_nobody_took_up_reaches_the_district_admins_once(
    resident: User,
    officer: User,
    admin: User,
    service: Service,
    storage: Storage,
    clock: FixedClock,
) -> None:
    waiting = await send_report(resident, "Ổ dịch nghi ngờ ở ấp Tân Lợi")
    handled = await send_report(resident, "Có rác thải y tế vứt bên đường")
    await officer.replies(2)
    await press(officer, handled, IN_PROGRESS)
    await resident.replies()

    clock.advance(timedelta(hours=3, minutes=59))
    await service.escalate_reports()
    assert (await report_in_db(storage, waiting)).get("escalated_at") is None
    clock.advance(timedelta(minutes=1))
    await service.escalate_reports()
    [escalation] = await admin.replies()
    assert f"Phản ánh #{waiting} chưa được cán bộ xã Tân Hà xử lý sau 4 giờ" in escalation["text"]
    assert "Ổ dịch nghi ngờ" in escalation["text"]

    assert service.router is not None
    services = service.router.services
    again = await asyncio.gather(
        *(escalate_waiting(services, timedelta(hours=4)) for _ in range(2))
    )
    assert again == [0, 0]
    keys = [m["key"] async for m in storage.db["outbox"].find({"key": {"$regex": ":escalation/"}})]
    assert len(keys) == 1 and f"/{admin.platform.value}:{admin.user_id}" in keys[0]
    assert (await report_in_db(storage, handled)).get("escalated_at") is None


async def test_reports_are_limited_per_hour_and_strangers_name_their_commune(
    user: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    for index in range(5):
        await send_report(user, f"Phản ánh số {index + 1} về tụ tập đông người")
    notices = await officer.replies(5)
    assert all("Nguyễn Văn An" in notice["text"] for notice in notices)  # the chat's name
    [refused] = await user.says("/phananh")
    assert "đã gửi 5 phản ánh" in refused["text"]
    assert await storage.db["reports"].count_documents({"area": "tan-ha"}) == 5

    clock.advance(timedelta(hours=1))
    await send_report(user, "Phản ánh sau một giờ")
    assert await storage.db["reports"].count_documents({}) == 6


async def test_staff_of_another_commune_cannot_act_on_a_ticket(
    resident: User, officer: User, elsewhere: User, storage: Storage
) -> None:
    number = await send_report(resident, "Có người từ vùng dịch về không khai báo")
    await officer.replies()
    [refused] = await elsewhere.says(f"/phieu {number}")
    assert f"Không có phản ánh #{number} trong phạm vi" in refused["text"]
    if elsewhere.platform is Platform.TELEGRAM:  # a forged button press
        await elsewhere.send(
            1, callback_data=f"rpt:done:{number}", message_id=refused["message_id"]
        )
    [empty] = await elsewhere.says("/reports")
    assert "Không có phản ánh nào đang mở" in empty["text"]
    stored = await report_in_db(storage, number)
    assert stored["status"] == ReportStatus.NEW.value and stored["notes"] == []
    denied = await storage.db["audit"].count_documents(
        {"action": "report.handle", "allowed": False, "target": stored["_id"]}
    )
    assert denied >= 1
    told = await elsewhere.client.messages(elsewhere.user_id)
    assert not any("từ vùng dịch" in message["text"] for message in told)


async def test_deleting_my_data_erases_my_reports_their_photos_and_notices(
    resident: User, officer: User, storage: Storage
) -> None:
    await send_report(resident, "Có người bán hàng không đeo khẩu trang", photos=(scene_photo(),))
    await officer.replies(2)
    await resident.says("/phananh")  # a draft with a photo, left unsent
    await resident.choose(EPIDEMIC)
    await resident.says("Bản nháp")
    await resident.photo(scene_photo())
    assert await storage.db["selfies"].count_documents({}) == 2
    await resident.says("/huy", replies=2)

    await resident.says("/delete")
    await resident.choose("🗑 Xóa thông tin")
    assert await storage.db["reports"].count_documents({}) == 0
    assert await storage.db["selfies"].count_documents({}) == 0
    notices = {"key": {"$regex": "^report:"}}
    assert await storage.db["outbox"].count_documents(notices) == 0
