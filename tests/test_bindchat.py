"""Staff group chats bound to communes with /bindchat (/ganchat): the staff notices of those
communes reach the group too, until /unbindchat (/gochat)."""

from __future__ import annotations

import pytest

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import AlertState, ChatRef
from handlers.alert_approval import ask_approval
from sandbox.client import SandboxClient
from storage.database import Storage
from tests.chat import User, options_of
from tests.test_alerts import an_alert
from tests.test_field_reports import REPLY, TAN_HA, send_report
from tests.test_groups import GROUP, group_replies, nothing_in_group, says_in_group, service_of
from tests.test_onboarding import register


@pytest.fixture
async def resident(user: User) -> User:
    """A resident registered in Xã Tân Hà."""
    await register(user, area=TAN_HA)
    return user


def client_of(platform: str, tg: SandboxClient, zl: SandboxClient) -> SandboxClient:
    """The emulator of the test's platform."""
    return tg if platform == "telegram" else zl


async def test_a_bound_group_gets_its_communes_reports_until_unbound(
    officer: User,
    resident: User,
    service: Service,
    storage: Storage,
    platform: str,
    tg: SandboxClient,
    zl: SandboxClient,
) -> None:
    emulator = client_of(platform, tg, zl)
    [private] = await officer.says("/ganchat")
    assert "dùng trong nhóm" in private["text"]

    await says_in_group(officer, "/ganchat Suối Ngô")
    [outside] = await group_replies(emulator, platform)
    assert "Xã Suối Ngô không thuộc phạm vi" in outside["text"]
    await says_in_group(officer, "/ganchat")
    [bound] = await group_replies(emulator, platform)
    assert "Đã gắn nhóm này với xã Tân Hà" in bound["text"]
    chat = ChatRef(platform=Platform(platform), chat_id=GROUP[platform])
    binding = await storage.staff_chats.get(chat)
    assert binding is not None and binding.areas == ["tan-ha"]

    number = await send_report(resident, "Có người từ vùng dịch về ấp 2 chưa khai báo")
    [in_group] = await group_replies(emulator, platform)
    assert f"Phản ánh #{number}" in in_group["text"]
    if platform == "telegram":
        assert REPLY in options_of(in_group, platform)
    else:
        assert f"/phieu {number}" in in_group["text"]
    [own] = await officer.replies()  # the officer's private notice still comes
    assert f"Phản ánh #{number}" in own["text"]

    await says_in_group(officer, "/gochat")
    [unbound] = await group_replies(emulator, platform)
    assert "Đã gỡ nhóm này khỏi địa bàn" in unbound["text"]
    assert await storage.staff_chats.get(chat) is None
    heard = len(await emulator.messages(GROUP[platform]))
    later = await send_report(resident, "Tụ tập đông người ở chợ ấp 1")
    [own_later] = await officer.replies()
    assert f"Phản ánh #{later}" in own_later["text"]
    await nothing_in_group(emulator, platform, service, before=heard)


async def test_a_district_admins_group_covers_the_district_and_a_commune_cannot_undo_it(
    officer: User,
    colleague: User,
    storage: Storage,
    platform: str,
    tg: SandboxClient,
    zl: SandboxClient,
) -> None:
    emulator = client_of(platform, tg, zl)
    chat = ChatRef(platform=Platform(platform), chat_id=GROUP[platform])
    await says_in_group(colleague, "/ganchat Tân Hà, tan-ha")
    [bound] = await group_replies(emulator, platform)
    assert "xã Tân Hà" in bound["text"]
    binding = await storage.staff_chats.get(chat)
    assert binding is not None and binding.areas == ["tan-ha"]
    await storage.staff_chats.bind(binding.model_copy(update={"areas": []}))  # an admin's
    await says_in_group(officer, "/gochat")
    [refused] = await group_replies(emulator, platform)
    assert "không có quyền" in refused["text"]
    assert await storage.staff_chats.get(chat) is not None


async def test_a_bound_group_is_asked_to_confirm_its_communes_alerts(
    officer: User,
    colleague: User,
    service: Service,
    storage: Storage,
    clock: FixedClock,
    platform: str,
    tg: SandboxClient,
    zl: SandboxClient,
) -> None:
    emulator = client_of(platform, tg, zl)
    await says_in_group(officer, "/ganchat Tân Hà")
    await group_replies(emulator, platform)
    written = await an_alert(storage, clock, colleague)
    assert await storage.alerts.move(written.id, [AlertState.APPROVED], AlertState.PENDING)
    pending = written.model_copy(update={"state": AlertState.PENDING})
    elsewhere = (await an_alert(storage, clock, colleague, areas=("suoi-ngo",))).model_copy(
        update={"state": AlertState.PENDING}
    )
    await ask_approval(service_of(service), elsewhere)  # not this group's commune
    await ask_approval(service_of(service), pending)
    [request] = await group_replies(emulator, platform)
    assert "Cần xác nhận" in request["text"] and f"số {pending.number} " in request["text"]
    assert "tại xã Tân Hà" in request["text"]
    if platform == "telegram":
        assert "✅ Xác nhận gửi" in options_of(request, platform)
    else:
        assert f"/alert ok {pending.number}" in request["text"]
