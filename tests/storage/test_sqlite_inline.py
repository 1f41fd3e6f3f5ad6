"""What the `sqlite+inline` dialect takes from SQLAlchemy's insides, which a minor release may move or change.

storage/sqlite_inline.py uses `sqlalchemy.util.concurrency.await_` and `in_greenlet`, and marks a sync driver as
`is_async` so that `create_async_engine` takes it; storage/db.py waits for SQLite's lock with
`sqlalchemy.util.await_only`. pyproject.toml keeps SQLAlchemy below the next minor release; when it is raised and
one of these tests fails, its message says what moved. (A name gone altogether already stops the suite at
import, with an ImportError that names it: storage.sqlite_inline imports it.)
"""

from __future__ import annotations

import asyncio
import importlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from packaging.requirements import Requirement
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage import sqlite_inline
from storage.db import Database, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
WHY = (
    "storage/sqlite_inline.py (and storage/db.py) rely on it: adapt them to SQLAlchemy {version}, or keep "
    "sqlalchemy below this release in pyproject.toml."
)


def test_sqlalchemy_is_kept_below_the_next_minor_release() -> None:
    """A minor release may change the internals below, so the project says which releases it was checked with."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [requirement] = [Requirement(line) for line in project["dependencies"] if Requirement(line).name == "sqlalchemy"]
    assert any(spec.operator == "<" for spec in requirement.specifier), requirement
    assert requirement.specifier.contains(sa.__version__), (requirement, sa.__version__)


def internal(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pytest.fail(f"{module}.{name} is gone. " + WHY.format(version=sa.__version__))


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sqlalchemy.util.concurrency", "await_"),
        ("sqlalchemy.util.concurrency", "in_greenlet"),
        ("sqlalchemy.util", "await_only"),
    ],
)
def test_the_internals_the_dialect_uses_are_there(module: str, name: str) -> None:
    assert callable(internal(module, name)), f"{module}.{name} is no longer a function. " + WHY.format(
        version=sa.__version__
    )


async def test_create_async_engine_takes_the_inline_dialect(tmp_path: Path) -> None:
    try:
        engine = create_async_engine(sqlite_url(tmp_path / "inline.db"))
    except sa.exc.InvalidRequestError as refused:
        pytest.fail(
            f"create_async_engine refuses sqlite+inline ({refused}): it no longer goes by the dialect's `is_async` "
            "attribute. " + WHY.format(version=sa.__version__)
        )
    try:
        # Statements need storage.db's "begin" listener (the driver begins no transaction): run by the test below.
        assert isinstance(engine.dialect, sqlite_inline.SQLiteDialect_inline)
        assert engine.dialect.is_async is True
    finally:
        await engine.dispose()


async def test_statements_run_in_a_greenlet_that_can_await(tmp_path: Path) -> None:
    """`in_greenlet` tells the asyncio engine's greenlets from plain code, and `await_` runs a coroutine from a
    statement's sync code: every statement of the dialect, and the wait for SQLite's lock, depend on both."""
    await_ = internal("sqlalchemy.util.concurrency", "await_")
    in_greenlet = internal("sqlalchemy.util.concurrency", "in_greenlet")
    await_only = internal("sqlalchemy.util", "await_only")
    database = Database(sqlite_url(tmp_path / "inline.db"))
    seen: list[bool] = []
    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", lambda *_args: seen.append(in_greenlet()))

    def sync_code(_connection: Connection) -> tuple[bool, int, int]:
        return in_greenlet(), await_(asyncio.sleep(0, result=1)), await_only(asyncio.sleep(0, result=2))

    try:
        assert in_greenlet() is False, "in_greenlet() is True outside the engine. " + WHY.format(version=sa.__version__)
        async with database.transaction() as session:
            connection = await session.connection()
            assert (await connection.execute(sa.select(sa.literal(1)))).scalar() == 1
            inside = await connection.run_sync(sync_code)
        assert seen and all(seen), "in_greenlet() is False inside a statement. " + WHY.format(version=sa.__version__)
        assert inside == (True, 1, 2), "await_ does not run a coroutine from sync code. " + WHY.format(
            version=sa.__version__
        )
    finally:
        await database.dispose()
