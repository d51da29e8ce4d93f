"""Onboarding-step updates/s and latency through the emulator and the embedded database,
beside a bare aiogram echo bot on the same emulator in the same run.

Run: .venv/bin/python -m bench.updates [--users 40]
"""

from __future__ import annotations

import argparse
import asyncio
from functools import partial

from bench import echo
from bench.common import (
    Figures,
    database_and_emulators,
    echo_process,
    telegram_service,
    timed,
    together,
)
from core.clock import SystemClock
from sandbox.server import Sandbox
from tests.chat import User


async def onboard(user: User, latencies: list[float]) -> None:
    """One resident's whole onboarding; each step's send-to-reply time is recorded."""
    steps = [
        lambda: user.says("/start", 2),
        lambda: user.choose("🇻🇳 Tiếng Việt"),
        lambda: user.choose("✅ Đồng ý"),
        lambda: user.says("Nguyễn Văn An"),
        lambda: user.share_phone("0912345678"),
        lambda: user.choose("Xã Tân Hà"),
        lambda: user.choose("✅ Đúng, xác nhận", 2),
    ]
    for step in steps:
        await timed(step, latencies)


async def run_khaibao(uri: str, sandbox: Sandbox, users: int) -> Figures:
    """Onboard `users` Telegram residents at once through the real service."""
    latencies: list[float] = []
    async with telegram_service(uri, sandbox, SystemClock()):
        residents = [User(sandbox.url, "telegram", str(500000 + i)) for i in range(users)]
        wall = await together(residents, partial(onboard, latencies=latencies))
    return Figures("khaibao onboarding steps", latencies, wall)


async def run_echo(sandbox: Sandbox, users: int, messages: int, in_process: bool = True) -> Figures:
    """The ceiling: a bare aiogram echo bot on the same emulator."""
    residents = [User(sandbox.url, "telegram", str(900000 + i)) for i in range(users)]
    latencies: list[float] = []

    async def chat(resident: User) -> None:
        for i in range(messages):
            await timed(partial(resident.says, f"echo {i}"), latencies)

    async with echo.echoing(sandbox.telegram_api_base) if in_process else echo_process(sandbox):
        wall = await together(residents, chat)
    return Figures("bare aiogram echo bot", latencies, wall)


async def main(users: int) -> None:
    """Run both and print figures and the ratio."""
    async with database_and_emulators() as (uri, sandbox):
        khaibao = await run_khaibao(uri, sandbox, users)
        echo = await run_echo(sandbox, users, messages=7)
    print(f"{users} concurrent Telegram users, embedded SecantusDB, emulator on loopback")
    print(khaibao.line())
    print(echo.line())
    print(f"khaibao / echo throughput: {khaibao.rate / echo.rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=40)
    asyncio.run(main(parser.parse_args().users))
