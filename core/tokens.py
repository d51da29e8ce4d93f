"""Signed tokens for deep links and posters, and short codes people can type on Zalo.

A token names its signing key (key id) and the version of the record it points to, so a
printed QR poster can be revoked (the record's version moves on) and the key rotated (old
keys stay in the keyring for verification until every poster signed with them is retired).
"""

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
CODE_LENGTH = 8  # after the prefix: 31^8 ≈ 8.5e11 codes, against a few guesses an hour
_ID_BYTES = 6
_KID_BYTES = 2
_VERSION_BYTES = 2
_EXPIRY_BYTES = 4  # minutes since the epoch; 0 = never expires
_BODY_BYTES = _KID_BYTES + _VERSION_BYTES + _ID_BYTES + _EXPIRY_BYTES
_MAC_BYTES = 12


class InvalidToken(Exception):
    """A token that was forged, damaged or has expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    """What a valid token says: which record, which version of it, and until when."""

    id: str
    version: int
    expires_at: datetime | None


@dataclass(frozen=True)
class Keyring:
    """The key that signs new tokens and the retired keys still accepted when verifying."""

    current: bytes
    retired: tuple[bytes, ...] = ()

    def key(self, kid: bytes) -> bytes | None:
        """The key with this id, current or retired."""
        return next((k for k in (self.current, *self.retired) if key_id(k) == kid), None)


def key_id(key: bytes) -> bytes:
    """A short, public name for a key (not enough to learn anything about it)."""
    return hashlib.sha256(b"khaibao-key-id|" + key).digest()[:_KID_BYTES]


def _mac(key: bytes, kind: str, body: bytes) -> bytes:
    return hmac.new(key, kind.encode() + b"|" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def new_id() -> str:
    """A random record id that fits a token (12 hex characters)."""
    return secrets.token_hex(_ID_BYTES)


def sign(
    keys: Keyring,
    kind: str,
    record_id: str,
    expires_at: datetime | None = None,
    version: int = 0,
) -> str:
    """A URL-safe token (35 chars, Telegram's deep-link alphabet) for one version of a record."""
    minutes = int(expires_at.timestamp() // 60) if expires_at else 0
    body = (
        key_id(keys.current)
        + version.to_bytes(_VERSION_BYTES, "big")
        + bytes.fromhex(record_id)
        + minutes.to_bytes(_EXPIRY_BYTES, "big")
    )
    return base64.urlsafe_b64encode(body + _mac(keys.current, kind, body)).decode().rstrip("=")


def verify(keys: Keyring, kind: str, token: str, now: datetime) -> Claim:
    """Check a token's key, signature and expiry; raises InvalidToken("forged" or "expired")."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise InvalidToken("forged") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    key = keys.key(body[:_KID_BYTES]) if len(body) == _BODY_BYTES else None
    if key is None or not hmac.compare_digest(mac, _mac(key, kind, body)):
        raise InvalidToken("forged")
    version = int.from_bytes(body[_KID_BYTES : _KID_BYTES + _VERSION_BYTES], "big")
    record = body[_KID_BYTES + _VERSION_BYTES : -_EXPIRY_BYTES].hex()
    minutes = int.from_bytes(body[-_EXPIRY_BYTES:], "big")
    expires_at = datetime.fromtimestamp(minutes * 60, UTC) if minutes else None
    if expires_at is not None and expires_at <= now:
        raise InvalidToken("expired")
    return Claim(record, version, expires_at)


def new_code() -> str:
    """A short code to type on Zalo, e.g. "KB7F3K9QXM"."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """ "kb 7f3k-9qxm" → "KB7F3K9QXM"; None when the text is not shaped like a code."""
    compact = "".join(text.split()).replace("-", "").upper()
    body = compact.removeprefix(CODE_PREFIX)
    if compact == body or len(body) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in body):
        return None
    return compact
