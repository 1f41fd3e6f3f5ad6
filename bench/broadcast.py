"""Broadcast: one message to each of 10,000 private chats through the outbox and the sender, against the fake
Bot API with Telegram's flood limits (30 messages/s overall) switched on, `lianxin run` in its own process. Prints
the sustained rate (first message to last) and how many 429s the fake server had to give.

    uv run python bench/broadcast.py [--chats 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

from storage.db import Database, sqlite_url
from storage.delivery import outbox
from storage.models import utcnow
from tests.fakes import bot_process
from tests.fakes.telegram_api import FakeTelegramServer

FIRST_CHAT = 200_001


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        db = Database(sqlite_url(work / "broadcast.db"))
        await db.upgrade()
        notices = [
            outbox.NewMessage(
                "telegram",
                str(FIRST_CHAT + number),
                {"text": f"【接待日通知】本周三上午 9:00-11:30，幸福社区党代表工作站。（{number}）"},
                bulk=True,
            )
            for number in range(args.chats)
        ]
        async with db.transaction() as session:
            await outbox.enqueue(session, messages=notices, now=utcnow())
        async with FakeTelegramServer() as server:  # flood limits on: 30/s overall, 1/s per chat
            for number in range(args.chats):
                server.add_chat(FIRST_CHAT + number)
            # This process plays Telegram, which counts a message when it arrives. A pause of this process's own
            # collector (with 10,000 chats on record, longer than the sender's 50 ms margin) would have it count
            # after the pause, all at once, what arrived spread out during it.
            gc.collect()
            gc.disable()
            # `lianxin run` in its own process, with the configuration it ships with, as in production.
            env = bot_process.environment(server, work / "files")
            started = time.monotonic()
            process = await bot_process.start(str(work / "broadcast.db"), env, work / "bot.log")
            last_report = started
            try:
                while True:
                    await asyncio.sleep(1.0)
                    done = len(server.calls_to("sendMessage"))
                    if time.monotonic() - last_report >= 30:
                        last_report = time.monotonic()
                        print(f"  {done} sent after {last_report - started:.0f} s")
                    if done >= args.chats or process.returncode is not None:
                        break
                await asyncio.sleep(1.0)
            finally:
                await bot_process.stop(process)
            sent = sum(len(server.sent(FIRST_CHAT + number)) for number in range(args.chats))
            refusals = server.flood_refusals
            # Sustained: from the first message to the last, leaving out the bot's start-up.
            times = [call.at for call in server.calls_to("sendMessage")]
        await db.dispose()
    elapsed = max(times) - min(times)
    print(f"start-up: first message {min(times) - started:.1f} s after the start")
    print(f"broadcast: {sent} msgs in {elapsed:.1f} s = {(sent - 1) / elapsed:.1f} msg/s, 429s: {refusals}")


if __name__ == "__main__":
    asyncio.run(main())
