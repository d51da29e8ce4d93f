"""Kill the bot with SIGKILL in the middle of a burst, start it again, count what users got.

The bot runs as a real `python -m bot` process (its own process group, so its selfie workers
die with it, as on a crashed machine) against a SecantusDB server and the emulators of the
caller. Used by tests/test_crash.py and bench/crash.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pymongo import AsyncMongoClient

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from core.channel import Platform
from core.clock import SystemClock
from core.models import Account, Case, ChatRef, Consent, Person
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from storage.database import Storage
from storage.documents import Document
from storage.embedded import free_port
from tests.images import ASTRONAUT, encode

SECRET_KEY = "crash-secret-key-0123456789-abcdefghijklmnop"
AUDIT_KEY = "crash-audit-key-0123456789-abcdefghijklmnopq"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
HELP_UPDATES = ["/help"] * 5
RECEIPT = re.compile(r"Mã biên nhận: (\w+)")
QUIET = 70.0  # seconds without a new answer after which the rest counts as lost


@dataclass(frozen=True)
class Chatter:
    """A simulated user, what they send, and how many bot messages that must bring."""

    platform: str
    user_id: str
    sends: Sequence[dict[str, Any]]
    expected: int

    @property
    def declares(self) -> bool:
        """Whether this chatter sends a declaration (and so must get a receipt)."""
        return self.sends[0].get("text") == "/khaibao"


@dataclass
class Outcome:
    """What the users got after the crash and the restart."""

    injected: int
    expected: int
    received: int = 0
    twice: int = 0
    lost: dict[str, int] = field(default_factory=lambda: {"telegram": 0, "zalo": 0})
    receipts: list[str] = field(default_factory=list)
    unsaved_receipts: list[str] = field(default_factory=list)
    without_receipt: dict[str, list[str]] = field(default_factory=dict)  # user → what they got
    killed_after: int = 0
    recovery_seconds: float = 0.0

    def line(self) -> str:
        """One printable summary."""
        return (
            f"updates injected {self.injected}, bot messages expected {self.expected}, "
            f"received {self.received}; answered twice {self.twice}, lost {self.lost}; "
            f"receipts {len(self.receipts)} (unsaved {len(self.unsaved_receipts)}); "
            f"killed after {self.killed_after} messages, all answered "
            f"{self.recovery_seconds:.1f} s after the restart"
        )


def chatters(people: int, residents: int) -> list[Chatter]:
    """`people` users on each platform sending /help 5 times, `residents` of them declaring."""
    selfie = encode(ASTRONAUT.resize((480, 480)), quality=85)
    declaring: list[dict[str, Any]] = [
        {"text": "/khaibao"},
        {"text": "✅ Không có triệu chứng nào"},
        {"photo": selfie},
        {"text": "/help"},
        {"text": "/help"},
    ]
    everyone = []
    for platform in ("telegram", "zalo"):
        for n in range(people):
            user_id = f"{60000 + n}" if platform == "telegram" else f"c0ffee{n:04d}"
            if n < residents:
                # question, selfie question, receipt with the menu, help, help
                everyone.append(Chatter(platform, user_id, declaring, 5))
            else:
                everyone.append(Chatter(platform, user_id, [{"text": t} for t in HELP_UPDATES], 5))
    return everyone


async def seed_residents(storage: Storage, residents: list[Chatter]) -> None:
    """Each declaring chatter is registered and in quarantine (as an enrolment leaves it)."""
    now = datetime.now(UTC)
    today = now.astimezone(LOCAL).date()
    for number, resident in enumerate(residents, 1):
        person = Person(
            id=f"crash-person-{number}",
            name="Nguyễn Văn An",
            phone=f"+8491{number:07d}",
            area="tan-ha",
            consent=Consent(version="2026-11", at=now),
            created_at=now - timedelta(days=1),
        )
        await storage.people.add(person)
        await storage.accounts.save(
            Account(
                platform=Platform(resident.platform),
                user_id=resident.user_id,
                chat_id=resident.user_id,
                person_id=person.id,
                created_at=now,
            )
        )
        await storage.cases.add(
            Case(
                id=f"crash-case-{number}",
                number=number,
                person_id=person.id,
                area="tan-ha",
                start=today,
                end=today + timedelta(days=13),
                staff_chat=ChatRef(platform=Platform.TELEGRAM, chat_id="-1000"),
                officer="crash",
                # Enrolled now: no earlier window was due, so no nudge adds to the transcripts
                # (the bot runs on the real clock, at whatever hour the tests run).
                created_at=now,
            )
        )


def bot_environment(
    mongo_uri: str, db_name: str, sandbox: Sandbox, workdir: Path, lease_seconds: int = 3
) -> dict[str, str]:
    """The settings of a bot process talking to the caller's database and emulators (a short
    lease, so that a restart takes over the killed process's updates quickly)."""
    return {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": db_name,
        "DATA_DIR": str(workdir / "data"),
        "TELEGRAM_BOT_TOKEN": SANDBOX_TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE": sandbox.telegram_api_base,
        "ZALO_BOT_TOKEN": SANDBOX_ZALO_TOKEN,
        "ZALO_API_BASE": sandbox.zalo_api_base,
        "SECRET_KEY": SECRET_KEY,
        "AUDIT_KEY": AUDIT_KEY,
        "HTTP_PORT": str(free_port()),
        "UPDATE_LEASE_SECONDS": str(lease_seconds),
        "LOG_LEVEL": "WARNING",
    }


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """Start `python -m bot` in its own process group and wait until it answers /healthz."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env=env,
            cwd=log.parent,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{env['HTTP_PORT']}/healthz"
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited with {process.returncode}: see {log}")
            try:
                if (await http.get(url, timeout=1)).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the bot did not become healthy: see {log}")


def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the bot and everything it started: no cleanup, as on a power cut."""
    os.killpg(process.pid, signal.SIGKILL)


async def stop(process: asyncio.subprocess.Process) -> None:
    """Stop the bot cleanly."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        kill(process)
        await process.wait()


async def received(clients: dict[str, SandboxClient], everyone: list[Chatter]) -> list[int]:
    """How many bot messages each chatter has received so far."""
    return [len(texts) for texts in await _transcripts(clients, everyone)]


async def inject(clients: dict[str, SandboxClient], everyone: list[Chatter]) -> int:
    """Every chatter sends all their updates, all chatters at once; returns how many."""

    async def send_all(chatter: Chatter) -> None:
        for fields in chatter.sends:
            await clients[chatter.platform].send(chatter.user_id, **dict(fields))

    await asyncio.gather(*(send_all(chatter) for chatter in everyone))
    return sum(len(chatter.sends) for chatter in everyone)


async def crash_and_recover(
    mongo_uri: str,
    db_name: str,
    sandbox: Sandbox,
    workdir: Path,
    people: int = 20,
    residents: int = 5,
    kill_at: float = 0.3,
) -> Outcome:
    """Inject a burst, SIGKILL the bot once `kill_at` of the answers arrived, restart, count."""
    everyone = chatters(people, residents)
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    storage = Storage.over(client[db_name], SystemClock(), AUDIT_KEY.encode())
    await storage.ensure_indexes()
    await seed_residents(storage, [c for c in everyone if c.declares])
    clients = {p: SandboxClient(sandbox.url, p) for p in ("telegram", "zalo")}
    env = bot_environment(mongo_uri, db_name, sandbox, workdir)
    log = workdir / "bot.log"
    expected = sum(chatter.expected for chatter in everyone)
    try:
        first = await start_bot(env, log)
        outcome = Outcome(injected=await inject(clients, everyone), expected=expected)
        while sum(await received(clients, everyone)) < kill_at * expected:
            await asyncio.sleep(0.05)
        kill(first)
        await first.wait()
        outcome.killed_after = sum(await received(clients, everyone))
        restarted = time.monotonic()
        second = await start_bot(env, log)
        try:
            counts = await _settle(clients, everyone)
            outcome.recovery_seconds = time.monotonic() - restarted
        finally:
            await stop(second)
        outcome.received = sum(counts)
        for chatter, count in zip(everyone, counts, strict=True):
            outcome.twice += max(0, count - chatter.expected)
            outcome.lost[chatter.platform] += max(0, chatter.expected - count)
        await _check_receipts(clients, everyone, storage, outcome)
        return outcome
    finally:
        for http in clients.values():
            await http.aclose()
        await client.close()


async def _settle(clients: dict[str, SandboxClient], everyone: list[Chatter]) -> list[int]:
    """Wait until every chatter has all their answers, or nothing more comes for a while.

    A resident counts as answered once the receipt came too: answers given twice after the
    restart can make up the number before it. The wait outlasts a transaction the killed bot
    left open (the server aborts it after 60 s; until then a retry writing the same
    declaration waits).
    """
    texts = await _transcripts(clients, everyone)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < QUIET:
        if all(_answered(chatter, got) for chatter, got in zip(everyone, texts, strict=True)):
            await asyncio.sleep(1.0)  # answers given twice would show up now
            return await received(clients, everyone)
        await asyncio.sleep(0.2)
        latest = await _transcripts(clients, everyone)
        if latest != texts:
            texts, quiet_since = latest, time.monotonic()
    return [len(got) for got in texts]


def _answered(chatter: Chatter, texts: list[str]) -> bool:
    receipt_due = chatter.declares and not any(RECEIPT.search(text) for text in texts)
    return len(texts) >= chatter.expected and not receipt_due


async def _transcripts(
    clients: dict[str, SandboxClient], everyone: list[Chatter]
) -> list[list[str]]:
    return [
        [m.get("text") or "" for m in await clients[c.platform].messages(c.user_id)]
        for c in everyone
    ]


async def _check_receipts(
    clients: dict[str, SandboxClient], everyone: list[Chatter], storage: Storage, outcome: Outcome
) -> None:
    """Every receipt a resident got names a declaration that is stored."""
    for chatter, texts in zip(everyone, await _transcripts(clients, everyone), strict=True):
        codes = [code for text in texts for code in RECEIPT.findall(text)]
        if chatter.declares and not codes:
            outcome.without_receipt[f"{chatter.platform}:{chatter.user_id}"] = texts
        for code in codes:
            outcome.receipts.append(code)
            if await storage.declarations.by_receipt(code) is None:
                outcome.unsaved_receipts.append(code)
