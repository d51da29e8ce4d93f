"""The kill -9 test as a benchmark: a burst from many users on Telegram and Zalo, the bot
killed mid-way and started again; prints updates injected, answered twice and lost.

Run: .venv/bin/python -m bench.crash [--people 20] [--residents 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from tempfile import TemporaryDirectory

from bot.app import SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN
from sandbox.server import Sandbox
from storage.embedded import EmbeddedMongo
from tests.crash import crash_and_recover


async def main(people: int, residents: int, runs: int) -> None:
    """Run the crash `runs` times, each on fresh emulators and a fresh database."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db")
        uri = await mongo.start()
        try:
            for run in range(runs):
                sandbox = Sandbox(SANDBOX_TELEGRAM_TOKEN, SANDBOX_ZALO_TOKEN, poll_timeout_cap=1.0)
                await sandbox.start()
                try:
                    workdir = Path(directory) / f"run{run}"
                    workdir.mkdir()
                    outcome = await crash_and_recover(
                        uri, f"crash{run}", sandbox, workdir, people, residents
                    )
                finally:
                    await sandbox.stop()
                print(f"run {run + 1}: {outcome.line()}")
        finally:
            await mongo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=20, help="users per platform")
    parser.add_argument("--residents", type=int, default=5, help="of them declaring, per platform")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.residents, arguments.runs))
