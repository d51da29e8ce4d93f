"""A bare aiogram echo bot, the ceiling the benchmarks compare with: python -m bench.echo URL

It answers every text with the same text through the Telegram Bot API at URL (the emulator),
in a process of its own, as the real bot runs in benchmarks.
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.app import SANDBOX_TELEGRAM_TOKEN


async def main(api_base: str) -> None:
    """Echo until cancelled (or the process is terminated)."""
    bot = Bot(
        SANDBOX_TELEGRAM_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    )
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    try:
        await dispatcher.start_polling(bot, handle_signals=False)
    finally:
        await bot.session.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
