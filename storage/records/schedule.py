"""Due items: every reminder, notice, digest, chase and escalation as a row with a due time and a key that names
one occurrence (quota:2026-11:rep-17). Planning an item twice plans it once; claiming one marks it in the
transaction that writes its messages, so it is done once, however many schedulers look.

The words of a skip's reason are the catalog's (`schedule.reason.<code>`): a row keeps the code and the values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import dialect_insert, execute
from storage.models import DueItem

PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"
STATES = (PENDING, SENT, SKIPPED, FAILED)
ATTEMPTS = 3  # a job that fails this often is marked failed and reported
RETRY = timedelta(minutes=5)  # after a job failed, it is tried again this much later
TABLE: sa.Table = DueItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Planned:
    """An occurrence to plan: its key, its kind (the job that does it), when, until when it is of use."""

    key: str
    kind: str
    due_at: datetime
    expires_at: datetime | None = None
    urgent: bool = False
    payload: dict[str, Any] = field(default_factory=dict)

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "due_at": self.due_at,
            "expires_at": self.expires_at,
            "urgent": self.urgent,
            "payload": self.payload,
            "state": PENDING,
            "reason": "",
            "attempts": 0,
            "created_at": now,
        }


async def plan(session: AsyncSession, *, items: Sequence[Planned], now: datetime, update: bool = False) -> int:
    """Add the items whose keys are not planned yet; returns how many were new (with `update`: new or moved). With
    `update`, an item still pending takes the new due time, expiry and payload (a reception day moved to another
    hour); one already done stays done."""
    if not items:
        return 0
    rows = [item.row(now) for item in items]
    insert = dialect_insert(session)(TABLE)
    if update:
        excluded = insert.excluded
        statement = insert.on_conflict_do_update(
            index_elements=["key"],
            set_={"due_at": excluded.due_at, "expires_at": excluded.expires_at, "payload": excluded.payload},
            where=TABLE.c.state == PENDING,
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=["key"])
    added = 0
    for start in range(0, len(rows), 500):
        # RETURNING, not rowcount: drivers do not count the rows of an executemany alike.
        result = await execute(session, statement.returning(TABLE.c.id), rows[start : start + 500])
        added += len(result.all())
    return added


async def exists(session: AsyncSession, *, kind: str) -> bool:
    """Whether an item of this kind waits to be done: a recurring series runs (each occurrence plans the next).
    None waits when the series never started, or its last occurrence was skipped or failed: its starter then
    plans the coming one."""
    found = await session.exec(select(DueItem.id).where(DueItem.kind == kind, DueItem.state == PENDING).limit(1))
    return found.first() is not None


async def claim(session: AsyncSession, *, now: datetime, limit: int, urgent_only: bool = False) -> list[DueItem]:
    """The due pending items, oldest first, locked for this transaction (on PostgreSQL another scheduler skips
    them; SQLite lets one writer in at a time). `urgent_only` in quiet hours."""
    where: list[Any] = [DueItem.state == PENDING, col(DueItem.due_at) <= now]
    if urgent_only:
        where.append(col(DueItem.urgent).is_(True))
    found = await session.exec(
        select(DueItem)
        .where(*where)
        .order_by(col(DueItem.due_at), col(DueItem.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found.all())


def finish(
    session: AsyncSession, item: DueItem, *, now: datetime, state: str = SENT, reason: str = "", **values: Any
) -> None:
    """Mark an item done: sent, or skipped (failed) with a reason's code and the values its words need."""
    item.state = state
    item.reason = reason
    if values:
        item.payload = {**item.payload, "reason_values": values}
    item.done_at = now
    session.add(item)


def failed_once(session: AsyncSession, item: DueItem, *, now: datetime, error: str) -> bool:
    """A job raised: try again later, or give up after ATTEMPTS. Returns whether it gave up."""
    item.attempts += 1
    if item.attempts >= ATTEMPTS:
        finish(session, item, now=now, state=FAILED, reason="error", error=error)
        return True
    item.due_at = now + RETRY
    session.add(item)
    return False


async def skip_pending(session: AsyncSession, *, keys: Sequence[str], now: datetime, reason: str) -> int:
    """Skip the items of these keys still pending (a reception day cancelled); returns how many."""
    if not keys:
        return 0
    result = await execute(
        session,
        sa.update(TABLE)
        .where(TABLE.c.key.in_(list(keys)), TABLE.c.state == PENDING)
        .values(state=SKIPPED, reason=reason, done_at=now),
    )
    return max(result.rowcount or 0, 0)


async def reopen_skipped(session: AsyncSession, *, keys: Sequence[str], reason: str) -> int:
    """Make the items of these keys skipped for `reason` pending again (a cancelled reception day restored); the
    caller then plans them anew. Returns how many."""
    if not keys:
        return 0
    result = await execute(
        session,
        sa.update(TABLE)
        .where(TABLE.c.key.in_(list(keys)), TABLE.c.state == SKIPPED, TABLE.c.reason == reason)
        .values(state=PENDING, reason="", done_at=None),
    )
    return max(result.rowcount or 0, 0)


@dataclass(frozen=True)
class Overview:
    """What `lianxin schedule` shows: what is due next, what was skipped or failed lately, and counts by state."""

    upcoming: list[DueItem]
    skipped: list[DueItem]
    counts: dict[str, int]


async def overview(session: AsyncSession, *, limit: int = 20, since: datetime | None = None) -> Overview:
    upcoming = await session.exec(
        select(DueItem).where(DueItem.state == PENDING).order_by(col(DueItem.due_at), col(DueItem.id)).limit(limit)
    )
    skipped_where: list[Any] = [col(DueItem.state).in_((SKIPPED, FAILED))]
    if since is not None:
        skipped_where.append(col(DueItem.done_at) >= since)
    skipped = await session.exec(
        select(DueItem).where(*skipped_where).order_by(col(DueItem.done_at).desc(), col(DueItem.id).desc()).limit(limit)
    )
    counted = await session.exec(select(DueItem.state, sa.func.count()).group_by(col(DueItem.state)))
    counts = {state: 0 for state in STATES} | {str(state): int(count) for state, count in counted.all()}
    return Overview(list(upcoming.all()), list(skipped.all()), counts)


async def items_with_prefix(session: AsyncSession, *, prefix: str) -> list[DueItem]:
    """The items whose keys start with `prefix` (tests and the CLI look up one series)."""
    found = await session.exec(select(DueItem).where(col(DueItem.key).startswith(prefix)).order_by(col(DueItem.id)))
    return list(found.all())
