"""Complete declarations per second (command, answer, selfie, receipt) and their latency,
through the Telegram emulator and the embedded database, beside a bare aiogram echo bot.

Run: .venv/bin/python -m bench.declarations [--residents 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bench.common import Figures, database_and_emulators, telegram_service, together
from bench.selfies import uploads
from bench.updates import run_echo
from core.channel import Platform
from core.clock import FixedClock
from core.models import Account, Case, ChatRef, Consent, Person
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User

# 12:00 local: the 13:00 window is open.
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


async def resident_in_quarantine(storage: Storage, user_id: str, number: int) -> None:
    """A registered Telegram resident with an active case (as enrolment would leave it)."""
    now = NOON - timedelta(days=1)
    person = Person(
        id=uuid.uuid4().hex,
        name="Nguyễn Văn An",
        phone=f"+8491{number:07d}",
        area="tan-ha",
        created_at=now,
        consent=Consent(version="2026-11", at=now),
    )
    await storage.people.add(person)
    await storage.accounts.save(
        Account(
            platform=Platform.TELEGRAM,
            user_id=user_id,
            chat_id=user_id,
            person_id=person.id,
            created_at=now,
        )
    )
    await storage.cases.add(
        Case(
            id=uuid.uuid4().hex,
            number=number,
            person_id=person.id,
            area="tan-ha",
            start=now.date(),
            end=(now + timedelta(days=13)).date(),
            officer="bench",
            staff_chat=ChatRef(platform=Platform.TELEGRAM, chat_id="999"),
            created_at=now,
        )
    )


async def declare(resident: User, photo: bytes, whole: list[float]) -> None:
    """One declaration: /khaibao, "no symptoms", the selfie, until the receipt arrives."""
    started = time.perf_counter()
    await resident.says("/khaibao")
    await resident.choose("✅ Không có triệu chứng nào")
    receipt, _menu = await resident.photo(photo, 2)
    assert "Đã nhận khai báo" in receipt["text"]
    whole.append(time.perf_counter() - started)


async def run_khaibao(uri: str, sandbox: Sandbox, residents: int) -> Figures:
    """`residents` people declare at the same time through the real service."""
    latencies: list[float] = []
    async with telegram_service(uri, sandbox, FixedClock(NOON)) as (_service, storage):
        users = [User(sandbox.url, "telegram", str(700000 + i)) for i in range(residents)]
        for number, user in enumerate(users, 1):
            await resident_in_quarantine(storage, user.user_id, number)
        photos = dict(zip((u.user_id for u in users), uploads(residents), strict=True))
        wall = await together(users, lambda u: declare(u, photos[u.user_id], latencies))
    return Figures("khaibao declarations", latencies, wall)


async def main(residents: int) -> None:
    """Run both and print figures and the ratio."""
    async with database_and_emulators() as (uri, sandbox):
        declarations = await run_khaibao(uri, sandbox, residents)
        echo = await run_echo(sandbox, residents, messages=3)
    print(f"{residents} residents declaring at once (3 updates + a 960x1280 selfie each)")
    print(declarations.line())
    print(echo.line())
    print(f"declarations/s vs echo round trips/s: {declarations.rate / echo.rate:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=30)
    asyncio.run(main(parser.parse_args().residents))
