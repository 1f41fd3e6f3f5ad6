"""The outbox: every message the bot must send, written with the change that caused it, and its fate."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.delivery import queue
from storage.delivery.queue import OUTBOX
from storage.models import ChatIdentity, OutboxMessage, UTCDateTime

KINDS = frozenset({"message", "edit", "clear_buttons", "commands"})


@dataclass(frozen=True)
class NewMessage:
    """Something to send: to which chat, what (a channel-neutral payload), and as what kind of call. Bulk messages
    (notices to many, broadcasts) go after the answers people are waiting for."""

    channel: str
    chat_key: str
    payload: dict[str, Any]
    kind: str = "message"
    inbox_id: int | None = None  # the event it answers
    bulk: bool = False


@dataclass(frozen=True)
class QueuedMessage:
    """An outbox row as the sender sees it."""

    id: int
    channel: str
    chat_key: str
    kind: str
    priority: int
    payload: dict[str, Any]
    attempts: int


COLUMNS = ("id", "channel", "chat_key", "kind", "priority", "payload", "attempts")


def _message(row: Row[Any]) -> QueuedMessage:
    return QueuedMessage(row.id, row.channel, row.chat_key, row.kind, row.priority, row.payload, row.attempts)


MESSAGES = queue.Queue(OUTBOX, COLUMNS, _message)


def to_identity(identity: ChatIdentity, payload: dict[str, Any], *, bulk: bool = False) -> NewMessage:
    """A message to a person in their own chat with the bot (for a private chat the chat is the user)."""
    return NewMessage(channel=identity.channel, chat_key=identity.external_id, payload=payload, bulk=bulk)


_ENQUEUE = sa.insert(OUTBOX).returning(OUTBOX.c.id)


async def enqueue(session: AsyncSession, *, messages: Sequence[NewMessage], now: datetime) -> list[int]:
    """Add messages to send; they are sent only if the caller's transaction commits. Returns their ids."""
    if not messages:
        return []
    rows = []
    for message in messages:
        if message.kind not in KINDS:
            raise ValueError(f"unknown outbox kind {message.kind!r}")
        rows.append(
            {
                "channel": message.channel,
                "chat_key": message.chat_key,
                "kind": message.kind,
                "priority": 1 if message.bulk else 0,
                "payload": message.payload,
                "status": "pending",
                "attempts": 0,
                "error": "",
                "external_id": "",
                "inbox_id": message.inbox_id,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
    return [row.id for row in await execute(session, _ENQUEUE, rows)]


async def claim(
    session: AsyncSession,
    *,
    channel: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    skip: Collection[int] = (),
) -> list[QueuedMessage]:
    return await queue.heads(session, MESSAGES, channel=channel, now=now, limit=limit, skip=skip, lease=lease)


async def due(
    session: AsyncSession, *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[QueuedMessage]:
    return await queue.heads(session, MESSAGES, channel=channel, now=now, limit=limit, skip=skip)


_MARK_SENT = (
    sa.update(OUTBOX)
    .where(OUTBOX.c.id == sa.bindparam("message_id"))
    .values(
        status="sent",
        external_id=sa.bindparam("external_id"),
        sent_at=sa.bindparam("now", type_=UTCDateTime),
        claimed_until=None,
    )
)


async def mark_sent(session: AsyncSession, *, sent: Sequence[tuple[int, str]], now: datetime) -> None:
    """Record sent messages: (outbox id, the platform's message id) each, in one statement."""
    if sent:
        rows = [
            {"message_id": message_id, "external_id": external_id[:64], "now": now} for message_id, external_id in sent
        ]
        await execute(session, _MARK_SENT, rows)


async def retry_later(
    session: AsyncSession, *, message_id: int, error: str, at: datetime, count_attempt: bool = True
) -> None:
    """Put a message back in the queue until `at`. A 429 does not count as an attempt: the message was fine."""
    values: dict[str, Any] = {"error": error[:200], "next_attempt_at": at, "claimed_until": None}
    if count_attempt:
        values["attempts"] = OUTBOX.c.attempts + 1
    await execute(session, sa.update(OUTBOX).where(OUTBOX.c.id == message_id).values(**values))


async def mark_failed(session: AsyncSession, *, message_id: int, error: str, now: datetime) -> None:
    await execute(
        session,
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == message_id)
        .values(status="failed", error=error[:200], attempts=OUTBOX.c.attempts + 1, sent_at=now, claimed_until=None),
    )


async def flag_blocked(session: AsyncSession, *, channel: str, chat_key: str, now: datetime) -> None:
    """The person blocked the bot: mark their identity, so that nobody counts on them reading what is sent."""
    await session.exec(
        sa.update(ChatIdentity)
        .where(col(ChatIdentity.channel) == channel, col(ChatIdentity.external_id) == chat_key)
        .values(blocked_at=now)
    )


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    return await queue.count_by_status(session, OUTBOX)


async def failures(session: AsyncSession, *, limit: int = 20) -> list[OutboxMessage]:
    failed = select(OutboxMessage).where(OutboxMessage.status == "failed")
    statement = failed.order_by(col(OutboxMessage.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())
