"""Faults injected into the real database (SecantusDB's `configureFailPoint` `failCommand`):
a symptomatic declaration and its page to staff are stored together or not at all."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from bot.app import Service
from bot.selfies import SelfiePool
from core.channel import Platform
from core.clock import FixedClock
from core.models import ChatRef, InboxEntry, OutgoingMessage, Priority
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Database, Document
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY, at, sandbox_settings
from tests.images import ASTRONAUT, encode
from tests.test_casework import a_case
from tests.test_quarantine import answer_symptoms

FAULTY = "faulty-khaibao"
STAFF_GROUP = "-1009"


class FailedCommands(monitoring.CommandListener):
    """Remembers which commands the server failed (name and collection)."""

    def __init__(self) -> None:
        self.refused: list[tuple[str, str]] = []
        self._started: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """A command went out."""
        collection = str(event.command.get(event.command_name, ""))
        self._started[event.request_id] = (event.command_name, collection)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """It worked."""
        self._started.pop(event.request_id, None)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """It failed: keep it."""
        self.refused.append(self._started.pop(event.request_id, (event.command_name, "")))


@pytest.fixture
async def faulty(
    mongo_uri: str, db: Database
) -> AsyncIterator[tuple[AsyncMongoClient[Document], FailedCommands]]:
    """A client whose commands the fail point can target (by its application name)."""
    listener = FailedCommands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_uri, tz_aware=True, appname=FAULTY, event_listeners=[listener]
    )
    yield client, listener
    await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    await client.close()


@pytest.fixture
async def faulty_service(
    sandbox: Sandbox,
    db: Database,
    clock: FixedClock,
    selfie_pool: SelfiePool,
    faulty: tuple[AsyncMongoClient[Document], FailedCommands],
) -> AsyncIterator[Service]:
    """The bot, its database reached through the faulty client."""
    client, _ = faulty
    storage = Storage.over(client[db.name], clock, TEST_AUDIT_KEY.encode())
    running = Service(
        sandbox_settings(sandbox), storage, clock, selfies=selfie_pool, run_scheduler=False
    )
    await running.start()
    yield running
    await running.stop()


async def fail_next(client: AsyncMongoClient[Document], command: str, skip: int) -> None:
    """Fail the faulty client's `command` once, after letting `skip` of them through."""
    await client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"skip": skip, "times": 1},
            "data": {"failCommands": [command], "errorCode": 2, "appName": FAULTY},
        }
    )


async def at_the_selfie_with_fever(sandbox: Sandbox, storage: Storage) -> User:
    """A resident in quarantine (case 1, paging the staff group) asked for the selfie."""
    await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id=STAFF_GROUP))
    resident = User(sandbox.url, "telegram", "91")
    await resident.says("/khaibao")
    await resident.choose("⚠️ Có triệu chứng")
    await answer_symptoms(resident, fever=True)
    return resident


async def test_whichever_write_fails_no_declaration_is_left_without_its_page(
    faulty_service: Service,
    faulty: tuple[AsyncMongoClient[Document], FailedCommands],
    sandbox: Sandbox,
    clock: FixedClock,
) -> None:
    client, listener = faulty
    storage = faulty_service.storage
    clock.set(at(12, 0))
    resident = await at_the_selfie_with_fever(sandbox, storage)
    earlier = OutgoingMessage(
        key="an-earlier-page",
        platform=Platform.TELEGRAM,
        chat_id="-1008",
        text="🚨 Một cảnh báo trước đó",
        priority=Priority.EMERGENCY,
    )
    await storage.outbox.enqueue([earlier])  # the lane exists: every attempt inserts the same
    # The first insert stores the update in the inbox. Fail the next one, then the one after,
    # ...: the photo's, the declaration's, the page's. Each time the resident is told to try
    # again and neither the declaration nor its page is stored; once past the last insert,
    # both are.
    for skip in range(1, 12):
        await fail_next(client, "insert", skip=skip)
        [reply] = await resident.photo(encode(ASTRONAUT))
        if "Đã nhận khai báo" in reply["text"]:
            break
        assert "Xin lỗi, hệ thống đang gặp trục trặc" in reply["text"]
        assert await storage.db["declarations"].count_documents({}) == 0
        assert await storage.db["outbox"].count_documents({"key": {"$regex": "^page:"}}) == 0
    else:
        pytest.fail("the declaration was never stored")
    assert ("insert", "outbox") in listener.refused  # the page's insert was among those failed
    assert await storage.db["declarations"].count_documents({}) == 1
    staff = await sandbox_messages(sandbox, STAFF_GROUP, 2)
    assert "CÓ TRIỆU CHỨNG" in staff[0]["text"] and staff[1]["kind"] == "photo"
    await resident.aclose()


async def test_a_failed_commit_stores_neither(
    faulty_service: Service,
    faulty: tuple[AsyncMongoClient[Document], FailedCommands],
    sandbox: Sandbox,
    clock: FixedClock,
) -> None:
    client, listener = faulty
    storage = faulty_service.storage
    clock.set(at(12, 0))
    resident = await at_the_selfie_with_fever(sandbox, storage)
    await fail_next(client, "commitTransaction", skip=0)
    [apology] = await resident.photo(encode(ASTRONAUT))
    assert "Xin lỗi" in apology["text"]
    assert any(name == "commitTransaction" for name, _ in listener.refused)
    assert await storage.db["declarations"].count_documents({}) == 0
    assert await storage.db["outbox"].count_documents({"key": {"$regex": "^page:"}}) == 0
    await resident.aclose()


async def test_a_declaration_run_again_queues_its_unacknowledged_page_again(
    service: Service, sandbox: Sandbox, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(12, 0))
    resident = await at_the_selfie_with_fever(sandbox, storage)
    await resident.photo(encode(ASTRONAUT))
    await sandbox_messages(sandbox, STAFF_GROUP, 2)
    [stored] = [d async for d in storage.db["declarations"].find({})]
    declaration = await storage.declarations.get(stored["_id"])
    assert declaration is not None
    page = await storage.db["outbox"].find_one({"key": f"page:{declaration.id}"})
    assert page is not None
    await storage.db["outbox"].delete_many({"key": {"$regex": "^page:"}})  # as if never queued
    message = OutgoingMessage.model_validate(
        {field: page[field] for field in OutgoingMessage.model_fields if field in page}
    )
    again = await storage.declarations.add(declaration, [message])
    assert again == declaration
    assert await storage.db["outbox"].count_documents({"key": f"page:{declaration.id}"}) == 1
    await resident.aclose()


async def sandbox_messages(sandbox: Sandbox, chat_id: str, count: int) -> list[Any]:
    """The bot's next messages in a Telegram chat."""
    client = SandboxClient(sandbox.url, "telegram")
    try:
        return await client.wait_for(chat_id, count)
    finally:
        await client.aclose()


async def test_a_photo_processed_again_after_a_crash_repeats_its_receipt_and_stores_once(
    service: Service, sandbox: Sandbox, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(12, 0))
    resident = await at_the_selfie_with_fever(sandbox, storage)
    assert service.inbox is not None
    await service.inbox.idle()
    asking = await storage.db["conversations"].find_one({"user_id": resident.user_id})
    sent = await resident.client.send(resident.user_id, photo=encode(ASTRONAUT))
    [first] = await resident.replies()
    await service.inbox.idle()
    key = f"tg:{sent['update']['update_id']}"
    stored = await storage.db["inbox"].find_one({"_id": key})
    assert stored is not None and "raw" not in stored  # processed, its content forgotten
    # As if the process had died after storing the declaration, before anything else: the
    # conversation still asks for the selfie and the update is not marked done.
    assert asking is not None
    await storage.db["conversations"].replace_one({"_id": asking["_id"]}, asking)
    again = InboxEntry(
        id=stored["id"],
        key=key,
        platform=Platform.TELEGRAM,
        user_id=resident.user_id,
        raw=sent["update"],
        order=stored["order"],
        received_at=stored["received_at"],
    )
    await service._process(again)
    [second] = await resident.replies()
    code = re.search(r"Mã biên nhận: (\w+)", str(first["text"]))
    assert code and code.group(0) in str(second["text"])
    assert await storage.db["declarations"].count_documents({}) == 1
    assert await storage.db["outbox"].count_documents({"key": {"$regex": "^page:"}}) == 2
    await resident.aclose()
