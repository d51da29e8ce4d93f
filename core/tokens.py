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
# A token for a time window (a shift, a bus trip) also carries when it starts: 41 characters.
_WINDOW_BODY_BYTES = _BODY_BYTES + _EXPIRY_BYTES
_MAC_BYTES = 12


class InvalidToken(Exception):
    """A token that was forged, damaged or has expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    """What a valid token says: which record, which version of it, from and until when."""

    id: str
    version: int
    expires_at: datetime | None
    not_before: datetime | None = None


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
    not_before: datetime | None = None,
) -> str:
    """A URL-safe token (35 chars, Telegram's deep-link alphabet) for one version of a
    record; 41 chars when it is valid only from `not_before`."""
    body = (
        key_id(keys.current)
        + version.to_bytes(_VERSION_BYTES, "big")
        + bytes.fromhex(record_id)
        + _minutes(expires_at)
        + (_minutes(not_before) if not_before else b"")
    )
    return base64.urlsafe_b64encode(body + _mac(keys.current, kind, body)).decode().rstrip("=")


def verify(keys: Keyring, kind: str, token: str, now: datetime) -> Claim:
    """Check a token's key, signature and time window; raises InvalidToken("forged",
    "expired" or "not_yet")."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise InvalidToken("forged") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    sized = len(body) in (_BODY_BYTES, _WINDOW_BODY_BYTES)
    key = keys.key(body[:_KID_BYTES]) if sized else None
    if key is None or not hmac.compare_digest(mac, _mac(key, kind, body)):
        raise InvalidToken("forged")
    version = int.from_bytes(body[_KID_BYTES : _KID_BYTES + _VERSION_BYTES], "big")
    record_end = _KID_BYTES + _VERSION_BYTES + _ID_BYTES
    record = body[_KID_BYTES + _VERSION_BYTES : record_end].hex()
    expires_at = _moment(body[record_end : record_end + _EXPIRY_BYTES])
    not_before = _moment(body[record_end + _EXPIRY_BYTES :])
    if expires_at is not None and expires_at <= now:
        raise InvalidToken("expired")
    if not_before is not None and now < not_before:
        raise InvalidToken("not_yet")
    return Claim(record, version, expires_at, not_before)


def _minutes(moment: datetime | None) -> bytes:
    """A moment as minutes since the epoch (0: none)."""
    return (int(moment.timestamp() // 60) if moment else 0).to_bytes(_EXPIRY_BYTES, "big")


def _moment(raw: bytes) -> datetime | None:
    minutes = int.from_bytes(raw, "big")
    return datetime.fromtimestamp(minutes * 60, UTC) if minutes else None


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
