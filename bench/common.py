"""Shared bench plumbing: an embedded database, the emulators, timing figures."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from pymongo import AsyncMongoClient

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, Service
from bot.config import Settings
from core.channel import Platform
from core.models import Account, Consent, Person
from core.ports import Clock
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Document
from storage.embedded import EmbeddedMongo, free_port
from tests.chat import User
from tests.crash import bot_environment, start_bot, stop

WARM_UP = 3.0  # seconds for a started bot to be fully up


@dataclass
class Figures:
    """Latencies of one run and its wall time."""

    name: str
    latencies: list[float]
    wall: float

    @property
    def rate(self) -> float:
        """Completed operations per second."""
        return len(self.latencies) / self.wall

    def line(self) -> str:
        """One printable summary line."""
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{self.name:<28} {len(ordered):>6} ops  {self.rate:>8.1f}/s  "
            f"p50 {statistics.median(ordered) * 1000:>7.1f} ms  p99 {p99 * 1000:>7.1f} ms"
        )


async def timed(operation: Callable[[], Awaitable[object]], sink: list[float]) -> None:
    """Run `operation` and append its duration to `sink`."""
    started = time.perf_counter()
    await operation()
    sink.append(time.perf_counter() - started)


async def together(users: list[User], work: Callable[[User], Awaitable[None]]) -> float:
    """Run `work` for every user at once; the wall time in seconds. Closes the users."""
    started = time.perf_counter()
    await asyncio.gather(*(work(user) for user in users))
    wall = time.perf_counter() - started
    for user in users:
        await user.aclose()
    return wall


BENCH_SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnop"
BENCH_AUDIT_KEY = "bench-audit-key-0123456789-abcdefghijklmnopq"


def bench_settings(sandbox: Sandbox) -> Settings:
    """The service's settings for a bench: the Telegram emulator, bench keys, quiet logs."""
    return Settings(
        _env_file=None,
        telegram_bot_token=SANDBOX_TELEGRAM_TOKEN,
        secret_key=BENCH_SECRET_KEY,
        audit_key=BENCH_AUDIT_KEY,
        telegram_api_base=sandbox.telegram_api_base,
        http_port=free_port(),
        log_level="WARNING",
    )


@asynccontextmanager
async def telegram_service(
    uri: str, sandbox: Sandbox, clock: Clock
) -> AsyncIterator[tuple[Service, Storage]]:
    """The real service on a scratch database, polling the Telegram emulator."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench"], clock, BENCH_AUDIT_KEY.encode())
    service = Service(bench_settings(sandbox), storage, clock, run_scheduler=False)
    await service.start()
    assert service.selfies is not None
    await service.selfies.warm()  # workers spawning would steal the cores from the run
    try:
        yield service, storage
    finally:
        await service.stop()
        await client.drop_database("bench")
        await client.close()


@asynccontextmanager
async def bot_process(uri: str, db_name: str, sandbox: Sandbox) -> AsyncIterator[None]:
    """The real bot in a process of its own (as it runs in production), on the emulators."""
    with TemporaryDirectory() as directory:
        env = bot_environment(uri, db_name, sandbox, Path(directory), lease_seconds=60)
        env["LOG_LEVEL"] = "ERROR"
        process = await start_bot(env, Path(directory) / "bot.log")
        await asyncio.sleep(WARM_UP)  # its selfie workers start in the background
        try:
            yield
        finally:
            await stop(process)


@asynccontextmanager
async def echo_process(sandbox: Sandbox) -> AsyncIterator[None]:
    """The bare aiogram echo bot in a process of its own (ready once it polls)."""
    control = SandboxClient(sandbox.url, "telegram")
    polls = len(await control.calls("getUpdates"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.echo", sandbox.telegram_api_base
    )
    while len(await control.calls("getUpdates")) <= polls:  # noqa: ASYNC110 (another process)
        await asyncio.sleep(0.1)
    await control.aclose()
    try:
        yield
    finally:
        process.terminate()
        await process.wait()


@asynccontextmanager
async def database_and_emulators() -> AsyncIterator[tuple[str, Sandbox]]:
    """An embedded database in a temporary directory and fresh emulators."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db", fixed_clock=True)
        uri = await mongo.start()
        sandbox = Sandbox(SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, poll_timeout_cap=1.0)
        await sandbox.start()
        try:
            yield uri, sandbox
        finally:
            await sandbox.stop()
            await mongo.stop()


async def registered(storage: Storage, user_id: str, phone: str, now: datetime) -> Person:
    """A Telegram user who registered at `now`: their person and account."""
    person = Person(
        id=uuid.uuid4().hex,
        name="Nguyễn Văn An",
        phone=phone,
        area="tan-ha",
        created_at=now,
        consent=Consent(version="2026-11", at=now),
    )
    await storage.people.add(person)
    await storage.accounts.save(
        Account(
            platform=Platform.TELEGRAM,
            user_id=user_id,
            chat_id=user_id,
            person_id=person.id,
            created_at=now,
        )
    )
    return person
