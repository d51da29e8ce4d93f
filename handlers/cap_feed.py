"""Our public alerts as CAP 1.2: one document per alert and an Atom feed of the alerts in force,
the two things alerting hubs and aggregators read."""

from __future__ import annotations

from urllib.parse import quote

from core.alerts import cap_alert, signature
from core.cap import AtomEntry, AtomFeed, atom_feed, cap_xml, tag_uri
from core.models import Alert
from core.texts import DEFAULT_LANGUAGE, t
from handlers.context import Services

FEED_SIZE = 50  # the latest alerts looked at; hubs fetch the CAP documents themselves
FEED_PATH = "/cap/feed.atom"


def alert_url(base_url: str, identifier: str) -> str:
    """Where an alert's CAP document is served."""
    return f"{base_url}/cap/alerts/{quote(identifier, safe='@:-._~+')}.xml"


async def alert_document(services: Services, identifier: str) -> bytes | None:
    """The CAP document of a public, confirmed alert (None: no such alert published)."""
    alert = await services.alerts.published(identifier)
    if alert is None:
        return None
    return cap_xml(cap_alert(alert, services.areas, services.timezone))


async def feed_document(services: Services, base_url: str) -> bytes:
    """The Atom feed of the public alerts in force, newest first."""
    alerts = await services.alerts.current_public(FEED_SIZE)
    latest = max((alert.sent for alert in alerts), default=services.clock.now())
    self_url = f"{base_url}{FEED_PATH}"
    sender = signature(services.policy.alerts, services.areas)
    return atom_feed(
        AtomFeed(
            id=self_url,
            title=t(DEFAULT_LANGUAGE, "cap.feed_title", sender=sender),
            self_url=self_url,
            updated=latest.astimezone(services.timezone),
            entries=[_entry(services, alert, base_url) for alert in alerts],
        )
    )


def _entry(services: Services, alert: Alert, base_url: str) -> AtomEntry:
    rules, sent = services.policy.alerts, alert.sent.astimezone(services.timezone)
    text = alert.text_in(DEFAULT_LANGUAGE)
    ours = alert.sender == rules.sender
    return AtomEntry(
        id=tag_uri(rules.sender, sent.date(), f"cap/{alert.sender}/{alert.identifier}"),
        title=text.headline,
        updated=sent,
        summary=text.description or text.headline,
        author=signature(rules, services.areas) if ours else alert.sender,
        cap_url=alert_url(base_url, alert.identifier),
    )
