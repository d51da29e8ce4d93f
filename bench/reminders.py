"""A reminder fan-out through the outbox and the Telegram dispatcher, against an emulator that
answers 429 above 30 messages/s: does the last reminder land before its target, exactly once?

The fan-out is timed like the scheduler does it: to finish by `target`, it starts
`count / rate + margin` before it, so every message is enqueued with that start as `not_before`.
Every k-th case (`--declare-every`) declares after the enqueue: the dispatcher, asking
`skip_declared` before each batch, must drop their reminders; the bench prints what that check
costs per batch (it reads every declaration of the window).

Run: .venv/bin/python -m bench.reminders [--count 10000] [--rate 25] [--declare-every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from pymongo import AsyncMongoClient

from bench.common import BENCH_AUDIT_KEY, Figures, database_and_emulators
from bot.app import SANDBOX_TELEGRAM_TOKEN
from bot.channels.telegram import TelegramChannel
from core.channel import Platform
from core.clock import SystemClock
from core.models import Answers, Declaration, OutboxEntry, OutgoingMessage
from core.ports import Declarations
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from scheduler.dispatch import Dispatcher, Obsolete
from scheduler.reminders import skip_declared
from storage.database import Storage
from storage.documents import Document

PLATFORM_LIMIT = 30  # messages/s the emulator allows before answering 429
LEAD = timedelta(seconds=60)  # target = start of run + sending time + LEAD
MARGIN = timedelta(seconds=30)  # the fan-out starts this long before it strictly must
FIRST_CHAT = 800_000_000
PROGRESS_EVERY = 10.0
STALL_LIMIT = 120.0  # give up when nothing was delivered for this long
DAY, SLOT = date(2026, 11, 27), "12:00"
DECLARE_CONCURRENCY = 50


def reminders(count: int, start: datetime) -> list[OutgoingMessage]:
    """One reminder per case, each to its own chat, none before `start`."""
    return [
        OutgoingMessage(
            key=f"remind:case{n}:{DAY}:{SLOT}:due",
            platform=Platform.TELEGRAM,
            chat_id=str(FIRST_CHAT + n),
            text=f"Nhắc khai báo y tế trước {SLOT} (hồ sơ {n})",
            not_before=start,
            skip_if_declared=f"case{n}/{DAY}/{SLOT}",
        )
        for n in range(count)
    ]


async def declare(declarations: Declarations, cases: Sequence[int], at: datetime) -> None:
    """These cases declare for the window, a few at a time."""
    for first in range(0, len(cases), DECLARE_CONCURRENCY):
        chunk = cases[first : first + DECLARE_CONCURRENCY]
        await asyncio.gather(*(declarations.add(declaration(n, at)) for n in chunk))


def declaration(n: int, at: datetime) -> Declaration:
    """Case `n`'s declaration for the window."""
    return Declaration(
        id=f"d{n}",
        receipt=f"R{n}",
        case_id=f"case{n}",
        area="bench",
        local_date=DAY,
        slot=SLOT,
        timing="on_time",
        answers=Answers(),
        submitted_at=at,
    )


def timed_check(check: Obsolete, sink: list[float]) -> Obsolete:
    """`check`, recording how long each call takes."""

    async def obsolete(entries: Sequence[OutboxEntry]) -> set[str]:
        started = time.perf_counter()
        unwanted = await check(entries)
        sink.append(time.perf_counter() - started)
        return unwanted

    return obsolete


async def wait_for_delivery(control: SandboxClient, count: int) -> None:
    """Poll the emulator until `count` texts went through, printing progress."""
    delivered, last_change = 0, time.monotonic()
    while delivered < count:
        await asyncio.sleep(PROGRESS_EVERY)
        now_delivered = sum(call["ok"] for call in await control.calls("sendMessage"))
        if now_delivered != delivered:
            delivered, last_change = now_delivered, time.monotonic()
        print(f"  … {delivered}/{count} delivered", flush=True)
        if time.monotonic() - last_change > STALL_LIMIT:
            print("  no progress: giving up", flush=True)
            return


def busiest_second(times: list[float]) -> int:
    """The most deliveries in any one-second sliding window."""
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def report(
    calls: list[dict[str, Any]],
    messages: list[OutgoingMessage],
    declared: set[str],
    target: datetime,
    enqueue: float,
) -> None:
    """Print the fan-out's figures from the emulator's call log."""
    ok = [call for call in calls if call["ok"]]
    times = sorted(call["time"] for call in ok)
    per_chat = Counter(call["params"]["chat_id"] for call in ok)
    lost = sum(1 for m in messages if m.chat_id not in declared and per_chat[m.chat_id] == 0)
    duplicated = sum(n - 1 for n in per_chat.values())
    stray = len(set(per_chat) - {m.chat_id for m in messages})
    to_declared = sum(1 for chat_id in declared if per_chat[chat_id])
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    gaps = [later - earlier for earlier, later in pairwise(times)] or [0.0]
    print(f"enqueue                      {enqueue:>8.1f} s  for {len(messages)} messages")
    print(Figures("gap between deliveries", gaps, max(span, 1e-9)).line())
    print(f"first → last reminder        {span:>8.1f} s")
    print(f"busiest second               {busiest_second(times):>6} messages")
    if times:
        slack = (target - datetime.fromtimestamp(times[-1], UTC)).total_seconds()
        verdict = "before" if slack >= 0 else "AFTER"
        print(f"last reminder landed         {abs(slack):>8.1f} s {verdict} its target")
    print(f"429 answers                  {sum(call['error_code'] == 429 for call in calls):>6}")
    print(f"lost / duplicated / stray    {lost:>6} / {duplicated} / {stray}")
    print(f"sent to who declared         {to_declared:>6} of {len(declared)}")


async def fan_out(uri: str, sandbox: Sandbox, count: int, rate: float, every: int) -> None:
    """Enqueue `count` reminders with a computed start, let every `every`-th case declare,
    dispatch, report."""
    control = SandboxClient(sandbox.url, "telegram")
    await control.configure(rate_limit_per_s=PLATFORM_LIMIT)
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    clock = SystemClock()
    storage = Storage.over(client["bench"], clock, BENCH_AUDIT_KEY.encode())
    await storage.ensure_indexes()
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    sending = timedelta(seconds=count / rate)
    target = clock.now() + sending + LEAD
    start = target - sending - MARGIN
    messages = reminders(count, start)
    print(f"{count} reminders at {rate}/s (emulator limit {PLATFORM_LIMIT}/s)")
    print(f"fan-out starts {start:%H:%M:%S}, target {target:%H:%M:%S} UTC", flush=True)
    began = time.perf_counter()
    await storage.outbox.enqueue(messages)
    enqueue = time.perf_counter() - began
    declaring = range(0, count, every) if every else range(0)
    await declare(storage.declarations, declaring, clock.now())
    declared = {str(FIRST_CHAT + n) for n in declaring}
    print(f"{len(declared)} cases declared after the enqueue", flush=True)
    checks: list[float] = []
    dispatcher = Dispatcher(
        Platform.TELEGRAM,
        channel,
        storage.outbox,
        storage.leases,
        storage.photos,
        clock,
        rate,
        holder="bench",
        obsolete=timed_check(skip_declared(storage.declarations), checks),
    )
    running = asyncio.create_task(dispatcher.run())
    await wait_for_delivery(control, count - len(declared))
    await dispatcher.stop()
    await running
    report(await control.calls("sendMessage"), messages, declared, target, enqueue)
    if checks:
        print(Figures("declared check per batch", checks, sum(checks)).line())
    await channel.close()
    await control.aclose()
    await client.close()


async def main() -> None:
    """Parse arguments and run the bench once."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--declare-every", type=int, default=2, help="0: nobody declares")
    args = parser.parse_args()
    async with database_and_emulators() as (uri, sandbox):
        await fan_out(uri, sandbox, args.count, args.rate, args.declare_every)


if __name__ == "__main__":
    asyncio.run(main())
