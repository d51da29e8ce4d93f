"""The inbox keeps each user's updates in the order they sent them, even across a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.channel import Platform, Received
from core.clock import FixedClock
from core.models import InboxEntry
from scheduler.inbox import InboxWorker
from storage.database import Storage

LEASE = timedelta(seconds=60)


async def test_new_updates_wait_for_the_earlier_ones_a_dead_process_still_holds(
    storage: Storage, clock: FixedClock
) -> None:
    processed: list[str] = []

    async def process(entry: InboxEntry) -> None:
        processed.append(entry.key)

    # A process died holding the resident's first update (its lease runs another minute).
    first = InboxEntry(
        id="e1",
        key="tg:1",
        platform=Platform.TELEGRAM,
        user_id="7",
        raw={},
        order=1,
        received_at=clock.now(),
    )
    assert await storage.inbox.add(first, "dead-process", clock.now() + LEASE)
    worker = InboxWorker(storage.inbox, process, clock, "new-process", lease=LEASE)
    await worker.start()
    try:
        await worker.accept(Received(Platform.TELEGRAM, "tg:2", "7", {}))  # her next one
        await worker.accept(Received(Platform.TELEGRAM, "tg:3", "8", {}))  # someone else
        while "tg:3" not in processed:  # the other user is answered at once
            await asyncio.sleep(0.01)
        assert processed == ["tg:3"]  # hers waits: answering it first would skip a question
        clock.advance(LEASE + timedelta(seconds=1))
        await worker.recover()  # the dead process's lease ran out
        await worker.idle()
        assert processed == ["tg:3", "tg:1", "tg:2"]
    finally:
        await worker.stop(grace=1)
