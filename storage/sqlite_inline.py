"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread: the `sqlite+inline` dialect.

SQLAlchemy's aiosqlite dialect runs every statement on a thread of its own and hands the result back through the
event loop: on two virtual cores that hop cost about a millisecond, while the statements themselves take
microseconds (one indexed SELECT: 1.4 ms through aiosqlite, 45 µs through the same SQLAlchemy without the hop).
This dialect is SQLAlchemy's own pysqlite dialect, marked as usable by the asyncio engine: the engine runs its
sync code in a greenlet, where sqlite3 is simply called. There is no adapter between them that would hand every
cursor call back to the event loop and take it up again.

What that costs: a statement blocks the event loop while it runs. Ours are short (indexed, or a scan of one
district's households in milliseconds). The one wait that could be long, for another process's write lock, never
blocks: connections have no busy timeout and `storage.db` retries BEGIN IMMEDIATE with an asyncio sleep.
"""

from __future__ import annotations

import sqlite3
from typing import Any, cast

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.engine.interfaces import ConnectArgsType
from sqlalchemy.exc import OperationalError
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "inline"


class InlineCursor:
    """sqlite3's cursor as the asyncio engine's results expect it: they soft-close it when a result is handed
    to async code, which for sqlite3 (rows fetched on demand, on this thread) has nothing to do."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, statement: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._cursor.execute(statement, parameters)

    def executemany(self, statement: str, parameters: Any) -> sqlite3.Cursor:
        return self._cursor.executemany(statement, parameters)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._cursor.connection

    async def _async_soft_close(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:  # description, rowcount, lastrowid, arraysize
        return getattr(self._cursor, name)


class InlineConnection:
    """sqlite3's connection, handing out InlineCursors."""

    __slots__ = ("driver",)

    def __init__(self, driver: sqlite3.Connection) -> None:
        self.driver = driver

    def cursor(self) -> InlineCursor:
        return InlineCursor(self.driver.cursor())

    def commit(self) -> None:
        self.driver.commit()

    def rollback(self) -> None:
        self.driver.rollback()

    def close(self) -> None:
        self.driver.close()

    @property
    def isolation_level(self) -> Any:
        return self.driver.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:  # SQLAlchemy's AUTOCOMMIT sets it
        self.driver.isolation_level = value

    def __getattr__(self, name: str) -> Any:  # create_function, in_transaction
        return getattr(self.driver, name)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True  # its work runs inside the asyncio engine's greenlets, never blocking on a thread
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        return InlineConnection(cast(sqlite3.Connection, super().connect(*args, **kwargs)))

    def get_driver_connection(self, connection: Any) -> sqlite3.Connection:
        return connection.driver  # type: ignore[no-any-return]

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        args, options = super().create_connect_args(url)
        # No busy timeout: a lock held by another process is waited for by the caller, asleep, not in here.
        # isolation_level None: sqlite3 begins no transaction by itself; storage.db's "begin" listener does.
        # check_same_thread off: the pool may close a connection from the garbage collector.
        options.update(timeout=0, isolation_level=None, check_same_thread=False)
        return args, options

    # Before each statement: SQLAlchemy's AsyncConnection refuses a statement that awaited nothing (the sign of a
    # sync driver used by mistake). This driver is sync on purpose, so each statement awaits a coroutine that is
    # done at once: two greenlet switches, without a turn of the event loop. And a statement of a transaction
    # SQLite rolled back by itself would run, and commit, on its own: it is refused.
    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _before(cursor, context)
        cursor.execute(statement, parameters)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _before(cursor, context)
        cursor.executemany(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        _before(cursor, context)
        cursor.execute(statement)

    # Savepoints are SQLite statements of their own, run straight on the driver's connection: through the whole
    # execution of a compiled statement each pair cost 100 µs, and a batch of events takes two per event.
    def do_savepoint(self, connection: Connection, name: str) -> None:
        execute_plain(connection, f'SAVEPOINT "{name}"', in_transaction=True)

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        execute_plain(connection, f'ROLLBACK TO SAVEPOINT "{name}"', in_transaction=True)

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        execute_plain(connection, f'RELEASE SAVEPOINT "{name}"', in_transaction=True)

    def do_commit(self, dbapi_connection: Any) -> None:
        # Every transaction here begins with BEGIN (storage.db), so at its end SQLite must still be in it. If it is
        # not, SQLite rolled it back by itself (a full disk, an I/O error), and what ran since then was committed
        # statement by statement: saying "committed" would hide that the transaction's first part is gone.
        if not dbapi_connection.driver.in_transaction:
            raise sqlite3.OperationalError(TRANSACTION_LOST)
        dbapi_connection.commit()

    # The pool closes a connection it gives up on (one the garbage collector found, say) with this.
    has_terminate = True

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()


async def _done() -> None:
    return None


def _before(cursor: InlineCursor, context: Any) -> None:
    if context is not None and context.root_connection.in_transaction() and not cursor.connection.in_transaction:
        raise sqlite3.OperationalError(TRANSACTION_LOST)
    if in_greenlet():  # always, under the asyncio engine; a sync engine (a script, a test) has nothing to await
        await_(_done())


TRANSACTION_LOST = "SQLite rolled the transaction back by itself (a full disk, an I/O error)"


def execute_plain(connection: Connection, statement: str, *, in_transaction: bool) -> None:
    """Run a statement without parameters or results (BEGIN, SAVEPOINT) straight on the driver's connection, its
    errors turned into SQLAlchemy's as for any other statement. `in_transaction`: whether SQLite must be in a
    transaction already; a savepoint after SQLite rolled the transaction back by itself would start a new one
    and commit what follows bit by bit, so it is refused."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    try:
        if driver.in_transaction != in_transaction:
            raise sqlite3.OperationalError(TRANSACTION_LOST if in_transaction else "a transaction is open already")
        driver.execute(statement)
    except sqlite3.Error as error:
        raise OperationalError(statement, None, error) from error


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")
