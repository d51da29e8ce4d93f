"""Authority alerts: what a kind means in CAP, how citizens read an alert, its CAP document,
and how long a broadcast takes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from core.areas import AreaCatalog, in_sentence
from core.cap import CapAlert, CapArea, CapInfo, cap_time
from core.channel import Platform
from core.dates import format_moment
from core.models import Alert, AlertKind, Priority
from core.texts import t

TEXT_MAX = 1_500  # fits a Zalo message (2,000 characters) with the header and signature
GEOCODE = "commune"  # the CAP geocode name of our communes' codes


@dataclass(frozen=True)
class CapFields:
    """The CAP urgency, severity and certainty of an alert kind."""

    urgency: str
    severity: str
    certainty: str


KINDS: dict[AlertKind, CapFields] = {
    AlertKind.WARNING: CapFields("Expected", "Moderate", "Likely"),
    AlertKind.RECOMMENDATION: CapFields("Future", "Minor", "Possible"),
    AlertKind.EMERGENCY: CapFields("Immediate", "Severe", "Observed"),
}
TEMPLATES = ("outbreak", "testing", "curfew", "vaccination")  # texts: alert.template_<name>_*


@dataclass(frozen=True)
class AlertRules:
    """Who we are in CAP, who may send without a second look, and the platforms' rates."""

    sender: str = "khaibao@localhost"
    sender_name: str = ""  # signs alerts to citizens; the district's name when empty
    two_person: bool = False  # an emergency to the whole district needs a second officer
    auto_senders: frozenset[str] = frozenset()  # CAP senders whose alerts go out unconfirmed
    rates: Mapping[Platform, float] = field(default_factory=dict)  # messages per second


def kind_of(severity: str, urgency: str) -> AlertKind:
    """The kind closest to a received CAP alert's severity and urgency."""
    if severity in ("Extreme", "Severe") or urgency == "Immediate":
        return AlertKind.EMERGENCY
    return AlertKind.WARNING if severity == "Moderate" else AlertKind.RECOMMENDATION


def priority(alert: Alert) -> Priority:
    """Severe alerts go in the lane right after symptom pages; others after reminders."""
    return Priority.ALERT_URGENT if alert.severe else Priority.ALERT


def citizen_text(alert: Alert, language: str, signature: str, tz: ZoneInfo) -> str:
    """The alert as citizens read it in `language`: a header by kind (or update/cancel),
    the headline, the description, what to do, and who sent it when."""
    text = alert.text_in(language)
    header_key = {
        "Update": "alert.header_update",
        "Cancel": "alert.header_cancel",
    }.get(alert.msg_type, f"alert.header_{alert.kind.value}")
    parts = [t(language, header_key), text.headline]
    if text.description:
        parts.append(text.description)
    if text.instruction:
        parts.append(t(language, "alert.instruction", text=text.instruction))
    when = format_moment(alert.sent, tz)
    parts.append(t(language, "alert.signature", sender=signature, when=when))
    return "\n\n".join(parts)


def signature(rules: AlertRules, areas: AreaCatalog) -> str:
    """Who signs alerts to citizens."""
    return rules.sender_name or areas.district


def areas_label(codes: list[str], areas: AreaCatalog) -> str:
    """The areas of an alert in a sentence ("xã Tân Hà, xã Tân Hội"; the district when all)."""
    if set(codes) >= {area.code for area in areas.areas}:
        return in_sentence(areas.district)
    return ", ".join(in_sentence(areas.name(code)) for code in codes)


def seconds_to_send(counts: Mapping[Platform, int], rates: Mapping[Platform, float]) -> int:
    """How long a broadcast takes: the platforms send side by side, each at its rate."""
    return max(
        (math.ceil(count / rates[platform]) for platform, count in counts.items() if count),
        default=0,
    )


def duration(language: str, seconds: int) -> str:
    """How long sending takes, as people say it ("khoảng 6 phút")."""
    if seconds < 60:
        return t(language, "alert.eta_now")
    minutes = -(-seconds // 60)
    if minutes < 60:
        return t(language, "alert.eta_minutes", minutes=minutes)
    return t(language, "alert.eta_hours", hours=minutes // 60, minutes=minutes % 60)


def cap_alert(alert: Alert, areas: AreaCatalog, tz: ZoneInfo) -> CapAlert:
    """The alert as a CAP 1.2 message: one info block per language, the communes' geocodes,
    times with the local offset (CAP refuses "Z")."""
    area = CapArea(
        description=", ".join(areas.name(code) for code in alert.areas),
        geocodes=tuple((GEOCODE, code) for code in alert.areas),
    )
    infos = tuple(
        CapInfo(
            language=text.language,
            categories=tuple(alert.categories),
            event=alert.event,
            urgency=alert.urgency,
            severity=alert.severity,
            certainty=alert.certainty,
            headline=text.headline,
            description=text.description,
            instruction=text.instruction,
            web=alert.web,
            contact=alert.contact,
            areas=(area,),
        )
        for text in alert.texts
    )
    return CapAlert(
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent.astimezone(tz),
        status=alert.status,
        msg_type=alert.msg_type,
        scope=alert.scope,
        infos=infos,
        references=tuple(alert.references),
    )


def reference(alert: Alert, tz: ZoneInfo) -> str:
    """How a later CAP message names this one: "sender,identifier,sent"."""
    return f"{alert.sender},{alert.identifier},{cap_time(alert.sent.astimezone(tz))}"
