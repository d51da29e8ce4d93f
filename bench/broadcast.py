"""A broadcast through the outbox and the Telegram dispatcher against the emulator over HTTP.

(a) `--count` messages to as many chats, the emulator refusing more than `--limit` a second
    (a sliding one-second window, answering 429 with retry_after): rate achieved ÷ limit, 429s.
(b) the same without a limit and a dispatcher allowed far more: its ceiling, and where its
    time goes (outbox reads and writes, HTTP sends).
(c) a naive aiogram loop (send_message, sleep 0.05 s, sleep retry_after on a 429) against the
    limited emulator, as the aiogram 2 broadcast example does.
(d) the real bot process killed with SIGKILL half-way through a broadcast and started again:
    delivered, lost and duplicated (sends per chat in the emulator) against the in-flight
    window (two batches: one being stored, one being sent).

Run: .venv/bin/python -m bench.broadcast [--count 10000] [--naive 1000] [--crash-count 3000]
     [--limit 30] [--parts abcd]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from pymongo import AsyncMongoClient

from bench.common import BENCH_AUDIT_KEY
from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from core.channel import Platform
from core.clock import SystemClock
from core.models import OutgoingMessage, Priority
from sandbox.emulator import BotEmulator
from sandbox.server import Sandbox
from scheduler.dispatch import Dispatcher, batch_for
from storage.database import Storage
from storage.documents import Document
from storage.embedded import EmbeddedMongo
from tests.crash import bot_environment, kill, start_bot, stop

DEFAULT_RATE = float(Settings.model_fields["telegram_rate_limit"].default)
CEILING_RATE = 5000.0  # (b): a configured rate the dispatcher never reaches
FIRST_CHAT = 900_000_000
NAIVE_PAUSE = 0.05
POLL = 0.25
STALL_LIMIT = 90.0  # give up when nothing was delivered for this long
QUIET_AFTER = 3.0  # (d): once all chats got their message, wait this long for repeats
OUTBOX_CALLS = ("bounds", "window", "claim", "settle", "advance")


@dataclass
class Row:
    """One line of the table."""

    part: str
    limit: float | None
    count: int
    per_chat: Counter[str]
    throttled: int
    sends: int
    duration: float
    note: str = ""

    @property
    def delivered(self) -> int:
        """Chats that got their message."""
        return len(self.per_chat)

    @property
    def duplicated(self) -> int:
        """Messages a chat got more than once."""
        return sum(n - 1 for n in self.per_chat.values())

    @property
    def rate(self) -> float:
        """Messages delivered per second."""
        return sum(self.per_chat.values()) / self.duration if self.duration else 0.0

    def line(self) -> str:
        """The row as printed."""
        limit = f"{self.limit:g}/s" if self.limit else "none"
        share = f"{self.rate / self.limit:.3f}" if self.limit else "—"
        refused = f"{self.throttled} ({self.throttled / max(1, self.sends):.2%})"
        return (
            f"{self.part:<26} {limit:>6} {self.count:>6} {self.delivered:>6} "
            f"{self.count - self.delivered:>5} {self.duplicated:>5} {refused:>13} "
            f"{self.duration:>8.1f} {self.rate:>8.1f} {share:>6}  {self.note}"
        )


HEADER = (
    f"{'part':<26} {'limit':>6} {'msgs':>6} {'deliv':>6} {'lost':>5} {'dup':>5} "
    f"{'429s (% sends)':>13} {'dur s':>8} {'msg/s':>8} {'÷limit':>6}  notes"
)


def messages(count: int) -> list[OutgoingMessage]:
    """One message per chat, in the normal lane."""
    return [
        OutgoingMessage(
            key=f"broadcast:{n}",
            platform=Platform.TELEGRAM,
            chat_id=str(FIRST_CHAT + n),
            text=f"Thông báo của trạm y tế phường (tin {n})",
            priority=Priority.NORMAL,
        )
        for n in range(count)
    ]


def deliveries(emulator: BotEmulator) -> list[dict[str, Any]]:
    """The texts the emulator accepted."""
    return [call for call in emulator.calls if call["method"] == "sendMessage" and call["ok"]]


def sends(emulator: BotEmulator) -> int:
    """Every sendMessage call, accepted or refused."""
    return sum(call["method"] == "sendMessage" for call in emulator.calls)


def per_chat(emulator: BotEmulator) -> Counter[str]:
    """Accepted texts per chat."""
    return Counter(str(call["params"]["chat_id"]) for call in deliveries(emulator))


class Progress:
    """The chats served so far, counted from the emulator's call log as it grows (a full scan
    every poll would block the loop the emulator and the dispatcher share)."""

    def __init__(self, emulator: BotEmulator) -> None:
        self._calls = emulator.calls
        self._read = 0
        self._chats: set[str] = set()

    def chats(self) -> int:
        """How many chats got a text."""
        for call in self._calls[self._read :]:
            if call["method"] == "sendMessage" and call["ok"]:
                self._chats.add(str(call["params"]["chat_id"]))
        self._read = len(self._calls)
        return len(self._chats)


async def until_delivered(
    emulator: BotEmulator, count: int, sample: Callable[[], None] = lambda: None
) -> bool:
    """Wait until `count` chats got their message; False when progress stalled."""
    progress = Progress(emulator)
    seen, changed = 0, time.monotonic()
    while seen < count:
        await asyncio.sleep(POLL)
        sample()
        now_seen = progress.chats()
        if now_seen != seen:
            seen, changed = now_seen, time.monotonic()
        elif time.monotonic() - changed > STALL_LIMIT:
            print(f"  stalled at {seen}/{count}", flush=True)
            return False
    return True


def stalls(emulator: BotEmulator, rate: float) -> float:
    """Seconds the platform waited between deliveries beyond twice the pace of `rate`."""
    times: list[float] = sorted(call["time"] for call in deliveries(emulator))
    return sum(max(0.0, b - a - 2 / rate) for a, b in itertools.pairwise(times))


def span(emulator: BotEmulator, started: float) -> float:
    """Seconds from `started` (time.time()) to the last accepted text."""
    times = [call["time"] for call in deliveries(emulator)]
    return max(times, default=started) - started


@asynccontextmanager
async def emulators(limit: float | None) -> AsyncIterator[Sandbox]:
    """Fresh emulators, the Telegram one limited to `limit` messages a second."""
    sandbox = Sandbox(
        SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, poll_timeout_cap=1.0, telegram_rate_limit=limit
    )
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@asynccontextmanager
async def scratch_storage(uri: str, name: str) -> AsyncIterator[Storage]:
    """Repositories over a fresh database, dropped afterwards."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    storage = Storage.over(client[name], SystemClock(), BENCH_AUDIT_KEY.encode())
    await storage.ensure_indexes()
    try:
        yield storage
    finally:
        await client.drop_database(name)
        await client.close()


@dataclass
class Timings:
    """Seconds spent in named awaitables, per call."""

    spent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def wrap(self, target: object, names: Sequence[str]) -> None:
        """Time every call of these coroutine methods of `target`."""
        for name in names:
            setattr(target, name, self._timed(name, getattr(target, name)))

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.spent[name].append(time.perf_counter() - started)

        return timed

    def lines(self, wall: float) -> list[str]:
        """Where the time went, one line per name."""
        return [
            f"    {name:<10} {len(took):>6} calls  {sum(took):>7.2f} s total "
            f"({sum(took) / wall:>6.1%} of the run)  {sum(took) / len(took) * 1000:>7.1f} ms each"
            for name, took in self.spent.items()
        ]


async def dispatched(
    uri: str, part: str, limit: float | None, rate: float, count: int, timings: Timings | None
) -> Row:
    """Enqueue `count` messages and let an in-process dispatcher send them all."""
    async with emulators(limit) as sandbox, scratch_storage(uri, uuid.uuid4().hex) as storage:
        began = time.perf_counter()
        await storage.outbox.enqueue(messages(count))
        enqueue = time.perf_counter() - began
        channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
        if timings is not None:
            timings.wrap(storage.outbox, OUTBOX_CALLS)
            timings.wrap(channel, ["send_text"])
        clock = SystemClock()
        outbox, leases, photos = storage.outbox, storage.leases, storage.photos
        dispatcher = Dispatcher(
            Platform.TELEGRAM, channel, outbox, leases, photos, clock, rate, holder="bench"
        )
        rates: list[float] = []
        started, cpu = time.time(), time.process_time()
        running = asyncio.create_task(dispatcher.run())
        await until_delivered(sandbox.telegram, count, lambda: rates.append(dispatcher.rate))
        await dispatcher.stop()
        await running
        cpu = time.process_time() - cpu
        await channel.close()
        duration = span(sandbox.telegram, started)
        note = f"enqueue {enqueue:.1f} s, batch {batch_for(rate)}, bench CPU {cpu:.0f} s"
        if limit:
            note += f", stalls {stalls(sandbox.telegram, limit):.1f} s"
            note += f"; rate min {min(rates, default=rate):.1f}/s, end {dispatcher.rate:.1f}/s"
        row = Row(
            part,
            limit,
            count,
            per_chat(sandbox.telegram),
            sandbox.telegram.throttled,
            sends(sandbox.telegram),
            duration,
            note,
        )
        if timings is not None:
            print(f"  {part}: where the time goes, {duration:.1f} s of sending:")
            print("\n".join(timings.lines(duration)), flush=True)
        return row


async def naive(limit: float, count: int) -> Row:
    """The aiogram 2 broadcast example on aiogram 3: send, sleep 0.05 s, obey retry_after."""
    async with emulators(limit) as sandbox:
        session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.telegram_api_base))
        bot = Bot(SANDBOX_TELEGRAM_TOKEN, session=session)
        started = time.time()
        for message in messages(count):
            while True:
                try:
                    await bot.send_message(int(message.chat_id), message.text)
                    break
                except TelegramRetryAfter as flood:
                    await asyncio.sleep(flood.retry_after)
            await asyncio.sleep(NAIVE_PAUSE)
        await session.close()
        emulator = sandbox.telegram
        duration = span(emulator, started)
        return Row(
            "(c) naive aiogram loop",
            limit,
            count,
            per_chat(emulator),
            emulator.throttled,
            sends(emulator),
            duration,
            f"sleep {NAIVE_PAUSE} s between sends",
        )


async def crashed(uri: str, limit: float, count: int) -> Row:
    """The bot process sends a broadcast, is killed at half of it, restarts and finishes."""
    name = f"crash{uuid.uuid4().hex[:8]}"
    batch = batch_for(DEFAULT_RATE)
    kill_at = count // 2 + batch // 2  # half-way, in the middle of a batch
    async with emulators(limit) as sandbox, scratch_storage(uri, name) as storage:
        await storage.outbox.enqueue(messages(count))
        emulator = sandbox.telegram
        with TemporaryDirectory() as directory:
            workdir = Path(directory)
            env = bot_environment(uri, name, sandbox, workdir)
            env["LOG_LEVEL"] = "ERROR"
            log = workdir / "bot.log"
            started = time.time()
            first = await start_bot(env, log)
            progress = Progress(emulator)
            while progress.chats() < kill_at:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.02)
            kill(first)
            await first.wait()
            at_kill = len(deliveries(emulator))
            restarted = time.monotonic()
            second = await start_bot(env, log)
            try:
                await until_delivered(emulator, count)
                recovery = time.monotonic() - restarted
                await asyncio.sleep(QUIET_AFTER)
            finally:
                await stop(second)
        duration = span(emulator, started)
        note = (
            f"killed after {at_kill}, done {recovery:.0f} s after restart; "
            f"batch {batch}, in-flight window 2 batches"
        )
        counts, throttled = per_chat(emulator), emulator.throttled
        return Row(
            "(d) kill -9 at 50 %", limit, count, counts, throttled, sends(emulator), duration, note
        )


async def main(arguments: argparse.Namespace) -> None:
    """Run the chosen parts on one embedded database and print the table."""
    limit, rows = arguments.limit, []
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db")
        uri = await mongo.start()
        try:
            if "a" in arguments.parts:
                print(f"(a) {arguments.count} messages, emulator limit {limit}/s", flush=True)
                part = "(a) dispatcher at limit"
                timings = Timings()
                rows.append(
                    await dispatched(uri, part, limit, arguments.rate, arguments.count, timings)
                )
                print(rows[-1].line(), flush=True)
            if "b" in arguments.parts:
                print(f"(b) {arguments.count} messages, no limit", flush=True)
                part = "(b) dispatcher, no limit"
                timings = Timings()
                rows.append(
                    await dispatched(uri, part, None, CEILING_RATE, arguments.count, timings)
                )
                print(rows[-1].line(), flush=True)
            if "c" in arguments.parts:
                print(f"(c) naive loop over {arguments.naive} chats", flush=True)
                rows.append(await naive(limit, arguments.naive))
                print(rows[-1].line(), flush=True)
            if "d" in arguments.parts:
                print(f"(d) bot process, {arguments.crash_count} messages, kill -9", flush=True)
                rows.append(await crashed(uri, limit, arguments.crash_count))
                print(rows[-1].line(), flush=True)
        finally:
            await mongo.stop()
    print()
    print(HEADER)
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="messages in (a) and (b)")
    parser.add_argument("--naive", type=int, default=1_000, help="chats in (c)")
    parser.add_argument("--crash-count", type=int, default=3_000, help="messages in (d)")
    parser.add_argument("--limit", type=float, default=30.0, help="the emulator's msg/s")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="the dispatcher's (a)")
    parser.add_argument("--parts", default="abcd")
    asyncio.run(main(parser.parse_args()))
