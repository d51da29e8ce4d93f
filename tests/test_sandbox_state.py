"""The sandbox across restarts (users, chats, numbering and clock kept under DATA_DIR) and its
clock control, which the bot and its scheduler follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, Service, follow_sandbox_clock
from bot.selfies import SelfiePool
from core.channel import Platform
from core.models import ChatRef
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Database
from storage.embedded import free_port
from tests.chat import User
from tests.conftest import LOCAL, TEST_AUDIT_KEY, sandbox_settings
from tests.test_reminders import enrol

STAFF = ChatRef(platform=Platform.TELEGRAM, chat_id="-100777")
RESIDENT = "100001"  # the Telegram chat `enrol` gives case 1


def emulators(state_dir: Path | None = None, port: int = 0) -> Sandbox:
    """Both emulators, keeping their state in `state_dir` when given."""
    return Sandbox(
        SANDBOX_TELEGRAM_TOKEN,
        SANDBOX_ZALO_TOKEN,
        port=port,
        poll_timeout_cap=0.5,
        state_dir=state_dir,
        zone=LOCAL,
    )


@asynccontextmanager
async def started(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    """The sandbox, serving until the block ends."""
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@asynccontextmanager
async def bot(sandbox: Sandbox, db: Database, selfies: SelfiePool) -> AsyncIterator[Service]:
    """The bot polling the sandbox and following its clock, until the block ends."""
    clock = sandbox.time.clock
    settings = sandbox_settings(sandbox)
    service = Service(
        settings,
        Storage.over(db, clock, TEST_AUDIT_KEY.encode()),
        clock,
        selfies=selfies,
        run_scheduler=False,
    )
    await service.start()
    follow_sandbox_clock(sandbox, service)
    try:
        yield service
    finally:
        await service.stop()


async def control(sandbox: Sandbox, method: str, path: str, **body: Any) -> Any:
    """Call the control API; return its JSON answer."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.request(method, path, json=body or None)
    response.raise_for_status()
    return response.json()


async def test_a_restarted_sandbox_continues_numbering_and_keeps_users_chats_and_clock(
    tmp_path: Path,
) -> None:
    async with started(emulators(tmp_path)) as first:
        telegram = SandboxClient(first.url, "telegram")
        sent = await telegram.send("4242", text="xin chào", display_name="Chị Hoa")
        await telegram.aclose()
        await control(first, "POST", "/control/clock", advance_seconds=3600)
    async with started(emulators(tmp_path)) as second:
        telegram = SandboxClient(second.url, "telegram")
        again = await telegram.send("4242", text="lần nữa")
        await telegram.aclose()
        history = await control(
            second, "GET", "/control/telegram/chats/4242/messages?include_user=1"
        )
        users = await control(second, "GET", "/control/users")
        clock = await control(second, "GET", "/control/clock")
    assert again["update"]["update_id"] == sent["update"]["update_id"] + 1
    assert [entry["text"] for entry in history["messages"]] == ["xin chào", "lần nữa"]
    assert [(u["name"], u["telegram_id"]) for u in users["users"]] == [("Chị Hoa", "4242")]
    assert clock["offset_seconds"] == pytest.approx(3600, abs=1)


async def test_without_a_state_dir_a_sandbox_starts_afresh() -> None:
    async with started(emulators()) as first:
        telegram = SandboxClient(first.url, "telegram")
        sent = await telegram.send("4242", text="xin chào")
        await telegram.aclose()
    async with started(emulators()) as second:
        telegram = SandboxClient(second.url, "telegram")
        again = await telegram.send("4242", text="lần nữa")
        await telegram.aclose()
    assert again["update"]["update_id"] == sent["update"]["update_id"]


async def test_a_message_after_a_restart_of_the_whole_app_is_answered(
    tmp_path: Path, db: Database, selfie_pool: SelfiePool
) -> None:
    port = free_port()
    async with started(emulators(tmp_path, port)) as sandbox:
        resident = User(sandbox.url, "telegram", RESIDENT)
        async with bot(sandbox, db, selfie_pool):
            [before] = await resident.says("/help")
    async with started(emulators(tmp_path, port)) as again, bot(again, db, selfie_pool):
        [after] = await resident.says("/help")
    await resident.aclose()
    assert after["text"] == before["text"]
    assert after["message_id"] != before["message_id"]


async def test_the_clock_jumps_to_a_local_time_moves_by_hours_and_resets(tmp_path: Path) -> None:
    async with started(emulators(tmp_path)) as sandbox:
        jumped = await control(sandbox, "POST", "/control/clock", to="07:45")
        later = await control(sandbox, "POST", "/control/clock", advance_seconds=86_400 + 3600)
        real = await control(sandbox, "POST", "/control/clock", reset=True)
        async with httpx.AsyncClient(base_url=sandbox.url) as http:
            refused = await http.post("/control/clock", json={"to": "quarter to eight"})
    assert jumped["local"][11:16] == "07:45" and jumped["zone"] == "Asia/Ho_Chi_Minh"
    assert later["local"][11:16] == "08:45"
    assert later["local"][:10] > jumped["local"][:10]
    assert real["offset_seconds"] == 0
    assert refused.status_code == 400 and "07:45" in refused.json()["error"]


async def test_a_jump_into_a_window_sends_its_reminders_at_once(
    db: Database, selfie_pool: SelfiePool
) -> None:
    sandbox = emulators()
    storage = Storage.over(db, sandbox.time.clock, TEST_AUDIT_KEY.encode())
    now = sandbox.time.clock.now()
    await enrol(
        storage,
        1,
        STAFF,
        [(Platform.TELEGRAM, "vi")],
        now - timedelta(days=2),
        now.date() + timedelta(days=7),
    )
    async with started(sandbox), bot(sandbox, db, selfie_pool):
        resident = User(sandbox.url, "telegram", RESIDENT)
        await control(sandbox, "POST", "/control/clock", to="07:45")
        opened, due = await resident.replies(2)
        await resident.aclose()
    # Catalog wording changes; what counts is that both reminders of the 08:00 window came now.
    assert opened["text"] != due["text"]
    assert all("/khaibao" in reminder["text"] for reminder in (opened, due))
    assert datetime.fromtimestamp(due["date"], LOCAL).strftime("%H:%M") == "07:45"
