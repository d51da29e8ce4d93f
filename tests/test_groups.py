"""Staff group chats: only staff are answered there, and only with what is meant for groups;
resident flows stay in private chats; a group that becomes a supergroup keeps its pages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Answers, ChatRef, Declaration, OutgoingMessage
from handlers.context import Services
from handlers.notices import symptom_page
from sandbox.client import SandboxClient
from storage.database import Storage
from tests.chat import User
from tests.test_casework import a_case

GROUP = {"telegram": "-1001", "zalo": "group-staff-tan-ha"}
NOTHING_COMES = 1.5  # seconds to wait for a reply that must not come


def in_group(platform: str) -> dict[str, Any]:
    """The fields that make a simulated message come from the staff group."""
    chat_type = "supergroup" if platform == "telegram" else "group"
    return {"chat_type": chat_type, "chat_id": GROUP[platform]}


async def says_in_group(user: User, text: str) -> None:
    """The user writes in the staff group."""
    await user.client.send(
        user.user_id, display_name=user.name, text=text, **in_group(user.platform)
    )


async def group_replies(client: SandboxClient, platform: str, count: int = 1) -> list[Any]:
    """The bot's next messages in the group."""
    return await client.wait_for(GROUP[platform], count)


async def nothing_in_group(
    client: SandboxClient, platform: str, service: Service, before: int = 0
) -> None:
    """The bot said nothing more in the group (after it processed everything it got)."""
    await asyncio.sleep(NOTHING_COMES)
    assert service.inbox is not None
    await service.inbox.idle()
    assert len(await client.messages(GROUP[platform])) == before


def service_of(service: Service) -> Services:
    """The services the running bot's handlers use."""
    assert service.router is not None
    return service.router.services


@pytest.fixture
def control(tg: SandboxClient, zl: SandboxClient, platform: str) -> SandboxClient:
    """The control API of the platform under test."""
    return tg if platform == "telegram" else zl


async def test_a_non_staff_member_is_not_answered_and_leaves_no_trace(
    user: User, service: Service, storage: Storage, control: SandboxClient, platform: str
) -> None:
    for text in ("xin chào", "/start", "/khaibao", "/cases", "/enroll", "KB23456789"):
        await says_in_group(user, text)
    await nothing_in_group(control, platform, service)
    for collection in ("channel_accounts", "conversations", "audit", "attempts"):
        assert await storage.db[collection].count_documents({}) == 0, collection


async def test_staff_commands_work_in_the_group_and_resident_flows_do_not(
    officer: User,
    service: Service,
    storage: Storage,
    control: SandboxClient,
    platform: str,
) -> None:
    await a_case(storage, 1, ChatRef(platform=Platform(platform), chat_id=GROUP[platform]))
    await says_in_group(officer, "/cases")
    [listed] = await group_replies(control, platform)
    assert "#1 Người thứ 1" in listed["text"]
    for text in ("/khaibao", "xin chào", "/me"):
        await says_in_group(officer, text)
    await nothing_in_group(control, platform, service, before=1)
    assert await control.messages(officer.user_id) == []  # nor in private: nothing leaked


async def test_the_page_button_works_in_the_group_for_staff_only(
    officer: User,
    user: User,
    service: Service,
    storage: Storage,
    tg: SandboxClient,
    clock: FixedClock,
    platform: str,
) -> None:
    if platform == "zalo":
        return  # Zalo has no buttons: staff type /ack <receipt>
    case = await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id=GROUP[platform]))
    receipt = "PAGE2345"
    declaration = Declaration(
        id="d-fever",
        receipt=receipt,
        case_id=case.id,
        area=case.area,
        local_date=clock.now().date(),
        slot=None,
        timing="adhoc",
        answers=Answers(fever=True, temperature=38.6),
        submitted_at=clock.now(),
    )
    page = await symptom_page(service_of(service), case, None, declaration)
    assert await storage.declarations.add(declaration, page)
    service.wake_dispatchers()
    [text] = await group_replies(tg, platform)
    assert text["buttons"] and f"/ack {receipt}" in text["text"]
    press = {"callback_data": f"ack:{receipt}", "message_id": text["message_id"]}
    press |= in_group(platform)
    await tg.send(user.user_id, **press)  # a member who is not staff
    await nothing_in_group(tg, platform, service, before=1)
    await tg.send(officer.user_id, **press, display_name="Trần Hùng")
    [acked] = await group_replies(tg, platform)
    assert f"tiếp nhận cảnh báo {receipt}" in acked["text"]
    # The page itself now says who took it, and its button is gone.
    edited = await once_edited(tg, GROUP[platform], text["message_id"])
    assert "✅ Trần Hùng đã tiếp nhận lúc 09:30 27/11/2026" in edited["text"]
    assert not edited["buttons"] and f"/ack {receipt}" not in edited["text"]


async def once_edited(client: SandboxClient, chat_id: str, message_id: str) -> dict[str, Any]:
    """A bot message, once the bot has edited it (the outbox does so within moments)."""
    for _ in range(100):
        [message] = [m for m in await client.messages(chat_id) if m["message_id"] == message_id]
        if message["edited"]:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"the message was never edited: {message}")


async def test_a_group_that_becomes_a_supergroup_keeps_its_pages(
    officer: User,
    service: Service,
    storage: Storage,
    tg: SandboxClient,
    clock: FixedClock,
    platform: str,
) -> None:
    if platform == "zalo":
        return  # a Telegram event
    old = "-4001"
    case = await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id=old))
    await tg.send(officer.user_id, text="/staff", chat_type="group", chat_id=old)
    await tg.wait_for(old)
    later = OutgoingMessage(
        key="page:waiting",
        platform=Platform.TELEGRAM,
        chat_id=old,
        text="🚨 Cảnh báo đang chờ gửi",
        not_before=clock.now() + timedelta(hours=1),
    )
    await storage.outbox.enqueue([later])
    moved = await tg.migrate(old, officer.user_id)
    new = str(moved["migrate_to_chat_id"])
    assert service.inbox is not None
    await asyncio.sleep(0.5)
    await service.inbox.idle()
    stored = await storage.cases.get(case.id)
    assert stored is not None and stored.staff_chat.chat_id == new
    waiting = await storage.db["outbox"].find_one({"key": "page:waiting"})
    assert waiting is not None and waiting["chat_id"] == new
