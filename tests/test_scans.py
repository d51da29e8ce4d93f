"""Scanning checkpoints through the emulators: in, out, elsewhere, automatic check-out, the
daily health questions, onboarding first, poster photos, and refused codes."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.app import Service
from core.channel import Platform
from core.checkpoints import checkpoint_link, checkpoint_token, start_payload
from core.clock import FixedClock
from core.models import ChatRef, Checkpoint, CheckpointKind, Organisation, Role, StaffChat
from core.posters import PosterItem, poster_png
from core.tokens import new_code, new_id
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at, org_manager, staff_user
from tests.images import encode, gradient
from tests.test_checkpoints import phone_photo
from tests.test_groups import GROUP, group_replies, nothing_in_group, says_in_group
from tests.test_onboarding import register

FACTORY = "Công ty TNHH May mặc Tân Hà"
NO = "Không"
YES = "Có"


async def a_place(
    storage: Storage, org: Organisation, name: str, kind: CheckpointKind = CheckpointKind.CANTEEN
) -> Checkpoint:
    """A stored checkpoint of `org`."""
    checkpoint = Checkpoint(
        id=new_id(),
        org_id=org.id,
        kind=kind,
        name=name,
        area=org.area,
        code=new_code(),
        created_by="test",
        created_at=at(6, 0),
    )
    return await storage.checkpoints.add(checkpoint)


@pytest.fixture
async def factory(storage: Storage) -> Organisation:
    """A garment factory in Xã Tân Hà."""
    org = Organisation(
        id=new_id(), name=FACTORY, area="tan-ha", created_by="test", created_at=at(6, 0)
    )
    return await storage.orgs.add(org)


@pytest.fixture
async def canteen(storage: Storage, factory: Organisation) -> Checkpoint:
    """The factory's canteen."""
    return await a_place(storage, factory, "Nhà ăn ca 1")


@pytest.fixture
async def worker(user: User, clock: FixedClock) -> User:
    """A registered worker, at 07:00 on a working day."""
    clock.set(at(7, 0))
    await register(user)
    return user


def token_of(service: Service, checkpoint: Checkpoint) -> str:
    """The token the checkpoint's current posters carry."""
    assert service.router is not None
    return checkpoint_token(service.router.services.keys, checkpoint)


async def scan(
    user: User, service: Service, checkpoint: Checkpoint, replies: int = 1
) -> list[dict[str, Any]]:
    """Scan the poster the way each platform does: the deep link, or the code on Zalo."""
    if user.platform is Platform.TELEGRAM:
        payload = start_payload(token_of(service, checkpoint))
        return await user.says(f"/start {payload}", replies)
    return await user.says(checkpoint.code, replies)


async def answer_daily(user: User, *answers: str) -> dict[str, Any]:
    """Answer the three daily questions; returns the thanks."""
    for answer in answers[:-1]:
        await user.choose(answer)
    [thanks] = await user.choose(answers[-1])
    return thanks


async def visits_of(storage: Storage) -> list[dict[str, Any]]:
    """Every stored visit, oldest first."""
    return [v async for v in storage.db["visits"].find().sort("in_at", 1)]


async def test_a_worker_scans_in_declares_once_a_day_and_scans_out(
    worker: User, service: Service, canteen: Checkpoint, clock: FixedClock, storage: Storage
) -> None:
    receipt, intro, question = await scan(worker, service, canteen, 3)
    assert "Đã ghi nhận VÀO" in receipt["text"] and f"Nhà ăn ca 1 — {FACTORY}" in receipt["text"]
    assert "07:00 27/11/2026" in receipt["text"] and "quét mã lần nữa khi RA" in receipt["text"]
    assert "Khai báo y tế hằng ngày" in intro["text"] and "sốt, ho" in question["text"]
    thanks = await answer_daily(worker, NO, NO, NO)
    assert "Đã ghi nhận khai báo y tế hôm nay" in thanks["text"]

    clock.advance(timedelta(seconds=30))  # a double tap is one scan
    [again] = await scan(worker, service, canteen)
    assert "Đã ghi nhận VÀO" in again["text"] and "07:00" in again["text"]
    clock.advance(timedelta(hours=1, minutes=25))
    [out] = await scan(worker, service, canteen)
    assert "Đã ghi nhận RA" in out["text"] and "1 giờ 25 phút" in out["text"]
    clock.advance(timedelta(seconds=20))
    [out_again] = await scan(worker, service, canteen)
    assert "Đã ghi nhận RA" in out_again["text"] and "1 giờ 25 phút" in out_again["text"]

    clock.advance(timedelta(hours=2))  # back after lunch: in again, not asked again today
    [back] = await scan(worker, service, canteen)
    assert "Đã ghi nhận VÀO" in back["text"]
    first, second = await visits_of(storage)
    assert first["closed"] == "scan" and first["out_at"] == at(8, 25) + timedelta(seconds=30)
    assert second["out_at"] is None
    assert await storage.db["daily_checks"].count_documents({}) == 1


async def test_checking_in_elsewhere_closes_the_open_visit_then(
    worker: User,
    service: Service,
    factory: Organisation,
    canteen: Checkpoint,
    clock: FixedClock,
    storage: Storage,
) -> None:
    gate = await a_place(storage, factory, "Cổng chính", CheckpointKind.GATE)
    await scan(worker, service, canteen, 3)
    await answer_daily(worker, NO, NO, NO)
    clock.set(at(7, 40))
    [receipt] = await scan(worker, service, gate)
    assert "Cổng chính" in receipt["text"]
    assert f"Đã ghi nhận RA khỏi Nhà ăn ca 1 — {FACTORY} cùng lúc" in receipt["text"]
    at_canteen, at_gate = await visits_of(storage)
    assert at_canteen["closed"] == "elsewhere" and at_canteen["out_at"] == at(7, 40)
    assert at_gate["checkpoint_id"] == gate.id and at_gate["out_at"] is None


async def test_visits_nobody_scanned_out_of_close_by_themselves_a_bus_trip_sooner(
    worker: User,
    service: Service,
    factory: Organisation,
    canteen: Checkpoint,
    clock: FixedClock,
    storage: Storage,
) -> None:
    bus = await a_place(storage, factory, "Xe 51B-123.45", CheckpointKind.BUS)
    await scan(worker, service, bus, 3)
    await answer_daily(worker, NO, NO, NO)
    clock.set(at(11, 0))
    await service.close_overdue_visits()
    [trip] = await visits_of(storage)
    assert trip["closed"] == "timeout" and trip["out_at"] == at(10, 0)  # 3 h after 07:00

    [receipt] = await scan(worker, service, canteen)  # no open visit left to close
    assert "Đã ghi nhận RA khỏi" not in receipt["text"]
    clock.set(at(22, 59))
    await service.close_overdue_visits()
    assert (await visits_of(storage))[1]["out_at"] is None
    clock.set(at(23, 1))
    await service.close_overdue_visits()
    meal = (await visits_of(storage))[1]
    assert meal["closed"] == "timeout" and meal["out_at"] == at(23, 0)  # 12 h after 11:00


async def test_someone_not_registered_registers_first_then_the_scan_is_recorded(
    user: User, service: Service, canteen: Checkpoint, clock: FixedClock, storage: Storage
) -> None:
    clock.set(at(7, 0))
    first, _welcome, language = await scan(user, service, canteen, 3)
    assert "Nhà ăn ca 1" in first["text"] and "đăng ký một lần" in first["text"]
    assert "🇻🇳 Tiếng Việt" in options_of(language, user.platform)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    await user.says("Trần Thị Mai")
    await user.share_phone("0987 654 321")
    await user.choose("Xã Suối Dây")
    done, receipt, _intro, question = await user.choose("✅ Đúng, xác nhận", 4)
    assert "Đăng ký thành công" in done["text"] and "Đã ghi nhận VÀO" in receipt["text"]
    assert "sốt, ho" in question["text"]
    [visit] = await visits_of(storage)
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None and visit["person_id"] == account.person_id


async def test_a_yes_tells_the_factory_manager_the_communes_health_staff_and_its_group(
    worker: User,
    service: Service,
    sandbox: Sandbox,
    factory: Organisation,
    canteen: Checkpoint,
    storage: Storage,
    clock: FixedClock,
) -> None:
    platform = worker.platform
    officer_id = "200002" if platform is Platform.TELEGRAM else "b2c3d4e5f6a700112233"
    elsewhere_id = "200009" if platform is Platform.TELEGRAM else "b2c3d4e5f6a709"
    async with (
        org_manager(storage, clock, sandbox, platform, factory.id) as manager,
        staff_user(storage, clock, sandbox, platform, officer_id, Role.HEALTH_OFFICER) as officer,
        staff_user(
            storage, clock, sandbox, platform, elsewhere_id, Role.HEALTH_OFFICER, ("suoi-day",)
        ) as elsewhere,
    ):
        group = ChatRef(platform=platform, chat_id=GROUP[platform.value])
        bound = StaffChat(chat=group, areas=["tan-ha"], bound_by="test", bound_at=at(6, 0))
        await storage.staff_chats.bind(bound)
        await scan(worker, service, canteen, 3)
        thanks = await answer_daily(worker, YES, NO, YES)
        assert "Cán bộ y tế sẽ liên hệ" in thanks["text"]
        [in_group] = await group_replies(officer.client, platform.value)
        for notice in [*await manager.replies(), *await officer.replies(), in_group]:
            assert "Nguyễn Văn An" in notice["text"] and "0912 345 678" in notice["text"]
            assert "Nhà ăn ca 1" in notice["text"] and "Có triệu chứng" in notice["text"]
            assert "tỉnh, thành phố khác" in notice["text"] and "tiếp xúc" not in notice["text"]
        assert await elsewhere.client.messages(elsewhere.user_id) == []


async def test_forged_revoked_retired_and_unknown_codes_are_refused_and_nothing_is_stored(
    worker: User, service: Service, canteen: Checkpoint, storage: Storage
) -> None:
    token = token_of(service, canteen)
    revoked = await storage.checkpoints.revoke(canteen.id)
    assert revoked is not None
    if worker.platform is Platform.TELEGRAM:
        forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        [refusal] = await worker.says(f"/start {start_payload(forged)}")
        assert "không hợp lệ" in refusal["text"]
        [refusal] = await worker.says(f"/start {start_payload(token)}")
        assert "đã được thay bằng mã mới" in refusal["text"]
        await storage.checkpoints.retire(canteen.id)
        [refusal] = await worker.says(f"/start {start_payload(token_of(service, revoked))}")
    else:
        [refusal] = await worker.says(canteen.code)  # the old code went with the old posters
        assert "không hợp lệ" in refusal["text"]
        await storage.checkpoints.retire(canteen.id)
        [refusal] = await worker.says(revoked.code)
    assert "không còn sử dụng" in refusal["text"]
    assert await visits_of(storage) == []


async def test_a_photo_of_the_poster_checks_in_and_a_photo_without_a_code_says_so(
    worker: User,
    service: Service,
    factory: Organisation,
    canteen: Checkpoint,
    storage: Storage,
) -> None:
    url = checkpoint_link("khaibao_sandbox_bot", token_of(service, canteen))
    poster = poster_png(PosterItem(factory, canteen, "Xã Tân Hà", url))
    photo = io.BytesIO()
    phone_photo(poster).save(photo, "JPEG")
    receipt, _intro, _question = await worker.photo(photo.getvalue(), 3)
    assert "Đã ghi nhận VÀO" in receipt["text"] and "Nhà ăn ca 1" in receipt["text"]
    await answer_daily(worker, NO, NO, NO)

    [hint] = await worker.photo(encode(gradient(640, 480)))
    assert "Không tìm thấy mã QR" in hint["text"]
    assert len(await visits_of(storage)) == 1


async def test_a_shift_poster_works_in_its_shift_only(
    worker: User, service: Service, factory: Organisation, canteen: Checkpoint, storage: Storage
) -> None:
    assert service.router is not None
    keys = service.router.services.keys

    async def scan_shift(start: datetime, end: datetime, replies: int = 1) -> list[dict[str, Any]]:
        token = checkpoint_token(keys, canteen, (start, end))
        if worker.platform is Platform.TELEGRAM:
            return await worker.says(f"/start {start_payload(token)}", replies)
        url = checkpoint_link("khaibao_sandbox_bot", token)
        poster = poster_png(PosterItem(factory, canteen, "Xã Tân Hà", url, "ca sáng"))
        return await worker.photo(poster, replies)

    [later] = await scan_shift(at(14, 0), at(22, 0))  # it is 07:00: the afternoon shift
    assert "dành cho ca khác" in later["text"]
    [earlier] = await scan_shift(at(22, 0, 26), at(6, 0))
    assert "đã hết hạn" in earlier["text"]
    assert await visits_of(storage) == []
    receipt, *_ = await scan_shift(at(6, 0), at(14, 0), 3)
    assert "Đã ghi nhận VÀO" in receipt["text"]


async def test_a_scan_in_a_group_chat_records_nothing(
    worker: User, service: Service, canteen: Checkpoint, storage: Storage, platform: str
) -> None:
    control = worker.client
    await says_in_group(worker, canteen.code)
    await says_in_group(worker, f"/start {start_payload(token_of(service, canteen))}")
    await nothing_in_group(control, platform, service)
    assert await visits_of(storage) == []
