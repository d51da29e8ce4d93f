"""The audit trail: appends one at a time and racing, `verify` over the whole chain, and a
resident's «Ai đã xem» query on a large trail.

    python -m bench.audit [--entries 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

from pymongo import AsyncMongoClient

from bench.common import BENCH_AUDIT_KEY, Figures, timed
from core.clock import SystemClock
from storage.database import Storage
from storage.documents import Document
from storage.embedded import EmbeddedMongo

RACING = 50  # writers at once
PEOPLE = 1000  # distinct persons the entries touch


async def appends(storage: Storage, count: int) -> Figures:
    """One officer opening case files one after the other."""
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(count):
        append = partial(
            storage.audit.append, "telegram:1", "case.view", True, f"c{n}", person=f"p{n % PEOPLE}"
        )
        await timed(append, latencies)
    return Figures("append, one writer", latencies, time.perf_counter() - started)


async def racing(storage: Storage, rounds: int) -> Figures:
    """`RACING` writers appending at once, `rounds` times."""
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(
            *(
                timed(partial(storage.audit.append, f"zalo:{n}", "case.view", True), latencies)
                for n in range(RACING)
            )
        )
    return Figures(f"append, {RACING} racing", latencies, time.perf_counter() - started)


async def run(uri: str, entries: int) -> None:
    """Fill one trail, then time verification and the resident's query."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench_audit"], SystemClock(), BENCH_AUDIT_KEY.encode())
    await storage.ensure_indexes()
    try:
        print((await appends(storage, entries)).line())
        print((await racing(storage, 4)).line())
        started = time.perf_counter()
        verdict = await storage.audit.verify()
        wall = time.perf_counter() - started
        print(f"verify: {verdict.describe()[:60]}…  {verdict.count / wall:,.0f} entries/s")
        since = SystemClock().now() - timedelta(days=30)
        latencies: list[float] = []
        for n in range(50):
            await timed(partial(storage.audit.for_person, f"p{n}", since, 20), latencies)
        print(Figures("who viewed (one person)", latencies, sum(latencies)).line())
    finally:
        await client.drop_database("bench_audit")
        await client.close()


async def main(arguments: argparse.Namespace) -> None:
    """One embedded server on disk, as the bot runs it."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db")
        uri = await mongo.start()
        try:
            await run(uri, arguments.entries)
        finally:
            await mongo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000)
    asyncio.run(main(parser.parse_args()))
