"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL when LIANXIN_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

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
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await database.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The store under test: PostgreSQL when configured (emptied first), else a fresh SQLite file."""
    return POSTGRES_URL or sqlite_url(tmp_path / "test.db")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    if POSTGRES_URL:
        await reset_postgres(POSTGRES_URL)
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()
