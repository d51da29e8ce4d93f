"""What handlers need from storage and the outside world; storage/ implements these."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from core.channel import Platform
from core.daily_report import DayFigures, Records
from core.models import (
    Account,
    Ack,
    Alert,
    AlertState,
    AuditEntry,
    Card,
    Case,
    ChatRef,
    Checkpoint,
    Consent,
    Conversation,
    DailyCheck,
    Declaration,
    FieldReport,
    Home,
    InboxEntry,
    Invite,
    LabTest,
    Organisation,
    OutboxEntry,
    OutgoingMessage,
    Person,
    Priority,
    ReportNote,
    ReportStatus,
    Review,
    Staff,
    StaffChat,
    StaffInvite,
    Subscriber,
    Tally,
    Vaccination,
    Visit,
    Worker,
)
from core.personal_data import PersonalRecords
from core.retention import DataClass
from core.schedule import Schedule


class Clock(Protocol):
    """The one source of current time (tests inject a fixed one)."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class InboxQueue(Protocol):
    """Received updates, stored before the platform is acknowledged, until processed.

    An entry is held by one process at a time through a lease; one whose lease ran out
    (its process died) is taken over by the next process that looks.
    """

    async def add(self, entry: InboxEntry, holder: str, until: datetime) -> bool:
        """Store a new update held by `holder`; False when its key was received before."""
        ...

    async def done(self, keys: Sequence[str], now: datetime) -> None:
        """These updates have been processed: forget their content, keep their keys a while."""
        ...

    async def stale(self, now: datetime) -> list[InboxEntry]:
        """Unfinished updates whose lease has run out, in arrival order."""
        ...

    async def held_elsewhere(self, holder: str) -> set[tuple[str, str]]:
        """The (platform, user) of unfinished updates another process holds (or held)."""
        ...

    async def take_over(self, key: str, holder: str, until: datetime, now: datetime) -> bool:
        """Hold a stale update; False when another process took it first."""
        ...

    async def renew(self, keys: Sequence[str], holder: str, until: datetime) -> None:
        """Extend the leases of updates this holder still works on."""
        ...

    async def release(self, keys: Sequence[str], holder: str, now: datetime) -> None:
        """Give up updates not started (at shutdown): the next process takes them at once."""
        ...


class People(Protocol):
    """Personal records."""

    async def add(self, person: Person) -> bool:
        """Store a new person; False when the id exists (the same update run again)."""
        ...

    async def enrolled(self, person: Person) -> None:
        """Create or refresh the record staff typed for a phone (its id comes from the phone)."""
        ...

    async def register(
        self, person_id: str, name: str, phone: str, area: str, consent: Consent
    ) -> None:
        """The resident completed a record staff created: their own details and consent."""
        ...

    async def set_consent(self, person_id: str, consent: Consent) -> None:
        """Record the person's consent as it now stands (withdrawn, or given again)."""
        ...

    async def fill_address(self, person_id: str, address: str) -> None:
        """Set the address where none is known yet."""
        ...

    async def add_records(
        self, person_id: str, residence: str, tests: list[LabTest], vaccinations: list[Vaccination]
    ) -> bool:
        """Set a person's place of stay (when given) and add tests and doses not yet known."""
        ...

    async def get(self, person_id: str) -> Person | None:
        """A person by id."""
        ...

    async def delete(self, person_id: str) -> None:
        """Erase a person's record."""
        ...

    async def with_phone(self, phone: str) -> list[Person]:
        """Everyone with this phone number: a number is not a person."""
        ...

    async def many(self, person_ids: Iterable[str]) -> dict[str, Person]:
        """People by id (unknown ids are left out)."""
        ...


class Accounts(Protocol):
    """Chat accounts bound to people."""

    async def get(self, platform: Platform, user_id: str) -> Account | None:
        """The account of a platform user, if registered."""
        ...

    async def save(self, account: Account) -> None:
        """Bind a chat account to a person (creating it, or re-binding it at registration)."""
        ...

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """Change the language an account is answered in."""
        ...

    async def unblock(self, platform: Platform, user_id: str) -> None:
        """The user wrote to us again: they no longer block the bot."""
        ...

    async def delete(self, platform: Platform, user_id: str) -> None:
        """Forget an account."""
        ...

    async def of_person(self, person_id: str) -> list[Account]:
        """Every chat account bound to a person."""
        ...

    async def of_people(self, person_ids: Iterable[str]) -> list[Account]:
        """Every chat account bound to any of these people."""
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

    async def set_gate(self, platform: Platform, user_id: str, checkpoint_id: str) -> bool:
        """Make a staff account record personal cards at a checkpoint ("" to stop)."""
        ...

    async def remove(self, platform: Platform, user_id: str) -> bool:
        """Remove a staff record; False when there was none."""
        ...

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """Change the language a staff member is answered in (nothing if they are not staff)."""
        ...

    async def all(self) -> list[Staff]:
        """Every staff record (a district has tens, not thousands)."""
        ...


class StaffChats(Protocol):
    """Staff group chats bound to areas."""

    async def bind(self, chat: StaffChat) -> None:
        """Bind a chat to its areas, replacing an earlier binding of the same chat."""
        ...

    async def unbind(self, chat: ChatRef) -> bool:
        """Forget a chat's binding; False when it had none."""
        ...

    async def get(self, chat: ChatRef) -> StaffChat | None:
        """The binding of a chat, if any."""
        ...

    async def for_area(self, area: str) -> list[StaffChat]:
        """The chats bound to `area`, and those bound to the whole district."""
        ...

    async def all(self) -> list[StaffChat]:
        """Every bound chat."""
        ...

    async def move(self, old: ChatRef, new: ChatRef) -> None:
        """A Telegram group became a supergroup: its binding follows the new chat id."""
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
        person: str = "",
        purpose: str = "",
    ) -> AuditEntry:
        """Add an entry chained to the previous one; `person` is whose data was touched."""
        ...

    async def latest(self, count: int) -> list[AuditEntry]:
        """The newest entries, newest first."""
        ...

    async def head(self) -> tuple[int, str]:
        """The newest entry's (seq, hash), to publish so a rewrite shows."""
        ...

    async def for_person(self, person: str, since: datetime, limit: int) -> list[AuditEntry]:
        """Entries about one person since `since`, newest first."""
        ...

    async def purpose_of(self, actor: str) -> str:
        """The purpose `actor` gave within the hour; "" when none."""
        ...

    async def remember_purpose(self, actor: str, purpose: str) -> None:
        """Keep the purpose `actor` just gave for the next hour."""
        ...


class Outbox(Protocol):
    """The queue of proactive messages; one dispatcher per platform drains it."""

    async def enqueue(self, messages: Sequence[OutgoingMessage]) -> int:
        """Add messages, skipping keys already enqueued; returns how many were added."""
        ...

    async def retarget(self, platform: Platform, chat_id: str, new_chat_id: str) -> int:
        """Move the chat's pending messages to `new_chat_id`; returns how many moved."""
        ...

    async def sent_among(self, keys: Sequence[str]) -> set[str]:
        """Which of these messages have been sent."""
        ...

    async def tallies(self, alert_id: str) -> list[Tally]:
        """How an alert's messages went so far, per platform and area."""
        ...


class OutboxQueue(Outbox, Protocol):
    """The dispatcher's side of the outbox: lanes (platform, priority) read in sequence windows.

    Each lane numbers its messages 0, 1, 2...; a number can stay unused for good (a duplicate
    key skipped at enqueue), but a used one is filled within seconds of being handed out.
    """

    async def bounds(self, platform: Platform, priority: Priority) -> tuple[int, int]:
        """The lane's cursor (below it nothing is pending) and head (the next number to give)."""
        ...

    async def advance(self, platform: Platform, priority: Priority, seq: int) -> None:
        """Move the lane's cursor up to `seq` (never back)."""
        ...

    async def window(
        self, platform: Platform, priority: Priority, start: int, size: int
    ) -> list[OutboxEntry]:
        """The lane's messages with start <= seq < start + size (in flight: due when claims end)."""
        ...

    async def claim(self, entries: Sequence[OutboxEntry], until: datetime) -> None:
        """Mark messages in flight until `until`: nobody else sends them meanwhile."""
        ...

    async def settle(self, entries: Sequence[OutboxEntry]) -> None:
        """Store how sends went (status, attempts, next_at, sent_at, error), ending claims."""
        ...

    async def sent_message_id(self, key: str) -> str:
        """The platform's id of a sent message ("" when not sent)."""
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
    """Normalised selfies (JPEG, metadata stripped)."""

    async def put(self, photo_id: str, jpeg: bytes, case_id: str) -> None:
        """Store a photo of a case under `photo_id` (nothing happens when it is there)."""
        ...

    async def get(self, photo_id: str) -> bytes | None:
        """The JPEG bytes, or None when unknown."""
        ...

    async def delete(self, photo_ids: Iterable[str]) -> int:
        """Erase photos; returns how many there were."""
        ...


class Cases(Protocol):
    """Quarantine cases."""

    async def next_number(self) -> int:
        """The next human-friendly case number."""
        ...

    async def add(self, case: Case) -> Case | None:
        """Store a new case: the stored one (the same on a re-run), None if the person has one."""
        ...

    async def extend(self, case_id: str, end: date) -> Case | None:
        """Move an active case's last day; None when the case is no longer active."""
        ...

    async def end(self, case_id: str, reason: str, at: datetime) -> Case | None:
        """End an active case now; None when it had ended already."""
        ...

    async def complete(self, case_id: str, day: date, at: datetime) -> bool:
        """End a case whose last day is `day` or earlier; False when it was extended or ended."""
        ...

    async def add_test(self, case_id: str, test: LabTest) -> bool:
        """Append a test result; False when the case is unknown."""
        ...

    async def set_reference(self, case_id: str, face: list[float], selfie_id: str) -> bool:
        """Set the reference face once: False when the case has one already."""
        ...

    async def move_to_person(self, case_id: str, old: str, new: str) -> bool:
        """Put a case under another person's record; False when it was moved meanwhile."""
        ...

    async def move_staff_chat(self, old: ChatRef, new: ChatRef) -> int:
        """Send the pages of every case of chat `old` to `new`; returns how many cases moved."""
        ...

    async def get(self, case_id: str) -> Case | None:
        """A case by id."""
        ...

    async def by_number(self, number: int) -> Case | None:
        """A case by number."""
        ...

    async def active_for_person(self, person_id: str) -> Case | None:
        """The person's active case, if any."""
        ...

    async def set_home(self, case_id: str, home: Home, first: bool = False) -> Case | None:
        """Set the case's home; with `first`, only while it has none."""
        ...

    async def confirm_home(self, case_id: str) -> Case | None:
        """Confirm the proposed home; None when there is none."""
        ...

    async def add_proxy(self, case_id: str, person_id: str) -> Case | None:
        """Let a person declare for the case (once, however often it is asked)."""
        ...

    async def active_for_proxy(self, person_id: str) -> list[Case]:
        """The active cases a person declares for, by number."""
        ...

    async def active(self, areas: Iterable[str] | None = None) -> list[Case]:
        """Active cases in some areas (None: everywhere)."""
        ...

    def of_area(self, area: str, batch: int = 500) -> AsyncIterator[list[Case]]:
        """Every case of a commune, a batch at a time."""
        ...

    async def ending_on(self, day: date) -> list[Case]:
        """Active cases whose last day is `day`."""
        ...


class Invites(Protocol):
    """Single-use invitations to a case."""

    async def add(self, invite: Invite) -> Invite | None:
        """Store an invite: the stored one (the same on a re-run), None when its code is taken."""
        ...

    async def find(self, invite_id: str | None = None, code: str | None = None) -> Invite | None:
        """An invite by id or code."""
        ...

    async def claim(self, invite_id: str, by: str, now: datetime) -> Invite | None:
        """Take an unexpired invite for `by` atomically; None when someone else has it."""
        ...


class StaffInvites(Protocol):
    """Single-use invitations to a staff role."""

    async def add(self, invite: StaffInvite) -> StaffInvite | None:
        """Store an invite: the stored one (the same on a re-run), None when its code is taken."""
        ...

    async def find(
        self, invite_id: str | None = None, code: str | None = None
    ) -> StaffInvite | None:
        """An invite by id or code."""
        ...

    async def claim(
        self, invite_id: str, by: str, update: str, now: datetime
    ) -> StaffInvite | None:
        """Take an unused, unexpired invite for `by` atomically; None when it was used or
        expired (the update that claimed it may claim it again: it is being run again)."""
        ...


class Attempts(Protocol):
    """Counts of attempts per key in fixed time windows (failed codes, refused commands)."""

    async def hit(self, key: str, window: timedelta) -> int:
        """Count one attempt in the current window; returns the window's count so far."""
        ...

    async def count(self, key: str, window: timedelta, windows_ago: int = 0) -> int:
        """The attempts counted in the current window (or one `windows_ago` before it)."""
        ...


class Declarations(Protocol):
    """Health declarations and the staff queues built on them."""

    async def add(
        self,
        declaration: Declaration,
        page: Sequence[OutgoingMessage] = (),
        selfie: bytes | None = None,
    ) -> Declaration | None:
        """Store a declaration, its selfie and its page to staff, in one transaction.

        Returns the stored declaration: the same one when this update runs again (its page,
        if still unacknowledged, queued again), None when its window already has another.
        """
        ...

    async def get(self, declaration_id: str) -> Declaration | None:
        """A declaration by id."""
        ...

    async def by_receipt(self, receipt: str) -> Declaration | None:
        """A declaration by receipt code."""
        ...

    async def on_dates(self, case_ids: Iterable[str], days: Iterable[date]) -> list[Declaration]:
        """Declarations of some cases on some dates, oldest first."""
        ...

    async def of_case(self, case_id: str) -> list[Declaration]:
        """Every declaration of a case, oldest first."""
        ...

    async def declared_cases(self, day: date, slot: str) -> set[str]:
        """Ids of the cases that declared for a window."""
        ...

    async def hashes(self, case_id: str, excluding: str = "") -> list[int]:
        """Perceptual hashes of a case's selfies, but for one declaration's own."""
        ...

    async def checks_pending(self) -> list[Declaration]:
        """Declarations whose selfie has not been checked yet."""
        ...

    async def checked(
        self, declaration_id: str, faces: int, distance: float | None, flags: list[str]
    ) -> bool:
        """Store the selfie check once; flagged photos join the review queue."""
        ...

    async def waiting_review(self, areas: Iterable[str] | None) -> list[Declaration]:
        """Flagged selfies not yet reviewed."""
        ...

    async def waiting_ack(self, areas: Iterable[str] | None) -> list[Declaration]:
        """Symptom pages not yet acknowledged."""
        ...

    async def decide(self, declaration_id: str, review: Review) -> bool:
        """Record a review decision once."""
        ...

    async def acknowledge(self, declaration_id: str, ack: Ack) -> bool:
        """Record a page acknowledgement once."""
        ...


class FanoutLog(Protocol):
    """Which scheduled fan-outs (reminders, summaries) are done, so each runs once."""

    async def done(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The completed fan-outs among `keys`, each with the number of cases it concerned.

        The number is None for a fan-out recorded without one.
        """
        ...

    async def mark_done(self, key: str, cases: int | None = None) -> None:
        """Record that `key` completed, concerning `cases` cases (a repeat is harmless)."""
        ...


class Erasure(Protocol):
    """Erasing everything about a person: their right to have their data deleted."""

    async def erase(
        self, person_id: str, accounts: Sequence[Account], at: datetime
    ) -> dict[str, int]:
        """Erase the person and all about them; returns how many items of each kind went."""
        ...

    async def request(self, person_id: str, at: datetime) -> None:
        """Remember to erase the person once their active case has ended."""
        ...

    async def collect(self, person_id: str, accounts: Sequence[Account]) -> PersonalRecords | None:
        """Everything stored about the person, for their export; None if they are unknown."""
        ...

    async def requested(self) -> list[str]:
        """People whose erasure waits (for their case to end)."""
        ...


class Organisations(Protocol):
    """Organisations whose places have QR checkpoints."""

    async def add(self, org: Organisation) -> Organisation:
        """Store a new organisation: the stored one (the same on a re-run)."""
        ...

    async def get(self, record_id: str) -> Organisation | None:
        """An organisation by id."""
        ...

    async def list(self, area: str | None = None) -> list[Organisation]:
        """Organisations of one area (None: all), by name."""
        ...

    async def rename(self, record_id: str, name: str) -> Organisation | None:
        """Rename a live organisation; None when it is unknown or retired."""
        ...

    async def retire(self, record_id: str) -> Organisation | None:
        """Take an organisation out of use; None when unknown."""
        ...


class Checkpoints(Protocol):
    """QR checkpoints; each has a unique short code and a version its posters carry."""

    async def add(self, checkpoint: Checkpoint) -> Checkpoint:
        """Store a new checkpoint with a free code: the stored one (the same on a re-run)."""
        ...

    async def get(self, record_id: str) -> Checkpoint | None:
        """A checkpoint by id."""
        ...

    async def by_code(self, code: str) -> Checkpoint | None:
        """A checkpoint by its short code."""
        ...

    async def of_org(self, org_id: str) -> list[Checkpoint]:
        """An organisation's checkpoints, by name."""
        ...

    async def list(self, area: str | None = None) -> list[Checkpoint]:
        """Checkpoints of one area (None: all), by name."""
        ...

    async def rename(self, record_id: str, name: str) -> Checkpoint | None:
        """Rename a live checkpoint; None when it is unknown or retired."""
        ...

    async def retire(self, record_id: str) -> Checkpoint | None:
        """Take a checkpoint out of use (its posters stop working); None when unknown."""
        ...

    async def revoke(self, checkpoint_id: str) -> Checkpoint | None:
        """Invalidate a live checkpoint's printed posters (its version moves on)."""
        ...


class Visits(Protocol):
    """Visits to checkpoints; queries use only indexed fields, callers filter the rest."""

    async def check_in(self, visit: Visit) -> Visit | None:
        """Store a new visit: the stored one (the same on a re-run), None when the person
        still has another open visit."""
        ...

    async def open_visit(self, person_id: str) -> Visit | None:
        """The person's visit not checked out yet, if any."""
        ...

    async def close(self, visit: Visit, at: datetime, how: str, by: str = "") -> Visit | None:
        """Check an open visit out (`by`: the scan that did): the closed visit, None when it
        was closed already."""
        ...

    async def of_person(self, person_id: str, since: datetime) -> list[Visit]:
        """The person's visits that began at `since` or later, oldest first."""
        ...

    async def short_at(self, checkpoint_id: str, start: datetime, end: datetime) -> list[Visit]:
        """The closed visits of at most an hour at a checkpoint that may overlap [start, end)."""
        ...

    async def long_at(self, checkpoint_id: str, start: datetime, end: datetime) -> list[Visit]:
        """The open or longer visits at a checkpoint that began in [start, end)."""
        ...

    async def overdue(self, before: datetime, limit: int = 500) -> list[Visit]:
        """Open visits due to close automatically before `before`, at most `limit`."""
        ...


class DailyChecks(Protocol):
    """Workers' and visitors' daily health declarations, one per person and day."""

    async def add(self, check: DailyCheck) -> bool:
        """Store a day's declaration; False when that person already declared that day."""
        ...

    async def get(self, person_id: str, day: date) -> DailyCheck | None:
        """A person's declaration for one day."""
        ...


class FieldReports(Protocol):
    """Citizens' field reports: numbered tickets with a thread of replies."""

    async def add(self, report: FieldReport) -> tuple[FieldReport, bool]:
        """Store a report under its id, numbering it; the stored one and whether it is new."""
        ...

    async def get(self, report_id: str) -> FieldReport | None:
        """A report by id."""
        ...

    async def by_number(self, number: int) -> FieldReport | None:
        """A report by its ticket number."""
        ...

    async def open_in(self, areas: Iterable[str]) -> list[FieldReport]:
        """The open reports of these communes, oldest first."""
        ...

    async def add_note(self, report_id: str, note: ReportNote) -> FieldReport | None:
        """Add a reply to an open report (a staff one counts as handling it); None if closed."""
        ...

    async def set_status(
        self,
        report_id: str,
        status: ReportStatus,
        change: str,
        at: datetime,
        duplicate_of: int | None = None,
    ) -> FieldReport | None:
        """Move an open report to `status` (once per `change`); None when it was closed."""
        ...

    async def overdue(self, before: datetime) -> list[FieldReport]:
        """Reports nobody acted on since before `before` and not escalated yet."""
        ...

    async def escalated(self, report_id: str, at: datetime) -> bool:
        """Mark a waiting report escalated; False when it was handled or escalated meanwhile."""
        ...


class Workers(Protocol):
    """Organisations' worker lists, by phone."""

    async def upsert(self, worker: Worker) -> Worker:
        """Add a worker to a list or refresh the list's details; a link made stays."""
        ...

    async def get(self, worker_id: str) -> Worker | None:
        """One entry of a list."""
        ...

    async def of_org(self, org_id: str) -> list[Worker]:
        """An organisation's list, by name."""
        ...

    async def with_phone(self, phone: str) -> list[Worker]:
        """Every list entry for this phone."""
        ...

    async def invited(self, worker_id: str, at: datetime) -> bool:
        """Mark an entry's invitation sent; False when it had been sent already."""
        ...

    async def link(self, worker_id: str, person_id: str) -> Worker | None:
        """Link an entry to the person who agreed: the linked entry, None if it was already."""
        ...


class Cards(Protocol):
    """Personal QR cards, by id and by printed code."""

    async def add(self, card: Card) -> Card:
        """Store a new card, drawing another code while its code is taken."""
        ...

    async def get(self, card_id: str) -> Card | None:
        """A card by id."""
        ...

    async def by_code(self, code: str) -> Card | None:
        """A card by its printed code."""
        ...


class Alerts(Protocol):
    """Authority alerts, by id, staff number and CAP identifier."""

    async def next_number(self) -> int:
        """The number the next alert gets."""
        ...

    async def add(self, alert: Alert) -> bool:
        """Store a new alert; False when its id or its sender's identifier is known."""
        ...

    async def get(self, alert_id: str) -> Alert | None:
        """An alert by id."""
        ...

    async def by_number(self, number: int) -> Alert | None:
        """An alert by the number staff see."""
        ...

    async def by_identifier(self, sender: str, identifier: str) -> Alert | None:
        """An alert by its CAP sender and identifier."""
        ...

    async def move(
        self, alert_id: str, expected: Iterable[AlertState], to: AlertState, **fields: Any
    ) -> bool:
        """Move an alert to state `to` (setting `fields`) if it is in one of `expected`."""
        ...

    async def in_states(self, states: Iterable[AlertState]) -> list[Alert]:
        """Alerts in any of `states`."""
        ...

    async def unfinished(self) -> list[Alert]:
        """Alerts being sent, or cut short, whose delivery report is still due."""
        ...

    async def superseded_among(self, alert_ids: Iterable[str]) -> set[str]:
        """Which of these alerts were updated or cancelled since."""
        ...

    async def recent(self, count: int) -> list[Alert]:
        """The latest alerts, newest first."""
        ...

    async def published(self, identifier: str) -> Alert | None:
        """The public, confirmed alert with this CAP identifier."""
        ...

    async def current_public(self, count: int) -> list[Alert]:
        """Among the latest `count` alerts, the public ones in force, newest first."""
        ...


class ReportFigures(Protocol):
    """What the daily report counts, gathered per commune."""

    async def records(
        self, areas: Sequence[str], day: date, schedule: Schedule, since: date
    ) -> dict[str, Records]:
        """Each commune's records for `day` and the days of its trend before it (their
        declarations from `since` on)."""
        ...

    async def known_days(
        self, areas: Sequence[str], first: date, last: date
    ) -> dict[str, dict[date, DayFigures]]:
        """The days from `first` to `last` already kept for each commune."""
        ...

    async def keep_days(self, area: str, days: dict[date, DayFigures]) -> None:
        """Keep a commune's final days (a day kept before stays as it was)."""
        ...


class Subscribers(Protocol):
    """Who gets alerts for which areas."""

    async def get(self, platform: Platform, user_id: str) -> Subscriber | None:
        """A chat's subscription, if it has one."""
        ...

    async def subscribe(self, subscriber: Subscriber) -> None:
        """Add the subscriber's areas to its subscription (created when missing)."""
        ...

    async def unsubscribe(self, platform: Platform, user_id: str, area: str) -> None:
        """Stop alerts for one area."""
        ...

    async def set_muted(self, platform: Platform, user_id: str, muted: bool) -> None:
        """Mute (or unmute) all but severe alerts."""
        ...

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """The language alerts reach this chat in."""
        ...

    async def unblock(self, platform: Platform, user_id: str) -> None:
        """The chat writes to us again: it gets alerts again."""
        ...

    async def set_withdrawn(self, person_id: str, withdrawn: bool) -> None:
        """Hold back (or resume) alerts to every chat of a person who withdrew consent."""
        ...

    async def remove(self, platform: Platform, user_id: str) -> None:
        """Forget a chat's subscription."""
        ...

    def in_areas(self, areas: Sequence[str]) -> AsyncIterator[list[Subscriber]]:
        """The subscribers of any of `areas`, a batch at a time, each once."""
        ...

    async def count_in_areas(self, areas: Sequence[str], severe: bool) -> dict[Platform, int]:
        """How many subscribers of any of `areas` each platform has (those who muted alerts
        count only for a severe one)."""
        ...


class Retention(Protocol):
    """Deleting what is kept no longer, in bounded steps that remember where they stopped."""

    async def pending(self, data: DataClass, before: datetime) -> int:
        """How many items of `data` older than `before` would go (nothing changes)."""
        ...

    async def sweep(self, data: DataClass, before: datetime, limit: int) -> tuple[int, bool]:
        """Delete about `limit` items of `data` older than `before`: (deleted, all done)."""
        ...

    async def record(self, day: date, counts: dict[DataClass, int]) -> None:
        """Add a run's counts to the deletion log of `day` (counts only, no content)."""
        ...
