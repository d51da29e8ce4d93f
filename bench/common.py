"""Shared bench plumbing: an embedded database, the emulators, timing figures."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from sandbox.server import Sandbox
from storage.embedded import EmbeddedMongo


@dataclass
class Figures:
    """Latencies of one run and its wall time."""

    name: str
    latencies: list[float]
    wall: float

    @property
    def rate(self) -> float:
        """Completed operations per second."""
        return len(self.latencies) / self.wall

    def line(self) -> str:
        """One printable summary line."""
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{self.name:<28} {len(ordered):>6} ops  {self.rate:>8.1f}/s  "
            f"p50 {statistics.median(ordered) * 1000:>7.1f} ms  p99 {p99 * 1000:>7.1f} ms"
        )


async def timed(operation: Callable[[], Awaitable[object]], sink: list[float]) -> None:
    """Run `operation` and append its duration to `sink`."""
    started = time.perf_counter()
    await operation()
    sink.append(time.perf_counter() - started)


@asynccontextmanager
async def database_and_emulators() -> AsyncIterator[tuple[str, Sandbox]]:
    """An embedded database in a temporary directory and fresh emulators."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db")
        uri = await mongo.start()
        sandbox = Sandbox(SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, poll_timeout_cap=1.0)
        await sandbox.start()
        try:
            yield uri, sandbox
        finally:
            await sandbox.stop()
            await mongo.stop()
