"""The scheduler tick over simulated days with a fixed clock, on the real database: reminders,
deadline summaries and nudges, case completion, catch-up after a restart, and exactly-once
delivery across repeated ticks and processes. Assertions read the outbox, as users would see
it: what each chat is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.app import reminder_deps
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Account,
    Answers,
    Case,
    CaseStatus,
    ChatRef,
    Declaration,
    Person,
)
from core.schedule import Schedule, parse_deadlines
from core.texts import LANGUAGES, t
from handlers.context import Policy
from scheduler.jobs import build_scheduler
from scheduler.reminders import ReminderDeps, tick
from storage.database import Storage
from storage.documents import Document
from tests.conftest import LOCAL, at

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
    """The private chat of resident `number` on a platform."""
    return f"{platform.value}-{number}"


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
    """What a simulated day left behind."""

    messages: list[Document]
    repeats_added: list[int] = field(default_factory=list)
    added_and_woken: list[tuple[int, int]] = field(default_factory=list)


async def simulate_day(storage: Storage, clock: FixedClock) -> Day:
    """Tick through the day; at each step tick again and from a second process."""
    await residents_of_a_commune(storage)
    counter = WakeCounter()
    first, second = deps_for(storage, "process-1", counter), deps_for(storage, "process-2")
    day = Day([])
    for moment in DAY_STEPS:
        clock.set(moment)
        for number, slot in DECLARATIONS.get(moment, []):
            await declare(storage, number, slot, moment)
        if moment == ENROLLED_LATE:
            await enrol(storage, 4, STAFF_B, [(TELEGRAM, "vi")], moment)
        before, wakes = len(await outbox(storage)), counter.wakes
        await tick(first, clock.now())
        after = len(await outbox(storage))
        day.added_and_woken.append((after - before, counter.wakes - wakes))
        await tick(first, clock.now())
        await tick(second, clock.now())
        day.repeats_added.append(len(await outbox(storage)) - after)
    day.messages = await outbox(storage)
    return day


@pytest.fixture
async def day(storage: Storage, clock: FixedClock) -> Day:
    """27 Nov 2026 from 05:59 to 23:00."""
    return await simulate_day(storage, clock)


def reminders(lang: str, *kinds: str) -> list[str]:
    """Resident texts: "open 08:00", "due 08:00", "nudge 08:00"."""
    texts = []
    for kind_and_slot in kinds:
        kind, slot = kind_and_slot.split()
        key = {"open": "remind_open", "due": "remind_due", "nudge": "nudge"}[kind]
        texts.append(t(lang, f"quarantine.{key}", slot=slot, minutes=30))
    return texts


def summary(slot: str, *numbers: int) -> str:
    """The staff summary of a window listing these cases."""
    title = t("vi", "summary.title", slot=slot, date="27/11/2026", count=len(numbers))
    lines = [
        t("vi", "summary.line", number=n, name=NAMES[n], phone=f"+8490{n:07d}") for n in numbers
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


async def test_repeated_ticks_and_a_second_process_enqueue_nothing_new(day: Day) -> None:
    """At every step, a second tick and another process's tick add nothing; sends wake."""
    assert day.repeats_added == [0] * len(DAY_STEPS)
    assert all((added > 0) == (woken > 0) for added, woken in day.added_and_woken)
    assert day.added_and_woken[0] == (0, 0)  # 05:59: nothing open yet


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
        lang: t(lang, "quarantine.remind_due", slot="08:00", minutes=10) for lang in LANGUAGES
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
    """1000 Telegram residents at 25/s: the due fan-out starts ≥ 40 s before its target."""
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


async def test_the_scheduler_runs_the_tick_repeatedly() -> None:
    """The APScheduler job calls the tick again and again, one run at a time."""
    ticks: list[datetime] = []
    ticked_twice = asyncio.Event()

    async def run_tick() -> None:
        ticks.append(datetime.now(UTC))
        if len(ticks) == 2:
            ticked_twice.set()

    scheduler = build_scheduler(timedelta(seconds=0.05), run_tick)
    [job] = scheduler.get_jobs()
    assert job.max_instances == 1 and job.coalesce
    scheduler.start()
    try:
        await asyncio.wait_for(ticked_twice.wait(), timeout=5)
    finally:
        scheduler.shutdown(wait=False)
