"""The inbox: every received event committed once, handled from here in order per chat, retried, or parked."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import queue
from storage.db import dialect_insert
from storage.models import InboxEvent


async def receive(
    session: AsyncSession, *, channel: str, event_key: str, chat_key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Store an event unless this channel already has it (a redelivery); True when it is new."""
    result = await session.exec(
        dialect_insert(session)(InboxEvent)
        .values(
            channel=channel,
            event_key=event_key,
            chat_key=chat_key,
            payload=payload,
            status="pending",
            attempts=0,
            error="",
            received_at=now,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "event_key"])
        .returning(InboxEvent.id)  # a row comes back only if one was inserted; psycopg reports no rowcount of 0
    )
    return result.first() is not None


async def claim(
    session: AsyncSession, *, channel: str, now: datetime, lease: timedelta, limit: int
) -> list[InboxEvent]:
    return await queue.claim_heads(session, InboxEvent, channel=channel, now=now, lease=lease, limit=limit)


async def due(
    session: AsyncSession, *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[InboxEvent]:
    return await queue.due_heads(session, InboxEvent, channel=channel, now=now, limit=limit, skip=skip)


async def take(session: AsyncSession, *, event_id: int, now: datetime) -> bool:
    """Mark an event handled, as the first write of the transaction that handles it: the transaction's changes and
    this mark commit together or not at all. False when it was handled already (by another worker, or before a
    crash), and then the caller must change nothing."""
    result = await session.exec(
        sa.update(InboxEvent)
        .where(col(InboxEvent.id) == event_id, col(InboxEvent.status) == "pending")
        .values(status="done", handled_at=now, claimed_until=None)
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class Failure:
    parked: bool
    attempts: int


async def record_failure(
    session: AsyncSession, *, event_id: int, error: str, now: datetime, max_attempts: int, retry_after: timedelta
) -> Failure:
    """Count a failed attempt: try again after `retry_after` (doubling each time), or park the event when it has
    failed `max_attempts` times. `error` is the error's type, never its message (it may quote what people wrote)."""
    event = await session.get(InboxEvent, event_id, with_for_update=True, populate_existing=True)
    if event is None or event.status != "pending":
        return Failure(parked=False, attempts=0)
    event.attempts += 1
    event.error = error[:200]
    event.claimed_until = None
    if event.attempts >= max_attempts:
        event.status = "parked"
        event.handled_at = now
    else:
        event.next_attempt_at = now + retry_after * 2 ** (event.attempts - 1)
    session.add(event)
    await session.flush()
    return Failure(parked=event.status == "parked", attempts=event.attempts)


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    return await queue.count_by_status(session, InboxEvent)


async def parked(session: AsyncSession, *, limit: int = 20) -> list[InboxEvent]:
    statement = select(InboxEvent).where(InboxEvent.status == "parked").order_by(col(InboxEvent.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())


async def pending_count(session: AsyncSession, *, channel: str) -> int:
    statement = select(sa.func.count()).where(InboxEvent.channel == channel, InboxEvent.status == "pending")
    return int((await session.exec(statement)).one())
