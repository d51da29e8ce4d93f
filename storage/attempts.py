"""Counts of attempts per key in fixed time windows: failed codes, refused commands."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.ports import Clock
from storage.counters import increment
from storage.documents import Database


class AttemptsRepo:
    """The `attempts` collection: one counter per (key, window); a TTL index drops old ones."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._attempts = db["attempts"]
        self._clock = clock

    async def hit(self, key: str, window: timedelta) -> int:
        """Count one attempt in the current window; returns the window's count so far."""
        now = self._clock.now()
        expires = {"expires_at": now + 2 * window}
        return await increment(self._attempts, _bucket(key, window, now), on_insert=expires)

    async def count(self, key: str, window: timedelta, windows_ago: int = 0) -> int:
        """The attempts counted in the current window (or one `windows_ago` before it)."""
        moment = self._clock.now() - windows_ago * window
        counter = await self._attempts.find_one({"_id": _bucket(key, window, moment)})
        return int(counter["seq"]) if counter else 0


def _bucket(key: str, window: timedelta, moment: datetime) -> str:
    seconds = int(window.total_seconds())
    return f"{key}|{seconds}|{int(moment.timestamp()) // seconds}"
