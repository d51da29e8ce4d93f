"""What a handler works with: the update, the user's state, the services and a reply helper."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.alerts import AlertRules
from core.areas import AreaCatalog
from core.channel import Ask, Button, Incoming, Keyboard, Kind, Outbound, Platform, choices
from core.checkpoints import VisitRules
from core.dates import format_moment
from core.geo import LocationRules
from core.imaging import NormalisedPhoto
from core.matching import pick
from core.models import Account, Case, Conversation, Organisation, Staff
from core.ports import (
    Accounts,
    Alerts,
    Attempts,
    AuditLog,
    Cards,
    Cases,
    Checkpoints,
    Clock,
    Conversations,
    DailyChecks,
    Declarations,
    Erasure,
    FieldReports,
    Invites,
    Organisations,
    Outbox,
    People,
    PhotoStore,
    ReportFigures,
    StaffChats,
    StaffDirectory,
    StaffInvites,
    Subscribers,
    Visits,
    Workers,
)
from core.schedule import Schedule
from core.texts import DEFAULT_LANGUAGE, t, voice
from core.tokens import Keyring

PRIVACY_VERSION = "2026-11"

StartLink = Callable[[str], Awaitable[str | None]]


async def _no_start_link(payload: str) -> str | None:
    return None


@dataclass(frozen=True)
class Policy:
    """Home-quarantine rules from the settings."""

    schedule: Schedule
    quarantine_days: int = 14
    invite_ttl: timedelta = timedelta(hours=72)
    remind_before: timedelta = timedelta(minutes=30)
    selfie_max_bytes: int = 10_000_000
    location: LocationRules = field(default_factory=LocationRules)
    page_base_url: str = ""  # where our web server serves the Zalo location page
    visits: VisitRules = field(default_factory=VisitRules)
    poster_base_url: str = ""  # PUBLIC_BASE_URL: posters' QR codes open our landing page
    alerts: AlertRules = field(default_factory=AlertRules)
    audit_ask_purpose: bool = False  # officers say why before opening personal data
    audit_show_names: bool = False  # residents see the names of staff who viewed their data


@dataclass(frozen=True)
class Services:
    """Everything handlers may call; the composition root builds it."""

    people: People
    accounts: Accounts
    conversations: Conversations
    staff: StaffDirectory
    staff_chats: StaffChats
    audit: AuditLog
    attempts: Attempts
    cases: Cases
    invites: Invites
    staff_invites: StaffInvites
    declarations: Declarations
    erasure: Erasure
    outbox: Outbox
    photos: PhotoStore
    orgs: Organisations
    checkpoints: Checkpoints
    visits: Visits
    daily_checks: DailyChecks
    reports: FieldReports
    workers: Workers
    cards: Cards
    alerts: Alerts
    subscribers: Subscribers
    figures: ReportFigures
    areas: AreaCatalog
    clock: Clock
    policy: Policy
    normalise_photo: Callable[[bytes], Awaitable[NormalisedPhoto]]
    check_selfie_later: Callable[[str], None]
    keys: Keyring
    start_link: StartLink = field(default=_no_start_link)
    wake_dispatchers: Callable[[], None] = field(default=lambda: None)
    privacy_version: str = PRIVACY_VERSION

    @property
    def timezone(self) -> ZoneInfo:
        """The local time zone."""
        return self.policy.schedule.tz

    def today(self) -> date:
        """Today's local date."""
        return self.policy.schedule.local_date(self.clock.now())


@dataclass
class Context:
    """One update being handled for one user."""

    incoming: Incoming
    out: Outbound
    services: Services
    account: Account | None
    conversation: Conversation
    choice: str = ""
    offered: bool = False
    staff_language: str = ""  # a staff member's who is not a registered resident
    _active_case: Case | None = None
    _active_case_known: bool = False
    _to_declare: list[Case] | None = None
    _staff: Staff | None = None
    _staff_known: bool = False
    _orgs: dict[str, Organisation | None] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        """The user's language: the account's, or the one chosen during onboarding."""
        if self.account:
            return self.account.language
        return str(self.conversation.data.get("lang", self.staff_language or DEFAULT_LANGUAGE))

    @property
    def voice(self) -> str:
        """The user's language with the form of address they chose (during onboarding too)."""
        if self.account:
            return self.account.voice
        return voice(self.lang, str(self.conversation.data.get("form", "")))

    @property
    def actor(self) -> str:
        """Who is acting, as written in the audit trail."""
        return f"{self.incoming.platform.value}:{self.incoming.user_id}"

    async def active_case(self) -> Case | None:
        """The user's active quarantine case, if any (looked up once per update)."""
        if not self._active_case_known and self.account is not None:
            self._active_case = await self.services.cases.active_for_person(self.account.person_id)
            self._active_case_known = True
        return self._active_case

    async def staff_member(self) -> Staff | None:
        """The user's staff record, if any (looked up once per update)."""
        if not self._staff_known:
            incoming = self.incoming
            self._staff = await self.services.staff.get(incoming.platform, incoming.user_id)
            self._staff_known = True
        return self._staff

    async def org(self, org_id: str) -> Organisation | None:
        """An organisation (looked up once per update)."""
        if org_id not in self._orgs:
            self._orgs[org_id] = await self.services.orgs.get(org_id)
        return self._orgs[org_id]

    async def cases_to_declare(self) -> list[Case]:
        """The user's own active case first, then those they declare for as a proxy."""
        if self._to_declare is None:
            own = await self.active_case()
            proxied = (
                await self.services.cases.active_for_proxy(self.account.person_id)
                if self.account
                else []
            )
            self._to_declare = [*([own] if own else []), *proxied]
        return self._to_declare

    def new_id(self, purpose: str, length: int = 32) -> str:
        """An id for a record this update creates: the same when the update is run again."""
        if not self.incoming.inbox_id:
            return uuid.uuid4().hex[:length]
        seed = f"{self.incoming.inbox_id}|{purpose}".encode()
        return hashlib.sha256(seed).hexdigest()[:length]

    def text(self, key: str, **values: object) -> str:
        """A catalog text in the user's language and form of address."""
        return t(self.voice, key, **values)

    def local_time(self, moment: datetime) -> str:
        """A moment as local "HH:MM dd/mm/yyyy"."""
        return format_moment(moment, self.services.timezone)

    async def reply_photo(self, jpeg: bytes, caption: str = "") -> None:
        """Send a photo to the user's chat."""
        await self.out.send_photo(self.incoming.chat_id, jpeg, caption)

    async def say(
        self, key: str, buttons: Keyboard = (), ask: Ask | None = None, **values: object
    ) -> None:
        """Send a catalog text; offered buttons become the answers we accept next."""
        await self.send(self.text(key, **values), buttons, ask)

    async def choose_again(self) -> None:
        """Refuse an answer that is none of the offered ones, showing them again."""
        await self.say("common.choose_option", [[b] for b in self.conversation.options])

    async def send(self, text: str, buttons: Keyboard = (), ask: Ask | None = None) -> None:
        """Send a text to the user's chat; offered buttons become the answers we accept next.

        With `ask`, the single button is the label of the share-contact/location key instead.
        """
        if buttons and ask is None:
            self.conversation.options = choices(buttons)
            self.offered = True
            if self.incoming.platform is Platform.ZALO:
                text = f"{text}\n{self.text('common.number_hint')}"
        await self.out.send_text(self.incoming.chat_id, text, buttons, ask)


def resolve_choice(incoming: Incoming, offered: list[Button]) -> str | None:
    """The button data the user picked: a pressed button, or a typed number or label.

    Returns "" when the update is no choice at all, None for a pressed button we did not
    offer (a stale button from an older message).
    """
    if incoming.kind is Kind.BUTTON:
        return (
            incoming.button_data if any(b.data == incoming.button_data for b in offered) else None
        )
    if incoming.kind is not Kind.TEXT or not offered:
        return ""
    index = pick(incoming.text, [b.label for b in offered])
    return "" if index is None else offered[index].data
