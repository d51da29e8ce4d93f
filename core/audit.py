"""The audit trail's chain: each entry seals the previous entry's hash and its own content with
an HMAC whose key is kept apart from the database, so a rewritten trail does not verify."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC

from core.models import AuditEntry

GENESIS = "0" * 64


def canonical(entry: AuditEntry) -> str:
    """The entry's content (all but its hashes) as one stable string."""
    return json.dumps(
        [
            entry.seq,
            entry.at.astimezone(UTC).isoformat(timespec="milliseconds"),
            entry.actor,
            entry.action,
            entry.allowed,
            entry.target,
            entry.details,
            entry.person,
            entry.purpose,
        ],
        ensure_ascii=False,
        sort_keys=True,
    )


def entry_hash(key: bytes, entry: AuditEntry) -> str:
    """HMAC-SHA256 under `key` of the previous entry's hash and this entry's content."""
    message = f"{entry.prev_hash}{canonical(entry)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _plain_hash(entry: AuditEntry) -> str:
    """What someone without the key would compute: SHA-256 with no secret."""
    return hashlib.sha256(f"{entry.prev_hash}{canonical(entry)}".encode()).hexdigest()


def flaw(key: bytes, entry: AuditEntry, previous: AuditEntry | None) -> str:
    """Why `entry` breaks the chain after `previous` (None: it is the first); "" when sound."""
    expected_seq = previous.seq + 1 if previous else 1
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing (next found is {entry.seq})"
    if entry.prev_hash != (previous.hash if previous else GENESIS):
        return "it does not link to the entry before it"
    if hmac.compare_digest(entry.hash, entry_hash(key, entry)):
        return ""
    if hmac.compare_digest(entry.hash, _plain_hash(entry)):
        return "its hash is a plain SHA-256, not sealed with AUDIT_KEY (written without the key)"
    return "its hash does not match its content (changed, or sealed with another key)"


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the whole chain: `broken_at` is 0 when it is intact."""

    count: int
    head: str
    broken_at: int = 0
    reason: str = ""

    @property
    def intact(self) -> bool:
        """Whether every entry links and matches its content."""
        return self.broken_at == 0

    def describe(self) -> str:
        """One line for the operator."""
        if self.intact:
            return f"audit chain intact: {self.count} entries, head {self.head}"
        return f"audit chain broken at entry {self.broken_at}: {self.reason}"
