"""Closing visits nobody scanned out of, at their kind's longest stay."""

from __future__ import annotations

from datetime import datetime

from core.models import VisitEnd
from core.ports import Visits


async def close_overdue(visits: Visits, now: datetime, batch: int = 500) -> int:
    """Close every open visit due before `now`, at its due time, marked as closed
    automatically; returns how many. Processes may run it at once: one close wins."""
    closed = 0
    while found := await visits.overdue(now, batch):
        for visit in found:
            closed += await visits.close(visit, visit.due_at, VisitEnd.TIMEOUT) is not None
        if len(found) < batch:
            break
    return closed
