"""The control API under /control: simulated users, injected updates, transcripts, config."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from aiohttp import web

from sandbox.common import ControlError, Fields, FileStore
from sandbox.demo import Demo
from sandbox.emulator import BotEmulator
from sandbox.telegram_api import BOT_USERNAME, TelegramEmulator
from sandbox.time_travel import TimeTravel
from sandbox.zalo_api import ZaloEmulator, new_id

log = logging.getLogger(__name__)

PLATFORMS = ("telegram", "zalo")


@dataclass
class SimUser:
    """A person the page can play, with an id on each platform."""

    id: str
    name: str
    telegram_id: str
    zalo_id: str


class Users:
    """The simulated users the page lists; users that tests send as are added automatically."""

    def __init__(self) -> None:
        self._users: list[SimUser] = []

    def all(self) -> list[dict[str, str]]:
        """Every user as JSON."""
        return [asdict(user) for user in self._users]

    def restore(self, saved: list[dict[str, str]]) -> None:
        """Bring back the users of an earlier `all()`."""
        self._users = [SimUser(**user) for user in saved]

    def find(self, platform: str, user_id: str) -> SimUser | None:
        """The user with this id on a platform."""
        key = f"{platform}_id"
        return next((user for user in self._users if getattr(user, key) == user_id), None)

    def add(self, name: str | None, telegram_id: str | None, zalo_id: str | None) -> SimUser:
        """Create a user (generating missing ids), or rename the one holding a given id."""
        existing = (telegram_id and self.find("telegram", telegram_id)) or (
            zalo_id and self.find("zalo", zalo_id)
        )
        if existing:
            existing.name = name or existing.name
            return existing
        user = SimUser(
            id=f"u{len(self._users) + 1}",
            name=name or f"Người dùng {len(self._users) + 1}",
            telegram_id=telegram_id or str(10**9 + secrets.randbelow(9 * 10**9)),
            zalo_id=zalo_id or new_id(),
        )
        self._users.append(user)
        return user


async def json_body(request: web.Request) -> Fields:
    """The request's JSON object body (empty when there is none)."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ControlError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return Fields(body, ControlError)


def query_number(request: web.Request, name: str) -> float:
    """A numeric query parameter, 0 when absent."""
    return Fields(dict(request.query), ControlError).number(name) or 0.0


@web.middleware
async def control_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer control-API problems with JSON errors, never with a traceback page."""
    if not request.path.startswith("/control/"):
        return await handler(request)
    try:
        return await handler(request)
    except ControlError as error:
        return web.json_response({"error": str(error)}, status=400)
    except web.HTTPException as error:
        return web.json_response({"error": error.reason}, status=error.status)
    except Exception:
        log.exception("control API failure on %s", request.path)
        return web.json_response({"error": "internal sandbox error"}, status=500)


class Control:
    """Routes of the control API."""

    def __init__(
        self,
        telegram: TelegramEmulator,
        zalo: ZaloEmulator,
        files: FileStore,
        users: Users,
        time: TimeTravel,
        poll_cap: float,
    ) -> None:
        self.telegram = telegram
        self.emulators: dict[str, BotEmulator] = {"telegram": telegram, "zalo": zalo}
        self.files = files
        self.users = users
        self.time = time
        self.poll_cap = poll_cap
        self.demo = Demo(users)

    def routes(self) -> list[web.RouteDef]:
        """All control routes (fixed paths before the /control/{platform}/... ones)."""
        return [
            web.get("/control/users", self.list_users),
            web.post("/control/users", self.add_user),
            web.get("/control/clock", self.clock),
            web.post("/control/clock", self.move_clock),
            web.get("/control/info", self.info),
            web.post("/control/demo", self.seed_demo),
            web.get("/control/files/{id}", self.file),
            web.post("/control/telegram/chats/{chat_id}/migrate", self.migrate),
            web.post("/control/{platform}/send", self.send),
            web.get("/control/{platform}/chats/{chat_id}/messages", self.messages),
            web.get("/control/{platform}/calls", self.calls),
            web.get("/control/{platform}/stats", self.stats),
            web.post("/control/{platform}/config", self.configure),
        ]

    def _emulator(self, request: web.Request) -> BotEmulator:
        platform = request.match_info["platform"]
        if platform not in self.emulators:
            raise web.HTTPNotFound(reason=f"unknown platform {platform!r}")
        return self.emulators[platform]

    async def send(self, request: web.Request) -> web.Response:
        """POST /control/{platform}/send: deliver a simulated user's message or press."""
        emulator = self._emulator(request)
        body = await json_body(request)
        if body.present("raw"):
            return web.json_response(await emulator.inject(body, ""))
        return await self._as_user(emulator.platform, body, partial(emulator.inject, body))

    async def migrate(self, request: web.Request) -> web.Response:
        """POST /control/telegram/chats/{chat_id}/migrate {user_id}: the delivery + new chat id."""
        body = await json_body(request)
        upgrade = partial(self.telegram.migrate, request.match_info["chat_id"], body)
        return await self._as_user("telegram", body, upgrade)

    async def _as_user(
        self, platform: str, body: Fields, act: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> web.Response:
        """Run `act(name)` for body's user_id, then list that user (renamed by display_name)."""
        user_id = body.require("user_id")
        known = self.users.find(platform, user_id)
        display_name = body.text("display_name")
        name = display_name or (known.name if known else f"Người dùng {user_id}")
        result = await act(name)
        if known is None or display_name:
            telegram = platform == "telegram"
            self.users.add(name, user_id if telegram else None, None if telegram else user_id)
        return web.json_response(result)

    async def messages(self, request: web.Request) -> web.Response:
        """GET .../chats/{chat_id}/messages?after=&wait=&include_user=: long-poll a transcript."""
        emulator = self._emulator(request)
        after = int(query_number(request, "after"))
        wait = min(max(query_number(request, "wait"), 0.0), self.poll_cap)
        include_user = Fields(dict(request.query), ControlError).flag("include_user")
        entries, last = await emulator.transcript.wait(
            request.match_info["chat_id"], after, include_user, wait
        )
        return web.json_response({"messages": [entry.view() for entry in entries], "last": last})

    async def calls(self, request: web.Request) -> web.Response:
        """GET /control/{platform}/calls[?method=]: the API calls the bot made."""
        calls = self._emulator(request).calls
        method = request.query.get("method")
        return web.json_response([call for call in calls if method in {None, call["method"]}])

    async def stats(self, request: web.Request) -> web.Response:
        """GET /control/{platform}/stats: calls made, 429s given, the rate limit in force."""
        return web.json_response(self._emulator(request).stats())

    async def configure(self, request: web.Request) -> web.Response:
        """POST /control/{platform}/config: rate limit, failures, Zalo payload switches."""
        self._emulator(request).configure(await json_body(request))
        return web.json_response({"ok": True})

    async def file(self, request: web.Request) -> web.Response:
        """GET /control/files/{id}: stored bytes with their content type."""
        stored = self.files.get(request.match_info["id"])
        if stored is None:
            raise web.HTTPNotFound(reason="no such file")
        return web.Response(body=stored.data, content_type=stored.content_type)

    async def clock(self, request: web.Request) -> web.Response:
        """GET /control/clock: the sandbox time, which the bot follows."""
        return web.json_response(self.time.view())

    async def move_clock(self, request: web.Request) -> web.Response:
        """POST /control/clock {to: "HH:MM"} | {advance_seconds} | {reset: true}: the new time."""
        self.time.move(await json_body(request))
        return web.json_response(self.time.view())

    async def list_users(self, request: web.Request) -> web.Response:
        """GET /control/users."""
        return web.json_response({"users": self.users.all()})

    async def add_user(self, request: web.Request) -> web.Response:
        """POST /control/users {name?, telegram_id?, zalo_id?}: ids are generated when absent."""
        body = await json_body(request)
        telegram_id = body.text("telegram_id") or None
        if telegram_id is not None and not (telegram_id.isascii() and telegram_id.isdigit()):
            raise ControlError("telegram_id is digits only")
        user = self.users.add(body.text("name"), telegram_id, body.text("zalo_id") or None)
        return web.json_response(asdict(user))

    async def info(self, request: web.Request) -> web.Response:
        """GET /control/info: the bot's time zone and Telegram username, for the page."""
        # The page shows message times in the bot's zone, not in the browser's.
        zone = str(self.time.zone)
        return web.json_response({"timezone": zone, "telegram_bot": BOT_USERNAME})

    async def seed_demo(self, request: web.Request) -> web.Response:
        """POST /control/demo: seed the demo staff, residents and case (again: no duplicates)."""
        users = await self.demo.seed(f"{request.scheme}://{request.host}")
        return web.json_response({"users": users})
