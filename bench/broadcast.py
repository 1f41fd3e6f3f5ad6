"""Broadcast: one message to each of 10,000 private chats through the outbox and the sender, against the fake
Bot API with Telegram's flood limits (30 messages/s overall) switched on. Prints the sustained rate and how many
429s the fake server had to give.

    uv run python bench/broadcast.py [--chats 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from bot.runtime import TelegramBot
from storage import outbox
from storage.db import Database, sqlite_url
from storage.models import OutboxMessage, utcnow
from storage.settings import load_settings
from tests.fakes.telegram_api import FakeTelegramServer

FIRST_CHAT = 200_001


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=10_000)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as directory:
        db = Database(sqlite_url(Path(directory) / "broadcast.db"))
        await db.upgrade()
        async with db.transaction() as session:
            for number in range(args.chats):
                outbox.enqueue(
                    session,
                    channel="telegram",
                    chat_key=str(FIRST_CHAT + number),
                    payload={"text": f"【接待日通知】本周三上午 9:00-11:30，幸福社区党代表工作站。（{number}）"},
                    now=utcnow(),
                )
        async with FakeTelegramServer() as server:  # flood limits on: 30/s overall, 1/s per chat
            for number in range(args.chats):
                server.add_chat(FIRST_CHAT + number)
            telegram = settings.telegram.model_copy(
                update={"api_url": server.base_url, "file_url": server.base_file_url, "files_dir": Path(directory)}
            )
            bot = TelegramBot(settings.model_copy(update={"telegram": telegram}), db, server.token)
            started = time.monotonic()
            await bot.start()
            last_report = started
            while True:
                await asyncio.sleep(1.0)
                async with db.read() as session:
                    pending = len(
                        (await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))).all()
                    )
                if time.monotonic() - last_report >= 30:
                    last_report = time.monotonic()
                    done, seconds = args.chats - pending, last_report - started
                    print(f"  {done} sent after {seconds:.0f} s ({done / seconds:.1f} msg/s)")
                if pending == 0:
                    break
            await bot.stop()
            sent = sum(len(server.sent(FIRST_CHAT + number)) for number in range(args.chats))
            refusals = server.flood_refusals
            # Sustained: from the first message to the last, leaving out the bot's start-up.
            times = [call.at for call in server.calls_to("sendMessage")]
        await db.dispose()
    elapsed = max(times) - min(times)
    print(f"start-up and first message: {min(times) - started:.1f} s after the start")
    print(f"broadcast: {sent} msgs in {elapsed:.1f} s = {(sent - 1) / elapsed:.1f} msg/s, 429s: {refusals}")


if __name__ == "__main__":
    asyncio.run(main())
