"""Helpers for the channel adapter tests: an update collector, a loopback web server, images."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web
from PIL import Image

from core.channel import Incoming, OnUpdate
from sandbox.client import SandboxClient


class Inbox:
    """An `OnUpdate` that collects what the adapter delivers."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Incoming] = asyncio.Queue()

    async def __call__(self, incoming: Incoming) -> None:
        await self.queue.put(incoming)

    async def next(self, timeout: float = 5.0) -> Incoming:
        """The next delivered update."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def nothing(self, wait: float = 0.5) -> None:
        """Assert nothing is delivered within `wait` seconds."""
        await asyncio.sleep(wait)
        assert self.queue.empty(), self.queue.get_nowait()


class Receiver(Protocol):
    """The receiving side both adapters share."""

    async def start_polling(self, on_update: OnUpdate) -> None:
        """Receive until stopped."""
        ...

    async def stop(self) -> None:
        """Stop receiving."""
        ...


async def polling_survives_a_failing_handler(
    client: SandboxClient, user: str, channel: Receiver
) -> None:
    """A handler that raises on one update does not stop the next one from arriving."""
    received = Inbox()

    async def flaky(incoming: Incoming) -> None:
        if incoming.text == "boom":
            raise RuntimeError("handler bug")
        await received(incoming)

    receiving = asyncio.create_task(channel.start_polling(flaky))
    await client.send(user, text="boom")
    await client.send(user, text="still there?")
    assert (await received.next()).text == "still there?"
    await channel.stop()
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
