"""Nothing lost, nothing done twice: `lianxin run` in its own process, killed with SIGKILL at random moments while
updates flow in and while its outbox drains, against the fake Bot API server in this process."""

from __future__ import annotations

import asyncio
import collections
import random
import signal
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.delivery import outbox
from storage.models import InboxEvent, OutboxMessage, utcnow
from tests.fakes import bot_process
from tests.fakes.telegram_api import FakeTelegramServer

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
CONCURRENCY = 8
UPDATES = 1000
CHATS = 50


class BotProcess:
    """`lianxin run` against the fake server; killed and started again as the test likes."""

    def __init__(self, server: FakeTelegramServer, database_url: str, files: Path) -> None:
        self.server = server
        self.database_url = database_url
        self.files = files
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    def environment(self) -> dict[str, str]:
        return bot_process.environment(
            self.server,
            self.files,
            telegram__poll_timeout_seconds="1",
            # Flood limits are the subject of other tests; here they would only make the test slow.
            delivery__private_per_second="30",
            delivery__private_burst="30",
            delivery__overall_per_second="1000",
            delivery__sender_concurrency=str(CONCURRENCY),
            delivery__retry_seconds="0.1",
            # A killed worker's leases (PostgreSQL) run out quickly; on SQLite they live in the dead process only.
            delivery__lease_seconds="2",
        )

    async def start(self) -> None:
        log = self.files.parent / f"bot-{self.kills}.log"
        self.process = await bot_process.start(self.database_url, self.environment(), log)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        if self.process is not None:
            await bot_process.stop(self.process)


async def settled(db: Database, expected_events: int, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async with db.transaction() as session:
            events = (await session.exec(select(InboxEvent.status))).all()
            waiting = (await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))).all()
        if len(events) >= expected_events and all(status != "pending" for status in events) and not waiting:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not settled: {len(events)} events, {len(waiting)} messages waiting")


async def test_sigkill_while_updates_flow_in_loses_nothing_and_does_nothing_twice(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    random.seed(20261125)
    async with FakeTelegramServer(flood_limits=False) as server:
        bot = BotProcess(server, database_url, tmp_path / "files")
        await bot.start()
        sent_texts: dict[int, list[str]] = collections.defaultdict(list)
        # A start takes about a second and a half (imports, migrations check, getMe): kill after it, mostly.
        next_kill = asyncio.get_running_loop().time() + random.uniform(2.0, 3.0)
        for number in range(UPDATES):
            chat = 9000 + number % CHATS
            text = f"你好 {number}"
            server.user_sends_text(chat, text)
            sent_texts[chat].append(text)
            await asyncio.sleep(0.01)
            if asyncio.get_running_loop().time() >= next_kill:
                await bot.kill()
                await asyncio.sleep(random.uniform(0.0, 0.3))
                await bot.start()
                next_kill = asyncio.get_running_loop().time() + random.uniform(1.5, 3.0)
        try:
            await settled(db, UPDATES, within=120)
        finally:
            await bot.stop()

    assert bot.kills >= 3
    async with db.transaction() as session:
        events = (await session.exec(select(InboxEvent))).all()
        replies = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "message"))).all()
    # Every update was stored once and handled once: one reply queued per update, none twice.
    assert len(events) == UPDATES and {event.status for event in events} == {"done"}
    assert len({event.event_key for event in events}) == UPDATES
    per_event = collections.Counter(reply.inbox_id for reply in replies)
    assert len(per_event) == UPDATES and set(per_event.values()) == {1}
    assert {reply.status for reply in replies} == {"sent"}
    # Every chat got at least one answer per update; the sender may repeat a message it was sending when killed.
    received = sum(len(server.sent(9000 + index)) for index in range(CHATS))
    print(f"kills {bot.kills}, replies received {received} for {UPDATES} updates")
    assert UPDATES <= received <= UPDATES + bot.kills * CONCURRENCY


async def test_sigkill_while_the_sender_drains_loses_nothing(db: Database, database_url: str, tmp_path: Path) -> None:
    random.seed(7)
    messages = 1000
    rows = [
        outbox.NewMessage("telegram", str(9500 + number % 100), {"text": f"m{number}"}) for number in range(messages)
    ]
    async with db.transaction() as session:
        await outbox.enqueue(session, messages=rows, now=utcnow())
    async with FakeTelegramServer(flood_limits=False) as server:
        for index in range(100):
            server.add_chat(9500 + index)
        server.fail_next("sendMessage", delay=0.01, times=messages * 2)  # sends take a moment, as over a network
        bot = BotProcess(server, database_url, tmp_path / "files")
        await bot.start()
        while True:
            await asyncio.sleep(random.uniform(0.8, 1.6))
            async with db.transaction() as session:
                left = len(
                    (await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))).all()
                )
            if left < 100 or bot.kills >= 4:
                break
            await bot.kill()
            await bot.start()
        try:
            await settled(db, 0, within=120)
        finally:
            await bot.stop()

    assert bot.kills >= 2
    texts = collections.Counter(message["plain_text"] for index in range(100) for message in server.sent(9500 + index))
    assert set(texts) == {f"m{number}" for number in range(messages)}  # none lost
    duplicates = sum(texts.values()) - messages
    print(f"kills {bot.kills}, duplicates {duplicates}")
    assert duplicates <= bot.kills * CONCURRENCY
    for index in range(100):  # each chat's messages in the order they were queued
        order = [int(message["plain_text"][1:]) for message in server.sent(9500 + index)]
        assert order == sorted(order)
    async with db.transaction() as session:
        statuses = (await session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))).all()
    assert set(statuses) == {"sent"}
