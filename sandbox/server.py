"""The sandbox server: both emulators, the control API and the chat page on one aiohttp app."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from sandbox.common import FileStore
from sandbox.control import Control, Users, control_errors
from sandbox.telegram_api import TelegramEmulator
from sandbox.zalo_api import ZaloEmulator

STATIC_DIR = Path(__file__).parent / "static"
# Telegram accepts uploads up to 50 MB; leave room for the multipart envelope.
MAX_REQUEST_BYTES = 52 * 1024 * 1024
SHUTDOWN_TIMEOUT = 1.0
HOST = "127.0.0.1"


class Sandbox:
    """Local Telegram and Zalo Bot API emulators with a control API and a browser chat page."""

    def __init__(
        self,
        telegram_token: str,
        zalo_token: str,
        port: int = 0,
        poll_timeout_cap: float = 30.0,
    ) -> None:
        self.port = port
        self.url = ""
        self.files = FileStore()
        self.users = Users()
        self.telegram = TelegramEmulator(telegram_token, self.files, poll_timeout_cap)
        self.zalo = ZaloEmulator(zalo_token, self.files, poll_timeout_cap)
        self.control = Control(self.telegram, self.zalo, self.files, self.users, poll_timeout_cap)
        self._runner: web.AppRunner | None = None

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
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[control_errors])
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
        return self.url

    async def stop(self) -> None:
        """Stop serving and release the HTTP clients."""
        for emulator in (self.telegram, self.zalo):
            await emulator.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
