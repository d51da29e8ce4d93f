"""The inbox worker: stored updates processed per user in arrival order, a few at a time.

Receiving ends with `accept`: it returns once the update is in the database, and only then
do the adapters acknowledge it to the platform (the webhook's 200, the next `getUpdates`).
While the database is away `accept` keeps trying, so the platform keeps the update too.

Each stored update is held by this process through a lease (renewed while it waits or
runs) and marked done only after `process` returned; done marks are written a few at a time
(one round trip for the updates finished within `DONE_BATCH_DELAY`). An update whose process
died keeps its lease until it runs out; then any process takes it over and runs it again, so
handlers must be idempotent. At shutdown, updates not started are released at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from typing import TypeVar

from core.channel import Received
from core.models import InboxEntry
from core.ports import Clock, InboxQueue

log = logging.getLogger(__name__)

Process = Callable[[InboxEntry], Awaitable[None]]
User = tuple[str, str]
T = TypeVar("T")

LEASE = timedelta(seconds=60)
STORE_BACKOFF_MAX = 5.0
DONE_BATCH_DELAY = 0.02  # seconds finished updates wait to share one done write


class Stopping(Exception):
    """An update arrived after shutdown began: the platform must deliver it again later."""


class InboxWorker:
    """Stores received updates and runs `process` on each, `in_flight` at a time."""

    def __init__(
        self,
        inbox: InboxQueue,
        process: Process,
        clock: Clock,
        holder: str,
        in_flight: int = 8,
        lease: timedelta = LEASE,
    ) -> None:
        if in_flight < 1:
            raise ValueError("at least one update must be allowed in flight")
        self._inbox = inbox
        self._process = process
        self._clock = clock
        self._holder = holder
        self._in_flight = in_flight
        self._lease = lease
        self._queues: dict[User, deque[InboxEntry]] = {}  # users with work queued or running
        # Users whose earlier updates a dead process still holds: their new ones wait here,
        # so that a user's updates run in the order they were sent, even across a crash.
        self._waiting_for_earlier: set[User] = set()
        self._parked: dict[User, list[InboxEntry]] = {}
        self._ready: asyncio.Queue[User] = asyncio.Queue()  # users whose next update may start
        self._held: set[str] = set()
        self._running: set[str] = set()
        self._finished: list[str] = []
        self._finishing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nothing_held = asyncio.Event()
        self._nothing_running = asyncio.Event()
        self._nothing_held.set()
        self._nothing_running.set()
        self._accepting = False
        self._order = 0

    async def start(self) -> None:
        """Take over updates a dead process left, then start the workers."""
        self._accepting = True
        await self.recover()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._in_flight)]
        self._tasks.append(asyncio.create_task(self._maintain()))
        self._tasks.append(asyncio.create_task(self._mark_done()))

    async def accept(self, received: Received) -> None:
        """Store an update and queue it here; returns once it is stored (a duplicate is dropped)."""
        entry = InboxEntry(
            id=uuid.uuid4().hex,
            key=received.key,
            platform=received.platform,
            user_id=received.user_id,
            raw=dict(received.raw),
            order=self._next_order(),
            received_at=self._clock.now(),
        )
        added = await self._persist(
            lambda: self._inbox.add(entry, self._holder, self._clock.now() + self._lease),
            "store update",
            give_up=lambda: not self._accepting,
        )
        if added:
            self._queue_in_order(entry)
        else:
            log.info("duplicate update ignored", extra={"update": entry.key})

    async def recover(self) -> int:
        """Queue the updates whose lease ran out (their process died); returns how many."""
        now = self._clock.now()
        taken = 0
        for entry in await self._inbox.stale(now):
            if entry.key in self._held:
                continue
            if await self._inbox.take_over(entry.key, self._holder, now + self._lease, now):
                self._queue(entry)
                taken += 1
        if taken:
            log.info("took over unfinished updates", extra={"count": taken})
        await self._unpark()
        return taken

    def _queue_in_order(self, entry: InboxEntry) -> None:
        """Queue a new update, or park it while its user's earlier ones are held elsewhere."""
        user = (entry.platform.value, entry.user_id)
        if user not in self._waiting_for_earlier:
            self._queue(entry)
            return
        self._held.add(entry.key)  # our lease: renewed, and not taken over by us meanwhile
        self._nothing_held.clear()
        self._parked.setdefault(user, []).append(entry)

    async def _unpark(self) -> None:
        """Queue the parked updates of users no longer waiting for earlier ones."""
        self._waiting_for_earlier = await self._inbox.held_elsewhere(self._holder)
        for user in [u for u in self._parked if u not in self._waiting_for_earlier]:
            for entry in self._parked.pop(user):
                self._queue(entry)

    async def idle(self) -> None:
        """Wait until nothing is queued or running here (tests and benchmarks)."""
        await self._nothing_held.wait()

    async def stop(self, grace: float) -> None:
        """Refuse new updates, let running ones finish (up to `grace` s), release the rest."""
        self._accepting = False
        with suppress(TimeoutError):
            await asyncio.wait_for(self._nothing_running.wait(), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with suppress(Exception):  # else they are simply processed again
            await self._flush_done()
        unfinished = sorted(self._held)
        if unfinished:
            with suppress(Exception):  # the leases then simply run out
                await self._inbox.release(unfinished, self._holder, self._clock.now())
            log.info("released unfinished updates", extra={"count": len(unfinished)})

    def _next_order(self) -> int:
        self._order = max(self._order + 1, time.time_ns() // 1000)
        return self._order

    def _queue(self, entry: InboxEntry) -> None:
        user = (entry.platform.value, entry.user_id)
        self._held.add(entry.key)
        self._nothing_held.clear()
        queue = self._queues.get(user)
        if queue is None:
            self._queues[user] = deque([entry])
            self._ready.put_nowait(user)
        else:
            queue.append(entry)

    async def _work(self) -> None:
        while True:
            user = await self._ready.get()
            queue = self._queues[user]
            entry = queue.popleft()
            self._running.add(entry.key)
            self._nothing_running.clear()
            await self._run(entry)
            self._running.discard(entry.key)
            if not self._running:
                self._nothing_running.set()
            self._finished.append(entry.key)
            self._finishing.set()
            if queue:
                self._ready.put_nowait(user)
            else:
                del self._queues[user]

    async def _run(self, entry: InboxEntry) -> None:
        try:
            await self._process(entry)
        except Exception:
            # The conversation layer apologised already; a failing update is not retried.
            log.exception("update failed", extra={"update": entry.key})

    async def _mark_done(self) -> None:
        """Write the done marks of finished updates, a batch at a time."""
        while True:
            await self._finishing.wait()
            await asyncio.sleep(DONE_BATCH_DELAY)
            await self._persist(self._flush_done, "mark updates done")

    async def _flush_done(self) -> None:
        self._finishing.clear()
        keys, self._finished = self._finished, []
        try:
            await self._inbox.done(keys, self._clock.now())
        except Exception:
            self._finished = keys + self._finished  # tried again by `_persist`
            raise
        self._held.difference_update(keys)
        if not self._held:
            self._nothing_held.set()

    async def _maintain(self) -> None:
        """Keep our leases and take over what dead processes left, a few times per lease."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                until = self._clock.now() + self._lease
                await self._inbox.renew(sorted(self._held), self._holder, until)
                await self.recover()
            except Exception:
                log.exception("inbox maintenance failed")

    @staticmethod
    async def _persist(
        write: Callable[[], Awaitable[T]], what: str, give_up: Callable[[], bool] = lambda: False
    ) -> T:
        """Run a database write until it succeeds (or `give_up` says so, raising Stopping)."""
        delay = 0.1
        while True:
            if give_up():
                raise Stopping("the bot is shutting down")
            try:
                return await write()
            except Exception as exc:
                log.warning("%s failed (%r); trying again in %.1f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_BACKOFF_MAX)
