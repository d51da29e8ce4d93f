"""CAP 1.2 out and in: our alerts pass the official OASIS schema; hostile or wrong input is
refused quickly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from core.areas import load_areas
from core.cap import (
    ATOM_NS,
    CAP_NS,
    AtomEntry,
    AtomFeed,
    CapAlert,
    CapArea,
    CapInfo,
    CapRefused,
    atom_feed,
    cap_time,
    cap_xml,
    communes_of,
    parse_cap,
    read_cap,
    tag_uri,
)

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def an_alert(sent: datetime = datetime(2026, 12, 4, 10, 0, tzinfo=LOCAL)) -> CapAlert:
    """An outbreak warning for one commune, in Vietnamese and English."""
    area = CapArea("Xã Tân Hà, huyện Tân Châu", (("ma_xa", "tan-ha"),))
    infos = [
        CapInfo(
            language=language,
            categories=("Health",),
            event=event,
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            headline=headline,
            instruction=instruction,
            areas=(area,),
        )
        for language, event, headline, instruction in (
            ("vi", "Ổ dịch", "Phát hiện ổ dịch tại ấp Tân Lợi", "Hạn chế ra khỏi nhà."),
            ("en", "Outbreak", "Outbreak found in Tân Lợi hamlet", "Stay at home."),
        )
    ]
    return CapAlert(
        identifier="khaibao-tan-chau-2026-0001",
        sender="ttyt@tanchau.tayninh.gov.vn",
        sent=sent,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=infos,
    )


def test_our_alert_passes_the_oasis_schema_and_reads_back() -> None:
    xml = cap_xml(an_alert())
    root = parse_cap(xml)
    assert root.findtext(f"{{{CAP_NS}}}sent") == "2026-12-04T10:00:00+07:00"
    headlines = [h.text for h in root.iter(f"{{{CAP_NS}}}headline")]
    assert headlines == ["Phát hiện ổ dịch tại ấp Tân Lợi", "Outbreak found in Tân Lợi hamlet"]


def test_a_time_without_an_offset_is_not_written_and_a_z_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError):
        cap_time(datetime(2026, 12, 4, 10, 0))
    zulu = cap_xml(an_alert(datetime(2026, 12, 4, 3, 0, tzinfo=UTC)))
    assert b"+00:00" in zulu
    with pytest.raises(CapRefused) as refused:
        parse_cap(zulu.replace(b"+00:00", b"Z"))
    assert refused.value.reason == "schema"


def test_an_xml_bomb_a_dtd_garbage_and_a_huge_body_are_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol3;</alert>"""
    for data, reason in (
        (bomb, "dtd"),
        (b"not xml at all", "not_xml"),
        (b"<a>" * 100_000, "too_big"),
        (cap_xml(an_alert()).replace(b"<status>Actual", b"<status>Whatever"), "schema"),
    ):
        with pytest.raises(CapRefused) as refused:
            parse_cap(data)
        assert refused.value.reason == reason


def test_the_communes_of_an_incoming_alert_come_from_geocodes_or_area_names() -> None:
    areas = load_areas()
    coded = parse_cap(cap_xml(an_alert()))
    assert communes_of(coded, areas) == ["tan-ha"]
    by_name = an_alert()
    described = CapArea("Xã Tân Hội, huyện Tân Châu; TAN HUNG")
    info = replace(by_name.infos[0], areas=(described,))
    named = parse_cap(cap_xml(replace(by_name, infos=(info,))))
    assert communes_of(named, areas) == ["tan-hoi", "tan-hung"]


def test_a_parsed_message_reads_back_as_the_alert_that_was_written() -> None:
    alert = an_alert()
    written = replace(
        alert, msg_type="Update", references=("a,b,c", "d,e,f"), infos=tuple(alert.infos)
    )
    read = read_cap(parse_cap(cap_xml(written)))
    assert read == written
    assert read.sent.utcoffset() == written.sent.utcoffset()


def test_a_message_without_a_language_is_in_english_as_cap_says() -> None:
    xml = cap_xml(an_alert()).replace(b"<language>vi</language>", b"")
    assert [info.language for info in read_cap(parse_cap(xml)).infos] == ["en-US", "en"]


def test_a_large_entity_bomb_stopped_by_libxml2_is_still_named_a_dtd() -> None:
    levels = "".join(f'<!ENTITY e{n} "{f"&e{n - 1};" * 20}">' for n in range(1, 7))
    bomb = f"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY e0 "{"a" * 50}">{levels}]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&e6;</alert>""".encode()
    with pytest.raises(CapRefused) as refused:
        parse_cap(bomb)
    assert refused.value.reason == "dtd"


def test_the_atom_feed_names_each_alert_and_links_its_cap_document() -> None:
    sent = datetime(2026, 12, 4, 10, 0, tzinfo=LOCAL)
    entry = AtomEntry(
        id=tag_uri("khaibao@tanchau.gov.vn", sent.date(), "cap/a b/KB-1"),
        title="Phát hiện ổ dịch",
        updated=sent,
        summary="Hạn chế ra khỏi nhà.",
        author="Trung tâm Y tế",
        cap_url="https://example.vn/cap/alerts/KB-1.xml",
    )
    feed = AtomFeed(
        "https://example.vn/cap/feed.atom",
        "Thông báo",
        "https://example.vn/cap/feed.atom",
        sent,
        [entry],
    )
    root = etree.fromstring(atom_feed(feed))
    atom = f"{{{ATOM_NS}}}"
    assert root.findtext(f"{atom}updated") == "2026-12-04T10:00:00+07:00"
    [element] = root.findall(f"{atom}entry")
    assert element.findtext(f"{atom}id") == "tag:khaibao@tanchau.gov.vn,2026-12-04:cap/a%20b/KB-1"
    assert element.findtext(f"{atom}author/{atom}name") == "Trung tâm Y tế"
    link = element.find(f"{atom}link")
    assert link is not None and link.attrib == {
        "rel": "alternate",
        "type": "application/cap+xml",
        "href": "https://example.vn/cap/alerts/KB-1.xml",
    }
    assert tag_uri("x@y.vn", date(2026, 1, 2), "z") == "tag:x@y.vn,2026-01-02:z"
