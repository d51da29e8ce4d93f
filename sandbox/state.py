"""The sandbox's state across restarts: one JSON file, rewritten atomically soon after changes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

STATE_FILE = "sandbox.json"
VERSION = 1
# Changes in a burst (a message and the bot's replies) are written once.
SAVE_DELAY = 0.3
# Bot API calls that change nothing worth keeping; the bot makes them all the time.
QUIET_METHODS = frozenset({"getUpdates", "getMe", "getFile", "sendChatAction"})

Snapshot = Callable[[], dict[str, Any]]


class StateFile:
    """Where a sandbox keeps its state: loaded at start, saved a moment after each change."""

    def __init__(self, directory: Path, snapshot: Snapshot) -> None:
        self.path = directory / STATE_FILE
        self._snapshot = snapshot
        self._dirty = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none (or it is unreadable or outdated)."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("starting the sandbox afresh: cannot read %s: %s", self.path, error)
            return None
        if not isinstance(saved, dict) or saved.get("version") != VERSION:
            log.warning("starting the sandbox afresh: %s is from another version", self.path)
            return None
        return saved

    def changed(self) -> None:
        """Something worth keeping changed: save soon."""
        self._dirty.set()

    def start(self) -> None:
        """Begin saving changes in the background."""
        self._writer = asyncio.create_task(self._write_changes())

    async def stop(self) -> None:
        """Stop the background saving and write what is still unsaved."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        self.flush()

    async def _write_changes(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(SAVE_DELAY)
            self.flush()

    def flush(self) -> None:
        """Write the state now if it changed (a crash mid-write leaves the old file whole)."""
        if not self._dirty.is_set():
            return
        self._dirty.clear()
        text = json.dumps({"version": VERSION, **self._snapshot()}, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)


def note_changes(state: StateFile) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware marking the state changed after each request that may change it."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            if request.method == "POST" and request.match_info.get("method") not in QUIET_METHODS:
                state.changed()

    return middleware
