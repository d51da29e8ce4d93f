"""Checkpoint tokens: what a poster's QR code carries, and checking one that was scanned.

A token signs the checkpoint's id and version (core/tokens.py): revoking a checkpoint moves
its version on, so every poster printed before stops working; retiring it stops them all.
A poster printed for one shift or bus trip carries a token valid only in that window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Card, Checkpoint, CheckpointKind
from core.tokens import Claim, InvalidToken, Keyring, sign, verify

CHECKPOINT_KIND = "cp"  # also the `/start` payload's prefix: "cp_<token>"
CARD_KIND = "pc"  # a personal card's QR holds "KHAIBAO-PC:<token>"
_CARD_PREFIX = "KHAIBAO-PC:"
LANDING_PATH = "/q/"
# A checkpoint's token inside what a QR code holds: our landing page or a Telegram link.
_TOKEN_IN_QR = re.compile(
    rf"(?:{LANDING_PATH}|[?&]start={CHECKPOINT_KIND}_)([A-Za-z0-9_-]{{20,64}})"
)


@dataclass(frozen=True)
class VisitRules:
    """How long a visit may stay open, and what counts as one scan."""

    longest: timedelta = timedelta(hours=12)  # closed automatically after this
    bus_trip: timedelta = timedelta(hours=3)  # a shuttle bus trip is shorter
    double_tap: timedelta = timedelta(minutes=1)  # a second scan this soon repeats the first

    def due(self, kind: CheckpointKind, at: datetime) -> datetime:
        """When a visit that began `at` closes by itself."""
        return at + (self.bus_trip if kind is CheckpointKind.BUS else self.longest)


def checkpoint_token(
    keys: Keyring, checkpoint: Checkpoint, window: tuple[datetime, datetime] | None = None
) -> str:
    """The signed token of a checkpoint's current version (35 characters); with a `window`
    (a shift, a bus trip), valid only from its start to its end (41 characters)."""
    start, end = window or (None, None)
    return sign(
        keys, CHECKPOINT_KIND, checkpoint.id, end, version=checkpoint.version, not_before=start
    )


def start_payload(token: str) -> str:
    """The Telegram `/start` payload for a token (fits the 64-character limit)."""
    return f"{CHECKPOINT_KIND}_{token}"


def checkpoint_link(bot_username: str, token: str) -> str:
    """The Telegram deep link that opens the bot on this checkpoint."""
    return f"https://t.me/{bot_username}?start={start_payload(token)}"


def landing_url(public_base_url: str, token: str) -> str:
    """Our web page for a scanned poster: the Telegram link and the code for Zalo."""
    return f"{public_base_url.rstrip('/')}{LANDING_PATH}{token}"


def qr_target(token: str, public_base_url: str | None, bot_username: str) -> str:
    """What a poster's QR encodes: the landing page when we have a public URL, else Telegram."""
    if public_base_url:
        return landing_url(public_base_url, token)
    return checkpoint_link(bot_username, token)


def read_checkpoint_token(keys: Keyring, token: str, now: datetime) -> Claim:
    """The checkpoint a token names; raises InvalidToken("forged", "expired" or "not_yet")."""
    return verify(keys, CHECKPOINT_KIND, token, now)


def verify_checkpoint(keys: Keyring, token: str, checkpoint: Checkpoint, now: datetime) -> None:
    """Accept a token of this checkpoint's current version only.

    Raises InvalidToken: "forged" (bad signature, unknown key, another checkpoint's token),
    "expired" or "not_yet" (another shift's poster), "retired" (the checkpoint is out of use)
    or "revoked" (older posters).
    """
    claim = read_checkpoint_token(keys, token, now)
    if claim.id != checkpoint.id:
        raise InvalidToken("forged")
    if checkpoint.retired:
        raise InvalidToken("retired")
    if claim.version != checkpoint.version:
        raise InvalidToken("revoked")


def token_in_qr(text: str) -> str | None:
    """The checkpoint token in a decoded QR text (a poster's URL), if it holds one."""
    found = _TOKEN_IN_QR.search(text)
    return found.group(1) if found else None


def card_qr(keys: Keyring, card: Card) -> str:
    """What a personal card's QR code holds: its signed token, not a link to open."""
    return _CARD_PREFIX + sign(keys, CARD_KIND, card.id, version=card.version)


def card_in_qr(keys: Keyring, text: str, now: datetime) -> Claim | None:
    """The card a decoded QR text names, when it is a genuine personal card."""
    if not text.startswith(_CARD_PREFIX):
        return None
    try:
        return verify(keys, CARD_KIND, text.removeprefix(_CARD_PREFIX), now)
    except InvalidToken:
        return None
