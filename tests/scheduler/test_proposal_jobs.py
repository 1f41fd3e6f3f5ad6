"""Proposals as the scheduler handles them: the daily sweep, one chase the working day after a missed deadline, one
escalation to leaders five working days later, answers left unevaluated closed, and the co-signing invitation's
reminder; each sent once however many ticks and restarts, under a controlled clock."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduler import proposals as proposal_jobs
from scheduler.engine import Engine
from storage.db import Database
from storage.models import DueItem
from storage.records import proposals, schedule
from storage.settings import Settings
from tests.factories import NOW
from tests.storage.records.test_cases import Told, World, at, outbox_mark, told
from tests.storage.records.test_proposals import (
    accept,
    answer,
    assigned,
    build_proposal_world,
    draft,
    load,
    render,
    step,
)


@pytest.fixture
async def world(db: Database, settings: Settings) -> World:
    """Proposals answered within three working days, so that a deadline falls within the week, as cases' do."""
    quick = [kind.model_copy(update={"answer_working_days": 3}) for kind in settings.proposals.kinds]
    fast = settings.model_copy(update={"proposals": settings.proposals.model_copy(update={"kinds": quick})})
    return await build_proposal_world(db, fast)


@pytest.fixture(autouse=True)
def keyed_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notices keep their catalog key beside the words, so the tests tell them apart whatever the words."""
    monkeypatch.setattr(proposal_jobs, "render", render)


def engine(world: World) -> Engine:
    """The proposals' jobs alone: the other series would speak up on these days too."""
    return Engine(world.db, world.settings, jobs=proposal_jobs.JOBS, starters=proposal_jobs.STARTERS)


async def items(world: World, prefix: str) -> list[tuple[str, str, str]]:
    async with world.db.read() as session:
        found = await schedule.items_with_prefix(session, prefix=prefix)
    return [(item.key, item.state, item.reason) for item in found]


async def test_the_sweep_starts_at_the_next_working_morning_and_plans_the_next_one(world: World) -> None:
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 10))  # Wednesday, after 09:00: tomorrow's sweep
    await running.run_due(at(date(2026, 11, 26), 9))
    await running.run_due(at(date(2026, 11, 27), 9))  # Friday's plans Monday's
    assert await items(world, "proposals-sweep") == [
        ("proposals-sweep:2026-11-26", "sent", ""),
        ("proposals-sweep:2026-11-27", "sent", ""),
        ("proposals-sweep:2026-11-30", "pending", ""),
    ]


async def test_an_overdue_proposal_is_chased_and_escalated_once_each_through_downtime(world: World) -> None:
    late = await assigned(world)  # due Monday 30 November, 区城管局's
    done = await answer(world, await assigned(world))
    assert late.due_on == date(2026, 11, 30) == done.due_on
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 10))
    mark = await outbox_mark(world)
    for day in (date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30)):
        await running.run_due(at(day, 9))
    assert await told(world, mark) == []  # due on the 30th: not late yet

    # Down from Monday evening to Wednesday 11:00: Tuesday's sweep runs late, once, and chases it.
    await running.run_due(at(date(2026, 12, 2), 11))
    assert await told(world, mark) == [Told("office", "proposal.notify.chased"), Told("城管", "proposal.notify.chased")]
    assert (await load(world, late)).chased_at == at(date(2026, 12, 2), 11)
    assert await items(world, "proposal-chase:") == [(f"proposal-chase:{late.number}:2026-11-30", "sent", "")]
    mark = await outbox_mark(world)
    for moment in (at(date(2026, 12, 2), 12), at(date(2026, 12, 3), 9), at(date(2026, 12, 4), 9)):
        await running.run_due(moment)
    assert await told(world, mark) == []  # chased once: nothing more until the escalation

    await running.run_due(at(date(2026, 12, 7), 9))  # five working days after the deadline
    assert await told(world, mark) == [
        Told("leader", "proposal.notify.escalated"),
        Told("office", "proposal.notify.escalated"),
    ]
    await running.run_due(at(date(2026, 12, 8), 9))
    assert len(await told(world, mark)) == 2
    assert await items(world, "proposal-escalate:") == [(f"proposal-escalate:{late.number}:2026-11-30", "sent", "")]


async def test_a_chase_is_skipped_when_the_proposal_was_answered_meanwhile(world: World) -> None:
    proposal = await assigned(world)
    running = engine(world)
    async with world.db.transaction() as session:  # the sweep of 1 December plans the chase ...
        ctx = running.context(session, at(date(2026, 12, 1), 9))
        await proposal_jobs.sweep(ctx, DueItem(key="proposals-sweep:manual", kind=proposal_jobs.SWEEP, due_at=ctx.now))
        await schedule.plan(session, items=ctx.planned, now=ctx.now)
    await answer(world, proposal, now=at(date(2026, 12, 1), 8))  # ... and the department answers before it goes
    mark = await outbox_mark(world)
    await running.run_due(at(date(2026, 12, 1), 9))
    assert await told(world, mark) == []
    assert await items(world, "proposal-chase:") == [
        (f"proposal-chase:{proposal.number}:2026-11-30", "skipped", "proposal_moved")
    ]


async def test_the_sweep_closes_answers_left_unevaluated(world: World) -> None:
    proposal = await answer(world, await assigned(world), now=at(date(2026, 11, 25), 11))
    running = engine(world)
    await running.run_due(at(date(2026, 11, 25), 12))
    await running.run_due(at(date(2026, 12, 10), 9))  # fifteen days less two hours: not yet
    assert (await load(world, proposal)).state == proposals.ANSWERED
    await running.run_due(at(date(2026, 12, 11), 9))
    closed = await load(world, proposal)
    assert (closed.state, closed.closed_at) == (proposals.CLOSED, at(date(2026, 12, 11), 9))


async def test_a_renewed_invitation_is_reminded_once_by_its_own_reminder(world: World) -> None:
    proposal = await draft(world, cosigners=("D002",))
    await step(world, "D002", proposals.cosign, proposal, accept=False)
    running = engine(world)
    renewed = NOW + timedelta(hours=2)  # the same day
    await step(world, "D001", proposals.invite, proposal, cosigners=[world.rep("D002")], now=renewed)
    mark = await outbox_mark(world)
    await running.run_due(NOW + timedelta(days=3, minutes=5))  # the first invitation's reminder: it was renewed
    assert await told(world, mark) == []
    await running.run_due(renewed + timedelta(days=3, minutes=5))
    assert await told(world, mark) == [Told("D002", "proposal.notify.invite_reminder")]


async def test_an_unanswered_invitation_is_reminded_once(world: World) -> None:
    proposal = await draft(world, cosigners=("D002", "D003"))
    await accept(world, proposal, "D003")  # answered: no reminder
    running = engine(world)
    mark = await outbox_mark(world)
    await running.run_due(NOW + timedelta(days=2, hours=23))
    assert await told(world, mark) == []
    await running.run_due(NOW + timedelta(days=3, minutes=5))
    assert await told(world, mark) == [Told("D002", "proposal.notify.invite_reminder")]
    await running.run_due(NOW + timedelta(days=4))
    assert len(await told(world, mark)) == 1
    prefix = f"proposal-invite:{proposal.number}"
    assert sorted(await items(world, "proposal-invite:")) == sorted(
        [
            (f"{prefix}:{world.rep('D002')}:20261125T020000", "sent", ""),
            (f"{prefix}:{world.rep('D003')}:20261125T020000", "skipped", "invitation_answered"),
        ]
    )
