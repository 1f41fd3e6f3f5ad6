"""Intra-party briefings (党内情况通报): the liaison office or a leader sends one to everyone, a level or a group;
each representative confirms reading it; its sender sees who has not and reminds them.

Sending is one transaction whatever the scope: the briefing, a recipient row per representative in office in the
scope (one bulk insert), the briefing to each of their chats (and its document) in the outbox, and the due item that
tells the sender, `briefings.not_read_days` later, who has not confirmed reading it. Storage holds no words: a
notice is a catalog key and its values, which the caller's `Render` turns into a message in each one's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import execute
from storage.delivery import outbox
from storage.errors import InvalidInput, NotFound
from storage.models import Briefing, BriefingRecipient, ChatIdentity, Representative, Staff
from storage.policy import Action, Role, SentRecord, Standing
from storage.records import audience, people, schedule
from storage.records.cases import Render
from storage.records.schedule import Planned
from storage.settings import Settings

UNREAD = "briefing-unread"  # the due item's kind: who has not confirmed reading, to the sender
LISTED = 10  # briefings a list shows
MAX_TITLE = 100
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
RECIPIENTS: sa.Table = BriefingRecipient.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Attachment:
    """A document or photo sent with a briefing or an opinion request: where it is on this machine and its name."""

    file_ref: str  # file:<path>, as the channels store what people send
    file_name: str

    @property
    def kind(self) -> str:
        """How the outbox sends it: a picture as a photo, anything else as a document."""
        return "photo" if self.file_name.lower().endswith(PHOTO_SUFFIXES) else "document"

    def payload(self, caption: str) -> dict[str, Any]:
        return {"path": self.file_ref.removeprefix("file:"), "caption": caption, "filename": self.file_name}


def attachment_of(file_ref: str, file_name: str) -> Attachment | None:
    return Attachment(file_ref, file_name or Path(file_ref.removeprefix("file:")).name) if file_ref else None


# --- whom to reach ----------------------------------------------------------------------------------------


async def chats_of_representatives(session: AsyncSession, ids: Sequence[int]) -> list[ChatIdentity]:
    """The notice chat of each of these representatives (when it is not blocked), in one statement (a scope may
    hold 300)."""
    if not ids:
        return []
    where = sa.and_(col(ChatIdentity.role) == Role.REPRESENTATIVE, col(ChatIdentity.representative_id).in_(list(ids)))
    return await people.reachable_chats(session, where=where)


async def chats_of_sender(session: AsyncSession, staff_id: int) -> list[ChatIdentity]:
    """The notice chat of the staff member who sent a briefing or an opinion request (as liaison office or
    leader)."""
    where = sa.and_(col(ChatIdentity.staff_id) == staff_id, col(ChatIdentity.role).in_((Role.LIAISON, Role.LEADER)))
    return await people.reachable_chats(session, where=where)


def sent_record(standing: Standing, sender_id: int) -> SentRecord:
    """How the asker stands to something sent: whether they are the one who sent it."""
    return SentRecord(sender=standing.staff_id is not None and standing.staff_id == sender_id)


def messages_to(
    people: Sequence[ChatIdentity],
    *,
    render: Render,
    default_language: str,
    key: str,
    values: dict[str, Any],
    attachment: Attachment | None = None,
) -> list[outbox.NewMessage]:
    """A notice to each person in their language, and the attachment after it (captioned with the title)."""
    messages = []
    for person in people:
        messages.append(outbox.to_identity(person, render(person.language or default_language, key, values), bulk=True))
        if attachment is not None:
            payload = attachment.payload(str(values.get("title", "")))
            messages.append(outbox.to_identity(person, payload, bulk=True, kind=attachment.kind))
    return messages


# --- sending ----------------------------------------------------------------------------------------------


async def count_in_scope(session: AsyncSession, scope: str) -> int:
    return len(await audience.representatives_in(session, scope))


def unread_item(briefing: Briefing, settings: Settings) -> Planned:
    """The sender's look at who has not read it, `not_read_days` after it was sent."""
    due_at = briefing.sent_at + timedelta(days=settings.briefings.not_read_days)
    expires_at = due_at + timedelta(hours=settings.scheduler.lateness_hours("briefings"))
    return Planned(
        key=f"{UNREAD}:{briefing.id}",
        kind=UNREAD,
        due_at=due_at,
        expires_at=expires_at,
        payload={"briefing_id": briefing.id},
    )


async def send(
    session: AsyncSession,
    *,
    standing: Standing,
    scope: str,
    title: str,
    body: str,
    attachment: Attachment | None,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Briefing:
    """Send a briefing to every representative in office in the scope, as one transaction."""
    policy.require(standing, Action.SEND_BRIEFING)
    assert standing.staff_id is not None
    if len(body) > settings.briefings.max_body_length:
        raise InvalidInput("input.too_long", limit=settings.briefings.max_body_length, length=len(body))
    recipients = await audience.recipients(session, scope)
    briefing = Briefing(
        sender_id=standing.staff_id,
        title=title[:MAX_TITLE],
        body=body,
        file_ref=attachment.file_ref if attachment else "",
        file_name=attachment.file_name if attachment else "",
        scope=scope,
        sent_at=now,
    )
    session.add(briefing)
    await session.flush()
    assert briefing.id is not None
    await execute(
        session, sa.insert(RECIPIENTS), [{"briefing_id": briefing.id, "representative_id": rep} for rep in recipients]
    )
    audit.record(
        session,
        actor=standing.actor,
        action="briefing.sent",
        entity="briefing",
        entity_id=briefing.id,
        recipients=len(recipients),
    )
    values = {"id": briefing.id, "title": briefing.title, "body": briefing.body}
    messages = messages_to(
        await chats_of_representatives(session, recipients),
        render=render,
        default_language=settings.general.default_language,
        key="briefing.notify.new",
        values=values,
        attachment=attachment,
    )
    await outbox.enqueue(session, messages=messages, now=now)
    await schedule.plan(session, items=[unread_item(briefing, settings)], now=now)
    return briefing


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A briefing as one representative has it: whether and when they read it."""

    briefing: Briefing
    read_at: datetime | None


@dataclass(frozen=True)
class Sent:
    """A briefing as its sender follows it: how many of its recipients read it."""

    briefing: Briefing
    read: int
    recipients: int


async def received(session: AsyncSession, *, representative_id: int, limit: int = LISTED) -> list[Received]:
    """The briefings sent to a representative, those not yet read first, newest first within each."""
    found = await session.exec(
        select(Briefing, BriefingRecipient.read_at)
        .join(BriefingRecipient, col(BriefingRecipient.briefing_id) == Briefing.id)
        .where(BriefingRecipient.representative_id == representative_id)
        .order_by(col(BriefingRecipient.read_at).is_not(None), col(Briefing.sent_at).desc(), col(Briefing.id).desc())
        .limit(limit)
    )
    return [Received(briefing, read_at) for briefing, read_at in found.all()]


def _shares() -> Any:
    """(briefing id, read, recipients) per briefing, as a statement to filter."""
    return select(
        BriefingRecipient.briefing_id,
        sa.func.count(col(BriefingRecipient.read_at)).label("read"),
        sa.func.count().label("recipients"),
    ).group_by(col(BriefingRecipient.briefing_id))


async def _with_shares(session: AsyncSession, briefings: Sequence[Briefing]) -> list[Sent]:
    ids = [briefing.id for briefing in briefings]
    rows = (await session.exec(_shares().where(col(BriefingRecipient.briefing_id).in_(ids)))).all()
    counts = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    return [Sent(briefing, *counts.get(briefing.id, (0, 0))) for briefing in briefings]


async def sent_by(session: AsyncSession, *, staff_id: int, limit: int = LISTED) -> list[Sent]:
    """What a staff member sent, newest first, with read shares."""
    found = await session.exec(
        select(Briefing)
        .where(Briefing.sender_id == staff_id)
        .order_by(col(Briefing.sent_at).desc(), col(Briefing.id).desc())
        .limit(limit)
    )
    return await _with_shares(session, list(found.all()))


async def read_shares(session: AsyncSession, *, since: datetime, until: datetime) -> list[tuple[Briefing, int, int]]:
    """Briefings sent in [since, until), oldest first, each with how many recipients read it and how many it went
    to (read by the weekly digest)."""
    found = await session.exec(
        select(Briefing)
        .where(col(Briefing.sent_at) >= since, col(Briefing.sent_at) < until)
        .order_by(col(Briefing.sent_at), col(Briefing.id))
    )
    return [(one.briefing, one.read, one.recipients) for one in await _with_shares(session, list(found.all()))]


async def share(session: AsyncSession, *, briefing_id: int) -> tuple[int, int]:
    """(read, recipients) of one briefing."""
    row = (await session.exec(_shares().where(col(BriefingRecipient.briefing_id) == briefing_id))).first()
    return (int(row[1]), int(row[2])) if row is not None else (0, 0)


async def get(session: AsyncSession, briefing_id: int) -> Briefing:
    found = await session.get(Briefing, briefing_id)
    if found is None:
        raise NotFound("briefing.error.unknown", number=briefing_id)
    return found


async def open_received(
    session: AsyncSession, *, standing: Standing, briefing_id: int
) -> tuple[Briefing, BriefingRecipient]:
    """A briefing sent to this representative; one sent to others is unknown to them."""
    policy.require(standing, Action.READ_BRIEFING)
    briefing = await get(session, briefing_id)
    mine = await session.get(BriefingRecipient, (briefing_id, standing.representative_id))
    if mine is None:
        raise NotFound("briefing.error.unknown", number=briefing_id)
    return briefing, mine


async def confirm_read(session: AsyncSession, *, standing: Standing, briefing_id: int, now: datetime) -> bool:
    """Record that the representative read the briefing; True the first time, False when they had confirmed
    already (nothing changes)."""
    briefing, mine = await open_received(session, standing=standing, briefing_id=briefing_id)
    if mine.read_at is not None:
        return False
    mine.read_at = now
    session.add(mine)
    audit.record(session, actor=standing.actor, action="briefing.read", entity="briefing", entity_id=briefing.id)
    return True


async def open_sent(session: AsyncSession, *, standing: Standing, briefing_id: int) -> Briefing:
    """A briefing as its sender follows it; anyone else is refused (briefing.error.not_sender)."""
    briefing = await get(session, briefing_id)
    policy.require(standing, Action.BRIEFING_READERS, sent_record(standing, briefing.sender_id))
    return briefing


async def not_read(session: AsyncSession, *, briefing_id: int) -> list[Representative]:
    """Who has not confirmed reading a briefing, in roster order."""
    found = await session.exec(
        select(Representative)
        .join(BriefingRecipient, col(BriefingRecipient.representative_id) == Representative.id)
        .where(BriefingRecipient.briefing_id == briefing_id, col(BriefingRecipient.read_at).is_(None))
        .order_by(col(Representative.code))
    )
    return list(found.all())


async def remind(
    session: AsyncSession, *, standing: Standing, briefing_id: int, settings: Settings, now: datetime, render: Render
) -> int:
    """Remind those who have not read the briefing and were not reminded today (local day): each once a day
    however often the sender asks. Returns how many were reminded (0: nobody left to remind today)."""
    briefing = await open_sent(session, standing=standing, briefing_id=briefing_id)
    start_of_day = datetime.combine(now.astimezone(settings.zone).date(), datetime.min.time(), tzinfo=settings.zone)
    waiting = sa.and_(
        RECIPIENTS.c.briefing_id == briefing_id,
        RECIPIENTS.c.read_at.is_(None),
        sa.or_(RECIPIENTS.c.reminded_at.is_(None), RECIPIENTS.c.reminded_at < start_of_day),
    )
    ids = [row[0] for row in (await execute(session, sa.select(RECIPIENTS.c.representative_id).where(waiting))).all()]
    if not ids:
        return 0
    await execute(session, sa.update(RECIPIENTS).where(waiting).values(reminded_at=now))
    audit.record(
        session,
        actor=standing.actor,
        action="briefing.reminded",
        entity="briefing",
        entity_id=briefing_id,
        reminded=len(ids),
    )
    values = {"id": briefing.id, "title": briefing.title, "body": briefing.body}
    messages = messages_to(
        await chats_of_representatives(session, ids),
        render=render,
        default_language=settings.general.default_language,
        key="briefing.notify.reminder",
        values=values,
    )
    await outbox.enqueue(session, messages=messages, now=now)
    return len(ids)


async def sender_name(session: AsyncSession, staff_id: int) -> str:
    staff = await session.get(Staff, staff_id)
    return staff.name if staff is not None else "—"
