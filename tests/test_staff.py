"""Staff bootstrap from the command line, the one authorization gate, and the audit trail."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.app import Service
from core.clock import FixedClock
from core.models import Role
from core.texts import LANGUAGES, catalog
from handlers.staff import HELP_LINES
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY, staff_user
from tests.test_roles import said


@dataclass
class Done:
    """What a finished command printed."""

    returncode: int
    stdout: str
    stderr: str


async def cli(mongo_uri: str, storage: Storage, *args: str) -> Done:
    """Run `python -m bot staff ...` against the test database (without blocking the bot)."""
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": storage.db.name,
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
        "AUDIT_KEY": TEST_AUDIT_KEY,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "staff",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return Done(process.returncode or 0, stdout.decode(), stderr.decode())


async def cli_add(
    mongo_uri: str, storage: Storage, platform: str, user_id: str, role: str, *areas: str
) -> Done:
    """`python -m bot staff add` for one chat account."""
    area_args = [arg for area in areas for arg in ("--area", area)]
    account = ("--platform", platform, "--user-id", user_id)
    return await cli(mongo_uri, storage, "add", *account, "--role", role, *area_args)


async def add_staff(mongo_uri: str, storage: Storage, user: User, role: str, *areas: str) -> None:
    """Make this user's account staff, and check the command succeeded."""
    added = await cli_add(mongo_uri, storage, user.platform, user.user_id, role, *areas)
    assert added.returncode == 0, added.stderr


async def test_district_admin_added_from_the_cli_uses_staff_commands(
    user: User, service: Service, storage: Storage, mongo_uri: str
) -> None:
    await add_staff(mongo_uri, storage, user, "district_admin")
    listed = await cli(mongo_uri, storage, "list")
    assert f"{user.platform}\t{user.user_id}\tdistrict_admin\t*" in listed.stdout

    info = await said(user, service, "/whoami")  # on Zalo the long list, then its menu
    assert "quản trị viên huyện" in info and "toàn huyện" in info
    help_text = await said(user, service, "/help")
    assert "/enroll" in help_text and "/review" in help_text
    [log] = await user.says("/audit")
    account = f"{user.platform.capitalize()} {user.user_id}"
    assert f"đã cấp quyền cán bộ cho tài khoản {account}" in log["text"]

    entries = list(reversed(await storage.audit.latest(10)))
    assert [e.action for e in entries] == ["staff.add", "staff.info", "audit.read"]
    assert all(e.allowed for e in entries) and (await storage.audit.verify()).intact


async def test_a_stranger_is_refused_and_audited(user: User, storage: Storage) -> None:
    [refused] = await user.says("/audit")
    assert "không có quyền" in refused["text"]
    [entry] = await storage.audit.latest(1)
    assert (entry.action, entry.allowed, entry.actor) == (
        "audit.read",
        False,
        f"{user.platform}:{user.user_id}",
    )


async def test_commune_staff_sees_their_scope_but_not_the_audit_log(
    user: User, service: Service, storage: Storage, mongo_uri: str
) -> None:
    await add_staff(mongo_uri, storage, user, "commune_staff", "tan-ha")
    info = await said(user, service, "/whoami")
    assert "cán bộ xã" in info and "xã tân hà" in info and "/audit" not in info
    [refused] = await user.says("/audit")
    assert "không có quyền" in refused["text"]


async def test_cli_refuses_bad_roles_and_areas_and_removes_staff(
    storage: Storage, mongo_uri: str
) -> None:
    unknown = await cli_add(mongo_uri, storage, "zalo", "u1", "commune_staff", "atlantis")
    assert unknown.returncode != 0 and "unknown area code(s): atlantis" in unknown.stderr
    no_area = await cli_add(mongo_uri, storage, "zalo", "u1", "health_officer")
    assert no_area.returncode != 0 and "needs at least one --area" in no_area.stderr
    assert await storage.staff.all() == []

    await cli_add(mongo_uri, storage, "zalo", "u1", "health_officer", "suoi-ngo")
    removed = await cli(mongo_uri, storage, "remove", "--platform", "zalo", "--user-id", "u1")
    assert "removed zalo:u1" in removed.stdout
    assert await storage.staff.all() == []


async def test_a_strangers_repeated_tries_cost_the_audit_trail_one_entry_a_minute(
    user: User, storage: Storage, clock: FixedClock
) -> None:
    for _ in range(12):
        [refused] = await user.says("/cases")
        assert "không có quyền" in refused["text"]
    assert [e.action for e in await storage.audit.latest(20)] == ["case.view"]
    clock.advance(timedelta(minutes=1))
    await user.says("/cases")
    newest, first = await storage.audit.latest(2)
    assert (newest.action, newest.allowed) == ("case.view", False)
    assert newest.details == {"attempts_minute_before": "12"} and first.details == {}


@pytest.mark.parametrize(
    ("role", "areas", "shown", "hidden"),
    [
        (Role.LEADER, ("tan-ha",), ["/baocao", "/toila"], ["/enroll", "/cases", "/audit"]),
        (Role.TEAM_MEMBER, ("tan-ha",), ["/cases", "/missed"], ["/case <số ca>", "/baocao"]),
        (Role.ORG_MANAGER, (), ["/diemquet", "/congnhan", "/nhap"], ["/cases", "/truyvet"]),
        (Role.DISTRICT_ADMIN, (), ["/audit", "/enroll", "/phananhmo", "/phieu", "/baocao"], []),
    ],
)
async def test_whoami_lists_only_the_commands_the_role_may_use(
    sandbox: Sandbox,
    service: Service,
    storage: Storage,
    clock: FixedClock,
    platform: str,
    role: Role,
    areas: tuple[str, ...],
    shown: list[str],
    hidden: list[str],
) -> None:
    user_id = "300003" if platform == "telegram" else "c3d4e5f6a7b800112233"
    async with staff_user(storage, clock, sandbox, platform, user_id, role, areas) as staff:
        info = await said(staff, service, "/whoami")
    assert "lệnh dành cho cán bộ" in info
    assert all(command in info for command in shown), info
    assert not any(command in info for command in hidden), info


def test_every_staff_help_line_has_its_right() -> None:
    for lang in LANGUAGES:
        lines = [
            key.removeprefix("help_staff.")
            for key in catalog(lang)
            if key.startswith("help_staff.")
        ]
        assert lines == list(HELP_LINES), lang
