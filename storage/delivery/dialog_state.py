"""Dialog state rows: load, save and discard where a person is in a dialog.

Every input a person gives reads and writes their dialog, so these are Core statements on the session's
connection, and the dialog a plain record the engine changes and hands back to `save`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute, insert_of
from storage.models import DialogState, utcnow

TABLE: sa.Table = DialogState.__table__  # type: ignore[attr-defined]
KEY = ("channel", "chat_id", "user_id")


@dataclass
class Dialog:
    """Where one person (channel, chat, user) is in which flow: the current step, the answers so far, the steps
    answered in order (for "back"), and the choices shown last (so that a typed number picks one)."""

    channel: str
    chat_id: str
    user_id: str
    flow: str
    step: str = ""
    draft: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    choices: list[list[str]] = field(default_factory=list)
    updated_at: datetime = field(default_factory=utcnow)


def _where() -> sa.ColumnElement[bool]:
    return sa.and_(*(TABLE.c[name] == sa.bindparam(name) for name in KEY))


@cache
def _load(locking: bool) -> sa.Select[Any]:
    statement = sa.select(TABLE).where(_where())
    return statement.with_for_update() if locking else statement


@cache
def _save(dialect: str) -> Any:
    insert = insert_of(dialect)(TABLE)
    changing = ("flow", "step", "draft", "history", "choices", "updated_at")
    return insert.on_conflict_do_update(
        index_elements=list(KEY), set_={name: insert.excluded[name] for name in changing}
    )


_DISCARD = sa.delete(TABLE).where(_where())
_PRELOAD = (
    sa.select(TABLE)
    .where(sa.tuple_(*(TABLE.c[name] for name in KEY)).in_(sa.bindparam("keys", expanding=True)))
    .order_by(*(TABLE.c[name] for name in KEY))  # PostgreSQL locks them in this order: no two batches crosswise
)
PRELOADED = "lianxin.preloaded_dialogs"  # session.info key: dialogs read ahead for this transaction, by key
Key = tuple[str, str, str]


def _dialog(row: Row[Any]) -> Dialog:
    return Dialog(
        channel=row.channel,
        chat_id=row.chat_id,
        user_id=row.user_id,
        flow=row.flow,
        step=row.step,
        draft=dict(row.draft or {}),
        history=list(row.history or []),
        choices=[list(choice) for choice in row.choices or []],
        updated_at=row.updated_at,
    )


async def preload(session: AsyncSession, *, keys: Collection[Key]) -> None:
    """Read (and lock) several people's dialogs in one statement, for the `load` calls that follow in this
    transaction: a batch of events from many chats asks for them one after the other. Each is handed out once;
    a key with no dialog is remembered as having none."""
    if not keys:
        return
    statement = _PRELOAD.with_for_update() if session.get_bind().dialect.name == "postgresql" else _PRELOAD
    preloaded: dict[Key, Dialog | None] = session.info.setdefault(PRELOADED, {})
    preloaded.update(dict.fromkeys(keys))
    for row in await execute(session, statement, {"keys": list(keys)}):
        preloaded[(row.channel, row.chat_id, row.user_id)] = _dialog(row)


async def load(session: AsyncSession, *, channel: str, chat_id: str, user_id: str) -> Dialog | None:
    """The person's dialog, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE
    already serialises writers), so that two messages at once (a double-tapped 保存) are handled one after the
    other and the second sees what the first did."""
    preloaded: dict[Key, Dialog | None] = session.info.get(PRELOADED, {})
    key = (channel, chat_id, user_id)
    if key in preloaded:
        return preloaded.pop(key)
    locking = session.get_bind().dialect.name == "postgresql"
    return await _read(session, key, locking=locking)


async def peek(session: AsyncSession, *, channel: str, chat_id: str, user_id: str) -> Dialog | None:
    """The person's dialog as it is, without locking it (to decide outside a transaction what to prepare)."""
    return await _read(session, (channel, chat_id, user_id), locking=False)


async def _read(session: AsyncSession, key: Key, *, locking: bool) -> Dialog | None:
    row = (await execute(session, _load(locking), dict(zip(KEY, key, strict=True)))).first()
    return None if row is None else _dialog(row)


async def save(session: AsyncSession, *, state: Dialog) -> None:
    """Insert or update the whole dialog."""
    session.info.get(PRELOADED, {}).pop((state.channel, state.chat_id, state.user_id), None)
    await execute(
        session,
        _save(session.get_bind().dialect.name),
        {
            "channel": state.channel,
            "chat_id": state.chat_id,
            "user_id": state.user_id,
            "flow": state.flow,
            "step": state.step,
            "draft": state.draft,
            "history": state.history,
            "choices": state.choices,
            "updated_at": state.updated_at,
        },
    )


async def discard_person(session: AsyncSession, *, channel: str, user_id: str) -> None:
    """Drop every dialog of a person on a channel (in any chat): their rights changed under them."""
    preloaded: dict[Key, Dialog | None] = session.info.get(PRELOADED, {})
    for key in [key for key in preloaded if key[0] == channel and key[2] == user_id]:
        preloaded[key] = None
    await execute(session, sa.delete(TABLE).where(TABLE.c.channel == channel, TABLE.c.user_id == user_id))


async def discard(session: AsyncSession, *, state: Dialog) -> None:
    session.info.get(PRELOADED, {}).pop((state.channel, state.chat_id, state.user_id), None)
    await execute(session, _DISCARD, {"channel": state.channel, "chat_id": state.chat_id, "user_id": state.user_id})


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete dialogs left untouched since `before`: a half-written letter, a case being looked at, are what a
    person wrote and which case they opened, and are not kept for ever when nobody comes back to them. Returns how
    many were deleted."""
    deleted = await execute(session, sa.delete(TABLE).where(TABLE.c.updated_at < before))
    return int(deleted.rowcount or 0)
