"""Check-ins recorded per second: workers scanning checkpoint links through the Telegram
emulator into the real bot (a process of its own) and the embedded database.

Each worker moves from checkpoint to checkpoint, so every scan closes the last visit and
opens a new one (two writes), as a shift of workers passing gates and canteens does. Their
daily declaration is already given, so each scan is one update and one receipt.

Run: .venv/bin/python -m bench.scans [--workers 60] [--scans 10]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pymongo import AsyncMongoClient

from bench.common import (
    BENCH_AUDIT_KEY,
    Figures,
    bot_process,
    database_and_emulators,
    registered,
    timed,
    together,
)
from core.checkpoints import checkpoint_token, start_payload
from core.clock import SystemClock
from core.models import (
    Checkpoint,
    CheckpointKind,
    DailyCheck,
    Organisation,
)
from core.tokens import Keyring, new_code, new_id
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Document
from tests.chat import User
from tests.crash import SECRET_KEY

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CHECKPOINTS = 20


async def a_factory(storage: Storage, now: datetime) -> list[Checkpoint]:
    """An organisation with gates, canteens and buses."""
    org = Organisation(
        id=new_id(), name="Công ty May", area="tan-ha", created_by="b", created_at=now
    )
    await storage.orgs.add(org)
    kinds = (CheckpointKind.GATE, CheckpointKind.CANTEEN, CheckpointKind.BUS)
    made = []
    for n in range(CHECKPOINTS):
        checkpoint = Checkpoint(
            id=new_id(),
            org_id=org.id,
            kind=kinds[n % len(kinds)],
            name=f"Điểm {n}",
            area="tan-ha",
            code=new_code(),
            created_by="b",
            created_at=now,
        )
        made.append(await storage.checkpoints.add(checkpoint))
    return made


async def a_worker(storage: Storage, user_id: str, now: datetime) -> None:
    """A registered worker who gave today's daily declaration already."""
    person = await registered(storage, user_id, f"+8498{user_id[-7:]}", now)
    today = now.astimezone(LOCAL).date()
    await storage.daily_checks.add(
        DailyCheck(
            person_id=person.id,
            day=today,
            symptoms=False,
            contact=False,
            travel=False,
            checkpoint_id="",
            at=now,
        )
    )


async def walk(user: User, links: list[str], first: int, scans: int, sink: list[float]) -> None:
    """Scan `scans` checkpoints in turn, each until its receipt."""
    for step in range(scans):
        link = links[(first + step) % len(links)]

        async def one(payload: str = link) -> None:
            [receipt] = await user.says(f"/start {payload}")
            assert "Đã ghi nhận VÀO" in receipt["text"], receipt["text"]

        await timed(one, sink)


async def run(uri: str, sandbox: Sandbox, workers: int, scans: int) -> tuple[Figures, int]:
    """Every worker walks at once; the figures and the visits stored."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench"], SystemClock(), BENCH_AUDIT_KEY.encode())
    try:
        now = datetime.now(UTC)
        keys = Keyring(SECRET_KEY.encode())
        links = [start_payload(checkpoint_token(keys, c)) for c in await a_factory(storage, now)]
        users = [User(sandbox.url, "telegram", str(800000 + i)) for i in range(workers)]
        for user in users:
            await a_worker(storage, user.user_id, now)
        latencies: list[float] = []
        async with bot_process(uri, "bench", sandbox):
            wall = await together(
                users, lambda u: walk(u, links, int(u.user_id) % len(links), scans, latencies)
            )
        stored = await client["bench"]["visits"].count_documents({})
    finally:
        await client.drop_database("bench")
        await client.close()
    return Figures("scans (check-in receipts)", latencies, wall), stored


async def main(workers: int, scans: int) -> None:
    """Print the rate of recorded visits."""
    async with database_and_emulators() as (uri, sandbox):
        figures, stored = await run(uri, sandbox, workers, scans)
    print(
        f"{workers} workers × {scans} scans through the Telegram emulator, bot in its own process"
    )
    print(figures.line())
    print(f"visits stored: {stored} ({stored / figures.wall:.1f} visits/s recorded)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--scans", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.workers, arguments.scans))
