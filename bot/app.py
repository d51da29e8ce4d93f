"""The composition root: database, channels, conversation logic and web server in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr

from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel, page_file, page_location
from bot.config import Settings
from bot.selfies import SelfiePool
from bot.web import (
    CapRoutes,
    FindLanding,
    Landing,
    LocationPage,
    Position,
    UploadedFile,
    UploadPage,
    build_web_app,
)
from core.areas import load_areas
from core.channel import Accept, ChannelError, Incoming, Outbound, Platform
from core.checkpoints import read_checkpoint_token, start_payload, verify_checkpoint
from core.clock import SystemClock
from core.models import ChatRef, InboxEntry
from core.ports import Clock
from core.texts import LANGUAGES, t
from core.tokens import InvalidToken
from handlers.account import erase_requested
from handlers.cap_feed import alert_document, feed_document
from handlers.cap_inbox import receive_cap
from handlers.context import Policy, Services
from handlers.location import link_target, use_link
from handlers.notices import flagged_in_background
from handlers.page_links import upload_target, use_upload_link
from handlers.router import Router
from sandbox.server import Sandbox
from scheduler.broadcasts import BROADCAST_EVERY, Broadcaster, any_of, skip_superseded
from scheduler.checkouts import close_overdue
from scheduler.daily_report import DailyReports
from scheduler.dispatch import Dispatcher
from scheduler.inbox import InboxWorker
from scheduler.jobs import Job, build_scheduler
from scheduler.reminders import ReminderDeps, skip_declared, tick
from scheduler.reports import escalate_waiting
from scheduler.retention import RETENTION_EVERY, RetentionRun, apply_once
from scheduler.selfie_checks import SelfieChecks
from storage.database import Storage, open_database
from storage.subscribers import subscribe_registered

log = logging.getLogger(__name__)

# The command menu by catalog key, with the name shown in each language (both names work).
COMMANDS = {
    "start": {"vi": "start", "en": "start"},
    "khaibao": {"vi": "khaibao", "en": "declare"},
    "unwell": {"vi": "khongkhoe", "en": "unwell"},
    "me": {"vi": "toi", "en": "me"},
    "language": {"vi": "ngonngu", "en": "language"},
    "thongbao": {"vi": "thongbao", "en": "subscribe"},
    "phananh": {"vi": "phananh", "en": "feedback"},
    "help": {"vi": "trogiup", "en": "help"},
    "cancel": {"vi": "huy", "en": "cancel"},
    "delete": {"vi": "xoa", "en": "delete"},
    "aixem": {"vi": "aixem", "en": "whoviewed"},
}
COMMANDS_MENU = {
    lang: [(names[lang], t(lang, f"commands.{key}")) for key, names in COMMANDS.items()]
    for lang in LANGUAGES
}
TICK_EVERY = timedelta(seconds=30)
SELFIE_RECOVERY_EVERY = timedelta(minutes=2)
ERASURE_EVERY = timedelta(minutes=5)
CHECKOUT_EVERY = timedelta(minutes=1)
REPORT_ESCALATION_EVERY = timedelta(minutes=1)
DAILY_REPORT_EVERY = timedelta(minutes=1)
ERASURE_LEASE = "erasure"
SELFIE_WORKERS = 2  # one per core; dlib blocks a whole process per face
DRAIN_GRACE = 10.0  # seconds the updates in flight get to finish at shutdown
RECONNECT_MAX = 60.0


def new_holder() -> str:
    """This service instance's name in leases (unique even for two services in one process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# Well-formed fake tokens: the emulators accept only these, real platforms never see them.
SANDBOX_TELEGRAM_TOKEN = "1234567890:SANDBOX-telegram-token-not-for-real-use"  # noqa: S105
SANDBOX_ZALO_TOKEN = "1234567890:sandbox-zalo-token"  # noqa: S105


class Channel(Outbound, Protocol):
    """A platform adapter as the app drives it."""

    async def me(self) -> str:
        """The bot's account name."""
        ...

    async def start_link(self, payload: str) -> str | None:
        """A link that opens the bot with `/start <payload>` (None: the platform has none)."""
        ...

    async def start_polling(self, accept: Accept) -> None:
        """Store updates by polling until `stop_receiving()`."""
        ...

    async def set_webhook(self, url: str, secret: str) -> None:
        """Register our webhook with the platform."""
        ...

    def add_webhook_route(
        self, app: web.Application, path: str, secret: str, accept: Accept
    ) -> None:
        """Serve the platform's webhook on our web server."""
        ...

    async def set_commands(self, commands: dict[str, list[tuple[str, str]]]) -> None:
        """Publish the command menu per language, where the platform has one."""
        ...

    async def open(self, raw: Mapping[str, Any]) -> Incoming | None:
        """A stored update as an `Incoming` (None for kinds we do not handle)."""
        ...

    async def stop_receiving(self) -> None:
        """Stop polling."""
        ...

    async def close(self) -> None:
        """Close connections (after the last send)."""
        ...


def reminder_deps(
    storage: Storage,
    policy: Policy,
    rates: dict[Platform, float],
    wake: Callable[[], None],
    holder: str,
) -> ReminderDeps:
    """The scheduler's ports, served by the repositories."""
    return ReminderDeps(
        cases=storage.cases,
        declarations=storage.declarations,
        people=storage.people,
        accounts=storage.accounts,
        outbox=storage.outbox,
        fanouts=storage.fanouts,
        leases=storage.leases,
        policy=policy,
        rate_per_s=rates,
        wake=wake,
        holder=holder,
    )


def webhook_path(channel: Channel) -> str:
    """Where a platform posts its updates on our web server."""
    return f"/webhook/{channel.platform.value}"


def build_channels(settings: Settings, storage: Storage) -> list[Channel]:
    """One adapter per configured platform token."""
    channels: list[Channel] = []
    if settings.telegram_bot_token:
        token = settings.telegram_bot_token.get_secret_value()
        channels.append(TelegramChannel(token, settings.telegram_api_base))
    if settings.zalo_bot_token:
        token = settings.zalo_bot_token.get_secret_value()
        channels.append(
            ZaloChannel(
                token,
                settings.zalo_api_base,
                storage.media,
                settings.base_url,
                max_image_bytes=int(settings.selfie_max_mb * 1_000_000),
                local_images=settings.zalo_is_local,
                uploads=storage.uploads,
            )
        )
    return channels


@dataclass
class Service:
    """A running bot: web server, channels storing updates, the inbox worker answering them."""

    settings: Settings
    storage: Storage
    clock: Clock = field(default_factory=SystemClock)
    channels: list[Channel] = field(default_factory=list)
    router: Router | None = None
    inbox: InboxWorker | None = None
    selfies: SelfiePool | None = None
    selfie_checks: SelfieChecks | None = None
    run_scheduler: bool = True
    holder: str = field(default_factory=new_holder)
    _runner: web.AppRunner | None = None
    _receivers: dict[Platform, asyncio.Task[None]] = field(default_factory=dict)
    _receiving: dict[Platform, bool] = field(default_factory=dict)
    _dispatchers: list[Dispatcher] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _scheduler: AsyncIOScheduler | None = None
    _own_selfies: bool = False
    _broadcaster: Broadcaster | None = None

    async def start(self) -> None:
        """Indexes, the inbox worker (taking over unfinished updates), web server, channels."""
        settings = self.settings
        await self.storage.ensure_indexes()
        await subscribe_registered(self.storage.db, self.clock.now())
        self.channels = build_channels(settings, self.storage)
        self._start_dispatchers()
        self.router = Router(await self._services())
        await self._start_selfie_checks()
        self.inbox = InboxWorker(
            self.storage.inbox,
            self._process,
            self.clock,
            self.holder,
            in_flight=settings.updates_in_flight,
            lease=timedelta(seconds=settings.update_lease_seconds),
        )
        await self.inbox.start()
        app = build_web_app(
            self.storage.media,
            self.health,
            self._location_page(),
            self._landing(),
            self._upload_page(),
            cap=self._cap_routes(),
        )
        if settings.bot_mode == "webhook":
            for channel in self.channels:
                channel.add_webhook_route(
                    app, webhook_path(channel), settings.webhook_secret_value, self.inbox.accept
                )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, settings.http_host, settings.http_port).start()
        for channel in self.channels:
            # A platform down at start-up delays only itself: it is retried in the background.
            connected = await self._connect(channel)
            self._receivers[channel.platform] = asyncio.create_task(
                self._receive(channel, connected)
            )
        if self.run_scheduler:
            self._scheduler = build_scheduler(self._jobs())
            self._scheduler.start()
        if self._own_selfies and self.selfies:
            self._background.append(asyncio.create_task(self.selfies.warm()))

    def _jobs(self) -> list[Job]:
        """What runs on a schedule in every process (leases and keys keep it once)."""
        assert self.selfie_checks is not None and self.router is not None
        return [
            Job("quarantine", TICK_EVERY, self.tick),
            Job("selfie-checks", SELFIE_RECOVERY_EVERY, self.selfie_checks.recover),
            Job("erasure", ERASURE_EVERY, self.erase_requested),
            Job("check-outs", CHECKOUT_EVERY, self.close_overdue_visits),
            Job("field-reports", REPORT_ESCALATION_EVERY, self.escalate_reports),
            Job("broadcasts", BROADCAST_EVERY, self.broadcast),
            Job("daily-report", DAILY_REPORT_EVERY, self.daily_report),
            Job("retention", RETENTION_EVERY, self.apply_retention),
        ]

    async def apply_retention(self) -> None:
        """Delete what is past its retention period (one process; counts in deletion_log)."""
        run = RetentionRun(self.storage.retention, self.settings.retention_rules, self.clock)
        day = self.settings.schedule.local_date(self.clock.now())
        await apply_once(run, self.storage.leases, self.holder, day)

    async def erase_requested(self) -> None:
        """Erase the people who asked to be, now that their case has ended (one process)."""
        assert self.router is not None
        leases = self.storage.leases
        if not await leases.acquire(ERASURE_LEASE, self.holder, ERASURE_EVERY):
            return
        try:
            await erase_requested(self.router.services)
        finally:
            await leases.release(ERASURE_LEASE, self.holder)

    async def broadcast(self) -> None:
        """Queue confirmed alerts and follow their sending (one process at a time)."""
        if self._broadcaster is None:
            assert self.router is not None
            storage, services = self.storage, self.router.services
            self._broadcaster = Broadcaster(
                storage.alerts,
                storage.subscribers,
                storage.outbox,
                storage.leases,
                self.clock,
                services.areas,
                services.policy.alerts,
                services.timezone,
                self.holder,
                self.wake_dispatchers,
            )
        await self._broadcaster.run()

    async def daily_report(self) -> None:
        """At DAILY_REPORT_AT, each leader's and staff chat's report (once a day)."""
        assert self.router is not None
        job = DailyReports(
            self.router.services,
            self.storage.fanouts,
            self.storage.leases,
            self.holder,
            self.settings.daily_report_at,
        )
        await job.run()

    async def escalate_reports(self) -> None:
        """Field reports nobody in their commune took up in time go to the district admins."""
        assert self.router is not None
        after = timedelta(hours=self.settings.report_escalate_hours)
        await escalate_waiting(self.router.services, after)

    async def close_overdue_visits(self) -> None:
        """Close the visits past their kind's longest stay (12 h; a bus trip 3 h)."""
        await close_overdue(self.storage.visits, self.clock.now())

    async def _start_selfie_checks(self) -> None:
        assert self.selfies is not None
        storage = self.storage
        assert self.router is not None
        services = self.router.services
        self.selfie_checks = SelfieChecks(
            storage.declarations,
            storage.cases,
            storage.photos,
            self.selfies.check,
            SELFIE_WORKERS,
            flagged=partial(flagged_in_background, services),
        )
        self.selfie_checks.start()
        await self.selfie_checks.recover()

    def _check_selfie_later(self, declaration_id: str) -> None:
        if self.selfie_checks is not None:
            self.selfie_checks.request(declaration_id)

    def _location_page(self) -> LocationPage:
        """The Zalo location page: a valid link's position goes to the inbox like a message."""
        assert self.router is not None and self.inbox is not None
        services, inbox = self.router.services, self.inbox

        async def language(token: str) -> str | None:
            target = await link_target(services, token)
            return target.language if target else None

        async def submit(token: str, position: Position) -> bool:
            target = await use_link(services, token)
            if target is None or target.platform is not Platform.ZALO:
                return False
            now = self.clock.now()
            await inbox.accept(
                page_location(target.chat_id, target.user_id, target.link_id, position, now)
            )
            return True

        return LocationPage(language, submit)

    def _upload_page(self) -> UploadPage:
        """The Zalo upload page: a valid link's file is stored, then goes to the inbox."""
        assert self.router is not None and self.inbox is not None
        services, inbox, uploads = self.router.services, self.inbox, self.storage.uploads

        async def language(token: str) -> str | None:
            target = await upload_target(services, token)
            return target.language if target else None

        async def submit(token: str, sent: UploadedFile) -> bool:
            target = await use_upload_link(services, token)
            if target is None or target.platform is not Platform.ZALO:
                return False
            upload_id = uuid.uuid4().hex
            await uploads.put(upload_id, sent.data, sent.filename, sent.mime)
            now, size = self.clock.now(), len(sent.data)
            await inbox.accept(
                page_file(target.chat_id, target.user_id, upload_id, sent.filename, size, now)
            )
            return True

        return UploadPage(language, submit)

    def _cap_routes(self) -> CapRoutes:
        """CAP out for alerting hubs; CAP in when CAP_INBOX_TOKEN is set."""
        assert self.router is not None
        services, token = self.router.services, self.settings.cap_inbox_token
        return CapRoutes(
            document=partial(alert_document, services),
            feed=partial(feed_document, services, self.settings.base_url),
            receive=partial(receive_cap, services),
            inbox_token=token.get_secret_value() if token else "",
        )

    def _landing(self) -> FindLanding:
        """A poster's QR token → what its landing page shows (None: forged, revoked, retired)."""
        assert self.router is not None
        services, storage = self.router.services, self.storage

        async def find(token: str) -> Landing | None:
            now = self.clock.now()
            try:
                claim = read_checkpoint_token(services.keys, token, now)
                checkpoint = await storage.checkpoints.get(claim.id)
                if checkpoint is None:
                    return None
                verify_checkpoint(services.keys, token, checkpoint, now)
            except InvalidToken:
                return None
            org = await storage.orgs.get(checkpoint.org_id)
            place = f"{checkpoint.name} — {org.name}" if org else checkpoint.name
            link = await services.start_link(start_payload(token))
            return Landing(place, link, checkpoint.code)

        return find

    def _policy(self) -> Policy:
        settings = self.settings
        return Policy(
            schedule=settings.schedule,
            quarantine_days=settings.quarantine_days,
            invite_ttl=timedelta(hours=settings.invite_ttl_hours),
            remind_before=timedelta(minutes=settings.reminder_before_minutes),
            selfie_max_bytes=int(settings.selfie_max_mb * 1_000_000),
            location=settings.location_rules,
            page_base_url=settings.base_url,
            visits=settings.visit_rules,
            poster_base_url=settings.public_base_url or "",
            alerts=settings.alert_rules,
            audit_ask_purpose=settings.audit_ask_purpose,
            audit_show_names=settings.audit_show_names,
        )

    async def _services(self) -> Services:
        storage, settings = self.storage, self.settings
        if self.selfies is None:
            self.selfies, self._own_selfies = (
                SelfiePool(
                    SELFIE_WORKERS,
                    settings.face_mismatch_threshold,
                    int(settings.selfie_max_mb * 1_000_000),
                ),
                True,
            )
        return Services(
            people=storage.people,
            accounts=storage.accounts,
            conversations=storage.conversations,
            staff=storage.staff,
            staff_chats=storage.staff_chats,
            audit=storage.audit,
            attempts=storage.attempts,
            cases=storage.cases,
            invites=storage.invites,
            staff_invites=storage.staff_invites,
            declarations=storage.declarations,
            erasure=storage.erasure,
            outbox=storage.outbox,
            photos=storage.photos,
            orgs=storage.orgs,
            checkpoints=storage.checkpoints,
            visits=storage.visits,
            daily_checks=storage.daily_checks,
            reports=storage.reports,
            workers=storage.workers,
            cards=storage.cards,
            alerts=storage.alerts,
            subscribers=storage.subscribers,
            figures=storage.figures,
            areas=load_areas(settings.areas_file),
            clock=self.clock,
            policy=self._policy(),
            normalise_photo=self.selfies.normalise,
            check_selfie_later=self._check_selfie_later,
            keys=settings.keyring(),
            start_link=self._start_link,
            wake_dispatchers=self.wake_dispatchers,
        )

    async def _start_link(self, payload: str) -> str | None:
        """A Telegram deep link, when Telegram is configured and answers."""
        for channel in self.channels:
            if channel.platform is Platform.TELEGRAM:
                try:
                    return await channel.start_link(payload)
                except ChannelError:
                    log.warning("no Telegram link: Telegram does not answer")
        return None

    def _start_dispatchers(self) -> None:
        rates = self.settings.rate_limits
        for channel in self.channels:
            dispatcher = Dispatcher(
                channel.platform,
                channel,
                self.storage.outbox,
                self.storage.leases,
                self.storage.photos,
                self.clock,
                rates[channel.platform],
                holder=self.holder,
                on_blocked=self._blocked,
                obsolete=any_of(
                    skip_declared(self.storage.declarations), skip_superseded(self.storage.alerts)
                ),
                on_migrated=self._staff_chat_moved,
            )
            self._dispatchers.append(dispatcher)
            self._background.append(asyncio.create_task(dispatcher.run()))

    async def _blocked(self, platform: Platform, chat_id: str) -> None:
        """A chat blocked the bot: its account and its alerts stop until it writes again."""
        await self.storage.accounts.set_blocked(platform, chat_id)
        await self.storage.subscribers.set_blocked(platform, chat_id)

    async def _staff_chat_moved(self, platform: Platform, old: str, new: str) -> None:
        """A staff group became a supergroup: the cases it paged page the new chat."""
        await self.storage.cases.move_staff_chat(
            ChatRef(platform=platform, chat_id=old), ChatRef(platform=platform, chat_id=new)
        )

    def wake_dispatchers(self) -> None:
        """New proactive messages were enqueued here: send them now."""
        for dispatcher in self._dispatchers:
            dispatcher.poke()

    async def tick(self) -> None:
        """One scheduler pass: reminders, deadline summaries, case completions."""
        rates = self.settings.rate_limits
        deps = reminder_deps(
            self.storage, self._policy(), rates, self.wake_dispatchers, self.holder
        )
        await tick(deps, self.clock.now())

    async def _process(self, entry: InboxEntry) -> None:
        """One stored update: its adapter reads it, the router answers it."""
        assert self.router is not None
        channel = next(c for c in self.channels if c.platform is entry.platform)
        incoming = await channel.open(entry.raw)
        if incoming is not None:
            await self.router.handle(replace(incoming, inbox_id=entry.id), channel)

    async def _connect(self, channel: Channel) -> bool:
        """Publish the command menu and, in webhook mode, register the webhook; False on failure."""
        settings = self.settings
        try:
            await channel.set_commands(COMMANDS_MENU)
            if settings.bot_mode == "webhook":
                url = f"{settings.webhook_base_url}{webhook_path(channel)}"
                await channel.set_webhook(url, settings.webhook_secret_value)
        except Exception as exc:
            log.warning("channel could not start: %r", exc, extra={"platform": channel.platform})
            return False
        self._receiving[channel.platform] = settings.bot_mode == "webhook"
        return True

    async def _receive(self, channel: Channel, connected: bool) -> None:
        """Keep a channel receiving: connect (again) with backoff until it works, then poll."""
        assert self.inbox is not None
        delay = 0.0
        while True:
            if not connected:
                delay = min(max(2 * delay, 1.0), RECONNECT_MAX)
                await asyncio.sleep(delay)
                connected = await self._connect(channel)
                continue
            if self.settings.bot_mode == "webhook":
                return
            self._receiving[channel.platform] = True
            try:
                await channel.start_polling(self.inbox.accept)
                return  # stopped on purpose
            except Exception as exc:
                log.warning("polling failed: %r", exc, extra={"platform": channel.platform})
                connected = False
            finally:
                self._receiving[channel.platform] = False

    async def health(self) -> dict[str, object]:
        """Whether the database answers and every channel is receiving."""
        database = await self.storage.ping()
        channels = {c.platform.value: self._receiving.get(c.platform, False) for c in self.channels}
        return {
            "ok": database and all(channels.values()),
            "database": database,
            "channels": channels,
        }

    async def stop(self) -> None:
        """Stop receiving, finish the updates in flight, then stop sending, then the rest."""
        if self._scheduler:
            self._scheduler.shutdown(wait=False)
        for channel in self.channels:
            await channel.stop_receiving()
        for task in self._receivers.values():
            task.cancel()
        await asyncio.gather(*self._receivers.values(), return_exceptions=True)
        if self.inbox:
            await self.inbox.stop(DRAIN_GRACE)
        if self.selfie_checks:
            await self.selfie_checks.stop()
        for dispatcher in self._dispatchers:
            await dispatcher.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.selfies and self._own_selfies:
            # Waiting for worker processes would block the loop.
            await asyncio.to_thread(self.selfies.close)
        # Last: Zalo fetches the photos of the final sends from our web server.
        if self._runner:
            await self._runner.cleanup()
        for channel in self.channels:
            await channel.close()


@dataclass
class Sandboxed:
    """Settings pointed at local emulators started for this run (no platform token given)."""

    settings: Settings
    sandbox: Sandbox


async def start_sandbox(settings: Settings) -> Sandboxed:
    """Start the Telegram and Zalo emulators and point the settings at them."""
    sandbox = Sandbox(
        SANDBOX_TELEGRAM_TOKEN,
        SANDBOX_ZALO_TOKEN,
        port=settings.sandbox_port,
        state_dir=settings.data_dir,
        zone=settings.tz,
    )
    await sandbox.start()
    local = settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(SANDBOX_TELEGRAM_TOKEN),
            "telegram_api_base": sandbox.telegram_api_base,
            "zalo_bot_token": SecretStr(SANDBOX_ZALO_TOKEN),
            "zalo_api_base": sandbox.zalo_api_base,
            "bot_mode": "polling",
        }
    )
    return Sandboxed(local, sandbox)


def follow_sandbox_clock(sandbox: Sandbox, service: Service) -> None:
    """Whenever the sandbox clock moves, do the work now due at once (the tick waits 30 s)."""

    async def moved() -> None:
        service.wake_dispatchers()
        await service.tick()

    sandbox.time.on_move(moved)


async def run(settings: Settings) -> None:
    """Run the bot until SIGINT/SIGTERM: embedded database and sandbox when none configured."""
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else None
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(
            open_database(uri, settings.mongodb_db, settings.data_dir)
        )
        sandbox: Sandbox | None = None
        clock: Clock = SystemClock()
        if settings.sandbox:
            sandboxed = await start_sandbox(settings)
            stack.push_async_callback(sandboxed.sandbox.stop)
            settings, sandbox = sandboxed.settings, sandboxed.sandbox
            clock = sandbox.time.clock
        service = Service(settings, Storage.over(db, clock, settings.audit_hmac_key()), clock)
        await service.start()
        stack.push_async_callback(service.stop)
        if sandbox:
            follow_sandbox_clock(sandbox, service)
            print(f"Sandbox chat page: {sandbox.page_url}", flush=True)
        log.info("khaibao is running", extra={"web": settings.base_url})
        await _wait_for_signal()


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
