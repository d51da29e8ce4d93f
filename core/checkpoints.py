"""Checkpoint tokens: what a poster's QR code carries, and checking one that was scanned.

A token signs the checkpoint's id and version (core/tokens.py): revoking a checkpoint moves
its version on, so every poster printed before stops working; retiring it stops them all.
Tokens never expire for now (per-shift or per-trip tokens will carry an expiry).
"""

from __future__ import annotations

from datetime import datetime

from core.models import Checkpoint
from core.tokens import Claim, InvalidToken, Keyring, sign, verify

CHECKPOINT_KIND = "cp"  # also the `/start` payload's prefix: "cp_<token>"
LANDING_PATH = "/q/"


def checkpoint_token(keys: Keyring, checkpoint: Checkpoint) -> str:
    """The signed token of a checkpoint's current version (35 characters)."""
    return sign(keys, CHECKPOINT_KIND, checkpoint.id, version=checkpoint.version)


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
    """The checkpoint a token names; raises InvalidToken("forged" or "expired")."""
    return verify(keys, CHECKPOINT_KIND, token, now)


def verify_checkpoint(keys: Keyring, token: str, checkpoint: Checkpoint, now: datetime) -> None:
    """Accept a token of this checkpoint's current version only.

    Raises InvalidToken: "forged" (bad signature, unknown key, another checkpoint's token),
    "expired", "retired" (the checkpoint is out of use) or "revoked" (older posters).
    """
    claim = read_checkpoint_token(keys, token, now)
    if claim.id != checkpoint.id:
        raise InvalidToken("forged")
    if checkpoint.retired:
        raise InvalidToken("retired")
    if claim.version != checkpoint.version:
        raise InvalidToken("revoked")
