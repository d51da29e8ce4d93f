"""Staff invite staff from the chat: a signed, single-use, expiring link (Telegram) or code
(Zalo) gives its opener the role; expired, reused, forged, group and out-of-scope attempts
get a clear answer and change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Role, Staff
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import staff_user
from tests.test_groups import in_group, nothing_in_group
from tests.test_staff import cli

ADMIN_IDS = {"telegram": "700001", "zalo": "f7a8b9c0d1e2f3000001"}


@pytest.fixture
async def admin(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A district admin on the test's platform."""
    user_id = ADMIN_IDS[platform]
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.DISTRICT_ADMIN, areas=()
    ) as staff:
        yield staff


def newcomer(sandbox: Sandbox, platform: str, n: int = 1) -> User:
    """Someone who is not staff (nor a resident) yet."""
    user_id = f"60000{n}" if platform == "telegram" else f"d6e7f8a9b0c1d2e3f40{n}"
    return User(sandbox.url, platform, user_id, name=f"Người mới {n}")


async def invite(
    staff: User, role: str, communes: tuple[str, ...] = ("Xã Tân Hà",), hamlet: str = ""
) -> tuple[str, str]:
    """Walk through /staff invite; returns the deep-link payload and the code."""
    [asked] = await staff.says("/staff invite")
    assert "vai trò gì" in asked["text"]
    await staff.choose(role)
    for commune in communes:
        await staff.choose(commune)
    if hamlet:
        await staff.says(hamlet)
    elif communes:
        await staff.choose("✅ Xong")
    [confirm] = await staff.says("Trần Thị Bình")
    assert "Trần Thị Bình" in confirm["text"] and role in confirm["text"]
    [created] = await staff.choose("Có")
    link = re.search(r"\?start=(st_[A-Za-z0-9_-]+)", created["text"])
    code = re.search(r"\b(KB[A-Z0-9]{8})\b", created["text"])
    assert link and code, created["text"]
    return link.group(1), code.group(1)


def opening(user: User, payload: str, code: str) -> str:
    """What the invitee sends: the deep link on Telegram, the code on Zalo."""
    return f"/start {payload}" if user.platform is Platform.TELEGRAM else code


async def test_an_invited_officer_joins_once_with_the_role_and_scope(
    admin: User, sandbox: Sandbox, storage: Storage, platform: str
) -> None:
    payload, code = await invite(admin, "Cán bộ y tế")
    bình = newcomer(sandbox, platform)
    joined, role = await bình.says(opening(bình, payload, code), 2)
    assert "Chào mừng Trần Thị Bình" in joined["text"]
    assert "Cán bộ y tế" in joined["text"] and "Xã Tân Hà" in joined["text"]
    assert "Lệnh dành cho cán bộ" in role["text"]
    member = await storage.staff.get(bình.platform, bình.user_id)
    assert member is not None
    assert (member.role, member.areas, member.name) == (
        Role.HEALTH_OFFICER,
        ["tan-ha"],
        "Trần Thị Bình",
    )
    assert member.added_by == f"{platform}:{admin.user_id}"
    [taken] = await admin.replies()  # a link forwarded to the wrong person shows here
    assert "Trần Thị Bình đã nhận lời mời làm Cán bộ y tế" in taken["text"]
    assert bình.user_id in taken["text"] and "/staff" in taken["text"]
    [cases] = await bình.says("/cases")
    assert "Không có ca nào đang cách ly" in cases["text"]
    actions = [e.action for e in await storage.audit.latest(10)]
    assert "staff.invite" in actions and "staff.join" in actions

    [again] = await bình.says(opening(bình, payload, code))
    assert "đã được sử dụng" in again["text"]
    other = newcomer(sandbox, platform, 2)
    [used] = await other.says(opening(other, payload, code))
    assert "đã được sử dụng" in used["text"]
    assert await storage.staff.get(other.platform, other.user_id) is None
    await bình.aclose()
    await other.aclose()


async def test_a_team_member_gets_their_hamlet_and_sees_its_lists(
    admin: User, sandbox: Sandbox, storage: Storage, platform: str
) -> None:
    payload, code = await invite(admin, "Tổ COVID cộng đồng", hamlet="Ấp Tân Lợi")
    team = newcomer(sandbox, platform)
    [joined, _] = await team.says(opening(team, payload, code), 2)
    assert "Xã Tân Hà, Ấp Tân Lợi" in joined["text"]
    member = await storage.staff.get(team.platform, team.user_id)
    assert member is not None and (member.role, member.hamlet) == (Role.TEAM_MEMBER, "Ấp Tân Lợi")
    await team.aclose()


async def test_an_expired_invitation_makes_nobody_staff(
    admin: User, sandbox: Sandbox, storage: Storage, platform: str, clock: FixedClock
) -> None:
    payload, code = await invite(admin, "Cán bộ xã")
    clock.advance(timedelta(hours=25))
    late = newcomer(sandbox, platform)
    [expired] = await late.says(opening(late, payload, code))
    assert "đã hết hạn" in expired["text"]
    assert await storage.staff.get(late.platform, late.user_id) is None
    await late.aclose()


async def test_a_forged_invitation_makes_nobody_staff(
    admin: User, sandbox: Sandbox, storage: Storage, platform: str
) -> None:
    payload, code = await invite(admin, "Cán bộ xã")
    forger = newcomer(sandbox, platform)
    tampered = payload[:-2] + ("AA" if not payload.endswith("AA") else "BB")
    wrong = "KB" + "".join("3" if c != "3" else "4" for c in code[2:])
    [refused] = await forger.says(opening(forger, tampered, wrong))
    assert "không hợp lệ" in refused["text"]
    assert await storage.staff.get(forger.platform, forger.user_id) is None
    await forger.aclose()


async def test_an_invitation_opened_in_a_group_stays_unused(
    admin: User,
    sandbox: Sandbox,
    storage: Storage,
    service: Service,
    platform: str,
    tg: SandboxClient,
    zl: SandboxClient,
) -> None:
    payload, code = await invite(admin, "Cán bộ xã")
    guest = newcomer(sandbox, platform)
    text = opening(guest, payload, code)
    await guest.client.send(guest.user_id, display_name=guest.name, text=text, **in_group(platform))
    await nothing_in_group(tg if platform == "telegram" else zl, platform, service)
    assert await storage.staff.get(guest.platform, guest.user_id) is None
    stored = await storage.staff_invites.find(code=code)
    assert stored is not None and stored.used_at is None
    [joined, _] = await guest.says(text, 2)
    assert "Chào mừng" in joined["text"]
    await guest.aclose()


async def test_commune_staff_invite_only_within_their_commune_and_never_an_admin(
    colleague: User, officer: User, storage: Storage
) -> None:
    [refused] = await officer.says("/staff invite")  # a health officer invites nobody
    assert "không có quyền" in refused["text"]
    [roles] = await colleague.says("/staff invite")
    offered = options_of(roles, colleague.platform)
    assert "Quản trị viên huyện" not in offered and "Cán bộ y tế" in offered
    [communes] = await colleague.choose("Cán bộ y tế")
    assert options_of(communes, colleague.platform) == ["Xã Tân Hà"]
    [outside] = await colleague.says("Xã Suối Ngô")
    assert "không có trong danh sách" in outside["text"]
    await colleague.says("/staff invite")
    [admin_role] = await colleague.says("Quản trị viên huyện")
    assert "không có trong danh sách" in admin_role["text"]
    assert await storage.db["staff_invites"].count_documents({}) == 0


async def test_someone_already_staff_with_more_rights_keeps_them(
    admin: User, colleague: User, storage: Storage
) -> None:
    payload, code = await invite(admin, "Tổ COVID cộng đồng", hamlet="Ấp 3")
    [refused] = await colleague.says(opening(colleague, payload, code))
    assert "đang có vai trò Cán bộ xã" in refused["text"] and "giữ nguyên" in refused["text"]
    member = await storage.staff.get(colleague.platform, colleague.user_id)
    assert member is not None and member.role is Role.COMMUNE_STAFF
    stored = await storage.staff_invites.find(code=code)
    assert stored is not None and stored.used_at is None


async def test_staff_list_and_remove_within_their_scope_after_confirming(
    admin: User, colleague: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    elsewhere = Staff(
        platform=officer.platform,
        user_id="777001",
        role=Role.HEALTH_OFFICER,
        areas=["suoi-ngo"],
        name="Cán bộ Suối Ngô",
        added_by="test",
        added_at=clock.now(),
    )
    await storage.staff.add(elsewhere)
    [listed] = await colleague.says("/staff")
    lines = listed["text"].splitlines()
    assert "(2 người)" in lines[0] and "Cán bộ Suối Ngô" not in listed["text"]
    mine = next(line for line in lines if "Cán bộ xã" in line and "Xã Tân Hà" in line)
    theirs = next(line for line in lines if "Cán bộ y tế" in line)
    [everyone] = await admin.says("/staff")
    assert "(4 người)" in everyone["text"] and "Cán bộ Suối Ngô" in everyone["text"]

    mine_number, their_number = mine.split(".")[0], theirs.split(".")[0]
    if colleague.platform is Platform.TELEGRAM:
        removable = [b for b in options_of(listed, colleague.platform) if "Gỡ quyền" in b]
        assert not any(f"Gỡ quyền: {mine_number}." in label for label in removable)
        mark = f"Gỡ quyền: {their_number}."
        [confirm] = await colleague.choose(next(b for b in removable if mark in b))
    else:
        [own] = await colleague.says(f"/staff remove {mine_number}")
        assert "Không thể tự gỡ quyền" in own["text"]
        [confirm] = await colleague.says(f"/staff remove {their_number}")
    assert "Gỡ quyền cán bộ của" in confirm["text"] and "Cán bộ y tế" in confirm["text"]
    [removed] = await colleague.choose("Có")
    assert "Đã gỡ quyền cán bộ" in removed["text"]
    assert await storage.staff.get(officer.platform, officer.user_id) is None
    [refused] = await officer.says("/cases")
    assert "không có quyền" in refused["text"]
    assert await storage.staff.get(elsewhere.platform, elsewhere.user_id) is not None


async def test_the_command_line_adds_the_new_roles(storage: Storage, mongo_uri: str) -> None:
    account = ("--platform", "zalo", "--user-id", "u9")
    no_hamlet = await cli(
        mongo_uri, storage, "add", *account, "--role", "team_member", "--area", "tan-ha"
    )
    assert no_hamlet.returncode != 0 and "--hamlet" in no_hamlet.stderr
    team = ("--role", "team_member", "--area", "tan-ha", "--hamlet", "Ấp 3", "--name", "Tổ ấp 3")
    assert (await cli(mongo_uri, storage, "add", *account, *team)).returncode == 0
    member = await storage.staff.get(Platform.ZALO, "u9")
    assert member is not None and (member.hamlet, member.name) == ("Ấp 3", "Tổ ấp 3")
    leader = await cli(
        mongo_uri, storage, "add", "--platform", "zalo", "--user-id", "u8", "--role", "leader"
    )
    assert leader.returncode == 0, leader.stderr
    district_leader = await storage.staff.get(Platform.ZALO, "u8")
    assert district_leader is not None and district_leader.areas == []
