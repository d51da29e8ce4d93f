"""The daily report of a busy district: 5,000 active cases in 12 communes, 15,000 declarations
a day for the 14 days of the trend, 200,000 visits at 200 checkpoints. Times the first run
(nothing kept yet: every day of the trend counted from the declarations), then the chart
and the XLSX of each commune and of the district, then the scheduled run as it goes every
evening (the final days of the trend kept by the run before: only the last days' declarations
are read), which gathers, renders, stores and queues the reports to 13 leaders' chats; a
resident's `/help` round trip through the Telegram emulator is timed again and again beside.

Goal: all 13 reports within 60 s on 2 cores, the bot answering meanwhile with p99 < 1 s.

Run: .venv/bin/python -m bench.report
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from pymongo import AsyncMongoClient

from bench.common import (
    BENCH_AUDIT_KEY,
    Figures,
    bench_settings,
    database_and_emulators,
    registered,
    timed,
)
from bot.app import Service
from core.areas import load_areas
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Answers,
    Case,
    ChatRef,
    Checkpoint,
    CheckpointKind,
    Declaration,
    FieldReport,
    ReportCategory,
    Role,
    Staff,
    Visit,
)
from core.ports import Clock
from handlers.context import Services
from handlers.daily_report import DISTRICT, render, reports_of
from sandbox.server import Sandbox
from scheduler.daily_report import send_reports
from storage.database import Storage
from storage.declarations import DeclarationsRepo
from storage.documents import Document, to_document
from storage.visits import VisitsRepo
from tests.chat import User

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = date(2026, 11, 27)
EVENING = datetime(2026, 11, 27, 20, 0, tzinfo=LOCAL)
CASES = 5_000
VISITS = 200_000
CHECKPOINTS = 200
TREND = 14
BATCH = 10_000
SLOTS = (("08:00", 7), ("13:00", 12), ("19:00", 18))  # window, hour declared on time


def _day(offset: int) -> date:
    return DAY - timedelta(days=offset)


def cases(areas: list[str]) -> list[Case]:
    """Active cases enrolled before the trend, spread over the communes."""
    chat = ChatRef(platform=Platform.TELEGRAM, chat_id="-100")
    return [
        Case(
            id=f"c{n}",
            number=n,
            person_id=f"p{n}",
            area=areas[n % len(areas)],
            start=_day(TREND - 1),
            end=DAY + timedelta(days=n % 7),
            staff_chat=chat,
            officer="bench",
            created_at=datetime.combine(_day(TREND), datetime.min.time(), LOCAL),
        )
        for n in range(1, CASES + 1)
    ]


def declarations(all_cases: list[Case], rng: random.Random) -> Iterator[Document]:
    """Every case declares every window of the 14 days: mostly on time, some late, 1 %
    with a symptom, most of those taken over."""
    for offset in range(TREND):
        day = _day(offset)
        for case in all_cases:
            for slot, hour in SLOTS:
                late = rng.random() < 0.1
                moment = datetime.combine(day, datetime.min.time(), LOCAL) + timedelta(
                    hours=hour + (2 if late else 0), minutes=rng.randrange(60)
                )
                sick = rng.random() < 0.01
                document = DeclarationsRepo.document(
                    Declaration(
                        id=f"d{case.number}-{day}-{slot}",
                        receipt=f"R{case.number}{day:%m%d}{slot[:2]}",
                        case_id=case.id,
                        area=case.area,
                        local_date=day,
                        slot=slot,
                        timing="late" if late else "on_time",
                        answers=Answers(fever=sick),
                        submitted_at=moment.astimezone(UTC),
                    )
                )
                if sick and rng.random() < 0.8:
                    document.pop("needs_ack")
                    document["ack"] = {"by": "bench", "at": moment + timedelta(minutes=12)}
                yield document


def checkpoints(areas: list[str]) -> list[Document]:
    """The district's checkpoints, evenly over the communes."""
    return [
        {
            "_id": f"{n:012x}",
            **to_document(
                Checkpoint(
                    id=f"{n:012x}",
                    org_id="org",
                    kind=CheckpointKind.GATE,
                    name=f"Cổng {n}",
                    area=areas[n % len(areas)],
                    code=f"KB{n:08d}",
                    created_by="bench",
                    created_at=EVENING - timedelta(days=30),
                )
            ),
        }
        for n in range(CHECKPOINTS)
    ]


def visits(rng: random.Random) -> Iterator[Document]:
    """Scans of the 14 days; one checkpoint in ten had none on the report's day."""
    for n in range(VISITS):
        checkpoint = rng.randrange(CHECKPOINTS)
        offset = rng.randrange(1, TREND) if checkpoint % 10 == 0 else rng.randrange(TREND)
        start = datetime.combine(_day(offset), datetime.min.time(), LOCAL) + timedelta(
            minutes=rng.randrange(6 * 60, 22 * 60)
        )
        out = start + timedelta(minutes=rng.randrange(5, 60))
        yield VisitsRepo.document(
            Visit(
                id=f"v{n}",
                person_id=f"w{rng.randrange(10_000)}",
                checkpoint_id=f"{checkpoint:012x}",
                in_at=start.astimezone(UTC),
                due_at=start + timedelta(hours=12),
                out_at=out.astimezone(UTC),
                closed="scan",
            )
        )


def field_reports(areas: list[str]) -> list[Document]:
    """A few open field reports per commune, of various ages."""
    return [
        {
            "_id": f"r{n}",
            **to_document(
                FieldReport(
                    id=f"r{n}",
                    number=n,
                    platform=Platform.TELEGRAM,
                    user_id=str(n),
                    chat_id=str(n),
                    area=areas[n % len(areas)],
                    category=ReportCategory.EPIDEMIC,
                    text="…",
                    created_at=EVENING - timedelta(hours=7 * n),
                )
            ),
        }
        for n in range(1, 61)
    ]


async def insert(
    storage: Storage, name: str, documents: Iterator[Document] | list[Document]
) -> int:
    """Insert in batches; returns how many."""
    batch: list[Document] = []
    count = 0
    for document in documents:
        batch.append(document)
        if len(batch) == BATCH:
            await storage.db[name].insert_many(batch, ordered=False)
            count, batch = count + len(batch), []
    if batch:
        await storage.db[name].insert_many(batch, ordered=False)
        count += len(batch)
    return count


async def seed(storage: Storage, areas: list[str]) -> None:
    """The district's data, inserted before the indexes are built (faster), then indexed."""
    rng = random.Random(8)
    started = time.perf_counter()
    all_cases = cases(areas)
    await insert(storage, "cases", [{"_id": c.id, **to_document(c)} for c in all_cases])
    declared = await insert(storage, "declarations", declarations(all_cases, rng))
    await insert(storage, "checkpoints", checkpoints(areas))
    scanned = await insert(storage, "visits", visits(rng))
    await insert(storage, "reports", field_reports(areas))
    for n, area in enumerate([*areas, ""]):
        await storage.staff.add(
            Staff(
                platform=Platform.TELEGRAM,
                user_id=str(300_000 + n),
                role=Role.LEADER,
                areas=[area] if area else [],
                added_by="bench",
                added_at=EVENING,
            )
        )
    await storage.ensure_indexes()
    print(
        f"seeded {len(all_cases)} cases, {declared} declarations, {scanned} visits "
        f"in {time.perf_counter() - started:.1f} s (indexes included)"
    )


async def probe(user: User, latencies: list[float], stop: asyncio.Event) -> None:
    """A resident's `/help` round trip, again and again until `stop`."""
    while not stop.is_set():
        await timed(partial(user.says, "/help"), latencies)


async def per_report(services: Services, areas: list[str]) -> None:
    """Gather once, then each commune's and the district's chart and XLSX, timed apiece."""
    started = time.perf_counter()
    wanted: list[str | None] = [*areas, DISTRICT]
    reports = await reports_of(services, DAY, wanted)
    print(f"figures of 12 communes + district, first run: {time.perf_counter() - started:.1f} s")
    for area in wanted:
        begun = time.perf_counter()
        await render(reports[area], "vi")
        took = 1000 * (time.perf_counter() - begun)
        print(f"  {area or 'district':<12} chart + XLSX {took:7.0f} ms")
    print(f"all 13 reports built (first run) in {time.perf_counter() - started:.1f} s")


@asynccontextmanager
async def seeded_service(
    uri: str, sandbox: Sandbox, clock: Clock, areas: list[str]
) -> AsyncIterator[tuple[Service, Storage]]:
    """The district seeded in a scratch database, then the real service over it, polling
    the Telegram emulator (its audit sealed with a bench key)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench"], clock, BENCH_AUDIT_KEY.encode())
    await seed(storage, areas)
    service = Service(bench_settings(sandbox), storage, clock, run_scheduler=False)
    await service.start()
    try:
        yield service, storage
    finally:
        await service.stop()
        await client.drop_database("bench")
        await client.close()


async def main() -> None:
    """Seed, build each report, then the scheduled run beside the latency probe."""
    areas = [area.code for area in load_areas().areas]
    async with (
        database_and_emulators() as (uri, sandbox),
        seeded_service(uri, sandbox, FixedClock(EVENING.astimezone(UTC)), areas) as (
            service,
            storage,
        ),
    ):
        assert service.router is not None
        services = service.router.services
        await registered(storage, "800001", "+84910000001", EVENING - timedelta(days=1))
        user = User(sandbox.url, "telegram", "800001")
        await user.says("/help")  # warm
        idle: list[float] = []
        for _ in range(20):
            await timed(partial(user.says, "/help"), idle)
        print(Figures("/help round trip, idle", idle, sum(idle)).line())
        latencies: list[float] = []
        stop = asyncio.Event()
        probing = asyncio.create_task(probe(user, latencies, stop))
        started = time.perf_counter()
        await per_report(services, areas)
        scheduled = time.perf_counter()
        queued = await send_reports(services, DAY)
        wall = time.perf_counter() - started
        stop.set()
        await probing
        await user.aclose()
        print(
            f"the scheduled run, days kept (gather, render, store, queue {queued} messages): "
            f"{time.perf_counter() - scheduled:.1f} s"
        )
        print(Figures("/help round trip, meanwhile", latencies, wall).line())


if __name__ == "__main__":
    asyncio.run(main())
