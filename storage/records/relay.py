"""Residents who hear a case's answer without anyone reading who they are: anonymous writers and those who joined a
case. Kept apart from everything representatives, departments, exports and reports read, this module is the only
reader of `case_relay`: it passes answers on, finds a resident's own cases and counts a writer's letters.

An anonymous case names nobody. What could still lead back to the writer's chat is the trail of the dialog: the
events they sent (the inbox keeps what they typed, a name before they chose anonymity included, and when), the
messages sent to them (the confirmation quotes their letter) and when their chat identity was made (moments before
the letter, for a first-time writer). `conceal` deletes that trail in the transaction that stores the case, and
rounds the identity's creation down to its day; what is still to be sent to them is deleted as it is sent. On
SQLite, deleted content is overwritten (secure_delete) and the write-ahead log, which still holds the old pages, is
truncated once the transaction commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import TRUNCATE_LOG
from storage.delivery import inbox, outbox
from storage.models import Case, CaseRelay, ChatIdentity


def remember(session: AsyncSession, *, case_id: int, resident: ChatIdentity, writer: bool) -> None:
    """Keep how to reach an anonymous writer, or one who joined the case."""
    assert resident.id is not None
    session.add(CaseRelay(case_id=case_id, identity_id=resident.id, writer=writer))


async def conceal(session: AsyncSession, *, writer: ChatIdentity) -> None:
    """Delete the trail of the writer's private chat: the events handled so far and the messages sent, and when."""
    await outbox.forget_chat(session, channel=writer.channel, chat_key=writer.external_id)
    await inbox.forget_chat(session, channel=writer.channel, chat_key=writer.external_id)
    writer.created_at = writer.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    session.add(writer)
    session.info[TRUNCATE_LOG] = True


async def residents_of(session: AsyncSession, *, case: Case) -> list[tuple[ChatIdentity, bool]]:
    """Everyone who hears the case's answer, each with whether they wrote it (and so rate it): the named writer,
    the anonymous one, those who joined; not those who blocked the bot."""
    relayed = select(CaseRelay.identity_id, CaseRelay.writer).where(CaseRelay.case_id == case.id)
    writers: dict[int, bool] = {identity_id: writer for identity_id, writer in (await session.exec(relayed)).all()}
    if case.identity_id is not None:
        writers[case.identity_id] = True
    if not writers:
        return []
    found = await session.exec(
        select(ChatIdentity)
        .where(col(ChatIdentity.id).in_(writers), col(ChatIdentity.blocked_at).is_(None))
        .order_by(col(ChatIdentity.id))
    )
    return [(identity, writers[identity.id or 0]) for identity in found.all()]


async def standing_in(session: AsyncSession, *, case: Case, resident: ChatIdentity) -> tuple[bool, bool]:
    """(is one of the case's residents, wrote it): who may read a case as theirs, rate and withdraw it."""
    if case.identity_id is not None and case.identity_id == resident.id:
        return True, True
    relay = await session.get(CaseRelay, (case.id, resident.id))
    return (relay is not None, relay is not None and relay.writer)


async def cases_of(session: AsyncSession, *, resident: ChatIdentity) -> list[int]:
    """The ids of the cases a resident wrote (named or not) or joined, newest first."""
    relayed = select(CaseRelay.case_id).where(CaseRelay.identity_id == resident.id)
    named = select(Case.id).where(Case.identity_id == resident.id)
    ids = {int(case_id) for case_id in (await session.exec(relayed)).all()}
    ids |= {int(case_id) for case_id in (await session.exec(named)).all() if case_id is not None}
    return sorted(ids, reverse=True)


async def letters_since(session: AsyncSession, *, writer: ChatIdentity, link_token: str | None, since: datetime) -> int:
    """How many cases this writer sent since `since`, named or anonymous: through this contact-card link, or (None)
    however they wrote."""
    through = [Case.link_token == link_token] if link_token is not None else []
    named = select(sa.func.count()).where(Case.identity_id == writer.id, col(Case.registered_at) > since, *through)
    anonymous = (
        select(sa.func.count())
        .select_from(CaseRelay)
        .join(Case, col(Case.id) == CaseRelay.case_id)
        .where(
            CaseRelay.identity_id == writer.id,
            col(CaseRelay.writer).is_(True),
            col(Case.registered_at) > since,
            *through,
        )
    )
    return int((await session.exec(named)).one()) + int((await session.exec(anonymous)).one())
