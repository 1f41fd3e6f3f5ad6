"""One running bot per SQLite file: a second bot on the same file is refused before it starts anything; once the
first has stopped, a new one starts. PostgreSQL's workers share the queues and take no such lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.instance_lock import AlreadyRunning, InstanceLock
from bot.runtime import TelegramBot
from storage.db import Database
from storage.settings import Settings
from tests.bot.telegram_harness import running_bot
from tests.conftest import POSTGRES_URL, needs_postgres

sqlite_only = pytest.mark.skipif(bool(POSTGRES_URL), reason="the lock is SQLite's: PostgreSQL workers share leases")


def test_the_lock_is_held_by_one_at_a_time_and_free_once_released(tmp_path: Path) -> None:
    database = tmp_path / "lianxin.db"
    first, second = InstanceLock(database), InstanceLock(database)
    first.acquire()
    assert first.path == tmp_path / "lianxin.db.lock"
    with pytest.raises(AlreadyRunning) as refused:
        second.acquire()  # flock: two open() calls conflict even within one process
    assert refused.value.database == database and not second.held
    first.release()
    second.acquire()
    assert second.held
    second.release()
    assert second.path.exists()  # the file stays: deleting it would let two processes hold two different locks


@sqlite_only
async def test_a_second_bot_on_the_same_file_is_refused_until_the_first_stops(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    other = Database(db.url)  # what a second `lianxin run` process opens
    try:
        async with running_bot(db, settings, tmp_path / "first") as telegram:
            second = TelegramBot(telegram.bot.settings, other, telegram.server.token)
            with pytest.raises(AlreadyRunning):
                await second.start()
            assert second._tasks == []  # no dispatcher, no sender: it sent nothing and handled nothing
            assert second.instance_lock is not None and not second.instance_lock.held
            assert telegram.bot.instance_lock is not None and telegram.bot.instance_lock.held
        assert not telegram.bot.instance_lock.held  # released on stop
        async with running_bot(other, settings, tmp_path / "next") as telegram:
            assert telegram.bot.instance_lock is not None and telegram.bot.instance_lock.held
    finally:
        await other.dispose()


@needs_postgres
async def test_bots_on_postgresql_take_no_lock(db: Database, settings: Settings, tmp_path: Path) -> None:
    other = Database(db.url)
    try:
        async with running_bot(db, settings, tmp_path / "first") as telegram:
            second = TelegramBot(telegram.bot.settings, other, telegram.server.token)
            assert second.instance_lock is None and telegram.bot.instance_lock is None
            await second.start()  # several workers share PostgreSQL through leases
            await second.stop()
    finally:
        await other.dispose()
