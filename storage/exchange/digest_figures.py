"""The leaders' digest in figures: who reads which scope, and the figures of a scope for an ISO week, defined once
here and used by the weekly digest, the chat's /digest, /overdue and /behind, and `lianxin digest`.

**Scopes.** `district`: a leader whose `Staff.township` is empty, and the liaison office. `township:NAME`: a
leader whose `Staff.township` is NAME; the work stations with `Station.township` NAME, their areas, and the
representatives sitting at those stations. `group:NAME`: a representative group's leader (`group_role` leader);
the group's representatives, the stations where those in office sit, and those stations' areas. So a group's
row in the district's digest is the group's own digest, and a station's row in a township's is the station's.

**What counts where.** Visits count by their representative (`visit.representative_id`) being of the scope;
households are reached by the scope when one of its representatives logged the visit or took part in it
(`visit_companion`), as /progress counts a representative's households. Cases count by their area
(`case_file.area_id`) lying in the scope's stations; the district counts cases without an area too. Reception
days count by their station.

**The period** is an ISO week (Monday to Sunday, local dates), up to today when the week is not over ("this week
so far"). Year to date runs from 1 January of the period's last day's year to that day.

- **households_visited** (X of the headline): distinct households with a visit in the period.
- **suggestions** (Y): cases registered in the period (whatever their source: a representative's report, the
  mailbox, a contact card, a reception day) plus proposals filed in it (`proposals`: submitted in the period by a
  representative of the scope, whatever became of them since).
- **things_done** (Z): cases resolved in the period (answered with `resolved` true, `answered_at` in it) plus
  "practical thing done" activities logged in it (`practical_things`: activities of a kind marked `practical` in
  `activities.kinds`, logged (`created_at`) in the period by a representative of the scope).
- **Visits** this week and year to date (by the representatives of the scope); **households reached** this year
  and of them those reached **in the home** (an in-home mode of `visits.modes`): the in-home share.
- **Behind pace**: representatives in office whose households reached this year are more than
  `reminders.behind_margin` below an even pace, floor(quota * day of the year / days in the year) on the period's
  last day (as storage.records.visits.progress counts it); most behind first.
- **Must-visit coverage**: of the households in the scope's areas with a must-visit category
  (`households.must_visit`), the share visited this year by anyone.
- **Cases**: new (registered), answered, overdue and the three rates, exactly as storage.exchange.case_figures
  defines them for the period; **mailbox items**: cases from the mailbox or a contact card registered in it.
- **Reception days held**: not cancelled, on a day of the period up to today.
- **Proposals by state**: this year's proposals (drafted this year) of the scope's representatives, by their state
  now; **the five ones logged**: activities of a "five ones" kind logged in the period, by kind.
- **Briefings' read shares**: each briefing sent in the period, its recipients of the scope and how many of them
  confirmed reading it (by now). **Events' attendance**: each event (not cancelled) starting in the period, its
  invited of the scope, how many checked in and how many were excused.

Representatives' names are read for the leaders who are entitled to them; residents' data is never read here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import InvalidInput
from storage.exchange import case_figures
from storage.exchange.case_figures import NONE, UNANSWERED, CaseFigures, Rate
from storage.exchange.digest_scope import DISTRICT, GROUP, Members, Scope, Week, members, rows
from storage.models import (
    Activity,
    Area,
    Briefing,
    BriefingRecipient,
    Case,
    EventInvitation,
    Household,
    HouseholdCategory,
    ProgrammeEvent,
    Proposal,
    ReceptionDay,
    Representative,
    Visit,
    VisitCompanion,
)
from storage.settings import Settings
from storage.workdays import WorkCalendar

MAILBOX_SOURCES = ("mailbox", "card")
# The quota completion histogram: representatives by the share of the year's quota reached.
COMPLETION_BINS = ("0-20%", "20-40%", "40-60%", "60-80%", "80-100%", "100%+")
# A proposal's states in the order of its life (storage.records.proposals), for the digest's line.
PROPOSAL_STATES = (
    "signing",
    "submitted",
    "established",
    "assigned",
    "answered",
    "closed",
    "not_established",
    "merged",
    "withdrawn",
)


@dataclass(frozen=True)
class BriefingShare:
    """A briefing sent in the period: how many of its recipients in the scope confirmed reading it."""

    title: str
    sent_on: date
    read: int
    recipients: int

    @property
    def share(self) -> Rate:
        return Rate(self.read, self.recipients)


@dataclass(frozen=True)
class EventAttendance:
    """An event held in the period: its invited in the scope, how many checked in, how many were excused."""

    title: str
    kind: str  # training | collective | round
    day: date
    checked_in: int
    excused: int
    invited: int

    @property
    def share(self) -> Rate:
        return Rate(self.checked_in, self.invited)


@dataclass
class RepFigures:
    """One representative's line: the spreadsheet's row, and what pace and the histogram are made of."""

    id: int
    code: str
    name: str
    level: str
    group: str
    station: str
    active: bool
    expected: int  # households an even pace reaches by the period's last day
    visits_week: int = 0
    visits_year: int = 0
    households_week: int = 0
    households_year: int = 0
    in_home_year: int = 0

    @property
    def gap(self) -> int:
        """Households short of an even pace (negative: ahead)."""
        return self.expected - self.households_year


@dataclass
class UnitFigures:
    """A row of the breakdown: a group of the district, or a station of a township or a group."""

    label: str
    visits_week: int = 0
    households_week: int = 0
    behind: int = 0
    new_cases: int = 0
    overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "visits_week": self.visits_week,
            "households_week": self.households_week,
            "behind": self.behind,
            "new_cases": self.new_cases,
            "overdue": self.overdue,
        }


@dataclass
class DigestFigures:
    """Everything the digest says of a scope and a period: the text's figures, the chart's series, the
    spreadsheet's rows."""

    scope: Scope
    week: Week
    start: date
    end: date  # the period's last day: Sunday, or today when the week is not over
    so_far: bool
    quota: int
    expected: int
    behind_margin: int
    households_visited: int = 0
    proposals: int = 0  # proposals filed (submitted) in the period
    practical_things: int = 0  # "practical thing done" activities logged in the period
    cases_resolved: int = 0
    visits_week: int = 0
    visits_year: int = 0
    households_year: int = 0
    in_home_year: int = 0
    must_visit: Rate = field(default_factory=lambda: Rate(0, 0))
    cases: CaseFigures = field(default_factory=lambda: CaseFigures(label=""))
    mailbox_items: int = 0
    reception_days: int = 0
    proposals_by_state: dict[str, int] = field(default_factory=dict)  # this year's, by state now (PROPOSAL_STATES)
    five_ones: dict[str, int] = field(default_factory=dict)  # activities logged in the period, by "five ones" kind
    briefings: list[BriefingShare] = field(default_factory=list)
    events: list[EventAttendance] = field(default_factory=list)
    weekly_visits: list[tuple[Week, int]] = field(default_factory=list)
    representatives: list[RepFigures] = field(default_factory=list)
    breakdown_by: str = GROUP
    breakdown: list[UnitFigures] = field(default_factory=list)

    @property
    def suggestions(self) -> int:
        return self.cases.registered + self.proposals

    @property
    def things_done(self) -> int:
        return self.cases_resolved + self.practical_things

    @property
    def in_home_share(self) -> Rate:
        return Rate(self.in_home_year, self.households_year)

    @property
    def in_office(self) -> list[RepFigures]:
        return [rep for rep in self.representatives if rep.active]

    @property
    def behind(self) -> list[RepFigures]:
        """Representatives in office behind pace by more than the margin, most behind first."""
        return behind_pace(self.representatives, self.behind_margin)

    def completion(self) -> dict[str, int]:
        """Representatives in office by the share of the year's quota reached (COMPLETION_BINS)."""
        counts = dict.fromkeys(COMPLETION_BINS, 0)
        for rep in self.in_office:
            share = rep.households_year / self.quota if self.quota else 0.0
            counts[COMPLETION_BINS[min(int(share * 5), 5)]] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """For `lianxin digest --format json`: the headline first, then everything else."""
        return {
            "scope": self.scope.key,
            "week": self.week.key,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "so_far": self.so_far,
            "households_visited": self.households_visited,
            "suggestions": self.suggestions,
            "things_done": self.things_done,
            "cases_registered": self.cases.registered,
            "proposals": self.proposals,
            "cases_resolved": self.cases_resolved,
            "practical_things": self.practical_things,
            "visits_week": self.visits_week,
            "visits_year": self.visits_year,
            "households_year": self.households_year,
            "in_home_households": self.in_home_year,
            "in_home_share": self.in_home_share.value,
            "representatives": len(self.in_office),
            "quota": self.quota,
            "expected_by_now": self.expected,
            "behind_margin": self.behind_margin,
            "behind_pace": len(self.behind),
            "behind": [
                {"code": rep.code, "name": rep.name, "households": rep.households_year, "behind": rep.gap}
                for rep in self.behind
            ],
            "must_visit": {
                "households": self.must_visit.whole,
                "visited": self.must_visit.part,
                "coverage": self.must_visit.value,
            },
            "cases": {key: value for key, value in self.cases.as_dict().items() if key != "group"},
            "mailbox_items": self.mailbox_items,
            "reception_days": self.reception_days,
            "proposals_by_state": self.proposals_by_state,
            "five_ones": self.five_ones,
            "briefings": [
                {"title": one.title, "sent_on": one.sent_on.isoformat(), "read": one.read, "recipients": one.recipients}
                for one in self.briefings
            ],
            "events": [
                {
                    "title": one.title,
                    "kind": one.kind,
                    "day": one.day.isoformat(),
                    "checked_in": one.checked_in,
                    "excused": one.excused,
                    "invited": one.invited,
                }
                for one in self.events
            ],
            "weekly_visits": {week.key: count for week, count in self.weekly_visits},
            "quota_completion": self.completion(),
            "breakdown_by": self.breakdown_by,
            "breakdown": [unit.as_dict() for unit in self.breakdown],
        }


def behind_pace(representatives: list[RepFigures], margin: int) -> list[RepFigures]:
    late = [rep for rep in representatives if rep.active and rep.gap > margin]
    return sorted(late, key=lambda rep: (-rep.gap, rep.code))


def pace(settings: Settings, day: date) -> int:
    """Households an even pace through the year reaches by `day` (storage.records.visits.progress's)."""
    year_start = date(day.year, 1, 1)
    days_in_year = (date(day.year, 12, 31) - year_start).days + 1
    return math.floor(settings.quota.households_per_year * ((day - year_start).days + 1) / days_in_year)


def _took_part(first: date, last: date, rep_ids: list[int] | None) -> sa.Subquery:
    """(rep, household, mode, day) of every visit from `first` to `last`, once for the representative who logged
    it and once for each co-visitor: whom a visit counts for in reaching households."""
    period = col(Visit.visited_on).between(first, last)
    logged_where: list[Any] = [period]
    joined_where: list[Any] = [period]
    if rep_ids is not None:
        logged_where.append(col(Visit.representative_id).in_(rep_ids))
        joined_where.append(col(VisitCompanion.representative_id).in_(rep_ids))
    logged: sa.Select[Any, Any, Any, Any] = sa.select(
        col(Visit.representative_id).label("rep"),
        col(Visit.household_id).label("household"),
        col(Visit.mode).label("mode"),
        col(Visit.visited_on).label("day"),
    ).where(*logged_where)
    joined = (
        sa.select(
            col(VisitCompanion.representative_id),
            col(Visit.household_id),
            col(Visit.mode),
            col(Visit.visited_on),
        )
        .join(Visit, col(Visit.id) == VisitCompanion.visit_id)
        .where(*joined_where)
    )
    return sa.union_all(logged, joined).subquery("took_part")


async def representative_figures(
    session: AsyncSession, *, found: Members, start: date, end: date, settings: Settings
) -> list[RepFigures]:
    """Every representative of the scope with their visits and households (week and year to date), by code."""
    year_start = date(end.year, 1, 1)
    first = min(start, year_start)
    in_home = [mode.code for mode in settings.visits.modes if mode.in_home]
    expected = pace(settings, end)
    by_id = {
        rep.id: RepFigures(
            rep.id,
            rep.code,
            rep.name,
            rep.level,
            found.groups.get(rep.group_id or 0, NONE),
            found.stations.get(rep.station_id or 0, NONE),
            rep.active,
            expected,
        )
        for rep in found.representatives
    }
    day = col(Visit.visited_on)
    visits = sa.select(
        col(Visit.representative_id),
        sa.func.count(sa.case((day >= start, 1))),
        sa.func.count(sa.case((day >= year_start, 1))),
    ).where(day.between(first, end))
    if found.rep_ids is not None:
        visits = visits.where(col(Visit.representative_id).in_(found.rep_ids))
    for rep_id, week, year in await rows(session, visits.group_by(col(Visit.representative_id))):
        if rep_id in by_id:
            by_id[rep_id].visits_week, by_id[rep_id].visits_year = int(week), int(year)
    part = _took_part(first, end, found.rep_ids)
    households = sa.select(
        part.c.rep,
        sa.func.count(sa.distinct(sa.case((part.c.day >= start, part.c.household)))),
        sa.func.count(sa.distinct(sa.case((part.c.day >= year_start, part.c.household)))),
        sa.func.count(
            sa.distinct(sa.case((sa.and_(part.c.day >= year_start, part.c.mode.in_(in_home)), part.c.household)))
        ),
    ).group_by(part.c.rep)
    for rep_id, week, year, at_home in await rows(session, households):
        if rep_id in by_id:
            rep = by_id[rep_id]
            rep.households_week, rep.households_year, rep.in_home_year = int(week), int(year), int(at_home)
    return sorted(by_id.values(), key=lambda rep: rep.code)


async def figures(
    session: AsyncSession,
    *,
    scope: Scope,
    week: Week,
    today: date,
    settings: Settings,
    calendar: WorkCalendar,
) -> DigestFigures:
    """The digest's figures of a scope for an ISO week (up to today when it is not over). Only reads: run it in
    one `Database.read()` (or the caller's transaction), so that every figure comes from one snapshot."""
    found = await members(session, scope=scope)
    start, end = week.monday, min(week.sunday, today)
    if end < start:
        raise InvalidInput("digest.error.future_week", week=week.key)
    year_start = date(end.year, 1, 1)
    result = DigestFigures(
        scope=scope,
        week=week,
        start=start,
        end=end,
        so_far=end < week.sunday,
        quota=settings.quota.households_per_year,
        expected=pace(settings, end),
        behind_margin=settings.reminders.behind_margin,
        breakdown_by=GROUP if scope.kind == DISTRICT else "station",
    )
    result.representatives = await representative_figures(session, found=found, start=start, end=end, settings=settings)
    await _visits(session, result, found, settings)
    await _must_visit(session, result, found, settings, year_start)
    station_cases = await _cases(session, result, found, settings, calendar, today)
    await _reception(session, result, found)
    await _proposals(session, result, found, settings)
    await _activities(session, result, found, settings)
    await _briefings(session, result, found, settings)
    await _events(session, result, found, settings)
    await _breakdown(session, result, found, station_cases)
    return result


async def _visits(session: AsyncSession, result: DigestFigures, found: Members, settings: Settings) -> None:
    start, end = result.start, result.end
    year_start = date(end.year, 1, 1)
    first = min(start, year_start)
    day = col(Visit.visited_on)
    daily = sa.select(day, sa.func.count()).where(day.between(first, end))
    if found.rep_ids is not None:
        daily = daily.where(col(Visit.representative_id).in_(found.rep_ids))
    weeks: Counter[Week] = Counter()
    for visited_on, count in await rows(session, daily.group_by(day)):
        if visited_on >= start:
            result.visits_week += int(count)
        if visited_on >= year_start:
            result.visits_year += int(count)
            weeks[Week.of(visited_on)] += int(count)
    # Every week of the year so far, those without a visit too (the chart's axis).
    week, last = Week.of(year_start), Week.of(end)
    while week <= last:
        result.weekly_visits.append((week, weeks[week]))
        week = week.next()
    in_home = [mode.code for mode in settings.visits.modes if mode.in_home]
    part = _took_part(first, end, found.rep_ids)
    totals = sa.select(
        sa.func.count(sa.distinct(sa.case((part.c.day >= start, part.c.household)))),
        sa.func.count(sa.distinct(sa.case((part.c.day >= year_start, part.c.household)))),
        sa.func.count(
            sa.distinct(sa.case((sa.and_(part.c.day >= year_start, part.c.mode.in_(in_home)), part.c.household)))
        ),
    )
    week_count, year_count, at_home = (await rows(session, totals))[0]
    result.households_visited, result.households_year, result.in_home_year = (
        int(week_count),
        int(year_count),
        int(at_home),
    )


async def _must_visit(
    session: AsyncSession, result: DigestFigures, found: Members, settings: Settings, year_start: date
) -> None:
    codes = [label.code for label in settings.households.must_visit]
    if not codes:
        return
    households = sa.select(col(HouseholdCategory.household_id)).where(col(HouseholdCategory.code).in_(codes))
    if not found.district:
        areas = sa.select(col(Area.id)).where(col(Area.station_id).in_(sorted(found.station_ids)))
        households = households.join(Household, col(Household.id) == HouseholdCategory.household_id).where(
            col(Household.area_id).in_(areas)
        )
    chosen = households.distinct().subquery("must_visit")
    visited = sa.exists().where(
        col(Visit.household_id) == chosen.c.household_id, col(Visit.visited_on).between(year_start, result.end)
    )
    counted = sa.select(sa.func.count(), sa.func.count(sa.case((visited, 1)))).select_from(chosen)
    whole, part = (await rows(session, counted))[0]
    result.must_visit = Rate(int(part), int(whole))


async def _cases(
    session: AsyncSession,
    result: DigestFigures,
    found: Members,
    settings: Settings,
    calendar: WorkCalendar,
    today: date,
) -> dict[int, CaseFigures]:
    """The case figures of the scope (and of each of its stations), as case_figures counts them; the cases
    resolved and the mailbox items of the period."""
    report = await case_figures.case_figures(
        session, start=result.start, end=result.end, settings=settings, calendar=calendar, today=today, by="station"
    )
    by_name = {row.label: row for row in report.rows}
    station_cases = {
        station_id: by_name.get(name, CaseFigures(label=name)) for station_id, name in found.stations.items()
    }
    if found.district:
        result.cases = report.total
    else:
        total = CaseFigures(label="")
        for station_id in found.station_ids:
            _add(total, station_cases[station_id])
        result.cases = total

    begins, ends = case_figures.local_bounds(result.start, result.end, settings)
    registered = sa.and_(col(Case.registered_at) >= begins, col(Case.registered_at) < ends)
    resolved = sa.and_(col(Case.resolved).is_(True), col(Case.answered_at) >= begins, col(Case.answered_at) < ends)
    statement = (
        sa.select(
            col(Area.station_id),
            sa.func.count(sa.case((sa.and_(registered, col(Case.source).in_(MAILBOX_SOURCES)), 1))),
            sa.func.count(sa.case((resolved, 1))),
        )
        .select_from(Case)
        .outerjoin(Area, col(Area.id) == Case.area_id)
        .where(sa.or_(registered, resolved))
        .group_by(col(Area.station_id))
    )
    for station_id, mailbox, done in await rows(session, statement):
        if found.district or station_id in found.station_ids:
            result.mailbox_items += int(mailbox)
            result.cases_resolved += int(done)
    return station_cases


def _add(into: CaseFigures, one: CaseFigures) -> None:
    for name in case_figures.COUNTS:
        setattr(into, name, getattr(into, name) + getattr(one, name))


async def _reception(session: AsyncSession, result: DigestFigures, found: Members) -> None:
    held = sa.select(col(ReceptionDay.station_id), sa.func.count()).where(
        col(ReceptionDay.cancelled).is_(False), col(ReceptionDay.day).between(result.start, result.end)
    )
    for station_id, count in await rows(session, held.group_by(col(ReceptionDay.station_id))):
        if found.district or station_id in found.station_ids:
            result.reception_days += int(count)


async def _proposals(session: AsyncSession, result: DigestFigures, found: Members, settings: Settings) -> None:
    begins, ends = case_figures.local_bounds(result.start, result.end, settings)
    year_begins, _ = case_figures.local_bounds(date(result.end.year, 1, 1), result.end, settings)
    filed = sa.and_(col(Proposal.submitted_at) >= begins, col(Proposal.submitted_at) < ends)
    this_year = sa.and_(col(Proposal.created_at) >= year_begins, col(Proposal.created_at) < ends)
    statement = sa.select(
        col(Proposal.state), sa.func.count(sa.case((filed, 1))), sa.func.count(sa.case((this_year, 1)))
    ).where(sa.or_(filed, this_year))
    if found.rep_ids is not None:
        statement = statement.where(col(Proposal.author_id).in_(found.rep_ids))
    by_state: dict[str, int] = {}
    for state, filed_count, year_count in await rows(session, statement.group_by(col(Proposal.state))):
        result.proposals += int(filed_count)
        if year_count:
            by_state[str(state)] = int(year_count)
    order = sorted(by_state, key=lambda state: _position(PROPOSAL_STATES, state))
    result.proposals_by_state = {state: by_state[state] for state in order}


def _position(order: tuple[str, ...], name: str) -> int:
    return order.index(name) if name in order else len(order)


async def _activities(session: AsyncSession, result: DigestFigures, found: Members, settings: Settings) -> None:
    begins, ends = case_figures.local_bounds(result.start, result.end, settings)
    statement = sa.select(col(Activity.kind), sa.func.count()).where(
        col(Activity.created_at) >= begins, col(Activity.created_at) < ends
    )
    if found.rep_ids is not None:
        statement = statement.where(col(Activity.representative_id).in_(found.rep_ids))
    logged = {str(kind): int(count) for kind, count in await rows(session, statement.group_by(col(Activity.kind)))}
    for kind in settings.activities.kinds:
        if kind.practical:
            result.practical_things += logged.get(kind.code, 0)
        if kind.five_ones and logged.get(kind.code):
            result.five_ones[kind.code] = logged[kind.code]


async def _briefings(session: AsyncSession, result: DigestFigures, found: Members, settings: Settings) -> None:
    begins, ends = case_figures.local_bounds(result.start, result.end, settings)
    statement = (
        sa.select(
            col(Briefing.title),
            col(Briefing.sent_at),
            sa.func.count(col(BriefingRecipient.read_at)),
            sa.func.count(),
        )
        .join(BriefingRecipient, col(BriefingRecipient.briefing_id) == Briefing.id)
        .where(col(Briefing.sent_at) >= begins, col(Briefing.sent_at) < ends)
        .group_by(col(Briefing.id), col(Briefing.title), col(Briefing.sent_at))
        .order_by(col(Briefing.sent_at), col(Briefing.id))
    )
    if found.rep_ids is not None:
        statement = statement.where(col(BriefingRecipient.representative_id).in_(found.rep_ids))
    zone = settings.zone
    result.briefings = [
        BriefingShare(str(title), sent_at.astimezone(zone).date(), int(read), int(recipients))
        for title, sent_at, read, recipients in await rows(session, statement)
    ]


async def _events(session: AsyncSession, result: DigestFigures, found: Members, settings: Settings) -> None:
    begins, ends = case_figures.local_bounds(result.start, result.end, settings)
    invited = col(EventInvitation.checked_in_at).is_not(None)
    statement = (
        sa.select(
            col(ProgrammeEvent.title),
            col(ProgrammeEvent.kind),
            col(ProgrammeEvent.starts_at),
            sa.func.count(sa.case((invited, 1))),
            sa.func.count(sa.case((col(EventInvitation.answer) == "excused", 1))),
            sa.func.count(),
        )
        .join(EventInvitation, col(EventInvitation.event_id) == ProgrammeEvent.id)
        .where(
            col(ProgrammeEvent.cancelled).is_(False),
            col(ProgrammeEvent.starts_at) >= begins,
            col(ProgrammeEvent.starts_at) < ends,
        )
        .group_by(
            col(ProgrammeEvent.id), col(ProgrammeEvent.title), col(ProgrammeEvent.kind), col(ProgrammeEvent.starts_at)
        )
        .order_by(col(ProgrammeEvent.starts_at), col(ProgrammeEvent.id))
    )
    if found.rep_ids is not None:
        statement = statement.where(col(EventInvitation.representative_id).in_(found.rep_ids))
    zone = settings.zone
    result.events = [
        EventAttendance(str(title), str(kind), starts_at.astimezone(zone).date(), int(came), int(excused), int(asked))
        for title, kind, starts_at, came, excused, asked in await rows(session, statement)
    ]


async def _breakdown(
    session: AsyncSession,
    result: DigestFigures,
    found: Members,
    station_cases: dict[int, CaseFigures],
) -> None:
    """The scope by the next level down: the district by group, a township or a group by station."""
    by_group = result.breakdown_by == GROUP
    unit_of_rep = {rep.id: (rep.group_id if by_group else rep.station_id) for rep in found.representatives}
    if by_group:
        units = {group_id: UnitFigures(name) for group_id, name in sorted(found.groups.items())}
        unit_stations = {group_id: found.group_stations.get(group_id, frozenset()) for group_id in units}
    else:
        shown = sorted(found.station_ids | {rep.station_id for rep in found.representatives if rep.station_id})
        units = {station_id: UnitFigures(found.stations.get(station_id, NONE)) for station_id in shown}
        unit_stations = {station_id: frozenset({station_id}) for station_id in units}
    for rep in result.representatives:
        unit = units.get(unit_of_rep.get(rep.id) or 0)
        if unit is not None:
            unit.visits_week += rep.visits_week
    for rep in result.behind:
        unit = units.get(unit_of_rep.get(rep.id) or 0)
        if unit is not None:
            unit.behind += 1
    for unit_id, stations in unit_stations.items():
        for station_id in stations:
            cases = station_cases.get(station_id)
            if cases is not None:
                units[unit_id].new_cases += cases.registered
                units[unit_id].overdue += cases.overdue
    # Households reached this week by each unit's representatives (a household two units reached counts in both).
    part = _took_part(result.start, result.end, found.rep_ids)
    unit_column = col(Representative.group_id) if by_group else col(Representative.station_id)
    reached = (
        sa.select(unit_column, sa.func.count(sa.distinct(part.c.household)))
        .select_from(part)
        .join(Representative, col(Representative.id) == part.c.rep)
        .group_by(unit_column)
    )
    for unit_id, count in await rows(session, reached):
        if unit_id in units:
            units[unit_id].households_week = int(count)
    result.breakdown = [unit for unit in units.values() if unit.label != NONE]


@dataclass(frozen=True)
class OverdueCase:
    """A case past its deadline, as /overdue lists it: no writer, phone or text."""

    number: str
    category: str  # the code of config.toml's [[cases.categories]]
    department: str
    kept_by: str  # the keeping representative's code, or ""
    due_on: date
    working_days_late: int


async def overdue_cases(
    session: AsyncSession, *, scope: Scope, today: date, calendar: WorkCalendar
) -> list[OverdueCase]:
    """The scope's cases open and unanswered past their deadline (case_figures' overdue), longest overdue first."""
    found = await members(session, scope=scope)
    statement = (
        sa.select(
            col(Case.number),
            col(Case.category),
            col(Case.department),
            col(Representative.code),
            col(Case.due_on),
        )
        .outerjoin(Representative, col(Representative.id) == Case.kept_by)
        .where(col(Case.state).in_(UNANSWERED), col(Case.due_on) < today)
        .order_by(col(Case.due_on), col(Case.id))
    )
    if not found.district:
        areas = sa.select(col(Area.id)).where(col(Area.station_id).in_(sorted(found.station_ids)))
        statement = statement.where(col(Case.area_id).in_(areas))
    return [
        OverdueCase(number, category, department, keeper or "", due_on, calendar.working_days_between(due_on, today))
        for number, category, department, keeper, due_on in await rows(session, statement)
    ]
