"""Claiming work from the inbox and the outbox: the oldest due row of each chat, leased to one worker at a time."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxEvent, OutboxMessage, UTCDateTime

Row = TypeVar("Row", InboxEvent, OutboxMessage)


@cache
def _heads(model: type[Row], *, locking: bool) -> Any:
    """The query for the due heads, built once per table (it runs several times a second): full rows, with the
    channel, the time, the rows to skip and the limit as parameters."""
    earlier = aliased(model)
    heads = (
        select(model)
        .where(
            col(model.channel) == sa.bindparam("channel"),
            col(model.status) == "pending",
            col(model.next_attempt_at) <= sa.bindparam("now", type_=UTCDateTime),
            sa.or_(col(model.claimed_until).is_(None), col(model.claimed_until) < sa.bindparam("now")),
            col(model.id).not_in(sa.bindparam("skip", expanding=True)),
            ~sa.exists().where(
                col(earlier.channel) == col(model.channel),
                col(earlier.chat_key) == col(model.chat_key),
                col(earlier.status) == "pending",
                col(earlier.id) < col(model.id),
            ),
        )
        .order_by(*_order(model))
        .limit(sa.bindparam("limit"))
        .execution_options(populate_existing=True)
    )
    return heads.with_for_update(skip_locked=True, of=model) if locking else heads


def _order(model: type[Row]) -> list[Any]:
    """Oldest first; in the outbox, answers people are waiting for before bulk messages (a broadcast to 10,000
    chats takes six minutes, a reply must not wait behind it)."""
    if model is OutboxMessage:
        return [col(OutboxMessage.priority), col(OutboxMessage.id)]
    return [col(model.id)]


async def _due(
    session: AsyncSession, model: type[Row], *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[Row]:
    locking = session.get_bind().dialect.name == "postgresql"
    parameters = {"channel": channel, "now": now, "limit": limit, "skip": list(skip)}
    return list((await session.exec(_heads(model, locking=locking), params=parameters)).all())


async def due_heads(
    session: AsyncSession, model: type[Row], *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[Row]:
    """Up to `limit` due rows, at most one per chat: the chat's oldest pending row, leaving out `skip` (the rows
    this worker has in work, whose chats therefore wait). A read: for the single worker of an embedded store,
    which keeps its leases in memory."""
    return await _due(session, model, channel=channel, now=now, limit=limit, skip=skip)


async def claim_heads(
    session: AsyncSession, model: type[Row], *, channel: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    """Lease up to `limit` due rows, at most one per chat: the chat's oldest pending row. A chat's later rows wait
    until it is done, so one chat's events and messages keep their order even across workers; a lease that runs
    out (its worker died) lets another worker take the row over."""
    rows = await _due(session, model, channel=channel, now=now, limit=limit, skip=())
    if rows:
        ids = [row.id for row in rows]
        await session.exec(sa.update(model).where(col(model.id).in_(ids)).values(claimed_until=now + lease))
        for row in rows:
            row.claimed_until = now + lease
    return rows


async def count_by_status(session: AsyncSession, model: type[Row]) -> dict[tuple[str, str], int]:
    statement = select(model.channel, model.status, sa.func.count()).group_by(model.channel, model.status)
    return {(channel, status): count for channel, status, count in (await session.exec(statement)).all()}


async def purge(session: AsyncSession, *, before: datetime) -> tuple[int, int]:
    """Delete finished outbox rows created before `before`, then handled or parked inbox events received before it
    that no remaining outbox row points to. Returns (events, messages) deleted."""
    messages = await session.exec(
        sa.delete(OutboxMessage).where(
            col(OutboxMessage.status).in_(("sent", "failed")), col(OutboxMessage.created_at) < before
        )
    )
    events = await session.exec(
        sa.delete(InboxEvent).where(
            col(InboxEvent.status).in_(("done", "parked")),
            col(InboxEvent.received_at) < before,
            ~sa.exists().where(col(OutboxMessage.inbox_id) == col(InboxEvent.id)),
        )
    )
    return int(events.rowcount or 0), int(messages.rowcount or 0)
