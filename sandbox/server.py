"""The sandbox server: both emulators, the control API and the chat page on one aiohttp app."""

from __future__ import annotations

from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from sandbox.common import FileStore
from sandbox.control import Control, Users, control_errors
from sandbox.state import StateFile, note_changes
from sandbox.telegram_api import TelegramEmulator
from sandbox.time_travel import TimeTravel
from sandbox.zalo_api import ZaloEmulator

BOT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # the bot's default TIMEZONE; bot/app.py passes its own

STATIC_DIR = Path(__file__).parent / "static"
# Telegram accepts uploads up to 50 MB; leave room for the multipart envelope.
MAX_REQUEST_BYTES = 52 * 1024 * 1024
SHUTDOWN_TIMEOUT = 1.0
HOST = "127.0.0.1"


class Sandbox:
    """Local Telegram and Zalo Bot API emulators with a control API and a browser chat page.

    With a `state_dir` the users, chats, numbering and clock survive a restart. A rate limit
    (messages per second, None: none) makes that emulator answer sends beyond it with a 429, as
    the platform does; `POST /control/{platform}/config {"rate_limit_per_s": …}` changes it.
    """

    def __init__(
        self,
        telegram_token: str,
        zalo_token: str,
        port: int = 0,
        poll_timeout_cap: float = 30.0,
        state_dir: Path | None = None,
        zone: tzinfo = BOT_ZONE,
        telegram_rate_limit: float | None = None,
        zalo_rate_limit: float | None = None,
    ) -> None:
        self.port = port
        self.url = ""
        self.files = FileStore()
        self.users = Users()
        self.time = TimeTravel(zone)
        clock = self.time.clock
        self.telegram = TelegramEmulator(telegram_token, self.files, poll_timeout_cap, clock)
        self.zalo = ZaloEmulator(zalo_token, self.files, poll_timeout_cap, clock)
        self.telegram.set_rate_limit(telegram_rate_limit)
        self.zalo.set_rate_limit(zalo_rate_limit)
        self.control = Control(
            self.telegram, self.zalo, self.files, self.users, self.time, poll_timeout_cap
        )
        self._state = StateFile(state_dir, self._snapshot) if state_dir else None
        self._runner: web.AppRunner | None = None
        saved = self._state.load() if self._state else None
        if saved:
            self._restore(saved)

    def _snapshot(self) -> dict[str, Any]:
        return {
            "clock_offset_seconds": self.time.clock.offset.total_seconds(),
            "users": self.users.all(),
            "telegram": self.telegram.dump(),
            "zalo": self.zalo.dump(),
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        self.time.clock.offset = timedelta(seconds=saved["clock_offset_seconds"])
        self.users.restore(saved["users"])
        self.telegram.restore(saved["telegram"])
        self.zalo.restore(saved["zalo"])

    @property
    def telegram_api_base(self) -> str:
        """Base for aiogram's `TelegramAPIServer.from_base`."""
        return f"{self.url}/telegram"

    @property
    def zalo_api_base(self) -> str:
        """Base of the Zalo API: {base}/bot{token}/{method}."""
        return f"{self.url}/zalo"

    @property
    def page_url(self) -> str:
        """The browser chat page."""
        return f"{self.url}/"

    def build_app(self) -> web.Application:
        """The aiohttp application serving everything."""
        middlewares = [control_errors, *([note_changes(self._state)] if self._state else [])]
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=middlewares)
        bot_route = "/{platform}/bot{token}/{method}"
        app.add_routes(
            [
                web.route("*", bot_route.replace("{platform}", "telegram"), self.telegram.handle),
                web.route("*", bot_route.replace("{platform}", "zalo"), self.zalo.handle),
                web.get("/telegram/file/bot{token}/{path:.+}", self.telegram.download),
                *self.control.routes(),
                web.get("/", self._page),
                web.static("/static", STATIC_DIR),
            ]
        )
        return app

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def start(self) -> str:
        """Start serving; return the base URL (e.g. http://127.0.0.1:PORT)."""
        for emulator in (self.telegram, self.zalo):
            await emulator.open()
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{HOST}:{port}"
        self.files.base_url = self.url
        if self._state:
            self._state.start()
        return self.url

    async def stop(self) -> None:
        """Stop serving, release the HTTP clients and save the state."""
        for emulator in (self.telegram, self.zalo):
            await emulator.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.time.close()
        if self._state:
            await self._state.stop()
