"""Signed, expiring tokens for deep links, and short codes people can type on Zalo."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

# No 0/O, 1/I/L: codes are read off a screen or paper and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_PREFIX = "KB"
_ID_BYTES = 6
_MAC_BYTES = 12


class InvalidToken(Exception):
    """A token that was forged, damaged or has expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    """What a valid token says: which record and until when."""

    id: str
    expires_at: datetime


def _mac(secret: bytes, kind: str, body: bytes) -> bytes:
    return hmac.new(secret, kind.encode() + b"|" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def new_id() -> str:
    """A random record id that fits a token (12 hex characters)."""
    return secrets.token_hex(_ID_BYTES)


def sign(secret: bytes, kind: str, record_id: str, expires_at: datetime) -> str:
    """A URL-safe token (≤ 64 chars, Telegram's deep-link alphabet) binding kind, id and expiry."""
    body = bytes.fromhex(record_id) + int(expires_at.timestamp() // 60).to_bytes(4, "big")
    token = base64.urlsafe_b64encode(body + _mac(secret, kind, body)).decode().rstrip("=")
    return token


def verify(secret: bytes, kind: str, token: str, now: datetime) -> Claim:
    """Check a token's signature and expiry; raises InvalidToken("forged" or "expired")."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise InvalidToken("forged") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(body) != _ID_BYTES + 4 or not hmac.compare_digest(mac, _mac(secret, kind, body)):
        raise InvalidToken("forged")
    expires_at = datetime.fromtimestamp(int.from_bytes(body[_ID_BYTES:], "big") * 60, UTC)
    if expires_at <= now:
        raise InvalidToken("expired")
    return Claim(body[:_ID_BYTES].hex(), expires_at)


def new_code() -> str:
    """A short code to type on Zalo, e.g. "KB7F3K9Q"."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def normalize_code(text: str) -> str | None:
    """ "kb 7f3-k9q" → "KB7F3K9Q"; None when the text is not shaped like a code."""
    compact = "".join(text.split()).replace("-", "").upper()
    body = compact.removeprefix(CODE_PREFIX)
    if compact == body or len(body) != 6 or any(c not in CODE_ALPHABET for c in body):
        return None
    return compact
