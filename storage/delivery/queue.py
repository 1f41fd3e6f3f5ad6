"""Claiming work from the inbox and the outbox: the oldest due row of each chat, leased to one worker at a time.

These statements run for every message the bot receives or sends, so they are Core statements built once per
table and dialect, run on the session's connection, and their rows come back as small frozen records: the same
statements through the ORM, with its identity map and unit of work, cost three times as much.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.models import InboxEvent, OutboxMessage, UTCDateTime

INBOX: sa.Table = InboxEvent.__table__  # type: ignore[attr-defined]
OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
Record = TypeVar("Record")


@dataclass(frozen=True)
class Queue(Generic[Record]):
    """A queue table and how its workers read it: the columns they need, as the record they get."""

    table: sa.Table
    columns: tuple[str, ...]
    record: Callable[[Row[Any]], Record]


@cache
def _heads(queue: Queue[Any], *, locking: bool) -> sa.Select[Any]:
    """The due heads: with the channel, the time, the rows to skip and the limit as parameters."""
    table = queue.table
    earlier = table.alias("earlier")
    now = sa.bindparam("now", type_=UTCDateTime)
    heads = (
        sa.select(*(table.c[name] for name in queue.columns))
        .where(
            table.c.channel == sa.bindparam("channel"),
            table.c.status == "pending",
            table.c.next_attempt_at <= now,
            sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
            table.c.id.not_in(sa.bindparam("skip", expanding=True)),
            ~sa.exists().where(
                earlier.c.channel == table.c.channel,
                earlier.c.chat_key == table.c.chat_key,
                earlier.c.status == "pending",
                earlier.c.id < table.c.id,
            ),
        )
        .order_by(*_order(table))
        .limit(sa.bindparam("limit"))
    )
    return heads.with_for_update(skip_locked=True, of=table) if locking else heads


def _order(table: sa.Table) -> list[Any]:
    """Oldest first; in the outbox, answers people are waiting for before bulk messages (a broadcast to 10,000
    chats takes six minutes, a reply must not wait behind it)."""
    if table is OUTBOX:
        return [table.c.priority, table.c.id]
    return [table.c.id]


@cache
def _lease(table: sa.Table) -> sa.Update:
    return (
        sa.update(table)
        .where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(claimed_until=sa.bindparam("until", type_=UTCDateTime))
    )


async def heads(
    session: AsyncSession,
    queue: Queue[Record],
    *,
    channel: str,
    now: datetime,
    limit: int,
    skip: Collection[int],
    lease: timedelta | None = None,
) -> list[Record]:
    """Up to `limit` due rows, at most one per chat: the chat's oldest pending row, leaving out `skip` (the rows
    the calling worker has in work, whose chats therefore wait). A chat's later rows wait until it is done, so one
    chat's events and messages keep their order.

    With a `lease` the rows are leased to the caller, so that several workers can share the queue; a lease that
    runs out (its worker died) lets another worker take the row over. Without one this is a read: for the single
    worker of an embedded store, which keeps its leases in memory."""
    locking = lease is not None and session.get_bind().dialect.name == "postgresql"
    parameters = {"channel": channel, "now": now, "limit": limit, "skip": list(skip)}
    rows = list(await execute(session, _heads(queue, locking=locking), parameters))
    if rows and lease is not None:
        await execute(session, _lease(queue.table), {"ids": [row.id for row in rows], "until": now + lease})
    return [queue.record(row) for row in rows]


async def count_by_status(session: AsyncSession, table: sa.Table) -> dict[tuple[str, str], int]:
    total = sa.func.count().label("total")
    statement = sa.select(table.c.channel, table.c.status, total).group_by(table.c.channel, table.c.status)
    return {(row.channel, row.status): int(row.total) for row in await execute(session, statement)}


async def purge(session: AsyncSession, *, before: datetime) -> tuple[int, int]:
    """Delete finished outbox rows created before `before`, then handled or parked inbox events received before it
    that no remaining outbox row points to. Returns (events, messages) deleted."""
    messages = await execute(
        session,
        sa.delete(OUTBOX).where(OUTBOX.c.status.in_(("sent", "failed")), OUTBOX.c.created_at < before),
    )
    events = await execute(
        session,
        sa.delete(INBOX).where(
            INBOX.c.status.in_(("done", "parked")),
            INBOX.c.received_at < before,
            ~sa.exists().where(OUTBOX.c.inbox_id == INBOX.c.id),
        ),
    )
    return int(events.rowcount or 0), int(messages.rowcount or 0)
