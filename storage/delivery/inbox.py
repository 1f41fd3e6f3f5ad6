"""The inbox: every received event committed once, handled from here in order per chat, retried, or parked."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute, insert_of
from storage.delivery import queue
from storage.delivery.queue import INBOX, OUTBOX
from storage.models import InboxEvent, UTCDateTime


@dataclass(frozen=True)
class QueuedEvent:
    """An event as its handler sees it."""

    id: int
    channel: str
    event_key: str
    chat_key: str
    payload: dict[str, Any]
    attempts: int
    received_at: datetime | None = None


@dataclass(frozen=True)
class Received:
    """An event as a channel hands it in: its key (unique per channel), its chat, and what arrived."""

    event_key: str
    chat_key: str
    payload: dict[str, Any]
    sent_at: datetime | None = None  # when the person sent it, where the platform says (it may arrive late)


COLUMNS = ("id", "channel", "event_key", "chat_key", "payload", "attempts", "received_at")


def _event(row: Row[Any]) -> QueuedEvent:
    return QueuedEvent(row.id, row.channel, row.event_key, row.chat_key, row.payload, row.attempts, row.received_at)


EVENTS = queue.Queue(INBOX, COLUMNS, _event)


@cache
def _receive(dialect: str) -> Any:
    insert = insert_of(dialect)
    # Only the rows inserted come back, so a redelivered event is told apart from a new one on both stores
    # (psycopg reports no usable rowcount for INSERT ... ON CONFLICT DO NOTHING).
    return insert(INBOX).on_conflict_do_nothing(index_elements=["channel", "event_key"]).returning(INBOX.c.id)


async def receive(session: AsyncSession, *, channel: str, events: Sequence[Received], now: datetime) -> list[int]:
    """Store events unless this channel already has them (redeliveries); returns the ids of the new ones."""
    if not events:
        return []
    rows = [
        {
            "channel": channel,
            "event_key": event.event_key,
            "chat_key": event.chat_key,
            "payload": event.payload,
            "status": "pending",
            "attempts": 0,
            "error": "",
            # When it was sent, if that is earlier: events that waited at the platform (the bot was down) are not
            # counted as arriving in the same minute by the flood limit.
            "received_at": min(now, event.sent_at) if event.sent_at is not None else now,
            "next_attempt_at": now,
        }
        for event in events
    ]
    result = await execute(session, _receive(session.get_bind().dialect.name), rows)
    return [row.id for row in result]


# --- arrivals: events known by their key before their content (WeChat) ---------------------------------------
# A WeChat message event carries only the message's id; its content (and so its chat) is fetched from the gateway,
# which keeps no history and never sends an event again. The id is stored first, as an "arrived" row without a
# chat, so that nothing the gateway delivered depends on memory while its content is fetched; the row becomes a
# pending event once it is (`fill`). Arrived rows are no one's head: the queue reads pending rows only.

ARRIVED = "arrived"


@cache
def _arrive(dialect: str) -> Any:
    insert = insert_of(dialect)
    return (
        insert(INBOX)
        .on_conflict_do_nothing(index_elements=["channel", "event_key"])
        .returning(INBOX.c.id, INBOX.c.event_key)
    )


async def arrive(session: AsyncSession, *, channel: str, event_keys: Sequence[str], now: datetime) -> dict[str, int]:
    """Store event keys as arrived unless this channel has them already (a duplicate event): the new ones' ids, by
    key."""
    if not event_keys:
        return {}
    rows = [
        {
            "channel": channel,
            "event_key": key,
            "chat_key": "",
            "payload": {},
            "status": ARRIVED,
            "attempts": 0,
            "error": "",
            "received_at": now,
            "next_attempt_at": now,
        }
        for key in dict.fromkeys(event_keys)
    ]
    result = await execute(session, _arrive(session.get_bind().dialect.name), rows)
    return {row.event_key: row.id for row in result}


async def arrived(session: AsyncSession, *, channel: str, before: datetime, limit: int) -> dict[str, int]:
    """Arrived rows whose content is still to fetch (a fetch failed, or the process stopped), oldest first."""
    rows = await execute(
        session,
        sa.select(INBOX.c.id, INBOX.c.event_key)
        .where(INBOX.c.channel == channel, INBOX.c.status == ARRIVED, INBOX.c.received_at < before)
        .order_by(INBOX.c.id)
        .limit(limit),
    )
    return {row.event_key: row.id for row in rows}


_FILL = (
    sa.update(INBOX)
    .where(INBOX.c.id == sa.bindparam("row_id"), INBOX.c.status == ARRIVED)
    .values(
        chat_key=sa.bindparam("chat"),
        payload=sa.bindparam("content", type_=INBOX.c.payload.type),
        status="pending",
        received_at=sa.bindparam("at", type_=UTCDateTime),
    )
)


async def fill(
    session: AsyncSession, *, events: dict[int, Received | None], now: datetime, give_up_before: datetime
) -> None:
    """Arrived rows with their content fetched become pending events; None: not for the bot (its own message, a
    system line), and the row goes. A row whose content could not be fetched since `give_up_before` is parked."""
    found = [(row_id, event) for row_id, event in events.items() if event is not None]
    if found:
        await execute(
            session,
            _FILL,
            [
                {
                    "row_id": row_id,
                    "chat": event.chat_key,
                    "content": event.payload,
                    "at": min(now, event.sent_at) if event.sent_at is not None else now,
                }
                for row_id, event in found
            ],
        )
    ignored = [row_id for row_id, event in events.items() if event is None]
    if ignored:
        await execute(session, sa.delete(INBOX).where(INBOX.c.id.in_(ignored), INBOX.c.status == ARRIVED))
    await execute(
        session,
        sa.update(INBOX)
        .where(INBOX.c.status == ARRIVED, INBOX.c.received_at < give_up_before)
        .values(status="parked", error="content unavailable", handled_at=now),
    )


async def claim(
    session: AsyncSession,
    *,
    channel: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    skip: Collection[int] = (),
) -> list[QueuedEvent]:
    return await queue.heads(session, EVENTS, channel=channel, now=now, limit=limit, skip=skip, lease=lease)


async def due(
    session: AsyncSession, *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[QueuedEvent]:
    return await queue.heads(session, EVENTS, channel=channel, now=now, limit=limit, skip=skip)


_TAKE = (
    sa.update(INBOX)
    .where(INBOX.c.id.in_(sa.bindparam("event_ids", expanding=True)), INBOX.c.status == "pending")
    .values(status="done", handled_at=sa.bindparam("now", type_=UTCDateTime), claimed_until=None)
    .returning(INBOX.c.id)
)


async def take(session: AsyncSession, *, event_ids: Collection[int], now: datetime) -> set[int]:
    """Mark events handled, as the first write of the transaction that handles them: the transaction's changes and
    these marks commit together or not at all. Returns the ids taken; an event handled already (by another worker,
    or before a crash) is not among them, and then the caller must change nothing for it. An event taken whose
    handling fails is given back by `record_failure` in the same transaction."""
    if not event_ids:
        return set()
    result = await execute(session, _TAKE, {"event_ids": list(event_ids), "now": now})
    return {row.id for row in result}


@dataclass(frozen=True)
class Failure:
    parked: bool
    attempts: int


async def record_failure(
    session: AsyncSession,
    *,
    event_id: int,
    error: str,
    now: datetime,
    max_attempts: int,
    retry_after: timedelta,
    taken: bool = False,
) -> Failure:
    """Count a failed attempt: try again after `retry_after` (doubling each time), or park the event when it has
    failed `max_attempts` times. `taken`: this transaction took the event (`take`) and gives it back; otherwise an
    event no longer pending (another worker handled it) is left alone. `error` is the error's type, never its
    message (it may quote what people wrote)."""
    event = await session.get(InboxEvent, event_id, with_for_update=True, populate_existing=True)
    if event is None or (event.status != "pending" and not taken):
        return Failure(parked=False, attempts=0)
    event.status = "pending"
    event.handled_at = None
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


async def forget_chat(session: AsyncSession, *, channel: str, chat_key: str) -> None:
    """Delete the handled events of a chat (what they quote, and when, is not kept); those still to handle are left
    alone. Messages that answered them must no longer point at them (outbox.forget_chat)."""
    await execute(
        session,
        sa.delete(INBOX).where(
            INBOX.c.channel == channel,
            INBOX.c.chat_key == chat_key,
            INBOX.c.status.in_(("done", "parked")),
            ~sa.exists().where(OUTBOX.c.inbox_id == INBOX.c.id),
        ),
    )


_WINDOWS = sa.select(INBOX.c.chat_key, INBOX.c.id, INBOX.c.received_at).where(
    INBOX.c.channel == sa.bindparam("channel"),
    INBOX.c.chat_key.in_(sa.bindparam("chat_keys", expanding=True)),
    INBOX.c.received_at > sa.bindparam("since", type_=UTCDateTime),
    INBOX.c.id <= sa.bindparam("last_id"),
)


async def counts_before(
    session: AsyncSession, *, channel: str, events: Sequence[QueuedEvent], window: timedelta
) -> dict[int, int]:
    """By event id, how many events of its chat arrived within `window` before it, up to and including it (a flood
    limit's count), for events of different chats in one statement."""
    timed = [(event, event.received_at) for event in events if event.received_at is not None]
    if not timed:
        return {}
    parameters = {
        "channel": channel,
        "chat_keys": sorted({event.chat_key for event, _ in timed}),
        "since": min(at for _, at in timed) - window,
        "last_id": max(event.id for event, _ in timed),
    }
    seen: dict[str, list[tuple[int, datetime]]] = {}
    for row in await execute(session, _WINDOWS, parameters):
        seen.setdefault(row.chat_key, []).append((row.id, row.received_at))
    return {
        event.id: sum(
            1 for other, other_at in seen.get(event.chat_key, ()) if other <= event.id and other_at > at - window
        )
        for event, at in timed
    }


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    return await queue.count_by_status(session, INBOX)


async def parked(session: AsyncSession, *, limit: int = 20) -> list[InboxEvent]:
    statement = select(InboxEvent).where(InboxEvent.status == "parked").order_by(col(InboxEvent.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())


async def pending_count(session: AsyncSession, *, channel: str) -> int:
    statement = select(sa.func.count()).where(InboxEvent.channel == channel, InboxEvent.status == "pending")
    return int((await session.exec(statement)).one())
