"""Alerts from confirmation to delivery report: recipients queued into the outbox in batches,
one progress message in the sender's chat edited as the dispatchers send, and a report per
platform and area once every message has an outcome.

Queueing is idempotent: each recipient's message has a key of its own, so a process that dies
halfway is followed by one that queues the same alert again and adds only what is missing.
One process at a time does this (the lease `broadcasts`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.alerts import (
    AlertRules,
    areas_label,
    citizen_text,
    duration,
    priority,
    seconds_to_send,
    signature,
)
from core.areas import AreaCatalog
from core.channel import Platform
from core.models import Alert, AlertState, OutboxEntry, OutgoingMessage, Priority, Subscriber, Tally
from core.ports import Alerts, Clock, Leases, Outbox, Subscribers
from core.texts import t
from scheduler.dispatch import Obsolete

log = logging.getLogger(__name__)

LEASE = "broadcasts"
LEASE_TTL = timedelta(minutes=5)  # longer than queueing the largest district's alert
BROADCAST_EVERY = timedelta(seconds=2)
# Telegram edits the progress message in place; Zalo cannot edit, so it gets fewer of them.
PROGRESS_EVERY = {Platform.TELEGRAM: timedelta(seconds=5), Platform.ZALO: timedelta(minutes=1)}


def recipient_key(alert_id: str, subscriber: Subscriber) -> str:
    """The outbox key of an alert's message to one subscriber."""
    return f"alert:{alert_id}:{subscriber.platform.value}:{subscriber.user_id}"


def _progress_key(alert: Alert, n: int) -> str:
    return f"alert:{alert.id}:progress:{n}"


@dataclass
class Broadcaster:
    """Queues confirmed alerts and reports how their sending goes."""

    alerts: Alerts
    subscribers: Subscribers
    outbox: Outbox
    leases: Leases
    clock: Clock
    areas: AreaCatalog
    rules: AlertRules
    tz: ZoneInfo
    holder: str
    wake: Callable[[], None] = lambda: None
    _last_progress: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    async def run(self) -> None:
        """One pass: queue what was confirmed, then progress and reports (one process)."""
        if not await self.leases.acquire(LEASE, self.holder, LEASE_TTL):
            return
        try:
            for alert in await self.alerts.in_states([AlertState.APPROVED]):
                await self.queue(alert)
            for alert in await self.alerts.unfinished():
                await self.follow(alert)
        finally:
            await self.leases.release(LEASE, self.holder)

    # ---- queueing ------------------------------------------------------------------------

    async def queue(self, alert: Alert) -> None:
        """Put a confirmed alert's messages in the outbox; the alert it follows stops."""
        if alert.follows:
            # An update or a cancellation supersedes: what the earlier alert has not sent yet
            # is dropped by the dispatchers.
            done = [AlertState.APPROVED, AlertState.SENDING, AlertState.DONE]
            await self.alerts.move(alert.follows, done, AlertState.SUPERSEDED)
            if alert.msg_type == "Cancel" and not await self._settled(alert.follows):
                return  # its messages in flight decide who is told: queued on a later pass
        queueing = t(alert.origin_language, "alert.progress_queueing", number=alert.number)
        await self._progress(alert, queueing, 0)
        counts: Counter[str] = Counter()
        async for batch in self.subscribers.in_areas(alert.areas):
            messages = await self._messages(alert, batch)
            counts.update(message.platform.value for message in messages)
            await self.outbox.enqueue(messages)
            self.wake()
        recipients = {platform.value: counts[platform.value] for platform in Platform}
        await self._advance(alert, AlertState.APPROVED, AlertState.SENDING, recipients=recipients)
        alert.recipients = recipients
        log.info("alert queued", extra={"alert": alert.id, **recipients})

    async def _settled(self, alert_id: str) -> bool:
        """Whether every message of an alert has its outcome."""
        followed = await self.alerts.get(alert_id)
        if followed is None:
            return True
        tallies = await self.outbox.tallies(alert_id)
        return sum(tally.settled for tally in tallies) >= sum(followed.recipients.values())

    async def _messages(self, alert: Alert, batch: list[Subscriber]) -> list[OutgoingMessage]:
        """The batch's messages: muted subscribers get only severe alerts; a cancellation
        goes only to those the cancelled alert reached."""
        wanted = [s for s in batch if alert.severe or not s.muted or alert.msg_type == "Cancel"]
        if alert.msg_type == "Cancel":
            reached = await self.outbox.sent_among(
                [recipient_key(alert.follows, s) for s in wanted]
            )
            wanted = [s for s in wanted if recipient_key(alert.follows, s) in reached]
        sign = signature(self.rules, self.areas)
        texts = {
            lang: citizen_text(alert, lang, sign, self.tz) for lang in {s.language for s in wanted}
        }
        return [
            OutgoingMessage(
                key=recipient_key(alert.id, subscriber),
                platform=subscriber.platform,
                chat_id=subscriber.chat_id,
                text=texts[subscriber.language],
                priority=priority(alert),
                alert=alert.id,
                tally=f"{alert.id}/{_area_of(alert, subscriber)}",
            )
            for subscriber in wanted
        ]

    # ---- progress and the report ------------------------------------------------------------

    async def follow(self, alert: Alert) -> None:
        """Edit the progress message (at most every few seconds), or send the final report."""
        tallies = await self.outbox.tallies(alert.id)
        total = sum(alert.recipients.values())
        settled = sum(tally.settled for tally in tallies)
        if settled >= total:
            await self._report(alert, tallies, total)
            return
        origin, now = alert.origin, self.clock.now()
        last, said = self._last_progress.get(alert.id, (None, ""))
        if origin is None or (last is not None and now < last + PROGRESS_EVERY[origin.platform]):
            return
        sent = sum(tally.sent for tally in tallies)
        remaining = total - settled
        by_platform = Counter({Platform(p): n for p, n in alert.recipients.items()})
        for tally in tallies:
            by_platform[tally.platform] -= tally.settled
        eta = seconds_to_send(by_platform, self.rules.rates)
        lang = alert.origin_language
        text = t(
            lang,
            "alert.progress",
            number=alert.number,
            sent=sent,
            failed=settled - sent,
            remaining=remaining,
            eta=duration(lang, eta),
        )
        if text != said:  # Telegram refuses an edit that changes nothing
            self._last_progress[alert.id] = (now, text)
            await self._progress(alert, text, int(now.timestamp()))

    async def _report(self, alert: Alert, tallies: list[Tally], total: int) -> None:
        lang = alert.origin_language
        if alert.origin is not None:
            lines = [
                t(
                    lang,
                    "alert.report_line",
                    area=areas_label([tally.area], self.areas),
                    platform=tally.platform.name.capitalize(),
                    sent=tally.sent,
                    unreachable=tally.blocked,
                    failed=tally.failed,
                    skipped=tally.skipped,
                )
                for tally in sorted(tallies, key=lambda tally: (tally.area, tally.platform.value))
            ]
            sent = sum(tally.sent for tally in tallies)
            body = "\n".join(lines) or t(lang, "alert.report_empty")
            text = t(lang, "alert.report", number=alert.number, sent=sent, total=total, lines=body)
            await self._tell_origin(alert, f"alert:{alert.id}:report", text)
        await self._advance(
            alert, AlertState.SENDING, AlertState.DONE, finished_at=self.clock.now()
        )
        self._last_progress.pop(alert.id, None)

    async def _advance(
        self, alert: Alert, expected: AlertState, to: AlertState, **fields: object
    ) -> None:
        """Move the alert on, or, when it was superseded meanwhile, keep it so with `fields`."""
        if not await self.alerts.move(alert.id, [expected], to, **fields):
            await self.alerts.move(
                alert.id, [AlertState.SUPERSEDED], AlertState.SUPERSEDED, **fields
            )

    async def _progress(self, alert: Alert, text: str, n: int) -> None:
        replaces = _progress_key(alert, 0) if n else ""
        await self._tell_origin(alert, _progress_key(alert, n), text, replaces)

    async def _tell_origin(self, alert: Alert, key: str, text: str, replaces: str = "") -> None:
        origin = alert.origin
        if origin is None:
            return
        message = OutgoingMessage(
            key=key,
            platform=origin.platform,
            chat_id=origin.chat_id,
            text=text,
            priority=Priority.EMERGENCY,  # the sender watches it: not behind the broadcast
            replaces=replaces,
        )
        await self.outbox.enqueue([message])
        self.wake()


def _area_of(alert: Alert, subscriber: Subscriber) -> str:
    """The alert's first area the subscriber follows (its report counts them there)."""
    return next(area for area in alert.areas if area in subscriber.areas)


def skip_superseded(alerts: Alerts) -> Obsolete:
    """The dispatcher's `obsolete` check: messages of alerts updated or cancelled since."""

    async def obsolete(entries: Sequence[OutboxEntry]) -> set[str]:
        ids = {entry.alert for entry in entries if entry.alert}
        if not ids:
            return set()
        stopped = await alerts.superseded_among(ids)
        return {entry.key for entry in entries if entry.alert in stopped}

    return obsolete


def any_of(*checks: Obsolete) -> Obsolete:
    """An `obsolete` check that drops what any of `checks` drops."""

    async def obsolete(entries: Sequence[OutboxEntry]) -> set[str]:
        unwanted: set[str] = set()
        for check in checks:
            unwanted |= await check(entries)
        return unwanted

    return obsolete
