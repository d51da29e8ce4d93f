"""CAP 1.2 alerts other authority systems POST to us (the province's alerting system, another
district): refused unless valid, mapped to an alert for the communes they name, then sent at
once for trusted senders or held for an officer's confirmation."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from enum import StrEnum

from core.alerts import TEXT_MAX, cap_alert, kind_of
from core.cap import CapAlert, CapInfo, CapRefused, communes_of, parse_cap, read_cap
from core.models import Alert, AlertState, AlertText
from core.texts import LANGUAGES
from handlers.alert_approval import ask_approval
from handlers.context import Services

log = logging.getLogger(__name__)

FOLLOW_UPS = frozenset({"Update", "Cancel"})
BROADCAST_TYPES = frozenset({"Alert"}) | FOLLOW_UPS  # Ack and Error are not for citizens
LIVE = (AlertState.PENDING, AlertState.APPROVED, AlertState.SENDING, AlertState.DONE)
HEADLINE_MAX = 200
REFERENCES_READ = 10  # the latest ones: a message may list thousands, each a lookup


class Outcome(StrEnum):
    """What became of a received CAP message."""

    ACCEPTED = "accepted"
    INVALID = "invalid"  # not XML, a DTD, too big, or refused by the schema
    NOT_FOR_CITIZENS = "not_for_citizens"  # a test, exercise, restricted or Ack message
    UNKNOWN_AREA = "unknown_area"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class CapReceipt:
    """The answer to a CAP POST: the outcome, the alert (new or already held), why not."""

    outcome: Outcome
    alert: Alert | None = None
    error: str = ""
    detail: str = ""


async def receive_cap(services: Services, data: bytes) -> CapReceipt:
    """Take one CAP message: validate it, map it to an alert, confirm or ask for confirmation."""
    # Parsing and validating even 256 kB takes about 3 ms (measured): no worker thread needed.
    try:
        root = parse_cap(data)
    except CapRefused as refused:
        return CapReceipt(Outcome.INVALID, error=refused.reason, detail=refused.detail[:300])
    message = read_cap(root)
    if why := _not_for_citizens(message):
        return CapReceipt(Outcome.NOT_FOR_CITIZENS, error="not_for_citizens", detail=why)
    followed = await _followed(services, message)
    held = await services.alerts.by_identifier(message.sender, message.identifier)
    if held is not None:
        await _follow_through(services, held, followed)  # a retry after a crash finishes
        return CapReceipt(Outcome.DUPLICATE, held, error="duplicate")
    areas = communes_of(root, services.areas) or (followed[-1].areas if followed else [])
    return await _store(services, message, areas, followed)


async def _store(
    services: Services, message: CapAlert, areas: list[str], followed: list[Alert]
) -> CapReceipt:
    """The new alert stored and followed through (refused when it names no place of ours)."""
    infos = _infos(services, message, followed)
    if not areas or not infos:
        detail = "no geocode or commune name of ours in any area"
        return CapReceipt(Outcome.UNKNOWN_AREA, error="unknown_area", detail=detail)
    number = await services.alerts.next_number()
    alert = _alert(services, message, areas, infos, number, followed[-1].id if followed else "")
    if not await services.alerts.add(alert):  # the same message arrived twice at once
        return CapReceipt(Outcome.DUPLICATE, error="duplicate")
    await _follow_through(services, alert, followed)
    return CapReceipt(Outcome.ACCEPTED, alert)


def _not_for_citizens(message: CapAlert) -> str:
    """Why a valid message must not reach citizens ("" when it may)."""
    if message.status != "Actual":
        return f"status {message.status}: only Actual alerts reach citizens"
    if message.scope != "Public":
        return f"scope {message.scope}: only Public alerts reach citizens"
    if message.msg_type not in BROADCAST_TYPES:
        return f"msgType {message.msg_type}: not an alert"
    return ""


async def _followed(services: Services, message: CapAlert) -> list[Alert]:
    """The alerts we hold that an Update or Cancel names in its references."""
    if message.msg_type not in FOLLOW_UPS:
        return []
    found: list[Alert] = []
    for reference in message.references[-REFERENCES_READ:]:
        sender, _, rest = reference.partition(",")
        identifier = rest.partition(",")[0]
        if (sender, identifier) == (message.sender, message.identifier):
            continue
        alert = await services.alerts.by_identifier(sender, identifier)
        if alert is not None:
            found.append(alert)
    return found


async def _follow_through(services: Services, alert: Alert, followed: list[Alert]) -> None:
    """What a stored alert sets off: the alerts it updates stop, officers are asked (each
    step idempotent: a retry after a crash has no second effect)."""
    for earlier in followed:
        await services.alerts.move(earlier.id, LIVE, AlertState.SUPERSEDED)
    if alert.state is AlertState.PENDING and not await ask_approval(services, alert):
        log.warning("no officer may confirm CAP alert %s", alert.id)


def alert_id(sender: str, identifier: str) -> str:
    """The id of a received CAP alert: the same for the same message, even after a crash."""
    digest = hashlib.sha256(f"{sender}\n{identifier}".encode()).hexdigest()
    return f"cap-{digest[:24]}"


def _alert(
    services: Services,
    message: CapAlert,
    areas: list[str],
    infos: list[CapInfo],
    number: int,
    follows: str,
) -> Alert:
    first, trusted = infos[0], message.sender in services.policy.alerts.auto_senders
    return Alert(
        id=alert_id(message.sender, message.identifier),
        number=number,
        identifier=message.identifier,
        sender=message.sender,
        sent=message.sent,
        status=message.status,
        msg_type=message.msg_type,
        scope=message.scope,
        references=list(message.references),
        kind=kind_of(first.severity, first.urgency),
        categories=list(first.categories),
        event=first.event,
        urgency=first.urgency,
        severity=first.severity,
        certainty=first.certainty,
        texts=[_text(info) for info in infos],
        web=first.web,
        contact=first.contact,
        areas=areas,
        state=AlertState.APPROVED if trusted else AlertState.PENDING,
        source="cap",
        created_by=message.sender,
        approved_by=message.sender if trusted else "",
        follows=follows,
        created_at=services.clock.now(),
    )


def _infos(services: Services, message: CapAlert, followed: list[Alert]) -> list[CapInfo]:
    """One info block per language, ours first; a bare Cancel takes the texts it cancels."""
    infos = message.infos
    if not infos and followed:
        infos = cap_alert(followed[-1], services.areas, services.timezone).infos
    by_language: dict[str, CapInfo] = {}
    for info in infos:
        by_language.setdefault(_language(info.language), info)
    known = [language for language in LANGUAGES if language in by_language]
    others = [language for language in by_language if language not in LANGUAGES]
    return [replace(by_language[language], language=language) for language in known + others]


def _language(tag: str) -> str:
    """A CAP language tag as our catalogs name it ("vi-VN" → "vi")."""
    return tag.partition("-")[0].lower()


def _text(info: CapInfo) -> AlertText:
    """An info block's texts, cut to what one message holds."""
    headline = _clip(info.headline or info.event, HEADLINE_MAX)
    room = TEXT_MAX - len(headline)
    instruction = _clip(info.instruction, room // 3)
    description = _clip(info.description, room - len(instruction))
    return AlertText(
        language=info.language,
        headline=headline,
        description=description,
        instruction=instruction,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
