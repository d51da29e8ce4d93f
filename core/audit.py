"""The audit trail's hash chain: each entry commits to the one before it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from core.models import AuditEntry

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    allowed: bool,
    target: str,
    details: dict[str, str],
) -> str:
    """SHA-256 over the previous hash and a canonical form of the entry."""
    body = json.dumps(
        [seq, at.isoformat(timespec="milliseconds"), actor, action, allowed, target, details],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(f"{prev_hash}{body}".encode()).hexdigest()


def chain_is_intact(entries: list[AuditEntry]) -> bool:
    """True when consecutive entries (oldest first) link and every hash matches its content."""
    for previous, entry in zip([None, *entries], entries, strict=False):
        if previous is not None and (
            entry.seq != previous.seq + 1 or entry.prev_hash != previous.hash
        ):
            return False
        expected = entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.allowed,
            entry.target,
            entry.details,
        )
        if expected != entry.hash:
            return False
    return True
