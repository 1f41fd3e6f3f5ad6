"""The case rates (响应率、解决率、满意率) for any period and grouping, defined once here and used everywhere.

For a period from `start` to `end` (local dates, both included, in `settings.zone`):

- **Due** in the period: a case whose deadline (`due_on`, as it stands now: after an approved extension or a
  reopening, the new one) falls in the period. A withdrawn case is not counted as due: the resident took it back,
  and it is counted among the withdrawn instead.
- **Response rate**: of the cases due, the share whose handler's first step (`Case.first_action_at`: taking it on,
  a progress note, asking for an extension, or the answer) came within `cases.response_working_days` working days
  of registration, counted on the local dates: `WorkCalendar.working_days_between(registered, first action)` at
  most the limit. A case nobody has acted on is not responded.
- **Resolution rate**: of the cases due, the share answered (an answer standing now: answered, or closed with its
  answer) as resolved. A case reopened after a dissatisfied rating has no answer until it is answered again.
- **Satisfaction rate**: of the cases rated in the period, the share rated satisfied or basically satisfied. A case
  is rated in the period when one of its ratings (its `rated` case events) was given in the period; a case rated
  twice in the period (dissatisfied, reopened, answered and rated again) counts once, with its last rating in the
  period. The event is used rather than `closed_at` because a rating that reopens a case does not close it.
- **Registered**: registered in the period. **Answered**: with at least one answer given in the period (its
  `answered` event). **Withdrawn**: withdrawn in the period. **Overdue**: open and unanswered now, and past its
  deadline on the period's last day (or today, when that comes first).

A rate with nothing to count (no case due, none rated) has no value: it is shown as "—", never as 0%.

Grouping (`by`): `area` the case's responsibility area, `station` that area's work station, `group` the current
representative group of the representative the case was written to or reported by (else of the one who keeps it),
`department` the handling department it is assigned to; "—" when the case has none. Groups are listed when at least
one of their cases counts in the period; the total covers the whole district.

Only organisation names and counts are read and shown: never a resident's name, phone or text, never who wrote
an anonymous case (CaseRelay is not read).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.errors import InvalidInput
from storage.exchange.spreadsheets import defused, write_table
from storage.models import Area, Case, CaseEvent, RepGroup, Representative, Station
from storage.settings import Settings
from storage.workdays import WorkCalendar

GROUPINGS = ("area", "station", "group", "department")
NONE = "—"  # a case without an area, group or department; a rate with nothing to count
SATISFIED = ("satisfied", "basic")
# Open and waiting for the handler (an answered case waits for its rating, not for the handler).
UNANSWERED = ("registered", "sorted", "assigned", "in_progress")
WITHDRAWN = "withdrawn"
CLOSED = "closed"


@dataclass(frozen=True)
class Rate:
    """A share: `part` of `whole`. No value when there is nothing to count."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return None if self.whole == 0 else self.part / self.whole

    def shown(self) -> str:
        """75%, 66.7%, or — when there is nothing to count."""
        if self.value is None:
            return NONE
        return f"{round(self.value * 100, 1):g}%"


@dataclass
class CaseFigures:
    """One row of the report: a group's counts (or the district's), and the three rates made from them."""

    label: str
    registered: int = 0
    due: int = 0
    responded: int = 0  # of the due: first handler action within the response limit
    resolved: int = 0  # of the due: answered as resolved
    answered: int = 0
    rated: int = 0
    satisfied: int = 0  # of the rated: satisfied or basically satisfied
    overdue: int = 0
    withdrawn: int = 0

    @property
    def response_rate(self) -> Rate:
        return Rate(self.responded, self.due)

    @property
    def resolution_rate(self) -> Rate:
        return Rate(self.resolved, self.due)

    @property
    def satisfaction_rate(self) -> Rate:
        return Rate(self.satisfied, self.rated)

    def counts_anything(self) -> bool:
        return any((self.registered, self.due, self.answered, self.rated, self.overdue, self.withdrawn))

    def as_dict(self) -> dict[str, Any]:
        """For JSON: the counts, and each rate as a fraction (null when there is nothing to count)."""
        return {
            "group": self.label,
            "registered": self.registered,
            "due": self.due,
            "responded": self.responded,
            "response_rate": self.response_rate.value,
            "resolved": self.resolved,
            "resolution_rate": self.resolution_rate.value,
            "answered": self.answered,
            "rated": self.rated,
            "satisfied": self.satisfied,
            "satisfaction_rate": self.satisfaction_rate.value,
            "overdue": self.overdue,
            "withdrawn": self.withdrawn,
        }


@dataclass(frozen=True)
class CaseReport:
    start: date
    end: date
    by: str | None
    rows: list[CaseFigures]  # one per group, by label ("—" last); empty without a grouping
    total: CaseFigures  # the whole district

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "by": self.by,
            "rows": [row.as_dict() for row in self.rows],
            "total": self.total.as_dict(),
        }


def local_bounds(start: date, end: date, settings: Settings) -> tuple[datetime, datetime]:
    """The moments the period begins and ends (exclusive): local midnights, for comparing stored UTC times."""
    zone = settings.zone
    return datetime.combine(start, time.min, tzinfo=zone), datetime.combine(end + timedelta(days=1), time.min, zone)


async def case_figures(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    settings: Settings,
    calendar: WorkCalendar,
    today: date,
    by: str | None = None,
) -> CaseReport:
    """The figures of the cases for the period, by `by` (one of GROUPINGS) or for the district alone. Only reads:
    run it in one `Database.read()`, so that every figure comes from the same snapshot."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    zone = settings.zone
    begins, ends = local_bounds(start, end, settings)
    overdue_before = min(end, today)
    limit = settings.cases.response_working_days

    # Answers and ratings given in the period, oldest first (so the last rating of a case wins).
    answered: set[int] = set()
    ratings: dict[int, str] = {}
    events = await session.exec(
        select(CaseEvent.case_id, CaseEvent.action, CaseEvent.detail)
        .where(
            col(CaseEvent.action).in_(("answered", "rated")),
            col(CaseEvent.at) >= begins,
            col(CaseEvent.at) < ends,
        )
        .order_by(col(CaseEvent.at), col(CaseEvent.id))
    )
    for case_id, action, detail in events.all():
        if action == "answered":
            answered.add(case_id)
        else:
            ratings[case_id] = str((detail or {}).get("rating", ""))

    # The cases that can count: registered before the period ended, and due, registered, answered, rated,
    # withdrawn in it or still waiting for an answer. Only the columns the figures need: no name, phone or text.
    in_events = select(CaseEvent.case_id).where(
        col(CaseEvent.action).in_(("answered", "rated")), col(CaseEvent.at) >= begins, col(CaseEvent.at) < ends
    )
    cases = await execute(
        session,
        sa.select(
            col(Case.id),
            col(Case.area_id),
            col(Case.representative_id),
            col(Case.kept_by),
            col(Case.department),
            col(Case.state),
            col(Case.registered_at),
            col(Case.due_on),
            col(Case.first_action_at),
            col(Case.answered_at),
            col(Case.resolved),
            col(Case.closed_at),
            (col(Case.answer) != "").label("has_answer"),
        ).where(
            col(Case.registered_at) < ends,
            sa.or_(
                col(Case.due_on) >= start,
                col(Case.registered_at) >= begins,
                col(Case.closed_at) >= begins,
                col(Case.state).in_(UNANSWERED),
                col(Case.id).in_(in_events),
            ),
        ),
    )
    labels = await _labeller(session, by)
    groups: dict[str, CaseFigures] = {}
    total = CaseFigures(label="")
    for row in cases.all():
        case_id, area_id, state, due_on = row.id, row.area_id, row.state, row.due_on
        registered_at: datetime = row.registered_at
        first_action_at: datetime | None = row.first_action_at
        closed_at: datetime | None = row.closed_at
        figures = CaseFigures(label="")
        figures.registered = int(begins <= registered_at < ends)
        if start <= due_on <= end and state != WITHDRAWN:
            figures.due = 1
            if first_action_at is not None:
                registered_on = registered_at.astimezone(zone).date()
                acted_on = first_action_at.astimezone(zone).date()
                figures.responded = int(calendar.working_days_between(registered_on, acted_on) <= limit)
            has_standing_answer = row.answered_at is not None or (state == CLOSED and bool(row.has_answer))
            figures.resolved = int(bool(row.resolved) and has_standing_answer)
        figures.answered = int(case_id in answered)
        rating = ratings.get(case_id or 0)
        if rating is not None:
            figures.rated = 1
            figures.satisfied = int(rating in SATISFIED)
        figures.overdue = int(state in UNANSWERED and due_on < overdue_before)
        figures.withdrawn = int(state == WITHDRAWN and closed_at is not None and begins <= closed_at < ends)
        if not figures.counts_anything():
            continue
        _add(total, figures)
        if by is not None:
            label = labels(
                area_id=area_id, representative_id=row.representative_id, kept_by=row.kept_by, department=row.department
            )
            _add(groups.setdefault(label, CaseFigures(label=label)), figures)
    rows = sorted(groups.values(), key=lambda group: (group.label == NONE, group.label))
    return CaseReport(start=start, end=end, by=by, rows=rows, total=total)


COUNTS = ("registered", "due", "responded", "resolved", "answered", "rated", "satisfied", "overdue", "withdrawn")


def _add(into: CaseFigures, one: CaseFigures) -> None:
    for name in COUNTS:
        setattr(into, name, getattr(into, name) + getattr(one, name))


class _Labeller:
    """The name of the group a case falls in: organisation names only, read once."""

    def __init__(
        self,
        by: str | None,
        areas: dict[int, str],
        area_station: dict[int, int],
        stations: dict[int, str],
        rep_group: dict[int, int | None],
        groups: dict[int, str],
    ) -> None:
        self.by = by
        self.areas = areas
        self.area_station = area_station
        self.stations = stations
        self.rep_group = rep_group
        self.groups = groups

    def __call__(
        self, *, area_id: int | None, representative_id: int | None, kept_by: int | None, department: str
    ) -> str:
        if self.by == "area":
            return self.areas.get(area_id or 0, NONE)
        if self.by == "station":
            station = self.area_station.get(area_id or 0)
            return self.stations.get(station or 0, NONE)
        if self.by == "group":
            person = representative_id if representative_id is not None else kept_by
            group = self.rep_group.get(person or 0)
            return self.groups.get(group or 0, NONE)
        return department or NONE


async def _labeller(session: AsyncSession, by: str | None) -> _Labeller:
    areas: dict[int, str] = {}
    area_station: dict[int, int] = {}
    stations: dict[int, str] = {}
    rep_group: dict[int, int | None] = {}
    groups: dict[int, str] = {}
    if by in ("area", "station"):
        stations = {id_ or 0: name for id_, name in (await session.exec(select(Station.id, Station.name))).all()}
        found = (await session.exec(select(Area.id, Area.name, Area.station_id))).all()
        area_station = {id_ or 0: station for id_, _name, station in found}
        # Area names are unique within a work station only: a name two stations share says which it is.
        names = [name for _id, name, _station in found]
        for id_, name, station in found:
            shared = names.count(name) > 1
            areas[id_ or 0] = f"{name}（{stations.get(station, NONE)}）" if shared else name
    elif by == "group":
        groups = {id_ or 0: name for id_, name in (await session.exec(select(RepGroup.id, RepGroup.name))).all()}
        rep_group = {
            id_ or 0: group
            for id_, group in (await session.exec(select(Representative.id, Representative.group_id))).all()
        }
    return _Labeller(by, areas, area_station, stations, rep_group, groups)


# --- the report as a file -----------------------------------------------------------------------------------

# Columns of the .csv / .xlsx report: a file format other tools read, fixed and in Chinese like the exports'.
GROUP_HEADERS = {None: "范围", "area": "责任区", "station": "工作站", "group": "代表小组", "department": "承办单位"}
REPORT_HEADERS = [
    "登记件数",
    "到期件数",
    "按时响应件数",
    "响应率",
    "解决件数",
    "解决率",
    "答复件数",
    "评价件数",
    "满意件数",
    "满意率",
    "逾期件数",
    "撤回件数",
]
DISTRICT = "全区"
FORMATS = ("text", "csv", "xlsx", "json")


def report_table(report: CaseReport) -> list[list[str]]:
    """The report's lines, the header first and the district's total last."""
    lines = [[GROUP_HEADERS[report.by], *REPORT_HEADERS]]
    for row in [*report.rows, report.total]:
        lines.append(
            [
                row.label or DISTRICT,
                str(row.registered),
                str(row.due),
                str(row.responded),
                row.response_rate.shown(),
                str(row.resolved),
                row.resolution_rate.shown(),
                str(row.answered),
                str(row.rated),
                str(row.satisfied),
                row.satisfaction_rate.shown(),
                str(row.overdue),
                str(row.withdrawn),
            ]
        )
    return lines


def report_json(report: CaseReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"


def csv_text(lines: Iterable[list[str]]) -> str:
    """Lines as CSV for standard output (no byte order mark: it goes to a pipe, not to Excel)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([defused(cell) for cell in line] for line in lines)
    return buffer.getvalue()


def write_report(path: Path, report: CaseReport, form: str) -> None:
    """The report as a .csv, .xlsx or .json file (whole, or not at all)."""
    if form == "json":
        write_text(path, report_json(report))
        return
    if form not in ("csv", "xlsx") or path.suffix.lower() != f".{form}":
        raise InvalidInput("cli.report.bad_output", path=path.name, format=form)
    try:
        write_table(path, report_table(report), sheet_title="诉求办理情况")
    except OSError as error:
        raise InvalidInput("cli.unwritable", path=path.name) from error


def write_text(path: Path, text: str) -> None:
    """A text file written next to `path` and renamed, so a failed write never leaves half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        raise InvalidInput("cli.unwritable", path=path.name) from error
    finally:
        partial.unlink(missing_ok=True)
