"""What handlers need from storage and the outside world; storage/ implements these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from core.channel import Platform
from core.models import Account, AuditEntry, Conversation, OutgoingMessage, Person, Staff


class Clock(Protocol):
    """The one source of current time (tests inject a fixed one)."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class UpdateLog(Protocol):
    """Remembers processed update keys so a redelivered update has no second effect."""

    async def first_time(self, key: str) -> bool:
        """Record the key; False when it was already recorded."""
        ...


class People(Protocol):
    """Personal records."""

    async def add(self, person: Person) -> None:
        """Store a new person."""
        ...

    async def get(self, person_id: str) -> Person | None:
        """A person by id."""
        ...

    async def delete(self, person_id: str) -> None:
        """Erase a person's record."""
        ...


class Accounts(Protocol):
    """Chat accounts bound to people."""

    async def get(self, platform: Platform, user_id: str) -> Account | None:
        """The account of a platform user, if registered."""
        ...

    async def save(self, account: Account) -> None:
        """Create or replace an account."""
        ...

    async def delete(self, platform: Platform, user_id: str) -> None:
        """Forget an account."""
        ...


class Conversations(Protocol):
    """Conversation state per (platform, user)."""

    async def get(self, platform: Platform, user_id: str) -> Conversation:
        """The current state (an empty conversation when there is none)."""
        ...

    async def save(self, conversation: Conversation) -> None:
        """Store the state, refreshing its expiry."""
        ...

    async def clear(self, platform: Platform, user_id: str) -> None:
        """Drop the state."""
        ...


class StaffDirectory(Protocol):
    """Staff roles and scopes."""

    async def get(self, platform: Platform, user_id: str) -> Staff | None:
        """The staff record of an account, if any."""
        ...

    async def add(self, staff: Staff) -> None:
        """Create or replace a staff record."""
        ...

    async def remove(self, platform: Platform, user_id: str) -> bool:
        """Remove a staff record; False when there was none."""
        ...

    async def all(self) -> list[Staff]:
        """Every staff record (a district has tens, not thousands)."""
        ...


class AuditLog(Protocol):
    """Append-only, hash-chained audit trail."""

    async def append(
        self,
        actor: str,
        action: str,
        allowed: bool,
        target: str = "",
        details: dict[str, str] | None = None,
    ) -> AuditEntry:
        """Add an entry chained to the previous one."""
        ...

    async def latest(self, count: int) -> list[AuditEntry]:
        """The newest entries, newest first."""
        ...


class Outbox(Protocol):
    """The queue of proactive messages; one dispatcher per platform drains it."""

    async def enqueue(self, messages: Sequence[OutgoingMessage]) -> int:
        """Add messages, skipping keys already enqueued; returns how many were added."""
        ...


class Leases(Protocol):
    """Named, expiring locks so that only one process runs a scheduler tick or a dispatch lane."""

    async def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease; False when another holder has it."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up early."""
        ...


class PhotoStore(Protocol):
    """Normalised selfies (JPEG, metadata stripped) in GridFS."""

    async def put(self, jpeg: bytes, metadata: dict[str, str]) -> str:
        """Store a photo and return its id."""
        ...

    async def get(self, photo_id: str) -> bytes | None:
        """The JPEG bytes, or None when unknown."""
        ...
