"""Escalating field reports nobody in their commune took up in time."""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Services
from handlers.report_notices import escalate


async def escalate_waiting(services: Services, after: timedelta) -> int:
    """Tell the district admins, once, of each report no staff acted on within `after`.

    The notices are enqueued before the report is marked: a crash in between sends them at
    the next run, and their keys make that, or a second process, add nothing twice.
    """
    now = services.clock.now()
    escalated = 0
    for report in await services.reports.overdue(now - after):
        await escalate(services, report, after)
        escalated += await services.reports.escalated(report.id, now)
    return escalated
