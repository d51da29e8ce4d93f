"""Declaration windows: deadlines in local time, each window opening some time before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from core.models import Case


@dataclass(frozen=True)
class Window:
    """One declaration window: its local date, slot name ("08:00") and UTC bounds."""

    local_date: date
    slot: str
    opens_at: datetime
    deadline: datetime


class Timing(StrEnum):
    """Where a declaration falls: in an open window, after a missed one, or outside both."""

    ON_TIME = "on_time"
    LATE = "late"
    ADHOC = "adhoc"


@dataclass(frozen=True)
class Placement:
    """The window a declaration counts for (None for an ad-hoc one) and how timely it is."""

    timing: Timing
    window: Window | None


def parse_deadlines(text: str) -> tuple[time, ...]:
    """ "08:00,13:00,19:00" → sorted times; raises ValueError on a bad or repeated entry."""
    deadlines = sorted(time.fromisoformat(part.strip()) for part in text.split(",") if part.strip())
    if not deadlines or len(set(deadlines)) != len(deadlines):
        raise ValueError("give distinct HH:MM deadlines separated by commas")
    return tuple(deadlines)


@dataclass(frozen=True)
class Schedule:
    """Daily deadlines in `tz`; a window opens `opens_before` each deadline."""

    deadlines: tuple[time, ...]
    opens_before: timedelta
    tz: ZoneInfo

    def local_date(self, moment: datetime) -> date:
        """The local calendar date of a moment."""
        return moment.astimezone(self.tz).date()

    def windows_on(self, day: date) -> list[Window]:
        """The day's windows in order."""
        windows = []
        for deadline in self.deadlines:
            end = datetime.combine(day, deadline, self.tz).astimezone(UTC)
            windows.append(Window(day, deadline.strftime("%H:%M"), end - self.opens_before, end))
        return windows

    def window(self, day: date, slot: str) -> Window | None:
        """The window of a slot on a day, if that slot exists."""
        return next((w for w in self.windows_on(day) if w.slot == slot), None)

    def around(self, moment: datetime) -> list[Window]:
        """Yesterday's, today's and tomorrow's windows (local), in order."""
        today = self.local_date(moment)
        return [w for offset in (-1, 0, 1) for w in self.windows_on(today + timedelta(offset))]

    def open_window(self, moment: datetime) -> Window | None:
        """The window open at `moment` (opening time inclusive, deadline exclusive)."""
        return next((w for w in self.around(moment) if w.opens_at <= moment < w.deadline), None)

    def last_closed(self, moment: datetime) -> Window | None:
        """The most recent window whose deadline has passed."""
        closed = [w for w in self.around(moment) if w.deadline <= moment]
        return closed[-1] if closed else None

    def place(
        self, moment: datetime, declared: set[tuple[date, str]], since: datetime
    ) -> Placement:
        """Where a declaration made at `moment` belongs.

        In an open window it is on time (None window when that slot is already declared
        means a duplicate: the caller refuses it). After a deadline it is a late declaration
        for the missed window, if that window closed after `since` (the case's start) and
        was not declared; otherwise it is ad hoc.
        """
        current = self.open_window(moment)
        if current is not None:
            taken = (current.local_date, current.slot) in declared
            return Placement(Timing.ON_TIME, None if taken else current)
        missed = self.last_closed(moment)
        if missed and missed.deadline > since and (missed.local_date, missed.slot) not in declared:
            return Placement(Timing.LATE, missed)
        return Placement(Timing.ADHOC, None)


def was_due(case: Case, window: Window) -> bool:
    """Whether a case had to declare for a window: in quarantine that day, enrolled by then."""
    return case.start <= window.local_date <= case.end and case.created_at < window.deadline
