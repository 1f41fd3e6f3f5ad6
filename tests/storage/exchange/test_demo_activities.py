"""The demo district's activities, events and commitments: something for every role to see and do (D001's
five-ones tally with gaps, today's event open for check-in by location, next week's invitation unanswered, the
office's events with attendance, public commitments), practical things in every week of the year for the digest,
and the same rows from the same seed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Database, sqlite_url
from storage.exchange.demo import DEMO_REPRESENTATIVE, build_demo
from storage.exchange.demo_activities import PLACE
from storage.models import DueItem, Representative
from storage.policy import Role, Standing
from storage.records import activities, commitments, events
from storage.settings import Settings
from tests.storage.exchange.test_demo import TODAY, digest

TABLES = ("activity", "programme_event", "event_invitation", "commitment")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 on the demo's day, Shanghai


@pytest.fixture
async def demo(db: Database, settings: Settings) -> Database:
    await build_demo(db, settings=settings, today=TODAY)
    return db


async def test_the_demo_representative_has_a_year_to_see_and_an_event_to_check_in_at(
    demo: Database, settings: Settings
) -> None:
    async with demo.transaction() as session:
        d001 = (await session.exec(select(Representative).where(Representative.code == DEMO_REPRESENTATIVE))).one()
        assert d001.id is not None
        tally = await activities.five_ones_tally(session, representative_id=d001.id, year=2026, settings=settings)
        assert 0 < sum(1 for count in tally.values() if count) < len(tally)  # some of the five ones, not all
        invited = await events.coming_for(session, representative_id=d001.id, now=NOW)
        done = await events.attended(session, year=2026, settings=settings, representative_id=d001.id)
        mine = await commitments.of_year(session, representative_id=d001.id, year=2026)
        eves = (await session.exec(select(DueItem).where(DueItem.kind == events.EVE))).all()
    assert done[d001.id].trainings == 1 and done[d001.id].collective == 1
    kinds = {event.kind for event, _ in invited}
    assert kinds == {events.COLLECTIVE, events.ROUND}
    [today] = [(event, link) for event, link in invited if event.starts_at.date() <= TODAY <= event.ends_at.date()]
    event, link = today
    assert event.latitude is not None and link.answer == events.ATTEND and link.checked_in_at is None
    assert events.check_in_window(event, settings)[0] <= NOW  # open at 10:00
    next_week = [link for event, link in invited if event.starts_at > NOW + timedelta(days=6)]
    assert [link.answer for link in next_week] == [events.PENDING]
    assert {commitment.status for commitment in mine} == {"planned", "in_progress", "done"}
    assert {item.state for item in eves} == {"pending"} and len(eves) == 2  # next week's and the round's


async def test_d001_checks_in_at_todays_event_from_near_its_place(demo: Database, settings: Settings) -> None:
    async with demo.transaction() as session:
        d001 = (await session.exec(select(Representative).where(Representative.code == DEMO_REPRESENTATIVE))).one()
        standing = Standing(Role.REPRESENTATIVE, identity_id=1, representative_id=d001.id, group_id=d001.group_id)
        [(event, _)] = [
            pair
            for pair in await events.coming_for(session, representative_id=d001.id or 0, now=NOW)
            if pair[0].latitude is not None
        ]
        link = await events.check_in(
            session,
            event_id=event.id or 0,
            standing=standing,
            now=NOW,
            settings=settings,
            latitude=PLACE[0] + 0.0001,
            longitude=PLACE[1] + 0.0002,
        )
    assert link.check_in_by == "location" and (link.distance_m or 0) < 50


async def test_the_office_sees_attendance_and_the_digest_has_practical_things_every_week(
    demo: Database, settings: Settings
) -> None:
    async with demo.transaction() as session:
        listed = await events.office_list(session, now=NOW, settings=settings)
        weeks = []
        monday = date(2026, 1, 5)
        while monday + timedelta(days=7) <= TODAY:
            since = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) - timedelta(hours=8)
            weeks.append(await activities.counts_by_kind(session, since=since, until=since + timedelta(days=7)))
            monday += timedelta(days=7)
        year = await activities.counts_by_kind(
            session, since=datetime(2025, 12, 31, 16, tzinfo=UTC), until=datetime(2026, 12, 31, 16, tzinfo=UTC)
        )
        ranking = await events.attended(session, year=2026, settings=settings)
    assert len(listed) == 5
    past = [counts for counts in listed if counts.event.ends_at < NOW]
    assert len(past) == 2 and all(0 < counts.checked_in < counts.invited for counts in past)
    assert all(counts.excused > 0 for counts in past)
    assert all(week.get("practical_thing", 0) >= 1 for week in weeks)
    assert all(year.get(kind.code, 0) > 0 for kind in settings.activities.kinds)  # every kind is in the demo
    assert 200 < sum(year.values()) < 1000
    assert len(ranking) > 200  # most attended the training


async def test_same_seed_and_day_give_identical_rows(demo: Database, settings: Settings, tmp_path: Path) -> None:
    other = Database(sqlite_url(tmp_path / "again.db"))
    try:
        await other.upgrade()
        await build_demo(other, settings=settings, today=TODAY)
        for table_name in TABLES:
            assert await digest(demo, table_name) == await digest(other, table_name), table_name
    finally:
        await other.dispose()
