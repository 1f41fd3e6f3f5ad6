"""Anonymous writers: how to reach them, kept apart from everything representatives, departments, exports and
reports read. This module is the only reader of `mailbox_relay`: it passes answers on and counts a writer's items.

An anonymous item names nobody. What could still lead back to the writer's chat is the trail of the dialog: the
events they sent (the inbox keeps what they typed, a name before they chose anonymity included, and when), the
messages sent to them (the confirmation quotes their letter) and when their chat identity was made (moments before
the letter, for a first-time writer). `conceal` deletes that trail in the transaction that stores the item, and
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
from storage.models import ChatIdentity, MailboxItem, MailboxRelay


def remember(session: AsyncSession, *, item_id: int, writer: ChatIdentity) -> None:
    """Keep how to reach the writer of an anonymous item."""
    assert writer.id is not None
    session.add(MailboxRelay(item_id=item_id, identity_id=writer.id))


async def conceal(session: AsyncSession, *, writer: ChatIdentity) -> None:
    """Delete the trail of the writer's private chat: the events handled so far and the messages sent, and when."""
    await outbox.forget_chat(session, channel=writer.channel, chat_key=writer.external_id)
    await inbox.forget_chat(session, channel=writer.channel, chat_key=writer.external_id)
    writer.created_at = writer.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    session.add(writer)
    session.info[TRUNCATE_LOG] = True


async def writer_of(session: AsyncSession, *, item_id: int) -> ChatIdentity | None:
    """Whom to pass an answer to an anonymous item on to."""
    relay = await session.get(MailboxRelay, item_id)
    return None if relay is None else await session.get(ChatIdentity, relay.identity_id)


async def items_since(session: AsyncSession, *, writer: ChatIdentity, link_token: str, since: datetime) -> int:
    """How many items this writer sent through this contact-card link since `since`, named or anonymous."""
    named = select(sa.func.count()).where(
        MailboxItem.identity_id == writer.id,
        MailboxItem.link_token == link_token,
        col(MailboxItem.created_at) > since,
    )
    anonymous = (
        select(sa.func.count())
        .select_from(MailboxRelay)
        .join(MailboxItem, col(MailboxItem.id) == MailboxRelay.item_id)
        .where(
            MailboxRelay.identity_id == writer.id,
            MailboxItem.link_token == link_token,
            col(MailboxItem.created_at) > since,
        )
    )
    return int((await session.exec(named)).one()) + int((await session.exec(anonymous)).one())
