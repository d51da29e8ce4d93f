"""Complete declarations per second (command, answer, selfie, receipt) and their latency,
from the selfie upload to the receipt too, through the Telegram emulator and the embedded
database, beside a bare aiogram echo bot.

By default the bot and the echo bot each run in a process of their own, as in production;
`--in-process` runs them inside the benchmark's process, beside the simulated users (the
harness of the first measurements).

Run: .venv/bin/python -m bench.declarations [--residents 30] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pymongo import AsyncMongoClient

from bench.common import (
    BENCH_AUDIT_KEY,
    Figures,
    bot_process,
    database_and_emulators,
    registered,
    telegram_service,
    together,
)
from bench.selfies import uploads
from bench.updates import run_echo
from core.channel import Platform
from core.clock import FixedClock, SystemClock
from core.models import Case, ChatRef
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Document
from tests.chat import User

# 12:00 local: the 13:00 window is open.
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


async def resident_in_quarantine(
    storage: Storage, user_id: str, number: int, now: datetime
) -> None:
    """A Telegram resident registered the day before `now`, enrolled at `now`: no window
    before `now` was due, so no nudge for a missed one interrupts the run at any hour."""
    enrolled, now = now, now - timedelta(days=1)
    person = await registered(storage, user_id, f"+8491{number:07d}", now)
    await storage.cases.add(
        Case(
            id=uuid.uuid4().hex,
            number=number,
            person_id=person.id,
            area="tan-ha",
            start=now.date(),
            end=(now + timedelta(days=13)).date(),
            officer="bench",
            staff_chat=ChatRef(platform=Platform.TELEGRAM, chat_id="999"),
            created_at=enrolled,
        )
    )


async def declare(
    resident: User, photo: bytes, whole: list[float], selfie_to_receipt: list[float]
) -> None:
    """One declaration: /khaibao, "no symptoms", the selfie, until the receipt arrives."""
    started = time.perf_counter()
    await resident.says("/khaibao")
    await resident.choose("✅ Không có triệu chứng nào")
    uploading = time.perf_counter()
    [receipt] = await resident.photo(photo)
    assert "Đã nhận khai báo" in receipt["text"]
    done = time.perf_counter()
    whole.append(done - started)
    selfie_to_receipt.append(done - uploading)


async def run_khaibao(
    uri: str, sandbox: Sandbox, residents: int, in_process: bool
) -> tuple[Figures, Figures]:
    """`residents` people declare at the same time through the real service."""
    whole: list[float] = []
    selfie: list[float] = []
    users = [User(sandbox.url, "telegram", str(700000 + i)) for i in range(residents)]
    photos = dict(zip((u.user_id for u in users), uploads(residents), strict=True))
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench"], SystemClock(), BENCH_AUDIT_KEY.encode())
    running = (
        telegram_service(uri, sandbox, FixedClock(NOON))
        if in_process
        else bot_process(uri, "bench", sandbox)
    )
    try:
        now = NOON if in_process else datetime.now(UTC)
        for number, user in enumerate(users, 1):
            await resident_in_quarantine(storage, user.user_id, number, now)
        async with running:
            wall = await together(users, lambda u: declare(u, photos[u.user_id], whole, selfie))
            checks = await checks_done(storage)
    finally:
        await client.drop_database("bench")
        await client.close()
    print(f"face and re-use checks finished {checks:.1f} s after the last receipt")
    return Figures("khaibao declarations", whole, wall), Figures(
        "  selfie upload → receipt", selfie, wall
    )


async def checks_done(storage: Storage) -> float:
    """Seconds until no declaration waits for its selfie check any more."""
    started = time.perf_counter()
    # The checks may run in another process: the database is all there is to watch.
    while await storage.declarations.checks_pending():  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def main(residents: int, in_process: bool) -> None:
    """Run both and print figures and the ratio."""
    async with database_and_emulators() as (uri, sandbox):
        declarations, selfies = await run_khaibao(uri, sandbox, residents, in_process)
        echo = await run_echo(sandbox, residents, messages=3, in_process=in_process)
    where = "in the benchmark's process" if in_process else "each in its own process"
    print(f"{residents} residents declaring at once (3 updates + a 960x1280 selfie each), {where}")
    print(declarations.line())
    print(selfies.line())
    print(echo.line())
    print(f"declarations/s vs echo round trips/s: {declarations.rate / echo.rate:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=30)
    parser.add_argument("--in-process", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.residents, arguments.in_process))
