"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL when LIANXIN_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import Database, sqlite_url
from storage.settings import Settings, load_settings

POSTGRES_URL = os.environ.get("LIANXIN_TEST_DATABASE_URL")
# A test that runs every due job may send a leader the weekly digest, whose chart and spreadsheet are written under
# digest.files_dir: here a temporary folder, not the working directory (the processes tests start inherit it).
os.environ.setdefault("LIANXIN_DIGEST__FILES_DIR", tempfile.mkdtemp(prefix="lianxin-digests-"))
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set LIANXIN_TEST_DATABASE_URL to a PostgreSQL database to run this test"
)


async def reset_postgres(url: str) -> None:
    """No schema at all: for tests of the migrations themselves, and of commands that create the schema."""
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await database.dispose()


async def empty_postgres(url: str) -> None:
    """The newest schema with no rows and every id counting from 1 again. Migrating anew for every test (some fifty
    tables with their indexes, each created with a sync to disk) costs far more than the test itself, and so does
    TRUNCATE (a new file per table): the schema is migrated once, and again only after a test that dropped or
    downgraded it, and its few rows are deleted before each test (foreign keys unchecked meanwhile, which the
    superuser the tests connect as may ask)."""
    database = Database(url)
    try:
        await database.upgrade()
        async with database.engine.begin() as connection:
            found = await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            stray = set(found.scalars()) - set(SQLModel.metadata.tables) - {"alembic_version"}
            for name in sorted(stray):  # a table a test made for itself
                await connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
            await connection.execute(text(EMPTY_POSTGRES))
    finally:
        await database.dispose()


EMPTY_POSTGRES = """
DO $$
DECLARE found record;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOR found IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('DELETE FROM %I', found.tablename);
    END LOOP;
    FOR found IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
        EXECUTE format('ALTER SEQUENCE %I RESTART', found.sequencename);
    END LOOP;
END $$
"""


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the newest schema, made once per run; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"

    async def migrate() -> None:
        database = Database(sqlite_url(path))
        await database.upgrade()
        await database.dispose()

    asyncio.run(migrate())
    assert not path.with_name(path.name + "-wal").exists(), (
        "the write-ahead log is folded in when the last connection closes"
    )
    return path


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The store under test: PostgreSQL when configured, else a new SQLite file (neither has a schema yet: the db
    fixture brings it)."""
    return POSTGRES_URL or sqlite_url(tmp_path / "test.db")


@pytest.fixture
async def db(database_url: str, tmp_path: Path, migrated_sqlite: Path) -> AsyncIterator[Database]:
    """The store under test with the newest schema and no rows."""
    if POSTGRES_URL:
        await empty_postgres(POSTGRES_URL)
    else:
        shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
    database = Database(database_url)
    await database.upgrade()  # only reads: the schema is the newest already
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()
