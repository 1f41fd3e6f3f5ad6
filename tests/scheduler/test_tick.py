"""The scheduler as it runs: APScheduler's real tick in this process (a stalled loop delays a tick but loses
none), `lianxin schedule`, and on PostgreSQL two `lianxin scheduler` processes: one leads, 1,000 reminders go out
once each, and when the leader is killed the other takes over within a minute."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from scheduler import jobs
from scheduler.engine import Engine
from scheduler.notices import notice_item
from scheduler.tick import Scheduler
from storage.db import Database
from storage.models import ChatIdentity, DueItem, OutboxMessage, utcnow
from storage.records import schedule
from storage.settings import Settings
from tests.bot.test_cli import ROOT, child_environment, lianxin, shown
from tests.conftest import POSTGRES_URL

MESSAGE = "access.unbound"


async def people(db: Database, count: int, prefix: str = "resident") -> list[int]:
    async with db.transaction() as session:
        made = [ChatIdentity(channel="console", external_id=f"{prefix}:{number}") for number in range(count)]
        session.add_all(made)
        await session.flush()
        return [person.id or 0 for person in made]


async def plan_notices(db: Database, ids: list[int], *, due_at: datetime, prefix: str = "notice") -> None:
    async with db.transaction() as session:
        await schedule.plan(
            session,
            items=[
                notice_item(key=f"{prefix}:{person}", identity_id=person, message=MESSAGE, due_at=due_at, urgent=True)
                for person in ids
            ],
            now=due_at,
        )


async def states(db: Database) -> dict[str, int]:
    async with db.read() as session:
        counted = await session.exec(select(DueItem.state, func.count()).group_by(col(DueItem.state)))
        return {str(state): int(count) for state, count in counted.all()}


async def wait_for(condition: object, seconds: float) -> float:
    """Poll an async condition until it holds; returns how long it took (fails after `seconds`)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await condition():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"not done within {seconds} s")


def ticking(settings: Settings, seconds: int) -> Settings:
    return settings.model_copy(update={"scheduler": settings.scheduler.model_copy(update={"tick_seconds": seconds})})


async def test_the_tick_sends_what_is_due_and_tells_the_sender(db: Database, settings: Settings) -> None:
    (person,) = await people(db, 1)
    woken: list[bool] = []
    running = Scheduler(db, ticking(settings, 1), queued=lambda: woken.append(True))
    await plan_notices(db, [person], due_at=utcnow() - timedelta(minutes=5))
    running.start()
    try:

        async def sent() -> bool:
            return (await states(db)).get("sent", 0) == 1

        await wait_for(sent, 10)
        await plan_notices(db, [person], due_at=utcnow(), prefix="later")  # the next tick, a second later
        await wait_for(lambda: _count_sent(db, 2), 10)
        assert running.leadership.leading  # alone: it leads (on SQLite the one process always does)
    finally:
        await running.stop()
    assert woken, "the sender was not told that messages wait"
    assert not running.leadership.leading or db.is_sqlite  # stopped: the lock is given back


async def _count_sent(db: Database, count: int) -> bool:
    return (await states(db)).get("sent", 0) == count


async def test_a_stalled_event_loop_delays_the_tick_and_loses_nothing(db: Database, settings: Settings) -> None:
    """APScheduler 3 drops a run later than its misfire grace time (one second by default) and waits for the
    next: a loop held up past a tick must tick as soon as it is free, not a whole interval later."""
    (person,) = await people(db, 1)
    running = Scheduler(db, ticking(settings, 5))
    running.start()  # ticks at once, then every five seconds
    try:
        await asyncio.sleep(0.5)
        await plan_notices(db, [person], due_at=utcnow())
        time.sleep(6.5)  # noqa: ASYNC251 (the point: the event loop is stuck past the five-second tick)
        took = await wait_for(lambda: _count_sent(db, 1), 10)
    finally:
        await running.stop()
    assert took < 2.5, f"the missed tick was dropped: sent {took:.1f} s after the loop was free"


async def test_lianxin_schedule_shows_what_is_due_and_what_was_skipped_and_why(
    db: Database, database_url: str, settings: Settings
) -> None:
    now = utcnow()
    soon, useless = await people(db, 2)
    async with db.transaction() as session:
        await schedule.plan(
            session,
            items=[
                notice_item(key="notice:soon", identity_id=soon, message=MESSAGE, due_at=now + timedelta(hours=1)),
                notice_item(
                    key="notice:useless",
                    identity_id=useless,
                    message=MESSAGE,
                    due_at=now - timedelta(hours=3),
                    expires_at=now - timedelta(hours=2),
                ),
            ],
            now=now,
        )
    # Now is the wall clock's (the command lists against it): without quiet hours, whatever its hour, so that the
    # useless item is claimed and skipped rather than held for the morning.
    awake = settings.model_copy(update={"scheduler": settings.scheduler.model_copy(update={"quiet_hours": ""})})
    await Engine(db, awake, jobs=jobs.JOBS, starters=()).run_due(now)
    listed = await asyncio.to_thread(
        lianxin, "schedule", "--db", database_url, env={"LIANXIN_GENERAL__DEFAULT_LANGUAGE": "en"}
    )
    assert listed.returncode == 0, shown(listed)
    lines = listed.stdout.splitlines()
    assert lines[:2] == ["1 pending, 0 sent, 1 skipped, 0 failed.", "Due next (1):"]
    assert lines[2].split()[-2:] == ["notice", "notice:soon"]
    assert lines[3] == "Recently skipped or failed (1):"
    assert "  notice:useless  skipped: past the latest useful moment (" in lines[4]


# --- two processes on PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[str], Path]]]:
    started: list[tuple[subprocess.Popen[str], Path]] = []
    yield started
    for process, _ in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_scheduler(url: str, log: Path, started: list[tuple[subprocess.Popen[str], Path]]) -> subprocess.Popen[str]:
    env = child_environment() | {"LIANXIN_SCHEDULER__TICK_SECONDS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "scheduler", "--db", url],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        env=env,
        start_new_session=True,
    )
    started.append((process, log))
    return process


def leads(log: Path) -> bool:
    return "this instance leads" in log.read_text(encoding="utf-8")


@pytest.mark.skipif(not POSTGRES_URL, reason="set LIANXIN_TEST_DATABASE_URL: leadership is PostgreSQL's advisory lock")
async def test_two_schedulers_send_1000_reminders_once_and_the_second_takes_over_when_the_first_is_killed(
    db: Database, tmp_path: Path, schedulers: list[tuple[subprocess.Popen[str], Path]]
) -> None:
    assert POSTGRES_URL is not None
    first = start_scheduler(POSTGRES_URL, tmp_path / "first.log", schedulers)
    await wait_for(lambda: _true(leads(tmp_path / "first.log")), 30)
    second = start_scheduler(POSTGRES_URL, tmp_path / "second.log", schedulers)
    await asyncio.sleep(5)  # two of its ticks: it does not lead while the first lives
    assert not leads(tmp_path / "second.log")

    ids = await people(db, 1000)
    await plan_notices(db, ids, due_at=utcnow())
    await wait_for(lambda: _count_sent(db, 1000), 60)
    async with db.read() as session:
        per_chat = await session.exec(
            select(OutboxMessage.chat_key, func.count()).group_by(col(OutboxMessage.chat_key))
        )
        counts = dict(per_chat.all())
    assert len(counts) == 1000, "a reminder was missed"
    assert set(counts.values()) == {1}, "a reminder was sent twice"

    os.killpg(first.pid, signal.SIGKILL)  # no goodbye: its connection (and the lock with it) just drops
    first.wait(timeout=10)
    killed_at = time.monotonic()
    (late,) = await people(db, 1, prefix="after")
    await plan_notices(db, [late], due_at=utcnow(), prefix="after")
    await wait_for(lambda: _count_sent(db, 1001), 60)
    assert time.monotonic() - killed_at < 60
    assert leads(tmp_path / "second.log")
    assert second.poll() is None


async def _true(value: bool) -> bool:
    return value
