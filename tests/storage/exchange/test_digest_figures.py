"""The digest's figures, for a hand-built week of visits and cases: every number below is counted by hand from the
fixture's docstring, for the district, a township, a group, and this week so far; who reads which scope; and the
figures come from a few set-based statements, however many representatives there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from bot.console import CHANNEL
from storage.db import Database, execute
from storage.errors import InvalidInput, NotFound
from storage.exchange import digest_figures, digest_scope
from storage.exchange.digest_figures import DigestFigures
from storage.exchange.digest_scope import DISTRICT, GROUP, TOWNSHIP, Scope, Week
from storage.models import (
    ChatIdentity,
    Household,
    HouseholdCategory,
    ReceptionDay,
    RepGroup,
    Representative,
    Staff,
    Station,
    Visit,
    VisitCompanion,
)
from storage.records import people
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.factories import District, build_district
from tests.storage.exchange.test_case_figures import Desk

W47, W48 = Week(2026, 47), Week(2026, 48)  # 16-22 and 23-29 November 2026
TODAY = date(2026, 11, 25)  # a Wednesday: W47 is over, W48 has three days
HAPPY_TOWN, EAST_TOWN = "幸福街道", "东山镇"
HAPPY_GROUP, EAST_GROUP = "幸福街道代表小组", "东山村代表小组"
HAPPY_STATION, EAST_STATION = "幸福社区党代表工作站", "东山村党代表工作站"


def small_quota(settings: Settings) -> Settings:
    """Four households a year and a margin of one, so that pace separates the fixture's representatives: on 22
    November an even pace is floor(4 * 326 / 365) = 3 households, on 25 November floor(4 * 329 / 365) = 3."""
    return settings.model_copy(
        update={
            "quota": settings.quota.model_copy(update={"households_per_year": 4}),
            "reminders": settings.reminders.model_copy(update={"behind_margin": 1}),
        }
    )


@dataclass
class DigestDistrict:
    district: District
    households: dict[str, int]
    cases: dict[str, int]


async def digest_district(db: Database, settings: Settings, district: District | None = None) -> DigestDistrict:
    """tests/factories.py's district, split in two townships and two groups, with a fortnight of visits and cases.

    Stations: 幸福社区 (areas 一区, 二区) in 幸福街道; 东山村 (area 东山村一组) in 东山镇. Group 幸福街道代表小组: D001
    (leader), D002, T001 and D009 (no longer in office), all at 幸福社区; group 东山村代表小组: T009 (leader) at
    东山村. Leaders: L01 the district, L02 幸福街道. Households H1-H6 as in the factory (H1 幸福路12号1栋1单元101
    party-member central, H3 幸福路14号 special hardship), H5 东山村3组17号 an entrepreneur too, and H7 东山村3组20号
    (four-olds member), never visited: the must-visit households are H1, H3, H5, H7.

    Visits (1-7 in W47, 16-22 November):
      1. D001 H1 on 16 Nov at home, T001 with him   2. D001 H2 on 18 Nov, a forum, T009 with him
      3. D001 H1 on 20 Nov by phone                 4. T001 H4 on 10 Nov at home (W46)
      5. D002 H3 on 2 March at home                 6. T009 H5 on 17 Nov at home
      7. D009 H6 on 19 Nov, a forum                 8. T001 H2 on 24 Nov at home (W48)
      9. D001 H6 on 30 December 2025 (last year, in ISO week 2026-W01)
    Cases (housing goes to 区住建局, "other" to nobody):
      C1 housing, a letter, 一区, 16 Nov: acted on that day, answered resolved on 18 Nov, rated satisfied on 19 Nov
      C2 other, D001's report, 二区, 17 Nov: untouched, due 20 Nov, so overdue from 23 Nov
      C3 housing, a letter, 东山村一组, 19 Nov: answered unresolved on 20 Nov
      C4 housing, a letter, 一区, 10 Nov: answered resolved on 17 Nov
      C5 housing, a letter, 一区, 24 Nov (W48)
    Reception days: 幸福社区 on 18 Nov and on 26 Nov; 东山村 on 19 Nov, cancelled."""
    district = district or await build_district(db)
    areas = district.areas
    households = {f"H{number}": district.households[address] for number, address in enumerate(HOUSES, 1)}
    async with db.transaction() as session:
        stations = {name: id_ or 0 for id_, name in (await session.exec(select(Station.id, Station.name))).all()}
        for station, town in ((HAPPY_STATION, HAPPY_TOWN), (EAST_STATION, EAST_TOWN)):
            await execute(session, sa.update(Station).where(col(Station.name) == station).values(township=town))
        east_group = RepGroup(name=EAST_GROUP)
        session.add(east_group)
        await session.flush()
        for code, name, group_id, station, role, active in (
            ("T009", "钱多多", east_group.id, EAST_STATION, "leader", True),
            ("D009", "孙退休", district.group_id, HAPPY_STATION, "member", False),
        ):
            rep = Representative(
                code=code,
                name=name,
                level="township" if code.startswith("T") else "district",
                group_id=group_id,
                group_role=role,
                station_id=stations[station],
                active=active,
            )
            session.add(rep)
            await session.flush()
            assert rep.id is not None
            district.representatives[code] = rep.id
        h7 = Household(area_id=areas["东山村一组"], address="东山村3组20号", head_name="马兰", phone="")
        session.add(h7)
        await session.flush()
        assert h7.id is not None
        households["H7"] = h7.id
        session.add(HouseholdCategory(household_id=households["H5"], code="entrepreneur"))
        session.add(HouseholdCategory(household_id=h7.id, code="four_olds_member"))
        session.add(Staff(code="L02", name="街道领导", role="leader", unit="幸福街道党工委", township=HAPPY_TOWN))
        reps = district.representatives
        for code, house, day, mode, companion in VISITS:
            visit = Visit(
                representative_id=reps[code],
                household_id=households[house],
                visited_on=day,
                mode=mode,
                created_at=datetime.combine(day, time(2, 0), tzinfo=UTC),
            )
            session.add(visit)
            await session.flush()
            if companion:
                session.add(VisitCompanion(visit_id=visit.id or 0, representative_id=reps[companion]))
        for station, day, cancelled in (
            (HAPPY_STATION, date(2026, 11, 18), False),
            (HAPPY_STATION, date(2026, 11, 26), False),
            (EAST_STATION, date(2026, 11, 19), True),
        ):
            session.add(
                ReceptionDay(
                    station_id=stations[station], day=day, starts=time(9), ends=time(11, 30), cancelled=cancelled
                )
            )

    desk = Desk(db, settings)
    cases = {
        "C1": await desk.submit("2026-11-16", "housing", "resident:c1", area_id=areas["幸福社区一区"]),
        "C2": await desk.submit(
            "2026-11-17",
            "other",
            "representative:D001",
            source="report",
            area_id=areas["幸福社区二区"],
            representative_id=reps["D001"],
        ),
        "C3": await desk.submit("2026-11-19", "housing", "resident:c3", area_id=areas["东山村一组"]),
        "C4": await desk.submit("2026-11-10", "housing", "resident:c4", area_id=areas["幸福社区一区"]),
        "C5": await desk.submit("2026-11-24", "housing", "resident:c5", area_id=areas["幸福社区一区"]),
    }
    await desk.progress(cases["C1"], "2026-11-16")
    await desk.answer(cases["C1"], "2026-11-18", resolved=True)
    await desk.rate(cases["C1"], "2026-11-19", "satisfied", "resident:c1")
    await desk.answer(cases["C3"], "2026-11-20", resolved=False)
    await desk.answer(cases["C4"], "2026-11-17", resolved=True)
    return DigestDistrict(district, households, cases)


HOUSES = (  # H1-H6: tests/factories.py's households, in its order
    "幸福路12号1栋1单元101",
    "幸福路12号1栋1单元102",
    "幸福路14号",
    "和平街5号",
    "东山村3组17号",
    "和平街7号",
)
VISITS = [
    ("D001", "H1", date(2026, 11, 16), "home", "T001"),
    ("D001", "H2", date(2026, 11, 18), "forum", "T009"),
    ("D001", "H1", date(2026, 11, 20), "phone", ""),
    ("T001", "H4", date(2026, 11, 10), "home", ""),
    ("D002", "H3", date(2026, 3, 2), "home", ""),
    ("T009", "H5", date(2026, 11, 17), "home", ""),
    ("D009", "H6", date(2026, 11, 19), "forum", ""),
    ("T001", "H2", date(2026, 11, 24), "home", ""),
    ("D001", "H6", date(2025, 12, 30), "home", ""),
]


async def figures_of(
    db: Database, settings: Settings, scope: str, week: Week = W47, today: date = TODAY
) -> DigestFigures:
    async with db.read() as session:
        return await digest_figures.figures(
            session,
            scope=Scope.parse(scope),
            week=week,
            today=today,
            settings=settings,
            calendar=calendar_of(settings),
        )


@pytest.fixture
def quota(settings: Settings) -> Settings:
    return small_quota(settings)


@pytest.fixture
async def fixture(db: Database, quota: Settings) -> DigestDistrict:
    return await digest_district(db, quota)


def headline(figures: DigestFigures) -> tuple[int, int, int]:
    return figures.households_visited, figures.suggestions, figures.things_done


def units(figures: DigestFigures) -> dict[str, dict[str, Any]]:
    return {unit.label: unit.as_dict() for unit in figures.breakdown}


async def test_the_districts_week_counted_by_hand(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    figures = await figures_of(db, quota, "district")
    # X: H1 (visits 1, 3), H2 (2), H5 (6), H6 (7). Y: C1, C2, C3 registered in the week. Z: C1 and C4 resolved in it.
    assert headline(figures) == (4, 3, 2)
    assert (figures.start, figures.end, figures.so_far) == (date(2026, 11, 16), date(2026, 11, 22), False)
    got = figures.as_dict()
    assert {key: got[key] for key in ("households_visited", "suggestions", "things_done")} == {
        "households_visited": 4,
        "suggestions": 3,
        "things_done": 2,
    }
    assert (got["cases_registered"], got["proposals"], got["cases_resolved"], got["practical_things"]) == (3, 0, 2, 0)
    # Visits 1, 2, 3, 6, 7 this week; 1-7 this year (9 was last year, 8 comes after the week).
    assert (figures.visits_week, figures.visits_year) == (5, 7)
    # H1-H6 reached this year; at home: H1 (1), H4 (4), H3 (5), H5 (6).
    assert (figures.households_year, figures.in_home_year, figures.in_home_share.shown()) == (6, 4, "66.7%")
    # In office: D001 (H1, H2), D002 (H3), T001 (H1 as companion, H4), T009 (H5, H2 as companion); pace 3.
    assert [(rep.code, rep.households_year, rep.gap) for rep in figures.in_office] == [
        ("D001", 2, 1),
        ("D002", 1, 2),
        ("T001", 2, 1),
        ("T009", 2, 1),
    ]
    assert [rep.code for rep in figures.behind] == ["D002"]  # more than one household short
    assert figures.expected == 3 and got["behind_pace"] == 1
    assert got["quota_completion"] == {"0-20%": 0, "20-40%": 1, "40-60%": 3, "60-80%": 0, "80-100%": 0, "100%+": 0}
    # Must-visits H1, H3, H5 visited this year, H7 not.
    assert got["must_visit"] == {"households": 4, "visited": 3, "coverage": 0.75}
    # C1 and C2 were due in the week: C1 acted on at once and resolved, C2 untouched and overdue since 20 Nov.
    assert got["cases"] == {
        "registered": 3,
        "due": 2,
        "responded": 1,
        "response_rate": 0.5,
        "resolved": 1,
        "resolution_rate": 0.5,
        "answered": 3,
        "rated": 1,
        "satisfied": 1,
        "satisfaction_rate": 1.0,
        "overdue": 1,
        "withdrawn": 0,
    }
    assert (figures.mailbox_items, figures.reception_days) == (2, 1)  # C1, C3; the cancelled day does not count
    weekly = dict(got["weekly_visits"])
    assert len(weekly) == 47 and weekly["2026-W01"] == 0  # visit 9 fell in W01, but last year
    assert (weekly["2026-W10"], weekly["2026-W46"], weekly["2026-W47"]) == (1, 1, 5)
    assert sum(weekly.values()) == figures.visits_year
    # The district by group: a group's stations are where its representatives in office sit.
    assert figures.breakdown_by == GROUP
    assert units(figures) == {
        HAPPY_GROUP: {
            "label": HAPPY_GROUP,
            "visits_week": 4,
            "households_week": 3,
            "behind": 1,
            "new_cases": 2,
            "overdue": 1,
        },
        EAST_GROUP: {
            "label": EAST_GROUP,
            "visits_week": 1,
            "households_week": 2,
            "behind": 0,
            "new_cases": 1,
            "overdue": 0,
        },
    }


async def test_a_township_counts_its_own_stations_representatives_and_cases(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    happy = await figures_of(db, quota, f"township:{HAPPY_TOWN}")
    # Visits of D001, T001, D009 (1, 2, 3, 7): H1, H2, H6. Cases C1, C2; resolved C1, C4.
    assert headline(happy) == (3, 2, 2)
    assert (happy.visits_week, happy.visits_year, happy.households_year, happy.in_home_year) == (4, 6, 5, 3)
    assert [rep.code for rep in happy.representatives] == ["D001", "D002", "D009", "T001"]
    assert [rep.code for rep in happy.behind] == ["D002"]
    assert (happy.must_visit.part, happy.must_visit.whole) == (2, 2)
    assert (happy.mailbox_items, happy.reception_days, happy.cases.overdue) == (1, 1, 1)
    assert happy.breakdown_by == "station"
    assert [unit.label for unit in happy.breakdown] == [HAPPY_STATION]

    east = await figures_of(db, quota, f"township:{EAST_TOWN}")
    # T009 logged H5 and went along to H2: both reached by the township, one visit logged.
    assert headline(east) == (2, 1, 0)
    assert (east.visits_week, east.households_year, east.in_home_year) == (1, 2, 1)
    assert (east.must_visit.part, east.must_visit.whole) == (1, 2)  # H5 visited, H7 not
    assert (east.mailbox_items, east.reception_days, east.cases.overdue, east.cases.answered) == (1, 0, 0, 1)
    assert east.behind == []


async def test_a_groups_digest_is_its_row_in_the_districts(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    district = units(await figures_of(db, quota, "district"))
    for name in (HAPPY_GROUP, EAST_GROUP):
        group = await figures_of(db, quota, f"group:{name}")
        assert (group.visits_week, group.households_visited, len(group.behind)) == (
            district[name]["visits_week"],
            district[name]["households_week"],
            district[name]["behind"],
        )
        assert (group.cases.registered, group.cases.overdue) == (
            district[name]["new_cases"],
            district[name]["overdue"],
        )
    east = await figures_of(db, quota, f"group:{EAST_GROUP}")
    assert [rep.code for rep in east.representatives] == ["T009"]
    assert [unit.label for unit in east.breakdown] == [EAST_STATION]


async def test_this_week_so_far(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    figures = await figures_of(db, quota, "district", week=W48)
    assert (figures.start, figures.end, figures.so_far) == (date(2026, 11, 23), TODAY, True)
    assert headline(figures) == (1, 1, 0)  # visit 8 (H2); C5
    assert (figures.visits_week, figures.visits_year, figures.households_year) == (1, 8, 6)
    assert figures.cases.overdue == 1  # C2, still unanswered
    assert figures.reception_days == 0  # 26 November has not come yet
    with pytest.raises(InvalidInput):
        await figures_of(db, quota, "district", week=Week(2026, 49))


async def test_unknown_scopes_and_weeks(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    for scope, key in (
        (f"township:{HAPPY_GROUP}", "digest.error.unknown_township"),
        ("group:东山", "digest.error.unknown_group"),
    ):
        with pytest.raises(NotFound) as missing:
            await figures_of(db, quota, scope)
        assert missing.value.key == key
    assert Scope.parse(" Township:东山镇 ") == Scope(TOWNSHIP, EAST_TOWN)
    assert Scope.parse("district").key == DISTRICT
    for text in ("township", "group:", "town:东山镇", "district:东山镇", ""):
        with pytest.raises(InvalidInput):
            Scope.parse(text)
    assert Week.parse("2026-w47") == W47 and W47.key == "2026-W47"
    assert (W47.monday, W47.sunday, W47.next(), W48.previous()) == (date(2026, 11, 16), date(2026, 11, 22), W48, W47)
    assert Week.parse("2026-W53").monday == date(2026, 12, 28)  # 2026 has 53 ISO weeks, 2025 52
    for text in ("2025-W53", "2026-W00", "2026-47", "W47", "2026-W47x"):
        with pytest.raises(InvalidInput):
            Week.parse(text)


async def test_who_reads_which_scope(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    async with db.transaction() as session:
        identities: dict[str, ChatIdentity] = {}
        for who in ("leader:L01", "leader:L02", "liaison:O01", "department:B01"):
            identities[who] = await people.identity_for(session, channel=CHANNEL, external_id=who)
            role, _, code = who.partition(":")
            await people.assume_role(session, identity=identities[who], role=role, code=code, actor="test")
        for code in ("D001", "T001", "T009", "D009"):
            who = f"representative:{code}"
            identities[who] = await people.identity_for(session, channel=CHANNEL, external_id=who)
            await people.assume_role(session, identity=identities[who], role="representative", code=code, actor="test")
        await session.flush()
        scopes = {}
        for who, identity in identities.items():
            standing = await people.standing_of(session, identity=identity)
            scopes[who] = await digest_scope.scope_of(session, standing=standing)
        everyone = await digest_scope.readers(session)
        district_readers = await digest_scope.readers(session, scope=Scope(DISTRICT))
        one = await digest_scope.readers(session, key="rep-" + str(fixture.district.representatives["T009"]))
    assert scopes == {
        "leader:L01": Scope(DISTRICT),
        "leader:L02": Scope(TOWNSHIP, HAPPY_TOWN),
        "liaison:O01": Scope(DISTRICT),
        "department:B01": None,
        "representative:D001": Scope(GROUP, HAPPY_GROUP),
        "representative:T001": None,  # a member
        "representative:T009": Scope(GROUP, EAST_GROUP),
        "representative:D009": None,  # no longer in office: a resident's rights
    }
    staff_ids = {code: id_ for code, id_ in await staff_of(db)}
    reps = fixture.district.representatives
    assert {reader.key: reader.scope for reader in everyone} == {
        f"staff-{staff_ids['L01']}": Scope(DISTRICT),
        f"staff-{staff_ids['L02']}": Scope(TOWNSHIP, HAPPY_TOWN),
        f"staff-{staff_ids['O01']}": Scope(DISTRICT),
        f"rep-{reps['D001']}": Scope(GROUP, HAPPY_GROUP),
        f"rep-{reps['T009']}": Scope(GROUP, EAST_GROUP),
    }
    assert sorted(reader.key for reader in district_readers) == sorted(
        [f"staff-{staff_ids['L01']}", f"staff-{staff_ids['O01']}"]
    )
    assert [identity.external_id for identity in one[0].identities] == ["representative:T009"]


async def staff_of(db: Database) -> list[tuple[str, int]]:
    async with db.read() as session:
        return [(code, id_ or 0) for code, id_ in (await session.exec(select(Staff.code, Staff.id))).all()]


async def test_overdue_cases_by_scope(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    calendar = calendar_of(quota)
    async with db.read() as session:
        district = await digest_figures.overdue_cases(session, scope=Scope(DISTRICT), today=TODAY, calendar=calendar)
        east = await digest_figures.overdue_cases(
            session, scope=Scope(TOWNSHIP, EAST_TOWN), today=TODAY, calendar=calendar
        )
        happy_group = await digest_figures.overdue_cases(
            session, scope=Scope(GROUP, HAPPY_GROUP), today=TODAY, calendar=calendar
        )
    # C2 was due on Friday 20 November: three working days late on Wednesday 25 (23, 24, 25).
    assert [
        (case.number, case.category, case.department, case.due_on, case.working_days_late) for case in district
    ] == [("LX-2026-000002", "other", "", date(2026, 11, 20), 3)]
    assert happy_group == district and east == []


async def test_the_figures_take_a_few_statements_however_many_representatives(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    """Set-based: adding forty representatives with visits adds rows, not statements."""
    counted: list[str] = []

    def count(*args: Any) -> None:
        counted.append(str(args[2])[:40])

    engine = db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        await figures_of(db, quota, "district")
        few = len(counted)
        async with db.transaction() as session:
            [group_id] = (await session.exec(select(RepGroup.id).where(RepGroup.name == EAST_GROUP))).all()
            [station_id] = (await session.exec(select(Station.id).where(Station.name == EAST_STATION))).all()
            for number in range(40):
                rep = Representative(
                    code=f"X{number:03d}", name="新代表", level="township", group_id=group_id, station_id=station_id
                )
                session.add(rep)
                await session.flush()
                session.add(
                    Visit(
                        representative_id=rep.id or 0,
                        household_id=fixture.households["H7"],
                        visited_on=date(2026, 11, 18),
                        mode="home",
                    )
                )
        counted.clear()
        more = await figures_of(db, quota, "district")
        assert len(counted) == few, counted
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert few <= 20, counted  # visits, cases, reception days, proposals, activities, briefings, events
    assert more.households_visited == 5 and more.visits_week == 45


async def test_the_week_at_the_turn_of_the_year(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    """2026-W53 runs from Monday 28 December 2026 to Sunday 3 January 2027: the week counts all its visits, the
    year to date begins on 1 January 2027, and pace starts again."""
    async with db.transaction() as session:
        for house, day in (("H7", date(2026, 12, 30)), ("H5", date(2027, 1, 2))):
            session.add(
                Visit(
                    representative_id=fixture.district.representatives["T009"],
                    household_id=fixture.households[house],
                    visited_on=day,
                    mode="home",
                )
            )
    figures = await figures_of(db, quota, "district", week=Week(2026, 53), today=date(2027, 1, 6))
    assert (figures.start, figures.end) == (date(2026, 12, 28), date(2027, 1, 3))
    assert (figures.households_visited, figures.visits_week, figures.visits_year, figures.households_year) == (
        2,
        2,
        1,
        1,
    )
    assert [(week.key, count) for week, count in figures.weekly_visits] == [("2026-W53", 1)]
    assert figures.expected == 0 and figures.behind == []  # floor(4 * 3 / 365)
