"""Contact tracing on the embedded database: F1 and F2 time per index person, and how fast
visits are recorded once the indexes exist, at one or more collection sizes.

Two data sets, inserted in batches before the indexes are built:
- `shifts` (the default): workers of companies with four checkpoints each (shuttle bus,
  gate, work zone, canteen) come in three shifts and pass them every day, as in an
  industrial cluster: a case's F1 are the people of their shift, F2 the shifts next to it.
- `uniform`: people, checkpoints (one in twenty a bus) and start times drawn at random, stays
  of 5-60 minutes: everyone meets everyone, the worst case for F2.

Run: .venv/bin/python -m bench.tracing [--visits 100000 1000000] [--data shifts|uniform]
     [--persons 20] [--f2 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from statistics import mean
from tempfile import TemporaryDirectory

from pymongo import AsyncMongoClient

from bench.common import BENCH_AUDIT_KEY, Figures, timed
from core.clock import FixedClock
from core.models import Checkpoint, CheckpointKind, Visit
from core.tracing import Trace, trace
from storage.database import Storage
from storage.documents import Document
from storage.embedded import EmbeddedMongo
from storage.visits import VisitsRepo

START = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 10_000
RECORDED = 2_000  # visits inserted one by one, as scans do, with the indexes present
FOUND = ("visits", "f1", "f2")  # what a trace found, as printed


@dataclass(frozen=True)
class Shape:
    """The generated data set."""

    visits: int
    people: int
    checkpoints: int
    days: int
    data: str = "shifts"

    @property
    def active(self) -> int:
        """How many people have visits (with shifts, as many as `visits` covers in full)."""
        if self.data == "shifts":
            return min(self.people, self.visits // (len(DAY_PLAN) * self.days))
        return self.people

    @property
    def end(self) -> datetime:
        """The end of the traced period (`now` for the traces)."""
        return START + timedelta(days=self.days)


def random_visit(shape: Shape, rng: random.Random, number: int) -> Visit:
    """One closed visit of 5-60 minutes at a random checkpoint and time."""
    in_at = START + timedelta(seconds=rng.uniform(0, shape.days * 86_400 - 3_600))
    return Visit(
        id=f"v{number:09d}",
        person_id=f"p{rng.randrange(shape.people):06d}",
        checkpoint_id=f"{rng.randrange(shape.checkpoints):012d}",
        in_at=in_at,
        due_at=in_at + timedelta(hours=12),
        out_at=in_at + timedelta(minutes=rng.uniform(5, 60)),
        closed="scan",
    )


# One shift's day at its company: (checkpoint of the four, minutes after the shift starts,
# minutes spent). Seven visits a day: 10,000 workers make 1,000,000 visits in 14 days.
DAY_PLAN: tuple[tuple[int, int, int], ...] = (
    (0, -50, 40),
    (1, -8, 5),
    (2, 0, 210),
    (3, 215, 30),
    (2, 250, 225),
    (1, 478, 5),
    (0, 485, 40),
)
SHIFT_STARTS = (6 * 60, 14 * 60, 22 * 60)
COMPANY_KINDS = (
    CheckpointKind.BUS,
    CheckpointKind.GATE,
    CheckpointKind.ZONE,
    CheckpointKind.CANTEEN,
)


def shift_visits(shape: Shape, rng: random.Random) -> Iterator[Visit]:
    """Each worker's days: their company's four checkpoints, in their shift, a little jitter."""
    companies = shape.checkpoints // len(COMPANY_KINDS)
    number = 0
    for person in range(shape.active):
        company, shift = person % companies, (person // companies) % len(SHIFT_STARTS)
        for day in range(shape.days):
            start = START + timedelta(days=day, minutes=SHIFT_STARTS[shift])
            for place, offset, minutes in DAY_PLAN:
                if number == shape.visits:
                    return
                in_at = start + timedelta(minutes=offset + rng.uniform(-10, 10))
                yield Visit(
                    id=f"v{number:09d}",
                    person_id=f"p{person:06d}",
                    checkpoint_id=f"{company * len(COMPANY_KINDS) + place:012d}",
                    in_at=in_at,
                    due_at=in_at + timedelta(hours=12),
                    out_at=in_at + timedelta(minutes=minutes * rng.uniform(0.8, 1.2)),
                    closed="scan",
                )
                number += 1


def generated(shape: Shape, rng: random.Random) -> Iterator[Visit]:
    """The visits of the chosen data set."""
    if shape.data == "shifts":
        return shift_visits(shape, rng)
    return (random_visit(shape, rng, number) for number in range(shape.visits))


def checkpoint_kind(shape: Shape, number: int) -> CheckpointKind:
    """Which kind checkpoint `number` is in the chosen data set."""
    if shape.data == "shifts":
        return COMPANY_KINDS[number % len(COMPANY_KINDS)]
    return CheckpointKind.BUS if number % 20 == 0 else CheckpointKind.ZONE


async def add_checkpoints(storage: Storage, shape: Shape) -> None:
    """The checkpoint records (tracing reads which ones are buses)."""
    for number in range(shape.checkpoints):
        kind = checkpoint_kind(shape, number)
        await storage.checkpoints.add(
            Checkpoint(
                id=f"{number:012d}",
                org_id="0" * 12,
                kind=kind,
                name=f"{kind} {number}",
                area="tan-ha",
                code=f"KB{number:08d}",
                created_by="bench",
                created_at=START,
            )
        )


async def fill(storage: Storage, shape: Shape, rng: random.Random) -> None:
    """Insert the visits in batches, then build the indexes; prints both rates."""
    started, visits, stored = time.perf_counter(), generated(shape, rng), 0
    while batch := [VisitsRepo.document(visit) for visit in islice(visits, BATCH)]:
        await storage.db["visits"].insert_many(batch, ordered=False)
        stored += len(batch)
    inserted = time.perf_counter() - started
    print(f"insert_many, no indexes: {stored / inserted:>9.0f} visits/s ({inserted:.1f} s)")
    started = time.perf_counter()
    await storage.ensure_indexes()
    print(f"building the indexes:    {time.perf_counter() - started:>9.1f} s")


async def traces(storage: Storage, shape: Shape, persons: list[str], depth: int) -> Figures:
    """Trace each person at `depth`; prints the mean numbers of contacts found."""
    latencies: list[float] = []
    results: list[Trace] = []

    async def one(person: str) -> None:
        results.append(
            await trace(
                storage.visits, storage.checkpoints, person, shape.days, shape.end, depth=depth
            )
        )

    started = time.perf_counter()
    for person in persons:
        await timed(partial(one, person), latencies)
    wall = time.perf_counter() - started
    means = ", ".join(f"{mean(len(getattr(t, n)) for t in results):.0f} {n}" for n in FOUND)
    print(f"depth {depth}, per person: {means}")
    return Figures(f"trace depth {depth}", latencies, wall)


async def record(storage: Storage, shape: Shape, rng: random.Random) -> Figures:
    """Check visits in one at a time with the indexes present (what scans write)."""
    latencies: list[float] = []
    started = time.perf_counter()
    for number in range(RECORDED):
        scan = {"person_id": f"r{number:06d}", "out_at": None}  # open, one per new person
        visit = random_visit(shape, rng, shape.visits + number).model_copy(update=scan)
        await timed(partial(storage.visits.check_in, visit), latencies)
    return Figures("check_in, indexed", latencies, time.perf_counter() - started)


async def run(uri: str, shape: Shape, persons: int, f2: int) -> None:
    """Generate one data set in a fresh database and print its figures."""
    print(
        f"\n== {shape.visits:,} visits ({shape.data}), {shape.active:,} people, "
        f"{shape.checkpoints} checkpoints, {shape.days} days"
    )
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client["bench_tracing"], FixedClock(shape.end), BENCH_AUDIT_KEY.encode())
    rng = random.Random(shape.visits)
    try:
        await add_checkpoints(storage, shape)
        await fill(storage, shape, rng)
        chosen = [f"p{rng.randrange(shape.active):06d}" for _ in range(persons)]
        print((await traces(storage, shape, chosen, 1)).line())
        print((await traces(storage, shape, chosen[:f2], 2)).line())
        print((await record(storage, shape, rng)).line())
    finally:
        await client.drop_database("bench_tracing")
        await client.close()


async def main(arguments: argparse.Namespace) -> None:
    """Run every size on one embedded server (on disk, as the bot runs it)."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db")
        uri = await mongo.start()
        try:
            for size in arguments.visits:
                shape = Shape(
                    size, arguments.people, arguments.checkpoints, arguments.days, arguments.data
                )
                await run(uri, shape, arguments.persons, arguments.f2)
        finally:
            await mongo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visits", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--data", choices=["shifts", "uniform"], default="shifts")
    parser.add_argument("--persons", type=int, default=20, help="index persons traced (F1)")
    parser.add_argument("--f2", type=int, default=3, help="of them traced at depth 2")
    asyncio.run(main(parser.parse_args()))
