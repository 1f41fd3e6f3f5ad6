"""One person, several chats: a representative's or staff member's notices go to one of their bound chats, the one
they wrote from last or the one they chose; the migration that starts it; and the running channel's status row."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from storage.db import Database
from storage.errors import NotFound
from storage.exchange import digest_scope
from storage.models import AuditEntry, ChatIdentity
from storage.records import briefings, cases, channel_status, people
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.factories import NOW, District, build_district

VALID = timedelta(days=14)
Chat = tuple[str, str]  # (channel, external id)
TELEGRAM: Chat = ("telegram", "tg-501")
WECHAT: Chat = ("wechat", "wxid_abc")
TELEGRAM_2: Chat = ("telegram", "tg-777")  # a second Telegram account of the same person


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def bind(db: Database, chat: Chat, code: str) -> None:
    """The person `code` binds this chat with a fresh invitation, as /start CODE does."""
    async with db.transaction() as session:
        issued = await people.create_invitation(session, person_code=code, now=NOW, valid_for=VALID, actor="test")
        identity = await people.identity_for(session, channel=chat[0], external_id=chat[1])
        await people.redeem_invitation(session, identity=identity, code=issued.code, now=NOW)


async def write(db: Database, chat: Chat) -> None:
    """The person writes from this chat: what the router notes for every inbound event."""
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel=chat[0], external_id=chat[1])
        await people.note_channel_used(session, identity=identity)


async def identity_id(db: Database, chat: Chat) -> int:
    async with db.transaction() as session:
        found = await people.identity_by_external_id(session, channel=chat[0], external_id=chat[1])
    assert found.id is not None
    return found.id


async def choose(db: Database, asking: Chat, target: Chat | None) -> None:
    target_id = None if target is None else await identity_id(db, target)
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel=asking[0], external_id=asking[1])
        await people.choose_notice_channel(session, identity=identity, target_identity_id=target_id)


async def told(db: Database, district: District, code: str = "D001") -> set[Chat]:
    """Where a case notice to this representative goes."""
    async with db.transaction() as session:
        chats = await cases.chats_of_representative(session, district.representatives[code])
    return {(chat.channel, chat.external_id) for chat in chats}


async def test_notices_follow_the_chat_written_from_last(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    assert await told(db, district) == {TELEGRAM}
    await bind(db, WECHAT, "D001")
    assert await told(db, district) == {WECHAT}  # the chat bound last
    await write(db, TELEGRAM)
    assert await told(db, district) == {TELEGRAM}
    await write(db, WECHAT)
    assert await told(db, district) == {WECHAT}
    assert await told(db, district, "D002") == set()  # nobody else's chats are touched


async def test_a_chosen_chat_keeps_the_notices_until_the_person_follows_again(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    await write(db, TELEGRAM)
    await choose(db, TELEGRAM, WECHAT)  # asked from Telegram, for WeChat
    assert await told(db, district) == {WECHAT}
    await write(db, TELEGRAM)
    assert await told(db, district) == {WECHAT}
    await bind(db, TELEGRAM_2, "D001")  # a chat bound later joins the choice, it does not undo it
    assert await told(db, district) == {WECHAT}
    await write(db, TELEGRAM_2)
    assert await told(db, district) == {WECHAT}
    await choose(db, TELEGRAM, None)  # follow the chat used last again: the one asking, for now
    assert await told(db, district) == {TELEGRAM}
    await write(db, WECHAT)
    assert await told(db, district) == {WECHAT}
    async with db.transaction() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "notices.channel"))).all()
    assert [(entry.entity_id, entry.detail) for entry in entries] == [
        (str(await identity_id(db, WECHAT)), {"chosen": True}),
        (str(await identity_id(db, TELEGRAM)), {"chosen": False}),
    ]


CONSOLE: Chat = ("console", "operator")


async def test_the_console_takes_the_notices_only_from_nobody(db: Database, district: District) -> None:
    """An operator playing D001 on the server (`lianxin chat --as rep:D001`) takes nothing from D001's phone; with no
    other chat, the console is where the notices go (the demo)."""
    await bind(db, TELEGRAM, "D001")
    async with db.transaction() as session:
        console = await people.identity_for(session, channel=CONSOLE[0], external_id=CONSOLE[1])
        await people.assume_role(session, identity=console, role="representative", code="D001", actor="test")
    await write(db, CONSOLE)
    assert await told(db, district) == {TELEGRAM}
    await choose(db, CONSOLE, CONSOLE)  # chosen on purpose, it does
    assert await told(db, district) == {CONSOLE}
    async with db.transaction() as session:
        alone = await people.identity_for(session, channel=CONSOLE[0], external_id="operator-2")
        await people.assume_role(session, identity=alone, role="representative", code="D002", actor="test")
    assert await told(db, district, "D002") == {(CONSOLE[0], "operator-2")}


async def test_a_chat_bound_again_to_the_same_person_keeps_its_place(db: Database, district: District) -> None:
    """A second code typed in a chat already theirs changes nothing: the chat they chose stays chosen."""
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    await choose(db, WECHAT, TELEGRAM)
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    assert await told(db, district) == {TELEGRAM}


async def test_nobody_chooses_a_chat_not_their_own(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D002")
    with pytest.raises(NotFound):
        await choose(db, TELEGRAM, WECHAT)
    assert await told(db, district, "D001") == {TELEGRAM}
    assert await told(db, district, "D002") == {WECHAT}


async def test_writing_from_the_notice_chat_costs_no_statement(db: Database, district: District) -> None:
    """Every message passes through note_channel_used: a representative logging visits from their notice chat
    (or from any chat, once they chose) must not pay a write for it."""
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    assert await written_from(db, WECHAT) == []  # the notice chat
    assert await written_from(db, TELEGRAM) != []  # the notices move here: one statement (and the guard of this test)
    await choose(db, WECHAT, WECHAT)
    assert await written_from(db, TELEGRAM) == []  # chosen: nothing moves
    assert await told(db, district) == {WECHAT}


async def written_from(db: Database, chat: Chat) -> list[str]:
    """The statements note_channel_used sends when the person writes from this chat."""
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel=chat[0], external_id=chat[1])
        with statements(db) as seen:
            await people.note_channel_used(session, identity=identity)
            await session.flush()
    return seen


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_blocked_notice_chat_hands_the_notices_on(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    later = NOW + timedelta(hours=1)
    async with db.transaction() as session:
        await people.mark_blocked(session, channel=WECHAT[0], external_id=WECHAT[1], at=later)
    assert await told(db, district) == {TELEGRAM}
    async with db.transaction() as session:  # back: nothing moves until they write there
        await people.mark_blocked(session, channel=WECHAT[0], external_id=WECHAT[1], at=None)
    assert await told(db, district) == {TELEGRAM}
    await write(db, WECHAT)
    assert await told(db, district) == {WECHAT}
    # With no other chat to take them, a blocked chat keeps the notices (and is not reached while blocked).
    async with db.transaction() as session:
        await people.mark_blocked(session, channel=TELEGRAM[0], external_id=TELEGRAM[1], at=later)
        await people.mark_blocked(session, channel=WECHAT[0], external_id=WECHAT[1], at=later)
    assert await told(db, district) == set()
    async with db.transaction() as session:
        await people.mark_blocked(session, channel=WECHAT[0], external_id=WECHAT[1], at=None)
    assert await told(db, district) == {WECHAT}


async def test_a_chosen_chat_that_blocks_the_bot_hands_on_the_notices_still_chosen(
    db: Database, district: District
) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    await choose(db, TELEGRAM, WECHAT)
    async with db.transaction() as session:
        await people.mark_blocked(session, channel=WECHAT[0], external_id=WECHAT[1], at=NOW)
    assert await told(db, district) == {TELEGRAM}
    async with db.transaction() as session:
        chats = await people.notice_chats(
            session, identity=await people.identity_for(session, channel=TELEGRAM[0], external_id=TELEGRAM[1])
        )
    assert [(chat.channel, chat.notices, chat.chosen, chat.blocked) for chat in chats] == [
        ("telegram", True, True, False),
        ("wechat", False, True, True),
    ]


async def test_an_unbound_chat_becomes_a_residents_and_hands_the_notices_on(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    await choose(db, TELEGRAM, WECHAT)
    async with db.transaction() as session:
        identity = await people.identity_by_external_id(session, channel=WECHAT[0], external_id=WECHAT[1])
        await people.unbind(session, identity=identity, now=NOW, actor="test", farewell=None, default_language="zh-CN")
    assert await told(db, district) == {TELEGRAM}
    async with db.transaction() as session:
        unbound = await people.identity_by_external_id(session, channel=WECHAT[0], external_id=WECHAT[1])
        remaining = await people.identity_by_external_id(session, channel=TELEGRAM[0], external_id=TELEGRAM[1])
    assert (unbound.role, unbound.notices, unbound.notices_chosen) == ("resident", True, False)
    assert (remaining.notices, remaining.notices_chosen) == (True, True)  # the choice stays as it was


async def test_revoking_a_person_leaves_every_chat_a_residents(db: Database, district: District) -> None:
    for chat in (TELEGRAM, WECHAT, TELEGRAM_2):
        await bind(db, chat, "D001")
    await choose(db, TELEGRAM, WECHAT)
    async with db.transaction() as session:
        person = await people.person_by_code(session, code="D001")
        unbound = await people.revoke(
            session, person=person, now=NOW, actor="test", farewell=None, default_language="zh-CN"
        )
    assert unbound == 3
    assert await told(db, district) == set()
    async with db.transaction() as session:
        rows = (await session.exec(select(ChatIdentity).order_by(col(ChatIdentity.id)))).all()
    assert [(row.role, row.notices, row.notices_chosen) for row in rows] == [("resident", True, False)] * 3


async def test_a_briefing_reaches_one_chat_per_representative(db: Database, district: District) -> None:
    await bind(db, TELEGRAM, "D001")
    await bind(db, WECHAT, "D001")
    await bind(db, ("telegram", "tg-602"), "D002")
    ids = [district.representatives["D001"], district.representatives["D002"]]
    async with db.transaction() as session:
        chats = await briefings.chats_of_representatives(session, ids)
    assert [(chat.channel, chat.external_id) for chat in chats] == [WECHAT, ("telegram", "tg-602")]


async def test_staff_too_hear_in_one_chat(db: Database, district: District) -> None:
    """A leader's briefing replies and their weekly digest go to the leader's notice chat only."""
    await bind(db, TELEGRAM, "L01")
    await bind(db, WECHAT, "L01")
    await write(db, TELEGRAM)
    async with db.transaction() as session:
        leader = await people.person_by_code(session, code="L01")
        assert leader.staff_id is not None
        senders = await briefings.chats_of_sender(session, leader.staff_id)
        [reader] = await digest_scope.readers(session, key=f"staff-{leader.staff_id}")
    assert [(chat.channel, chat.external_id) for chat in senders] == [TELEGRAM]
    assert [(chat.channel, chat.external_id) for chat in reader.identities] == [TELEGRAM]


async def test_residents_chats_each_receive_their_own(db: Database, district: District) -> None:
    """Residents are each their own person: a resident's second chat takes nothing from their first."""
    for chat in (TELEGRAM, WECHAT):
        await write(db, chat)
    async with db.transaction() as session:
        rows = (await session.exec(select(ChatIdentity).where(people.reachable()))).all()
        [only] = await people.notice_chats(
            session, identity=await people.identity_for(session, channel=WECHAT[0], external_id=WECHAT[1])
        )
    assert len(rows) == 2
    assert (only.channel, only.notices, only.current) == ("wechat", True, True)


async def test_notice_chats_number_two_chats_of_one_channel(db: Database, district: District) -> None:
    for chat in (TELEGRAM, WECHAT, TELEGRAM_2):
        await bind(db, chat, "D001")
    async with db.transaction() as session:
        asking = await people.identity_for(session, channel=TELEGRAM[0], external_id=TELEGRAM[1])
        chats = await people.notice_chats(session, identity=asking)
    assert [(chat.channel, chat.ordinal, chat.of_channel, chat.notices, chat.current) for chat in chats] == [
        ("telegram", 1, 2, False, True),
        ("wechat", 1, 1, False, False),
        ("telegram", 2, 2, True, False),
    ]


# --- the migration: one notice chat per person ------------------------------------------------------------------


@pytest.fixture
async def empty_db(database_url: str) -> AsyncIterator[Database]:
    if POSTGRES_URL:
        await reset_postgres(POSTGRES_URL)
    database = Database(database_url)
    yield database
    await database.dispose()


AT_0007 = (
    "INSERT INTO representative (id, code, name, level, group_role, phone, unit, active, updated_at) VALUES "
    "(1, 'D001', '王建国', 'district', 'member', '', '', true, '2026-11-01 00:00:00'),"
    "(2, 'D002', '李红梅', 'district', 'member', '', '', true, '2026-11-01 00:00:00')",
    "INSERT INTO staff (id, code, name, role, unit, township) VALUES (1, 'L01', '区委领导', 'leader', '', '')",
    # D001: three chats, the newest blocked; D002: one and the console; L01: two; two residents.
    "INSERT INTO chat_identity (id, channel, external_id, role, representative_id, staff_id, created_at, blocked_at)"
    " VALUES"
    " (1, 'telegram', '501', 'representative', 1, NULL, '2026-11-01 00:00:00', NULL),"
    " (2, 'wechat', 'wx1', 'representative', 1, NULL, '2026-11-02 00:00:00', NULL),"
    " (3, 'telegram', '503', 'representative', 1, NULL, '2026-11-03 00:00:00', '2026-11-04 00:00:00'),"
    " (4, 'telegram', '504', 'representative', 2, NULL, '2026-11-01 00:00:00', NULL),"
    " (5, 'telegram', '505', 'leader', NULL, 1, '2026-11-01 00:00:00', NULL),"
    " (6, 'wechat', 'wx6', 'leader', NULL, 1, '2026-11-02 00:00:00', NULL),"
    " (7, 'telegram', '507', 'resident', NULL, NULL, '2026-11-01 00:00:00', NULL),"
    " (8, 'wechat', 'wx8', 'resident', NULL, NULL, '2026-11-02 00:00:00', NULL),"
    # D002 once opened the console on the server: the newest, but an operator's tool.
    " (9, 'console', 'op', 'representative', 2, NULL, '2026-11-05 00:00:00', NULL)",
)


async def test_the_migration_leaves_one_notice_chat_per_person(empty_db: Database) -> None:
    """Each representative's and staff member's newest chat that has not blocked the bot; residents' all."""

    def to_0007(connection: Connection) -> None:
        from alembic import command

        from storage.db import alembic_config

        command.upgrade(alembic_config(connection), "0007")

    async with empty_db.engine.begin() as connection:
        await connection.run_sync(to_0007)
        for statement in AT_0007:
            await connection.execute(sa.text(statement))
    await empty_db.upgrade()
    async with empty_db.transaction() as session:
        rows = (await session.exec(select(ChatIdentity).order_by(col(ChatIdentity.id)))).all()
    assert [(row.id, row.notices, row.notices_chosen) for row in rows] == [
        (1, False, False),
        (2, True, False),  # D001's newest unblocked
        (3, False, False),
        (4, True, False),
        (5, False, False),
        (6, True, False),
        (7, True, False),
        (8, True, False),
        (9, False, False),  # the console, though newer: D002 reads on Telegram
    ]


# --- the running channel's status ------------------------------------------------------------------------------


async def test_channel_status_is_created_then_changed_field_by_field(db: Database) -> None:
    first = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    async with db.transaction() as session:
        assert await channel_status.read(session, channel="wechat") is None
        await channel_status.record(session, channel="wechat", now=first, state="starting")
    async with db.transaction() as session:
        await channel_status.record(
            session, channel="wechat", now=first + timedelta(minutes=1), state="logged_out", qr_url="https://qr/1"
        )
    login = first + timedelta(minutes=2)
    async with db.transaction() as session:
        await channel_status.record(
            session, channel="wechat", now=login, state="logged_in", self_id="wxid_bot", login_at=login
        )
        await channel_status.record(session, channel="wechat", now=login + timedelta(seconds=5), last_event_at=login)
    async with db.transaction() as session:
        status = await channel_status.read(session, channel="wechat")
        other = await channel_status.read(session, channel="telegram")
    assert status is not None and other is None
    assert (status.state, status.self_id, status.qr_url) == ("logged_in", "wxid_bot", "https://qr/1")
    assert (status.login_at, status.last_event_at, status.down_since) == (login, login, None)
    assert status.updated_at == login + timedelta(seconds=5)
    with pytest.raises(ValueError):
        async with db.transaction() as session:
            await channel_status.record(session, channel="wechat", now=login, state="dancing")
