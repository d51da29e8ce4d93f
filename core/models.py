"""Domain records the repositories store and return."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.channel import Button, Platform
from core.texts import voice


class Consent(BaseModel):
    """Which privacy notice a person agreed to, and when."""

    version: str
    at: datetime
    withdrawn_at: datetime | None = None  # the person withdrew it: see core/personal_data.py

    @property
    def given(self) -> bool:
        """Whether the consent stands (it was not withdrawn)."""
        return self.withdrawn_at is None


class Person(BaseModel):
    """A resident, worker or staff member: the owner of personal data."""

    id: str
    name: str
    phone: str
    area: str
    address: str = ""
    consent: Consent | None = None  # None for a person staff enrolled who has not opened the bot
    created_at: datetime
    residence: str = ""  # current place of stay (a worker's dormitory, lodging…)
    tests: list[LabTest] = Field(default_factory=list)
    vaccinations: list[Vaccination] = Field(default_factory=list)


class Account(BaseModel):
    """One chat account on one platform, bound to a person after onboarding.

    `phone_verified`: the person's phone came from a Telegram contact the sender shared of
    themselves, not typed; only then may staff bind a case to the account by phone.
    """

    platform: Platform
    user_id: str
    chat_id: str
    person_id: str
    language: str = "vi"
    form: str = ""  # "ong"/"ba": how a Vietnamese resident asked to be addressed; neutral if ""
    blocked: bool = False
    phone_verified: bool = False
    created_at: datetime

    @property
    def voice(self) -> str:
        """The language texts to this account are written in, with its form of address."""
        return voice(self.language, self.form)


class InboxEntry(BaseModel):
    """A received update kept until it has been processed (see `Received`).

    `id` is unique forever; `order` is the arrival order (per process, in microseconds).
    """

    id: str
    key: str
    platform: Platform
    user_id: str
    raw: dict[str, Any]
    order: int
    received_at: datetime


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
    LEADER = "leader"  # district (no areas) or commune leader: aggregated figures only
    TEAM_MEMBER = "team_member"  # a hamlet's community COVID team: read-only lists


class Staff(BaseModel):
    """A chat account with a staff role over some areas (district admins see all)."""

    platform: Platform
    user_id: str
    role: Role
    areas: list[str] = Field(default_factory=list)
    orgs: list[str] = Field(default_factory=list)  # an org_manager's organisations
    gate: str = ""  # the checkpoint this account records personal cards at, if any
    hamlet: str = ""  # a team member's hamlet (ấp) within their commune
    name: str = ""  # as given when invited; "" for staff added from the command line
    language: str = "vi"  # for staff who are not also registered residents
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
    person: str = ""  # whose personal data was read or changed; "" when nobody's
    purpose: str = ""  # why, as the officer said (AUDIT_ASK_PURPOSE)
    prev_hash: str
    hash: str


class OutboxStatus(StrEnum):
    """Where a proactive message is in its life."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"  # no longer wanted when its turn came (e.g. declared meanwhile)


class Priority(IntEnum):
    """Dispatch order: symptom pages, then emergency alerts, then reminders, then other alerts."""

    EMERGENCY = 0
    ALERT_URGENT = 1
    NORMAL = 2
    ALERT = 3


class OutgoingMessage(BaseModel):
    """A proactive message to enqueue: `key` makes it idempotent (same key → sent once).

    `skip_if_declared` names a declaration window as "<case id>/<yyyy-mm-dd>/<HH:MM>": the
    message is dropped, not sent, when that case has declared for it by the time it is due.
    """

    key: str
    platform: Platform
    chat_id: str
    text: str
    buttons: list[list[Button]] = Field(default_factory=list)
    photo_id: str | None = None
    document_id: str | None = None  # a file in the photo store, sent as `document_name`
    document_name: str = ""
    priority: Priority = Priority.NORMAL
    not_before: datetime | None = None
    skip_if_declared: str = ""
    replaces: str = ""  # the key of a message this one updates: edited in place where possible
    alert: str = ""  # the alert this message carries: skipped once it is cancelled or updated
    tally: str = ""  # where its outcome is counted ("<alert id>/<area>"), for progress reports


class OutboxEntry(OutgoingMessage):
    """An enqueued message as the dispatcher sees it."""

    seq: int
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    message_id: str = ""  # the platform's id of the sent message, to edit it later
    error: str = ""


class ChatRef(BaseModel):
    """A chat on a platform (a staff group or a private chat)."""

    platform: Platform
    chat_id: str


class StaffChat(BaseModel):
    """A staff group chat bound to areas: notices and reports for those areas go there."""

    chat: ChatRef
    areas: list[str] = Field(default_factory=list)  # empty: the whole district
    title: str = ""
    bound_by: str
    bound_at: datetime


class CaseStatus(StrEnum):
    """A quarantine case is active until it ends (on its end date or by staff)."""

    ACTIVE = "active"
    ENDED = "ended"


class LabTest(BaseModel):
    """A test result staff recorded for a case."""

    kind: str
    on: date
    result: str
    by: str
    at: datetime


class Home(BaseModel):
    """Where a case is quarantined, as a position: given by an officer or first shared by the
    resident (then staff confirm it)."""

    lat: float
    lon: float
    source: str  # "officer" | "resident"
    confirmed: bool = False
    at: datetime


class Case(BaseModel):
    """A home-quarantine case: who, where, from when to when, and who is responsible."""

    id: str
    number: int
    person_id: str
    area: str
    start: date
    end: date
    status: CaseStatus = CaseStatus.ACTIVE
    staff_chat: ChatRef
    officer: str
    reference_face: list[float] | None = None
    reference_selfie: str | None = None
    tests: list[LabTest] = Field(default_factory=list)
    end_reason: str = ""
    created_at: datetime
    ended_at: datetime | None = None
    home: Home | None = None
    proxies: list[str] = Field(default_factory=list)  # people who declare for this resident
    traced: bool = False  # enrolled as an F1 from a trace (counted in the daily report)


class Vaccination(BaseModel):
    """A vaccine dose staff recorded for a person."""

    dose: int
    on: date
    vaccine: str
    by: str
    at: datetime


class Worker(BaseModel):
    """Someone on an organisation's worker list, by phone. Linked to their own record once
    they use the bot with that phone verified and agree; until then the list's details wait
    here."""

    id: str  # "<org id>/<phone>"
    org_id: str
    phone: str
    name: str
    person_id: str = ""
    residence: str = ""
    tests: list[LabTest] = Field(default_factory=list)
    vaccinations: list[Vaccination] = Field(default_factory=list)
    added_by: str
    added_at: datetime
    invited_at: datetime | None = None


class Invite(BaseModel):
    """A single-use, expiring invitation binding a chat account to a case."""

    id: str
    code: str
    case_id: str
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str = ""
    proxy_phone: str = ""  # set: it makes its opener (with this phone) declare for the case


class StaffInvite(BaseModel):
    """A single-use, expiring invitation that gives its opener a staff role."""

    id: str
    code: str
    role: Role
    areas: list[str] = Field(default_factory=list)  # empty: the whole district
    orgs: list[str] = Field(default_factory=list)  # an org_manager's organisations
    hamlet: str = ""
    name: str
    invited_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str = ""
    used_update: str = ""  # the update that claimed it: running that update again finishes it


class Answers(BaseModel):
    """A health questionnaire's answers."""

    fever: bool = False
    temperature: float | None = None
    cough: bool = False
    breath: bool = False
    throat: bool = False
    taste_smell: bool = False
    fatigue: bool = False
    other: str = ""

    @property
    def symptomatic(self) -> bool:
        """Any symptom, or a temperature of 38 °C or more: staff are paged at once."""
        symptoms = (
            self.fever,
            self.cough,
            self.breath,
            self.throat,
            self.taste_smell,
            self.fatigue,
            bool(self.other),
        )
        return any(symptoms) or (self.temperature is not None and self.temperature >= 38.0)


class Review(BaseModel):
    """A person's decision on a flagged selfie."""

    decision: str
    by: str
    at: datetime


class Ack(BaseModel):
    """Staff acknowledged a symptom page."""

    by: str
    at: datetime
    name: str = ""  # the officer's chat display name, shown on the page


class DeclaredLocation(BaseModel):
    """Where a resident said they were when declaring, and how far that is from home."""

    lat: float
    lon: float
    accuracy: float | None = None
    distance_m: float | None = None  # None: no home known yet (this position is proposed)
    at_home: bool | None = None  # False is a flag for staff review, never a sanction


ERASED_PROXY = "erased"  # `declared_by` once the proxy who declared has erased their data


class Declaration(BaseModel):
    """One health declaration; scheduled ones are unique per (case, date, slot)."""

    id: str
    receipt: str
    case_id: str
    area: str
    local_date: date
    slot: str | None
    timing: str
    answers: Answers
    selfie_id: str | None = None
    dhash: str = ""
    faces: int = 0
    face_distance: float | None = None
    flags: list[str] = Field(default_factory=list)
    checks_pending: bool = False  # the face and re-use checks run after the receipt
    review: Review | None = None
    ack: Ack | None = None
    location: DeclaredLocation | None = None
    declared_by: str = ""  # the proxy's person id when someone declared for the resident
    submitted_at: datetime


class OrgKind(StrEnum):
    """What an organisation with checkpoints is."""

    COMPANY = "company"
    AGENCY = "agency"
    MARKET = "market"
    CLINIC = "clinic"
    SCHOOL = "school"
    COMMUNE_OFFICE = "commune_office"


class Organisation(BaseModel):
    """A company, agency, market… whose places have QR checkpoints."""

    id: str  # 12 hex digits: checkpoint tokens carry ids of this size
    name: str
    kind: OrgKind = OrgKind.COMPANY
    area: str
    retired: bool = False
    created_by: str
    created_at: datetime


class CheckpointKind(StrEnum):
    """The kind of place a checkpoint's QR code hangs at."""

    GATE = "gate"
    ZONE = "zone"
    TEAM = "team"
    BUS = "bus"
    CANTEEN = "canteen"
    DORMITORY = "dormitory"
    OFFICE = "office"
    STALL_ROW = "stall_row"
    OTHER = "other"


class Checkpoint(BaseModel):
    """A place people scan in and out of; `version` moves on when its posters are revoked."""

    id: str  # 12 hex digits, signed into the QR token
    org_id: str
    kind: CheckpointKind
    name: str
    area: str
    code: str  # the short code Zalo users type (KBxxxxxxxx)
    version: int = 0
    retired: bool = False
    created_by: str
    created_at: datetime


class Visit(BaseModel):
    """One person's stay at a checkpoint: scanned in, and out (or closed automatically)."""

    id: str
    person_id: str
    checkpoint_id: str
    in_at: datetime
    due_at: datetime  # closed automatically at this time if still open (the kind's maximum)
    out_at: datetime | None = None
    closed: str = ""  # a VisitEnd once it has ended
    closed_by: str = ""  # the scan that closed it, to recognise that scan run again


class VisitEnd(StrEnum):
    """How a visit was closed."""

    SCAN = "scan"  # scanned out at the same checkpoint
    ELSEWHERE = "elsewhere"  # scanned in at another checkpoint
    TIMEOUT = "timeout"  # closed automatically at its kind's longest stay


DAILY_NOTICE_PREFIX = "daily:"  # outbox keys of the notices about a daily declaration


class DailyCheck(BaseModel):
    """A worker's or visitor's health declaration for one day, asked at their first scan."""

    person_id: str
    day: date
    symptoms: bool
    contact: bool  # close contact with a case in the last 14 days
    travel: bool  # came from another province in the last 14 days
    checkpoint_id: str
    at: datetime

    @property
    def worrying(self) -> bool:
        """Any "yes": the organisation's manager and the commune's staff are told."""
        return self.symptoms or self.contact or self.travel


class ReportCategory(StrEnum):
    """What a citizen's field report is about."""

    EPIDEMIC = "epidemic"  # tình hình dịch bệnh
    SECURITY = "security"  # an ninh trật tự
    OTHER = "other"


class ReportStatus(StrEnum):
    """Where a field report is: open until staff resolve it or find it repeats another."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DUPLICATE = "duplicate"

    @property
    def open(self) -> bool:
        """Whether replies and status changes are still taken."""
        return self in (ReportStatus.NEW, ReportStatus.IN_PROGRESS)


OPEN_REPORT_STATUSES = (ReportStatus.NEW, ReportStatus.IN_PROGRESS)
REPORT_NOTICE_PREFIX = "report:"  # outbox keys about a report: "report:<report id>:<occasion>"


def report_photo_owner(platform: Platform, user_id: str) -> str:
    """Whose report photos the photo store holds (drafts' photos too), for erasure."""
    return f"report:{platform.value}:{user_id}"


class ReportNote(BaseModel):
    """One message in a report's thread: a staff reply or the citizen's answer."""

    id: str
    from_staff: bool
    actor: str  # "telegram:123"
    text: str
    at: datetime


class FieldReport(BaseModel):
    """A citizen's field report («phản ánh»): a numbered ticket with its thread.

    `waiting_since` is set while no staff member has acted on it and it has not been
    escalated: the escalation job looks only at reports that have it.
    """

    id: str
    number: int
    platform: Platform
    user_id: str
    chat_id: str
    person_id: str = ""  # "" for someone who has not registered
    voice: str = "vi"  # the citizen's language and form of address
    name: str = ""  # the registered name, else the chat's display name
    phone: str = ""
    anonymous: bool = False  # name and phone are not shown to staff
    area: str
    category: ReportCategory
    text: str
    photos: list[str] = Field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    status: ReportStatus = ReportStatus.NEW
    duplicate_of: int | None = None
    notes: list[ReportNote] = Field(default_factory=list)
    changed_by: list[str] = Field(default_factory=list)  # the updates that changed its status
    created_at: datetime
    touched_at: datetime | None = None  # the last staff action
    waiting_since: datetime | None = None
    escalated_at: datetime | None = None


class Card(BaseModel):
    """A printed personal QR card for someone without a smartphone: a gate account scans it
    (or types its code) to record their visit."""

    id: str  # 12 hex digits, signed into the card's QR
    person_id: str
    code: str  # KBxxxxxxxx, printed on the card
    version: int = 0
    created_by: str
    created_at: datetime


class AlertKind(StrEnum):
    """What staff send; the kind sets the CAP urgency, severity and certainty."""

    WARNING = "warning"
    RECOMMENDATION = "recommendation"
    EMERGENCY = "emergency"


class AlertState(StrEnum):
    """Where an alert is: confirmed alerts are queued, then sent, until every message settled."""

    PENDING = "pending"  # waiting for a staff confirmation (a second officer's, or a CAP's)
    APPROVED = "approved"  # confirmed: its recipients are being queued
    SENDING = "sending"  # queued: the dispatchers are sending it
    DONE = "done"  # every message has an outcome
    SUPERSEDED = "superseded"  # updated or cancelled: what was not sent yet is dropped
    REFUSED = "refused"  # staff declined a pending alert


SEVERE = frozenset({"Extreme", "Severe"})  # CAP severities that reach even muted subscribers


class AlertText(BaseModel):
    """An alert in one language (a CAP info block's texts)."""

    language: str
    headline: str
    description: str = ""
    instruction: str = ""


class Alert(BaseModel):
    """An authority alert as CAP 1.2 holds it, with how far its sending has gone."""

    id: str
    number: int
    identifier: str  # CAP: unique for its sender
    sender: str
    sent: datetime
    status: str = "Actual"  # CAP status: Actual, Exercise, System, Test, Draft
    msg_type: str = "Alert"  # Alert, Update, Cancel
    scope: str = "Public"
    references: list[str] = Field(default_factory=list)  # "sender,identifier,sent" of earlier
    kind: AlertKind
    categories: list[str] = Field(default_factory=lambda: ["Health"])
    event: str
    urgency: str
    severity: str
    certainty: str
    texts: list[AlertText]
    web: str = ""
    contact: str = ""
    areas: list[str]  # commune codes
    state: AlertState
    source: str = "staff"  # "staff", or "cap" when received at /cap/inbox
    created_by: str  # the actor ("telegram:123") or the CAP sender
    approved_by: str = ""
    origin: ChatRef | None = None  # where progress and the delivery report go
    origin_language: str = "vi"  # the language they are written in
    follows: str = ""  # the id of the alert this one updates or cancels
    recipients: dict[str, int] = Field(default_factory=dict)  # platform → messages queued
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def severe(self) -> bool:
        """Whether it reaches subscribers who muted alerts, in the urgent lane."""
        return self.severity in SEVERE

    def text_in(self, language: str) -> AlertText:
        """The alert's text in `language`, else in its first language."""
        return next((t for t in self.texts if t.language == language), self.texts[0])


class Subscriber(BaseModel):
    """A chat that gets alerts for some areas (a resident's commune by default)."""

    platform: Platform
    user_id: str
    chat_id: str
    areas: list[str] = Field(default_factory=list)
    language: str = "vi"
    muted: bool = False  # no alerts but severe ones
    blocked: bool = False  # the chat blocked the bot: nothing is sent until it subscribes again
    person_id: str = ""  # "" for someone who subscribed without registering
    withdrawn: bool = False  # its person withdrew consent: no alerts until they agree again
    created_at: datetime


class Tally(BaseModel):
    """How an alert's messages to one area on one platform went so far."""

    platform: Platform
    alert: str
    area: str
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    skipped: int = 0

    @property
    def settled(self) -> int:
        """Messages with a final outcome."""
        return self.sent + self.failed + self.blocked + self.skipped
