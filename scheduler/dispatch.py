"""One dispatcher per platform sends the outbox: emergency lane first, within the platform's rate.

How a lane is read: the persisted cursor marks where pending messages may start; a pass reads
sequence windows from there (or from where earlier passes got to) up to the lane head. What
a pass learns stays in memory while this process holds the lease: messages waiting for a later
time (`not_before`, retry backoff, someone's claim) and numbers still missing (a duplicate key
skipped at enqueue, or an insert not landed yet). Only those are read again, and only when
due, so a stuck retry costs one window read now and then and never holds newer messages back.
The cursor moves (`$max`) to the lowest such number, or to the end of what has been read.

Delivery is exactly once while processes stop cleanly: one process at a time holds the lease
`dispatch:{platform}` (renewed before sends), a batch is claimed in the database before it is
sent and its outcomes are stored in bulk after, and `stop()` lets the sends in progress finish,
stores them and gives back what was claimed and not sent. The database work overlaps the sends
so that the platform never waits for it: while `run()` sends a batch it reads and claims the
lane's next one, and a batch's outcomes are stored while the next batch is sent (one batch
stored at a time, in order; the cursor moves only past stored outcomes). A process that dies
leaves its batches claimed: after the claims end, the next holder sends again the messages
whose outcome was not stored, at most two batches (the one being stored and the one being
sent: the at-least-once edge; a batch holds about `BATCH_SECONDS` of sending). `drain_once()`
does one pass without reading ahead and returns with its outcomes stored. A photo with buttons
is two calls; a failure between them repeats the photo.

Right before a claimed batch is sent, `obsolete` names the messages no longer wanted (a reminder
to declare, to someone who has declared since): they are settled as skipped, never sent.

Throttling: sends are paced by a token bucket without a burst (one permit at a time, or a few
milliseconds' worth at high rates): platforms count sends in one-second windows, so a burst on
top of the rate is refused even when the average is within it. The bucket's rate is the
configured rate until a 429 comes: then it is cut multiplicatively (at most every
`CUT_QUIET`, since the sends in flight were paced at the old rate), and after runs of sends that
went through it grows back additively, quickly to just under the rate that was refused and
slowly beyond, never above the configured rate. Telegram's 429 also names a wait for one chat,
so only that chat's messages wait (in memory, and the throttled message's `next_at`) and no
attempt is counted; Zalo's names none, so the message counts an attempt with the usual backoff
and the whole platform pauses, longer after each 429 in a row.

A Telegram group that became a supergroup moves: the chat's pending messages are retargeted to
the new chat id, sent there in the next pass, and `on_migrated` is told once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.channel import Blocked, ChannelError, ChatMigrated, Outbound, Platform, RetryLater
from core.models import OutboxEntry, OutboxStatus, Priority
from core.ports import Clock, Leases, OutboxQueue, PhotoStore

log = logging.getLogger(__name__)

OnBlocked = Callable[[Platform, str], Awaitable[None]]
OnMigrated = Callable[[Platform, str, str], Awaitable[None]]  # platform, old chat id, new chat id
Obsolete = Callable[[Sequence[OutboxEntry]], Awaitable[set[str]]]  # keys no longer wanted

LANES = sorted(Priority)  # emergency first
LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY = LEASE_TTL / 3
IDLE_WAIT = 1.0  # seconds between passes with nothing to send: other processes enqueue too
PERMIT_SLICE = 0.5  # longest sleep between checks for stop() and lease renewal
# Concurrent sends: enough for a platform answering in `ANSWER_TIME` at the rate, within bounds.
ANSWER_TIME = 0.2
MIN_IN_FLIGHT, MAX_IN_FLIGHT = 8, 64
# A batch is this much sending at the rate (within bounds): a crash repeats at most two. Above
# 200 the embedded server's bulk writes got slower per message, not faster (bench/broadcast.py).
BATCH_SECONDS = 2.0
MIN_BATCH, MAX_BATCH = 50, 200
# Permits granted at once after a gap: one, or this much sending at rates where one permit is
# shorter than the event loop's own jitter.
BURST_SECONDS = 0.02
# The adaptive rate: a 429 cuts it by SLOW_DOWN (at most once per CUT_QUIET seconds, never
# below RATE_FLOOR of the configured rate). Every RECOVER_AFTER sends in a row that went through
# raise it by RECOVER_STEP of the configured rate up to NEAR_REFUSED of the rate last refused,
# and by PROBE_STEP of itself above that: it stays just under the platform's limit, mostly.
SLOW_DOWN = 0.8
CUT_QUIET = 0.25
RATE_FLOOR = 0.05
RECOVER_AFTER = 20
RECOVER_STEP = 0.02
NEAR_REFUSED = 0.95
PROBE_STEP = 0.002
# An unused number older than this is a skipped duplicate or a dead enqueuer's, not a slow insert.
MISSING_GRACE = timedelta(seconds=60)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)
MAX_ATTEMPTS = 8
# A 429 naming no wait (Zalo's quota) pauses the platform this long, doubling while they repeat.
QUOTA_PAUSE_FIRST = 1.0
QUOTA_PAUSE_CAP = 60.0


class MissingPhoto(Exception):
    """The photo of a message is not in the photo store (sending it again cannot help)."""


class TokenBucket:
    """Send permits at `rate` per second, with a burst of `burst` permits (default: one second's
    worth); the rate can change and the bucket can be paused."""

    def __init__(
        self, rate: float, burst: float | None = None, now: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self._rate = rate
        self._capacity = max(1.0, rate if burst is None else burst)
        self._tokens = self._capacity
        self._now = now
        self._stamp = now()

    @property
    def rate(self) -> float:
        """Permits per second."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Grant at `rate` from now on (permits earned so far are kept)."""
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self._refill()
        self._rate = rate

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self._capacity, self._tokens + max(0.0, now - self._stamp) * self._rate)
        self._stamp = max(self._stamp, now)

    def take(self) -> float:
        """Take a permit: 0 when granted, else the seconds to wait before asking again."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return self._stamp - self._now() + (1 - self._tokens) / self._rate

    def pause(self, seconds: float) -> None:
        """Grant nothing for `seconds`, then refill from empty."""
        self._tokens = 0.0
        self._stamp = max(self._stamp, self._now() + seconds)

    def paused(self) -> bool:
        """Whether a pause is still running."""
        return self._stamp > self._now()


class AdaptiveRate:
    """A send rate that backs off on 429s and creeps back, never above `ceiling` (the configured
    rate): a 429 cuts it by `SLOW_DOWN`; sends that go through raise it quickly back to just
    under the rate that was refused, then slowly beyond, probing whether the limit moved."""

    def __init__(self, ceiling: float, now: Callable[[], float] = time.monotonic) -> None:
        if ceiling <= 0:
            raise ValueError("the rate must be positive")
        self.ceiling = self.rate = self.refused = ceiling
        self._now = now
        self._cut_at = -math.inf
        self._run = 0

    def throttled(self) -> bool:
        """A 429 came: cut the rate unless it was just cut; True when it changed."""
        self._run = 0
        now = self._now()
        if now - self._cut_at < CUT_QUIET:
            # Sends in flight and the platform's window still count the old rate.
            return False
        self._cut_at = now
        self.refused = self.rate
        self.rate = max(self.ceiling * RATE_FLOOR, self.rate * SLOW_DOWN)
        return True

    def delivered(self) -> bool:
        """A send went through: after a run of them, raise the rate; True when it changed."""
        if self.rate >= self.ceiling:
            return False
        self._run += 1
        if self._run < RECOVER_AFTER:
            return False
        self._run = 0
        below = self.refused * NEAR_REFUSED
        if self.rate < below:
            self.rate = min(below, self.rate + self.ceiling * RECOVER_STEP)
        else:
            self.rate = min(self.ceiling, self.rate * (1 + PROBE_STEP))
        return True


class GrowingPause:
    """A pause that doubles each time it is taken, from `first` up to `cap`, until reset."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = self._next = first
        self._cap = cap

    def take(self) -> float:
        """The pause to make now; the next one is twice as long (up to the cap)."""
        pause, self._next = self._next, min(self._next * 2, self._cap)
        return pause

    def reset(self) -> None:
        """Start again from the first pause."""
        self._next = self._first


@dataclass
class LaneState:
    """What this process knows about one lane since it took the lease."""

    priority: Priority
    read_to: int = -1  # every number below has been read (-1: start at the cursor)
    waiting: dict[int, datetime] = field(default_factory=dict)  # pending: seq → when due
    missing: dict[int, datetime] = field(default_factory=dict)  # unused: seq → first seen
    ahead: list[OutboxEntry] = field(default_factory=list)  # claimed, to send next
    # Claimed by this process and without an outcome yet: never read again meanwhile, however
    # far the clock moves (a claim that ran out on the clock is still this process's own).
    claimed: set[int] = field(default_factory=set)

    def catch_up(self, cursor: int, now: datetime) -> None:
        """Start at the cursor when behind it; forget numbers missing for longer than the grace."""
        if self.read_to < cursor:
            self.read_to, self.waiting, self.missing = cursor, {}, {}
        self.missing = {
            seq: seen for seq, seen in self.missing.items() if now < seen + MISSING_GRACE
        }

    def to_reread(self, now: datetime) -> list[int]:
        """Numbers read before that may have changed: waiting ones now due, missing ones."""
        due = [seq for seq, at in self.waiting.items() if at <= now and seq not in self.claimed]
        return sorted([*due, *self.missing])

    def see(
        self,
        seq: int,
        entry: OutboxEntry | None,
        now: datetime,
        chat_pauses: Mapping[str, datetime],
    ) -> bool:
        """Record what a number holds; True when it is a message to send now."""
        self.waiting.pop(seq, None)
        if entry is None:
            self.missing.setdefault(seq, now)
            return False
        self.missing.pop(seq, None)
        if entry.status != OutboxStatus.PENDING:
            return False
        due = max(entry.next_at, chat_pauses.get(entry.chat_id, entry.next_at))
        self.waiting[seq] = due
        return due <= now

    def floor(self) -> int:
        """The lowest number that may still be pending: where the cursor can move."""
        return min([*self.waiting, *self.missing, *self.claimed], default=self.read_to)


class Dispatcher:
    """Drains one platform's outbox lanes through its channel, one process at a time."""

    def __init__(
        self,
        platform: Platform,
        channel: Outbound,
        outbox: OutboxQueue,
        leases: Leases,
        photos: PhotoStore,
        clock: Clock,
        rate_per_s: float,
        holder: str,
        batch: int | None = None,
        on_blocked: OnBlocked | None = None,
        obsolete: Obsolete | None = None,
        on_migrated: OnMigrated | None = None,
    ) -> None:
        batch = batch_for(rate_per_s) if batch is None else batch
        if batch < 1:
            raise ValueError("the batch must hold at least one message")
        self.platform = platform
        self._channel = channel
        self._outbox = outbox
        self._leases = leases
        self._photos = photos
        self._clock = clock
        self._pace = AdaptiveRate(rate_per_s)
        self._bucket = TokenBucket(rate_per_s, burst=rate_per_s * BURST_SECONDS)
        self._in_flight = in_flight_for(rate_per_s)
        self._quota_pause = GrowingPause(QUOTA_PAUSE_FIRST, QUOTA_PAUSE_CAP)
        self._chat_pauses: dict[str, datetime] = {}  # chat → until when Telegram asked to wait
        self._holder = holder
        self._batch = batch
        self._on_blocked = on_blocked
        self._obsolete = obsolete
        self._on_migrated = on_migrated
        self._lease = f"dispatch:{platform.value}"
        self._lease_lock = asyncio.Lock()
        self._holding = False
        self._renew_at = clock.now()
        self._lanes = [LaneState(priority) for priority in LANES]
        self._stopping = False
        self._halted = False
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()
        self._storing: asyncio.Task[None] | None = None  # the last batch's outcomes being stored
        self._ahead = False  # read and claim the next batch while one is sent (in `run()` only)

    def _extra(self, entry: OutboxEntry) -> dict[str, object]:
        return {"platform": self.platform.value, "key": entry.key, "seq": entry.seq}

    # ---- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Loop until `stop()`: pass after pass, resting when idle and waking early on `poke()`."""
        self._stopped.clear()
        self._ahead = True
        try:
            while not self._stopping:
                if not await self._pass():
                    await self._rest()
            await self._store_last()
            await self._release()
        except asyncio.CancelledError:
            # Killed: nothing more reaches the database, as when the process dies.
            if self._storing is not None:
                self._storing.cancel()
            raise
        finally:
            self._ahead = False
            self._stopped.set()

    async def _release(self) -> None:
        if not self._holding:
            return
        try:
            await self._leases.release(self._lease, self._holder)
        except Exception:
            # The lease then simply runs out.
            log.exception("lease release failed", extra={"platform": self.platform.value})
        self._holding = False

    async def _pass(self) -> int:
        try:
            handled = await self._sweep()
            if not handled:
                await self._stored()
            return handled
        except Exception:
            # The database may be away for a moment; the next pass starts from what it stored.
            log.exception("dispatch pass failed", extra={"platform": self.platform.value})
            return 0

    async def _rest(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), IDLE_WAIT)
        self._wake.clear()

    def poke(self) -> None:
        """New work was enqueued in this process (e.g. a symptom page): look at once."""
        self._wake.set()

    async def stop(self) -> None:
        """Let sends in progress finish, store their outcomes, give the lease up, end `run()`."""
        self._stopping = self._halted = True
        self._wake.set()
        await self._stopped.wait()

    async def _store_last(self) -> None:
        try:
            await self._stored()
            # Batches claimed ahead and not sent go back to the lane for the next holder.
            await self._outbox.settle([entry for lane in self._lanes for entry in lane.ahead])
            for lane in self._lanes:
                lane.ahead = []
        except Exception:
            # The claims run out and the next holder sends those messages again.
            log.exception("storing outcomes failed", extra={"platform": self.platform.value})

    async def drain_once(self) -> int:
        """One pass over the lanes, emergency first, its outcomes stored; returns how many
        messages got an outcome."""
        handled = await self._sweep()
        await self._stored()
        return handled

    async def _sweep(self) -> int:
        """One pass over the lanes; the last batch's outcomes may still be being stored."""
        if self._stopping or not await self._hold():
            return 0
        self._halted = False
        now = self._clock.now()
        pauses = self._chat_pauses.items()
        self._chat_pauses = {chat: until for chat, until in pauses if until > now}
        handled = 0
        for lane in self._lanes:
            if self._halted:
                break
            handled += await self._drain(lane)
        return handled

    # ---- the lease --------------------------------------------------------------------------

    async def _hold(self) -> bool:
        """Whether this process holds the platform's lease, renewing it when due."""
        async with self._lease_lock:
            now = self._clock.now()
            if self._holding and now < self._renew_at:
                return True
            held = await self._leases.acquire(self._lease, self._holder, LEASE_TTL)
            if held and not self._holding:
                # Another process may have worked the lanes meanwhile: read them afresh.
                self._lanes = [LaneState(priority) for priority in LANES]
            self._holding, self._renew_at = held, now + RENEW_EVERY
            return held

    async def _permit(self) -> bool:
        """Wait for a send permit; False when this pass must end (stopping or lease lost)."""
        while not self._halted:
            try:
                held = await self._hold()
            except Exception:
                log.exception("lease renewal failed", extra={"platform": self.platform.value})
                held = self._holding = False
            if not held:
                self._halted = True
                break
            wait = self._bucket.take()
            if wait <= 0:
                return True
            await asyncio.sleep(min(wait, PERMIT_SLICE))
        return False

    # ---- one lane -------------------------------------------------------------------------

    async def _drain(self, lane: LaneState) -> int:
        now = self._clock.now()
        cursor, head = await self._outbox.bounds(self.platform, lane.priority)
        lane.catch_up(cursor, now)
        if lane.ahead:
            due, lane.ahead = lane.ahead, []
            return await self._send_batch(lane, due, cursor)
        due = await self._collect(lane, head, now)
        if due:
            await self._claim(lane, due)
            return await self._send_batch(lane, due, cursor)
        if lane.floor() > cursor:
            await self._stored()  # the cursor passes only outcomes that are stored
            await self._outbox.advance(self.platform, lane.priority, lane.floor())
        return 0

    async def _collect(self, lane: LaneState, head: int, now: datetime) -> list[OutboxEntry]:
        """Up to a batch of due messages: those read before first, then new windows."""
        due: list[OutboxEntry] = []
        wanted = deque(lane.to_reread(now))
        if wanted:
            await self._stored()  # what is read again must show the outcomes stored so far
        while wanted and len(due) < self._batch:
            start = wanted[0]
            window = await self._window(lane, start)
            while wanted and wanted[0] < start + self._batch and len(due) < self._batch:
                seq = wanted.popleft()
                if lane.see(seq, window.get(seq), now, self._chat_pauses):
                    due.append(window[seq])
        while lane.read_to < head and len(due) < self._batch:
            start = lane.read_to
            window = await self._window(lane, start)
            for seq in range(start, min(start + self._batch, head)):
                if len(due) == self._batch:
                    break
                if lane.see(seq, window.get(seq), now, self._chat_pauses):
                    due.append(window[seq])
                lane.read_to = seq + 1
        return due

    async def _window(self, lane: LaneState, start: int) -> dict[int, OutboxEntry]:
        entries = await self._outbox.window(self.platform, lane.priority, start, self._batch)
        return {entry.seq: entry for entry in entries}

    async def _claim(self, lane: LaneState, due: list[OutboxEntry]) -> None:
        """Mark a batch in flight for long enough to send it after the one being sent."""
        sending = timedelta(seconds=2 * len(due) / self._bucket.rate)
        until = self._clock.now() + sending + LEASE_TTL
        await self._outbox.claim(due, until)
        lane.claimed.update(entry.seq for entry in due)

    async def _send_batch(self, lane: LaneState, due: list[OutboxEntry], cursor: int) -> int:
        """Send a claimed batch (reading and claiming the lane's next one meanwhile), then store
        its outcomes in bulk while the next is sent (unsent ones are released); returns how
        many got an outcome."""
        # Should the check fail, nothing has been sent and the claims simply run out.
        outcomes = await self._skip_obsolete(due)
        sending = asyncio.create_task(
            self._send_all([entry for entry in due if entry.key not in outcomes])
        )
        try:
            if self._ahead and not self._halted:
                await self._read_ahead(lane)
            outcomes |= await sending
        finally:
            sending.cancel()  # a no-op once done; a cancelled pass must not go on sending
        results = [outcomes.get(entry.key, entry) for entry in due]
        await self._stored()  # one batch is stored at a time, in order
        for result in results:
            lane.claimed.discard(result.seq)
            if result.status == OutboxStatus.PENDING:
                lane.waiting[result.seq] = result.next_at
            else:
                lane.waiting.pop(result.seq, None)
        store = self._store(lane, due, results, len(outcomes), cursor, lane.floor())
        self._storing = asyncio.create_task(store)
        return len(outcomes)

    async def _read_ahead(self, lane: LaneState) -> None:
        """Collect and claim the lane's next batch while this one is sent: the platform then
        never waits for the database between batches."""
        try:
            _, head = await self._outbox.bounds(self.platform, lane.priority)
            due = await self._collect(lane, head, self._clock.now())
            if due:
                await self._claim(lane, due)
                lane.ahead = due
        except Exception:
            # The next pass reads again; claims made meanwhile run out.
            log.exception("reading ahead failed", extra={"platform": self.platform.value})

    async def _store(
        self,
        lane: LaneState,
        due: list[OutboxEntry],
        results: list[OutboxEntry],
        handled: int,
        cursor: int,
        floor: int,
    ) -> None:
        """Store a batch's outcomes, then what follows from them, then move the cursor."""
        await self._outbox.settle(results)
        self._log_batch(lane, results, handled)
        await self._report_blocked(results)
        await self._move_chats(due, results)
        if floor > cursor:
            await self._outbox.advance(self.platform, lane.priority, floor)

    async def _stored(self) -> None:
        """Wait for the last batch's outcomes to be stored; when that failed, forget what the
        lanes were (they are read afresh from the cursor) and raise."""
        storing, self._storing = self._storing, None
        if storing is None:
            return
        try:
            await storing
        except Exception:
            self._lanes = [LaneState(priority) for priority in LANES]
            raise

    async def _skip_obsolete(self, due: list[OutboxEntry]) -> dict[str, OutboxEntry]:
        """Outcomes of the messages no longer wanted: skipped, never sent."""
        if self._obsolete is None:
            return {}
        unwanted = await self._obsolete(due)
        return {
            entry.key: _final(entry, OutboxStatus.SKIPPED, "no longer wanted")
            for entry in due
            if entry.key in unwanted
        }

    def _log_batch(self, lane: LaneState, results: list[OutboxEntry], handled: int) -> None:
        counts = {status.value: 0 for status in OutboxStatus}
        for result in results:
            counts[result.status.value] += 1
        extra = {"platform": self.platform.value, "priority": lane.priority.name, **counts}
        log.info("outbox batch", extra={**extra, "batch": len(results), "handled": handled})

    async def _report_blocked(self, results: list[OutboxEntry]) -> None:
        if self._on_blocked is None:
            return
        chats = {result.chat_id for result in results if result.status == OutboxStatus.BLOCKED}
        for chat_id in sorted(chats):
            try:
                await self._on_blocked(self.platform, chat_id)
            except Exception:
                log.exception("on_blocked failed", extra={"chat_id": chat_id})

    async def _move_chats(self, due: list[OutboxEntry], results: list[OutboxEntry]) -> None:
        """Retarget the pending messages of chats that moved, and tell `on_migrated`."""
        moves = {
            (before.chat_id, after.chat_id)
            for before, after in zip(due, results, strict=True)
            if before.chat_id != after.chat_id
        }
        for old, new in sorted(moves):
            extra = {"platform": self.platform.value, "chat_id": old, "new_chat_id": new}
            try:
                moved = await self._outbox.retarget(self.platform, old, new)
                log.info("chat moved: %d pending messages follow it", moved, extra=extra)
                if self._on_migrated is not None:
                    await self._on_migrated(self.platform, old, new)
            except Exception:
                # The messages still go to the old id, whose next send reports the move again.
                log.exception("moving a chat failed", extra=extra)

    # ---- sending ----------------------------------------------------------------------------

    async def _send_all(self, due: list[OutboxEntry]) -> dict[str, OutboxEntry]:
        """Send a few chats at a time, each chat's messages in order; returns outcomes by key."""
        chats: dict[str, list[OutboxEntry]] = {}
        for entry in due:
            chats.setdefault(entry.chat_id, []).append(entry)
        queue = list(chats.values())
        outcomes: dict[str, OutboxEntry] = {}

        async def worker() -> None:
            while queue and not self._halted:
                await self._send_chat(queue.pop(0), outcomes)

        await asyncio.gather(*(worker() for _ in range(min(self._in_flight, len(queue)))))
        return outcomes

    async def _send_chat(
        self, entries: list[OutboxEntry], outcomes: dict[str, OutboxEntry]
    ) -> None:
        for position, entry in enumerate(entries):
            if not await self._permit():
                return
            outcome = outcomes[entry.key] = await self._attempt(entry)
            if outcome.status == OutboxStatus.BLOCKED:
                for later in entries[position + 1 :]:
                    outcomes[later.key] = _final(later, OutboxStatus.BLOCKED, outcome.error)
                return
            if outcome.status == OutboxStatus.PENDING:
                # The chat's later messages are read again next pass, where its pause or its
                # new chat id applies to them.
                return

    async def _attempt(self, entry: OutboxEntry) -> OutboxEntry:
        """Send one message and return it with its outcome; never raises."""
        try:
            message_id = await self._deliver(entry)
        except RetryLater as exc:
            return self._throttled(entry, exc)
        except ChatMigrated as exc:
            log.info("chat moved", extra=self._extra(entry) | {"new_chat_id": exc.new_chat_id})
            return entry.model_copy(update={"chat_id": exc.new_chat_id, "error": str(exc)})
        except Blocked as exc:
            log.info("chat blocked the bot", extra=self._extra(entry))
            return _final(entry, OutboxStatus.BLOCKED, str(exc))
        except MissingPhoto as exc:
            log.error("outbox photo is missing", extra=self._extra(entry))
            return _final(entry, OutboxStatus.FAILED, str(exc))
        except ChannelError as exc:
            log.warning("send failed: %s", exc, extra=self._extra(entry))
            return self._retry(entry, str(exc))
        except Exception as exc:
            # A bug or an odd failure in one send must not stop the others.
            log.exception("send failed unexpectedly", extra=self._extra(entry))
            return self._retry(entry, repr(exc))
        self._quota_pause.reset()
        if self._pace.delivered():
            self._bucket.set_rate(self._pace.rate)
        sent = {"status": OutboxStatus.SENT, "sent_at": self._clock.now(), "error": ""}
        return entry.model_copy(update=sent | {"message_id": message_id})

    async def _deliver(self, entry: OutboxEntry) -> str:
        """Send (or edit) one message; returns the platform's id of the message with the text."""
        buttons = entry.buttons
        if entry.replaces:
            earlier = await self._outbox.sent_message_id(entry.replaces)
            if earlier:  # Zalo cannot edit: its adapter sends the new text as a new message
                await self._channel.edit_text(entry.chat_id, earlier, entry.text, buttons)
                return earlier
        if entry.document_id is not None:
            return await self._send_document(entry)
        if entry.photo_id is None:
            return (await self._channel.send_text(entry.chat_id, entry.text, buttons)).message_id
        jpeg = await self._photos.get(entry.photo_id)
        if jpeg is None:
            raise MissingPhoto(f"photo {entry.photo_id} not found")
        if not buttons:
            return (await self._channel.send_photo(entry.chat_id, jpeg, entry.text)).message_id
        # Buttons hang on a text: the photo goes first, then the text that carries them.
        await self._channel.send_photo(entry.chat_id, jpeg)
        return (await self._channel.send_text(entry.chat_id, entry.text, buttons)).message_id

    async def _send_document(self, entry: OutboxEntry) -> str:
        """A file (a report's XLSX) with its text as the caption."""
        assert entry.document_id is not None
        data = await self._photos.get(entry.document_id)
        if data is None:
            raise MissingPhoto(f"document {entry.document_id} not found")
        sent = await self._channel.send_document(
            entry.chat_id, data, entry.document_name, entry.text
        )
        return sent.message_id

    def _throttled(self, entry: OutboxEntry, exc: RetryLater) -> OutboxEntry:
        """The outcome of a 429: the chat waits what the platform named, else all of it does."""
        extra = self._extra(entry) | {"retry_after": exc.retry_after}
        log.warning("platform asks to slow down", extra=extra)
        self._slow_down()
        if exc.retry_after is None:
            # Sends in flight when the pause began get 429s too: they do not lengthen it.
            if not self._bucket.paused():
                self._bucket.pause(self._quota_pause.take())
            return self._retry(entry, str(exc))
        until = self._clock.now() + timedelta(seconds=exc.retry_after)
        self._chat_pauses[entry.chat_id] = until
        return entry.model_copy(update={"next_at": until, "error": str(exc)})

    def _slow_down(self) -> None:
        if self._pace.throttled():
            rate = self._pace.rate
            log.info("send rate cut to %.1f/s", rate, extra={"platform": self.platform.value})
            self._bucket.set_rate(rate)

    @property
    def rate(self) -> float:
        """The send rate now: the configured one, or less after 429s."""
        return self._pace.rate

    def _retry(self, entry: OutboxEntry, error: str) -> OutboxEntry:
        attempts = entry.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return _final(entry, OutboxStatus.FAILED, error, attempts)
        backoff = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
        next_at = self._clock.now() + backoff
        return entry.model_copy(update={"attempts": attempts, "next_at": next_at, "error": error})


def batch_for(rate: float) -> int:
    """How many messages a batch holds at `rate`: about `BATCH_SECONDS` of sending."""
    return max(MIN_BATCH, min(MAX_BATCH, round(rate * BATCH_SECONDS)))


def in_flight_for(rate: float) -> int:
    """How many sends run at once at `rate`: enough to cover `ANSWER_TIME` per answer."""
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, math.ceil(rate * ANSWER_TIME)))


def _final(
    entry: OutboxEntry, status: OutboxStatus, error: str, attempts: int | None = None
) -> OutboxEntry:
    attempts = entry.attempts if attempts is None else attempts
    return entry.model_copy(update={"status": status, "error": error, "attempts": attempts})
