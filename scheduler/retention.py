"""The daily retention run: each data class deleted past its period, in bounded batches."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from core.ports import Clock, Leases, Retention
from core.retention import DataClass, RetentionRules

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(days=1)
RETENTION_LEASE = "retention"
BATCH = 500  # items per data class per step
TIME_BUDGET = timedelta(minutes=5)  # what is left waits for the next day's run


@dataclass(frozen=True)
class RetentionRun:
    """What a retention run works with."""

    retention: Retention
    rules: RetentionRules
    clock: Clock
    batch: int = BATCH
    budget: timedelta = TIME_BUDGET


async def pending(run: RetentionRun) -> dict[DataClass, int]:
    """How many items of each data class a run now would delete (nothing changes)."""
    now = run.clock.now()
    return {
        data: await run.retention.pending(data, run.rules.cutoff(data, now)) for data in DataClass
    }


async def apply(run: RetentionRun, day: date) -> dict[DataClass, int]:
    """Delete what is past its period, logging the counts under `day`; each class gets at
    least one batch, then more while the time budget lasts."""
    now, started = run.clock.now(), time.monotonic()
    counts: dict[DataClass, int] = {}
    for data in DataClass:
        cutoff, done, counts[data] = run.rules.cutoff(data, now), False, 0
        while not done:
            deleted, done = await run.retention.sweep(data, cutoff, run.batch)
            counts[data] += deleted
            if time.monotonic() - started > run.budget.total_seconds():
                break
    await run.retention.record(day, counts)
    log.info("retention: %s", {data.value: count for data, count in counts.items()})
    return counts


async def apply_once(run: RetentionRun, leases: Leases, holder: str, day: date) -> None:
    """The scheduled run, in one process at a time."""
    if not await leases.acquire(RETENTION_LEASE, holder, 2 * run.budget):
        return
    try:
        await apply(run, day)
    finally:
        await leases.release(RETENTION_LEASE, holder)
