"""The running service: duplicates, webhooks, errors, health, restarts, commands menu."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from bot.app import Service
from bot.selfies import SelfiePool
from core.clock import FixedClock
from handlers.context import Context
from handlers.registry import REGISTRY
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Document
from storage.embedded import EmbeddedMongo, free_port
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY, sandbox_settings
from tests.test_onboarding import register

SECRET = "webhook-secret-for-tests-0123456789"


async def test_a_redelivered_update_has_no_second_effect(user: User) -> None:
    first = await user.client.send(user.user_id, text="/start", display_name=user.name)
    await user.replies(2)
    await user.client.send(user.user_id, raw=first["update"])
    [reply] = await user.says("/help")
    assert "Gửi /start để đăng ký" in reply["text"]  # the duplicate sent no second welcome


async def test_a_failing_handler_apologises_and_the_bot_goes_on(
    user: User, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(ctx: Context, payload: str) -> None:
        raise RuntimeError(f"boom {payload}")

    REGISTRY.payloads["boom_"] = explode
    try:
        with caplog.at_level(logging.ERROR):
            [apology] = await user.says("/start boom_1")
    finally:
        del REGISTRY.payloads["boom_"]
    assert "Xin lỗi, hệ thống đang gặp trục trặc" in apology["text"]
    failed = [r for r in caplog.records if r.getMessage() == "update failed"]
    assert failed and str(failed[0].update).startswith(("tg:", "zl:"))  # type: ignore[attr-defined]
    [help_text] = await user.says("/help")
    assert "/start" in help_text["text"]


async def test_unknown_payload_is_refused(user: User) -> None:
    refusal, _welcome, _language = await user.says("/start zz_forged", 3)
    assert "không hợp lệ hoặc đã hết hạn" in refusal["text"]


async def test_unsupported_message_gets_a_polite_answer(user: User) -> None:
    await register(user)
    not_read, _menu = await user.send(2, unsupported=True)
    assert "chưa đọc được loại tin nhắn này" in not_read["text"]


async def test_health_reports_database_and_channels(service: Service) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{service.settings.http_port}/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "database": True,
        "channels": {"telegram": True, "zalo": True},
    }


async def test_health_fails_when_the_database_is_gone(sandbox: Sandbox, clock: FixedClock) -> None:
    dead: AsyncMongoClient[Document] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", serverSelectionTimeoutMS=300
    )
    service = Service(
        sandbox_settings(sandbox), Storage.over(dead["x"], clock, TEST_AUDIT_KEY.encode()), clock
    )
    report = await service.health()
    assert report["ok"] is False and report["database"] is False
    await dead.close()


async def test_telegram_command_menu_in_vietnamese_and_english(
    service: Service, sandbox: Sandbox
) -> None:
    client = SandboxClient(sandbox.url, "telegram")
    calls = await client.calls(method="setMyCommands")
    await client.aclose()
    by_language = {call["params"].get("language_code"): call["params"] for call in calls}
    assert {"vi", "en", None} <= by_language.keys()
    vietnamese = {c["command"]: c["description"] for c in by_language["vi"]["commands"]}
    english = {c["command"]: c["description"] for c in by_language["en"]["commands"]}
    assert vietnamese["huy"] == "Hủy thao tác đang làm" and "toi" in vietnamese
    assert english["cancel"] == "Cancel the current step" and "declare" in english


@pytest.fixture
async def webhook_service(
    sandbox: Sandbox, storage: Storage, clock: FixedClock
) -> AsyncIterator[Service]:
    """The bot in webhook mode: the emulators push updates to our web server."""
    port = free_port()
    settings = sandbox_settings(
        sandbox,
        http_port=port,
        bot_mode="webhook",
        webhook_base_url=f"http://127.0.0.1:{port}",
        webhook_secret=SECRET,
    )
    running = Service(settings, storage, clock)
    await running.start()
    yield running
    await running.stop()


def start_update(platform: str, user_id: str) -> dict[str, object]:
    """A real-shaped "/start" update of the platform, as its webhook receives it."""
    if platform == "telegram":
        return {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1795000000,
                "text": "/start",
                "chat": {"id": int(user_id), "type": "private"},
                "from": {"id": int(user_id), "is_bot": False, "first_name": "X"},
            },
        }
    return {
        "event_name": "message.text.received",
        "message": {
            "message_id": "forged-1",
            "date": 1795000000000,
            "text": "/start",
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "from": {"id": user_id, "display_name": "X", "is_bot": False},
        },
    }


@pytest.mark.parametrize(
    ("platform", "header", "refused"),
    [
        ("telegram", "X-Telegram-Bot-Api-Secret-Token", 401),
        ("zalo", "X-Bot-Api-Secret-Token", 403),
    ],
)
async def test_webhook_refuses_a_missing_or_wrong_secret(
    webhook_service: Service, sandbox: Sandbox, platform: str, header: str, refused: int
) -> None:
    url = f"{webhook_service.settings.webhook_base_url}/webhook/{platform}"
    user_id = "7070" if platform == "telegram" else "7070ab"
    update = start_update(platform, user_id)
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, json=update)
        wrong = await http.post(url, json=update, headers={header: "not-the-secret-at-all"})
        assert (missing.status_code, wrong.status_code) == (refused, refused)
        client = SandboxClient(sandbox.url, platform)
        assert await client.messages(user_id, wait=1) == []
        # The same update with the right secret is answered: the refusals above were real.
        right = await http.post(url, json=update, headers={header: SECRET})
    assert right.status_code == 200
    welcome, _language = await client.wait_for(user_id, 2)
    assert "khai báo y tế" in welcome["text"]
    await client.aclose()


async def test_webhook_with_the_right_secret_is_answered(
    webhook_service: Service, sandbox: Sandbox, platform: str
) -> None:
    resident = User(sandbox.url, platform, "424242" if platform == "telegram" else "ab12cd34ef")
    welcome, _language = await resident.says("/start", 2)
    assert "khai báo y tế" in welcome["text"]
    await resident.aclose()


async def test_restart_keeps_the_data(
    sandbox: Sandbox, clock: FixedClock, tmp_path: Path, platform: str
) -> None:
    resident = User(sandbox.url, platform, "777" if platform == "telegram" else "f00d")
    for run in ("before", "after"):
        mongo = EmbeddedMongo(tmp_path / "db")
        client: AsyncMongoClient[Document] = AsyncMongoClient(await mongo.start(), tz_aware=True)
        service = Service(
            sandbox_settings(sandbox),
            Storage.over(client["khaibao"], clock, TEST_AUDIT_KEY.encode()),
            clock,
        )
        await service.start()
        if run == "before":
            await register(resident)
        else:
            [me] = await resident.says("/me")
            assert "Nguyễn Văn An" in me["text"] and "0912 345 678" in me["text"]
        await service.stop()
        await client.close()
        await mongo.stop()
    await resident.aclose()


async def test_a_user_who_writes_again_is_no_longer_marked_blocked(
    user: User, storage: Storage
) -> None:
    await register(user)
    await storage.accounts.set_blocked(user.platform, user.user_id)
    await user.says("/me")
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None and not account.blocked


@pytest.mark.parametrize(
    ("platform", "method"), [("telegram", "setMyCommands"), ("zalo", "deleteWebhook")]
)
async def test_a_platform_down_at_start_up_is_retried_until_it_answers(
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    selfie_pool: SelfiePool,
    platform: str,
    method: str,
) -> None:
    control = SandboxClient(sandbox.url, platform)
    await control.configure(fail={"method": method, "error_code": 500, "count": 2})
    service = Service(
        sandbox_settings(sandbox), storage, clock, selfies=selfie_pool, run_scheduler=False
    )
    await service.start()  # does not give up, and does not wait for the platform either
    try:
        resident = User(sandbox.url, platform, "8080" if platform == "telegram" else "80ab")
        await resident.client.send(resident.user_id, text="/start")
        welcome, _language = await resident.replies(2, timeout=15)
        assert "khai báo y tế" in welcome["text"]
        assert (await service.health())["channels"] == {"telegram": True, "zalo": True}
        failed = [call for call in await control.calls(method) if not call["ok"]]
        assert len(failed) == 2
        await resident.aclose()
    finally:
        await service.stop()
        await control.aclose()
