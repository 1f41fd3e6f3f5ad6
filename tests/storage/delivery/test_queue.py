"""The inbox and outbox queues: redelivery, claiming heads per chat, recording sends, and the retention purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.delivery import inbox, outbox, queue
from storage.delivery.inbox import Received
from storage.delivery.outbox import NewMessage
from storage.models import InboxEvent, OutboxMessage
from tests.factories import NOW


async def test_a_redelivered_event_is_stored_once(db: Database) -> None:
    async with db.transaction() as session:
        first = await inbox.receive(session, channel="telegram", events=[Received("1:5", "9", {"n": 1})], now=NOW)
        # A batch with the same update again, a new one, and the same update id from another bot.
        batch = [Received("1:5", "9", {"n": 1}), Received("1:6", "9", {"n": 2}), Received("2:5", "9", {"n": 3})]
        again = await inbox.receive(session, channel="telegram", events=batch, now=NOW)
        other_channel = await inbox.receive(session, channel="wechat", events=[Received("1:5", "9", {})], now=NOW)
    assert len(first) == 1 and len(again) == 2 and len(other_channel) == 1
    async with db.transaction() as session:
        stored = (await session.exec(select(InboxEvent).order_by(col(InboxEvent.id)))).all()
    assert [(event.channel, event.event_key, event.payload) for event in stored] == [
        ("telegram", "1:5", {"n": 1}),
        ("telegram", "1:6", {"n": 2}),
        ("telegram", "2:5", {"n": 3}),
        ("wechat", "1:5", {}),
    ]
    assert [event.id for event in stored] == first + again + other_channel


async def test_arrived_ids_are_stored_once_and_become_events_when_their_content_is_read(db: Database) -> None:
    """WeChat's way in: ids first (no chat yet, nobody's head), then the content; what is not for the bot goes, and
    what could never be read is parked after the give-up time."""
    async with db.transaction() as session:
        first = await inbox.arrive(session, channel="wechat", event_keys=["m1", "m2", "m3", "m4"], now=NOW)
        again = await inbox.arrive(session, channel="wechat", event_keys=["m2", "m5"], now=NOW)
        assert await inbox.due(session, channel="wechat", now=NOW, limit=10, skip=()) == []
    assert list(first) == ["m1", "m2", "m3", "m4"] and list(again) == ["m5"]
    later = NOW + timedelta(seconds=10)
    async with db.transaction() as session:
        left = await inbox.arrived(session, channel="wechat", before=later, limit=10)
        assert list(left) == ["m1", "m2", "m3", "m4", "m5"]
        events = {
            first["m1"]: Received("m1", "wxid_a", {"text": "你好"}, NOW - timedelta(seconds=3)),
            first["m2"]: Received("m2", "wxid_a", {"text": "走访"}),
            first["m3"]: None,  # the account's own message
        }
        await inbox.fill(session, events=events, now=later, give_up_before=NOW)
        heads = await inbox.due(session, channel="wechat", now=later, limit=10, skip=())
        assert [(head.event_key, head.chat_key, head.payload) for head in heads] == [("m1", "wxid_a", {"text": "你好"})]
        # m4 and m5 are still to read; an hour on, still unreadable, they are parked.
        assert list(await inbox.arrived(session, channel="wechat", before=later, limit=10)) == ["m4", "m5"]
        await inbox.fill(session, events={}, now=later + timedelta(hours=1), give_up_before=later)
    async with db.transaction() as session:
        stored = (await session.exec(select(InboxEvent).order_by(col(InboxEvent.id)))).all()
    assert [(event.event_key, event.status) for event in stored] == [
        ("m1", "pending"),
        ("m2", "pending"),
        ("m4", "parked"),
        ("m5", "parked"),
    ]
    assert stored[0].received_at == NOW - timedelta(seconds=3)  # when it was sent: the flood limit counts that


async def test_a_chats_second_event_waits_for_its_first(db: Database) -> None:
    async with db.transaction() as session:
        events = [Received(key, chat, {"key": key}) for key, chat in [("1:1", "a"), ("1:2", "a"), ("1:3", "b")]]
        await inbox.receive(session, channel="telegram", events=events, now=NOW)
    lease = timedelta(seconds=60)
    async with db.transaction() as session:
        heads = await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10)
        assert [event.event_key for event in heads] == ["1:1", "1:3"]
        assert heads[0].payload == {"key": "1:1"} and heads[0].attempts == 0
        assert await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10) == []  # leased
        assert await inbox.take(session, event_ids=[heads[0].id], now=NOW) == {heads[0].id}
        assert await inbox.take(session, event_ids=[heads[0].id, heads[1].id], now=NOW) == {heads[1].id}  # once only
        after = await inbox.claim(session, channel="telegram", now=NOW, lease=lease, limit=10)
    assert [event.event_key for event in after] == ["1:2"]
    # A lease that ran out (its worker died) lets the row be claimed again.
    async with db.transaction() as session:
        later = await inbox.claim(session, channel="telegram", now=NOW + 2 * lease, lease=lease, limit=10)
    assert [event.event_key for event in later] == ["1:2"]


async def test_an_event_taken_and_failed_is_given_back_to_be_tried_again(db: Database) -> None:
    retry = timedelta(seconds=1)
    async with db.transaction() as session:
        [event_id] = await inbox.receive(session, channel="telegram", events=[Received("1:1", "a", {})], now=NOW)
    async with db.transaction() as session:
        assert await inbox.take(session, event_ids=[event_id], now=NOW) == {event_id}
        # Someone else's failure report (the event is not ours to give back) changes nothing.
        unowned = await inbox.record_failure(
            session, event_id=event_id, error="KeyError", now=NOW, max_attempts=2, retry_after=retry
        )
        first = await inbox.record_failure(
            session, event_id=event_id, error="KeyError", now=NOW, max_attempts=2, retry_after=retry, taken=True
        )
    assert (unowned.attempts, first.parked, first.attempts) == (0, False, 1)
    async with db.read() as session:
        assert await inbox.due(session, channel="telegram", now=NOW, limit=10, skip=[]) == []  # waits a second
        [again] = await inbox.due(session, channel="telegram", now=NOW + retry, limit=10, skip=[])
    assert (again.id, again.attempts) == (event_id, 1)
    async with db.transaction() as session:
        await inbox.take(session, event_ids=[event_id], now=NOW + retry)
        last = await inbox.record_failure(
            session, event_id=event_id, error="KeyError", now=NOW, max_attempts=2, retry_after=retry, taken=True
        )
    assert (last.parked, last.attempts) == (True, 2)
    async with db.transaction() as session:
        parked = await session.get(InboxEvent, event_id)
        assert parked is not None and (parked.status, parked.error) == ("parked", "KeyError")


async def test_due_heads_leave_out_the_rows_in_work_and_their_chats(db: Database) -> None:
    async with db.transaction() as session:
        events = [Received(key, chat, {}) for key, chat in [("1:1", "a"), ("1:2", "a"), ("1:3", "b")]]
        ids = await inbox.receive(session, channel="telegram", events=events, now=NOW)
    async with db.read() as session:
        heads = await inbox.due(session, channel="telegram", now=NOW, limit=10, skip=[ids[0]])
        later = await inbox.due(session, channel="telegram", now=NOW - timedelta(seconds=1), limit=10, skip=[])
    assert [event.event_key for event in heads] == ["1:3"]  # chat a waits for 1:1, which is in work
    assert later == []  # nothing is due before it arrived


async def test_sent_messages_are_recorded_together_with_their_ids(db: Database) -> None:
    async with db.transaction() as session:
        ids = await outbox.enqueue(
            session,
            messages=[NewMessage("telegram", "1", {"text": "a"}), NewMessage("telegram", "2", {"text": "b"})],
            now=NOW,
        )
        await outbox.mark_sent(session, sent=[(ids[0], "501"), (ids[1], "502")], now=NOW)
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [(row.status, row.external_id, row.sent_at) for row in rows] == [("sent", "501", NOW), ("sent", "502", NOW)]


async def test_an_unknown_kind_of_message_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="fax"):
        async with db.transaction() as session:
            await outbox.enqueue(session, messages=[NewMessage("telegram", "1", {}, kind="fax")], now=NOW)


async def test_purge_keeps_what_is_recent_or_still_needed(db: Database) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    async with db.transaction() as session:
        for key, at in [("1:1", old), ("1:2", old), ("1:3", recent)]:
            await inbox.receive(session, channel="telegram", events=[Received(key, "9", {"x": 1})], now=at)
        events = {event.event_key: event for event in (await session.exec(select(InboxEvent))).all()}
        for event in events.values():
            event.status = "done"
            session.add(event)
        [sent, _waiting] = await outbox.enqueue(
            session,
            messages=[
                NewMessage("telegram", "9", {}, inbox_id=events["1:1"].id),
                NewMessage("telegram", "9", {}, inbox_id=events["1:2"].id),
            ],
            now=old,
        )
        [fresh] = await outbox.enqueue(session, messages=[NewMessage("telegram", "9", {})], now=recent)
        await outbox.mark_sent(session, sent=[(sent, "1"), (fresh, "2")], now=recent)
    async with db.transaction() as session:
        purged = await queue.purge(session, before=NOW - timedelta(days=30))
    assert purged == (1, 1)  # the old event whose reply was sent, and that reply
    async with db.transaction() as session:
        kept_events = (await session.exec(select(InboxEvent.event_key).order_by(col(InboxEvent.id)))).all()
        kept_messages = (await session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))).all()
    assert list(kept_events) == ["1:2", "1:3"]  # 1:2 still has a message waiting to be sent
    assert list(kept_messages) == ["pending", "sent"]


async def test_a_chat_forgotten_while_its_message_was_on_its_way_keeps_nothing_of_it(db: Database) -> None:
    """An anonymous letter is saved while the chat's previous message (quoting the writer's name) is being sent:
    recorded as sent, it keeps neither its chat, nor what it said, nor the platform's id. Another chat's stays."""
    async with db.transaction() as session:
        quoting, other, failing = await outbox.enqueue(
            session,
            messages=[
                NewMessage("telegram", "7102", {"text": "署名：陈小红"}),
                NewMessage("telegram", "7001", {"text": "你好"}),
                NewMessage("telegram", "7102", {"text": "电话：13912345678"}),
            ],
            now=NOW,
        )
    async with db.transaction() as session:
        claimed = await outbox.due(session, channel="telegram", now=NOW, limit=10, skip=())
    assert {row.id for row in claimed} == {quoting, other} and not any(row.scrub for row in claimed)
    async with db.transaction() as session:  # meanwhile, in the dispatcher's transaction
        await outbox.forget_chat(session, channel="telegram", chat_key="7102")
    async with db.transaction() as session:
        await outbox.mark_sent(session, sent=[(quoting, "41"), (other, "42")], now=NOW)
        await outbox.mark_failed(session, message_id=failing, error="Rejected", now=NOW)
    async with db.transaction() as session:
        rows = {row.id: row for row in (await session.exec(select(OutboxMessage))).all()}
    assert [(rows[id_].chat_key, rows[id_].payload, rows[id_].external_id) for id_ in (quoting, failing)] == [
        ("", {}, ""),
        ("", {}, ""),
    ]
    assert (rows[other].chat_key, rows[other].payload, rows[other].external_id) == ("7001", {"text": "你好"}, "42")
