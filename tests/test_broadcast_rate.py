"""Broadcasting at the platform's limit: the emulators' rate limit (429 like the platforms) and
the dispatcher's pacing and adaptive rate, unit by unit and end to end over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from core.channel import Platform, RetryLater
from core.clock import FixedClock, SystemClock
from core.models import OutboxStatus, OutgoingMessage, Priority
from sandbox.client import SandboxClient
from sandbox.common import RateWindow
from sandbox.emulator import BotEmulator
from sandbox.server import Sandbox
from scheduler.dispatch import (
    CUT_QUIET,
    NEAR_REFUSED,
    RATE_FLOOR,
    RECOVER_AFTER,
    SLOW_DOWN,
    AdaptiveRate,
    Dispatcher,
    TokenBucket,
    batch_for,
    in_flight_for,
)
from storage.database import Storage
from storage.documents import Database
from tests.conftest import TEST_AUDIT_KEY

FIRST_CHAT = 810_000
LIMIT = 40.0  # the limited emulator's messages per second in these tests


class Ticks:
    """A hand-moved monotonic clock for the bucket, the window and the adaptive rate."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(count: int, platform: Platform = Platform.TELEGRAM) -> list[OutgoingMessage]:
    """One message per chat."""
    return [
        OutgoingMessage(
            key=f"b{n}",
            platform=platform,
            chat_id=str(FIRST_CHAT + n),
            text=f"Thông báo {n}",
            priority=Priority.NORMAL,
        )
        for n in range(count)
    ]


@pytest.fixture
async def limited() -> AsyncIterator[Sandbox]:
    """Emulators built with a rate limit on both platforms."""
    sandbox = Sandbox(
        SANDBOX_TELEGRAM_TOKEN,
        SANDBOX_ZALO_TOKEN,
        poll_timeout_cap=0.5,
        telegram_rate_limit=LIMIT,
        zalo_rate_limit=LIMIT,
    )
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


def per_chat(emulator: BotEmulator) -> Counter[str]:
    """Texts the emulator accepted, per chat."""
    ok = [call for call in emulator.calls if call["method"] == "sendMessage" and call["ok"]]
    return Counter(str(call["params"]["chat_id"]) for call in ok)


# ---- the emulators' limit ------------------------------------------------------------------


def test_the_emulator_window_refuses_a_burst_on_top_of_the_rate() -> None:
    ticks = Ticks()
    window = RateWindow(4, now=ticks)
    assert [window.take() for _ in range(4)] == [0, 0, 0, 0]
    assert window.take() == pytest.approx(1.0)  # the fifth within the same second
    ticks.now += 0.5
    assert window.take() == pytest.approx(0.5)  # refused calls do not count
    ticks.now += 0.5
    assert window.take() == 0  # the first call left the window
    # A steady 4/s is allowed forever; one more in any second is not.
    for _ in range(3):
        ticks.now += 0.25
        assert window.take() == 0
    assert window.take() > 0


def test_a_fractional_rate_allows_whole_calls_in_a_shorter_span() -> None:
    ticks = Ticks()
    window = RateWindow(2.5, now=ticks)
    assert [window.take() for _ in range(3)] == [0, 0, pytest.approx(0.8)]


async def test_a_telegram_emulator_over_its_limit_answers_429_with_retry_after(
    limited: Sandbox,
) -> None:
    url = f"{limited.telegram_api_base}/bot{SANDBOX_TELEGRAM_TOKEN}/sendMessage"
    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(url, json={"chat_id": FIRST_CHAT, "text": f"{n}"})
            for n in range(int(LIMIT) + 5)
        ]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(refused) == 5
    body = refused[0].json()
    assert body["ok"] is False and body["error_code"] == 429
    assert body["parameters"]["retry_after"] >= 1
    assert body["description"].startswith("Too Many Requests: retry after")
    assert limited.telegram.throttled == 5


async def test_the_adapters_turn_the_limit_into_retry_later(
    limited: Sandbox, storage: Storage
) -> None:
    telegram = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, limited.telegram_api_base)
    zalo = ZaloChannel(SANDBOX_ZALO_TOKEN, limited.zalo_api_base, storage.media, "http://x.invalid")
    try:
        for channel, wait in ((telegram, 1.0), (zalo, None)):
            results = await asyncio.gather(
                *(channel.send_text(str(FIRST_CHAT + n), "hi") for n in range(int(LIMIT) + 3)),
                return_exceptions=True,
            )
            throttled = [result for result in results if isinstance(result, RetryLater)]
            assert len(throttled) == 3
            # Telegram names a wait; Zalo's "Quota exceeded" names none.
            assert {result.retry_after for result in throttled} == {wait}
    finally:
        await telegram.close()
        await zalo.close()
    assert (limited.telegram.throttled, limited.zalo.throttled) == (3, 3)


async def test_the_limit_is_set_and_read_through_the_control_api(
    sandbox: Sandbox, storage: Storage
) -> None:
    control = SandboxClient(sandbox.url, "zalo")
    try:
        assert (await control.stats())["rate_limit_per_s"] is None  # no limit by default
        await control.configure(rate_limit_per_s=2)
        channel = ZaloChannel(
            SANDBOX_ZALO_TOKEN, sandbox.zalo_api_base, storage.media, "http://x.invalid"
        )
        try:
            results = await asyncio.gather(
                *(channel.send_text("zalo-user", f"{n}") for n in range(3)),
                return_exceptions=True,
            )
        finally:
            await channel.close()
        assert sum(isinstance(result, RetryLater) for result in results) == 1
        stats = await control.stats()
        assert (stats["rate_limit_per_s"], stats["throttled"]) == (2, 1)
        await control.configure(rate_limit_per_s=None)
        assert (await control.stats())["rate_limit_per_s"] is None
    finally:
        await control.aclose()


# ---- the dispatcher's pacing and adaptive rate ---------------------------------------------


def test_a_bucket_without_burst_spaces_every_permit_by_the_rate() -> None:
    ticks = Ticks()
    bucket = TokenBucket(10, burst=1, now=ticks)
    ticks.now += 5  # a long idle time earns one permit, not a burst
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.1)
    ticks.now += 0.1
    assert bucket.take() == 0
    bucket.set_rate(5)
    assert bucket.take() == pytest.approx(0.2)
    assert bucket.rate == 5


def test_a_429_cuts_the_rate_once_per_quiet_time_and_never_below_the_floor() -> None:
    ticks = Ticks()
    rate = AdaptiveRate(30, now=ticks)
    assert rate.throttled()
    assert rate.rate == pytest.approx(30 * SLOW_DOWN)
    # The other sends in flight come back refused too: one signal, one cut.
    assert not rate.throttled()
    assert rate.rate == pytest.approx(30 * SLOW_DOWN)
    for _ in range(100):
        ticks.now += CUT_QUIET
        rate.throttled()
    assert rate.rate == pytest.approx(30 * RATE_FLOOR)


def test_sends_that_go_through_raise_the_rate_back_up_to_the_configured_one() -> None:
    ticks = Ticks()
    rate = AdaptiveRate(30, now=ticks)
    rate.throttled()
    cut = rate.rate
    for _ in range(RECOVER_AFTER - 1):
        assert not rate.delivered()
    assert rate.delivered()
    assert rate.rate > cut
    rates = [rate.rate]
    for _ in range(2000 * RECOVER_AFTER):
        if rate.delivered():
            rates.append(rate.rate)
    assert rates == sorted(rates)  # additive steps, up only
    assert rate.rate == 30  # back to the configured rate, never above it
    assert not rate.delivered()


def test_recovery_is_fast_up_to_near_the_refused_rate_and_slow_beyond() -> None:
    ticks = Ticks()
    rate = AdaptiveRate(100, now=ticks)
    rate.throttled()  # refused at 100: cut to 80
    ticks.now += CUT_QUIET
    rate.throttled()  # refused at 80: cut to 64
    sends_to_near = sends_until(rate, 80 * NEAR_REFUSED)
    sends_beyond = sends_until(rate, 80)
    assert sends_to_near < sends_beyond  # the platform refused 80: probe it carefully


def sends_until(rate: AdaptiveRate, target: float) -> int:
    """How many sends in a row bring the rate to `target`."""
    sends = 0
    while rate.rate < target - 1e-9:
        rate.delivered()
        sends += 1
        assert sends < 1_000_000
    return sends


def test_batches_and_sends_in_flight_follow_the_rate() -> None:
    assert batch_for(30) < batch_for(200) <= batch_for(5000)
    assert in_flight_for(30) <= in_flight_for(1000)


async def test_a_dispatcher_slows_down_after_a_429_and_recovers(
    sandbox: Sandbox, storage: Storage, clock: FixedClock
) -> None:
    await storage.ensure_indexes()
    control = SandboxClient(sandbox.url, "telegram")
    await control.configure(fail={"method": "sendMessage", "error_code": 429, "retry_after": 1})
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    outbox, leases, photos = storage.outbox, storage.leases, storage.photos
    dispatcher = Dispatcher(
        Platform.TELEGRAM, channel, outbox, leases, photos, clock, 1000.0, holder="a", batch=50
    )
    try:
        await storage.outbox.enqueue(messages(1))
        await dispatcher.drain_once()
        slowed = dispatcher.rate
        assert slowed < 1000.0
        await storage.outbox.enqueue(messages(1 + 4 * RECOVER_AFTER)[1:])
        while await dispatcher.drain_once():
            pass
        assert slowed < dispatcher.rate <= 1000.0
    finally:
        await channel.close()
        await control.aclose()


# ---- end to end ----------------------------------------------------------------------------


async def broadcast(sandbox: Sandbox, db: Database, count: int, rate: float) -> Counter[str]:
    """Enqueue `count` messages, run a dispatcher at `rate` until all went; texts per chat."""
    clock = SystemClock()  # the 429s' waits must pass by themselves
    storage = Storage.over(db, clock, TEST_AUDIT_KEY.encode())
    await storage.ensure_indexes()
    await storage.outbox.enqueue(messages(count))
    channel = TelegramChannel(SANDBOX_TELEGRAM_TOKEN, sandbox.telegram_api_base)
    outbox, leases, photos = storage.outbox, storage.leases, storage.photos
    dispatcher = Dispatcher(
        Platform.TELEGRAM, channel, outbox, leases, photos, clock, rate, holder="e2e"
    )
    running = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(count / LIMIT * 4 + 20):
            while len(per_chat(sandbox.telegram)) < count:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # a repeat would show up now
    finally:
        await dispatcher.stop()
        await running
        await channel.close()
    for seq in range(count):
        [stored] = await storage.outbox.window(Platform.TELEGRAM, Priority.NORMAL, seq, 1)
        assert stored.status == OutboxStatus.SENT
    return per_chat(sandbox.telegram)


async def test_a_broadcast_at_the_limit_is_delivered_once_with_almost_no_429s(
    limited: Sandbox, db: Database
) -> None:
    count = 160
    sent = await broadcast(limited, db, count, rate=LIMIT)
    assert sent == Counter({str(FIRST_CHAT + n): 1 for n in range(count)})
    # A burst of a second's worth on top of the rate would have drawn about LIMIT refusals.
    assert limited.telegram.throttled <= max(3, count // 50)


async def test_a_dispatcher_configured_above_the_limit_adapts_to_it(
    limited: Sandbox, db: Database
) -> None:
    count = 200
    sent = await broadcast(limited, db, count, rate=2 * LIMIT)
    assert sent == Counter({str(FIRST_CHAT + n): 1 for n in range(count)})
    # Without slowing down, every other send would be refused (about `count` 429s); slowing
    # down, the refusals are those of the first second, which was sent at twice the limit.
    assert limited.telegram.throttled < count // 2
