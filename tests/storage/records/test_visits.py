"""Recording visits and computing progress: the figures a representative and the digest rely on."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select

from storage.db import Database
from storage.errors import InvalidInput
from storage.models import Visit
from storage.records import visits
from storage.records.households import HouseholdBrief
from storage.records.visits import VisitRecord
from storage.settings import Settings
from tests.factories import TODAY, District, build_district


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def log(db: Database, settings: Settings, district: District, rep: str, address: str, **fields: object) -> None:
    record = VisitRecord(
        representative_id=district.representatives[rep],
        household_id=district.households[address],
        visited_on=fields.pop("visited_on", TODAY),  # type: ignore[arg-type]
        mode=fields.pop("mode", "home"),  # type: ignore[arg-type]
        round=fields.pop("round", "routine"),  # type: ignore[arg-type]
        collective=bool(fields.get("companion_ids")),
        **fields,  # type: ignore[arg-type]
    )
    async with db.transaction() as session:
        await visits.record_visit(session, record=record, settings=settings, today=TODAY, viewer=district.standing(rep))


async def progress_of(db: Database, settings: Settings, district: District, rep: str) -> visits.Progress:
    async with db.transaction() as session:
        return await visits.progress(
            session, representative_id=district.representatives[rep], today=TODAY, settings=settings
        )


async def suggestions_for(db: Database, settings: Settings, district: District, rep: str) -> list[HouseholdBrief]:
    async with db.transaction() as session:
        return await visits.suggested_households(session, viewer=district.standing(rep), today=TODAY, settings=settings)


@pytest.mark.parametrize(
    ("day", "per_year", "expected"),
    [
        (date(2026, 6, 30), 2, "2026-H1"),
        (date(2026, 7, 1), 2, "2026-H2"),
        (date(2026, 11, 25), 4, "2026-P4"),
        (date(2026, 1, 1), 1, "2026-P1"),
        (date(2026, 5, 1), 0, None),
    ],
)
def test_round_id(day: date, per_year: int, expected: str | None) -> None:
    assert visits.round_id(day, per_year=per_year) == expected


async def test_empty_progress(db: Database, settings: Settings, district: District) -> None:
    progress = await progress_of(db, settings, district, "D001")
    assert (progress.households, progress.quota, progress.in_home_households) == (0, 100, 0)
    assert progress.expected_by_now == 90  # 100 * 329 / 365, rounded down
    assert progress.ahead_by == -90
    assert progress.rounds_done == {"2026-H1": False, "2026-H2": False}
    assert progress.missing_must_visit == [label.code for label in settings.households.must_visit]


async def test_progress_counts_distinct_households_in_home_share_rounds_and_must_visits(
    db: Database, settings: Settings, district: District
) -> None:
    await log(db, settings, district, "D001", "幸福路12号1栋1单元101", mode="home")
    await log(db, settings, district, "D001", "幸福路12号1栋1单元101", mode="phone")
    await log(
        db,
        settings,
        district,
        "D001",
        "幸福路14号",
        mode="forum",
        round="2026-H2",
    )
    await log(db, settings, district, "D001", "和平街5号", mode="phone", visited_on=date(2025, 12, 30))  # last year
    progress = await progress_of(db, settings, district, "D001")
    assert progress.households == 2
    assert progress.in_home_households == 1
    assert progress.in_home_share == 0.5
    assert progress.rounds_done == {"2026-H1": False, "2026-H2": True}
    assert progress.missing_must_visit == ["entrepreneur", "four_olds_member", "repeat_petitioner"]


async def test_companions_share_the_visit(db: Database, settings: Settings, district: District) -> None:
    await log(
        db,
        settings,
        district,
        "D001",
        "幸福路14号",
        companion_ids=(district.representatives["D002"],),
    )
    assert (await progress_of(db, settings, district, "D002")).households == 1
    assert (await progress_of(db, settings, district, "T001")).households == 0


async def test_suggestions_are_unvisited_focus_households_must_visit_first(
    db: Database, settings: Settings, district: District
) -> None:
    suggestions = await suggestions_for(db, settings, district, "D001")
    addresses = [household.address for household in suggestions]
    # Must-visit households first (non-party before party), then focus-group ones; 和平街5号 has no category.
    assert addresses == ["幸福路14号", "幸福路12号1栋1单元101", "幸福路12号1栋1单元102"]
    assert suggestions[0].head == "赵*"
    await log(db, settings, district, "D001", "幸福路14号")
    addresses = [h.address for h in await suggestions_for(db, settings, district, "D001")]
    assert addresses == ["幸福路12号1栋1单元101", "幸福路12号1栋1单元102"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"visited_on": date(2026, 11, 26)}, "visit.error.future_date"),
        ({"visited_on": date(2024, 12, 31)}, "visit.error.too_old"),
        ({"mode": "teleport"}, "visit.error.unknown_mode"),
        ({"categories_added": ("aliens",)}, "visit.error.unknown_category"),
        ({"notes": "x" * 2001}, "visit.error.notes_too_long"),
        ({"companion_ids": "self"}, "visit.error.self_companion"),
    ],
)
async def test_invalid_records_are_refused_and_nothing_is_written(
    db: Database, settings: Settings, district: District, change: dict[str, object], key: str
) -> None:
    if change.get("companion_ids") == "self":
        change = {"companion_ids": (district.representatives["D001"],)}
    with pytest.raises(InvalidInput) as raised:
        await log(db, settings, district, "D001", "幸福路14号", **change)
    assert raised.value.key == key
    async with db.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(Visit))).one() == 0
