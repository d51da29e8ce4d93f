"""Our web server: health check, media for Zalo, and the platforms' webhooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from core.channel import MediaStore

HealthCheck = Callable[[], Awaitable[dict[str, object]]]


def build_web_app(media: MediaStore, health: HealthCheck) -> web.Application:
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
    return app
