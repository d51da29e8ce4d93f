"""Organisations and checkpoints run from a staff chat, on Telegram and Zalo: adding them,
their posters (decoded back), rename, revoke, retire, and who may touch which."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Organisation, Role
from core.tokens import new_id
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at, org_manager, staff_user

FACTORY = "Công ty TNHH May mặc Tân Hà"


async def fetched(message: dict[str, Any]) -> bytes:
    """The file a photo or document message links to."""
    async with httpx.AsyncClient() as http:
        response = await http.get(str(message["file_url"]))
    response.raise_for_status()
    return response.content


def decoded(png: bytes) -> list[str]:
    """The QR codes in a picture."""
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def add_factory_with_a_canteen(officer: User) -> list[dict[str, Any]]:
    """Add the factory and its canteen from the chat; returns the replies to the canteen."""
    [listing] = await officer.says("/diemquet")
    assert "Chưa có đơn vị nào" in listing["text"]
    await officer.choose("➕ Thêm đơn vị")
    await officer.says(FACTORY)
    added, org = await officer.choose("Doanh nghiệp", 2)  # one commune: no need to ask it
    assert f"Đã thêm đơn vị {FACTORY} (Xã Tân Hà)" in added["text"]
    assert "(chưa có điểm quét nào)" in org["text"]
    await officer.choose("➕ Thêm điểm quét")
    await officer.choose("Nhà ăn")
    return await officer.says("Nhà ăn ca 1", 4)


async def test_an_officer_adds_an_organisation_and_a_checkpoint_and_gets_its_poster(
    officer: User, storage: Storage
) -> None:
    created, photo, pdf, view = await add_factory_with_a_canteen(officer)
    [org] = await storage.orgs.list("tan-ha")
    [canteen] = await storage.checkpoints.of_org(org.id)
    assert (org.name, canteen.name, canteen.kind.value) == (FACTORY, "Nhà ăn ca 1", "canteen")
    assert canteen.code in created["text"] and canteen.code in view["text"]
    assert photo["kind"] == "photo"
    [url] = decoded(await fetched(photo))
    assert "start=cp_" in url  # no PUBLIC_BASE_URL here: the QR opens the Telegram bot
    document = await fetched(pdf) if officer.platform is Platform.TELEGRAM else b""
    if officer.platform is Platform.TELEGRAM:
        assert pdf["kind"] == "document" and document.startswith(b"%PDF")
    else:  # Zalo has no files: a link to the PDF
        assert ".pdf: http" in pdf["text"]
    actions = [e.action async for e in _audit(storage)]
    assert actions[-2:] == ["org.add", "checkpoint.add"]


async def _audit(storage: Storage) -> AsyncIterator[Any]:
    for entry in reversed(await storage.audit.latest(20)):
        yield entry


async def test_rename_revoke_and_retire_ask_first_and_old_posters_stop_working(
    officer: User, storage: Storage
) -> None:
    await add_factory_with_a_canteen(officer)
    [org] = await storage.orgs.list("tan-ha")
    [canteen] = await storage.checkpoints.of_org(org.id)
    await officer.choose("✏️ Đổi tên")
    renamed, _view = await officer.says("Nhà ăn ca 2", 2)
    assert "Nhà ăn ca 2" in renamed["text"]

    [question] = await officer.choose("🔄 Thu hồi áp phích cũ, in mã mới")
    assert "Thu hồi mọi áp phích đã in" in question["text"]
    revoked, _photo, _pdf, _view = await officer.choose("Có", 4)
    after = await storage.checkpoints.get(canteen.id)
    assert after is not None and after.version == 1 and after.code != canteen.code
    assert after.code in revoked["text"] and after.name == "Nhà ăn ca 2"

    await officer.choose("⛔ Ngừng sử dụng điểm quét")
    [kept] = await officer.choose("Không")  # back to the checkpoint, nothing changed
    assert "Nhà ăn ca 2" in kept["text"]
    assert (await storage.checkpoints.get(canteen.id)).retired is False  # type: ignore[union-attr]
    await officer.choose("⛔ Ngừng sử dụng điểm quét")
    retired, org_view = await officer.choose("Có", 2)
    assert "Đã ngừng sử dụng «Nhà ăn ca 2»" in retired["text"]
    assert "(chưa có điểm quét nào)" in org_view["text"]
    assert (await storage.checkpoints.get(canteen.id)).retired is True  # type: ignore[union-attr]


@pytest.fixture
async def two_factories(storage: Storage) -> tuple[Organisation, Organisation]:
    """Two factories of Xã Tân Hà."""
    made = []
    for name in (FACTORY, "Công ty Cổ phần Gỗ Tân Hà"):
        org = Organisation(id=new_id(), name=name, area="tan-ha", created_by="t", created_at=at(6))
        made.append(await storage.orgs.add(org))
    return made[0], made[1]


async def test_an_org_manager_runs_only_their_own_organisation(
    service: Service,
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    platform: str,
    two_factories: tuple[Organisation, Organisation],
) -> None:
    own, other = two_factories
    async with org_manager(storage, clock, sandbox, platform, own.id) as manager:
        await _runs_only_its_own(manager, storage, own, other)


async def _runs_only_its_own(
    manager: User, storage: Storage, own: Organisation, other: Organisation
) -> None:
    [menu] = await manager.says("/start")
    assert "🏭 Đơn vị và điểm quét QR" in options_of(menu, manager.platform)
    assert "📋 Các ca đang theo dõi" not in options_of(menu, manager.platform)
    [listing] = await manager.says("/diemquet")
    assert options_of(listing, manager.platform) == [f"🏭 {FACTORY}"]  # no adding organisations
    if manager.platform is Platform.TELEGRAM:  # a forged button for the other factory
        forged = {"callback_data": f"org:{other.id}", "message_id": listing["message_id"]}
        _stale, again = await manager.send(2, **forged)
        assert options_of(again, manager.platform) == [f"🏭 {FACTORY}"]
    [org_view] = await manager.choose(f"🏭 {FACTORY}")
    assert FACTORY in org_view["text"]
    await manager.choose("➕ Thêm điểm quét")
    await manager.choose("Cổng ra vào")
    await manager.says("Cổng chính", 4)
    assert [c.name for c in await storage.checkpoints.of_org(own.id)] == ["Cổng chính"]
    assert await storage.checkpoints.of_org(other.id) == []


async def test_staff_of_another_commune_cannot_touch_an_organisation_here(
    service: Service,
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    platform: str,
    two_factories: tuple[Organisation, Organisation],
) -> None:
    user_id = "200009" if platform == "telegram" else "b2c3d4e5f6a709"
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.HEALTH_OFFICER, ("suoi-day",)
    ) as elsewhere:
        [listing] = await elsewhere.says("/diemquet")
        assert "Chưa có đơn vị nào" in listing["text"]  # the Tân Hà factories are not listed
        if elsewhere.platform is Platform.TELEGRAM:
            own, _ = two_factories
            # A forged pick of a Tân Hà factory is no button we offered: it is refused.
            forged = {"callback_data": f"org:{own.id}", "message_id": listing["message_id"]}
            _stale, again = await elsewhere.send(2, **forged)
            assert "Chưa có đơn vị nào" in again["text"]
    assert await storage.checkpoints.list("tan-ha") == []


async def test_a_resident_cannot_open_the_places(user: User) -> None:
    [refused] = await user.says("/diemquet")
    assert "không có quyền" in refused["text"]
