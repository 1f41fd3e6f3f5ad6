"""SQLite run on the event loop's own thread, behind SQLAlchemy's asyncio engine.

aiosqlite runs every statement on a thread of its own and hands the result back through the event loop: on two
virtual cores that hop costs about a millisecond, while the statements themselves take microseconds (one indexed
SELECT: 1.4 ms through aiosqlite, 45 µs through the same SQLAlchemy without the hop). A dialog step runs ten
statements, so the hops were most of the bot's time. These classes have aiosqlite's interface, which SQLAlchemy's
aiosqlite dialect drives, but call sqlite3 directly.

What that costs: a statement blocks the event loop while it runs. Ours are short (indexed, or a scan of one
district's households in milliseconds). The one wait that could be long, for another process's write lock, never
blocks: connections have no busy timeout and `storage.db` retries BEGIN IMMEDIATE with an asyncio sleep.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row


class _RunNow:
    """SQLAlchemy sets a connection's isolation level by putting (future, function) on aiosqlite's queue for its
    thread; here there is no thread, so the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # SQLAlchemy looks here to see it is open
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connector(path: str) -> Callable[[], Any]:
    """The `async_creator` for an engine on the SQLite file at `path`."""

    async def connect() -> InlineConnection:
        # No busy timeout: a lock held by another process is waited for by the caller, asleep, not in here.
        # check_same_thread is off because the pool may close a connection from the garbage collector.
        connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        return InlineConnection(connection)

    return connect
