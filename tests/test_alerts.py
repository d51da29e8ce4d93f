"""Alerts to citizens through the emulators: composing with a preview per platform and a
confirmation, the broadcast with its live progress and delivery report, muted subscribers,
update and cancel (also while sending), two officers for a district emergency, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from bot.app import Service
from bot.selfies import SelfiePool
from core.alerts import KINDS
from core.channel import Platform
from core.clock import FixedClock
from core.models import Alert, AlertKind, AlertState, AlertText, ChatRef, Role, Subscriber
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import Message, User
from tests.conftest import sandbox_settings, staff_user
from tests.images import encode, gradient

HEADLINE = "Phát hiện ca mắc COVID-19 tại xã Tân Hà"
OFFICER = {"telegram": "400001", "zalo": "d4e5f6a7b8c900112233"}
SECOND = {"telegram": "400002", "zalo": "d4e5f6a7b8c900112244"}
REPORT = "Kết quả thông báo"


def citizen_id(platform: Platform, n: int) -> str:
    """A citizen's user id (also their private chat's id) on a platform."""
    return f"3000{n:02d}" if platform is Platform.TELEGRAM else f"c3d4e5f6a7b8001122{n:02d}"


async def subscribe(
    storage: Storage,
    clock: FixedClock,
    platform: Platform,
    n: int,
    area: str = "tan-ha",
    muted: bool = False,
) -> str:
    """A citizen subscribed to one commune; returns their chat id."""
    user_id = citizen_id(platform, n)
    subscriber = Subscriber(
        platform=platform, user_id=user_id, chat_id=user_id, areas=[area], created_at=clock.now()
    )
    await storage.subscribers.subscribe(subscriber)
    if muted:
        await storage.subscribers.set_muted(platform, user_id, True)
    return user_id


async def texts_to(sandbox: Sandbox, platform: Platform, chat_id: str) -> list[str]:
    """Every text the bot has sent to a chat so far."""
    client = SandboxClient(sandbox.url, platform.value)
    try:
        return [message.get("text") or "" for message in await client.messages(chat_id)]
    finally:
        await client.aclose()


async def until_report(service: Service, officer: User, clock: FixedClock) -> list[Message]:
    """Run the broadcaster (the clock moving on) until the officer has the delivery report;
    returns what the officer got meanwhile (progress messages and edits, then the report)."""
    got: list[Message] = []
    for _ in range(120):
        await service.broadcast()
        clock.advance(timedelta(seconds=6))
        try:
            got += await officer.replies(1, timeout=0.5)
        except AssertionError:
            continue
        if REPORT in (got[-1].get("text") or ""):
            return got
    raise AssertionError(f"no delivery report; the officer got {got}")


async def edited(officer: User) -> Message:
    """The officer's next edited message (an earlier version may come first)."""
    while not (message := (await officer.replies(1))[0])["edited"]:
        pass
    return message


async def an_alert(
    storage: Storage,
    clock: FixedClock,
    officer: User,
    kind: AlertKind = AlertKind.WARNING,
    areas: tuple[str, ...] = ("tan-ha",),
) -> Alert:
    """A confirmed alert from the officer's chat, stored as the compose flow stores it."""
    fields = KINDS[kind]
    number = await storage.alerts.next_number()
    alert = Alert(
        id=f"alert-{number}",
        number=number,
        identifier=f"KB-test-{number}",
        sender="khaibao@tanchau.tayninh.gov.vn",
        sent=clock.now(),
        kind=kind,
        event="Cảnh báo dịch bệnh",
        urgency=fields.urgency,
        severity=fields.severity,
        certainty=fields.certainty,
        texts=[AlertText(language="vi", headline=HEADLINE, description="Bà con bình tĩnh.")],
        areas=list(areas),
        state=AlertState.APPROVED,
        created_by=f"{officer.platform.value}:{officer.user_id}",
        approved_by=f"{officer.platform.value}:{officer.user_id}",
        origin=ChatRef(platform=officer.platform, chat_id=officer.user_id),
        created_at=clock.now(),
    )
    assert await storage.alerts.add(alert)
    return alert


@asynccontextmanager
async def running(
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    selfie_pool: SelfiePool,
    **settings: object,
) -> AsyncIterator[Service]:
    """The bot with some settings changed."""
    service = Service(
        sandbox_settings(sandbox, **settings),
        storage,
        clock,
        selfies=selfie_pool,
        run_scheduler=False,
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def commune_staff(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A commune officer of Xã Tân Hà (who may send alerts there)."""
    user_id = OFFICER[platform]
    async with staff_user(storage, clock, sandbox, platform, user_id, Role.COMMUNE_STAFF) as staff:
        yield staff


async def compose_outbreak_warning(officer: User) -> list[Message]:
    """/alert → warning → Xã Tân Hà → the outbreak template: the previews and the summary."""
    await officer.says("/alert")
    await officer.choose("Cảnh báo")
    await officer.choose("Xã Tân Hà")
    return await officer.choose("Mẫu: phát hiện ca bệnh", 5)


async def test_an_officer_previews_confirms_and_the_commune_gets_the_alert(
    service: Service, commune_staff: User, storage: Storage, sandbox: Sandbox, clock: FixedClock
) -> None:
    telegram = await subscribe(storage, clock, Platform.TELEGRAM, 1)
    zalo = await subscribe(storage, clock, Platform.ZALO, 1)
    elsewhere = await subscribe(storage, clock, Platform.TELEGRAM, 2, area="tan-hoi")
    muted = await subscribe(storage, clock, Platform.ZALO, 2, muted=True)

    tg_intro, tg_preview, zl_intro, zl_preview, summary = await compose_outbreak_warning(
        commune_staff
    )
    assert "Telegram" in tg_intro["text"] and "Zalo" in zl_intro["text"]
    assert tg_preview["text"] == zl_preview["text"]
    assert tg_preview["text"].startswith(f"⚠️ CẢNH BÁO\n\n{HEADLINE}")
    assert "— Huyện Tân Châu, tỉnh Tây Ninh" in tg_preview["text"]
    assert "1 người trên Telegram, 1 người trên Zalo" in summary["text"]
    assert "vài giây" in summary["text"]
    assert await storage.alerts.recent(5) == []  # nothing stored before the confirmation

    [started] = await commune_staff.choose("✅ Gửi ngay")
    assert "Đang gửi thông báo số 1" in started["text"]
    got = await until_report(service, commune_staff, clock)
    assert "đang chuẩn bị danh sách người nhận" in got[0]["text"]
    report = got[-1]["text"]
    assert "đã tới 2/2 người" in report
    assert "xã Tân Hà, Telegram: đã tới 1" in report and "xã Tân Hà, Zalo: đã tới 1" in report

    assert await texts_to(sandbox, Platform.TELEGRAM, telegram) == [tg_preview["text"]]
    assert await texts_to(sandbox, Platform.ZALO, zalo) == [zl_preview["text"]]
    assert await texts_to(sandbox, Platform.TELEGRAM, elsewhere) == []
    assert await texts_to(sandbox, Platform.ZALO, muted) == []  # a warning, muted
    [stored] = await storage.alerts.recent(5)
    assert (stored.state, stored.recipients) == (AlertState.DONE, {"telegram": 1, "zalo": 1})
    assert stored.finished_at is not None


async def test_an_emergency_reaches_those_who_muted_alerts(
    service: Service, commune_staff: User, storage: Storage, sandbox: Sandbox, clock: FixedClock
) -> None:
    muted = await subscribe(storage, clock, Platform.ZALO, 3, muted=True)
    await an_alert(storage, clock, commune_staff, AlertKind.EMERGENCY)
    report = (await until_report(service, commune_staff, clock))[-1]["text"]
    assert "đã tới 1/1 người" in report
    [alert] = await texts_to(sandbox, Platform.ZALO, muted)
    assert alert.startswith(f"🚨 THÔNG BÁO KHẨN CẤP\n\n{HEADLINE}")


async def test_an_update_reaches_the_commune_and_replaces_the_alert(
    service: Service, commune_staff: User, storage: Storage, sandbox: Sandbox, clock: FixedClock
) -> None:
    citizen = await subscribe(storage, clock, Platform.TELEGRAM, 4)
    first = await an_alert(storage, clock, commune_staff)
    await until_report(service, commune_staff, clock)

    [question] = await commune_staff.says(f"/alert update {first.number}")
    assert HEADLINE in question["text"]
    *_previews, summary = await commune_staff.says(
        "Ca bệnh ở ấp Tân Lợi đã được cách ly\nBà con yên tâm sinh hoạt bình thường.", 5
    )
    assert "1 người trên Telegram" in summary["text"]
    await commune_staff.choose("✅ Gửi ngay")
    await until_report(service, commune_staff, clock)

    original, update = await texts_to(sandbox, Platform.TELEGRAM, citizen)
    assert original.startswith("⚠️ CẢNH BÁO")
    assert update.startswith("🔄 CẬP NHẬT THÔNG BÁO\n\nCa bệnh ở ấp Tân Lợi đã được cách ly")
    assert (await storage.alerts.get(first.id)).state is AlertState.SUPERSEDED  # type: ignore[union-attr]
    later = await storage.alerts.by_number(first.number + 1)
    assert later is not None and later.msg_type == "Update" and later.follows == first.id
    assert later.references and later.references[0].endswith("+07:00")


async def test_cancelling_while_sending_stops_the_rest_and_tells_those_reached(
    sandbox: Sandbox, storage: Storage, clock: FixedClock, selfie_pool: SelfiePool
) -> None:
    # More than one batch of the dispatcher (what is claimed is sent: the in-flight window).
    chats = [await subscribe(storage, clock, Platform.ZALO, n) for n in range(60)]
    async with (
        running(sandbox, storage, clock, selfie_pool, zalo_rate_limit=5.0) as service,
        staff_user(
            storage, clock, sandbox, "telegram", OFFICER["telegram"], Role.COMMUNE_STAFF
        ) as officer,
    ):
        alert = await an_alert(storage, clock, officer)
        await service.broadcast()  # queued: five messages a second go out
        progress = await edited(officer)  # «preparing», then edited with the first figures
        [question] = await officer.says(f"/alert cancel {alert.number}")
        assert "Tin chưa gửi sẽ dừng lại" in question["text"]
        [done] = await officer.choose("✅ Hủy thông báo")
        assert "Đã hủy thông báo số 1" in done["text"]
        reports = [await until_report(service, officer, clock) for _ in range(2)]

    # One progress message, edited in place as the sending goes on.
    progress_messages = [progress] + [
        m for got in reports for m in got if m["text"].startswith("📤 Thông báo số 1:")
    ]
    assert {m["message_id"] for m in progress_messages} == {progress["message_id"]}
    assert any(m["edited"] and "đã gửi" in m["text"] for m in progress_messages)
    texts = {chat: await texts_to(sandbox, Platform.ZALO, chat) for chat in chats}
    reached = [chat for chat, got in texts.items() if got]
    assert 0 < len(reached) < len(chats)
    for chat in reached:  # whoever got the alert is told it is cancelled, nobody else
        original, cancelled = texts[chat]
        assert original.startswith("⚠️ CẢNH BÁO")
        assert cancelled.startswith("✅ HỦY THÔNG BÁO TRƯỚC ĐÓ")
    first_report = next(r[-1]["text"] for r in reports if "thông báo số 1:" in r[-1]["text"])
    assert f"đã dừng {len(chats) - len(reached)}" in first_report
    assert (await storage.alerts.get(alert.id)).state is AlertState.SUPERSEDED  # type: ignore[union-attr]


async def test_a_district_emergency_needs_a_second_officer(
    sandbox: Sandbox, storage: Storage, clock: FixedClock, selfie_pool: SelfiePool
) -> None:
    citizen = await subscribe(storage, clock, Platform.ZALO, 5, area="tan-hoi")
    async with (
        running(sandbox, storage, clock, selfie_pool, alert_two_person=True) as service,
        staff_user(
            storage, clock, sandbox, "telegram", OFFICER["telegram"], Role.DISTRICT_ADMIN, ()
        ) as writer,
        staff_user(
            storage, clock, sandbox, "zalo", SECOND["zalo"], Role.DISTRICT_ADMIN, ()
        ) as second,
        staff_user(storage, clock, sandbox, "zalo", OFFICER["zalo"], Role.COMMUNE_STAFF) as commune,
    ):
        await writer.says("/alert")
        await writer.choose("Khẩn cấp")
        await writer.choose("Toàn huyện")
        await writer.says("Lũ lớn, sơ tán khỏi vùng trũng\nDi chuyển lên nơi cao ngay.", 5)
        [waiting] = await writer.choose("✅ Gửi ngay")
        assert "cần thêm một cán bộ khác xác nhận" in waiting["text"]
        await service.broadcast()
        assert await texts_to(sandbox, Platform.ZALO, citizen) == []  # not before the second

        [request] = await second.replies(1)
        assert "Cần xác nhận" in request["text"] and "Lũ lớn" in request["text"]
        assert await texts_to(sandbox, Platform.ZALO, commune.user_id) == []
        assert "/alert ok 1" in request["text"]  # Zalo: no buttons on a proactive message
        [approved] = await second.says("/alert ok 1")
        assert "Đã xác nhận" in approved["text"]
        await until_report(service, writer, clock)  # progress and report: to who wrote it

    [alert] = await storage.alerts.recent(1)
    assert alert.approved_by == f"zalo:{SECOND['zalo']}" and alert.state is AlertState.DONE
    [got] = await texts_to(sandbox, Platform.ZALO, citizen)
    assert got.startswith("🚨 THÔNG BÁO KHẨN CẤP\n\nLũ lớn, sơ tán khỏi vùng trũng")


async def test_bad_input_is_refused_and_nothing_is_sent(
    service: Service,
    commune_staff: User,
    officer: User,
    storage: Storage,
    sandbox: Sandbox,
    clock: FixedClock,
) -> None:
    await commune_staff.says("/alert")
    await commune_staff.choose("Cảnh báo")
    [outside] = await commune_staff.says("Tân Hội")
    assert "Xã Tân Hội không thuộc phạm vi phụ trách" in outside["text"]
    [unknown] = await commune_staff.says("Xã Không Có")
    assert "Không tìm thấy" in unknown["text"]
    await commune_staff.says("tân hà")
    [too_long] = await commune_staff.says("A" * 4_000)
    assert "dài 4000 ký tự, quá giới hạn 1500 ký tự" in too_long["text"]
    [empty] = await commune_staff.photo(encode(gradient(64, 64)))
    assert "Nội dung đang trống" in empty["text"]
    await commune_staff.says("/cancel")
    assert await storage.alerts.recent(5) == []

    [missing] = await commune_staff.says("/alert cancel 99")
    assert "Không có thông báo số 99" in missing["text"]
    [usage] = await commune_staff.says("/alert xoa 1")
    assert "/alert update <số>" in usage["text"]
    [denied] = await officer.says("/alert")  # a health officer sends no alerts
    assert "không có quyền" in denied["text"]
    assert await storage.alerts.recent(5) == []


async def test_a_broadcast_resumes_after_a_restart_without_loss_or_repeat(
    sandbox: Sandbox, storage: Storage, clock: FixedClock, selfie_pool: SelfiePool
) -> None:
    chats = [await subscribe(storage, clock, Platform.ZALO, n) for n in range(30)]
    async with staff_user(
        storage, clock, sandbox, "telegram", OFFICER["telegram"], Role.COMMUNE_STAFF
    ) as officer:
        async with running(sandbox, storage, clock, selfie_pool, zalo_rate_limit=5.0) as first:
            alert = await an_alert(storage, clock, officer)
            await first.broadcast()
            await first.broadcast()  # queued again, as after a crash while queueing
            await edited(officer)
        # Stopped mid-broadcast; the next process goes on from what is stored.
        async with running(sandbox, storage, clock, selfie_pool) as second:
            report = (await until_report(second, officer, clock))[-1]["text"]
    assert "đã tới 30/30 người" in report
    for chat in chats:
        assert len(await texts_to(sandbox, Platform.ZALO, chat)) == 1
    stored = await storage.alerts.get(alert.id)
    assert stored is not None and stored.recipients == {"telegram": 0, "zalo": 30}


async def test_a_chat_that_blocked_the_bot_is_reported_and_left_out_next_time(
    service: Service,
    commune_staff: User,
    storage: Storage,
    sandbox: Sandbox,
    clock: FixedClock,
    tg: SandboxClient,
) -> None:
    gone = await subscribe(storage, clock, Platform.TELEGRAM, 6)
    await subscribe(storage, clock, Platform.TELEGRAM, 7)
    fail = {"method": "sendMessage", "error_code": 403, "count": None, "chat_id": int(gone)}
    await tg.configure(fail=[fail])
    await an_alert(storage, clock, commune_staff)
    report = (await until_report(service, commune_staff, clock))[-1]["text"]
    assert "đã tới 1/2 người" in report and "không nhận được 1" in report
    blocked = await storage.subscribers.get(Platform.TELEGRAM, gone)
    assert blocked is not None and blocked.blocked

    await an_alert(storage, clock, commune_staff)
    report = (await until_report(service, commune_staff, clock))[-1]["text"]
    assert "đã tới 1/1 người" in report  # not tried again until they write to us
