"""The sandbox clock: the bot follows it, and the page moves it to try any hour of any day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from core.clock import OffsetClock
from sandbox.common import ControlError, Fields

log = logging.getLogger(__name__)

Listener = Callable[[], Coroutine[Any, Any, None]]
MOVES = ("to", "advance_seconds", "reset")


class TimeTravel:
    """An offset clock that the control API moves, telling listeners after each move."""

    def __init__(self, zone: tzinfo) -> None:
        self.clock = OffsetClock()
        self.zone = zone
        self._listeners: list[Listener] = []
        self._running: set[asyncio.Task[None]] = set()

    def on_move(self, listener: Listener) -> None:
        """Run `listener` after every move (e.g. the bot's tick, so due work happens now)."""
        self._listeners.append(listener)

    def view(self) -> dict[str, Any]:
        """The JSON shape of GET /control/clock."""
        now = self.clock.now()
        return {
            "now": now.isoformat(),
            "local": now.astimezone(self.zone).isoformat(),
            "zone": str(self.zone),
            "offset_seconds": self.clock.offset.total_seconds(),
        }

    def move(self, body: Fields) -> None:
        """Apply one of {"to": "HH:MM"} (today, local), {"advance_seconds": n}, {"reset": true}."""
        given = [key for key in MOVES if body.present(key)]
        if len(given) != 1:
            raise ControlError(f"give exactly one of {', '.join(MOVES)}")
        if given[0] == "to":
            self.clock.set(self._today_at(body.require("to")))
        elif given[0] == "advance_seconds":
            self.clock.advance(timedelta(seconds=body.number("advance_seconds") or 0.0))
        elif body.flag("reset"):
            self.clock.reset()
        for listener in self._listeners:
            self._run(listener)

    def _today_at(self, text: str) -> datetime:
        try:
            wall = time.fromisoformat(text)
        except ValueError:
            raise ControlError("to must be a local time such as 07:45") from None
        today = self.clock.now().astimezone(self.zone).date()
        return datetime.combine(today, wall.replace(tzinfo=None), self.zone)

    def _run(self, listener: Listener) -> None:
        task = asyncio.create_task(listener())
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a clock listener failed", exc_info=task.exception())

    async def close(self) -> None:
        """Wait for the listeners still running."""
        await asyncio.gather(*self._running, return_exceptions=True)
