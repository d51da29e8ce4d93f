"""Time sources: the real clock, and a settable one for tests that simulate whole days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (tests and simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The set time."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment`."""
        self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`."""
        self._now += delta


class OffsetClock:
    """The machine's clock moved by a settable offset (the sandbox's time travel)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """Real UTC time plus the offset."""
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        """Move so that it is `moment` now."""
        self.offset = moment.astimezone(UTC) - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta` (backward when negative)."""
        self.offset += delta

    def reset(self) -> None:
        """Follow real time again."""
        self.offset = timedelta(0)
