"""CAP over HTTP against the running service: our public alerts as CAP documents and an Atom
feed (checked against the OASIS schema), and CAP POSTed to the inbox by authority systems —
refused when forged, broken, hostile, huge or for nowhere; taken once, sent at once for a
trusted sender, otherwise held for an officer's confirmation; updates supersede."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from lxml import etree
from pydantic import ValidationError

from bot.app import Service
from bot.selfies import SelfiePool
from core.alerts import KINDS, TEXT_MAX
from core.cap import (
    ATOM_NS,
    CAP_NS,
    MAX_CAP_BYTES,
    CapAlert,
    CapArea,
    CapInfo,
    cap_xml,
    parse_cap,
)
from core.clock import FixedClock
from core.models import Alert, AlertKind, AlertState, AlertText, Role, Subscriber
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import sandbox_settings, staff_user

TOKEN = "cap-inbox-token-for-tests-0123456789"
TRUSTED = "canhbao@tayninh.gov.vn"
OTHER = "ttyt@duongminhchau.tayninh.gov.vn"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CITIZEN = {"telegram": "600001", "zalo": "f6a7b8c9d0e100112233"}
OFFICER = {"telegram": "500001", "zalo": "e5f6a7b8c9d000112233"}
HEADLINE = "Phát hiện ổ dịch tại xã Tân Hà"
TAN_HA = CapArea("Xã Tân Hà, huyện Tân Châu", (("commune", "tan-ha"),))


@pytest.fixture
async def cap_service(
    sandbox: Sandbox, storage: Storage, clock: FixedClock, selfie_pool: SelfiePool
) -> AsyncIterator[Service]:
    """The bot with the CAP inbox open and one trusted sender."""
    settings = sandbox_settings(sandbox, cap_inbox_token=TOKEN, cap_auto_send_senders=TRUSTED)
    service = Service(settings, storage, clock, selfies=selfie_pool, run_scheduler=False)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def http(cap_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service's web server."""
    async with httpx.AsyncClient(base_url=cap_service.settings.base_url, timeout=30) as client:
        yield client


async def stored(
    storage: Storage, clock: FixedClock, identifier: str, state: AlertState, **fields: object
) -> Alert:
    """An alert of ours as the compose flow stores it, for Tân Hà and Tân Hội."""
    number = await storage.alerts.next_number()
    kind = KINDS[AlertKind.WARNING]
    values: dict[str, object] = {
        "id": f"alert-{number}",
        "number": number,
        "identifier": identifier,
        "sender": "khaibao@tanchau.tayninh.gov.vn",
        "sent": clock.now(),
        "kind": AlertKind.WARNING,
        "event": "Cảnh báo dịch bệnh",
        "urgency": kind.urgency,
        "severity": kind.severity,
        "certainty": kind.certainty,
        "texts": [
            AlertText(language="vi", headline=HEADLINE, description="Bà con hạn chế ra ngoài."),
            AlertText(language="en", headline="Outbreak in Tân Hà", description="Stay home."),
        ],
        "areas": ["tan-ha", "tan-hoi"],
        "state": state,
        "created_by": "telegram:1",
        "approved_by": "" if state in (AlertState.PENDING, AlertState.REFUSED) else "telegram:1",
        "created_at": clock.now(),
        **fields,
    }
    alert = Alert.model_validate(values)
    assert await storage.alerts.add(alert)
    return alert


def cap(root: etree._Element, name: str) -> list[str]:
    """The texts of every CAP element called `name`."""
    return [element.text or "" for element in root.iter(f"{{{CAP_NS}}}{name}")]


async def test_a_public_alert_is_served_as_cap_that_passes_the_oasis_schema(
    http: httpx.AsyncClient, storage: Storage, clock: FixedClock
) -> None:
    await stored(storage, clock, "KB-2026-1", AlertState.SENDING)
    response = await http.get("/cap/alerts/KB-2026-1.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    root = parse_cap(response.content)  # raises unless valid against the XSD
    assert cap(root, "identifier") == ["KB-2026-1"]
    assert cap(root, "sent") == ["2026-11-27T09:30:00+07:00"]
    assert cap(root, "value") == ["tan-ha", "tan-hoi"] * 2  # one area per language
    assert cap(root, "headline") == [HEADLINE, "Outbreak in Tân Hà"]


async def test_restricted_pending_refused_and_unknown_alerts_are_not_served(
    http: httpx.AsyncClient, storage: Storage, clock: FixedClock
) -> None:
    await stored(storage, clock, "KB-restricted", AlertState.DONE, scope="Restricted")
    await stored(storage, clock, "KB-pending", AlertState.PENDING)
    await stored(storage, clock, "KB-refused", AlertState.REFUSED)
    for identifier in ("KB-restricted", "KB-pending", "KB-refused", "KB-nothing"):
        response = await http.get(f"/cap/alerts/{identifier}.xml")
        assert response.status_code == 404, identifier


async def test_the_atom_feed_lists_public_alerts_in_force_with_their_cap_links(
    http: httpx.AsyncClient, cap_service: Service, storage: Storage, clock: FixedClock
) -> None:
    base = cap_service.settings.base_url
    await stored(storage, clock, "KB-old", AlertState.SUPERSEDED)
    await stored(storage, clock, "KB-live", AlertState.DONE)
    await stored(storage, clock, "KB-cancel", AlertState.DONE, msg_type="Cancel")
    await stored(storage, clock, "KB-waiting", AlertState.PENDING)
    await stored(storage, clock, "KB-private", AlertState.SENDING, scope="Private")
    response = await http.get("/cap/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content)
    atom = f"{{{ATOM_NS}}}"
    assert feed.tag == f"{atom}feed" and feed.findtext(f"{atom}id")
    assert feed.findtext(f"{atom}updated") == "2026-11-27T09:30:00+07:00"
    self_link = feed.find(f"{atom}link[@rel='self']")
    assert self_link is not None and self_link.get("href") == f"{base}/cap/feed.atom"
    [entry] = feed.findall(f"{atom}entry")
    assert entry.findtext(f"{atom}title") == HEADLINE
    assert "KB-live" in (entry.findtext(f"{atom}id") or "")
    assert (entry.findtext(f"{atom}id") or "").startswith("tag:")
    assert entry.findtext(f"{atom}updated") == "2026-11-27T09:30:00+07:00"
    assert entry.findtext(f"{atom}summary") == "Bà con hạn chế ra ngoài."
    assert entry.findtext(f"{atom}author/{atom}name")
    link = entry.find(f"{atom}link[@rel='alternate']")
    assert link is not None and link.get("type") == "application/cap+xml"
    href = link.get("href") or ""
    assert href == f"{base}/cap/alerts/KB-live.xml"
    parse_cap((await http.get(href)).content)


def incoming(
    identifier: str = "TN-2026-0042",
    sender: str = OTHER,
    area: CapArea = TAN_HA,
    msg_type: str = "Alert",
    references: tuple[str, ...] = (),
) -> bytes:
    """A CAP message from another authority, in Vietnamese and English, for one area."""
    infos = [
        CapInfo(
            language=language,
            categories=("Health",),
            event=event,
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            headline=headline,
            description=description,
            areas=(area,),
        )
        for language, event, headline, description in (
            ("vi-VN", "Ổ dịch", HEADLINE, "Hạn chế ra khỏi nhà."),
            ("en-US", "Outbreak", "Outbreak in Tân Hà", "Stay at home."),
        )
    ]
    return cap_xml(
        CapAlert(
            identifier=identifier,
            sender=sender,
            sent=datetime(2026, 11, 27, 9, 0, tzinfo=LOCAL),
            status="Actual",
            msg_type=msg_type,
            scope="Public",
            infos=infos,
            references=references,
        )
    )


def bearer(token: str = TOKEN) -> dict[str, str]:
    """The inbox's authorization header."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"}


async def test_the_inbox_wants_the_token_and_is_absent_without_one(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    for headers in ({}, bearer("wrong-token"), {"Authorization": TOKEN}, bearer(TOKEN + "x")):
        response = await http.post("/cap/inbox", content=incoming(), headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await storage.db["alerts"].count_documents({}) == 0


async def test_without_an_inbox_token_there_is_no_inbox(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.settings.base_url) as client:
        response = await client.post("/cap/inbox", content=incoming(), headers=bearer())
        assert response.status_code == 404
        assert (await client.get("/cap/feed.atom")).status_code == 200


@pytest.mark.parametrize("token", ["short", "has spaces in it, sixteen+", "x" * 257])
def test_a_weak_or_unsendable_inbox_token_stops_start_up(sandbox: Sandbox, token: str) -> None:
    with pytest.raises(ValidationError, match="cap_inbox_token"):
        sandbox_settings(sandbox, cap_inbox_token=token)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&f;</identifier></alert>"""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"this is not XML <", "not_xml"),
        (BOMB, "dtd"),
        (incoming().replace(b"<status>Actual", b"<status>Maybe"), "schema"),
        (incoming().replace(b"+07:00</sent>", b"Z</sent>"), "schema"),
        (incoming().replace(b"<status>Actual", b"<status>Test"), "not_for_citizens"),
        (incoming(area=CapArea("Xã Khác, huyện Khác", (("commune", "nowhere"),))), "unknown_area"),
        (incoming(area=CapArea("Đâu đó")), "unknown_area"),
    ],
)
async def test_broken_hostile_or_misdirected_cap_is_refused_with_a_reason(
    http: httpx.AsyncClient, storage: Storage, body: bytes, error: str
) -> None:
    response = await http.post("/cap/inbox", content=body, headers=bearer())
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "detail" in response.json()
    assert await storage.db["alerts"].count_documents({}) == 0
    assert (await http.get("/healthz")).status_code in (200, 503)  # still serving


async def fifty_megabytes() -> AsyncIterator[bytes]:
    """A 50 MB body, produced as it is sent (never held whole)."""
    chunk = b"<a>" + b"x" * (1024 * 1024 - 3)
    for _ in range(50):
        yield chunk


async def test_a_50_mb_body_is_refused_unread_and_the_server_carries_on(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    declared = {**bearer(), "Content-Length": str(50 * 1024 * 1024)}
    response = await http.post("/cap/inbox", content=fifty_megabytes(), headers=declared)
    assert response.status_code == 413
    assert response.json()["error"] == "too_big"
    try:  # no length: the server stops reading past the limit and closes the connection
        chunked = await http.post("/cap/inbox", content=fifty_megabytes(), headers=bearer())
        assert chunked.status_code == 413
    except httpx.TransportError:
        pass
    just_over = b" " * (MAX_CAP_BYTES + 1)
    response = await http.post("/cap/inbox", content=just_over, headers=bearer())
    assert response.status_code == 413
    response = await http.post("/cap/inbox", content=incoming(sender=TRUSTED), headers=bearer())
    assert response.status_code == 202
    assert await storage.db["alerts"].count_documents({}) == 1


@pytest.mark.parametrize(
    ("token", "length", "answer"),
    [
        (TOKEN, 50 * 1024 * 1024, b"HTTP/1.1 413"),
        ("wrong-token", 50 * 1024 * 1024, b"HTTP/1.1 401"),
        (TOKEN, 4_000, b"HTTP/1.1 100 Continue"),
    ],
)
async def test_a_client_announcing_50_mb_is_refused_before_it_sends_them(
    cap_service: Service, token: str, length: int, answer: bytes
) -> None:
    settings = cap_service.settings
    reader, writer = await asyncio.open_connection(settings.http_host, settings.http_port)
    try:
        writer.write(
            f"POST /cap/inbox HTTP/1.1\r\nHost: {settings.http_host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        status = await asyncio.wait_for(reader.readline(), 10)  # no body sent: only headers
    finally:
        writer.close()
    assert status.startswith(answer), status


async def test_cap_from_a_trusted_sender_is_approved_at_once(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    response = await http.post("/cap/inbox", content=incoming(sender=TRUSTED), headers=bearer())
    assert response.status_code == 202
    answer = response.json()
    assert answer["state"] == "approved" and answer["number"] == 1
    alert = await storage.alerts.get(answer["alert"])
    assert alert is not None and alert.state is AlertState.APPROVED
    assert (alert.source, alert.created_by, alert.sender) == ("cap", TRUSTED, TRUSTED)
    assert alert.identifier == "TN-2026-0042" and alert.areas == ["tan-ha"]
    assert alert.kind is AlertKind.EMERGENCY and alert.severity == "Severe"
    assert [(text.language, text.headline) for text in alert.texts] == [
        ("vi", HEADLINE),
        ("en", "Outbreak in Tân Hà"),
    ]
    assert alert.sent.astimezone(LOCAL) == datetime(2026, 11, 27, 9, 0, tzinfo=LOCAL)
    # Published in turn: our CAP document of it passes the schema.
    parse_cap((await http.get("/cap/alerts/TN-2026-0042.xml")).content)


async def test_cap_from_a_trusted_sender_reaches_the_communes_citizens(
    http: httpx.AsyncClient,
    cap_service: Service,
    storage: Storage,
    clock: FixedClock,
    sandbox: Sandbox,
    platform: str,
) -> None:
    citizen = User(sandbox.url, platform, CITIZEN[platform])
    subscriber = Subscriber(
        platform=citizen.platform,
        user_id=citizen.user_id,
        chat_id=citizen.user_id,
        areas=["tan-ha"],
        created_at=clock.now(),
    )
    await storage.subscribers.subscribe(subscriber)
    response = await http.post("/cap/inbox", content=incoming(sender=TRUSTED), headers=bearer())
    assert response.status_code == 202
    await cap_service.broadcast()
    try:
        [alert] = await citizen.replies()
    finally:
        await citizen.aclose()
    assert "THÔNG BÁO KHẨN CẤP" in alert["text"] and HEADLINE in alert["text"]


async def test_a_10000_character_description_is_cut_to_one_message(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    long = incoming(sender=TRUSTED).replace(b"Stay at home.", b"Stay at home. " * 715)
    response = await http.post("/cap/inbox", content=long, headers=bearer())
    assert response.status_code == 202
    alert = await storage.alerts.get(response.json()["alert"])
    assert alert is not None
    english = alert.text_in("en")
    assert english.description.startswith("Stay at home.") and english.description.endswith("…")
    assert len(english.headline + english.description + english.instruction) <= TEXT_MAX


async def test_areas_named_without_geocodes_are_found_by_name(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    named = incoming(sender=TRUSTED, area=CapArea("Xã Tân Hội, huyện Tân Châu; xã TAN HUNG"))
    response = await http.post("/cap/inbox", content=named, headers=bearer())
    assert response.status_code == 202
    alert = await storage.alerts.get(response.json()["alert"])
    assert alert is not None and alert.areas == ["tan-hoi", "tan-hung"]


async def test_other_cap_waits_for_an_officer_is_taken_once_and_an_update_supersedes_it(
    http: httpx.AsyncClient, storage: Storage, clock: FixedClock, sandbox: Sandbox, platform: str
) -> None:
    user_id = OFFICER[platform]
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.COMMUNE_STAFF
    ) as officer:
        response = await http.post("/cap/inbox", content=incoming(), headers=bearer())
        assert response.status_code == 202
        first = response.json()
        assert first["state"] == "pending"
        [request] = await officer.replies()
        assert OTHER in request["text"] and HEADLINE in request["text"]
        if platform == "telegram":
            assert options_of(request, platform) == ["✅ Xác nhận gửi", "❌ Không gửi"]
        else:  # Zalo: no buttons on a proactive message, a command to type instead
            assert "/alert ok 1" in request["text"] and "/alert no 1" in request["text"]
        assert (await http.get("/cap/alerts/TN-2026-0042.xml")).status_code == 404

        again = await http.post("/cap/inbox", content=incoming(), headers=bearer())
        assert again.status_code == 409 and again.json()["alert"] == first["alert"]
        assert await storage.db["alerts"].count_documents({}) == 1

        if platform == "telegram":
            [confirmed] = await officer.choose("✅ Xác nhận gửi")
        else:
            [confirmed] = await officer.says("/alert ok 1")
        assert "Đã xác nhận" in confirmed["text"]
        approved = await storage.alerts.get(first["alert"])
        assert approved is not None and approved.state is AlertState.APPROVED
        assert approved.approved_by == f"{platform}:{user_id}"

        reference = f"{OTHER},TN-2026-0042,2026-11-27T09:00:00+07:00"
        update = incoming("TN-2026-0043", msg_type="Update", references=(reference,))
        response = await http.post("/cap/inbox", content=update, headers=bearer())
        assert response.status_code == 202
        earlier = await storage.alerts.get(first["alert"])
        later = await storage.alerts.get(response.json()["alert"])
        assert earlier is not None and earlier.state is AlertState.SUPERSEDED
        assert later is not None and later.follows == earlier.id and later.msg_type == "Update"
        [second] = await officer.replies()  # the update waits for a confirmation too
        assert "CẬP NHẬT THÔNG BÁO" in second["text"]


async def test_a_bare_cancel_takes_the_areas_and_texts_it_cancels(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    response = await http.post("/cap/inbox", content=incoming(sender=TRUSTED), headers=bearer())
    first = response.json()["alert"]
    reference = f"{TRUSTED},TN-2026-0042,2026-11-27T09:00:00+07:00"
    bare = CapAlert(
        identifier="TN-2026-0044",
        sender=TRUSTED,
        sent=datetime(2026, 11, 27, 11, 0, tzinfo=LOCAL),
        status="Actual",
        msg_type="Cancel",
        scope="Public",
        references=(reference,),
    )
    response = await http.post("/cap/inbox", content=cap_xml(bare), headers=bearer())
    assert response.status_code == 202
    cancel = await storage.alerts.get(response.json()["alert"])
    cancelled = await storage.alerts.get(first)
    assert cancelled is not None and cancelled.state is AlertState.SUPERSEDED
    assert cancel is not None and cancel.areas == ["tan-ha"] and cancel.follows == first
    assert cancel.texts == cancelled.texts
    feed = (await http.get("/cap/feed.atom")).content
    assert b"TN-2026-004" not in feed  # the cancelled alert and the cancellation: not in force
