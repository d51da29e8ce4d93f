"""The scheduled jobs and the APScheduler that runs them; the composition root starts it.

Jobs today: the quarantine tick (reminders, summaries, completions), the selfie checks a
dead process left, erasures that waited for a case to end, and closing visits nobody
scanned out of. Daily reports and retention
come next: each is one more `Job`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger


@dataclass(frozen=True)
class Job:
    """Something to run every `every`, first at start-up."""

    name: str
    every: timedelta
    run: Callable[[], Awaitable[None]]


def build_scheduler(jobs: Sequence[Job]) -> AsyncIOScheduler:
    """An in-memory scheduler running each job at its interval, one run of a job at a time.

    The job state lives only in memory: what has been done is in the database (fan-out log,
    outbox, the records themselves), so a restarted process simply runs again and catches
    up. Runs missed while the loop was busy collapse into one (`coalesce`), and a run later
    than one interval is dropped because the next run does the same work.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job in jobs:
        seconds = job.every.total_seconds()
        scheduler.add_job(
            _native(job.run),
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
            next_run_time=datetime.now(UTC),
        )
    return scheduler


def _native(run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    # APScheduler awaits only native coroutine functions; any other callable would run in a
    # thread and leave its awaitable unawaited.
    async def job() -> None:
        await run()

    return job
