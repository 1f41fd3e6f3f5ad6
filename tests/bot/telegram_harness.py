"""A running Lianxin Telegram bot (real PTB Application, real HTTP) against the fake Bot API server, and the moves
of a person using it: write, press a button by its label, share a location; then read what they see."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import col, select

from bot.runtime import TelegramBot
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage, Visit, utcnow
from storage.records import people
from storage.settings import Settings
from tests.fakes.telegram_api import FakeTelegramServer

REP_CHAT = 7001
RESIDENT_CHAT = 7002
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


def settings_for(
    settings: Settings, server: FakeTelegramServer, files: Path, telegram_options: dict[str, Any], **delivery: Any
) -> Settings:
    telegram = settings.telegram.model_copy(
        update={
            **telegram_options,
            "api_url": server.base_url,
            "file_url": server.base_file_url,
            "files_dir": files,
            "poll_timeout_seconds": 1,
            "ops_chat_id": OPS_CHAT,
            "webhook_listen": "127.0.0.1",
        }
    )
    limits = settings.delivery.model_copy(update={"retry_seconds": 0.05, **delivery})
    return settings.model_copy(update={"telegram": telegram, "delivery": limits})


OPS_CHAT = -100777


class Harness:
    def __init__(self, server: FakeTelegramServer, bot: TelegramBot, db: Database) -> None:
        self.server = server
        self.bot = bot
        self.db = db
        server.add_chat(OPS_CHAT, title="连心运维")

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every received update is handled and every queued message is sent (or has failed)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            # Looked at before the store: an update leaves the server's queue only once the bot has committed it,
            # so an empty queue now means the query below sees every update delivered so far. (Looked at after
            # the query, an update delivered meanwhile would be missed.)
            delivered = not self.server.updates
            if delivered or self.server.webhook_url:
                async with self.db.transaction() as session:
                    busy = (
                        await session.exec(select(InboxEvent.id).where(InboxEvent.status == "pending").limit(1))
                    ).first() or (
                        await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending").limit(1))
                    ).first()
                if busy is None and delivered:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the bot did not settle")
            await asyncio.sleep(0.02)

    async def say(self, chat_id: int, text: str) -> str:
        """What the person reads after writing: the new messages, or the newest one as it is now."""
        before = len(self.server.sent(chat_id))
        self.server.user_sends_text(chat_id, text)
        await self.settle()
        new = self.server.sent(chat_id)[before:]
        return "\n\n".join(render(message) for message in new) if new else self.screen(chat_id)

    async def press(self, chat_id: int, label: str) -> str:
        """Press the inline button with this label on the newest message that has it."""
        for message in reversed(self.server.sent(chat_id)):
            for button in itertools.chain.from_iterable((message.get("reply_markup") or {}).get("inline_keyboard", [])):
                if button["text"] == label:
                    self.server.user_presses_button(chat_id, message["message_id"], button["callback_data"])
                    await self.settle()
                    return self.screen(chat_id)
        raise AssertionError(f"no button {label!r} in chat {chat_id}:\n{self.screen(chat_id)}")

    def screen(self, chat_id: int) -> str:
        """The newest message as the person sees it now (edits applied)."""
        messages = self.server.sent(chat_id)
        return render(messages[-1]) if messages else ""

    def buttons(self, chat_id: int) -> list[str]:
        markup = self.server.sent(chat_id)[-1].get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [button["text"] for button in itertools.chain.from_iterable(rows)]

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())

    async def inbox(self) -> list[InboxEvent]:
        async with self.db.transaction() as session:
            return list((await session.exec(select(InboxEvent).order_by(col(InboxEvent.id)))).all())


async def invitation(db: Database, code: str = "D001") -> str:
    async with db.transaction() as session:
        issued = await people.create_invitation(
            session, person_code=code, now=utcnow(), valid_for=timedelta(days=14), actor="test"
        )
    return issued.code


async def bound_representative(harness: Harness, chat_id: int = REP_CHAT, *, code: str = "D001") -> None:
    invited = await invitation(harness.db, code)
    assert "绑定成功" in await harness.say(chat_id, f"/start {invited}")


async def visits(db: Database) -> list[Visit]:
    async with db.transaction() as session:
        return list((await session.exec(select(Visit))).all())


def render(message: dict[str, Any]) -> str:
    """A message as read on the phone: its text, then its buttons as [label]."""
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    labels = [f"[{button['text']}]" for button in itertools.chain.from_iterable(rows)]
    return "\n".join([message.get("plain_text") or "", *labels])


@asynccontextmanager
async def running_bot(
    db: Database,
    settings: Settings,
    files: Path,
    *,
    webhook: bool = False,
    fast: bool = False,
    telegram_options: dict[str, Any] | None = None,
    **delivery: Any,
) -> AsyncIterator[Harness]:
    """With fast, neither the fake server nor the sender keeps Telegram's flood limits, so that a conversation is
    not paced at a message a second; the tests of the limits themselves run without it."""
    if fast:
        delivery = {"private_per_second": 30.0, "private_burst": 30, "overall_per_second": 1000.0, **delivery}
    async with FakeTelegramServer(flood_limits=not fast) as server:
        configured = settings_for(settings, server, files, telegram_options or {}, **delivery)
        bot = TelegramBot(configured, db, server.token)
        if webhook:
            port = free_port()
            await bot.start(webhook_url=f"http://127.0.0.1:{port}/telegram/hook", port=port)
        else:
            await bot.start()
        try:
            yield Harness(server, bot, db)
        finally:
            await bot.stop()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def post_update(url: str, update: dict[str, Any], secret: str | None) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=update, headers=headers) as response:
        return response.status
