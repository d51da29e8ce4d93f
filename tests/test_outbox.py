"""The outbox and its dispatcher: real SecantusDB, real adapters over HTTP to the emulators."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from core.channel import Button, Platform
from core.clock import FixedClock
from core.models import OutboxEntry, OutboxStatus, OutgoingMessage, Priority
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from scheduler.dispatch import (
    BACKOFF_BASE,
    LEASE_TTL,
    MAX_ATTEMPTS,
    MISSING_GRACE,
    QUOTA_PAUSE_FIRST,
    Dispatcher,
    GrowingPause,
    TokenBucket,
)
from storage.database import Storage
from storage.documents import Database, Document
from tests.channel_support import jpeg
from tests.conftest import TEST_AUDIT_KEY

FAST = 1000.0  # messages/s: fast enough that the bucket never slows a test down
FIRST_CHAT = 700_000


def chat(n: int) -> str:
    """The chat of message `m{n}`."""
    return str(FIRST_CHAT + n)


def message(n: int, **fields: Any) -> OutgoingMessage:
    """A Telegram message `m{n}` to its own chat, with a text naming it."""
    values: dict[str, Any] = {
        "key": f"m{n}",
        "platform": Platform.TELEGRAM,
        "chat_id": chat(n),
        "text": f"Nhắc khai báo m{n}",
    }
    return OutgoingMessage(**(values | fields))


@pytest.fixture
async def store(storage: Storage) -> Storage:
    """Repositories over the test database, with their indexes."""
    await storage.ensure_indexes()
    return storage


@pytest.fixture
async def telegram(sandbox: Sandbox) -> AsyncIterator[TelegramChannel]:
    """The Telegram adapter pointed at the emulator."""
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    yield channel
    await channel.close()


@pytest.fixture
async def zalo(sandbox: Sandbox, store: Storage) -> AsyncIterator[ZaloChannel]:
    """The Zalo adapter pointed at the emulator."""
    channel = ZaloChannel(
        SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, store.media, "http://127.0.0.1:9"
    )
    yield channel
    await channel.close()


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
def dispatcher(store: Storage, telegram: TelegramChannel, clock: FixedClock) -> MakeDispatcher:
    """Builds dispatchers over the test database (Telegram and holder "a" unless told)."""

    def make(**options: Any) -> Dispatcher:
        values: dict[str, Any] = {"rate_per_s": FAST, "holder": "a"} | options
        return Dispatcher(
            values.pop("platform", Platform.TELEGRAM),
            values.pop("channel", telegram),
            values.pop("outbox", store.outbox),
            values.pop("leases", store.leases),
            store.photos,
            clock,
            **values,
        )

    return make


async def drain(dispatcher: Dispatcher) -> int:
    """Pass after pass until one handles nothing; returns how many were handled."""
    total = 0
    while handled := await dispatcher.drain_once():
        total += handled
    return total


async def delivered(tg: SandboxClient) -> int:
    """How many texts the emulator accepted."""
    return sum(call["ok"] for call in await tg.calls("sendMessage"))


async def transcripts(tg: SandboxClient, count: int) -> dict[str, list[str]]:
    """The bot's messages in the chats of m0..m{count-1}, by chat."""
    chats = [chat(n) for n in range(count)]
    found = await asyncio.gather(*(tg.messages(chat_id) for chat_id in chats))
    return {
        chat_id: [m["text"] or m["caption"] for m in ms]
        for chat_id, ms in zip(chats, found, strict=True)
    }


async def assert_each_once(tg: SandboxClient, count: int) -> None:
    """Every chat m0..m{count-1} shows exactly its own message, once."""
    expected = {chat(n): [f"Nhắc khai báo m{n}"] for n in range(count)}
    assert await transcripts(tg, count) == expected


async def entry(
    store: Storage,
    seq: int,
    priority: Priority = Priority.NORMAL,
    platform: Platform = Platform.TELEGRAM,
) -> OutboxEntry:
    """The stored message with this number in a lane (Telegram's unless told)."""
    [found] = await store.outbox.window(platform, priority, seq, 1)
    return found


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# ---- enqueue -------------------------------------------------------------------------------


async def test_enqueue_is_idempotent_by_key(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    assert await store.outbox.enqueue([message(0), message(0, text="again"), message(1)]) == 2
    assert await store.outbox.enqueue([message(0), message(1)]) == 0
    assert await drain(dispatcher()) == 2
    await assert_each_once(tg, 2)


async def test_enqueued_messages_get_consecutive_numbers_per_lane(store: Storage) -> None:
    urgent = [message(n, priority=Priority.EMERGENCY) for n in (5, 6)]
    await store.outbox.enqueue([message(0), *urgent, message(1)])
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (0, 2)
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.EMERGENCY) == (0, 2)
    emergency = await store.outbox.window(Platform.TELEGRAM, Priority.EMERGENCY, 0, 10)
    assert [(e.seq, e.key) for e in emergency] == [(0, "m5"), (1, "m6")]


# ---- order, rate and time ------------------------------------------------------------------


async def test_the_emergency_lane_goes_first(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    await store.outbox.enqueue([message(n) for n in range(5)])
    await store.outbox.enqueue([message(n, priority=Priority.EMERGENCY) for n in (5, 6)])
    assert await dispatcher().drain_once() == 7
    order = [call["params"]["chat_id"] for call in await tg.calls("sendMessage")]
    assert set(order[:2]) == {chat(5), chat(6)}
    assert set(order[2:]) == {chat(n) for n in range(5)}


async def test_not_before_holds_a_message_back(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    later = clock.now() + timedelta(minutes=1)
    await store.outbox.enqueue([message(0, not_before=later), message(1)])
    sender = dispatcher()
    assert await drain(sender) == 1
    clock.set(later)
    assert await drain(sender) == 1
    await assert_each_once(tg, 2)


async def test_the_rate_limit_holds_without_429s(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    await tg.configure(rate_limit_per_s=20)
    await store.outbox.enqueue([message(n) for n in range(30)])
    assert await drain(dispatcher(rate_per_s=10)) == 30
    assert [call["error_code"] for call in await tg.calls("sendMessage")] == [None] * 30
    await assert_each_once(tg, 30)


async def test_a_dispatcher_faster_than_the_platform_delivers_all_once_through_its_429s(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    await tg.configure(rate_limit_per_s=20)
    await store.outbox.enqueue([message(n) for n in range(40)])
    sender = dispatcher(rate_per_s=200)

    async def all_sent() -> bool:
        await drain(sender)
        clock.advance(timedelta(seconds=1))  # the 429s asked for a second
        return await delivered(tg) >= 40

    await eventually(all_sent)
    codes = Counter(call["error_code"] for call in await tg.calls("sendMessage"))
    assert codes[None] == 40
    assert codes[429] > 0
    # Being throttled is not the messages' fault: no attempt was counted.
    assert [(await entry(store, n)).attempts for n in range(40)] == [0] * 40
    await assert_each_once(tg, 40)


async def test_a_telegram_429_pauses_its_chat_only(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    hour = timedelta(hours=1)
    await tg.configure(
        fail=[
            {
                "method": "sendMessage",
                "error_code": 429,
                "retry_after": int(hour.total_seconds()),
                "chat_id": chat(0),
            }
        ]
    )
    again = message(0, key="m0-bis", text="Nhắc khai báo m0 lần 2")
    await store.outbox.enqueue([message(0), again, message(1), message(2)])
    sender = dispatcher()
    # Had the whole platform paused for the hour, this would not end.
    await asyncio.wait_for(drain(sender), timeout=10)
    throttled, waiting = await entry(store, 0), await entry(store, 1)
    assert (throttled.status, throttled.attempts) == (OutboxStatus.PENDING, 0)
    assert throttled.next_at == clock.now() + hour
    assert waiting.status == OutboxStatus.PENDING
    calls = [call for call in await tg.calls("sendMessage") if call["params"]["chat_id"] == chat(0)]
    assert len(calls) == 1  # the chat's second message waits without being tried
    seen = await transcripts(tg, 3)
    assert seen == {chat(0): [], chat(1): ["Nhắc khai báo m1"], chat(2): ["Nhắc khai báo m2"]}
    clock.advance(hour)
    assert await drain(sender) == 2
    seen = await transcripts(tg, 1)
    assert seen[chat(0)] == ["Nhắc khai báo m0", "Nhắc khai báo m0 lần 2"]


async def test_a_zalo_429_counts_an_attempt_and_pauses_the_platform_longer_each_time(
    store: Storage,
    dispatcher: MakeDispatcher,
    zalo: ZaloChannel,
    zl: SandboxClient,
    clock: FixedClock,
) -> None:
    """Zalo's "Quota exceeded" names no wait: the message backs off as after an error, and
    every chat waits, 1 s after the first 429 and 2 s after the next in a row."""
    await zl.configure(fail=[{"method": "sendMessage", "error_code": 429, "count": 2}])
    chats = ["zalo-a", "zalo-b", "zalo-c"]
    await store.outbox.enqueue(
        [message(n, platform=Platform.ZALO, chat_id=chat_id) for n, chat_id in enumerate(chats)]
    )
    sender = dispatcher(platform=Platform.ZALO, channel=zalo, batch=1)
    for _ in chats:
        assert await sender.drain_once() == 1
    for n in (0, 1):
        refused = await entry(store, n, platform=Platform.ZALO)
        assert (refused.status, refused.attempts) == (OutboxStatus.PENDING, 1)
        assert refused.next_at == clock.now() + BACKOFF_BASE
    clock.advance(BACKOFF_BASE)
    assert await drain(sender) == 2
    calls = await zl.calls("sendMessage")
    assert [call["params"]["chat_id"] for call in calls] == [*chats, "zalo-a", "zalo-b"]
    assert [call["error_code"] for call in calls] == [429, 429, None, None, None]
    assert calls[1]["time"] - calls[0]["time"] >= QUOTA_PAUSE_FIRST
    assert calls[2]["time"] - calls[1]["time"] >= 2 * QUOTA_PAUSE_FIRST


def test_the_token_bucket_allows_a_one_second_burst_then_the_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(4, now=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [0, 0, 0, 0]
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 0.25
    assert bucket.take() == 0
    assert not bucket.paused()
    bucket.pause(2)
    assert bucket.paused()
    assert bucket.take() == pytest.approx(2.25)
    now[0] += 2.25
    assert not bucket.paused()
    assert bucket.take() == 0


def test_the_quota_pause_doubles_up_to_its_cap_until_reset() -> None:
    pause = GrowingPause(1.0, 5.0)
    assert [pause.take() for _ in range(5)] == [1, 2, 4, 5, 5]
    pause.reset()
    assert pause.take() == 1


# ---- failures ------------------------------------------------------------------------------


async def test_a_blocked_chat_is_marked_and_reported_and_the_rest_delivered(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    await tg.configure(
        fail=[{"method": "sendMessage", "error_code": 403, "count": None, "chat_id": chat(1)}]
    )
    reported: list[tuple[Platform, str]] = []

    async def on_blocked(platform: Platform, chat_id: str) -> None:
        reported.append((platform, chat_id))

    second_to_blocked = message(1, key="m1-bis")
    await store.outbox.enqueue([*(message(n) for n in range(4)), second_to_blocked])
    assert await drain(dispatcher(on_blocked=on_blocked)) == 5
    assert reported == [(Platform.TELEGRAM, chat(1))]
    assert (await entry(store, 1)).status == OutboxStatus.BLOCKED
    assert (await entry(store, 4)).status == OutboxStatus.BLOCKED
    calls = [call for call in await tg.calls("sendMessage") if call["params"]["chat_id"] == chat(1)]
    assert len(calls) == 1  # the chat's second message was not tried
    seen = await transcripts(tg, 4)
    assert seen[chat(1)] == []
    assert [seen[chat(n)] for n in (0, 2, 3)] == [[f"Nhắc khai báo m{n}"] for n in (0, 2, 3)]


async def test_a_transient_error_is_retried_with_backoff(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    await tg.configure(fail=[{"method": "sendMessage", "error_code": 500, "count": 2}])
    await store.outbox.enqueue([message(0)])
    sender = dispatcher()
    for attempts, backoff in ((1, 5), (2, 10)):
        assert await drain(sender) == 1
        failed = await entry(store, 0)
        assert (failed.status, failed.attempts) == (OutboxStatus.PENDING, attempts)
        assert failed.next_at == clock.now() + timedelta(seconds=backoff)
        assert "Internal Server Error" in failed.error
        clock.advance(timedelta(seconds=backoff - 1))
        assert await drain(sender) == 0
        clock.advance(timedelta(seconds=1))
    assert await drain(sender) == 1
    assert (await entry(store, 0)).status == OutboxStatus.SENT
    await assert_each_once(tg, 1)


async def test_a_message_that_keeps_failing_gives_up(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    await tg.configure(fail=[{"method": "sendMessage", "error_code": 500, "count": None}])
    await store.outbox.enqueue([message(0)])
    sender = dispatcher()
    for _ in range(MAX_ATTEMPTS):
        assert await drain(sender) == 1
        clock.advance(timedelta(minutes=10))
    assert await drain(sender) == 0
    gave_up = await entry(store, 0)
    assert (gave_up.status, gave_up.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (1, 1)


async def test_a_stuck_retry_does_not_starve_newer_messages(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    failing = {"method": "sendMessage", "error_code": 500, "count": None, "chat_id": chat(0)}
    await tg.configure(fail=[failing])
    await store.outbox.enqueue([message(0)])
    sender = dispatcher(batch=2)
    assert await drain(sender) == 1
    await store.outbox.enqueue([message(n) for n in range(1, 6)])
    assert await drain(sender) == 5
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (0, 6)
    await tg.configure(fail=None)
    clock.advance(timedelta(seconds=5))
    assert await drain(sender) == 1
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (6, 6)
    await assert_each_once(tg, 6)


async def test_unused_numbers_do_not_stall_the_lane(
    store: Storage,
    db: Database,
    dispatcher: MakeDispatcher,
    tg: SandboxClient,
    clock: FixedClock,
) -> None:
    racing = [message(n) for n in range(20)]
    added = await asyncio.gather(store.outbox.enqueue(racing), store.outbox.enqueue(racing))
    assert sum(added) == 20  # the numbers of the keys either lost stay unused
    # An enqueuer that died after taking numbers and before inserting leaves 5 more.
    lane_head = f"outbox:telegram:{int(Priority.NORMAL)}"
    await db["counters"].update_one({"_id": lane_head}, {"$inc": {"seq": 5}})
    await store.outbox.enqueue([message(n) for n in range(20, 25)])
    sender = dispatcher(batch=10)
    assert await drain(sender) == 25
    await assert_each_once(tg, 25)
    used = {document["seq"] async for document in db["outbox"].find({}, {"seq": 1})}
    cursor, head = await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL)
    # Both enqueues may have numbered some keys (they checked for known keys at once): the
    # cursor waits at the first number never used, to be sure it really is unused.
    assert head > 25 and cursor == min(set(range(head)) - used)
    clock.advance(MISSING_GRACE)
    assert await sender.drain_once() == 0
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (head, head)


async def test_a_late_insert_into_a_missing_number_is_still_sent(
    store: Storage, db: Database, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    lane_head = f"outbox:telegram:{int(Priority.NORMAL)}"
    await db["counters"].update_one({"_id": lane_head}, {"$set": {"seq": 1}}, True)
    sender = dispatcher()
    assert await drain(sender) == 0
    # The slow enqueuer's insert lands after the dispatcher saw the number missing.
    await store.outbox.enqueue([message(0)])
    await db["outbox"].update_one({"key": "m0"}, {"$set": {"seq": 0}})
    assert await drain(sender) == 1
    await assert_each_once(tg, 1)


# ---- photos --------------------------------------------------------------------------------


async def test_photo_messages_are_delivered_as_photos(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    photo_id = "selfie-1"
    await store.photos.put(photo_id, jpeg(), "c1")
    choose = [[Button("✅ Đã xem", "ack:1")]]
    await store.outbox.enqueue(
        [
            message(0, photo_id=photo_id),
            message(1, photo_id=photo_id, buttons=choose),
            message(2, photo_id="never-stored"),
        ]
    )
    assert await drain(dispatcher()) == 3
    [captioned] = await tg.messages(chat(0))
    assert (captioned["kind"], captioned["caption"]) == ("photo", "Nhắc khai báo m0")
    photo, text = await tg.messages(chat(1))
    assert photo["kind"] == "photo"
    assert text["text"] == "Nhắc khai báo m1"
    assert text["buttons"] == [[{"label": "✅ Đã xem", "data": "ack:1"}]]
    missing = await entry(store, 2)
    assert missing.status == OutboxStatus.FAILED
    assert "not found" in missing.error


async def test_the_photo_store_returns_none_for_unknown_ids(store: Storage) -> None:
    await store.photos.put("selfie-1", b"\xff\xd8 not much of a jpeg", "c1")
    assert await store.photos.get("selfie-1") == b"\xff\xd8 not much of a jpeg"
    assert await store.photos.get(str(ObjectId())) is None
    assert await store.photos.get("never-stored") is None


# ---- leases, processes, restarts -----------------------------------------------------------


async def test_a_lease_is_exclusive_until_it_expires(store: Storage, clock: FixedClock) -> None:
    leases = store.leases
    assert await leases.acquire("tick", "a", LEASE_TTL)
    assert not await leases.acquire("tick", "b", LEASE_TTL)
    assert await leases.acquire("tick", "a", LEASE_TTL)  # renewed
    clock.advance(LEASE_TTL)
    assert await leases.acquire("tick", "b", LEASE_TTL)
    assert not await leases.acquire("tick", "a", LEASE_TTL)
    await leases.release("tick", "a")  # not a's any more: no effect
    assert not await leases.acquire("tick", "c", LEASE_TTL)
    await leases.release("tick", "b")
    assert await leases.acquire("tick", "c", LEASE_TTL)


async def test_only_one_of_many_racing_processes_gets_a_lease(store: Storage) -> None:
    won = await asyncio.gather(
        *(store.leases.acquire("race", f"p{n}", LEASE_TTL) for n in range(6))
    )
    assert sorted(won) == [False] * 5 + [True]


@pytest.fixture
async def second_process(
    mongo_uri: str, db: Database, clock: FixedClock, sandbox: Sandbox
) -> AsyncIterator[tuple[Storage, TelegramChannel]]:
    """Another process's view: its own database connection and its own Telegram adapter."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    yield Storage.over(client[db.name], clock, TEST_AUDIT_KEY.encode()), channel
    await channel.close()
    await client.close()


async def test_two_processes_deliver_each_message_exactly_once(
    store: Storage,
    dispatcher: MakeDispatcher,
    tg: SandboxClient,
    second_process: tuple[Storage, TelegramChannel],
) -> None:
    other, other_channel = second_process
    first = dispatcher(rate_per_s=100)
    second = dispatcher(
        rate_per_s=100, holder="b", channel=other_channel, outbox=other.outbox, leases=other.leases
    )
    running = [asyncio.create_task(d.run()) for d in (first, second)]
    reminders = [message(n) for n in range(300)]
    added = await asyncio.gather(store.outbox.enqueue(reminders), other.outbox.enqueue(reminders))
    assert sum(added) == 300
    first.poke()
    second.poke()

    async def some_sent() -> bool:
        return await delivered(tg) >= 100

    async def all_sent() -> bool:
        return await delivered(tg) >= 300

    await eventually(some_sent)
    await first.stop()  # whichever held the lease, the other one finishes
    await eventually(all_sent)
    await second.stop()
    await asyncio.gather(*running)
    await assert_each_once(tg, 300)
    assert await delivered(tg) == 300


async def test_a_stopped_dispatcher_hands_over_without_loss_or_repeat(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    await store.outbox.enqueue([message(n) for n in range(60)])
    first = dispatcher(rate_per_s=10, batch=10)
    running = asyncio.create_task(first.run())

    async def some_sent() -> bool:
        return await delivered(tg) >= 15

    await eventually(some_sent)
    await first.stop()
    await running
    assert await delivered(tg) < 60  # stopped mid-way
    await drain(dispatcher(holder="b", batch=10))
    await assert_each_once(tg, 60)


async def test_a_crashed_dispatcher_repeats_at_most_its_batch(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    batch = 10
    await store.outbox.enqueue([message(n) for n in range(60)])
    crashing = dispatcher(rate_per_s=10, batch=batch)
    running = asyncio.create_task(crashing.run())

    async def some_sent() -> bool:
        return await delivered(tg) >= 15

    await eventually(some_sent)
    running.cancel()  # no outcome stored, no lease given up: like a killed process
    with suppress(asyncio.CancelledError):
        await running
    successor = dispatcher(holder="b", batch=batch)
    assert await successor.drain_once() == 0  # the lease is still the dead one's
    clock.advance(2 * LEASE_TTL)  # the lease and the claims run out
    await drain(successor)
    seen = await transcripts(tg, 60)
    assert all(seen.values()), "a message was lost"
    assert sum(len(texts) - 1 for texts in seen.values()) <= batch


# ---- Zalo ----------------------------------------------------------------------------------


async def test_zalo_messages_go_through_the_same_outbox(
    store: Storage, dispatcher: MakeDispatcher, zalo: ZaloChannel, zl: SandboxClient
) -> None:
    chat_id = "a1b2c3d4e5f600112233"
    choose = [[Button("Khai báo ngay", "act:declare")]]
    notice = message(0, platform=Platform.ZALO, chat_id=chat_id, buttons=choose)
    await store.outbox.enqueue([notice])
    assert await drain(dispatcher(platform=Platform.ZALO, channel=zalo)) == 1
    [sent] = await zl.messages(chat_id)
    assert sent["text"].startswith("Nhắc khai báo m0")
    assert "1. Khai báo ngay" in sent["text"]


# ---- messages no longer wanted, chats that moved -------------------------------------------


async def test_messages_no_longer_wanted_are_skipped_not_sent(
    store: Storage, db: Database, dispatcher: MakeDispatcher, tg: SandboxClient
) -> None:
    claimed_when_asked: list[int] = []

    async def obsolete(entries: Sequence[OutboxEntry]) -> set[str]:
        keys = [entry.key for entry in entries]
        query = {"key": {"$in": keys}, "lease_until": {"$exists": True}}
        claimed_when_asked.append(await db["outbox"].count_documents(query))
        return {"m1", "m3"} & set(keys)

    await store.outbox.enqueue([message(n) for n in range(4)])
    assert await drain(dispatcher(obsolete=obsolete)) == 4
    assert claimed_when_asked == [4]  # asked once, for the whole batch, once it was claimed
    statuses = [(await entry(store, n)).status for n in range(4)]
    sent, skipped = OutboxStatus.SENT, OutboxStatus.SKIPPED
    assert statuses == [sent, skipped, sent, skipped]
    seen = await transcripts(tg, 4)
    assert seen == {
        chat(0): ["Nhắc khai báo m0"],
        chat(1): [],
        chat(2): ["Nhắc khai báo m2"],
        chat(3): [],
    }
    assert await store.outbox.bounds(Platform.TELEGRAM, Priority.NORMAL) == (4, 4)


OLD_GROUP, SUPERGROUP = "-4001234567", "-1001234567890"


async def test_messages_to_a_group_that_became_a_supergroup_follow_it(
    store: Storage, dispatcher: MakeDispatcher, tg: SandboxClient, clock: FixedClock
) -> None:
    upgraded = {
        "method": "sendMessage",
        "chat_id": OLD_GROUP,
        "count": None,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": int(SUPERGROUP)},
    }
    await tg.configure(fail=[upgraded])
    moves: list[tuple[Platform, str, str]] = []

    async def on_migrated(platform: Platform, old: str, new: str) -> None:
        moves.append((platform, old, new))

    later = clock.now() + timedelta(minutes=5)
    alert = message(3, chat_id=OLD_GROUP, text="Báo động", priority=Priority.EMERGENCY)
    await store.outbox.enqueue(
        [
            message(0, chat_id=OLD_GROUP, text="Tóm tắt 1"),
            message(1, chat_id=OLD_GROUP, text="Tóm tắt 2"),
            message(2),
            alert.model_copy(update={"not_before": later}),
        ]
    )
    sender = dispatcher(on_migrated=on_migrated)
    await drain(sender)
    texts = [m["text"] for m in await tg.messages(SUPERGROUP)]
    assert texts == ["Tóm tắt 1", "Tóm tắt 2"]
    assert (await transcripts(tg, 3))[chat(2)] == ["Nhắc khai báo m2"]
    held = await entry(store, 0, Priority.EMERGENCY)  # not due yet, in another lane
    assert (held.chat_id, held.status) == (SUPERGROUP, OutboxStatus.PENDING)
    clock.set(later)
    await drain(sender)
    refused = [c for c in await tg.calls("sendMessage") if c["params"]["chat_id"] == OLD_GROUP]
    assert [call["error_code"] for call in refused] == [400]  # tried once, then moved
    texts = [m["text"] for m in await tg.messages(SUPERGROUP)]
    assert texts == ["Tóm tắt 1", "Tóm tắt 2", "Báo động"]
    moved = [
        await entry(store, 0),
        await entry(store, 1),
        await entry(store, 0, Priority.EMERGENCY),
    ]
    assert [(m.status, m.attempts) for m in moved] == [(OutboxStatus.SENT, 0)] * 3
    assert moves == [(Platform.TELEGRAM, OLD_GROUP, SUPERGROUP)]  # told once
