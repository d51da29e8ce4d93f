"""The quarantine scheduler tick: reminders, deadline summaries, nudges and case completion.

Each tick looks at the declaration windows whose deadline is at most `CATCH_UP` ago or still
ahead (a restart catches up; older windows are never replayed) and runs every fan-out of those
windows that is due and not yet done:

- open: when a window opens, a reminder to every resident who must declare for it;
- due: a reminder to those who have not declared yet, all sent by `Policy.remind_before` the
  deadline (its target). The dispatcher sends at a fixed rate per platform, so n reminders take
  n / rate seconds: the fan-out starts that long (plus a margin) before the target and holds
  its messages with `not_before`, letting the dispatcher spread them instead of piling them up
  after the target;
- deadline: one summary of the missed cases to each responsible staff chat, and a nudge to
  each resident who missed the window;
- completed: after the day's last window, cases whose last day it was end, with a thank-you.

A fan-out is enqueued in the outbox first and recorded in the `FanoutLog` after (with the number
of cases it concerned), so a crash in between only repeats an enqueue, which outbox keys make
harmless.

The open and due reminders and the nudges ask a case to declare for a window; they carry it in
`skip_if_declared`, and the dispatcher, asking `skip_declared`, drops those whose case has
declared by the time their turn comes.

Query cost: a tick with nothing to do takes the lease and reads the fan-out log (one query of
a few keys), whatever the number of cases: a due fan-out waiting for its start is judged by the
number of cases its open fan-out recorded. Otherwise it loads the active cases once (one indexed
query) and, for each fan-out that runs, the people and accounts of just the cases it concerns,
in bulk.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import partial

from core.channel import Button, Platform
from core.dates import format_date
from core.models import Account, Case, OutboxEntry, OutgoingMessage, Person
from core.phone import display_phone
from core.ports import Accounts, Cases, Declarations, FanoutLog, Leases, Outbox, People
from core.schedule import Window, was_due
from core.texts import t, window_name
from handlers.context import Policy
from handlers.notices import STAFF_LANGUAGE, declare_button, to_accounts
from scheduler.dispatch import Obsolete

TICK_SLACK = timedelta(seconds=5)
log = logging.getLogger(__name__)

CATCH_UP = timedelta(hours=6)
TICK_LEASE = "tick"
# Slack for the dispatcher sharing its rate with other traffic and for the tick interval.
SPREAD_MARGIN_RATIO = 0.1
SPREAD_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class ReminderDeps:
    """The ports and settings a tick works with; the composition root builds it."""

    cases: Cases
    declarations: Declarations
    people: People
    accounts: Accounts
    outbox: Outbox
    fanouts: FanoutLog
    leases: Leases
    policy: Policy
    rate_per_s: dict[Platform, float]
    wake: Callable[[], None]
    holder: str  # this process in the tick lease, e.g. "host:pid"
    lease_ttl: timedelta = timedelta(minutes=2)


class Kind(StrEnum):
    """The fan-outs of a window, in the order they run."""

    OPEN = "open"
    DUE = "due"
    DEADLINE = "deadline"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Contacts:
    """The people of some cases, and their reachable (not blocked) accounts by person id."""

    people: dict[str, Person]
    accounts: dict[str, list[Account]]


async def tick(deps: ReminderDeps, now: datetime) -> None:
    """Run the due fan-outs of the windows around `now`, holding the tick lease."""
    # The lease only spares other processes the work: the fan-out log and outbox keys alone
    # keep two concurrent ticks from sending anything twice.
    if not await deps.leases.acquire(TICK_LEASE, deps.holder, deps.lease_ttl):
        log.debug("tick skipped: another process holds the lease")
        return
    try:
        await _run_pending(deps, now)
    finally:
        await deps.leases.release(TICK_LEASE, deps.holder)


async def _run_pending(deps: ReminderDeps, now: datetime) -> None:
    windows = [w for w in deps.policy.schedule.around(now) if w.deadline > now - CATCH_UP]
    timely = [(w, kind) for w in windows for kind in Kind if in_time(kind, w, now, deps.policy)]
    if not timely:
        return
    done = await deps.fanouts.done(fanout_key(window, kind) for window, kind in timely)
    pending = [
        (window, kind)
        for window, kind in timely
        if fanout_key(window, kind) not in done
        and not (kind is Kind.DUE and _due_waits(deps, now, window, done))
    ]
    if not pending:
        return
    active = await deps.cases.active()
    for window, kind in pending:
        # One failing fan-out (it is retried next tick) must not hold back the others.
        try:
            await _run(deps, now, window, kind, active, done)
        except Exception:
            log.exception("fan-out %s failed", fanout_key(window, kind))


def _due_waits(
    deps: ReminderDeps,
    now: datetime,
    window: Window,
    done: Mapping[str, int | None],
    concerned: int | None = None,
) -> bool:
    """Whether a window's due fan-out must wait, judged without loading cases when possible.

    The number of cases the open fan-out concerned, when recorded, is at least the number
    still to remind (but for cases enrolled since, a few the spread margin absorbs): starting
    by it starts early, and `spread` holds each platform's messages until its exact start
    while the dispatcher drops those who declare meanwhile. Otherwise `concerned` decides.
    """
    recorded = done.get(fanout_key(window, Kind.OPEN))
    count = recorded if recorded is not None else concerned
    return count is not None and now < due_start(window, deps, count)


def fanout_key(window: Window, kind: Kind) -> str:
    """The `FanoutLog` key of one fan-out of a window."""
    return f"{window.local_date}/{window.slot}/{kind}"


def in_time(kind: Kind, window: Window, now: datetime, policy: Policy) -> bool:
    """Whether `now` is in the span where a fan-out of `kind` may run for `window`."""
    match kind:
        case Kind.OPEN | Kind.DUE:
            return window.opens_at <= now < window.deadline
        case Kind.DEADLINE:
            return window.deadline <= now
        case Kind.COMPLETED:
            return is_last(window, policy) and window.deadline <= now


def is_last(window: Window, policy: Policy) -> bool:
    """Whether `window` is the last of its day (after which ending cases complete)."""
    return policy.schedule.windows_on(window.local_date)[-1] == window


async def _run(
    deps: ReminderDeps,
    now: datetime,
    window: Window,
    kind: Kind,
    active: list[Case],
    done: Mapping[str, int | None],
) -> None:
    cases = await _concerned(deps, window, kind, active)
    if kind is Kind.DUE and _due_waits(deps, now, window, done, len(cases)):
        return
    if kind is Kind.COMPLETED:
        # Each case ends by a conditional write: one extended meanwhile goes on, unthanked.
        cases = [c for c in cases if await deps.cases.complete(c.id, window.local_date, now)]
    contacts = await load_contacts(deps, cases)
    messages = _build(deps, now, window, kind, cases, contacts)
    added = await deps.outbox.enqueue(messages) if messages else 0
    await deps.fanouts.mark_done(fanout_key(window, kind), len(cases))
    if added:
        deps.wake()
    log.info(
        "fan-out %s for %s %s: %d cases, %d messages (%d new)",
        kind,
        window.local_date,
        window.slot,
        len(cases),
        len(messages),
        added,
    )


async def _concerned(
    deps: ReminderDeps, window: Window, kind: Kind, active: list[Case]
) -> list[Case]:
    match kind:
        case Kind.OPEN:
            return covering(window, active)
        case Kind.DUE | Kind.DEADLINE:
            declared = await deps.declarations.declared_cases(window.local_date, window.slot)
            return [case for case in covering(window, active) if case.id not in declared]
        case Kind.COMPLETED:
            # `<=` rather than `==`: a case whose last day fell in a long outage still ends.
            return [case for case in active if case.end <= window.local_date]


def covering(window: Window, active: Iterable[Case]) -> list[Case]:
    """Cases that must declare for a window: it falls in their dates and they predate it."""
    return [case for case in active if was_due(case, window)]


def due_start(window: Window, deps: ReminderDeps, cases: int) -> datetime:
    """When the due fan-out must begin at the latest.

    Before loading accounts it is known only how many cases are reminded, so this assumes one
    account per case on the slowest platform; `spread` then holds each platform's messages
    until its own, exact start.
    """
    return start_to_finish_by(due_target(window, deps.policy), cases, min(deps.rate_per_s.values()))


def due_target(window: Window, policy: Policy) -> datetime:
    """When the last due reminder of a window must have gone out."""
    return window.deadline - policy.remind_before


async def load_contacts(deps: ReminderDeps, cases: Iterable[Case]) -> Contacts:
    """The people (proxies too) and reachable accounts of some cases, in two bulk queries."""
    person_ids = {p for case in cases for p in (case.person_id, *case.proxies)}
    people = await deps.people.many(person_ids)
    accounts: defaultdict[str, list[Account]] = defaultdict(list)
    for account in await deps.accounts.of_people(person_ids):
        if not account.blocked:
            accounts[account.person_id].append(account)
    return Contacts(people, dict(accounts))


def _build(
    deps: ReminderDeps,
    now: datetime,
    window: Window,
    kind: Kind,
    cases: list[Case],
    contacts: Contacts,
) -> list[OutgoingMessage]:
    match kind:
        case Kind.OPEN:
            return _open(window, cases, contacts)
        case Kind.DUE:
            return _due(deps, now, window, cases, contacts)
        case Kind.DEADLINE:
            return _deadline(deps, window, cases, contacts)
        case Kind.COMPLETED:
            return _completed(cases, contacts)


def _open(window: Window, cases: list[Case], contacts: Contacts) -> list[OutgoingMessage]:
    slot, day = window.slot, window.local_date
    messages = to_residents(
        contacts,
        cases,
        lambda case: f"remind:{case.id}:{day}:{slot}:open",
        lambda lang, _: t(lang, "quarantine.remind_open", slot=window_name(lang, slot)),
        declare_for=window,
    )
    return messages


def _due(
    deps: ReminderDeps, now: datetime, window: Window, missed: list[Case], contacts: Contacts
) -> list[OutgoingMessage]:
    slot, day = window.slot, window.local_date
    # A late tick (after a restart) must not promise more minutes than are left.
    # A tick a few seconds late still says "25 minutes", not "24", for 24 min 59 s.
    left = min(deps.policy.remind_before, window.deadline - now) + TICK_SLACK
    minutes = left // timedelta(minutes=1)
    messages = to_residents(
        contacts,
        missed,
        lambda case: f"remind:{case.id}:{day}:{slot}:due",
        lambda lang, _: t(
            lang, "quarantine.remind_due", slot=window_name(lang, slot), minutes=minutes
        ),
        declare_for=window,
    )
    return spread(messages, due_target(window, deps.policy), deps.rate_per_s)


def _deadline(
    deps: ReminderDeps, window: Window, missed: list[Case], contacts: Contacts
) -> list[OutgoingMessage]:
    slot, day = window.slot, window.local_date
    # Cases about to complete could no longer declare, so they get no nudge (staff still see).
    completing = is_last(window, deps.policy)
    nudges = to_residents(
        contacts,
        [case for case in missed if not (completing and case.end <= day)],
        lambda case: f"nudge:{case.id}:{day}:{slot}",
        lambda lang, _: t(lang, "quarantine.nudge", slot=window_name(lang, slot)),
        # A late declaration fills the missed window: the nudge is then pointless.
        declare_for=window,
    )
    return summaries(window, missed, contacts.people) + nudges


def _completed(ending: list[Case], contacts: Contacts) -> list[OutgoingMessage]:
    messages = to_residents(
        contacts,
        ending,
        lambda case: f"completed:{case.id}",
        lambda lang, case: t(
            lang,
            "quarantine.completed",
            name=_name_and_phone(case, contacts.people)[0],
            number=case.number,
        ),
        declare_for=None,
    )
    return messages


def to_residents(
    contacts: Contacts,
    cases: Iterable[Case],
    key: Callable[[Case], str],
    text: Callable[[str, Case], str],
    declare_for: Window | None,
) -> list[OutgoingMessage]:
    """One message per reachable account of each case's person and proxies, in the account's
    language.

    Messages asking to declare for a window (`declare_for`) carry the «declare now» button and
    are skipped at send time once the case has declared for it (whoever declared).
    """
    buttons = declare_button if declare_for else (lambda _: [])
    return [
        message.model_copy(update={"skip_if_declared": _window_ref(case, declare_for)})
        for case in cases
        for message in _to_case(contacts, case, key(case), text, buttons)
    ]


def _to_case(
    contacts: Contacts,
    case: Case,
    key: str,
    text: Callable[[str, Case], str],
    buttons: Callable[[Account], list[list[Button]]],
) -> list[OutgoingMessage]:
    """The resident's messages, and each proxy's, told whom it is for."""
    accounts = contacts.accounts
    messages = to_accounts(
        key, accounts.get(case.person_id, []), partial(_text_for_case, text, case), buttons
    )
    person = contacts.people.get(case.person_id)
    for proxy in case.proxies:
        for_proxy = partial(_text_for_proxy, text, case, person)
        messages += to_accounts(f"{key}:for:{proxy}", accounts.get(proxy, []), for_proxy, buttons)
    return messages


def _text_for_case(text: Callable[[str, Case], str], case: Case, lang: str) -> str:
    return text(lang, case)


def _text_for_proxy(
    text: Callable[[str, Case], str], case: Case, person: Person | None, lang: str
) -> str:
    name = person.name if person else t(lang, "case.person_erased")
    return t(lang, "proxy.reminder_for", name=name, number=case.number) + "\n" + text(lang, case)


def _window_ref(case: Case, window: Window | None) -> str:
    """`skip_if_declared` for a case's window: "<case id>/<yyyy-mm-dd>/<HH:MM>" ("" for none)."""
    return f"{case.id}/{window.local_date}/{window.slot}" if window else ""


def skip_declared(declarations: Declarations) -> Obsolete:
    """The dispatcher's `obsolete` check: messages whose case has declared for their window.

    One query per distinct window among the messages (a batch has one or two).
    """

    async def obsolete(entries: Sequence[OutboxEntry]) -> set[str]:
        asking: defaultdict[tuple[date, str], dict[str, str]] = defaultdict(dict)
        for entry in entries:
            if entry.skip_if_declared:
                case_id, day, slot = entry.skip_if_declared.rsplit("/", 2)
                asking[(date.fromisoformat(day), slot)][entry.key] = case_id
        unwanted: set[str] = set()
        for (local_date, slot), case_by_key in asking.items():
            declared = await declarations.declared_cases(local_date, slot)
            unwanted.update(key for key, case_id in case_by_key.items() if case_id in declared)
        return unwanted

    return obsolete


def spread(
    messages: list[OutgoingMessage], target: datetime, rate_per_s: dict[Platform, float]
) -> list[OutgoingMessage]:
    """The messages held until each platform's start, so the dispatcher finishes by `target`.

    The dispatcher sends at most `rate_per_s` per platform, so n messages take n / rate
    seconds; holding them until that long (plus a margin) before the target spreads them over
    the minutes before it instead of piling them up behind it.
    """
    counts = Counter(message.platform for message in messages)
    starts = {
        platform: start_to_finish_by(target, count, rate_per_s[platform])
        for platform, count in counts.items()
    }
    return [m.model_copy(update={"not_before": starts[m.platform]}) for m in messages]


def start_to_finish_by(target: datetime, count: int, rate_per_s: float) -> datetime:
    """When to start sending `count` messages at `rate_per_s` for the last to leave by `target`."""
    sending = timedelta(seconds=count / rate_per_s)
    return target - sending * (1 + SPREAD_MARGIN_RATIO) - SPREAD_MARGIN


def summaries(
    window: Window, missed: list[Case], people: dict[str, Person]
) -> list[OutgoingMessage]:
    """One Vietnamese summary per staff chat listing its cases that missed the window."""
    by_chat: defaultdict[tuple[Platform, str], list[Case]] = defaultdict(list)
    for case in missed:
        by_chat[(case.staff_chat.platform, case.staff_chat.chat_id)].append(case)
    return [
        OutgoingMessage(
            key=f"summary:{window.local_date}:{window.slot}:{platform.value}:{chat_id}",
            platform=platform,
            chat_id=chat_id,
            text=_summary_text(window, cases, people),
        )
        for (platform, chat_id), cases in by_chat.items()
    ]


def _summary_text(window: Window, cases: list[Case], people: dict[str, Person]) -> str:
    title = t(
        STAFF_LANGUAGE,
        "summary.title",
        slot=window_name(STAFF_LANGUAGE, window.slot),
        date=format_date(window.local_date),
        count=len(cases),
    )
    lines = [_summary_line(case, people) for case in cases]
    return "\n".join([title, *lines])


def _summary_line(case: Case, people: dict[str, Person]) -> str:
    name, phone = _name_and_phone(case, people)
    return t(STAFF_LANGUAGE, "summary.line", number=case.number, name=name, phone=phone)


def _name_and_phone(case: Case, people: dict[str, Person]) -> tuple[str, str]:
    # A resident may erase their record while the case runs; staff still see the case number.
    person = people.get(case.person_id)
    return (person.name, display_phone(person.phone)) if person else ("?", "?")
