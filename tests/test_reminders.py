"""The scheduler tick over simulated days with a fixed clock, on the real database: reminders,
deadline summaries and nudges, case completion, catch-up after a restart, exactly-once
enqueueing across repeated ticks and concurrent processes, reminders dropped at send time for
whoever declared meanwhile, and the cost of idle ticks. Assertions read the outbox, as users
would see it: what each chat is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, reminder_deps
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from core.channel import Outbound, Platform
from core.clock import FixedClock
from core.models import (
    Account,
    Answers,
    Case,
    CaseStatus,
    ChatRef,
    Declaration,
    OutboxStatus,
    Person,
    Priority,
)
from core.phone import display_phone
from core.schedule import Schedule, parse_deadlines
from core.texts import LANGUAGES, t, window_name
from handlers.context import Policy
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from scheduler.dispatch import Dispatcher
from scheduler.jobs import Job, build_scheduler
from scheduler.reminders import ReminderDeps, due_start, skip_declared, start_to_finish_by, tick
from storage.database import Storage
from storage.declarations import DeclarationsRepo
from storage.documents import Database, Document
from tests.conftest import LOCAL, TEST_AUDIT_KEY, at

TELEGRAM, ZALO = Platform.TELEGRAM, Platform.ZALO
DAY = date(2026, 11, 27)
POLICY = Policy(
    schedule=Schedule(parse_deadlines("08:00,13:00,19:00"), timedelta(hours=2), LOCAL),
    remind_before=timedelta(minutes=30),
)
RATES = {TELEGRAM: 25.0, ZALO: 10.0}
STAFF_A = ChatRef(platform=TELEGRAM, chat_id="-100777")
STAFF_B = ChatRef(platform=ZALO, chat_id="staff-group-b")
NAMES = {
    1: "Lê Thị Hoa",
    2: "Trần Văn Minh",
    3: "Nguyễn Thị Lan",
    4: "Phạm Văn Đức",
    5: "Võ Thị Mai",
}


@pytest.fixture(autouse=True)
async def indexes(storage: Storage) -> None:
    """The production indexes: the outbox's unique keys are part of exactly-once."""
    await storage.ensure_indexes()


@dataclass
class WakeCounter:
    """Counts how often the tick wakes the dispatchers."""

    wakes: int = 0

    def wake(self) -> None:
        """A tick enqueued messages."""
        self.wakes += 1


def deps_for(
    storage: Storage, holder: str = "process-1", wakes: WakeCounter | None = None
) -> ReminderDeps:
    """The tick's ports, as one process builds them."""
    return reminder_deps(storage, POLICY, RATES, (wakes or WakeCounter()).wake, holder)


def chat(number: int, platform: Platform) -> str:
    """The private chat of resident `number` on a platform (Telegram's ids are numbers)."""
    return str(100_000 + number) if platform is TELEGRAM else f"zalo-{number}"


async def enrol(
    storage: Storage,
    number: int,
    staff: ChatRef,
    accounts: Sequence[tuple[Platform, str]],
    created: datetime,
    end: date = DAY + timedelta(days=7),
    blocked: bool = False,
) -> Case:
    """A person with chat accounts (platform, language) and an active case, via the repositories."""
    person = Person(
        id=f"p{number}",
        name=NAMES.get(number, f"Người {number}"),
        phone=f"+8490{number:07d}",
        area="tan-ha",
        created_at=created,
    )
    await storage.people.add(person)
    for platform, language in accounts:
        account = Account(
            platform=platform,
            user_id=chat(number, platform),
            chat_id=chat(number, platform),
            person_id=person.id,
            language=language,
            blocked=blocked,
            created_at=created,
        )
        await storage.accounts.save(account)
    case = Case(
        id=f"c{number}",
        number=number,
        person_id=person.id,
        area="tan-ha",
        start=created.astimezone(LOCAL).date(),
        end=end,
        staff_chat=staff,
        officer="telegram:9001",
        created_at=created,
    )
    await storage.cases.add(case)
    return case


async def declare(storage: Storage, number: int, slot: str, moment: datetime) -> None:
    """Case `number` declares for today's `slot` (late when after its deadline)."""
    window = POLICY.schedule.window(DAY, slot)
    assert window is not None
    declaration = Declaration(
        id=f"d{number}-{slot}",
        receipt=f"R{number}{slot.replace(':', '')}",
        case_id=f"c{number}",
        area="tan-ha",
        local_date=DAY,
        slot=slot,
        timing="late" if moment >= window.deadline else "on_time",
        answers=Answers(),
        submitted_at=moment,
    )
    assert await storage.declarations.add(declaration)


async def outbox(storage: Storage) -> list[Document]:
    """Every enqueued message, in enqueue order within each platform."""
    return await storage.db["outbox"].find({}).sort([("platform", 1), ("seq", 1)]).to_list()


def texts_to(messages: list[Document], chat_id: str) -> list[str]:
    """What one chat was sent, in order."""
    return [m["text"] for m in messages if m["chat_id"] == chat_id]


async def residents_of_a_commune(storage: Storage) -> None:
    """Five cases (one enrolled later, at 10:00) in two staff chats, on both platforms.

    1: Telegram (vi), staff A, last day today. 2: Telegram (en) and Zalo (vi), staff A.
    3: Zalo (vi), staff B. 5: blocked the bot, staff A, last day today.
    """
    early = at(5, 0, day=24)
    await enrol(storage, 1, STAFF_A, [(TELEGRAM, "vi")], early, end=DAY)
    await enrol(storage, 2, STAFF_A, [(TELEGRAM, "en"), (ZALO, "vi")], early)
    await enrol(storage, 3, STAFF_B, [(ZALO, "vi")], early)
    await enrol(storage, 5, STAFF_A, [(TELEGRAM, "vi")], early, end=DAY, blocked=True)


# The simulated day: clock positions (local time) and what people do at some of them.
DAY_STEPS = [
    at(5, 59), at(6, 0), at(7, 0), at(7, 30), at(8, 0), at(8, 1), at(9, 0), at(10, 0),
    at(11, 0), at(11, 30), at(12, 30), at(13, 0), at(15, 0), at(17, 0), at(18, 30),
    at(19, 0), at(19, 1), at(23, 0),
]  # fmt: skip
DECLARATIONS = {
    at(7, 0): [(1, "08:00")],
    at(9, 0): [(3, "08:00")],  # late, after the 08:00 summary went out
    at(11, 30): [(1, "13:00"), (2, "13:00"), (3, "13:00")],
}
ENROLLED_LATE = at(10, 0)  # case 4, after the 08:00 deadline


@dataclass
class Day:
    """What a simulated day left behind.

    At each step: messages added and dispatcher wakes by two processes ticking at once, outbox
    numbers they took, and numbers a repeated tick took afterwards. Each enqueue of a message
    takes a number, even one the outbox drops as a duplicate key.
    """

    messages: list[Document]
    added_and_woken: list[tuple[int, int]] = field(default_factory=list)
    numbers_taken: list[int] = field(default_factory=list)
    repeats_taken: list[int] = field(default_factory=list)


async def numbers_taken(storage: Storage) -> int:
    """Outbox numbers handed out so far, over every lane."""
    lanes = [(platform, priority) for platform in Platform for priority in Priority]
    return sum([(await storage.outbox.bounds(*lane))[1] for lane in lanes])


@pytest.fixture
async def other_process(mongo_uri: str, db: Database, clock: FixedClock) -> AsyncIterator[Storage]:
    """Another process's repositories: its own client to the same database."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield Storage.over(client[db.name], clock, TEST_AUDIT_KEY.encode())
    await client.close()


async def simulate_day(storage: Storage, other: Storage, clock: FixedClock) -> Day:
    """Tick through the day; at each step two processes tick at once, then the first again."""
    await residents_of_a_commune(storage)
    counter = WakeCounter()
    first = deps_for(storage, "process-1", counter)
    second = deps_for(other, "process-2", counter)
    day = Day([])
    for moment in DAY_STEPS:
        clock.set(moment)
        for number, slot in DECLARATIONS.get(moment, []):
            await declare(storage, number, slot, moment)
        if moment == ENROLLED_LATE:
            await enrol(storage, 4, STAFF_B, [(TELEGRAM, "vi")], moment)
        before, wakes = len(await outbox(storage)), counter.wakes
        taken = await numbers_taken(storage)
        await asyncio.gather(tick(first, clock.now()), tick(second, clock.now()))
        day.added_and_woken.append((len(await outbox(storage)) - before, counter.wakes - wakes))
        day.numbers_taken.append(await numbers_taken(storage) - taken)
        taken = await numbers_taken(storage)
        await tick(first, clock.now())
        day.repeats_taken.append(await numbers_taken(storage) - taken)
    day.messages = await outbox(storage)
    return day


@pytest.fixture
async def day(storage: Storage, other_process: Storage, clock: FixedClock) -> Day:
    """27 Nov 2026 from 05:59 to 23:00."""
    return await simulate_day(storage, other_process, clock)


def reminders(lang: str, *kinds: str) -> list[str]:
    """Resident texts: "open 08:00", "due 08:00", "nudge 08:00"."""
    texts = []
    for kind_and_slot in kinds:
        kind, slot = kind_and_slot.split()
        key = {"open": "remind_open", "due": "remind_due", "nudge": "nudge"}[kind]
        texts.append(t(lang, f"quarantine.{key}", slot=window_name(lang, slot), minutes=30))
    return texts


def summary(slot: str, *numbers: int) -> str:
    """The staff summary of a window listing these cases."""
    window = window_name("vi", slot)
    title = t("vi", "summary.title", slot=window, date="27/11/2026", count=len(numbers))
    lines = [
        t("vi", "summary.line", number=n, name=NAMES[n], phone=display_phone(f"+8490{n:07d}"))
        for n in numbers
    ]
    return "\n".join([title, *lines])


async def test_residents_get_each_reminder_once_and_only_while_undeclared(day: Day) -> None:
    """One open reminder per window; due reminders and nudges only to who has not declared."""
    assert texts_to(day.messages, chat(1, TELEGRAM)) == [
        *reminders("vi", "open 08:00", "open 13:00", "open 19:00", "due 19:00"),
        t("vi", "quarantine.completed", name=NAMES[1], number=1),  # no nudge: the case ends
    ]
    every_window = ["open 08:00", "due 08:00", "nudge 08:00", "open 13:00"]
    every_window += ["open 19:00", "due 19:00", "nudge 19:00"]
    assert texts_to(day.messages, chat(2, TELEGRAM)) == reminders("en", *every_window)
    assert texts_to(day.messages, chat(2, ZALO)) == reminders("vi", *every_window)
    assert texts_to(day.messages, chat(3, ZALO)) == reminders("vi", *every_window)
    assert texts_to(day.messages, chat(4, TELEGRAM)) == reminders(
        "vi", "open 13:00", "due 13:00", "nudge 13:00", "open 19:00", "due 19:00", "nudge 19:00"
    )
    assert texts_to(day.messages, chat(5, TELEGRAM)) == []  # blocked the bot


async def test_staff_summaries_list_exactly_the_missed_cases(day: Day) -> None:
    """One summary per window and staff chat; a case enrolled after a deadline is not missed."""
    assert texts_to(day.messages, STAFF_A.chat_id) == [
        summary("08:00", 2, 5),
        summary("13:00", 5),
        summary("19:00", 1, 2, 5),
    ]
    assert texts_to(day.messages, STAFF_B.chat_id) == [
        summary("08:00", 3),  # not #4, enrolled at 10:00
        summary("13:00", 4),
        summary("19:00", 3, 4),
    ]
    [staff_b] = {m["platform"] for m in day.messages if m["chat_id"] == STAFF_B.chat_id}
    assert staff_b == ZALO.value


async def test_languages_and_buttons_follow_the_account(day: Day) -> None:
    """English and Vietnamese texts differ; Telegram reminders carry «declare now», Zalo's not."""
    english, vietnamese = (texts_to(day.messages, chat(2, p))[0] for p in (TELEGRAM, ZALO))
    assert english.startswith("🔔 It is time") and vietnamese.startswith("🔔 Đã đến giờ")
    for message in day.messages:
        buttons = [b["data"] for row in message["buttons"] for b in row]
        is_reminder = message["key"].startswith(("remind:", "nudge:"))
        if message["platform"] == TELEGRAM.value and is_reminder:
            assert buttons == ["act:declare"], message["key"]
            label = message["buttons"][0][0]["label"]
            lang = "en" if message["chat_id"] == chat(2, TELEGRAM) else "vi"
            assert label == t(lang, "quarantine.declare_button")
        else:
            assert buttons == [], message["key"]


async def test_due_reminders_are_held_to_finish_by_their_target(day: Day) -> None:
    """Each platform's due reminders may start n / rate (plus a margin) before the target."""
    for slot in ("08:00", "13:00", "19:00"):
        target = at(int(slot[:2])) - POLICY.remind_before
        for platform, rate in RATES.items():
            due = [m for m in day.messages if m["key"].endswith(f":{slot}:due:{platform.value}")]
            starts = {m["not_before"] for m in due}
            assert len(starts) == (1 if due else 0)
            if due:
                assert starts.pop() <= target - timedelta(seconds=len(due) / rate)
    assert all(m.get("not_before") is None for m in day.messages if ":due:" not in m["key"])


async def test_the_case_ending_today_ends_after_the_last_window(day: Day, storage: Storage) -> None:
    """Cases whose last day it was are ENDED after 19:00; the reachable one is thanked once."""
    for number in (1, 5):
        case = await storage.cases.get(f"c{number}")
        assert case is not None and case.status is CaseStatus.ENDED
        assert case.end_reason == "completed" and case.ended_at == at(19, 0).astimezone(UTC)
    assert [c.number for c in await storage.cases.active()] == [2, 3, 4]
    completed = [m for m in day.messages if m["key"].startswith("completed:")]
    assert [m["key"] for m in completed] == ["completed:c1:telegram"]


async def test_concurrent_processes_and_repeated_ticks_enqueue_each_message_once(day: Day) -> None:
    """Two processes ticking at once enqueue each message exactly once (not once each, with the
    outbox dropping the duplicates), a repeated tick enqueues nothing, and enqueues wake."""
    assert day.numbers_taken == [added for added, _ in day.added_and_woken]
    assert day.repeats_taken == [0] * len(DAY_STEPS)
    assert all((added > 0) == (woken > 0) for added, woken in day.added_and_woken)
    assert day.added_and_woken[0] == (0, 0)  # 05:59: nothing open yet
    assert sum(added for added, _ in day.added_and_woken) == len(day.messages)


async def test_a_restart_catches_up_a_missed_deadline_once(
    storage: Storage, clock: FixedClock
) -> None:
    """The process died before 08:00; a fresh one at 08:30 sends the summaries and nudges once,
    leaving out case 4, enrolled at 08:15 after the deadline."""
    await residents_of_a_commune(storage)
    crashed = deps_for(storage)
    for moment in (at(6, 0), at(7, 30)):
        clock.set(moment)
        await tick(crashed, clock.now())
    before = {m["key"] for m in await outbox(storage)}
    await enrol(storage, 4, STAFF_B, [(TELEGRAM, "vi")], at(8, 15))

    restarted = deps_for(storage, "process-after-restart")
    for moment in (at(8, 30), at(8, 31)):
        clock.set(moment)
        await tick(restarted, clock.now())

    new = [m for m in await outbox(storage) if m["key"] not in before]
    assert sorted(m["key"].split(":")[0] for m in new) == ["nudge"] * 4 + ["summary"] * 2
    assert texts_to(new, STAFF_A.chat_id) == [summary("08:00", 1, 2, 5)]
    assert texts_to(new, STAFF_B.chat_id) == [summary("08:00", 3)]
    assert texts_to(new, chat(4, TELEGRAM)) == []


async def test_a_late_due_reminder_promises_only_the_minutes_left(
    storage: Storage, clock: FixedClock
) -> None:
    """A process started at 07:50 still sends the due reminders, saying 10 minutes are left."""
    await residents_of_a_commune(storage)
    clock.set(at(7, 50))
    await tick(deps_for(storage), clock.now())
    due = sorted(m["text"] for m in await outbox(storage) if ":due:" in m["key"])
    ten_minutes = {
        lang: t(lang, "quarantine.remind_due", slot=window_name(lang, "08:00"), minutes=10)
        for lang in LANGUAGES
    }
    assert due == sorted([ten_minutes["vi"]] * 3 + [ten_minutes["en"]])


async def test_windows_older_than_the_catch_up_are_never_replayed(
    storage: Storage, clock: FixedClock
) -> None:
    """A first tick at 14:30 handles the 13:00 deadline, not the 08:00 one (6.5 h ago)."""
    await residents_of_a_commune(storage)
    clock.set(at(14, 30))
    await tick(deps_for(storage), clock.now())
    keys = sorted(m["key"] for m in await outbox(storage))
    assert all(":13:00:" in key for key in keys) and len(keys) == 6  # 2 summaries, 4 nudges


async def test_a_held_lease_keeps_other_processes_out_until_it_expires(
    storage: Storage, clock: FixedClock
) -> None:
    """A process that died mid-tick holds the lease for its TTL; then another takes over."""
    await residents_of_a_commune(storage)
    clock.set(at(6, 0))
    assert await storage.leases.acquire("tick", "died-mid-tick", timedelta(minutes=2))
    await tick(deps_for(storage), clock.now())
    assert await outbox(storage) == []

    clock.set(at(6, 0) + timedelta(minutes=2, seconds=1))
    await tick(deps_for(storage), clock.now())
    assert len(await outbox(storage)) == 4  # the 08:00 open reminders


async def test_due_reminders_for_1000_cases_start_early_enough(
    storage: Storage, clock: FixedClock
) -> None:
    """1000 Telegram residents at 25/s: the due fan-out starts ≥ 40 s before its target.

    (The open fan-out is recorded without its number of cases: the tick counts them.)"""
    for number in range(1, 1001):
        await enrol(storage, number, STAFF_A, [(TELEGRAM, "vi")], at(5, 0, day=24))
    await storage.fanouts.mark_done("2026-11-27/08:00/open")  # those went out at 06:00
    target = at(7, 30)
    for moment in (at(6, 30), at(7, 15), at(7, 25)):
        clock.set(moment)
        await tick(deps_for(storage), clock.now())
    assert await outbox(storage) == []  # not started wastefully early

    clock.set(at(7, 29))
    await tick(deps_for(storage), clock.now())
    due = await outbox(storage)
    assert len(due) == 1000 and all(":08:00:due:" in m["key"] for m in due)
    [start] = {m["not_before"] for m in due}
    assert at(7, 28) <= start <= target - timedelta(seconds=40)


async def test_the_due_fan_out_starts_by_the_open_fan_outs_count_and_holds_its_messages(
    storage: Storage, clock: FixedClock
) -> None:
    """100 cases were reminded at 06:00, 90 declared since: the due fan-out begins when 100
    would have to, without counting the cases again, and holds the 10 reminders until the
    start that 10 need."""
    for number in range(1, 101):
        await enrol(storage, number, STAFF_A, [(TELEGRAM, "vi")], at(5, 0, day=24))
    deps = deps_for(storage)
    await tick(deps, at(6, 0))
    for number in range(11, 101):
        await declare(storage, number, "08:00", at(7, 0))
    window = POLICY.schedule.window(DAY, "08:00")
    assert window is not None
    start = due_start(window, deps, 100)
    await tick(deps, start - timedelta(seconds=1))
    assert not [m for m in await outbox(storage) if ":due:" in m["key"]]

    await tick(deps, start)
    due = [m for m in await outbox(storage) if ":due:" in m["key"]]
    assert len(due) == 10
    [held_until] = {m["not_before"] for m in due}
    exact_start = start_to_finish_by(at(7, 30), 10, RATES[TELEGRAM])
    assert start < held_until and abs(held_until - exact_start) < timedelta(milliseconds=1)


async def test_the_scheduler_runs_the_tick_repeatedly() -> None:
    """The APScheduler job calls the tick again and again, one run at a time."""
    ticks: list[datetime] = []
    ticked_twice = asyncio.Event()

    async def run_tick() -> None:
        ticks.append(datetime.now(UTC))
        if len(ticks) == 2:
            ticked_twice.set()

    scheduler = build_scheduler([Job("tick", timedelta(seconds=0.05), run_tick)])
    [job] = scheduler.get_jobs()
    assert job.max_instances == 1 and job.coalesce
    scheduler.start()
    try:
        await asyncio.wait_for(ticked_twice.wait(), timeout=5)
    finally:
        scheduler.shutdown(wait=False)


# ---- reminders dropped at send time --------------------------------------------------------


async def send_due(senders: Sequence[Dispatcher]) -> None:
    """Let each dispatcher send until it finds nothing more to do."""
    for sender in senders:
        while await sender.drain_once():
            pass


@pytest.fixture
async def senders(
    storage: Storage, sandbox: Sandbox, clock: FixedClock
) -> AsyncIterator[list[Dispatcher]]:
    """Telegram and Zalo dispatchers to the emulators, asking `skip_declared` before sends."""
    telegram = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    zalo = ZaloChannel(
        SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, storage.media, "http://127.0.0.1:9"
    )
    obsolete = skip_declared(storage.declarations)

    def sender(channel: Outbound) -> Dispatcher:
        return Dispatcher(
            channel.platform,
            channel,
            storage.outbox,
            storage.leases,
            storage.photos,
            clock,
            RATES[channel.platform],
            "process-1",
            obsolete=obsolete,
        )

    yield [sender(telegram), sender(zalo)]
    await telegram.close()
    await zalo.close()


async def test_who_declared_meanwhile_gets_no_reminder_to_declare(
    storage: Storage,
    clock: FixedClock,
    senders: list[Dispatcher],
    tg: SandboxClient,
    zl: SandboxClient,
) -> None:
    """Open and due reminders and nudges enqueued before a declaration are dropped when their
    turn comes; the others, and the staff summaries, are delivered."""
    await residents_of_a_commune(storage)
    steps = [
        (at(6, 0), at(6, 10), 2),  # the window opens; #2 declares before the reminders go
        (at(7, 50), at(7, 55), 1),  # due reminders; #1 declares before they go
        (at(8, 0), at(8, 5), 3),  # deadline nudges; #3 declares late before they go
    ]
    for ticked, declared, number in steps:
        clock.set(ticked)
        await tick(deps_for(storage), clock.now())
        clock.set(declared)
        await declare(storage, number, "08:00", declared)
        await send_due(senders)

    status = {m["key"]: m["status"] for m in await outbox(storage)}
    skipped = sorted(key for key, value in status.items() if value == OutboxStatus.SKIPPED)
    assert skipped == [
        "nudge:c3:2026-11-27:08:00:zalo",
        "remind:c1:2026-11-27:08:00:due:telegram",
        "remind:c2:2026-11-27:08:00:open:telegram",
        "remind:c2:2026-11-27:08:00:open:zalo",
    ]
    assert set(status.values()) == {OutboxStatus.SKIPPED, OutboxStatus.SENT}

    async def received(control: SandboxClient, chat_id: str) -> int:
        return len(await control.messages(chat_id))

    assert await received(tg, chat(1, TELEGRAM)) == 1  # open
    assert await received(tg, chat(2, TELEGRAM)) == await received(zl, chat(2, ZALO)) == 0
    assert await received(zl, chat(3, ZALO)) == 2  # open, due
    assert await received(tg, STAFF_A.chat_id) == await received(zl, STAFF_B.chat_id) == 1


async def test_the_declared_check_reads_each_window_once(storage: Storage, db: Database) -> None:
    """Messages of two windows, for several cases: one query per window tells which to drop."""
    await residents_of_a_commune(storage)
    await declare(storage, 1, "08:00", at(7, 0))
    for moment in (at(6, 0), at(11, 0)):  # 08:00 open; 08:00 deadline and 13:00 open
        await tick(deps_for(storage), moment)
    await declare(storage, 3, "08:00", at(11, 10))
    await declare(storage, 2, "13:00", at(11, 10))
    asked: list[tuple[date, str]] = []

    class WatchedDeclarations(DeclarationsRepo):
        async def declared_cases(self, day: date, slot: str) -> set[str]:
            asked.append((day, slot))
            return await super().declared_cases(day, slot)

    lanes = [(platform, Priority.NORMAL) for platform in Platform]
    entries = [e for lane in lanes for e in await storage.outbox.window(*lane, 0, 100)]
    unwanted = await skip_declared(WatchedDeclarations(db, storage.outbox))(entries)
    assert sorted(unwanted) == [
        "nudge:c3:2026-11-27:08:00:zalo",
        "remind:c1:2026-11-27:08:00:open:telegram",
        "remind:c2:2026-11-27:13:00:open:telegram",
        "remind:c2:2026-11-27:13:00:open:zalo",
        "remind:c3:2026-11-27:08:00:open:zalo",
    ]
    assert sorted(asked) == [(DAY, "08:00"), (DAY, "13:00")]


# ---- the cost of idle ticks ----------------------------------------------------------------


class CommandCounter(monitoring.CommandListener):
    """The commands a client sends and the documents it gets back."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.documents = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """A command goes out."""
        self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Count what came back: a cursor's batch, a `findAndModify` value."""
        cursor = event.reply.get("cursor", {})
        self.documents += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
        self.documents += 1 if event.reply.get("value") else 0

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """A failed command returns nothing."""


@dataclass(frozen=True)
class Cost:
    """What some ticks asked the database and got back."""

    commands: list[str]
    documents: int


async def idle_tick_cost(db: Database, mongo_uri: str, clock: FixedClock, cases: int) -> Cost:
    """Enrol `cases` cases, open the 08:00 window, then measure two ticks with nothing due."""
    storage = Storage.over(db, clock, TEST_AUDIT_KEY.encode())
    await storage.ensure_indexes()
    for number in range(1, cases + 1):
        await enrol(storage, number, STAFF_A, [(TELEGRAM, "vi")], at(5, 0, day=24))
    await tick(deps_for(storage), at(6, 0))
    counter = CommandCounter()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_uri, tz_aware=True, event_listeners=[counter]
    )
    try:
        watched = deps_for(Storage.over(client[db.name], clock, TEST_AUDIT_KEY.encode()))
        for moment in (at(6, 30), at(7, 0)):  # the due reminders start at 07:28 at the earliest
            await tick(watched, moment)
        return Cost(list(counter.commands), counter.documents)
    finally:
        await client.close()


async def test_idle_ticks_cost_the_same_few_small_queries_for_3_or_300_cases(
    db: Database,
    mongo_client: AsyncMongoClient[Document],
    mongo_uri: str,
    clock: FixedClock,
) -> None:
    """While a window is open and its due reminders are not due yet, a tick reads neither the
    cases nor more than a few documents, however many cases there are."""
    larger = mongo_client[f"{db.name}_300"]
    try:
        few = await idle_tick_cost(db, mongo_uri, clock, 3)
        many = await idle_tick_cost(larger, mongo_uri, clock, 300)
    finally:
        await mongo_client.drop_database(larger.name)
    assert many.commands == few.commands
    assert len(few.commands) <= 2 * 3  # two ticks: lease, fan-out log, lease
    assert many.documents <= few.documents
