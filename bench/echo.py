"""A bare aiogram echo bot, the ceiling the benchmarks compare with: python -m bench.echo URL

It answers every text with the same text through the Telegram Bot API at URL (the emulator).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.app import SANDBOX_TELEGRAM_TOKEN


@asynccontextmanager
async def echoing(api_base: str) -> AsyncIterator[None]:
    """The echo bot polls while the context is open."""
    bot = Bot(
        SANDBOX_TELEGRAM_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    )
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()


async def main(api_base: str) -> None:
    """Echo until the process is terminated."""
    async with echoing(api_base):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
