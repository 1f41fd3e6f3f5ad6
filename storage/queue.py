"""Claiming work from the inbox and the outbox: the oldest due row of each chat, leased to one worker at a time."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxEvent, OutboxMessage

Row = TypeVar("Row", InboxEvent, OutboxMessage)


def _heads(model: type[Row], *, channel: str, now: datetime, limit: int, skip: Collection[int]) -> Any:
    earlier = aliased(model)
    heads = (
        select(model.id)
        .where(
            model.channel == channel,
            model.status == "pending",
            model.next_attempt_at <= now,
            sa.or_(col(model.claimed_until).is_(None), col(model.claimed_until) < now),
            ~sa.exists().where(
                col(earlier.channel) == col(model.channel),
                col(earlier.chat_key) == col(model.chat_key),
                col(earlier.status) == "pending",
                col(earlier.id) < col(model.id),
            ),
        )
        .order_by(*_order(model))
        .limit(limit)
    )
    if skip:
        heads = heads.where(col(model.id).not_in(list(skip)))
    return heads


def _order(model: type[Row]) -> list[Any]:
    """Oldest first; in the outbox, answers people are waiting for before bulk messages (a broadcast to 10,000
    chats takes six minutes, a reply must not wait behind it)."""
    if model is OutboxMessage:
        return [col(OutboxMessage.priority), col(OutboxMessage.id)]
    return [col(model.id)]


async def _rows(session: AsyncSession, model: type[Row], ids: list[int]) -> list[Row]:
    claimed = select(model).where(col(model.id).in_(ids)).order_by(col(model.id))
    return list((await session.exec(claimed.execution_options(populate_existing=True))).all())


async def due_heads(
    session: AsyncSession, model: type[Row], *, channel: str, now: datetime, limit: int, skip: Collection[int]
) -> list[Row]:
    """Up to `limit` due rows, at most one per chat: the chat's oldest pending row, leaving out `skip` (the rows
    this worker has in work, whose chats therefore wait). A read: for the single worker of an embedded store,
    which keeps its leases in memory."""
    ids = [
        row_id
        for row_id in (await session.exec(_heads(model, channel=channel, now=now, limit=limit, skip=skip))).all()
        if row_id is not None
    ]
    return await _rows(session, model, ids) if ids else []


async def claim_heads(
    session: AsyncSession, model: type[Row], *, channel: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    """Lease up to `limit` due rows, at most one per chat: the chat's oldest pending row. A chat's later rows wait
    until it is done, so one chat's events and messages keep their order even across workers; a lease that runs
    out (its worker died) lets another worker take the row over."""
    heads = _heads(model, channel=channel, now=now, limit=limit, skip=())
    if session.get_bind().dialect.name == "postgresql":
        heads = heads.with_for_update(skip_locked=True, of=model)
    ids = [row_id for row_id in (await session.exec(heads)).all() if row_id is not None]
    if not ids:
        return []
    await session.exec(sa.update(model).where(col(model.id).in_(ids)).values(claimed_until=now + lease))
    return await _rows(session, model, ids)


async def release_claims(session: AsyncSession, model: type[Row], *, channel: str) -> None:
    """Forget every lease of a channel: for the single worker of an embedded (SQLite) store that starts again
    after a crash, so that it does not wait for its own dead leases to run out."""
    await session.exec(
        sa.update(model)
        .where(col(model.channel) == channel, col(model.status) == "pending", col(model.claimed_until).is_not(None))
        .values(claimed_until=None)
    )


async def count_by_status(session: AsyncSession, model: type[Row]) -> dict[tuple[str, str], int]:
    statement = select(model.channel, model.status, sa.func.count()).group_by(model.channel, model.status)
    return {(channel, status): count for channel, status, count in (await session.exec(statement)).all()}
