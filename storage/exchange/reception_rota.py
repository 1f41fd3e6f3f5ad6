"""The reception-day rota as a file: reading and checking a .csv / .xlsx rota, importing it (all or nothing; a day
already there, keyed on station + date + start, is updated in place), exporting it.

A rota's columns: 工作站/station, 日期/date, 开始/starts, 结束/ends (required), 地点/place, 值班代表/representatives
(representatives' codes split by ；; 、 or spaces), 取消/cancelled (是/否). Headers in Chinese or English; an optional
column missing from the file leaves what is stored as it is."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import InvalidInput
from storage.exchange.roster import ACTIVE
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
from storage.models import ReceptionDay, Representative, Station
from storage.records import reception, rota_changes
from storage.records.cases import Render
from storage.settings import Settings

COLUMNS: tuple[Column, ...] = (
    Column("station", "工作站", required=True),  # a station's name as the roster has it
    Column("date", "日期", required=True),  # 2026-11-26, 2026/11/26, 2026年11月26日, or a date cell
    Column("starts", "开始", required=True),  # 9:00, or a time cell
    Column("ends", "结束", required=True),  # after the start
    Column("place", "地点"),  # empty: the station's address; at most 200
    Column("representatives", "值班代表"),  # codes split by ； ; 、 , or spaces
    Column("cancelled", "取消"),  # 是/否, yes/no; default no
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
CODE_JOINER = "；"
SHEET_TITLE = "接待日安排"


@dataclass(frozen=True)
class RotaRow:
    """One reception day as read from a rota, values checked."""

    station: str
    day: date
    starts: time
    ends: time
    place: str = ""
    codes: tuple[str, ...] = ()
    cancelled: bool = False
    row: int = 0
    columns: frozenset[str] = frozenset(COLUMN_NAMES)


class RotaInvalid(TableInvalid):
    """The rota has problems; nothing was imported. `problems` lists every one found, in file order."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__("reception.rota.invalid_header", problems)


@dataclass(frozen=True)
class RotaResult:
    created: int
    updated: int
    unchanged: int


# --- reading ----------------------------------------------------------------------------------------------


def read_rota(path: Path) -> list[RotaRow]:
    """Read and check a rota file; raises RotaInvalid with every problem found, or InvalidInput."""
    table = read_table(path, COLUMNS)
    problems = table.problems
    rows: list[RotaRow] = []
    first_row: dict[tuple[str, date, time], int] = {}
    for number, values in table.rows:
        row, row_problems = _parse_row(number, values, table.present)
        problems += row_problems
        if row is None:
            continue
        key = (row.station, row.day, row.starts)
        if key in first_row:
            first = {"first_row": first_row[key]}
            problems.append(RowProblem(number, table.present["date"], "reception.rota.duplicate", first))
            continue
        first_row[key] = number
        rows.append(row)
    if not rows and not problems:
        raise InvalidInput("reception.rota.empty", file=path.name)
    if problems:
        raise RotaInvalid(sort_problems(problems, table.present, COLUMNS))
    return rows


def _cell_time(text: str) -> time | None:
    """9:00, or a spreadsheet time cell (09:00:00)."""
    typed = unicodedata.normalize("NFKC", text).strip()
    if typed.count(":") == 2 and typed.endswith(":00"):
        typed = typed[:-3]
    return reception.parse_time(typed)


def _parse_row(number: int, values: dict[str, str], headers: dict[str, str]) -> tuple[RotaRow | None, list[RowProblem]]:
    cells = RowReader(number, values, headers)
    station = cells.required("station")
    day: date | None = None
    if cells.required("date"):
        day = reception.parse_day(values["date"])
        if day is None:
            cells.problem("date", "reception.rota.bad_date", value=quoted(values["date"]))
    times: list[time | None] = []
    for name in ("starts", "ends"):
        value = cells.required(name)
        parsed = _cell_time(value) if value else None
        if value and parsed is None:
            cells.problem(name, "reception.rota.bad_time", value=quoted(value))
        times.append(parsed)
    starts, ends = times
    if starts is not None and ends is not None and ends <= starts:
        cells.problem("ends", "reception.rota.ends_first", starts=reception.clock(starts), ends=reception.clock(ends))
    place = cells.limited("place", reception.MAX_PLACE)
    codes = reception.split_codes(values.get("representatives", ""))
    if len(codes) > reception.MAX_ON_DUTY:
        cells.problem("representatives", "reception.rota.too_many", max=reception.MAX_ON_DUTY)
    cancelled = bool(cells.choice("cancelled", ACTIVE, False, key="roster.error.active"))
    if cells.problems or day is None or starts is None or ends is None:
        return None, cells.problems
    row = RotaRow(
        station=station,
        day=day,
        starts=starts,
        ends=ends,
        place=place,
        codes=tuple(codes),
        cancelled=cancelled,
        row=number,
        columns=frozenset(headers),
    )
    return row, []


# --- importing --------------------------------------------------------------------------------------------


async def _check_against_store(
    session: AsyncSession, rows: Sequence[RotaRow]
) -> tuple[dict[str, int], dict[str, Representative], list[RowProblem]]:
    """Stations by name and representatives by code as the store has them; a row naming one it has not (or a
    representative no longer in office) is a problem of that row."""
    names = sorted({row.station for row in rows})
    stations = {
        station.name: station.id
        for station in await session.exec(select(Station).where(col(Station.name).in_(names)))
        if station.id is not None
    }
    codes = sorted({code for row in rows for code in row.codes})
    reps = {
        rep.code: rep for rep in await session.exec(select(Representative).where(col(Representative.code).in_(codes)))
    }
    problems: list[RowProblem] = []
    station_header, duty_header = COLUMNS[0].chinese, COLUMNS[5].chinese
    for row in rows:
        if row.station not in stations:
            problems.append(
                RowProblem(row.row, station_header, "reception.rota.unknown_station", {"value": row.station})
            )
        for code in row.codes:
            rep = reps.get(code)
            if rep is None:
                problems.append(RowProblem(row.row, duty_header, "reception.rota.unknown_code", {"value": code[:20]}))
            elif not rep.active:
                problems.append(RowProblem(row.row, duty_header, "reception.rota.inactive", {"value": code}))
    return stations, reps, problems


async def import_rota(
    session: AsyncSession, *, rows: Sequence[RotaRow], actor: str, settings: Settings, now: datetime, render: Render
) -> RotaResult:
    """Create or update the days of `rows` in the caller's transaction; raises RotaInvalid (the caller rolls back)
    when a row names a station or a representative the store does not have. A coming day's changes are told as
    in the chat (a new time or place, a cancellation, duty changes); days created by an import are announced by
    their eve notices."""
    stations, reps, problems = await _check_against_store(session, rows)
    if problems:
        raise RotaInvalid(problems)
    created = updated = unchanged = 0
    for row in rows:
        station_id = stations[row.station]
        existing = (
            await session.exec(
                select(ReceptionDay).where(
                    ReceptionDay.station_id == station_id,
                    ReceptionDay.day == row.day,
                    ReceptionDay.starts == row.starts,
                )
            )
        ).first()
        rep_ids = [rep_id for code in row.codes if (rep_id := reps[code].id) is not None]
        if existing is None:
            record = await rota_changes.add_day(
                session,
                station_id=station_id,
                day=row.day,
                starts=row.starts,
                ends=row.ends,
                place=row.place if "place" in row.columns else "",
                representative_ids=rep_ids,
                actor=actor,
                settings=settings,
                now=now,
                render=render,
                notify=False,
                allow_past=True,
            )
            if row.cancelled:
                assert record.id is not None
                await rota_changes.change_day(
                    session,
                    reception_id=record.id,
                    cancelled=True,
                    actor=actor,
                    settings=settings,
                    now=now,
                    render=render,
                    allow_past=True,
                )
            created += 1
            continue
        assert existing.id is not None
        before = await reception.view(session, reception_id=existing.id)
        await rota_changes.change_day(
            session,
            reception_id=existing.id,
            ends=row.ends,
            place=row.place if "place" in row.columns else None,
            representative_ids=rep_ids if "representatives" in row.columns else None,
            cancelled=row.cancelled if "cancelled" in row.columns else None,
            actor=actor,
            settings=settings,
            now=now,
            render=render,
            allow_past=True,
        )
        if await reception.view(session, reception_id=existing.id) != before:
            updated += 1
        else:
            unchanged += 1
    audit.record(
        session,
        actor=actor,
        action="reception.import",
        entity="reception_day",
        created=created,
        updated=updated,
        unchanged=unchanged,
    )
    return RotaResult(created=created, updated=updated, unchanged=unchanged)


# --- exporting --------------------------------------------------------------------------------------------


async def rota_table(
    session: AsyncSession, *, since: date, until: date, station_id: int | None = None
) -> list[list[str]]:
    """The days between two dates (cancelled ones too) as a rota's lines, the Chinese header first. Only reads;
    re-importing the file changes nothing."""
    lines = [[column.chinese for column in COLUMNS]]
    for rota in await reception.listing(session, since=since, until=until, station_id=station_id):
        lines.append(
            [
                rota.station,
                rota.day.isoformat(),
                reception.clock(rota.starts),
                reception.clock(rota.ends),
                rota.place,
                CODE_JOINER.join(one.code for one in rota.duty),
                "是" if rota.cancelled else "否",
            ]
        )
    return lines


def write_rota(path: Path, lines: list[list[str]]) -> None:
    """Write `rota_table`'s lines to a .csv or .xlsx file (whole, or not at all)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("roster.error.format", file=path.name, extension=path.suffix or "-")
    try:
        write_table(path, lines, sheet_title=SHEET_TITLE)
    except OSError as error:
        raise InvalidInput("roster.error.unwritable", file=path.name) from error
