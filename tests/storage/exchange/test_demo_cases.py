"""The demo district's cases: every state, the reference district's proportions, numbering, a coherent lifecycle,
something to see for the demo's people, and the same cases from the same seed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from storage.db import Database, sqlite_url
from storage.exchange.demo import DEMO_REPRESENTATIVE, DEPARTMENTS, build_demo
from storage.models import Case, CaseCounter, CaseEvent, Household, RepArea, Representative, Staff, Visit
from storage.policy import Role, Standing
from storage.records import cases
from storage.records.cases import (
    ANSWERED,
    ASSIGNED,
    CLOSED,
    HANDLED_STATES,
    IN_PROGRESS,
    OPEN_STATES,
    REGISTERED,
    SORTED,
    STATES,
    WITHDRAWN,
)
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.storage.exchange.test_demo import TODAY, digest

CASE_TABLES = ("case_file", "case_event", "case_counter")
ACTORS = {"demo", "system", "anonymous"}


class Rollback(Exception):
    """Leaves the shared demo database as it was."""


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    """One demo district for the whole module (a build takes seconds); tests only read it."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"

    async def build() -> None:
        database = Database(sqlite_url(path))
        try:
            await database.upgrade()
            await build_demo(database, settings=settings, today=TODAY)
        finally:
            await database.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def demo(demo_file: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(demo_file))
    yield database
    await database.dispose()


async def all_cases(db: Database) -> list[Case]:
    async with db.transaction() as session:
        return list((await session.exec(select(Case).order_by(col(Case.id)))).all())


def end_of(day: date, settings: Settings) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=settings.zone).astimezone(UTC)


async def test_every_state_at_the_reference_proportions(demo: Database, settings: Settings) -> None:
    found = await all_cases(demo)
    async with demo.transaction() as session:
        visited = (await session.exec(select(func.count(sa.distinct(col(Visit.household_id)))))).one()

    # 120 suggestions and 340 practical things done for 3,500 households visited.
    expected = visited * (120 + 340) / 3500
    assert abs(len(found) - expected) <= max(3, 0.02 * expected)
    answered = [case for case in found if case.answered_at is not None]
    resolved = sum(1 for case in answered if case.resolved)
    assert abs(resolved / len(answered) - 340 / 460) < 0.03

    states = Counter(case.state for case in found)
    assert set(states) == set(STATES)
    assert states[CLOSED] > 0.9 * len(found)
    assert 1 <= states[WITHDRAWN] <= 2
    assert min(states[REGISTERED], states[SORTED], states[ASSIGNED], states[IN_PROGRESS], states[ANSWERED]) >= 2
    assert sum(1 for case in found if case.reopened == 1) >= 1
    assert all(case.reopened <= settings.cases.reopen_limit for case in found)

    ratings = Counter(case.rating for case in found if case.state == CLOSED)
    assert ratings["satisfied"] > ratings["basic"] > ratings["dissatisfied"] > 0
    assert ratings[""] > 0  # closed unrated after cases.auto_close_days
    sources = Counter(case.source for case in found)
    assert sources["report"] > sources["mailbox"] + sources["card"] > 0 and sources["mailbox"] and sources["card"]
    assert any(case.anonymous for case in found) and any(case.name for case in found)
    assert {case.category for case in found} == {category.code for category in settings.cases.categories}


async def test_numbers_follow_registration_and_the_counter_continues(demo: Database, settings: Settings) -> None:
    found = await all_cases(demo)
    prefix = settings.cases.number_prefix
    year = TODAY.year

    in_order = sorted(found, key=lambda case: (case.registered_at, case.id or 0))
    assert [case.number for case in in_order] == [f"{prefix}-{year}-{seq:06d}" for seq in range(1, len(found) + 1)]
    assert [case.id for case in in_order] == list(range(1, len(found) + 1))
    with pytest.raises(Rollback):
        async with demo.transaction() as session:
            counter = await session.get(CaseCounter, year)
            assert counter is not None and counter.last == len(found)
            following = await cases._next_number(session, prefix=prefix, year=year)
            assert following == f"{prefix}-{year}-{len(found) + 1:06d}"
            raise Rollback


async def test_each_case_is_where_its_steps_left_it(demo: Database, settings: Settings) -> None:
    found = await all_cases(demo)
    calendar = calendar_of(settings)
    zone = settings.zone
    latest = end_of(TODAY, settings)
    async with demo.transaction() as session:
        visits = {visit.id: visit for visit in (await session.exec(select(Visit))).all()}
        area_of = dict((await session.exec(select(Household.id, Household.area_id))).all())
        serving = set((await session.exec(select(RepArea.representative_id, RepArea.area_id))).all())
        active = set((await session.exec(select(Representative.id).where(col(Representative.active)))).all())
        units = set((await session.exec(select(Staff.unit).where(Staff.role == "department"))).all())
        events = list((await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all())

    for case in found:
        category = settings.cases.category(case.category)
        assert category is not None and case.time_limit == category.time_limit, case.number
        registered = case.registered_at.astimezone(zone).date()
        assert date(TODAY.year, 1, 1) <= registered <= TODAY
        assert case.due_on >= registered
        if not case.reopened:
            due = calendar.add_working_days(registered, settings.cases.days_for(case.time_limit))
            assert (case.due_on, case.due_provisional) == (due.day, due.provisional), case.number
        moments = [case.registered_at, case.first_action_at, case.answered_at, case.closed_at, case.updated_at]
        present = [moment for moment in moments if moment is not None]
        assert present == sorted(present) and present[-1] <= latest, case.number

        if case.state in (REGISTERED, SORTED):
            assert (case.department, case.kept_by, case.first_action_at) == ("", None, None), case.number
        elif case.state == ASSIGNED:
            assert case.department and case.kept_by is None
        elif case.state == IN_PROGRESS:
            assert bool(case.department) != (case.kept_by is not None) and case.first_action_at is not None
        if case.state == ANSWERED:
            assert case.answered_at is not None and case.resolved is not None and case.answer
            assert case.answered_at > latest - timedelta(days=settings.cases.auto_close_days, hours=1)
        if case.state == CLOSED:
            assert case.closed_at and case.answered_at and case.resolved is not None and case.answer
        if case.state == WITHDRAWN:
            assert case.closed_at and case.answered_at is None and not case.anonymous
        if case.state in OPEN_STATES:
            assert case.closed_at is None
        if case.state not in (ANSWERED, CLOSED):
            assert case.answered_at is None and case.resolved is None
        if case.extension_days:
            assert case.extension_reason and case.state in HANDLED_STATES and case.department
        if case.department:
            assert case.department in units
        if case.kept_by is not None:
            assert case.kept_by in active and (case.kept_by, case.area_id) in serving

        assert case.identity_id is None and case.link_token is None
        if case.source == "report":
            visit = visits[case.visit_id]
            assert case.reported and not case.anonymous and not case.name
            assert case.household_id == visit.household_id and case.representative_id == visit.representative_id
            assert case.area_id == area_of[visit.household_id] and case.registered_at >= visit.created_at
        else:
            assert not case.reported and case.visit_id is None and case.household_id is None
        if case.source == "card":
            assert (case.representative_id, case.area_id) in serving
        if case.anonymous:
            assert (case.name, case.phone, case.consent) == ("", "", False)

    # The events tell the same story, in time order.
    assert [event.at for event in events] == sorted(event.at for event in events)
    assert {event.actor for event in events} <= ACTORS
    by_case: dict[int, list[CaseEvent]] = {}
    for event in events:
        by_case.setdefault(event.case_id, []).append(event)
    for case in found:
        steps = by_case[case.id or 0]
        actions = [event.action for event in steps]
        assert actions[0] == "registered" and steps[0].at == case.registered_at, case.number
        assert steps[0].actor == ("anonymous" if case.anonymous else "demo")
        assert steps[-1].at == case.updated_at
        assert actions.count("answered") == (case.answered_at is not None) + case.reopened
        assert ("closed" in actions) == (case.state == CLOSED)
        assert ("withdrawn" in actions) == (case.state == WITHDRAWN)
        assert actions.count("reopened") == case.reopened
        assert ("rated" in actions) == bool(case.rating)
        if case.first_action_at is not None:
            first = next(
                event for event in steps if event.action in ("taken", "progress", "answered", "extension_asked")
            )
            assert first.at == case.first_action_at


async def test_the_demos_people_have_cases_to_see(demo: Database, settings: Settings) -> None:
    calendar = calendar_of(settings)
    async with demo.transaction() as session:
        d001 = (await session.exec(select(Representative).where(Representative.code == DEMO_REPRESENTATIVE))).one()
        areas = set((await session.exec(select(RepArea.area_id).where(RepArea.representative_id == d001.id))).all())
        open_cases = (await session.exec(select(Case).where(col(Case.state).in_(OPEN_STATES)))).all()
        own = [case for case in open_cases if case.area_id in areas]
        assert len(own) >= 4
        assert any(case.kept_by == d001.id for case in own)
        assert any(case.state == REGISTERED for case in own)  # one to take on
        queue = await cases.queue(
            session, standing=Standing(Role.REPRESENTATIVE, representative_id=d001.id), today=TODAY
        )
        assert queue.total >= len(own)

        department = (
            await session.exec(select(Staff).where(Staff.role == "department").order_by(col(Staff.code)))
        ).first()
        assert department is not None and department.unit == DEPARTMENTS[0]
        assigned = [case for case in open_cases if case.department == department.unit and case.state == ASSIGNED]
        assert assigned
        queue = await cases.queue(session, standing=Standing(Role.DEPARTMENT, staff_id=department.id), today=TODAY)
        assert queue.total >= len(assigned)

        unsorted = [case for case in open_cases if case.state == REGISTERED]
        assert len(unsorted) >= 2
        queue = await cases.queue(session, standing=Standing(Role.LIAISON), today=TODAY)
        assert queue.cases[0].state == REGISTERED  # unsorted first

        overdue = await cases.overdue(session, settings=settings, calendar=calendar, today=TODAY)
        assert len(overdue) >= 3
        assert all(item.case.state in (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS) for item in overdue)
        assert len(overdue) < 0.02 * len(open_cases) + 20  # a few, not a backlog

        extended = [case for case in open_cases if case.extension_days]
        assert len(extended) == 1 and extended[0].due_on >= TODAY
        reopened = [case for case in open_cases if case.reopened]
        assert len(reopened) == 1 and reopened[0].rating == "dissatisfied" and reopened[0].due_on >= TODAY


async def test_same_seed_and_day_give_identical_cases(
    demo: Database, demo_file: Path, settings: Settings, tmp_path: Path
) -> None:
    other = Database(sqlite_url(tmp_path / "again.db"))
    try:
        await other.upgrade()
        await build_demo(other, settings=settings, today=TODAY)
        for table_name in CASE_TABLES:
            assert await digest(demo, table_name) == await digest(other, table_name), table_name
    finally:
        await other.dispose()
