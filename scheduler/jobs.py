"""The APScheduler that drives the scheduler tick; the composition root starts and stops it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

TICK_JOB = "tick"


def build_scheduler(
    tick_every: timedelta, run_tick: Callable[[], Awaitable[None]]
) -> AsyncIOScheduler:
    """An in-memory scheduler running `run_tick` every `tick_every` (~30 s), first at start.

    The job state lives only in memory: what has been sent is in the database (fan-out log,
    outbox), so a restarted process simply ticks again and catches up. One run at a time
    (`max_instances=1`); runs missed while the loop was busy collapse into one (`coalesce`),
    and a run later than one interval is dropped because the next tick does the same work.
    """

    # APScheduler awaits only native coroutine functions; any other callable would run in a
    # thread and leave its awaitable unawaited.
    async def run() -> None:
        await run_tick()

    seconds = tick_every.total_seconds()
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        run,
        IntervalTrigger(seconds=seconds, timezone=UTC),
        id=TICK_JOB,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(seconds)),
        next_run_time=datetime.now(UTC),
    )
    return scheduler
