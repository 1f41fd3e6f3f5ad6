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

KINDS = frozenset({"message", "edit", "clear_buttons", "commands", "photo", "document"})
# A file to send: payload {"path": the file on this machine, "caption": text, "filename": the name shown}.
FILE_KINDS = frozenset({"photo", "document"})


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
    scrub: bool = False  # forgotten once sent (it ties an anonymous writer's chat to what they wrote)


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
    scrub: bool = False


COLUMNS = ("id", "channel", "chat_key", "kind", "priority", "payload", "attempts", "scrub")


def _message(row: Row[Any]) -> QueuedMessage:
    return QueuedMessage(
        row.id, row.channel, row.chat_key, row.kind, row.priority, row.payload, row.attempts, bool(row.scrub)
    )


MESSAGES = queue.Queue(OUTBOX, COLUMNS, _message)


def to_identity(
    identity: ChatIdentity, payload: dict[str, Any], *, bulk: bool = False, kind: str = "message"
) -> NewMessage:
    """A message to a person in their own chat with the bot (for a private chat the chat is the user)."""
    return NewMessage(channel=identity.channel, chat_key=identity.external_id, payload=payload, kind=kind, bulk=bulk)


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
                "scrub": message.scrub,
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


def _unless_forgotten(column: Any, value: Any) -> Any:
    """`value`, or, for a message to forget (see `forget_chat`), what says nothing: once it is recorded, the row
    keeps neither its chat, nor what it said, nor the platform's id. Decided in the statement itself, on the flag as
    it is then: it may have been set while the message was on its way."""
    return sa.case((OUTBOX.c.scrub, column), else_=value)


FORGOTTEN: dict[str, Any] = {}
_FORGET = {
    "chat_key": _unless_forgotten(sa.literal(""), OUTBOX.c.chat_key),
    "payload": _unless_forgotten(sa.bindparam("forgotten", FORGOTTEN, type_=sa.JSON), OUTBOX.c.payload),
}
_MARK_SENT = (
    sa.update(OUTBOX)
    .where(OUTBOX.c.id == sa.bindparam("message_id"))
    .values(
        status="sent",
        external_id=_unless_forgotten(sa.literal(""), sa.bindparam("external_id")),
        sent_at=sa.bindparam("now", type_=UTCDateTime),
        claimed_until=None,
        **_FORGET,
    )
)


async def mark_sent(session: AsyncSession, *, sent: Sequence[tuple[int, str]], now: datetime) -> None:
    """Record sent messages: (outbox id, the platform's message id) each, in one statement (those to forget keep
    nothing that says to whom or what)."""
    if sent:
        rows = [
            {"message_id": message_id, "external_id": external_id[:64], "now": now} for message_id, external_id in sent
        ]
        await execute(session, _MARK_SENT, rows)


async def forget_chat(session: AsyncSession, *, channel: str, chat_key: str) -> None:
    """Delete what was sent to a chat, mark what is still to be sent there to be forgotten once sent, and let none of
    it point at the events it answered (they are deleted too: storage.records.relay)."""
    here = sa.and_(OUTBOX.c.channel == channel, OUTBOX.c.chat_key == chat_key)
    await execute(session, sa.update(OUTBOX).where(here).values(inbox_id=None))
    await execute(session, sa.delete(OUTBOX).where(here, OUTBOX.c.status.in_(("sent", "failed"))))
    await execute(session, sa.update(OUTBOX).where(here, OUTBOX.c.status == "pending").values(scrub=True))


async def retry_later(
    session: AsyncSession, *, message_id: int, error: str, at: datetime, count_attempt: bool = True
) -> None:
    """Put a message back in the queue until `at`. A 429 does not count as an attempt: the message was fine."""
    values: dict[str, Any] = {"error": error[:200], "next_attempt_at": at, "claimed_until": None}
    if count_attempt:
        values["attempts"] = OUTBOX.c.attempts + 1
    await execute(session, sa.update(OUTBOX).where(OUTBOX.c.id == message_id).values(**values))


async def mark_failed(session: AsyncSession, *, message_id: int, error: str, now: datetime) -> None:
    """A message that will not be sent (one to forget keeps nothing that says to whom or what)."""
    await execute(
        session,
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == message_id)
        .values(
            status="failed",
            error=error[:200],
            attempts=OUTBOX.c.attempts + 1,
            sent_at=now,
            claimed_until=None,
            **_FORGET,
        ),
    )


@dataclass(frozen=True)
class LastReply:
    """The newest answer (message or edit) a chat was sent: where its live buttons, if any, are."""

    id: int
    has_buttons: bool
    message_id: str  # the platform's id of the message it shows in; "" while a new message is not sent yet

    def handle(self) -> dict[str, Any]:
        """What a clear_buttons row names: the message, or else the outbox row whose message it will be."""
        return {"message_id": self.message_id} if self.message_id else {"outbox_id": self.id}


_REPLIES = sa.select(
    OUTBOX.c.id, OUTBOX.c.chat_key, OUTBOX.c.kind, OUTBOX.c.status, OUTBOX.c.external_id, OUTBOX.c.payload
).where(
    OUTBOX.c.id.in_(
        sa.select(sa.func.max(OUTBOX.c.id))
        .where(
            OUTBOX.c.channel == sa.bindparam("channel"),
            OUTBOX.c.chat_key.in_(sa.bindparam("chat_keys", expanding=True)),
            OUTBOX.c.kind.in_(("message", "edit")),
            OUTBOX.c.inbox_id.is_not(None),
        )
        .group_by(OUTBOX.c.chat_key)
    )
)


async def last_replies(
    session: AsyncSession, *, channel: str, chat_keys: Collection[str]
) -> dict[str, LastReply | None]:
    """The newest answer (message or edit) sent, or to be sent, to each of these chats, in one statement. Every
    answer retires the buttons of the one before it, so only this one can still show live buttons."""
    found: dict[str, LastReply | None] = dict.fromkeys(chat_keys)
    if chat_keys:
        for row in await execute(session, _REPLIES, {"channel": channel, "chat_keys": sorted(set(chat_keys))}):
            found[row.chat_key] = _last_reply(row)
    return found


def _last_reply(row: Row[Any] | None) -> LastReply | None:
    if row is None or row.status == "failed":
        return None
    payload = row.payload or {}
    # Sent, it shows in the message the platform named (an edit that could not edit became a new message);
    # not yet, an edit will show in the message it edits, and a new message's id is not known yet.
    message_id = row.external_id if row.status == "sent" else ""
    if not message_id and row.kind == "edit":
        message_id = str(payload.get("message_id", ""))
    return LastReply(id=row.id, has_buttons=bool(payload.get("buttons")), message_id=message_id)


async def external_id_of(session: AsyncSession, *, message_id: int) -> str:
    """The platform's id of a sent message ("" when it was not sent)."""
    row = (
        await execute(session, sa.select(OUTBOX.c.external_id, OUTBOX.c.status).where(OUTBOX.c.id == message_id))
    ).first()
    return row.external_id if row is not None and row.status == "sent" else ""


async def deliver_here(
    session: AsyncSession, *, channel: str, chat_key: str, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """For a channel that shows what is waiting when the person opens it (the console): the kinds and payloads of
    the messages and files waiting for this chat, oldest first, all marked sent (other kinds, such as menus, mean
    nothing there)."""
    rows = list(
        await execute(
            session,
            sa.select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.payload)
            .where(OUTBOX.c.channel == channel, OUTBOX.c.chat_key == chat_key, OUTBOX.c.status == "pending")
            .order_by(OUTBOX.c.priority, OUTBOX.c.id),
        )
    )
    await mark_sent(session, sent=[(row.id, "") for row in rows], now=now)
    return [(row.kind, row.payload) for row in rows if row.kind == "message" or row.kind in FILE_KINDS]


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    return await queue.count_by_status(session, OUTBOX)


async def failures(session: AsyncSession, *, limit: int = 20) -> list[OutboxMessage]:
    failed = select(OutboxMessage).where(OutboxMessage.status == "failed")
    statement = failed.order_by(col(OutboxMessage.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())
