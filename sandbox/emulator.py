"""What both Bot API emulators do alike: routing, call log, failures, rate limit, delivery."""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from core.ports import Clock
from sandbox.common import (
    ApiError,
    Changes,
    ControlError,
    FailRule,
    Failures,
    Fields,
    FileStore,
    RateWindow,
    bad_request,
    parse_fail_rules,
    read_fields,
    unix_ms,
)
from sandbox.model import Transcript

log = logging.getLogger(__name__)

Handler = Callable[[Fields], Awaitable[dict[str, Any]]]

CONTENT_KEYS = (
    "text",
    "photo",
    "document",
    "contact",
    "location",
    "callback_data",
    "sticker",
    "video",
    "unsupported",
    "raw",
)
COMMON_CONFIG = frozenset({"rate_limit_per_s", "fail"})
WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=60)


def ok(result: Any, description: str | None = None) -> dict[str, Any]:
    """A successful Bot API answer."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return body


@dataclass
class Webhook:
    """A registered webhook."""

    url: str
    secret: str | None
    updated_at: int


class BotEmulator(ABC):
    """One bot's API endpoint plus the state the control API inspects."""

    platform: ClassVar[str]
    webhook_header: ClassVar[str]
    content_keys: ClassVar[frozenset[str]]
    config_keys: ClassVar[frozenset[str]] = COMMON_CONFIG

    def __init__(self, token: str, files: FileStore, poll_cap: float, clock: Clock) -> None:
        self.token = token
        self.clock = clock
        self.files = files
        self.poll_cap = poll_cap
        self.transcript = Transcript()
        self.calls: list[dict[str, Any]] = []
        self.failures = Failures()
        self.limit: RateWindow | None = None  # sends and edits per second, when limited
        self.throttled = 0  # 429 answers given (the limit's and injected ones)
        self.webhook: Webhook | None = None
        self.updates = Changes()
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the HTTP client used for webhooks and fetching media."""
        self._http = aiohttp.ClientSession(timeout=WEBHOOK_TIMEOUT)

    async def close(self) -> None:
        """Release the HTTP client and wake pending long polls."""
        if self._http is not None:
            await self._http.close()
        self.updates.notify()

    @property
    def http(self) -> aiohttp.ClientSession:
        """The HTTP client (the sandbox must be started)."""
        if self._http is None:
            raise RuntimeError("the sandbox is not started")
        return self._http

    def dump(self) -> dict[str, Any]:
        """What survives a restart, as JSON: the chats (subclasses add their counters)."""
        return {"chats": self.transcript.dump()}

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue from a `dump`."""
        self.transcript.restore(saved["chats"])

    # ---- the Bot API endpoint -------------------------------------------------------------

    @abstractmethod
    def method(self, name: str) -> Handler | None:
        """The handler of an API method, or None when unknown."""

    @abstractmethod
    def unknown_method(self) -> ApiError:
        """The error for an unknown method name."""

    @abstractmethod
    def rate_limited(self, wait: float) -> ApiError:
        """The error for a call over the rate limit."""

    @abstractmethod
    def default_description(self, code: int, parameters: dict[str, Any]) -> str:
        """The platform's usual description of an error code."""

    def default_parameters(self, code: int) -> dict[str, Any]:
        """The `parameters` the platform adds to an error of this code (none by default)."""
        return {}

    def error_status(self, error: ApiError) -> int:
        """The HTTP status sent with an error body."""
        return error.code

    async def handle(self, request: web.Request) -> web.Response:
        """Serve POST/GET {base}/bot{token}/{method}."""
        name = request.match_info["method"]
        call: dict[str, Any] = {
            "method": name,
            "params": {},
            "ok": True,
            "error_code": None,
            "time": time.time(),
        }
        self.calls.append(call)
        try:
            body = await self._run(request, name, call)
        except ApiError as error:
            call["ok"], call["error_code"] = False, error.code
            if error.code == 429:
                self.throttled += 1
            return self.error_response(error)
        except web.HTTPRequestEntityTooLarge:
            call["ok"], call["error_code"] = False, 413
            return self.error_response(ApiError(413, "Request Entity Too Large"))
        except Exception:
            log.exception("%s %s failed inside the sandbox", self.platform, name)
            call["ok"], call["error_code"] = False, 500
            return self.error_response(ApiError(500, "Internal Server Error"))
        return web.json_response(body)

    async def _run(self, request: web.Request, name: str, call: dict[str, Any]) -> dict[str, Any]:
        if not secrets.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            raise ApiError(401, "Unauthorized")
        handler = self.method(name)
        if handler is None:
            raise self.unknown_method()
        params = await read_fields(request, bad_request)
        call["params"] = params.loggable()
        self._gate(name, params)
        return await handler(params)

    def _gate(self, method: str, params: Fields) -> None:
        rule = self.failures.take(method, params.text("chat_id"))
        if rule is not None:
            raise self.injected(rule)
        if self.limit is not None and method.startswith(("send", "edit")):
            wait = self.limit.take()
            if wait > 0:
                raise self.rate_limited(wait)

    def injected(self, rule: FailRule) -> ApiError:
        """The error an injected failure produces."""
        parameters = {**self.default_parameters(rule.error_code), **rule.parameters}
        description = rule.description or self.default_description(rule.error_code, parameters)
        return ApiError(rule.error_code, description, parameters)

    def error_response(self, error: ApiError) -> web.Response:
        """The `ok: false` answer for an error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.code,
            "description": error.description,
        }
        if error.parameters:
            body["parameters"] = error.parameters
        return web.json_response(body, status=self.error_status(error))

    # ---- webhook --------------------------------------------------------------------------

    def set_webhook(self, url: str, secret: str | None) -> Webhook:
        """Register a webhook; long polls waiting now must notice."""
        self.webhook = Webhook(url, secret, unix_ms(self.clock))
        self.updates.notify()
        return self.webhook

    def webhook_body(self, update: dict[str, Any]) -> dict[str, Any]:
        """The JSON a webhook receives for an update."""
        return update

    async def _post_webhook(self, hook: Webhook, update: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if hook.secret:
            headers[self.webhook_header] = hook.secret
        data = json.dumps(self.webhook_body(update), ensure_ascii=False).encode()
        try:
            async with self.http.post(hook.url, data=data, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            return delivery(update, "webhook_failed", error=f"{type(error).__name__}: {error}")
        return delivery(update, "webhook", status=response.status)

    # ---- inbound updates (control API) ----------------------------------------------------

    @abstractmethod
    def enqueue(self, update: dict[str, Any]) -> str:
        """Queue an update for getUpdates; return the delivery label."""

    @abstractmethod
    async def build_update(self, kind: str, body: Fields, name: str) -> dict[str, Any]:
        """Build the platform's update for a simulated user action (and log it)."""

    def accepts(self, update: dict[str, Any]) -> bool:
        """Whether the bot subscribed to this kind of update."""
        return True

    @abstractmethod
    def check_raw(self, update: dict[str, Any]) -> None:
        """Reject a raw update the platform could never deliver."""

    async def inject(self, body: Fields, name: str) -> dict[str, Any]:
        """Deliver one simulated user action via the webhook or the getUpdates queue."""
        kind = content_kind(body, self.content_keys, self.platform)
        if kind == "raw":
            update = body.mapping("raw") or {}
            self.check_raw(update)
        else:
            update = await self.build_update(kind, body, name)
        return await self.deliver(update)

    async def deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Push an update to the webhook, or queue it for getUpdates, unless it is filtered."""
        if not self.accepts(update):
            return delivery(update, "filtered")
        if self.webhook is not None:
            return await self._post_webhook(self.webhook, update)
        return delivery(update, self.enqueue(update))

    # ---- control configuration ------------------------------------------------------------

    def set_rate_limit(self, rate: float | None) -> None:
        """Refuse sends and edits beyond `rate` a second in any one-second span (None: none)."""
        self.limit = RateWindow(rate) if rate else None

    def stats(self) -> dict[str, Any]:
        """Counters for benches: calls made, 429s given, the limit in force."""
        rate = self.limit.rate if self.limit else None
        return {"calls": len(self.calls), "throttled": self.throttled, "rate_limit_per_s": rate}

    def configure(self, cfg: Fields) -> None:
        """Apply a POST /control/{platform}/config body (any subset of keys)."""
        unknown = cfg.keys() - self.config_keys
        if unknown:
            raise ControlError(f"unknown {self.platform} config keys: {sorted(unknown)}")
        if "rate_limit_per_s" in cfg:
            rate = cfg.number("rate_limit_per_s")
            if rate is not None and rate <= 0:
                raise ControlError("rate_limit_per_s must be positive or null")
            self.set_rate_limit(rate)
        if "fail" in cfg:
            self.failures.replace(parse_fail_rules(cfg.json("fail")))


def content_kind(body: Fields, supported: frozenset[str], platform: str) -> str:
    """The single content field of a control send request."""
    given = [key for key in CONTENT_KEYS if body.present(key)]
    if len(given) != 1:
        raise ControlError(f"give exactly one of {', '.join(sorted(supported))}")
    if given[0] not in supported:
        raise ControlError(f"{platform} users cannot send {given[0]}")
    return given[0]


def delivery(
    update: dict[str, Any], how: str, status: int | None = None, error: str | None = None
) -> dict[str, Any]:
    """The response of POST /control/{platform}/send."""
    return {"update": update, "webhook_status": status, "delivery": how, "error": error}


def retry_seconds(wait: float) -> int:
    """A whole number of seconds to ask a client to wait (at least one)."""
    return max(1, math.ceil(wait))
