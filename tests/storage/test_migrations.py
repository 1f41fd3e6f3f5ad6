"""Migrations: they build the whole schema on an empty database, can run again, and match the SQLModel tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel, col, select

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import Database, alembic_config, newest_revisions
from storage.models import HOUSEHOLD_SEARCH, Case, CaseCounter, CaseEvent, CaseRelay, ChatIdentity, Station, modelled
from tests.conftest import POSTGRES_URL, reset_postgres

TABLES = set(SQLModel.metadata.tables)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def table_names(connection: Connection) -> set[str]:
    """The tables with a model (the household search index's FTS5 tables have none; see the test for them)."""
    return {name for name in sa.inspect(connection).get_table_names() if modelled(name, "table", None)}


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def migrate_to(revision: str) -> Any:
    """What run_sync needs to upgrade a connection's database to `revision`."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return upgrade


def schema_diff(connection: Connection) -> list[Any]:
    options = {"compare_type": True, "compare_server_default": True, "include_name": modelled}
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, SQLModel.metadata))


@pytest.fixture
async def empty_db(database_url: str) -> AsyncIterator[Database]:
    """A database with no tables at all: a fresh SQLite file, or the PostgreSQL test database emptied."""
    if POSTGRES_URL:
        await reset_postgres(POSTGRES_URL)
    database = Database(database_url)
    yield database
    await database.dispose()


def test_the_newest_revision_is_read_from_the_files_as_alembic_reads_it() -> None:
    """Every command checks the schema without loading alembic (storage.db.newest_revisions)."""
    assert newest_revisions() == frozenset({head_revision()})


def test_the_models_define_the_expected_tables() -> None:
    """Guards the tests below: an import that registers no tables would make every comparison vacuous."""
    assert {"station", "area", "representative", "household", "visit", "chat_identity", "invitation"} <= TABLES
    assert "alembic_version" not in TABLES


async def test_upgrade_creates_every_table_on_an_empty_database(empty_db: Database) -> None:
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(table_names) == set()
    await empty_db.upgrade()
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(table_names) == TABLES | {"alembic_version"}
        assert await connection.run_sync(current_revision) == head_revision()


async def test_upgrade_twice_is_harmless(empty_db: Database) -> None:
    await empty_db.upgrade()
    async with empty_db.transaction() as session:
        session.add(Station(name="幸福社区党代表工作站"))
    await empty_db.upgrade()
    async with empty_db.transaction() as session:
        names = (await session.exec(select(Station.name))).all()
    assert names == ["幸福社区党代表工作站"]
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        assert await connection.run_sync(schema_diff) == []


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(schema_diff)
    assert diff == []


async def test_the_comparison_notices_a_difference(db: Database) -> None:
    """The comparison is not blind: a table the migrations do not know about shows up in the diff."""
    async with db.engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
        diff = await connection.run_sync(schema_diff)
    assert [change[1].name for change in diff if change[0] == "remove_table"] == ["stray"]


async def test_sqlite_has_the_household_search_index_and_its_triggers(db: Database) -> None:
    """A batch migration that recreates `household` would drop the triggers that keep the index in step."""
    if not db.is_sqlite:
        pytest.skip("the trigram index is SQLite's (PostgreSQL searches with LIKE in the server)")
    async with db.engine.connect() as connection:
        rows = await connection.execute(sa.text("SELECT type, name, tbl_name FROM sqlite_master"))
        schema = {(kind, name, table) for kind, name, table in rows}
    assert ("table", HOUSEHOLD_SEARCH, HOUSEHOLD_SEARCH) in schema
    for trigger in ("insert", "update", "delete"):
        assert ("trigger", f"{HOUSEHOLD_SEARCH}_{trigger}", "household") in schema


async def test_downgrade_to_base_and_back(db: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "base")

    async with db.engine.begin() as connection:
        await connection.run_sync(downgrade)
    async with db.engine.connect() as connection:
        assert set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())) <= {"alembic_version"}
    await db.upgrade()
    async with db.engine.connect() as connection:
        assert await connection.run_sync(table_names) == TABLES | {"alembic_version"}
        assert await connection.run_sync(schema_diff) == []


async def test_0004_moves_anonymous_writers_to_the_relay_and_unbinds_representatives_out_of_office(
    empty_db: Database,
) -> None:
    """A database as 0003 left it: an anonymous item still naming its writer, the writer's chat trail, an audit row
    naming them, and a chat still bound to a representative the roster had taken out of office."""

    async with empty_db.engine.begin() as connection:
        await connection.run_sync(migrate_to("0003"))
        for statement in (
            "INSERT INTO representative (id, code, name, level, group_role, phone, unit, active, updated_at) VALUES "
            "(1, 'D001', '王建国', 'district', 'member', '', '', true, '2026-11-01 00:00:00'),"
            "(2, 'D002', '李红梅', 'district', 'member', '', '', false, '2026-11-01 00:00:00')",
            "INSERT INTO chat_identity (id, channel, external_id, role, representative_id, created_at) VALUES "
            "(1, 'telegram', '501', 'resident', NULL, '2026-11-01 00:00:00'),"
            "(2, 'telegram', '502', 'representative', 2, '2026-11-01 00:00:00')",
            "INSERT INTO mailbox_item (id, representative_id, identity_id, anonymous, name, phone, text, status,"
            " created_at) VALUES (1, 1, 1, true, '', '', '楼道灯坏了三个月', 'new', '2026-11-02 00:00:00')",
            "INSERT INTO inbox (id, channel, event_key, chat_key, payload, status, attempts, error, received_at,"
            " next_attempt_at) VALUES (1, 'telegram', '1:1', '501', '{\"text\": \"陈小红\"}', 'done', 0, '',"
            " '2026-11-02 00:00:00', '2026-11-02 00:00:00')",
            "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, detail) VALUES "
            "(1, '2026-11-02 00:00:00', 'identity:1', 'mailbox.submit', 'mailbox_item', '1', '{}')",
            "INSERT INTO dialog_state (channel, chat_id, user_id, flow, step, draft, history, choices, updated_at)"
            " VALUES ('telegram', '502', '502', 'visit', 'mode', '{}', '[]', '[]', '2026-11-02 00:00:00')",
        ):
            await connection.execute(sa.text(statement))
    async with empty_db.engine.begin() as connection:  # 0005 turns mailbox items into cases: see its own test
        await connection.run_sync(migrate_to("0004"))
    async with empty_db.engine.connect() as connection:

        async def one(query: str) -> Any:
            return (await connection.execute(sa.text(query))).one()

        assert await connection.run_sync(current_revision) == "0004"
        assert await one("SELECT identity_id FROM mailbox_item") == (None,)
        assert await one("SELECT item_id, identity_id FROM mailbox_relay") == (1, 1)
        assert await one("SELECT actor FROM audit_log") == ("anonymous",)
        assert await one("SELECT count(*) FROM inbox") == (0,)  # the writer's trail is gone
        assert await one("SELECT role, representative_id FROM chat_identity WHERE id = 2") == ("resident", None)
        assert await one("SELECT count(*) FROM dialog_state") == (0,)


MAILBOX_AT_0004 = (
    "INSERT INTO station (id, name, kind, address, reception_day) VALUES"
    " (1, '幸福社区党代表工作站', 'community', '', '')",
    "INSERT INTO area (id, name, station_id) VALUES"
    " (1, '幸福社区一区', 1), (2, '幸福社区二区', 1), (3, '东山村一组', 1)",
    "INSERT INTO representative (id, code, name, level, group_role, phone, unit, active, updated_at) VALUES "
    "(1, 'D001', '王建国', 'district', 'member', '', '', true, '2026-11-01 00:00:00'),"
    "(2, 'D002', '李红梅', 'district', 'member', '', '', true, '2026-11-01 00:00:00')",
    # D001 serves areas 3 and 2 (its first is 2), D002 area 1.
    "INSERT INTO rep_area (representative_id, area_id) VALUES (1, 3), (1, 2), (2, 1)",
    "INSERT INTO chat_identity (id, channel, external_id, role, representative_id, created_at) VALUES "
    "(1, 'telegram', '501', 'resident', NULL, '2026-11-01 00:00:00'),"
    "(2, 'telegram', '502', 'resident', NULL, '2026-11-01 00:00:00')",
    "INSERT INTO mailbox_link (token, representative_id, created_at, revoked_at) VALUES"
    " ('card-d001', 1, '2026-11-01 00:00:00', NULL)",
    # A named letter through D001's card (a Monday), an anonymous one to D002 (a Friday), its writer in the relay.
    "INSERT INTO mailbox_item (id, representative_id, identity_id, anonymous, name, phone, text, status, created_at,"
    " link_token) VALUES"
    " (1, 1, 1, false, '陈小红', '13912345678', '楼道灯坏了三个月', 'new', '2026-11-02 01:30:00', 'card-d001'),"
    " (2, 2, NULL, true, '', '', '垃圾站夜里太吵', 'new', '2026-11-06 08:00:00', NULL)",
    "INSERT INTO mailbox_relay (item_id, identity_id) VALUES (2, 2)",
)


async def test_0005_turns_mailbox_items_into_registered_cases(empty_db: Database) -> None:
    async with empty_db.engine.begin() as connection:
        await connection.run_sync(migrate_to("0004"))
        for statement in MAILBOX_AT_0004:
            await connection.execute(sa.text(statement))
    await empty_db.upgrade()
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        tables = await connection.run_sync(table_names)
        assert not tables & {"mailbox_item", "mailbox_relay"}
        assert await connection.run_sync(schema_diff) == []
    async with empty_db.transaction() as session:
        named, anonymous = (await session.exec(select(Case).order_by(col(Case.id)))).all()
        events = (await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()
        relays = (await session.exec(select(CaseRelay))).all()
        counters = (await session.exec(select(CaseCounter))).all()
        writers = (await session.exec(select(ChatIdentity.area_id))).all()
    assert named.id is not None and anonymous.id is not None and named.id < anonymous.id
    for case in (named, anonymous):
        assert (case.category, case.time_limit, case.state, case.reported, case.department) == (
            "other",
            "help",
            "registered",
            False,
            "",
        )
        assert case.kept_by is None and case.answered_at is None and case.closed_at is None
    assert (named.number, named.source, named.link_token, named.representative_id, named.area_id) == (
        "LX-2026-000001",
        "card",
        "card-d001",
        1,
        2,
    )
    assert (named.identity_id, named.anonymous, named.name, named.phone, named.consent) == (
        1,
        False,
        "陈小红",
        "13912345678",
        True,
    )
    assert (named.text, named.registered_at, named.due_on) == (
        "楼道灯坏了三个月",
        datetime(2026, 11, 2, 1, 30, tzinfo=UTC),
        date(2026, 11, 5),  # three working days after a Monday
    )
    assert (anonymous.number, anonymous.source, anonymous.link_token, anonymous.representative_id) == (
        "LX-2026-000002",
        "mailbox",
        None,
        2,
    )
    assert (anonymous.area_id, anonymous.text) == (1, "垃圾站夜里太吵")
    assert (anonymous.identity_id, anonymous.anonymous, anonymous.name, anonymous.phone, anonymous.consent) == (
        None,
        True,
        "",
        "",
        False,
    )
    assert (anonymous.registered_at, anonymous.due_on) == (
        datetime(2026, 11, 6, 8, 0, tzinfo=UTC),
        date(2026, 11, 11),  # a Friday's: the weekend does not count
    )
    # Only the relay knows who wrote the anonymous one; its registration names no one.
    assert [(relay.case_id, relay.identity_id, relay.writer) for relay in relays] == [(anonymous.id, 2, True)]
    assert [(event.case_id, event.action, event.actor, event.at) for event in events] == [
        (named.id, "registered", "identity:1", named.registered_at),
        (anonymous.id, "registered", "anonymous", anonymous.registered_at),
    ]
    assert all(event.note == "" and event.detail == {} and not event.to_resident for event in events)
    assert [(counter.year, counter.last) for counter in counters] == [(2026, 2)]
    assert writers == [None, None]  # no resident's area is known yet


async def test_0005_refuses_to_downgrade_while_cases_exist(empty_db: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0004")

    async with empty_db.engine.begin() as connection:
        await connection.run_sync(migrate_to("0004"))
        for statement in MAILBOX_AT_0004:
            await connection.execute(sa.text(statement))
    await empty_db.upgrade()
    with pytest.raises(RuntimeError, match="2 cases exist"):
        async with empty_db.engine.begin() as connection:
            await connection.run_sync(downgrade)
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        assert (await connection.execute(sa.text("SELECT count(*) FROM case_file"))).one() == (2,)


async def test_0005_downgrades_without_cases_and_upgrades_again(db: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0004")

    async with db.engine.begin() as connection:
        await connection.run_sync(downgrade)
    async with db.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == "0004"
        tables = await connection.run_sync(table_names)
        columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("chat_identity"))
    assert {"mailbox_item", "mailbox_relay"} <= tables
    assert not tables & {"case_file", "case_event", "case_attachment", "case_relay", "case_counter"}
    # SQLite keeps the unused column: dropping it would rebuild chat_identity, which the rows referring to it forbid.
    assert ("area_id" in {column["name"] for column in columns}) == (db.engine.dialect.name == "sqlite")
    await db.upgrade()
    async with db.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        assert await connection.run_sync(table_names) == TABLES | {"alembic_version"}
        assert await connection.run_sync(schema_diff) == []
