"""What both platform adapters do the same way: background delivery and text/command parsing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import replace
from functools import partial

from core.channel import Incoming, Kind, parse_command

logger = logging.getLogger(__name__)


class BackgroundTasks:
    """Runs update handling off the receive path and keeps the tasks so `stop()` can drain them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[None]] = set()

    def spawn(self, work: Awaitable[None], label: str) -> None:
        """Run `work` in the background; a failure is logged with `label` and goes no further."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, label))

    def _finished(self, label: str, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The conversation layer has already apologised to the user; we only keep the loop.
            logger.error("update %s failed", label, exc_info=error)

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for running work, then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def text_incoming(base: Incoming, text: str) -> Incoming:
    """`base` as a TEXT update, or as a COMMAND one when `text` is a /command."""
    parsed = parse_command(text)
    if parsed is None:
        return replace(base, kind=Kind.TEXT, text=text)
    command, payload = parsed
    return replace(base, kind=Kind.COMMAND, text=text, command=command, payload=payload)
