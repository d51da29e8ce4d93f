"""What both emulators share: errors, parameters, waiting, rate limits, failures, files."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from core.ports import Clock

# Parameters that aiogram sends as JSON-encoded strings in forms (the call log decodes them).
JSON_PARAMS = frozenset({"reply_markup", "commands", "allowed_updates"})
FETCH_LIMIT = 20 * 1024 * 1024


class ApiError(Exception):
    """An error a Bot API answers with `ok: false` (and `parameters` such as retry_after)."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters or {}


class ControlError(Exception):
    """A malformed control-API request (answered with HTTP 400 and a JSON error)."""


def bad_request(message: str) -> ApiError:
    """A Bot API 400 error in Telegram's wording, also used for Zalo."""
    return ApiError(400, f"Bad Request: {message}")


def unix_s(clock: Clock) -> int:
    """A clock's time in Unix seconds (Telegram dates)."""
    return int(clock.now().timestamp())


def unix_ms(clock: Clock) -> int:
    """A clock's time in Unix milliseconds (Zalo dates)."""
    return int(clock.now().timestamp() * 1000)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes

    def summary(self) -> dict[str, Any]:
        """What the call log shows instead of the bytes."""
        return {"file": self.filename, "size": len(self.data), "content_type": self.content_type}


class Fields:
    """Typed request values (JSON, form, multipart or query) raising the caller's error."""

    def __init__(
        self,
        values: Mapping[str, Any],
        error: Callable[[str], Exception],
        uploads: Mapping[str, Upload] | None = None,
    ) -> None:
        self._values = dict(values)
        self._uploads = dict(uploads or {})
        self._error = error

    def present(self, name: str) -> bool:
        """True when the value is given and neither null nor false."""
        value = self._values.get(name)
        return value is not None and value is not False

    def keys(self) -> set[str]:
        """Names of all values given."""
        return set(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def text(self, name: str) -> str | None:
        """A string value (numbers are accepted and converted), or None when absent."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._error(f"{name} must be a string")
        return str(value)

    def require(self, name: str, message: str | None = None) -> str:
        """A non-empty string value."""
        value = self.text(name)
        if not value:
            raise self._error(message or f"{name} is required")
        return value

    def integer(self, name: str) -> int | None:
        """An integer value, from a number or a decimal string."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isascii():
            try:
                return int(value)
            except ValueError:
                pass
        raise self._error(f"{name} must be an integer")

    def number(self, name: str) -> float | None:
        """A finite number, from a number or a string."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self._error(f"{name} must be a number")
        try:
            result = float(value)
        except ValueError:
            raise self._error(f"{name} must be a number") from None
        if not math.isfinite(result):
            raise self._error(f"{name} must be a finite number")
        return result

    def flag(self, name: str) -> bool:
        """A boolean value; forms send "true"/"false"."""
        value = self._values.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in {"true", "1", "false", "0", ""}:
            return value.lower() in {"true", "1"}
        if isinstance(value, int):
            return value != 0
        raise self._error(f"{name} must be a boolean")

    def json(self, name: str) -> Any:
        """An object or list, given directly (JSON body) or as a JSON-encoded string (forms)."""
        value = self._values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise self._error(f"can't parse {name} JSON object") from None
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        """A JSON object value, or None when absent."""
        value = self.json(name)
        if value is not None and not isinstance(value, dict):
            raise self._error(f"{name} must be an object")
        return value

    def base64(self, name: str) -> bytes:
        """Bytes given as a base64 string."""
        encoded = self.require(name)
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self._error(f"{name} must be base64") from None

    def upload(self, name: str) -> Upload | None:
        """A file sent as multipart, either in field `name` or via an `attach://` reference."""
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = self._uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise self._error(f"file {value} is not attached")
            return upload
        return self._uploads.get(name)

    def loggable(self) -> dict[str, Any]:
        """Values as the call log shows them: objects decoded, files summarised, no bytes."""
        shown: dict[str, Any] = {}
        attached: set[str] = set()
        for name, value in self._values.items():
            if isinstance(value, str) and value.startswith("attach://"):
                key = value.removeprefix("attach://")
                attached.add(key)
                upload = self._uploads.get(key)
                shown[name] = upload.summary() if upload else value
            elif name in JSON_PARAMS and isinstance(value, str):
                shown[name] = _maybe_json(value)
            else:
                shown[name] = value
        for name, upload in self._uploads.items():
            if name not in attached:
                shown[name] = upload.summary()
        return shown


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_fields(request: web.Request, error: Callable[[str], Exception]) -> Fields:
    """Collect query, JSON, urlencoded and multipart values of a request."""
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise error("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise error("JSON body must be an object")
        values.update(body)
    elif request.content_type in {"multipart/form-data", "application/x-www-form-urlencoded"}:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                uploads[name] = Upload(value.filename, value.content_type, value.file.read())
            elif isinstance(value, str):
                values[name] = value
            else:
                uploads[name] = Upload(name, "application/octet-stream", bytes(value))
    return Fields(values, error, uploads)


class Changes:
    """Wakes long-poll waiters whenever state they watch may have changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, ready: Callable[[], bool], timeout: float) -> None:
        """Return once `ready()` is true or `timeout` seconds have passed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not ready():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                return


class RateWindow:
    """At most `rate` calls per second in any one-second span (a sliding window), as the
    platforms count: a burst on top of a steady rate is refused, not absorbed."""

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        # A fractional rate (2.5/s) allows whole calls in a shorter span (2 per 0.8 s).
        self._count = max(1, int(rate))
        self._span = self._count / rate
        self._granted: deque[float] = deque()
        self._now = now

    def take(self) -> float:
        """Count a call: 0 when allowed, else the seconds until one will be."""
        now = self._now()
        while self._granted and self._granted[0] <= now - self._span:
            self._granted.popleft()
        if len(self._granted) < self._count:
            self._granted.append(now)
            return 0.0
        return self._granted[0] + self._span - now


@dataclass
class FailRule:
    """Make the next `count` calls of `method` (optionally to one chat) fail."""

    method: str
    error_code: int
    count: int | None
    description: str | None
    chat_id: str | None
    # Copied into the error body's `parameters` (retry_after, migrate_to_chat_id, ...).
    parameters: dict[str, Any]

    def matches(self, method: str, chat_id: str | None) -> bool:
        """Whether this rule applies to a call."""
        return self.method in {"*", method} and self.chat_id in {None, chat_id}


class Failures:
    """Injected failures, consumed call by call."""

    def __init__(self) -> None:
        self._rules: list[FailRule] = []

    def replace(self, rules: list[FailRule]) -> None:
        """Drop the current rules and use these."""
        self._rules = rules

    def take(self, method: str, chat_id: str | None) -> FailRule | None:
        """The first rule matching this call, counting it down."""
        for rule in self._rules:
            if rule.matches(method, chat_id):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
        return None


def parse_fail_rules(value: Any) -> list[FailRule]:
    """Turn the control API's `fail` value (object, list or null) into rules."""
    if value is None:
        return []
    rules: list[FailRule] = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            raise ControlError("fail must be an object, a list of objects or null")
        rules.append(_fail_rule(Fields(item, ControlError)))
    return rules


def _fail_rule(spec: Fields) -> FailRule:
    # An explicit "count": null means "until reconfigured".
    count = spec.integer("count") if "count" in spec else 1
    if count is not None and count < 1:
        raise ControlError("fail.count must be at least 1 (or null for no limit)")
    parameters = dict(spec.mapping("parameters") or {})
    retry_after = spec.integer("retry_after")
    if retry_after is not None:
        parameters["retry_after"] = retry_after
    return FailRule(
        method=spec.require("method"),
        error_code=spec.integer("error_code") or 429,
        count=count,
        description=spec.text("description"),
        chat_id=spec.text("chat_id"),
        parameters=parameters,
    )


@dataclass(frozen=True)
class StoredFile:
    """Bytes the sandbox serves at /control/files/{id}."""

    id: str
    data: bytes
    content_type: str


class FileStore:
    """User uploads and bot-sent media, under unguessable ids."""

    def __init__(self) -> None:
        self.base_url = ""
        self._files: dict[str, StoredFile] = {}

    def put(self, data: bytes, content_type: str) -> StoredFile:
        """Store bytes and return the new entry."""
        stored = StoredFile(secrets.token_urlsafe(18), data, content_type)
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The stored file with this id, if any."""
        return self._files.get(file_id)

    def url(self, stored: StoredFile) -> str:
        """The absolute URL serving a stored file."""
        return f"{self.base_url}/control/files/{stored.id}"


class FetchError(Exception):
    """Fetching a URL the bot gave us failed."""


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[bytes, str]:
    """GET a URL as a platform would: return its bytes and content type."""
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise FetchError(f"HTTP {response.status} from {url}")
            data = await response.content.read(FETCH_LIMIT + 1)
            if len(data) > FETCH_LIMIT:
                raise FetchError(f"{url} is larger than {FETCH_LIMIT} bytes")
            return data, response.content_type
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise FetchError(f"{type(error).__name__}: {error}") from error


def webhook_url_ok(url: str) -> bool:
    """Platforms want HTTPS webhooks; the sandbox also allows plain HTTP on loopback."""
    parsed = URL(url)
    if not parsed.host:
        return False
    loopback = parsed.host in {"localhost", "::1"} or parsed.host.startswith("127.")
    return parsed.scheme == "https" or (parsed.scheme == "http" and loopback)
