"""Our web server: health check, media for Zalo, the Zalo location and upload pages, the
checkpoints' QR landing page, CAP alerts out and in, and the webhooks."""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import math
import mimetypes
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from aiohttp import BodyPartReader, web
from aiohttp.web_urldispatcher import _default_expect_handler

from core.cap import ATOM_MIME, CAP_MIME, MAX_CAP_BYTES
from core.channel import DOCUMENT_MAX_BYTES, MediaStore
from core.texts import DEFAULT_LANGUAGE, t
from handlers.cap_inbox import CapReceipt, Outcome

HealthCheck = Callable[[], Awaitable[dict[str, object]]]
Position = tuple[float, float, float | None]  # latitude, longitude, accuracy in metres


@dataclass(frozen=True)
class LocationPage:
    """What the location page asks the service: a link's language (None: not valid now),
    and to take the position sent with it (False: the link is no longer valid)."""

    language: Callable[[str], Awaitable[str | None]]
    submit: Callable[[str, Position], Awaitable[bool]]


@dataclass(frozen=True)
class UploadedFile:
    """A file sent from the upload page: its bytes and the sender's (cleaned) name for it."""

    data: bytes
    filename: str
    mime: str


@dataclass(frozen=True)
class UploadPage:
    """What the upload page asks the service: a link's language (None: not valid now), and to
    take the file sent with it (False: the link is no longer valid)."""

    language: Callable[[str], Awaitable[str | None]]
    submit: Callable[[str, UploadedFile], Awaitable[bool]]


UPLOAD_TYPES = (".xlsx", ".csv")
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file
_FILENAME_LIMIT = 120
_FORM_PARTS = 3


@dataclass(frozen=True)
class Landing:
    """A checkpoint as its QR landing page shows it: where, the Telegram link, the Zalo code."""

    place: str
    telegram_link: str | None
    code: str


FindLanding = Callable[[str], Awaitable[Landing | None]]  # a QR token → its checkpoint, if valid


@dataclass(frozen=True)
class CapRoutes:
    """What the CAP routes ask the service: a published alert's CAP document (None: none by
    that identifier), the Atom feed, and to take a CAP message POSTed to the inbox."""

    document: Callable[[str], Awaitable[bytes | None]]
    feed: Callable[[], Awaitable[bytes]]
    receive: Callable[[bytes], Awaitable[CapReceipt]]
    inbox_token: str = ""  # empty: no inbox


CAP_READ_SECONDS = 30.0  # a sender trickling its body does not hold the request for ever
_CAP_STATUS = {
    Outcome.ACCEPTED: 202,
    Outcome.INVALID: 400,
    Outcome.NOT_FOR_CITIZENS: 400,
    Outcome.UNKNOWN_AREA: 400,
    Outcome.DUPLICATE: 409,
}


def build_web_app(
    media: MediaStore,
    health: HealthCheck,
    location: LocationPage | None = None,
    landing: FindLanding | None = None,
    upload: UploadPage | None = None,
    cap: CapRoutes | None = None,
) -> web.Application:
    """The aiohttp application; channels add their webhook routes to it."""
    app = web.Application(client_max_size=2 * 1024 * 1024)

    async def healthz(_: web.Request) -> web.Response:
        report = await health()
        return web.json_response(report, status=200 if report["ok"] else 503)

    async def serve_media(request: web.Request) -> web.Response:
        found = await media.get(request.match_info["token"])
        if found is None:
            raise web.HTTPNotFound()
        data, mime = found
        return web.Response(body=data, content_type=mime, headers={"Cache-Control": "no-store"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/media/{token}", serve_media)
    if location is not None:
        add_location_page(app, location)
    if landing is not None:
        add_landing_page(app, landing)
    if upload is not None:
        add_upload_page(app, upload)
    if cap is not None:
        add_cap_routes(app, cap)
    return app


def add_cap_routes(app: web.Application, cap: CapRoutes) -> None:
    """GET /cap/alerts/<identifier>.xml and /cap/feed.atom for alerting hubs; POST /cap/inbox
    for authority systems holding the inbox token (absent without one)."""

    async def document(request: web.Request) -> web.Response:
        found = await cap.document(request.match_info["identifier"])
        if found is None:
            raise web.HTTPNotFound()
        return _xml_response(found, CAP_MIME)

    async def feed(_: web.Request) -> web.Response:
        return _xml_response(await cap.feed(), ATOM_MIME)

    async def inbox(request: web.Request) -> web.Response:
        refused = _inbox_refusal(request, cap.inbox_token)
        if refused is not None:
            return refused
        try:
            async with asyncio.timeout(CAP_READ_SECONDS):
                data = await _body_at_most(request, MAX_CAP_BYTES)
        except TimeoutError:
            return _cap_error(408, "too_slow", close=True)
        if data is None:
            return _too_big()
        return _cap_answer(await cap.receive(data))

    async def expect(request: web.Request) -> web.StreamResponse | None:
        # Clients announcing a body (curl, .NET) wait for this answer: refuse before they send.
        refused = _inbox_refusal(request, cap.inbox_token)
        if refused is not None:
            refused.force_close()
            return refused
        await _default_expect_handler(request)  # "100 Continue"
        return None

    app.router.add_get("/cap/alerts/{identifier}.xml", document)
    app.router.add_get("/cap/feed.atom", feed)
    if cap.inbox_token:
        app.router.add_post("/cap/inbox", inbox, expect_handler=expect)


def _inbox_refusal(request: web.Request, token: str) -> web.Response | None:
    """401 without the right token, 413 for a body announced over the limit; else None."""
    if not _bearer_matches(request, token):
        response = _cap_error(401, "unauthorized", close=True)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    declared = request.content_length
    if declared is not None and declared > MAX_CAP_BYTES:
        return _too_big()
    return None


def _too_big() -> web.Response:
    return _cap_error(413, "too_big", f"at most {MAX_CAP_BYTES} bytes", close=True)


def _bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (compared in constant time)."""
    given = request.headers.get("Authorization", "").encode("utf-8", "replace")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


async def _body_at_most(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` (never read whole)."""
    data = bytearray()
    while chunk := await request.content.read(64 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _cap_answer(receipt: CapReceipt) -> web.Response:
    status, alert = _CAP_STATUS[receipt.outcome], receipt.alert
    if receipt.outcome is Outcome.ACCEPTED and alert is not None:
        body = {"alert": alert.id, "number": alert.number, "state": alert.state.value}
        return web.json_response(body, status=status)
    return _cap_error(status, receipt.error, receipt.detail, alert.id if alert else "")


def _cap_error(
    status: int, error: str, detail: str = "", alert: str = "", close: bool = False
) -> web.Response:
    body = {"error": error, "detail": detail, **({"alert": alert} if alert else {})}
    response = web.json_response(body, status=status)
    if close:  # stop taking what the sender still sends once it has our answer
        response.force_close()
    return response


def _xml_response(body: bytes, mime: str) -> web.Response:
    headers = {"Cache-Control": "public, max-age=60"}
    return web.Response(body=body, content_type=mime, headers=headers)


def add_landing_page(app: web.Application, find: FindLanding) -> None:
    """GET /q/<token>: what a phone's camera opens from a poster — open Telegram, or the code
    to send on Zalo (which gives bots no deep links)."""

    async def show(request: web.Request) -> web.Response:
        found = await find(request.match_info["token"])
        nonce = secrets.token_urlsafe(12)
        if found is None:
            body = _shell(DEFAULT_LANGUAGE, nonce, _paragraph("landing.invalid"), "landing.title")
            return _page_response(body, nonce, 410)
        return _page_response(_landing_page(found, nonce), nonce, 200)

    app.router.add_get("/q/{token}", show)


def _paragraph(key: str, **values: object) -> str:
    return f"<p>{html.escape(t(DEFAULT_LANGUAGE, key, **values))}</p>"


def _landing_page(found: Landing, nonce: str) -> str:
    telegram = (
        f'<p><a class="button" href="{html.escape(found.telegram_link)}">'
        f"{html.escape(t(DEFAULT_LANGUAGE, 'landing.telegram'))}</a></p>"
        if found.telegram_link
        else ""
    )
    content = (
        f"<h2>{html.escape(found.place)}</h2>{telegram}"
        + _paragraph("landing.zalo", code=found.code)
        + f'<p class="code">{html.escape(found.code)}</p>'
        + _paragraph("landing.scan_again")
    )
    return _shell(DEFAULT_LANGUAGE, nonce, content, "landing.title")


def add_location_page(app: web.Application, page: LocationPage) -> None:
    """GET /vitri/<token>: a page whose button reads the phone's position and POSTs it back."""

    async def show(request: web.Request) -> web.Response:
        lang = await page.language(request.match_info["token"])
        nonce = secrets.token_urlsafe(12)
        if lang is None:
            return _page_response(_invalid_page(DEFAULT_LANGUAGE, nonce), nonce, 410)
        return _page_response(_location_page(lang, nonce), nonce, 200)

    async def receive(request: web.Request) -> web.Response:
        position = _position(await request.text())
        if position is None:
            return web.json_response({"ok": False}, status=400)
        if not await page.submit(request.match_info["token"], position):
            message = t(DEFAULT_LANGUAGE, "location.page_invalid")
            return web.json_response({"ok": False, "message": message}, status=410)
        return web.json_response({"ok": True})

    app.router.add_get("/vitri/{token}", show)
    app.router.add_post("/vitri/{token}", receive)


def add_upload_page(app: web.Application, page: UploadPage) -> None:
    """GET /tep/<token>: a form to send one spreadsheet; POST stores it (never served back)."""

    async def show(request: web.Request) -> web.Response:
        lang = await page.language(request.match_info["token"])
        nonce = secrets.token_urlsafe(12)
        if lang is None:
            return _page_response(_upload_note(DEFAULT_LANGUAGE, nonce, "invalid"), nonce, 410)
        return _page_response(_upload_form(lang, nonce), nonce, 200)

    async def receive(request: web.Request) -> web.Response:
        token, nonce = request.match_info["token"], secrets.token_urlsafe(12)
        lang = await page.language(token)
        if lang is None:
            return _page_response(_upload_note(DEFAULT_LANGUAGE, nonce, "invalid"), nonce, 410)
        try:
            sent = await _uploaded(request)
        except web.HTTPRequestEntityTooLarge:
            body = _upload_note(lang, nonce, "too_large", limit=DOCUMENT_MAX_BYTES // 1_000_000)
            # Stop reading what the phone still sends: the connection closes after the answer.
            return _page_response(body, nonce, 413, close=True)
        if sent is None:
            return _page_response(_upload_form(lang, nonce, "missing"), nonce, 400)
        if not sent.filename.lower().endswith(UPLOAD_TYPES):
            return _page_response(_upload_form(lang, nonce, "wrong_type"), nonce, 415)
        if not await page.submit(token, sent):
            return _page_response(_upload_note(DEFAULT_LANGUAGE, nonce, "invalid"), nonce, 410)
        return _page_response(_upload_note(lang, nonce, "done"), nonce, 200)

    app.router.add_get("/tep/{token}", show)
    app.router.add_post("/tep/{token}", receive)


async def _uploaded(request: web.Request) -> UploadedFile | None:
    """The form's file (None when there is none or it is empty); raises 413 over the limit."""
    declared = request.content_length
    if declared is None:  # browsers send forms with a length: that bounds what we read
        return None
    if declared > DOCUMENT_MAX_BYTES + _FORM_OVERHEAD:
        raise web.HTTPRequestEntityTooLarge(DOCUMENT_MAX_BYTES, declared)
    try:
        reader = await request.multipart()
        for _ in range(_FORM_PARTS):  # the form has one field: skip little else
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
                data = await _read_capped(part)
                if not data:
                    return None
                name = _clean_filename(part.filename)
                mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return UploadedFile(data, name, mime)
    except (ValueError, AssertionError, KeyError):  # not a multipart form, or a broken one
        return None
    return None


async def _read_capped(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > DOCUMENT_MAX_BYTES:
            raise web.HTTPRequestEntityTooLarge(DOCUMENT_MAX_BYTES, len(data))
    return bytes(data)


def _clean_filename(name: str) -> str:
    """The last path part, without control characters, of a sane length."""
    base = PurePosixPath(name.replace("\\", "/")).name
    kept = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable()).strip()
    if len(kept) > _FILENAME_LIMIT:
        stem, dot, suffix = kept.rpartition(".")
        room = _FILENAME_LIMIT - len(suffix) - 1
        kept = f"{stem[:room]}.{suffix}" if dot and room > 0 else kept[:_FILENAME_LIMIT]
    return kept or "file"


def _upload_form(lang: str, nonce: str, problem: str = "") -> str:
    """The form: one file input for a spreadsheet, the send button, short help."""
    note = f'<p class="problem" role="alert">{_upload_text(lang, problem)}</p>' if problem else ""
    accept = ",".join(UPLOAD_TYPES)
    content = (
        f"<p>{_upload_text(lang, 'intro')}</p>{note}"
        '<form method="post" enctype="multipart/form-data" id="upload">'
        f'<p><input type="file" name="file" accept="{accept}" required></p>'
        f'<button type="submit">{_upload_text(lang, "button")}</button></form>'
        f'<p id="status" role="status"></p><p class="help">{_upload_text(lang, "help")}</p>'
    )
    sending = json.dumps(t(lang, "upload.sending"), ensure_ascii=False).replace("</", "<\\/")
    script = f"""<script nonce="{nonce}">
document.getElementById("upload").addEventListener("submit", (event) => {{
  event.target.querySelector("button").disabled = true;
  document.getElementById("status").textContent = {sending};
}});
</script>"""
    return _shell(lang, nonce, content, "upload.page_title", script)


def _upload_note(lang: str, nonce: str, key: str, **values: object) -> str:
    return _shell(lang, nonce, f"<p>{_upload_text(lang, key, **values)}</p>", "upload.page_title")


def _upload_text(lang: str, key: str, **values: object) -> str:
    return html.escape(t(lang, f"upload.{key}", **values))


def _position(body: str) -> Position | None:
    """{lat, lon, accuracy} as the page sends it; None unless a position on Earth."""
    try:
        data = json.loads(body)
        lat, lon = float(data["lat"]), float(data["lon"])
        accuracy = None if data.get("accuracy") is None else float(data["accuracy"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if accuracy is not None and not (math.isfinite(accuracy) and accuracy >= 0):
        return None
    return lat, lon, accuracy


def _page_response(body: str, nonce: str, status: int, close: bool = False) -> web.Response:
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the token is in the URL
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'"
        ),
    }
    if close:
        headers["Connection"] = "close"
    return web.Response(text=body, content_type="text/html", status=status, headers=headers)


def _shell(
    lang: str, nonce: str, content: str, title_key: str = "location.page_title", script: str = ""
) -> str:
    title = html.escape(t(lang, title_key))
    return f"""<!doctype html>
<html lang="{html.escape(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style nonce="{nonce}">
body{{font-family:system-ui,sans-serif;margin:0;padding:24px;max-width:32rem;line-height:1.5}}
button{{font-size:1.2rem;padding:14px 20px;width:100%;border-radius:10px;border:0;
background:#0068ff;color:#fff}} button:disabled{{background:#8aa8d8}}
a.button{{display:block;text-align:center;font-size:1.2rem;padding:14px 20px;border-radius:10px;
background:#229ed9;color:#fff;text-decoration:none}}
.code{{font-size:2.2rem;font-weight:700;letter-spacing:.1em;text-align:center}}
#status{{margin-top:16px;font-weight:600}}
input[type=file]{{font-size:1.1rem;width:100%}} .problem{{color:#b00020;font-weight:600}}
.help{{color:#555;font-size:.95rem}}
</style></head><body><h1>{title}</h1>{content}{script}</body></html>"""


def _invalid_page(lang: str, nonce: str) -> str:
    return _shell(lang, nonce, f"<p>{html.escape(t(lang, 'location.page_invalid'))}</p>")


def _location_page(lang: str, nonce: str) -> str:
    texts = {
        key: t(lang, f"location.page_{key}") for key in ("sending", "done", "denied", "invalid")
    }
    content = (
        f"<p>{html.escape(t(lang, 'location.page_intro'))}</p>"
        f'<button id="share">{html.escape(t(lang, "location.page_button"))}</button>'
        '<p id="status" role="status"></p>'
    )
    catalog = json.dumps(texts, ensure_ascii=False).replace("</", "<\\/")
    script = f"""<script nonce="{nonce}">
const T = {catalog};
const button = document.getElementById("share"), note = document.getElementById("status");
function fail(text) {{ note.textContent = text; button.disabled = false; }}
async function send(position) {{
  const c = position.coords;
  const body = JSON.stringify({{lat: c.latitude, lon: c.longitude, accuracy: c.accuracy}});
  try {{
    const r = await fetch(location.href, {{method: "POST", body,
      headers: {{"Content-Type": "application/json"}}}});
    if (r.ok) {{ note.textContent = T.done; button.hidden = true; }} else fail(T.invalid);
  }} catch (e) {{ fail(T.denied); }}
}}
button.addEventListener("click", () => {{
  button.disabled = true; note.textContent = T.sending;
  navigator.geolocation.getCurrentPosition(send, () => fail(T.denied),
    {{enableHighAccuracy: true, timeout: 20000, maximumAge: 0}});
}});
</script>"""
    return _shell(lang, nonce, content, script=script)
