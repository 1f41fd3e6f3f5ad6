"""The outbox: every message the bot must send, written with the change that caused it, and its fate."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import queue
from storage.models import ChatIdentity, OutboxMessage

KINDS = frozenset({"message", "edit", "clear_buttons", "commands"})


def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_key: str,
    payload: dict[str, Any],
    now: datetime,
    kind: str = "message",
    inbox_id: int | None = None,
    bulk: bool = False,
) -> OutboxMessage:
    """Add a message to send; it is sent only if the caller's transaction commits. Bulk messages (notices to
    many, broadcasts) go after the answers people are waiting for."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    row = OutboxMessage(
        channel=channel,
        chat_key=chat_key,
        kind=kind,
        payload=payload,
        inbox_id=inbox_id,
        priority=1 if bulk else 0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    return row


def message_identity(
    session: AsyncSession, *, identity: ChatIdentity, payload: dict[str, Any], now: datetime
) -> OutboxMessage:
    """A message to a person in their own chat with the bot (for a private chat the chat is the user)."""
    return enqueue(session, channel=identity.channel, chat_key=identity.external_id, payload=payload, now=now)


async def claim(
    session: AsyncSession, *, channel: str, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    return await queue.claim_heads(session, OutboxMessage, channel=channel, now=now, lease=lease, limit=limit)


async def due(
    session: AsyncSession, *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[OutboxMessage]:
    return await queue.due_heads(session, OutboxMessage, channel=channel, now=now, limit=limit, skip=skip)


async def mark_sent(session: AsyncSession, *, message_id: int, external_id: str, now: datetime) -> None:
    await session.exec(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="sent", external_id=external_id[:64], sent_at=now, claimed_until=None)
    )


async def retry_later(
    session: AsyncSession, *, message_id: int, error: str, at: datetime, count_attempt: bool = True
) -> None:
    """Put a message back in the queue until `at`. A 429 does not count as an attempt: the message was fine."""
    values: dict[str, Any] = {"error": error[:200], "next_attempt_at": at, "claimed_until": None}
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    await session.exec(sa.update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(**values))


async def mark_failed(session: AsyncSession, *, message_id: int, error: str, now: datetime) -> None:
    await session.exec(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status="failed",
            error=error[:200],
            attempts=OutboxMessage.attempts + 1,
            sent_at=now,
            claimed_until=None,
        )
    )


async def flag_blocked(session: AsyncSession, *, channel: str, chat_key: str, now: datetime) -> None:
    """The person blocked the bot: mark their identity, so that nobody counts on them reading what is sent."""
    await session.exec(
        sa.update(ChatIdentity)
        .where(col(ChatIdentity.channel) == channel, col(ChatIdentity.external_id) == chat_key)
        .values(blocked_at=now)
    )


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    return await queue.count_by_status(session, OutboxMessage)


async def failures(session: AsyncSession, *, limit: int = 20) -> list[OutboxMessage]:
    failed = select(OutboxMessage).where(OutboxMessage.status == "failed")
    statement = failed.order_by(col(OutboxMessage.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())
