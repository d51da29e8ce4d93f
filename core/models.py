"""Domain records the repositories store and return."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.channel import Button, Platform


class Consent(BaseModel):
    """Which privacy notice a person agreed to, and when."""

    version: str
    at: datetime


class Person(BaseModel):
    """A resident, worker or staff member: the owner of personal data."""

    id: str
    name: str
    phone: str
    area: str
    address: str = ""
    consent: Consent
    created_at: datetime


class Account(BaseModel):
    """One chat account on one platform, bound to a person after onboarding."""

    platform: Platform
    user_id: str
    chat_id: str
    person_id: str
    language: str = "vi"
    blocked: bool = False
    created_at: datetime


class Conversation(BaseModel):
    """Where a user is in a flow: kept in the database so any process can continue it."""

    platform: Platform
    user_id: str
    flow: str = ""
    step: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    options: list[Button] = Field(default_factory=list)
    expires_at: datetime | None = None


class Role(StrEnum):
    """What a staff member is allowed to do; scope comes from `Staff.areas`."""

    DISTRICT_ADMIN = "district_admin"
    COMMUNE_STAFF = "commune_staff"
    HEALTH_OFFICER = "health_officer"
    ORG_MANAGER = "org_manager"


class Staff(BaseModel):
    """A chat account with a staff role over some areas (district admins see all)."""

    platform: Platform
    user_id: str
    role: Role
    areas: list[str] = Field(default_factory=list)
    added_by: str
    added_at: datetime


class AuditEntry(BaseModel):
    """One append-only, hash-chained record of a staff action or access attempt."""

    seq: int
    at: datetime
    actor: str
    action: str
    allowed: bool
    target: str = ""
    details: dict[str, str] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class OutboxStatus(StrEnum):
    """Where a proactive message is in its life."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"


class Priority(IntEnum):
    """Dispatch order: emergencies (symptom pages, alerts) before routine reminders."""

    EMERGENCY = 0
    NORMAL = 1


class OutgoingMessage(BaseModel):
    """A proactive message to enqueue: `key` makes it idempotent (same key → sent once)."""

    key: str
    platform: Platform
    chat_id: str
    text: str
    buttons: list[list[Button]] = Field(default_factory=list)
    photo_id: str | None = None
    priority: Priority = Priority.NORMAL
    not_before: datetime | None = None


class OutboxEntry(OutgoingMessage):
    """An enqueued message as the dispatcher sees it."""

    seq: int
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    error: str = ""
