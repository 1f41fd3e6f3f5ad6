"""The representative roster: reading and checking a .csv / .xlsx roster, importing it, exporting it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import InvalidInput
from storage.exchange.spreadsheets import SUFFIXES, write_table
from storage.exchange.table_files import (
    Column,
    RowProblem,
    RowReader,
    TableInvalid,
    quoted,
    read_table,
    sort_problems,
)
from storage.models import Area, RepArea, RepGroup, Representative, Station, utcnow
from storage.records import people, reception, rota_changes

# The roster's columns, in file order. Both headers are accepted on import (whitespace and case ignored);
# export writes the Chinese ones. An optional column missing from the file leaves the stored value as it is.
COLUMNS: tuple[Column, ...] = (
    Column("code", "编号", required=True),  # stable key: letters, digits, "-"; at most 20
    Column("name", "姓名", required=True),  # at most 50
    Column("level", "层级", required=True),  # district | township (区级, 区, 乡镇级, 乡镇, 街道)
    Column("group", "代表小组"),  # group name; created when new
    Column("group_role", "小组职务"),  # member | leader | liaison (成员, 组员, 组长, 联络员); default member
    Column("station", "工作站"),  # station name; created when new
    Column("areas", "责任区"),  # area names split by ; ； 、 — under the row's station, or written 工作站/责任区
    Column("phone", "手机"),  # mobile: 11 digits from 1; landline: 7-12 digits; spaces and dashes dropped
    Column("unit", "单位职务"),  # at most 100
    Column("active", "在任"),  # yes/no, 是/否, 1/0, true/false; default yes
    # Coming reception-day duty dates at the representative's station, YYYY-MM-DD split by ; ； 、 (the days must be
    # in the rota already); the listed dates replace their coming duties there.
    Column("reception_days", "接待日"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
ALL_COLUMNS: frozenset[str] = frozenset(COLUMN_NAMES)

# Accepted cell values (compared case-folded) and what they mean; export writes the Chinese labels.
LEVELS = dict.fromkeys(("district", "区级", "区"), "district") | dict.fromkeys(
    ("township", "乡镇级", "乡镇", "街道"), "township"
)
ROLES = (
    dict.fromkeys(("member", "成员", "组员"), "member")
    | dict.fromkeys(("leader", "组长"), "leader")
    | dict.fromkeys(("liaison", "联络员"), "liaison")
)
ACTIVE = dict.fromkeys(("yes", "是", "1", "true"), True) | dict.fromkeys(("no", "否", "0", "false"), False)
LEVEL_LABELS = {"district": "区级", "township": "乡镇级"}
ROLE_LABELS = {"member": "成员", "leader": "组长", "liaison": "联络员"}
AREA_SEPARATORS = re.compile(r"[;；、]")
AREA_JOINER = "；"
# An area of another station than the representative's own is written with its station: 东山村工作站/东山村一组.
AREA_STATION = "/"
CODE_PATTERN = re.compile(r"[A-Za-z0-9-]{1,20}")
MAX_NAME, MAX_UNIT, MAX_PLACE = 50, 100, 100
CHUNK = 500  # ids per IN (...) list
T = TypeVar("T")


@dataclass(frozen=True)
class RosterRow:
    """One representative as read from a roster, values checked and normalised."""

    code: str
    name: str
    level: str  # district | township
    group: str | None = None
    group_role: str = "member"  # member | leader | liaison
    station: str | None = None
    areas: tuple[str, ...] = ()
    phone: str = ""  # digits only
    unit: str = ""
    active: bool = True
    reception_days: tuple[date, ...] = ()
    row: int = 0  # the spreadsheet row it came from; 0 when built in code
    columns: frozenset[str] = ALL_COLUMNS  # the columns the file had; the others are left as stored

    def area_keys(self) -> list[tuple[str, str]]:
        """(station name, area name) of every area, unqualified names taken as under the row's station."""
        keys: list[tuple[str, str]] = []
        for area in self.areas:
            station, separator, name = area.partition(AREA_STATION)
            if separator:
                keys.append((station.strip(), name.strip()))
            elif self.station is not None:
                keys.append((self.station, area))
        return keys


class RosterInvalid(TableInvalid):
    """The roster has problems; nothing was imported. `problems` lists every one found, in file order."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__("roster.invalid_header", problems)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    revoked: int = 0  # chats unbound because their representative left office


# --- reading ----------------------------------------------------------------------------------------------


def read_roster(path: Path) -> list[RosterRow]:
    """Read and check a roster file; raises RosterInvalid with every problem found, or InvalidInput."""
    table = read_table(path, COLUMNS)
    problems = table.problems
    rows: list[RosterRow] = []
    for number, values in table.rows:
        roster_row, row_problems = _parse_row(number, values, table.present, table.columns)
        problems.extend(row_problems)
        if roster_row is not None:
            rows.append(roster_row)
    if not rows and not problems:
        raise InvalidInput("roster.error.empty", file=path.name)
    problems.extend(check_rows(rows, headers=table.present))
    if problems:
        raise RosterInvalid(sort_problems(problems, table.present, COLUMNS))
    return rows


def check_rows(rows: Sequence[RosterRow], *, headers: dict[str, str] | None = None) -> list[RowProblem]:
    """Problems between rows, on the later row: a code used twice, two active leaders in one group."""
    headers = headers or {}
    problems: list[RowProblem] = []
    first_code: dict[str, int] = {}
    first_leader: dict[str, int] = {}
    for row in rows:
        if row.code in first_code:
            problems.append(
                RowProblem(
                    row.row,
                    headers.get("code", "code"),
                    "roster.error.duplicate_code",
                    {"value": row.code, "first_row": first_code[row.code]},
                )
            )
            continue
        first_code[row.code] = row.row
        if row.group_role == "leader" and row.active and row.group and {"group", "group_role"} <= row.columns:
            if row.group in first_leader:
                problems.append(
                    RowProblem(
                        row.row,
                        headers.get("group_role", "group_role"),
                        "roster.error.second_leader",
                        {"group": row.group, "first_row": first_leader[row.group]},
                    )
                )
            else:
                first_leader[row.group] = row.row
    return problems


def _parse_row(
    number: int, values: dict[str, str], headers: dict[str, str], columns: frozenset[str]
) -> tuple[RosterRow | None, list[RowProblem]]:
    cells = RowReader(number, values, headers)
    code = unicodedata.normalize("NFKC", cells.required("code"))
    if code and not CODE_PATTERN.fullmatch(code):
        cells.problem("code", "roster.error.code", value=quoted(values["code"]))
    name = cells.required("name")
    if len(name) > MAX_NAME:
        cells.problem("name", "roster.error.too_long", max=MAX_NAME)
    level: str = cells.choice("level", LEVELS, "") if cells.required("level") else ""
    group = cells.limited("group", MAX_PLACE) or None
    group_role: str = cells.choice("group_role", ROLES, "member")
    if group_role != "member" and group is None:
        cells.problem("group", "roster.error.role_without_group", value=quoted(values["group_role"]))
    station = cells.limited("station", MAX_PLACE) or None
    areas: list[str] = []
    for area in AREA_SEPARATORS.split(values.get("areas", "")):
        area = area.strip()
        if area and area not in areas:
            areas.append(area)
    if any(len(part.strip()) > MAX_PLACE for area in areas for part in area.split(AREA_STATION, 1)):
        cells.problem("areas", "roster.error.too_long", max=MAX_PLACE)
    if any(AREA_STATION not in area for area in areas) and station is None:
        cells.problem("station", "roster.error.areas_without_station")
    phone = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", values.get("phone", "")))
    if phone and not _valid_phone(phone):
        cells.problem("phone", "roster.error.phone", value=quoted(values["phone"]))
    unit = cells.limited("unit", MAX_UNIT)
    active: bool = cells.choice("active", ACTIVE, True)
    duty_days: list[date] = []
    for written in AREA_SEPARATORS.split(values.get("reception_days", "")):
        if written.strip():
            day = reception.parse_day(written)
            if day is None:
                cells.problem("reception_days", "roster.error.reception_days", value=quoted(written.strip()))
            elif day not in duty_days:
                duty_days.append(day)
    if cells.problems:
        return None, cells.problems
    row = RosterRow(
        code=code,
        name=name,
        level=level,
        group=group,
        group_role=group_role,
        station=station,
        areas=tuple(areas),
        phone=phone,
        unit=unit,
        active=active,
        reception_days=tuple(duty_days),
        row=number,
        columns=columns,
    )
    return row, []


def _valid_phone(digits: str) -> bool:
    if not digits.isascii() or not digits.isdigit():
        return False
    if digits.startswith("1"):  # mainland mobile numbers; no landline starts with 1
        return len(digits) == 11
    return 7 <= len(digits) <= 12


# --- importing --------------------------------------------------------------------------------------------


async def import_roster(
    session: AsyncSession,
    *,
    rows: list[RosterRow],
    actor: str,
    now: datetime | None = None,
    farewell: people.Farewell | None = None,
    default_language: str = "zh-CN",
    today: date | None = None,
) -> ImportResult:
    """Create or update the representatives of `rows` (keyed on code) in the caller's transaction.

    Groups and stations (by name) and areas (by station and name) are created when new. A representative's
    areas are replaced by the row's when the roster has an areas column. A representative the file takes out of
    office has every chat unbound at once, each told so with `farewell` in its language. Raises RosterInvalid,
    which rolls the caller's transaction back, when the rows contradict each other or would leave a group with
    two leaders.
    """
    problems = check_rows(rows)
    if problems:
        raise RosterInvalid(problems)
    groups = await _groups(session, {row.group for row in rows if row.group})
    area_keys = {row.code: row.area_keys() for row in rows if "areas" in row.columns}
    stations = await _stations(
        session,
        {row.station for row in rows if row.station} | {station for keys in area_keys.values() for station, _ in keys},
    )
    areas = await _areas(session, {(stations[station], name) for keys in area_keys.values() for station, name in keys})
    existing = {rep.code: rep for rep in await _by_code(session, [row.code for row in rows])}
    served = await _served(session, [rep.id for rep in existing.values() if rep.id is not None])

    created = updated = unchanged = 0
    pending: list[tuple[Representative, RosterRow]] = []
    leaving: list[Representative] = []
    for row in rows:
        rep = existing.get(row.code)
        if rep is not None and not row.active and "active" in row.columns:
            leaving.append(rep)  # left office now, or before Lianxin unbound chats on leaving: unbound either way
        if rep is None:
            rep = Representative(code=row.code, name=row.name, level=row.level)
            _apply(rep, row, groups, stations)
            session.add(rep)
            pending.append((rep, row))
            created += 1
            continue
        assert rep.id is not None
        changed = _apply(rep, row, groups, stations)
        if "areas" in row.columns:
            wanted = {areas[(stations[station], name)] for station, name in area_keys[row.code]}
            have = served.get(rep.id, set())
            if wanted != have:
                await _replace_areas(session, rep.id, have, wanted)
                changed = True
        if changed:
            rep.updated_at = utcnow()
            updated += 1
        else:
            unchanged += 1
    await session.flush()
    for rep, row in pending:
        assert rep.id is not None
        if "areas" in row.columns:
            wanted = {areas[(stations[station], name)] for station, name in area_keys[row.code]}
            await _replace_areas(session, rep.id, set(), wanted)
    await session.flush()
    await _check_leaders(session, rows, groups)
    await _set_duties(session, rows, today or (now or utcnow()).date())
    revoked = 0
    for rep in leaving:
        person = people.Person.of_representative(rep)
        revoked += await people.revoke(
            session,
            person=person,
            now=now or utcnow(),
            actor=actor,
            farewell=farewell,
            default_language=default_language,
        )
    audit.record(
        session,
        actor=actor,
        action="roster.import",
        entity="representative",
        created=created,
        updated=updated,
        unchanged=unchanged,
        revoked=revoked,
    )
    return ImportResult(created=created, updated=updated, unchanged=unchanged, revoked=revoked)


def _apply(rep: Representative, row: RosterRow, groups: dict[str, int], stations: dict[str, int]) -> bool:
    """Copy the row's values that its file had onto `rep`; True when anything changed."""
    values: dict[str, Any] = {"name": row.name, "level": row.level}
    if "group" in row.columns:
        values["group_id"] = groups[row.group] if row.group else None
    if "group_role" in row.columns or ("group" in row.columns and not row.group):
        values["group_role"] = row.group_role if row.group else "member"
    if "station" in row.columns:
        values["station_id"] = stations[row.station] if row.station else None
    for name in ("phone", "unit", "active"):
        if name in row.columns:
            values[name] = getattr(row, name)
    changed = False
    for name, value in values.items():
        if getattr(rep, name) != value:
            setattr(rep, name, value)
            changed = True
    return changed


async def _groups(session: AsyncSession, names: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        for group in await session.exec(select(RepGroup).where(col(RepGroup.name).in_(chunk))):
            assert group.id is not None
            found[group.name] = group.id
    new = [RepGroup(name=name) for name in sorted(names - found.keys())]
    session.add_all(new)
    await session.flush()
    for group in new:
        assert group.id is not None
        found[group.name] = group.id
    return found


async def _stations(session: AsyncSession, names: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        for station in await session.exec(select(Station).where(col(Station.name).in_(chunk))):
            assert station.id is not None
            found[station.name] = station.id
    new = [Station(name=name) for name in sorted(names - found.keys())]
    session.add_all(new)
    await session.flush()
    for station in new:
        assert station.id is not None
        found[station.name] = station.id
    return found


async def _areas(session: AsyncSession, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    found: dict[tuple[int, str], int] = {}
    for chunk in _chunks(sorted({station_id for station_id, _ in keys})):
        for area in await session.exec(select(Area).where(col(Area.station_id).in_(chunk))):
            assert area.id is not None
            found[(area.station_id, area.name)] = area.id
    new = [Area(station_id=station_id, name=name) for station_id, name in sorted(keys - found.keys())]
    session.add_all(new)
    await session.flush()
    for area in new:
        assert area.id is not None
        found[(area.station_id, area.name)] = area.id
    return found


async def _by_code(session: AsyncSession, codes: list[str]) -> list[Representative]:
    reps: list[Representative] = []
    for chunk in _chunks(codes):
        reps.extend(await session.exec(select(Representative).where(col(Representative.code).in_(chunk))))
    return reps


async def _served(session: AsyncSession, rep_ids: list[int]) -> dict[int, set[int]]:
    served: dict[int, set[int]] = {}
    for chunk in _chunks(rep_ids):
        for link in await session.exec(select(RepArea).where(col(RepArea.representative_id).in_(chunk))):
            served.setdefault(link.representative_id, set()).add(link.area_id)
    return served


async def _replace_areas(session: AsyncSession, rep_id: int, have: set[int], wanted: set[int]) -> None:
    gone = sorted(have - wanted)
    for chunk in _chunks(gone):
        links = await session.exec(
            select(RepArea).where(RepArea.representative_id == rep_id, col(RepArea.area_id).in_(chunk))
        )
        for link in links:
            await session.delete(link)
    session.add_all(RepArea(representative_id=rep_id, area_id=area_id) for area_id in sorted(wanted - have))


async def _check_leaders(session: AsyncSession, rows: Sequence[RosterRow], groups: dict[str, int]) -> None:
    """A leader named by the file may not join a group whose stored leader the file left in place."""
    problems: list[RowProblem] = []
    for row in rows:
        if not (row.group and row.group_role == "leader" and row.active and {"group", "group_role"} <= row.columns):
            continue
        others = await session.exec(
            select(Representative.code).where(
                Representative.group_id == groups[row.group],
                Representative.group_role == "leader",
                col(Representative.active).is_(True),
                Representative.code != row.code,
            )
        )
        other = others.first()
        if other is not None:
            problems.append(
                RowProblem(row.row, "group_role", "roster.error.leader_exists", {"group": row.group, "code": other})
            )
    if problems:
        raise RosterInvalid(problems)


async def _set_duties(session: AsyncSession, rows: Sequence[RosterRow], today: date) -> None:
    """The reception-day column: each row's coming duties at their station (storage.records.reception); a date
    with no reception day there is a problem of the row."""
    listed = [row for row in rows if "reception_days" in row.columns]
    if not listed:
        return
    reps = {rep.code: rep for rep in await _by_code(session, [row.code for row in listed])}
    duties = [
        rota_changes.RosterDuty(row.row, rep_id, reps[row.code].station_id, row.reception_days)
        for row in listed
        if (rep_id := reps[row.code].id) is not None
    ]
    missing = await rota_changes.set_roster_duties(session, duties=duties, today=today)
    if missing:
        raise RosterInvalid(
            [
                RowProblem(row, "reception_days", "roster.error.no_reception_day", {"day": day.isoformat()})
                for row, day in missing
            ]
        )


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# --- exporting --------------------------------------------------------------------------------------------


async def export_roster(session: AsyncSession, *, path: Path, actor: str = "cli", include_phones: bool = True) -> int:
    """Write every representative to `path` (.csv or .xlsx) with Chinese headers; returns the number written.

    Re-importing the file changes nothing. Without phones the phone column is left out, and re-importing such
    a file leaves the stored phones as they are. All of it in the caller's transaction, the file written before
    it commits: a write transaction held that long holds up every other writer on SQLite, so the command line
    uses the three parts instead, `roster_table` in `Database.read()`, `write_roster`, then
    `record_roster_export` in a transaction of its own.
    """
    _check_format(path)
    lines = await roster_table(session, include_phones=include_phones)
    write_roster(path, lines)
    record_roster_export(session, actor=actor, count=len(lines) - 1, include_phones=include_phones)
    return len(lines) - 1


async def roster_table(
    session: AsyncSession, *, include_phones: bool = True, today: date | None = None
) -> list[list[str]]:
    """Every representative as the roster's lines, the Chinese header first (duty dates from `today` on). Only
    reads."""
    columns = [column for column in COLUMNS if include_phones or column.name != "phone"]
    lines = [[column.chinese for column in columns]]
    records = await _records(session, today or utcnow().date())
    lines.extend([record[column.name] for column in columns] for record in records)
    return lines


def write_roster(path: Path, lines: list[list[str]]) -> None:
    """Write `roster_table`'s lines to a .csv or .xlsx file (whole, or not at all)."""
    _check_format(path)
    try:
        write_table(path, lines, sheet_title="代表名册")
    except OSError as error:
        raise InvalidInput("roster.error.unwritable", file=path.name) from error


def record_roster_export(session: AsyncSession, *, actor: str, count: int, include_phones: bool) -> None:
    """The export's audit row, in a short transaction of its own once the file is written."""
    audit.record(
        session,
        actor=actor,
        action="roster.export",
        entity="representative",
        count=count,
        phones=include_phones,
    )


def _check_format(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("roster.error.format", file=path.name, extension=path.suffix or "-")


async def _records(session: AsyncSession, today: date) -> list[dict[str, str]]:
    groups = {group.id: group.name for group in await session.exec(select(RepGroup))}
    stations = {station.id: station.name for station in await session.exec(select(Station))}
    areas = {area.id: area for area in await session.exec(select(Area))}
    served: dict[int, list[Area]] = {}
    for link in await session.exec(select(RepArea)):
        served.setdefault(link.representative_id, []).append(areas[link.area_id])
    duty_days = await reception.coming_duty_dates(session, since=today)
    records: list[dict[str, str]] = []
    for rep in await session.exec(select(Representative).order_by(col(Representative.code))):
        assert rep.id is not None
        area_cells = sorted(
            area.name if area.station_id == rep.station_id else f"{stations[area.station_id]}{AREA_STATION}{area.name}"
            for area in served.get(rep.id, [])
        )
        records.append(
            {
                "code": rep.code,
                "name": rep.name,
                "level": LEVEL_LABELS.get(rep.level, rep.level),
                "group": groups[rep.group_id] if rep.group_id is not None else "",
                "group_role": ROLE_LABELS.get(rep.group_role, rep.group_role),
                "station": stations[rep.station_id] if rep.station_id is not None else "",
                "areas": AREA_JOINER.join(area_cells),
                "phone": rep.phone,
                "unit": rep.unit,
                "active": "是" if rep.active else "否",
                "reception_days": AREA_JOINER.join(day.isoformat() for day in duty_days.get(rep.id, [])),
            }
        )
    return records
