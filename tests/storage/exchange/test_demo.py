"""The demo district: reference scale, determinism, reuse, visit dates and the demo representative's areas."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database, sqlite_url
from storage.exchange.demo import DemoSummary, build_demo, has_demo
from storage.models import (
    Area,
    AuditEntry,
    Household,
    HouseholdCategory,
    RepArea,
    RepGroup,
    Representative,
    Staff,
    Station,
    Visit,
    VisitCompanion,
)
from storage.settings import Settings

TODAY = date(2026, 11, 25)
ROW_TABLES = (
    "rep_group",
    "station",
    "area",
    "representative",
    "rep_area",
    "staff",
    "household",
    "household_category",
    "visit",
    "visit_companion",
)


async def count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def digest(db: Database, table_name: str) -> str:
    """A hash of every row of a table in primary-key order; identical content gives identical hashes."""
    table = SQLModel.metadata.tables[table_name]
    hasher = hashlib.sha256()
    async with db.transaction() as session:
        connection = await session.connection()
        rows = await connection.execute(sa.select(table).order_by(*table.primary_key.columns))
        for row in rows:
            hasher.update(repr(tuple(row)).encode())
    return hasher.hexdigest()


async def test_builds_the_reference_district_once(db: Database, settings: Settings) -> None:
    async with db.transaction() as session:
        assert not await has_demo(session)

    summary = await build_demo(db, settings=settings, today=TODAY)

    assert summary == DemoSummary(
        representatives=305,
        groups=20,
        stations=64,
        areas=212,
        households=30_000,
        visits=summary.visits,
        cases=summary.cases,
        demo_representative="D001",
        group_leader=summary.group_leader,
        left_office="T125",
        leader="L01",
        liaison="O01",
        department="B01",
        created=True,
    )
    assert 5_000 < summary.visits < 40_000
    async with db.transaction() as session:
        assert await has_demo(session)
        levels = (
            await session.exec(select(Representative.level, func.count()).group_by(col(Representative.level)))
        ).all()
        assert dict(levels) == {"district": 180, "township": 125}
        codes = set((await session.exec(select(Representative.code))).all())
        assert {"D001", "D180", "T001", "T125"} <= codes
        assert (await count(session, RepGroup), await count(session, Station)) == (20, 64)
        assert await count(session, Household) == 30_000
        assert await count(session, Visit) == summary.visits
        assert not (await session.exec(select(Representative).where(col(Representative.station_id).is_(None)))).all()
        kinds = set((await session.exec(select(Station.kind))).all())
        assert kinds <= {"community", "village", "school", "hospital", "enterprise"}
        reception_days = (await session.exec(select(Station.reception_day))).all()
        assert all(reception_days) and len(set(reception_days)) > 5  # every card shows one, and they vary

        # One representative has left office: the demo shows what they are told. Every group keeps a leader in office.
        gone = (await session.exec(select(Representative.code).where(col(Representative.active).is_(False)))).all()
        assert gone == ["T125"]
        leader = (await session.exec(select(Representative).where(Representative.code == summary.group_leader))).one()
        demo = (await session.exec(select(Representative).where(Representative.code == "D001"))).one()
        assert (leader.group_role, leader.group_id, leader.active) == ("leader", demo.group_id, True)
        for group_id in (await session.exec(select(RepGroup.id))).all():
            roles = list(
                (
                    await session.exec(
                        select(Representative.group_role).where(
                            Representative.group_id == group_id, col(Representative.active).is_(True)
                        )
                    )
                ).all()
            )
            assert roles.count("leader") == 1
            assert 1 <= roles.count("liaison") <= 2

        uncovered = await session.exec(
            select(func.count()).select_from(Area).where(col(Area.id).not_in(select(RepArea.area_id)))
        )
        assert uncovered.one() == 0
        areas_per_rep = (
            await session.exec(select(func.count()).select_from(RepArea).group_by(col(RepArea.representative_id)))
        ).all()
        assert len(areas_per_rep) == 305 and set(areas_per_rep) <= {1, 2}

        staff = dict((await session.exec(select(Staff.code, Staff.role))).all())
        assert staff == {
            **{f"O0{number}": "liaison" for number in (1, 2, 3)},
            **{f"L0{number}": "leader" for number in (1, 2, 3)},
            **{f"B0{number}": "department" for number in range(1, 10)},
        }

        first, last = (await session.exec(select(func.min(Visit.visited_on), func.max(Visit.visited_on)))).one()
        assert date(2026, 1, 1) <= first and last <= TODAY

        in_home = [mode.code for mode in settings.visits.modes if mode.in_home]
        home_visits = await session.exec(select(func.count()).where(col(Visit.mode).in_(in_home)))
        assert 0.4 <= home_visits.one() / summary.visits <= 0.5
        known_modes = {mode.code for mode in settings.visits.modes}
        assert set((await session.exec(select(Visit.mode).distinct())).all()) <= known_modes
        h1_groups = await session.exec(
            select(func.count(sa.distinct(col(Representative.group_id))))
            .join(Visit, col(Visit.representative_id) == Representative.id)
            .where(Visit.round == "2026-H1")
        )
        assert h1_groups.one() >= 14
        assert await count(session, VisitCompanion) > 0

        d001 = (await session.exec(select(Representative).where(Representative.code == "D001"))).one()
        d001_areas = select(RepArea.area_id).where(RepArea.representative_id == d001.id)
        in_d001_areas = col(Household.area_id).in_(d001_areas)
        d001_codes = (
            await session.exec(
                select(HouseholdCategory.code)
                .join(Household, col(Household.id) == HouseholdCategory.household_id)
                .where(in_d001_areas)
                .distinct()
            )
        ).all()
        assert {label.code for label in settings.households.categories()} <= set(d001_codes)
        example = (
            await session.exec(
                select(Household.address).where(in_d001_areas, col(Household.address).startswith("幸福路12号"))
            )
        ).all()
        assert example == ["幸福路12号1栋1单元101"]
        others = await session.exec(
            select(func.count()).where(in_d001_areas, col(Household.address).startswith("幸福路"))
        )
        assert others.one() > 10

        # D001 is behind an even pace and has must-visit categories left to visit (as logger or companion).
        companion_visits = select(VisitCompanion.visit_id).where(VisitCompanion.representative_id == d001.id)
        d001_visits = sa.or_(col(Visit.representative_id) == d001.id, col(Visit.id).in_(companion_visits))
        visited = (await session.exec(select(Visit.household_id).where(d001_visits).distinct())).all()
        day_of_year = (TODAY - date(2026, 1, 1)).days + 1
        expected = math.floor(settings.quota.households_per_year * day_of_year / 365)
        assert 0 < len(visited) < expected
        seen = set(
            (
                await session.exec(
                    select(HouseholdCategory.code).where(col(HouseholdCategory.household_id).in_(visited)).distinct()
                )
            ).all()
        )
        must_visit = {label.code for label in settings.households.must_visit}
        assert seen & must_visit and must_visit - seen

    again = await build_demo(db, settings=settings, today=TODAY)
    assert again == replace(summary, created=False)
    async with db.transaction() as session:
        assert await count(session, Household) == 30_000
        assert await count(session, Visit) == summary.visits
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "demo.build"))).all()
        assert len(audits) == 1
        assert audits[0].actor == "demo" and audits[0].entity == "district"
        assert audits[0].detail["households"] == 30_000

    # Ordinary inserts continue after the demo's explicit ids (PostgreSQL's sequences were moved past them).
    async with db.transaction() as session:
        station = Station(name="新建党代表工作站")
        session.add(station)
        await session.flush()
        assert station.id == 65


async def test_same_seed_and_day_give_identical_rows(db: Database, settings: Settings, tmp_path: Path) -> None:
    await build_demo(db, settings=settings, today=TODAY)
    other = Database(sqlite_url(tmp_path / "b.db"))
    try:
        await other.upgrade()
        await build_demo(other, settings=settings, today=TODAY)
        for table_name in ROW_TABLES:
            assert await digest(db, table_name) == await digest(other, table_name), table_name
    finally:
        await other.dispose()


async def test_an_existing_roster_is_left_alone(db: Database, settings: Settings) -> None:
    async with db.transaction() as session:
        session.add(Representative(code="R001", name="测试代表", level="district"))

    summary = await build_demo(db, settings=settings, today=TODAY)

    assert not summary.created
    assert (summary.representatives, summary.households, summary.visits, summary.cases) == (1, 0, 0, 0)
    assert (summary.demo_representative, summary.leader) == ("R001", "")
    async with db.transaction() as session:
        assert await count(session, RepGroup) == 0
        assert await count(session, AuditEntry) == 0
