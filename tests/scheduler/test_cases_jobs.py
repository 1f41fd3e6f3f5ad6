"""Cases past their deadline as the scheduler handles them: the daily sweep, one chase the day after a missed
deadline, one escalation to leaders five working days later, each sent once however many ticks and restarts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from scheduler import cases as case_jobs
from scheduler.engine import Engine
from storage.db import Database
from storage.models import DueItem
from storage.records import cases, schedule
from storage.settings import Settings
from tests.storage.records.test_cases import (
    Told,
    World,
    answer,
    at,
    build_world,
    load,
    outbox_mark,
    render,
    submit,
    told,
)


@pytest.fixture
async def world(db: Database, settings: Settings) -> World:
    return await build_world(db, settings)


@pytest.fixture(autouse=True)
def keyed_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notices keep their catalog key beside the words, so the tests tell them apart whatever the words."""
    monkeypatch.setattr(case_jobs, "render", render)


def engine(world: World) -> Engine:
    """The cases' jobs alone: the monthly reminders and the digest would speak up on these days too."""
    return Engine(world.db, world.settings, jobs=case_jobs.JOBS, starters=case_jobs.STARTERS)


async def items(world: World, prefix: str) -> list[tuple[str, str, str]]:
    async with world.db.read() as session:
        found = await schedule.items_with_prefix(session, prefix=prefix)
    return [(item.key, item.state, item.reason) for item in found]


async def test_the_sweep_starts_at_the_next_working_morning_and_plans_the_next_one(world: World) -> None:
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 10))  # Wednesday, after 09:00: tomorrow's sweep
    await running.run_due(at(date(2026, 11, 25), 11))
    assert await items(world, "cases-sweep") == [("cases-sweep:2026-11-26", "pending", "")]
    await running.run_due(at(date(2026, 11, 26), 9))
    await running.run_due(at(date(2026, 11, 27), 9))  # Friday's plans Monday's
    assert await items(world, "cases-sweep") == [
        ("cases-sweep:2026-11-26", "sent", ""),
        ("cases-sweep:2026-11-27", "sent", ""),
        ("cases-sweep:2026-11-30", "pending", ""),
    ]


async def test_overdue_cases_are_chased_and_escalated_once_each_through_downtime(world: World) -> None:
    owned = await submit(world)  # due Monday 30 November, 区城管局's
    unowned = await submit(world, category="other")  # due the same day, nobody's yet
    done = await submit(world)
    await answer(world, done)
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 10))
    mark = await outbox_mark(world)
    for day in (date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30)):
        await running.run_due(at(day, 9))
    assert await told(world, mark) == []  # due on the 30th: not late yet

    # Down from Monday evening to Wednesday 11:00: Tuesday's sweep runs late, once, and chases both.
    await running.run_due(at(date(2026, 12, 2), 11))
    assert await told(world, mark) == [Told("office", "case.notify.chased"), Told("城管", "case.notify.chased")]
    assert (await load(world, owned)).chased_at == at(date(2026, 12, 2), 11)
    assert await items(world, "chase:") == [
        (f"chase:{owned.number}:2026-11-30", "sent", ""),
        (f"chase:{unowned.number}:2026-11-30", "sent", ""),
    ]
    mark = await outbox_mark(world)
    for moment in (at(date(2026, 12, 2), 12), at(date(2026, 12, 3), 9), at(date(2026, 12, 4), 9)):
        await running.run_due(moment)
    assert await told(world, mark) == []  # chased once: nothing more until the escalation

    await running.run_due(at(date(2026, 12, 7), 9))  # five working days after the deadline
    assert await told(world, mark) == sorted(
        [Told("leader", "case.notify.escalated"), Told("office", "case.notify.escalated")] * 2
    )
    await running.run_due(at(date(2026, 12, 8), 9))
    assert len(await told(world, mark)) == 4
    assert [key for key, _, _ in await items(world, "escalate:")] == [
        f"escalate:{owned.number}:2026-11-30",
        f"escalate:{unowned.number}:2026-11-30",
    ]


async def test_a_chase_is_skipped_when_the_case_was_answered_or_chased_by_hand_meanwhile(world: World) -> None:
    answered_meanwhile = await submit(world)
    chased_by_hand = await submit(world)
    running = engine(world)
    # The sweep of 1 December plans the chases; before they go out, one case is answered, the other chased by hand.
    async with world.db.transaction() as session:
        ctx = running.context(session, at(date(2026, 12, 1), 9))
        await case_jobs.sweep(ctx, DueItem(key="cases-sweep:manual", kind=case_jobs.SWEEP, due_at=ctx.now))
        await schedule.plan(session, items=ctx.planned, now=ctx.now)
    await answer(world, answered_meanwhile, now=at(date(2026, 12, 1), 8))
    async with world.db.transaction() as session:
        due = await cases.overdue(session, settings=world.settings, calendar=world.calendar, today=date(2026, 12, 1))
        by_hand = [item for item in due if item.case.id == chased_by_hand.id]
        await cases.send_overdue(
            session, items=by_hand, settings=world.settings, now=at(date(2026, 12, 1), 8), render=render
        )
    mark = await outbox_mark(world)
    await running.run_due(at(date(2026, 12, 1), 9))
    assert await told(world, mark) == []
    assert sorted(await items(world, "chase:")) == sorted(
        [
            (f"chase:{answered_meanwhile.number}:2026-11-30", "skipped", "answered_meanwhile"),
            (f"chase:{chased_by_hand.number}:2026-11-30", "skipped", "already_sent"),
        ]
    )


async def test_the_sweep_closes_answers_left_unrated(world: World) -> None:
    case = await submit(world)
    await answer(world, case, now=at(date(2026, 11, 25), 11))
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 12))
    await running.run_due(at(date(2026, 12, 2), 9))  # seven days less an hour and more: not yet
    assert (await load(world, case)).state == cases.ANSWERED
    await running.run_due(at(date(2026, 12, 3), 9))
    closed = await load(world, case)
    assert (closed.state, closed.closed_at) == (cases.CLOSED, at(date(2026, 12, 3), 9))


async def test_an_emergency_is_chased_in_quiet_hours(world: World) -> None:
    emergency = await submit(world, category="safety")  # the same working day; 区应急管理局 has nobody bound
    assert emergency.due_on == date(2026, 11, 25)
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 10))
    async with world.db.transaction() as session:
        ctx = running.context(session, datetime(2026, 11, 26, 14, 0, tzinfo=UTC))  # 22:00 local
        await case_jobs.sweep(ctx, DueItem(key="cases-sweep:manual", kind=case_jobs.SWEEP, due_at=ctx.now))
        await schedule.plan(session, items=ctx.planned, now=ctx.now)
    mark = await outbox_mark(world)
    await running.run_due(datetime(2026, 11, 26, 14, 1, tzinfo=UTC))
    assert await told(world, mark) == [Told("office", "case.notify.chased")]
    async with world.db.read() as session:
        chase = (await session.exec(select(DueItem).where(col(DueItem.key).startswith("chase:")))).one()
    assert chase.urgent and chase.done_at == datetime(2026, 11, 26, 14, 1, tzinfo=UTC)
    assert chase.due_at + timedelta(hours=world.settings.scheduler.lateness_hours("cases")) == chase.expires_at
