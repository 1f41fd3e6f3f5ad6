"""The demo district's proposals: every state, by many representatives, something for each role to see and do (an
invitation and an evaluation waiting for D001, a review queue for O01, 区住建局's assignments with one overdue for
B01, everything for L01), histories that tell the same story as the rows, and the same rows from the same seed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database, sqlite_url
from storage.exchange.demo import DEMO_REPRESENTATIVE, build_demo
from storage.models import DueItem, Proposal, ProposalEvent, ProposalSigner, Representative, Staff
from storage.policy import GroupRole, Role, Standing
from storage.records import proposals
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.storage.exchange.test_demo import TODAY, digest

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 on the demo's day, Shanghai
TABLES = ("proposal", "proposal_signer", "proposal_event", "proposal_counter")


@pytest.fixture
async def demo(db: Database, settings: Settings) -> Database:
    await build_demo(db, settings=settings, today=TODAY)
    return db


async def test_every_state_by_many_representatives(demo: Database) -> None:
    async with demo.read() as session:
        counts = await proposals.counts_by_state(session)
        rows = (await session.exec(select(Proposal).order_by(col(Proposal.id)))).all()
    assert all(counts[state] >= 1 for state in proposals.STATES), counts
    assert len({row.author_id for row in rows}) >= 8
    assert [row.number for row in rows] == [f"TA-2026-{n:04d}" for n in range(1, len(rows) + 1)]
    merged = next(row for row in rows if row.state == proposals.MERGED)
    target = next(row for row in rows if row.id == merged.merged_into)
    assert target.state == proposals.ESTABLISHED
    refused = next(row for row in rows if row.state == proposals.NOT_ESTABLISHED)
    assert refused.reason
    second = next(row for row in rows if row.evaluation == "dissatisfied")
    assert (second.state, second.answers, second.due_on is not None and second.due_on >= TODAY) == (
        proposals.ASSIGNED,
        1,
        True,
    )
    assert {row.evaluation for row in rows if row.state == proposals.CLOSED} == {"satisfied", "basic"}


async def test_each_role_has_something_to_see_and_do(demo: Database, settings: Settings) -> None:
    async with demo.read() as session:
        d001 = (await session.exec(select(Representative).where(Representative.code == DEMO_REPRESENTATIVE))).one()
        staff = {row.code: row for row in (await session.exec(select(Staff))).all()}
        representative = Standing(Role.REPRESENTATIVE, representative_id=d001.id, group_role=GroupRole.LEADER)
        office = Standing(Role.LIAISON, staff_id=staff["O01"].id)
        leader = Standing(Role.LEADER, staff_id=staff["L01"].id)
        department = Standing(Role.DEPARTMENT, staff_id=staff["B01"].id)
        assert staff["B01"].unit == "区住建局"

        mine = (await proposals.queue(session, standing=representative, limit=50)).proposals
        steps = set()
        for proposal in mine:
            record = await proposals.record_for(session, standing=representative, proposal=proposal)
            steps |= set(proposals.allowed_steps(representative, record, proposal))
        assert {"cosign", "decline", "evaluate", "invite", "withdraw"} <= steps

        queue = (await proposals.queue(session, standing=office, limit=50)).proposals
        assert queue[0].state == proposals.SUBMITTED and {p.state for p in queue} >= {"submitted", "established"}
        assert (await proposals.queue(session, standing=leader)).total >= len(queue)

        assigned = (await proposals.queue(session, standing=department, limit=50)).proposals
        assert assigned and all(p.department == "区住建局" for p in assigned)
        late = await proposals.overdue(session, settings=settings, calendar=calendar_of(settings), today=TODAY)
        assert [item.proposal.department for item in late] == ["区住建局"]

        waiting = (
            await session.exec(
                select(ProposalSigner).where(
                    ProposalSigner.representative_id == d001.id, ProposalSigner.status == proposals.INVITED
                )
            )
        ).all()
        reminders = (await session.exec(select(DueItem).where(DueItem.kind == proposals.INVITE_REMINDER))).all()
    assert len(waiting) == 1
    assert any(item.payload["representative_id"] == d001.id for item in reminders)


async def test_histories_match_the_rows(demo: Database, settings: Settings) -> None:
    async with demo.read() as session:
        rows = (await session.exec(select(Proposal))).all()
        for row in rows:
            assert row.id is not None
            actions = [event.action for event in await proposals.history(session, proposal_id=row.id)]
            assert actions[0] == "drafted"
            assert ("submitted" in actions) == (row.submitted_at is not None)
            assert ("answered" in actions) == (row.answers > 0)
            accepted = sum(
                link.status == proposals.ACCEPTED for link, _ in await proposals.signers(session, proposal_id=row.id)
            )
            if row.state not in (proposals.SIGNING, proposals.WITHDRAWN):
                assert accepted >= proposals.kind_of(settings, row.kind).min_cosigners, row.number
        events = (await session.exec(select(ProposalEvent))).all()
    assert all(event.at <= NOW for event in events)


async def test_same_seed_and_day_give_identical_rows(settings: Settings, tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        db = Database(sqlite_url(tmp_path / f"{name}.db"))
        await db.upgrade()
        await build_demo(db, settings=settings, today=TODAY)
        digests.append([await digest(db, table) for table in TABLES])
        await db.dispose()
    assert digests[0] == digests[1]
