"""A running Lianxin WeChat channel (real gRPC on 127.0.0.1) against the fake puppet service, and the moves of a
person using WeChat: write, reply with a menu's number, send a photo or a location; then read what they see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.wechat_runtime import WeChatBot
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from storage.settings import Settings
from tests.fakes.wechat_puppet import FakePuppet

REP = "wxid_rep_wang"
RESIDENT = "wxid_resident_chen"
OPS = "wxid_ops_team"


def wechat_settings(settings: Settings, fake: FakePuppet, files: Path, **wechat: Any) -> Settings:
    """The channel pointed at the fake, at test speed: no anti-spam pace (unless a test sets one), quick
    reconnects."""
    options = {
        "endpoint": f"127.0.0.1:{fake.port}",
        "tls": False,
        "files_dir": files,
        "per_chat_per_second": 30.0,
        "per_minute": 6000,
        "reconnect_min_seconds": 0.05,
        "reconnect_max_seconds": 0.3,
        "watchdog_seconds": 5.0,
        "ops_chat": OPS,
        **wechat,
    }
    limits = settings.delivery.model_copy(update={"retry_seconds": 0.05})
    return settings.model_copy(
        update={"wechat": settings.wechat.model_copy(update=options), "delivery": limits, "wechat_token": fake.token}
    )


class WeChatHarness:
    def __init__(self, fake: FakePuppet, bot: WeChatBot, db: Database) -> None:
        self.fake = fake
        self.bot = bot
        self.db = db

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every message event delivered is stored and handled, and every queued message is sent (or
        has failed)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            asked = set(self.fake.payload_requests)
            delivered = all(message_id in asked for message_id in self.fake.delivered)
            if delivered and self.bot.channel.arrivals_waiting == 0:
                async with self.db.transaction() as session:
                    busy = (
                        await session.exec(select(InboxEvent.id).where(InboxEvent.status == "pending").limit(1))
                    ).first() or (
                        await session.exec(
                            select(OutboxMessage.id)
                            .where(OutboxMessage.status == "pending", OutboxMessage.channel == "wechat")
                            .limit(1)
                        )
                    ).first()
                if busy is None and self.bot.channel.arrivals_waiting == 0:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the WeChat channel did not settle")
            await asyncio.sleep(0.02)

    async def say(self, talker: str, text: str) -> str:
        """What the person reads after writing: the new messages, joined."""
        before = len(self.fake.sent_to(talker))
        return await self.read_new(talker, before, self.fake.say(talker, text))

    async def read_new(self, talker: str, before: int, message_id: str) -> str:
        """What the person reads after sending `message_id`: the messages sent to them since `before`."""
        await wait_for(lambda: message_id in self.fake.payload_requests, f"the bot to read {message_id}")
        await self.settle()
        return "\n\n".join(
            sent.text if sent.kind == "text" else f"[file {sent.file_name}]"
            for sent in self.fake.sent_to(talker)[before:]
        )

    def screen(self, talker: str) -> str:
        sent = self.fake.sent_to(talker)
        return sent[-1].text if sent else ""

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return list(
                (
                    await session.exec(
                        select(OutboxMessage).where(OutboxMessage.channel == "wechat").order_by(col(OutboxMessage.id))
                    )
                ).all()
            )

    async def inbox(self) -> list[InboxEvent]:
        async with self.db.transaction() as session:
            return list(
                (
                    await session.exec(
                        select(InboxEvent).where(InboxEvent.channel == "wechat").order_by(col(InboxEvent.id))
                    )
                ).all()
            )


@asynccontextmanager
async def running_wechat(
    db: Database, settings: Settings, files: Path, *, fake: FakePuppet | None = None, alone: bool = True, **wechat: Any
) -> AsyncIterator[WeChatHarness]:
    """The fake service with the account logged in, and the channel connected to it."""
    fake = fake or FakePuppet()
    async with fake:
        fake.login()
        bot = WeChatBot(wechat_settings(settings, fake, files, **wechat), db, fake.token, scheduler=False, alone=alone)
        await bot.start()
        try:
            await fake.wait_stream()
            await wait_for(lambda: bool(bot.channel.self_id), "the login")
            yield WeChatHarness(fake, bot, db)
        finally:
            await bot.stop()


async def wait_for(condition: Any, what: str, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"waited in vain for {what}")
        await asyncio.sleep(0.02)
