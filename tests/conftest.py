"""Shared fixtures: one real SecantusDB server per session, a fresh database per test,
the Telegram and Zalo emulators over loopback HTTP, and the bot service wired to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, Service
from bot.config import Settings
from bot.selfies import SelfiePool
from core.channel import Platform
from core.clock import FixedClock
from core.models import Role, Staff
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Database, Document
from storage.embedded import EmbeddedMongo, free_port
from tests.chat import User

TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"
TEST_AUDIT_KEY = "test-audit-key-0123456789-abcdefghijklmnopq"


@pytest.fixture(scope="session")
async def mongo_uri() -> AsyncIterator[str]:
    """A SecantusDB server for the whole test session (fault injection on, TTL sweeper off:
    the tests' fixed clocks are days behind the server's)."""
    server = EmbeddedMongo(":memory:", fixed_clock=True, test_commands=True)
    yield await server.start()
    await server.stop()


@pytest.fixture(scope="session")
async def mongo_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    """One client for the session's server."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def db(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[Database]:
    """A fresh, empty database for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed at 09:30 local time (02:30 UTC) on 27 Nov 2026."""
    return FixedClock(datetime(2026, 11, 27, 2, 30, tzinfo=UTC))


@pytest.fixture
def storage(db: Database, clock: FixedClock) -> Storage:
    """Repositories over the test database."""
    return Storage.over(db, clock, TEST_AUDIT_KEY.encode())


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """Fresh Telegram and Zalo emulators on a free loopback port."""
    emulators = Sandbox(SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, poll_timeout_cap=0.5)
    await emulators.start()
    yield emulators
    await emulators.stop()


def sandbox_settings(sandbox: Sandbox, **overrides: object) -> Settings:
    """Settings that point both channels at the emulators, ignoring any local .env."""
    values: dict[str, Any] = {
        "telegram_bot_token": SANDBOX_TELEGRAM_TOKEN,
        "telegram_api_base": sandbox.telegram_api_base,
        "zalo_bot_token": SANDBOX_ZALO_TOKEN,
        "zalo_api_base": sandbox.zalo_api_base,
        "http_port": free_port(),
        "secret_key": TEST_SECRET_KEY,
        "audit_key": TEST_AUDIT_KEY,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def tg(sandbox: Sandbox) -> AsyncIterator[SandboxClient]:
    """The Telegram emulator's control API: users' actions, configuration, transcripts."""
    client = SandboxClient(sandbox.url, "telegram")
    yield client
    await client.aclose()


@pytest.fixture
async def zl(sandbox: Sandbox) -> AsyncIterator[SandboxClient]:
    """The Zalo emulator's control API."""
    client = SandboxClient(sandbox.url, "zalo")
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def selfie_pool() -> Iterator[SelfiePool]:
    """Selfie worker processes shared by the session (they load the face models once)."""
    pool = SelfiePool(workers=2, mismatch_threshold=0.6, max_bytes=10_000_000)
    yield pool
    pool.close()


@pytest.fixture
async def service(
    sandbox: Sandbox, storage: Storage, clock: FixedClock, selfie_pool: SelfiePool
) -> AsyncIterator[Service]:
    """The bot, polling both emulators; tests drive the scheduler with `service.tick()`."""
    running = Service(
        sandbox_settings(sandbox), storage, clock, selfies=selfie_pool, run_scheduler=False
    )
    await running.start()
    yield running
    await running.stop()


@pytest.fixture(params=["telegram", "zalo"])
def platform(request: pytest.FixtureRequest) -> str:
    """Run a test once per platform."""
    return str(request.param)


@pytest.fixture
async def user(sandbox: Sandbox, service: Service, platform: str) -> AsyncIterator[User]:
    """A simulated resident chatting with the running bot."""
    user_id = "100001" if platform == "telegram" else "a1b2c3d4e5f600112233"
    resident = User(sandbox.url, platform, user_id)
    yield resident
    await resident.aclose()


LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def at(hour: int, minute: int = 0, day: int = 27) -> datetime:
    """A local time in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL)


@asynccontextmanager
async def staff_user(
    storage: Storage,
    clock: FixedClock,
    sandbox: Sandbox,
    platform: str,
    user_id: str,
    role: Role,
    areas: tuple[str, ...] = ("tan-ha",),
    name: str = "Cán bộ Trạm y tế",
    orgs: tuple[str, ...] = (),
) -> AsyncIterator[User]:
    """A staff member with this role (over Xã Tân Hà by default; an org manager over
    `orgs`), chatting on `platform`."""
    await storage.staff.add(
        Staff(
            platform=Platform(platform),
            user_id=user_id,
            role=role,
            areas=list(areas),
            orgs=list(orgs),
            added_by="test",
            added_at=clock.now(),
        )
    )
    staff = User(sandbox.url, platform, user_id, name=name)
    yield staff
    await staff.aclose()


@pytest.fixture
async def officer(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A commune health officer of Xã Tân Hà, chatting with the bot on the same platform."""
    user_id = "200002" if platform == "telegram" else "b2c3d4e5f6a700112233"
    async with staff_user(storage, clock, sandbox, platform, user_id, Role.HEALTH_OFFICER) as staff:
        yield staff


@pytest.fixture
async def colleague(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """A second staff member of Xã Tân Hà (commune staff), on the same platform."""
    user_id = "200003" if platform == "telegram" else "b2c3d4e5f6a799"
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.COMMUNE_STAFF, name="Cán bộ xã"
    ) as staff:
        yield staff


MANAGER_IDS = {"telegram": "300001", "zalo": "c3d4e5f6a7b800112233"}


def org_manager(
    storage: Storage, clock: FixedClock, sandbox: Sandbox, platform: str, org_id: str
) -> AbstractAsyncContextManager[User]:
    """The manager of one organisation (no commune), chatting on `platform`."""
    return staff_user(
        storage,
        clock,
        sandbox,
        platform,
        MANAGER_IDS[platform],
        Role.ORG_MANAGER,
        areas=(),
        name="Quản lý nhà máy",
        orgs=(org_id,),
    )
