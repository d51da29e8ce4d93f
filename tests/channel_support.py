"""Helpers for the channel adapter tests: an update collector, a loopback web server, images."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from aiohttp import web
from PIL import Image

from core.channel import Accept, Incoming, Received
from sandbox.client import SandboxClient


class Opener(Protocol):
    """The receiving side both adapters share."""

    async def start_polling(self, accept: Accept) -> None:
        """Store updates until stopped."""
        ...

    async def open(self, raw: Mapping[str, Any]) -> Incoming | None:
        """A stored update as an `Incoming`."""
        ...

    async def stop_receiving(self) -> None:
        """Stop polling."""
        ...


class Inbox:
    """An `Accept` that collects what the adapter stores and opens it as the inbox worker does."""

    def __init__(self, channel: Opener) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Received] = asyncio.Queue()

    async def __call__(self, received: Received) -> None:
        await self.queue.put(received)

    async def stored(self, timeout: float = 5.0) -> Received:
        """The next update the adapter handed over for storing."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def next(self, timeout: float = 5.0) -> Incoming:
        """The next stored update, opened."""
        incoming = await self.channel.open((await self.stored(timeout)).raw)
        assert incoming is not None
        return incoming

    async def nothing(self, wait: float = 0.5) -> None:
        """Assert nothing is stored within `wait` seconds."""
        await asyncio.sleep(wait)
        assert self.queue.empty(), self.queue.get_nowait()


async def polling_survives_a_failing_accept(
    client: SandboxClient, user: str, channel: Opener
) -> None:
    """An update that cannot be handed over does not stop the next one from arriving."""
    received = Inbox(channel)

    async def flaky(update: Received) -> None:
        if "boom" in str(update.raw):
            raise RuntimeError("storage bug")
        await received(update)

    receiving = asyncio.create_task(channel.start_polling(flaky))
    await client.send(user, text="boom")
    await client.send(user, text="still there?")
    assert (await received.next()).text == "still there?"
    await channel.stop_receiving()
    await asyncio.wait_for(receiving, 5)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def jpeg(width: int = 320, height: int = 240) -> bytes:
    """A real JPEG: a colour gradient."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def png(width: int = 64, height: int = 64) -> bytes:
    """A real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()
