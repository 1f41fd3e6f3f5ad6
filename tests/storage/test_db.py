"""The database: SQLite set-up (WAL, foreign keys, BEGIN IMMEDIATE), all-or-nothing transactions, no driver errors."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

import storage.db
from storage.db import Database, DatabaseDamaged, DatabaseUnreachable, normalise_url, sqlite_url
from storage.errors import Conflict, StoreError
from storage.models import Area, Station
from tests.conftest import POSTGRES_URL, needs_postgres

sqlite_only = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="SQLite set-up: LIANXIN_TEST_DATABASE_URL points the suite at PostgreSQL"
)

# A counter outside SQLModel.metadata, so that the migration tests never see it.
COUNTER = sa.Table(
    "test_counter",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)
WORKERS = 20


async def station_names(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.exec(select(Station.name).order_by(Station.name))).all())


@pytest.fixture
async def counter(db: Database) -> AsyncIterator[Database]:
    async with db.engine.begin() as connection:
        await connection.run_sync(COUNTER.create)
        await connection.execute(sa.insert(COUNTER).values(id=1, value=0))
    yield db


async def bump(db: Database, *, lock: bool) -> None:
    """Read the counter, let the other workers run, write it back plus one: a classic lost-update race."""
    async with db.transaction() as session:
        query = select(COUNTER.c.value).where(COUNTER.c.id == 1)
        if lock:
            query = query.with_for_update()
        value = (await session.exec(query)).one()
        await asyncio.sleep(0.01)
        await session.exec(sa.update(COUNTER).where(COUNTER.c.id == 1).values(value=value + 1))


async def counter_value(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(COUNTER.c.value).where(COUNTER.c.id == 1))).one())


# --- SQLite ---------------------------------------------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),  # readers do not block the writer
        ("foreign_keys", 1),
        ("busy_timeout", 0),  # a writer waits for the lock asleep, not inside SQLite (storage.db)
        ("synchronous", 1),  # NORMAL: safe with WAL, far fewer fsyncs
    ],
)
async def test_sqlite_pragmas(db: Database, pragma: str, expected: object) -> None:
    async with db.engine.connect() as connection:
        assert (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar() == expected


@sqlite_only
async def test_sqlite_read_then_write_transactions_queue(counter: Database) -> None:
    """Without BEGIN IMMEDIATE, a transaction that read before another committed fails with "database is locked"."""
    await asyncio.gather(*(bump(counter, lock=False) for _ in range(WORKERS)))
    assert await counter_value(counter) == WORKERS


@sqlite_only
async def test_sqlite_two_processes_on_one_file(counter: Database) -> None:
    """Two Database objects, two pools: what two bot processes sharing one SQLite file look like."""
    other = Database(counter.url)
    try:
        await asyncio.gather(*(bump(counter if n % 2 else other, lock=False) for n in range(WORKERS)))
    finally:
        await other.dispose()
    assert await counter_value(counter) == WORKERS


@sqlite_only
async def test_sqlite_statements_run_on_the_event_loop_thread(db: Database) -> None:
    """No thread hop per statement (storage.sqlite_inline): a statement runs where it is awaited."""
    seen: list[int] = []

    def note(*_args: object) -> None:
        seen.append(threading.get_ident())

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    async with db.transaction() as session:
        await session.exec(select(Station.id))
    assert seen and set(seen) == {threading.get_ident()}


@sqlite_only
async def test_sqlite_writer_waits_for_another_process_without_blocking_the_loop(db: Database) -> None:
    """Another process holds the write lock: our writer waits asleep, the event loop goes on, then it commits."""
    path = sa.engine.make_url(db.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker = asyncio.create_task(tick())
    releaser = asyncio.create_task(release_later())
    try:
        async with db.transaction() as session:
            session.add(Station(name="幸福社区党代表工作站"))
    finally:
        ticker.cancel()
        await releaser
        other.close()
    assert ticks >= 10  # the loop ran all along the 0.3 s wait
    assert await station_names(db) == ["幸福社区党代表工作站"]


@sqlite_only
async def test_sqlite_reader_waits_while_another_process_resets_the_log(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader is refused ("database is locked") in the moment another process's last connection checkpoints and
    resets the write-ahead log on closing (seen when two `lianxin` commands start at once): it tries again, asleep,
    instead of failing the command."""
    async with db.transaction() as session:
        session.add(Station(name="幸福社区党代表工作站"))
    refusals = 2
    plain = storage.sqlite_inline.execute_plain

    def sometimes_locked(connection: Any, statement: str, *, in_transaction: bool) -> None:
        nonlocal refusals
        if statement == "PRAGMA schema_version" and refusals:
            refusals -= 1
            error = sqlite3.OperationalError("database is locked")
            raise sa.exc.OperationalError(statement, None, error)
        plain(connection, statement, in_transaction=in_transaction)

    monkeypatch.setattr(storage.sqlite_inline, "execute_plain", sometimes_locked)
    async with db.read() as session:
        names = (await session.exec(select(Station.name))).all()
    assert names == ["幸福社区党代表工作站"] and refusals == 0


@sqlite_only
async def test_sqlite_connection_waits_for_the_lock_it_needs_to_turn_on_wal(tmp_path: Path) -> None:
    """Turning the write-ahead log on takes a lock another process may hold (a writer on a fresh file, or the moment
    its last connection checkpoints on closing, seen when two `lianxin` commands start at once): the new connection
    waits for it instead of failing the command."""
    path = tmp_path / "fresh.db"
    other = sqlite3.connect(path, isolation_level=None)  # a rollback journal, as a file not yet opened by us has
    other.execute("CREATE TABLE elsewhere (id INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO elsewhere VALUES (1)")

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    db = Database(sqlite_url(path))
    releaser = asyncio.create_task(release_later())
    try:
        await db.upgrade()
        async with db.transaction() as session:
            session.add(Station(name="幸福社区党代表工作站"))
            assert (await storage.db.execute(session, sa.text("PRAGMA journal_mode"))).one()[0] == "wal"
    finally:
        await releaser
        other.close()
        await db.dispose()
    assert await station_names(Database(sqlite_url(path))) == ["幸福社区党代表工作站"]


@sqlite_only
async def test_sqlite_writer_gives_up_after_the_lock_wait(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.db, "LOCK_WAIT_SECONDS", 0.2)
    path = sa.engine.make_url(db.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError):
            async with db.transaction() as session:
                session.add(Station(name="幸福社区党代表工作站"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await station_names(db) == []


@sqlite_only
async def test_upgrade_only_reads_a_schema_that_is_up_to_date(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command upgrades first: a read-only one (an export, `lianxin outbox`) must not wait for the writer."""
    monkeypatch.setattr(storage.db, "LOCK_WAIT_SECONDS", 0.2)
    path = sa.engine.make_url(db.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await db.upgrade()
        async with db.read() as session:
            assert (await session.exec(select(Station.name))).all() == []
    finally:
        other.execute("ROLLBACK")
        other.close()


# --- PostgreSQL -----------------------------------------------------------------------------------------------


@needs_postgres
async def test_postgres_read_then_write_with_for_update(counter: Database) -> None:
    await asyncio.gather(*(bump(counter, lock=True) for _ in range(WORKERS)))
    assert await counter_value(counter) == WORKERS


@needs_postgres
async def test_postgres_two_workers_with_for_update(counter: Database) -> None:
    other = Database(counter.url)
    try:
        await asyncio.gather(*(bump(counter if n % 2 else other, lock=True) for n in range(WORKERS)))
    finally:
        await other.dispose()
    assert await counter_value(counter) == WORKERS


@needs_postgres
async def test_postgres_pool_settings(db: Database) -> None:
    assert not db.is_sqlite
    assert db.engine.dialect.driver == "psycopg"
    assert db.engine.pool.size() == 10  # type: ignore[attr-defined]


# --- both stores ----------------------------------------------------------------------------------------------


async def test_commit_keeps_everything(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Station(name="幸福社区党代表工作站"))
        session.add(Station(name="东山村党代表工作站"))
    assert await station_names(db) == ["东山村党代表工作站", "幸福社区党代表工作站"]


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(StoreError) as raised:
        async with db.transaction() as session:
            session.add(Station(name="幸福社区党代表工作站"))
            await session.flush()
            session.add(Area(name="幸福社区一区", station_id=999_999))
    assert raised.value.key == "error.store"
    assert not isinstance(raised.value, SQLAlchemyError)
    assert await station_names(db) == []  # the station written before the failure is gone too
    async with db.transaction() as session:
        assert (await session.exec(select(Area))).all() == []


@pytest.mark.parametrize(
    "error",
    [ValueError("boom"), Conflict("invite.used"), StoreError("error.store")],
    ids=["unexpected", "expected", "store"],
)
async def test_a_failing_transaction_writes_nothing(db: Database, error: Exception) -> None:
    async with db.transaction() as session:
        session.add(Station(name="已有的工作站"))
    with pytest.raises(type(error)) as raised:
        async with db.transaction() as session:
            session.add(Station(name="写了一半的工作站"))
            await session.flush()  # the row really reached the database before the error
            raise error
    assert raised.value is error  # propagates unchanged, not wrapped
    assert await station_names(db) == ["已有的工作站"]


async def test_integrity_error_becomes_store_error(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Station(name="幸福社区党代表工作站", address="幸福路1号"))
    with pytest.raises(StoreError) as raised:
        async with db.transaction() as session:
            session.add(Station(name="另一个工作站"))
            session.add(Station(name="幸福社区党代表工作站", address="别处"))
    assert raised.value.key == "error.store"
    assert raised.value.params == {}  # nothing of the failed statement (personal data) travels with it
    assert not isinstance(raised.value, SQLAlchemyError)
    assert isinstance(raised.value.__cause__, sa.exc.IntegrityError)  # kept for the log, never shown
    assert type(raised.value) is StoreError  # the statement failed, not the database
    assert await station_names(db) == ["幸福社区党代表工作站"]


async def test_store_error_inside_the_block_from_a_statement(db: Database) -> None:
    """An error raised by an explicit statement in the block (not at commit) is translated the same way."""
    with pytest.raises(StoreError):
        async with db.transaction() as session:
            await (await session.connection()).execute(sa.text("SELECT * FROM no_such_table"))


async def test_a_savepoint_undoes_only_what_was_done_inside_it(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Station(name="保留站"))
        with pytest.raises(Conflict):
            async with session.begin_nested():
                session.add(Station(name="撤销站"))
                await session.flush()
                raise Conflict("error.conflict")
        async with session.begin_nested():
            session.add(Station(name="嵌套后站"))
    assert await station_names(db) == ["保留站", "嵌套后站"]


@sqlite_only
async def test_a_transaction_sqlite_rolled_back_by_itself_commits_nothing(db: Database) -> None:
    """A full disk makes SQLite roll the whole transaction back by itself. Even a caller that swallows the error
    and goes on writing commits nothing: the savepoint, the statements and the commit after it are refused."""
    async with db.transaction() as session:
        session.add(Station(name="旧站"))
    with pytest.raises(StoreError):
        async with db.transaction() as session:
            session.add(Station(name="新站"))
            await session.flush()
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            assert driver is not None
            pages = driver.execute("PRAGMA page_count").fetchone()[0]
            driver.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is full
            with pytest.raises(SQLAlchemyError):
                async with session.begin_nested():
                    for number in range(100):  # until the pages free in the file (dropped tables') are used up
                        session.add(Area(name=f"{number}" + "x" * 5000, station_id=1))
                        await session.flush()
            driver.execute("PRAGMA max_page_count = 1073741823")  # room again, too late for this transaction
            session.add(Station(name="之后的站"))
    assert await station_names(db) == ["旧站"]


async def test_database_stays_usable_after_a_failed_transaction(db: Database) -> None:
    for _ in range(3):
        with pytest.raises(StoreError):
            async with db.transaction() as session:
                session.add(Area(name="孤儿区", station_id=424242))
    async with db.transaction() as session:
        session.add(Station(name="幸福社区党代表工作站"))
    assert await station_names(db) == ["幸福社区党代表工作站"]


# --- a database that cannot be used at all -------------------------------------------------------------------


def damaged_copy(path: Path, tmp_path: Path) -> Path:
    """A copy of an SQLite file whose pages after the first are overwritten: the header is fine, the rest is not."""
    copy = tmp_path / "damaged.db"
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    copy.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("kind", ["not a database", "damaged"])
async def test_an_unusable_sqlite_file_is_named_with_one_line_of_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    if kind == "not a database":
        path = tmp_path / "garbage.db"
        path.write_bytes(bytes(range(256)) * 64)
    else:
        healthy = Database(sqlite_url(tmp_path / "healthy.db"))
        await healthy.upgrade()
        await healthy.dispose()
        path = damaged_copy(tmp_path / "healthy.db", tmp_path)
    database = Database(sqlite_url(path))
    caplog.set_level(logging.INFO)
    try:
        with pytest.raises(DatabaseDamaged) as raised:
            await database.upgrade()
        assert raised.value.file == str(path.resolve())
        assert raised.value.key == "error.store"  # a chat that meets it gets the usual apology
        assert caplog.records == []  # upgrade is where commands meet the database first: they tell the person
        with pytest.raises(DatabaseDamaged):
            async with database.transaction() as session:
                await session.exec(select(Station.name))
        with pytest.raises(DatabaseDamaged):
            async with database.read() as session:
                await session.exec(select(Station.name))
    finally:
        await database.dispose()
    # A running bot's log says so in one line each time, without a traceback that would say nothing more.
    assert [(record.levelno, record.exc_info) for record in caplog.records] == [(logging.WARNING, None)] * 2
    assert "Traceback" not in caplog.text and "File " not in caplog.text


async def test_an_unreachable_postgresql_is_named_by_host_and_port_only(caplog: pytest.LogCaptureFixture) -> None:
    database = Database("postgresql+psycopg://lianxin:secretpw@127.0.0.1:1/lianxin")  # nothing listens on port 1
    caplog.set_level(logging.INFO)
    try:
        with pytest.raises(DatabaseUnreachable) as raised:
            await database.upgrade()
        assert (raised.value.host, raised.value.port) == ("127.0.0.1", 1)
        assert caplog.records == []
        with pytest.raises(DatabaseUnreachable):
            async with database.transaction() as session:
                await session.exec(select(Station.name))
    finally:
        await database.dispose()
    assert "secretpw" not in caplog.text and "Traceback" not in caplog.text
    assert "secretpw" not in str(raised.value) + repr(vars(raised.value))


PG = "lianxin@db.example/lianxin"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///lianxin.db", "sqlite+inline:///lianxin.db"),
        ("sqlite:////var/lib/lianxin/lianxin.db", "sqlite+inline:////var/lib/lianxin/lianxin.db"),
        ("sqlite+pysqlite:///lianxin.db", "sqlite+inline:///lianxin.db"),
        ("sqlite+aiosqlite:///lianxin.db", "sqlite+inline:///lianxin.db"),
        ("sqlite+inline:///lianxin.db", "sqlite+inline:///lianxin.db"),
        (f"postgres://{PG}", f"postgresql+psycopg://{PG}"),
        (f"postgresql://{PG}", f"postgresql+psycopg://{PG}"),
        (f"postgresql+psycopg2://{PG}", f"postgresql+psycopg://{PG}"),
        (f"postgresql+psycopg://{PG}?sslmode=require", f"postgresql+psycopg://{PG}?sslmode=require"),
        # the password survives (hide_password=False), still escaped
        (
            "postgresql://lianxin:p%40ss@db.example:5432/lianxin",
            "postgresql+psycopg://lianxin:p%40ss@db.example:5432/lianxin",
        ),
    ],
)
def test_normalise_url(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_sqlite_url_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_url("lianxin.db") == f"sqlite+inline:///{tmp_path.resolve()}/lianxin.db"


@pytest.mark.parametrize(
    ("url", "is_sqlite"),
    [("sqlite:///lianxin.db", True), ("postgres://lianxin@db.example/lianxin", False)],
)
async def test_database_knows_its_store(url: str, is_sqlite: bool) -> None:
    database = Database(url)
    try:
        assert database.is_sqlite is is_sqlite
        assert database.url == normalise_url(url)
    finally:
        await database.dispose()


async def test_a_read_sees_one_snapshot(db: Database) -> None:
    """An export's several queries must agree with each other: PostgreSQL reads at REPEATABLE READ (SQLite's read
    transaction is one snapshot by itself)."""
    if db.is_sqlite:
        pytest.skip("SQLite: a read transaction is one snapshot of the write-ahead log by nature")
    async with db.read() as session:
        level = (await session.exec(sa.text("SHOW transaction_isolation"))).one()  # type: ignore[call-overload]
    assert level[0] == "repeatable read"
