"""The inbox and outbox queues: redelivery, claiming heads per chat, and the retention purge."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from storage import inbox, outbox, queue
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.factories import NOW


async def test_a_redelivered_event_is_stored_once(db: Database) -> None:
    async with db.transaction() as session:
        first = await inbox.receive(session, channel="telegram", event_key="1:5", chat_key="9", payload={}, now=NOW)
        again = await inbox.receive(session, channel="telegram", event_key="1:5", chat_key="9", payload={}, now=NOW)
        other_bot = await inbox.receive(session, channel="telegram", event_key="2:5", chat_key="9", payload={}, now=NOW)
    assert (first, again, other_bot) == (True, False, True)


async def test_a_chats_second_event_waits_for_its_first(db: Database) -> None:
    async with db.transaction() as session:
        for key, chat in [("1:1", "a"), ("1:2", "a"), ("1:3", "b")]:
            await inbox.receive(session, channel="telegram", event_key=key, chat_key=chat, payload={}, now=NOW)
    lease = timedelta(seconds=60)
    async with db.transaction() as session:
        heads = await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10)
        assert [event.event_key for event in heads] == ["1:1", "1:3"]
        assert await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10) == []  # leased
        assert await inbox.take(session, event_id=heads[0].id or 0, now=NOW)
        assert not await inbox.take(session, event_id=heads[0].id or 0, now=NOW)  # handled once only
        after = await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10)
    assert [event.event_key for event in after] == ["1:2"]
    # A lease that ran out (its worker died) lets the row be claimed again.
    async with db.transaction() as session:
        later = await inbox.claim(session, channel="telegram", now=NOW + 2 * lease, lease=lease, limit=10)
    assert sorted(event.event_key for event in later) == ["1:2", "1:3"]


async def test_purge_keeps_what_is_recent_or_still_needed(db: Database) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    async with db.transaction() as session:
        for key, at in [("1:1", old), ("1:2", old), ("1:3", recent)]:
            await inbox.receive(session, channel="telegram", event_key=key, chat_key="9", payload={"x": 1}, now=at)
        events = {event.event_key: event for event in (await session.exec(select(InboxEvent))).all()}
        for event in events.values():
            event.status = "done"
            session.add(event)
        sent = outbox.enqueue(session, channel="telegram", chat_key="9", payload={}, now=old, inbox_id=events["1:1"].id)
        sent.status = "sent"
        outbox.enqueue(session, channel="telegram", chat_key="9", payload={}, now=old, inbox_id=events["1:2"].id)
        fresh = outbox.enqueue(session, channel="telegram", chat_key="9", payload={}, now=recent)
        fresh.status = "sent"
    async with db.transaction() as session:
        purged = await queue.purge(session, before=NOW - timedelta(days=30))
    assert purged == (1, 1)  # the old event whose reply was sent, and that reply
    async with db.transaction() as session:
        kept_events = (await session.exec(select(InboxEvent.event_key).order_by(col(InboxEvent.id)))).all()
        kept_messages = (await session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))).all()
    assert list(kept_events) == ["1:2", "1:3"]  # 1:2 still has a message waiting to be sent
    assert list(kept_messages) == ["pending", "sent"]
