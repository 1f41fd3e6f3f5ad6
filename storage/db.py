"""The database: engine set-up for SQLite and PostgreSQL, transactions, and schema upgrades."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_inline
from storage.errors import LianxinError, StoreError, redacted_traceback

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "lianxin_read_only"
# session.info key: once the transaction commits, truncate SQLite's write-ahead log, whose old pages still hold
# what the transaction deleted for privacy (storage.records.relay).
TRUNCATE_LOG = "lianxin.truncate_log"
LOCK_WAIT_SECONDS = 30.0  # how long a writer waits for another process to release SQLite's write lock


def sqlite_url(path: str | Path) -> str:
    return f"sqlite+{sqlite_inline.DRIVER}:///{Path(path).expanduser().resolve()}"


def normalise_url(url: str) -> str:
    """Accept the plain driver names people paste and pick the async drivers this project ships."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        parsed = parsed.set(drivername=f"sqlite+{sqlite_inline.DRIVER}")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


async def execute(session: AsyncSession, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
    """Run a Core statement in the session's transaction (no ORM objects are made, and none are flushed first):
    for the statements that run for every message, where the ORM's bookkeeping would cost more than the work."""
    result = await session.exec(statement, params=parameters)  # type: ignore[call-overload]
    return cast(CursorResult[Any], result)


def insert_of(dialect: str) -> Any:
    """The INSERT of a dialect (by name), which has ON CONFLICT (SQLite and PostgreSQL both)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT of the session's dialect, which has ON CONFLICT (SQLite and PostgreSQL both)."""
    return insert_of(session.get_bind().dialect.name)


# SQLite's primary result codes for a file that is not a database, and for one whose pages are damaged.
SQLITE_NOTADB, SQLITE_CORRUPT = 26, 11
# PostgreSQL's SQLSTATEs of a connection that failed or was cut: class 08 (connection exception), and the server
# shutting down or starting up (57P01-57P03). A connection that never opened (refused, wrong password) has none.
POSTGRES_GONE = ("08", "57P01", "57P02", "57P03")


class DatabaseDamaged(StoreError):
    """The SQLite file is not a database, or it is damaged: nothing can be done with it until it is replaced."""

    def __init__(self, file: str) -> None:
        super().__init__("error.store")
        self.file = file


class DatabaseUnreachable(StoreError):
    """The PostgreSQL server cannot be reached, or refused the connection. Names host and port, never more of the
    URL: it may hold the password."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__("error.store")
        self.host = host
        self.port = port


class Database:
    """One engine and its sessions. Every unit of work runs in `transaction()`: all of it commits or none."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"hide_parameters": True}  # SQL parameters carry personal data: never log them
        if not self.is_sqlite:
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite lets one writer in at a time. Queueing this process's transactions here lets each one start the
        # moment the previous one ends; another process's writer is waited for in `_begin_immediate`.
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction; commits on success, rolls back on any error.

        SQLAlchemy errors become StoreError so that callers never see the driver's exceptions.
        """
        try:
            async with self._session() as session, self._one_writer():
                async with session.begin():
                    yield session
                if session.info.pop(TRUNCATE_LOG, False) and self.is_sqlite:
                    await self._truncate_log()
        except LianxinError:
            raise
        except SQLAlchemyError as error:
            raise self._failed(error, "database error, transaction rolled back") from error

    async def _truncate_log(self) -> None:
        """Checkpoint the write-ahead log and truncate it, outside any transaction, while this process's writers
        wait (best effort: another process's reader keeps the log for now, and a later checkpoint overwrites it)."""
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if isinstance(driver, sqlite3.Connection) and not driver.in_transaction:
                try:
                    driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                except sqlite3.Error as error:
                    log.warning("could not truncate the write-ahead log (%s)", type(error).__name__)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads, from one snapshot: on SQLite (WAL) it neither waits for the writer nor
        holds it up; on PostgreSQL it is REPEATABLE READ, so that an export's several queries agree."""
        options: dict[str, Any] = {READ_ONLY: True}
        if not self.is_sqlite:
            options["isolation_level"] = "REPEATABLE READ"
        try:
            async with self._session() as session, session.begin():
                await session.connection(execution_options=options)
                yield session
        except SQLAlchemyError as error:
            raise self._failed(error, "database error in a read") from error

    @property
    def file(self) -> Path | None:
        """The SQLite database file; None for PostgreSQL and for an in-memory database."""
        name = make_url(self.url).database if self.is_sqlite else None
        return Path(name) if name and name != ":memory:" else None

    def _unavailable(self, error: SQLAlchemyError) -> StoreError | None:
        """The database as a whole cannot be used (a damaged SQLite file, a PostgreSQL server out of reach), or
        None when `error` is about one statement or transaction."""
        original = error.orig if isinstance(error, DBAPIError) else None
        if original is None:
            return None
        if self.is_sqlite:
            code = getattr(original, "sqlite_errorcode", 0) & 0xFF  # extended codes carry the primary in the low byte
            return DatabaseDamaged(str(self.file or self.url)) if code in (SQLITE_NOTADB, SQLITE_CORRUPT) else None
        state = getattr(original, "sqlstate", None)
        if isinstance(error, OperationalError) and (state is None or state.startswith(POSTGRES_GONE)):
            url = make_url(self.url)
            return DatabaseUnreachable(url.host or "localhost", url.port or 5432)
        return None

    def _failed(self, error: SQLAlchemyError, what: str) -> StoreError:
        """The StoreError to raise for `error`, logged. A database that cannot be used at all gets one line: its
        traceback would say nothing more, and a command line shows the person what to check instead."""
        problem = self._unavailable(error)
        if problem is None:
            log.error("%s: %s", what, redacted_traceback(error))
            return StoreError("error.store")
        log.warning("%s: the database cannot be used (%s)", what, type(problem).__name__)
        return problem

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session, closed on the way out. SQLAlchemy's `async with session` closes it in a task of its own,
        shielded from cancellation, because closing talks to the server and must not stop halfway. SQLite's close
        runs inline (sqlite_inline) and cannot be interrupted, so it is closed directly: the task cost three turns
        of the event loop per transaction, and under load every turn is milliseconds long."""
        if not self.is_sqlite:
            async with self._sessions() as session:
                yield session
            return
        session = self._sessions()
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def _one_writer(self) -> AsyncIterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        async with self._sqlite_writer:
            yield

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty database).

        A schema already up to date is only read, so that a command that reads (an export, `lianxin outbox`)
        neither waits for SQLite's write lock nor holds up the bot's writes. Raises DatabaseDamaged or
        DatabaseUnreachable, without logging, when the database cannot be used at all: this is where every command
        meets the database first, and the person at the terminal is told what to check.
        """
        try:
            async with self.engine.connect() as connection:
                await connection.execution_options(**{READ_ONLY: True})
                async with connection.begin():
                    if await connection.run_sync(_is_current):
                        return
            async with self.engine.begin() as connection:
                await connection.run_sync(_run_migrations)
        except SQLAlchemyError as error:
            problem = self._unavailable(error)
            if problem is None:
                log.error("database upgrade failed: %s", redacted_traceback(error))
                raise StoreError("error.store") from error
            raise problem from error

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver leaves transactions alone (isolation_level None, see sqlite_inline), so that "begin" below
        # decides how each one starts.
        cursor = dbapi_connection.cursor()
        # Switching to (or confirming) WAL needs a lock that another process holds for a moment while its last
        # connection checkpoints on closing: two CLI commands started together meet it.
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten, not left in free pages: what is deleted for privacy (an anonymous
        # writer's trail, purged events and messages) is gone from the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails with "database is locked" when another
        # writer got there first, busy_timeout or not. Taking the write lock up front makes writers queue.
        # Only `Database.read()` transactions, which never write, begin deferred and run beside the writer.
        if connection.get_execution_options().get(READ_ONLY, False):
            _begin_reading(connection)
        else:
            _begin_immediate(connection)


def _begin_reading(connection: Connection) -> None:
    """Begin a read and take its snapshot at once. A reader is refused ("database is locked") in the moment another
    process's last connection checkpoints and resets the write-ahead log on closing: then it tries again."""

    def attempt() -> None:
        sqlite_inline.execute_plain(connection, "BEGIN", in_transaction=False)
        try:
            sqlite_inline.execute_plain(connection, "PRAGMA schema_version", in_transaction=True)  # reads: a snapshot
        except OperationalError:
            sqlite_inline.execute_plain(connection, "ROLLBACK", in_transaction=True)
            raise

    _while_locked(attempt)


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock. Within this process `Database.transaction` already lets one writer in at a time;
    another process may hold the lock for a while (a roster import)."""
    _while_locked(lambda: sqlite_inline.execute_plain(connection, "BEGIN IMMEDIATE", in_transaction=False))


def _while_locked(attempt: Callable[[], object]) -> None:
    """Run `attempt` until SQLite stops refusing it with "database is locked", for up to LOCK_WAIT_SECONDS.
    Connections have no busy timeout (see sqlite_inline): the wait is an asyncio sleep between tries, so that the
    event loop, which runs SQLite's calls itself, goes on meanwhile."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = 0.002
    while True:
        try:
            attempt()
            return
        except (OperationalError, sqlite3.OperationalError) as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, 0.1)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # alembic (and mako with it) is loaded only when the schema must change

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


REVISION = re.compile(r'^(down_revision|revision): str(?: \| None)? = "([^"]+)"', re.MULTILINE)


@cache
def newest_revisions() -> frozenset[str]:
    """The migrations' heads, read from their files: every command starts by checking the schema, and loading
    alembic to answer "is it current?" cost more than a second of start-up."""
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for kind, revision in REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if kind == "revision" else replaced).add(revision)
    return frozenset(revisions - replaced)


def _is_current(connection: Connection) -> bool:
    if not sa.inspect(connection).has_table("alembic_version"):
        return False
    applied = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
    return set(applied) == newest_revisions()


def _run_migrations(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
