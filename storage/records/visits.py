"""Visits: recording a household visit in one transaction, and a representative's progress on the quota."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import execute
from storage.errors import InvalidInput, NotFound
from storage.models import (
    Area,
    ChatIdentity,
    Household,
    HouseholdCategory,
    RepArea,
    Representative,
    Visit,
    VisitCompanion,
    VisitPhoto,
    utcnow,
)
from storage.policy import Action, Role, Standing
from storage.records import households, people
from storage.records.households import HouseholdBrief
from storage.settings import Settings

ROUTINE = "routine"


def round_id(day: date, *, per_year: int) -> str | None:
    """The centralized round a day falls in: 2026-H1 / 2026-H2 with two rounds a year, 2026-P3 otherwise."""
    if per_year <= 0:
        return None
    index = (day.month - 1) * per_year // 12 + 1
    return f"{day.year}-{'H' if per_year == 2 else 'P'}{index}"


def year_rounds(year: int, *, per_year: int) -> list[str]:
    return [f"{year}-{'H' if per_year == 2 else 'P'}{index}" for index in range(1, per_year + 1)]


def round_span(round_code: str, *, per_year: int) -> tuple[date, date]:
    """The first and last day of a round (2026-H2: 1 July to 31 December); `per_year` reads a 2026-P3."""
    year_text, _, part = round_code.partition("-")
    year, index = int(year_text), int(part[1:])
    per_year = 2 if part.startswith("H") else per_year
    months = [month for month in range(1, 13) if (month - 1) * per_year // 12 + 1 == index]
    if not months:
        raise ValueError(f"{round_code} is not a round of {per_year} a year")
    last_month = months[-1]
    after = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return date(year, months[0], 1), after - timedelta(days=1)


@dataclass(frozen=True)
class NewHousehold:
    area_id: int
    address: str
    head_name: str
    phone: str


@dataclass(frozen=True)
class VisitRecord:
    """Everything a finished visit dialog knows."""

    representative_id: int
    visited_on: date
    mode: str
    round: str
    collective: bool
    household_id: int | None = None
    new_household: NewHousehold | None = None
    # Corrections to the ledger made at the door; for a new household, its categories.
    categories_added: tuple[str, ...] = ()
    categories_removed: tuple[str, ...] = ()
    party_member: bool | None = None  # None: as the ledger says (a new household: not a party member)
    companion_ids: tuple[int, ...] = ()
    notes: str = ""
    photos: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None


async def record_visit(
    session: AsyncSession,
    *,
    record: VisitRecord,
    settings: Settings,
    today: date,
    viewer: Standing,
    now: datetime | None = None,
) -> Visit:
    """Save a visit, a new household or corrected categories, companions, photos and audit rows together, as the
    representative `viewer` (who may log only their own visits, and correct only what the policy allows)."""
    policy.require(viewer, Action.LOG_VISIT)
    if record.representative_id != viewer.representative_id:
        raise policy.refusal(viewer, Action.LOG_VISIT)
    if record.visited_on > today:
        raise InvalidInput("visit.error.future_date")
    if record.visited_on.year < today.year - 1:
        raise InvalidInput("visit.error.too_old", year=today.year - 1)
    if settings.visits.mode(record.mode) is None:
        raise InvalidInput("visit.error.unknown_mode")
    changed = (*record.categories_added, *record.categories_removed)
    unknown = [code for code in changed if settings.households.category(code) is None]
    if unknown:
        raise InvalidInput("visit.error.unknown_category")
    if len(record.notes) > settings.visits.max_note_length:
        raise InvalidInput("visit.error.notes_too_long", limit=settings.visits.max_note_length)
    if record.representative_id in record.companion_ids:
        raise InvalidInput("visit.error.self_companion")

    if record.new_household is not None:
        created = await households.register(
            session,
            area_id=record.new_household.area_id,
            address=record.new_household.address,
            head_name=record.new_household.head_name,
            phone=record.new_household.phone,
            party_member=bool(record.party_member),
            categories=list(record.categories_added),
            viewer=viewer,
        )
        household_id = created.id
    elif record.household_id is not None:
        household_id = record.household_id
        await households.correct_categories(
            session,
            household_id=household_id,
            added=record.categories_added,
            removed=record.categories_removed,
            party_member=record.party_member,
            viewer=viewer,
        )
    else:
        raise InvalidInput("visit.error.no_household")
    assert household_id is not None

    visit = Visit(
        representative_id=record.representative_id,
        household_id=household_id,
        visited_on=record.visited_on,
        mode=record.mode,
        round=record.round,
        collective=record.collective and bool(record.companion_ids),
        notes=record.notes,
        latitude=record.latitude,
        longitude=record.longitude,
        created_at=now or utcnow(),
    )
    session.add(visit)
    await session.flush()
    assert visit.id is not None
    for companion_id in sorted(set(record.companion_ids)):
        if await session.get(Representative, companion_id) is None:
            raise NotFound("error.rep_not_found", code=str(companion_id))
        session.add(VisitCompanion(visit_id=visit.id, representative_id=companion_id))
    for file_ref in record.photos:
        session.add(VisitPhoto(visit_id=visit.id, file_ref=file_ref))
    audit.record(
        session,
        actor=viewer.actor,
        action="visit.create",
        entity="visit",
        entity_id=visit.id,
        household=household_id,
        companions=len(record.companion_ids),
        photos=len(record.photos),
    )
    return visit


def _this_year() -> sa.ColumnElement[bool]:
    """Visits from :year_start to :today that the representative (:representative_id) logged or took part in as a
    co-visitor."""
    representative = sa.bindparam("representative_id", type_=sa.Integer)
    companion_visits = select(VisitCompanion.visit_id).where(VisitCompanion.representative_id == representative)
    took_part = sa.or_(col(Visit.representative_id) == representative, col(Visit.id).in_(companion_visits))
    period = col(Visit.visited_on).between(
        sa.bindparam("year_start", type_=sa.Date), sa.bindparam("today", type_=sa.Date)
    )
    return sa.and_(took_part, period)


# Every saved visit reports the progress: the statements are built once, with bound parameters (building them
# anew each time cost twice as much as running them).
_IN_YEAR = _this_year()
_VISITED = select(Visit.household_id).where(_IN_YEAR)
_COUNTED = select(
    sa.func.count(sa.distinct(col(Visit.household_id))),
    sa.func.count(
        sa.distinct(sa.case((col(Visit.mode).in_(sa.bindparam("in_home_modes", expanding=True)), Visit.household_id)))
    ),
).where(_IN_YEAR)
_ROUNDS = select(col(Visit.round)).where(_IN_YEAR).distinct()
_CATEGORIES_SEEN = (
    select(col(HouseholdCategory.code)).where(col(HouseholdCategory.household_id).in_(_VISITED)).distinct()
)
# Households with a focus or must-visit category in the representative's areas, not yet visited this year: 0 when
# the household has a must-visit category, 1 when it has only focus groups, NULL when it has none.
_PRIORITY = (
    select(
        sa.func.min(sa.case((col(HouseholdCategory.code).in_(sa.bindparam("must_visit", expanding=True)), 0), else_=1))
    )
    .where(HouseholdCategory.household_id == Household.id)
    .scalar_subquery()
)
_OWN_AREAS = select(RepArea.area_id).where(
    RepArea.representative_id == sa.bindparam("representative_id", type_=sa.Integer)
)
_SUGGESTED_COLUMNS: tuple[Any, ...] = (  # the columns households.briefs reads
    col(Household.id),
    col(Household.address),
    col(Household.head_name),
    col(Area.name).label("area"),
    sa.literal(True).label("own_area"),
    col(Household.party_member),
)
_SUGGESTED = (
    sa.select(*_SUGGESTED_COLUMNS)
    .join(Area, col(Area.id) == Household.area_id)
    .where(col(Household.area_id).in_(_OWN_AREAS), col(Household.id).not_in(_VISITED), _PRIORITY.is_not(None))
    .order_by(_PRIORITY, col(Household.party_member), col(Household.id))
    .limit(sa.bindparam("limit"))
)


def _year_so_far(representative_id: int, today: date) -> dict[str, object]:
    return {"representative_id": representative_id, "year_start": date(today.year, 1, 1), "today": today}


@dataclass(frozen=True)
class Progress:
    year: int
    households: int
    quota: int
    in_home_households: int
    min_in_home_share: float
    rounds_done: dict[str, bool]
    missing_must_visit: list[str]
    expected_by_now: int

    @property
    def in_home_share(self) -> float:
        return self.in_home_households / self.households if self.households else 0.0

    @property
    def ahead_by(self) -> int:
        """Households ahead of an even pace through the year; negative when behind."""
        return self.households - self.expected_by_now


def expected_by(today: date, *, per_year: int) -> int:
    """Households an even pace through the year reaches by the end of `today`."""
    year_start = date(today.year, 1, 1)
    days_in_year = (date(today.year, 12, 31) - year_start).days + 1
    day_of_year = (today - year_start).days + 1
    return math.floor(per_year * day_of_year / days_in_year)


async def progress(session: AsyncSession, *, representative_id: int, today: date, settings: Settings) -> Progress:
    period = _year_so_far(representative_id, today)
    in_home_modes = [mode.code for mode in settings.visits.modes if mode.in_home]
    counted = await session.exec(_COUNTED, params={**period, "in_home_modes": in_home_modes})
    household_count, in_home_count = counted.one()
    rounds_seen: set[str] = set((await session.exec(_ROUNDS, params=period)).all())
    rounds = year_rounds(today.year, per_year=settings.quota.centralized_rounds_per_year)
    categories_seen: set[str] = set((await session.exec(_CATEGORIES_SEEN, params=period)).all())
    must_visit = [label.code for label in settings.households.must_visit]
    expected = expected_by(today, per_year=settings.quota.households_per_year)

    return Progress(
        year=today.year,
        households=int(household_count),
        quota=settings.quota.households_per_year,
        in_home_households=int(in_home_count),
        min_in_home_share=settings.quota.min_in_home_share,
        rounds_done={round_name: round_name in rounds_seen for round_name in rounds},
        missing_must_visit=[code for code in must_visit if code not in categories_seen],
        expected_by_now=expected,
    )


async def suggested_households(
    session: AsyncSession, *, viewer: Standing, today: date, settings: Settings, limit: int | None = None
) -> list[HouseholdBrief]:
    """Households with a focus or must-visit category in the representative's own areas, not yet visited this year:
    `limit` of them (default: as many as /progress shows).

    Must-visit households come first, then those whose head is not a party member (the programme's weight).
    """
    policy.require(viewer, Action.OWN_PROGRESS)
    assert viewer.representative_id is not None
    representative_id = viewer.representative_id
    if limit is None:
        limit = settings.visits.progress_suggestions
    if limit <= 0:
        return []
    parameters = {
        **_year_so_far(representative_id, today),
        "must_visit": [label.code for label in settings.households.must_visit],
        "limit": limit,
    }
    rows = list(await execute(session, _SUGGESTED, parameters))
    suggestions = await households.briefs(session, rows=rows, viewer=viewer, sensitive=settings.households.sensitive())
    audit.record(
        session,
        actor=viewer.actor,
        action="household.suggest",
        entity="representative",
        entity_id=representative_id,
        households=[row.id for row in rows],
    )
    return suggestions


async def latest_visit(session: AsyncSession, *, representative_id: int, since: datetime) -> dict[str, Any] | None:
    """The representative's visit saved last, if saved since `since`: a report made right after it is offered as
    about that household. Its address is the representative's to see: they have just visited it."""
    found = (
        await session.exec(
            select(Visit.id, Visit.household_id, Household.area_id, Household.address)
            .join(Household, col(Household.id) == Visit.household_id)
            .where(Visit.representative_id == representative_id, col(Visit.created_at) >= since)
            .order_by(col(Visit.id).desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    visit_id, household_id, area_id, address = found
    return {"id": visit_id, "household_id": household_id, "area_id": area_id, "address": address}


# --- many representatives at once (the scheduler's reminders) ---------------------------------------------


async def representatives_to_remind(
    session: AsyncSession, *, without_round: str | None = None, representative_id: int | None = None
) -> list[int]:
    """Representatives in office with a chat that can be told (their notice chat, not blocked), by id. With
    `without_round`, only those who have neither logged nor joined a visit of that centralized round; with
    `representative_id`, that one only (is it still so?)."""
    chats = select(ChatIdentity.id).where(
        col(ChatIdentity.representative_id) == Representative.id,
        col(ChatIdentity.role) == Role.REPRESENTATIVE,
        people.reachable(),
    )
    where: list[Any] = [col(Representative.active).is_(True), sa.exists(chats)]
    if without_round is not None:
        logged = select(Visit.representative_id).where(Visit.round == without_round)
        joined = (
            select(VisitCompanion.representative_id)
            .join(Visit, col(Visit.id) == VisitCompanion.visit_id)
            .where(Visit.round == without_round)
        )
        where += [col(Representative.id).not_in(logged), col(Representative.id).not_in(joined)]
    if representative_id is not None:
        where.append(col(Representative.id) == representative_id)
    found = await session.exec(select(Representative.id).where(*where).order_by(col(Representative.id)))
    return [int(found_id) for found_id in found.all() if found_id is not None]


async def households_this_year(
    session: AsyncSession, *, today: date, representative_ids: Collection[int] | None = None
) -> dict[int, int]:
    """Distinct households each representative visited (logged or joined) from 1 January to `today`, as
    `progress` counts them, for many representatives in one statement; those without any are left out."""
    period = col(Visit.visited_on).between(date(today.year, 1, 1), today)
    logged_columns: tuple[Any, ...] = (col(Visit.representative_id).label("rep"), col(Visit.household_id))
    joined_columns: tuple[Any, ...] = (col(VisitCompanion.representative_id).label("rep"), col(Visit.household_id))
    logged = sa.select(*logged_columns).where(period)
    joined = sa.select(*joined_columns).join(Visit, col(Visit.id) == VisitCompanion.visit_id).where(period)
    pairs = sa.union(logged, joined).subquery()  # UNION, not UNION ALL: a household counts once per representative
    counted: tuple[Any, ...] = (pairs.c.rep, sa.func.count(sa.distinct(pairs.c.household_id)).label("households"))
    statement = sa.select(*counted).group_by(pairs.c.rep)
    if representative_ids is not None:
        statement = statement.where(pairs.c.rep.in_(list(representative_ids)))
    rows = await execute(session, statement)
    return {int(row.rep): int(row.households) for row in rows}
