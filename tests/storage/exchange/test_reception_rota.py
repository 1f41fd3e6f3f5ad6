"""The reception-day rota as a file (read, checked row by row, imported all or nothing, re-imported in place,
exported and back), the roster's reception-day column, and the demo district's rota."""

from __future__ import annotations

import csv
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import col, func, select

from handlers.i18n import t
from handlers.reception import notice
from storage.db import Database
from storage.exchange import reception_rota, roster
from storage.exchange.demo import build_demo
from storage.exchange.reception_rota import RotaInvalid, RotaResult
from storage.exchange.roster import RosterInvalid
from storage.models import DueItem, OutboxMessage, ReceptionDay, ReceptionDuty, Representative, Station
from storage.records import reception
from storage.settings import Settings
from tests.factories import NOW, TODAY, District, build_district
from tests.storage.records.test_reception import bind, utc

HEADER = ["工作站", "日期", "开始", "结束", "地点", "值班代表", "取消"]
ROTA = [
    ["幸福社区党代表工作站", "2026-11-26", "9:00", "11:30", "", "D001；T001", "否"],
    ["幸福社区党代表工作站", "2026/12/3", "14:30", "17:00", "幸福社区活动中心", "D001", ""],
    ["东山村党代表工作站", "2026年11月20日", "9:00", "12:00", "", "D002", "否"],  # held last week
]


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


def write(path: Path, rows: list[list[Any]]) -> Path:
    if path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        for row in rows:
            workbook.active.append(row)
        workbook.save(path)
    else:
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return path


async def load(db: Database, settings: Settings, path: Path) -> RotaResult:
    rows = reception_rota.read_rota(path)
    async with db.transaction() as session:
        return await reception_rota.import_rota(
            session, rows=rows, actor="test", settings=settings, now=NOW, render=notice
        )


async def stored(db: Database) -> list[tuple[str, str, str, str, str, tuple[str, ...], bool]]:
    async with db.transaction() as session:
        rotas = await reception.listing(session, since=date(2026, 1, 1), until=date(2026, 12, 31))
    return [
        (
            rota.station,
            rota.day.isoformat(),
            reception.clock(rota.starts),
            reception.clock(rota.ends),
            rota.place,
            tuple(one.code for one in rota.duty),
            rota.cancelled,
        )
        for rota in rotas
    ]


async def count(db: Database, model: type[Any]) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_a_good_rota_is_imported_and_its_coming_days_planned(
    db: Database, settings: Settings, district: District, tmp_path: Path, suffix: str
) -> None:
    result = await load(db, settings, write(tmp_path / f"rota{suffix}", [HEADER, *ROTA]))
    assert result == RotaResult(created=3, updated=0, unchanged=0)
    assert await stored(db) == [
        ("东山村党代表工作站", "2026-11-20", "9:00", "12:00", "", ("D002",), False),
        ("幸福社区党代表工作站", "2026-11-26", "9:00", "11:30", "", ("D001", "T001"), False),
        ("幸福社区党代表工作站", "2026-12-03", "14:30", "17:00", "幸福社区活动中心", ("D001",), False),
    ]
    async with db.transaction() as session:
        keys = sorted((await session.exec(select(DueItem.key))).all())
        past = (await session.exec(select(ReceptionDay.id).where(ReceptionDay.day == date(2026, 11, 20)))).one()
    assert len(keys) == 6 and not any(key.endswith(f":{past}") for key in keys)  # a day held has nothing to announce
    assert await count(db, OutboxMessage) == 0  # a new day is announced by its eve notices, not at import


async def test_english_headers_and_spreadsheet_date_and_time_cells(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [
        ["2026年接待日安排"],  # a title above the header
        ["station", "date", "starts", "ends", "representatives", "note"],
        ["幸福社区党代表工作站", date(2026, 11, 27), time(9, 30), time(11, 0), "d001, t001", "备注不导入"],
    ]
    assert await load(db, settings, write(tmp_path / "rota.xlsx", rows)) == RotaResult(1, 0, 0)
    assert await stored(db) == [("幸福社区党代表工作站", "2026-11-27", "9:30", "11:00", "", ("D001", "T001"), False)]


async def test_bad_rows_are_reported_with_their_row_numbers_and_nothing_is_stored(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    rows = [
        HEADER,
        ["幸福社区党代表工作站", "11月26日", "9:00", "11:30", "", "D001", ""],  # row 2: no year
        ["", "2026-11-27", "9点", "8:00", "", "", "也许"],  # row 3
        ["幸福社区党代表工作站", "2026-11-28", "9:00", "11:30", "", "", ""],
        ["幸福社区党代表工作站", "2026-11-28", "9:00", "12:00", "", "", ""],  # row 5: the same day as row 4
    ]
    with pytest.raises(RotaInvalid) as invalid:
        reception_rota.read_rota(write(tmp_path / "rota.csv", rows))
    said = [t("zh-CN", problem.key, **problem.message_params()) for problem in invalid.value.problems]
    assert said == [
        "第2行「日期」为「11月26日」：日期应写成 2026-12-02 这样的格式。",
        "第3行「工作站」不能为空。",
        "第3行「结束」8:00 要晚于开始时间 9:00。",
        "第3行「取消」为「也许」：应为“是”或“否”。",
        "第5行与第4行是同一工作站、同一天、同一开始时间的接待日，请只保留一行。",
    ]
    # Rows that read well but name what the store has not: nothing of the file is kept.
    unknown = [HEADER, ROTA[0], ["无名工作站", "2026-11-27", "9:00", "11:00", "", "", ""], [*ROTA[1][:5], "D001 Z99"]]
    with pytest.raises(RotaInvalid) as refused:
        await load(db, settings, write(tmp_path / "unknown.csv", unknown))
    said = [t("zh-CN", problem.key, **problem.message_params()) for problem in refused.value.problems]
    assert said == [
        "第3行「工作站」为「无名工作站」：没有这个工作站（名称要与代表名册中的一致）。",
        "第4行「值班代表」中的「Z99」：没有这个编号的党代表。",
    ]
    assert await count(db, ReceptionDay) == 0 and await count(db, DueItem) == 0


async def test_a_reimport_updates_days_in_place_and_tells_those_concerned(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    await load(db, settings, write(tmp_path / "first.csv", [HEADER, *ROTA]))
    await bind(db, "representative:T001")
    changed = [
        [
            "幸福社区党代表工作站",
            "2026-11-26",
            "9:00",
            "12:00",
            "幸福社区活动中心",
            "D001",
            "否",
        ],  # later end, T001 off
        [*ROTA[1][:6], "是"],  # cancelled
        ROTA[2],
    ]
    result = await load(db, settings, write(tmp_path / "second.csv", [HEADER, *changed]))
    assert result == RotaResult(created=0, updated=2, unchanged=1)
    assert await stored(db) == [
        ("东山村党代表工作站", "2026-11-20", "9:00", "12:00", "", ("D002",), False),
        ("幸福社区党代表工作站", "2026-11-26", "9:00", "12:00", "幸福社区活动中心", ("D001",), False),
        ("幸福社区党代表工作站", "2026-12-03", "14:30", "17:00", "幸福社区活动中心", ("D001",), True),
    ]
    async with db.transaction() as session:
        items = {
            item.key.split(":")[0] + "@" + item.state: item for item in (await session.exec(select(DueItem))).all()
        }
        told = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_key == "representative:T001"))).all()
    assert sum(key.endswith("@skipped") for key in items) == 3  # the cancelled day's
    assert items["reception-morning@pending"].expires_at == utc("2026-11-26 09:00")
    assert "您不再在幸福社区党代表工作站 2026-11-26（周四）9:00-11:30 的接待日值班" in told[-1].payload["text"]
    # A file without the optional columns changes only what it has.
    bare = [["工作站", "日期", "开始", "结束"], ["幸福社区党代表工作站", "2026-11-26", "9:00", "11:00"]]
    assert await load(db, settings, write(tmp_path / "bare.csv", bare)) == RotaResult(0, 1, 0)
    assert (await stored(db))[1] == (
        "幸福社区党代表工作站",
        "2026-11-26",
        "9:00",
        "11:00",
        "幸福社区活动中心",
        ("D001",),
        False,
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_export_then_import_changes_nothing(
    db: Database, settings: Settings, district: District, tmp_path: Path, suffix: str
) -> None:
    await load(db, settings, write(tmp_path / "first.csv", [HEADER, *ROTA]))
    path = tmp_path / f"export{suffix}"
    async with db.transaction() as session:
        lines = await reception_rota.rota_table(session, since=date(2026, 11, 1), until=date(2026, 12, 31))
    reception_rota.write_rota(path, lines)
    assert lines[0] == HEADER and lines[2] == [
        "幸福社区党代表工作站",
        "2026-11-26",
        "9:00",
        "11:30",
        "",
        "D001；T001",
        "否",
    ]
    before = await stored(db)
    assert await load(db, settings, path) == RotaResult(created=0, updated=0, unchanged=3)
    assert await stored(db) == before


async def test_the_rosters_reception_day_column(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    await load(db, settings, write(tmp_path / "rota.csv", [HEADER, *ROTA]))
    # The roster as exported lists each representative's coming duty dates at their station.
    async with db.transaction() as session:
        lines = await roster.roster_table(session, today=TODAY)
    header, *rows = lines
    column = header.index("接待日")
    by_code = {row[0]: row for row in rows}
    assert by_code["D001"][column] == "2026-11-26；2026-12-03"
    assert by_code["T001"][column] == "2026-11-26"
    assert by_code["D002"][column] == ""  # 东山村's day is past, and D002 sits at 幸福社区's station

    # T001 takes 3 December instead of 26 November; D001 keeps 26 November only.
    by_code["T001"][column] = "2026-12-03"
    by_code["D001"][column] = "2026-11-26"
    path = tmp_path / "roster.csv"
    write(path, [header, *by_code.values()])
    async with db.transaction() as session:
        await roster.import_roster(session, rows=roster.read_roster(path), actor="test", now=NOW, today=TODAY)
    assert [(row[1], row[5]) for row in await stored(db)] == [
        ("2026-11-20", ("D002",)),
        ("2026-11-26", ("D001",)),
        ("2026-12-03", ("T001",)),
    ]

    # A date with no reception day at the station is a problem of its row; nothing changes.
    by_code["T001"][column] = "2026-12-04；2026-12-03"
    by_code["D002"][column] = "明天"
    write(path, [header, *by_code.values()])
    with pytest.raises(RosterInvalid) as unreadable:
        roster.read_roster(path)
    assert [(problem.row, problem.key) for problem in unreadable.value.problems] == [(3, "roster.error.reception_days")]
    by_code["D002"][column] = ""
    write(path, [header, *by_code.values()])
    with pytest.raises(RosterInvalid) as missing:
        async with db.transaction() as session:
            await roster.import_roster(session, rows=roster.read_roster(path), actor="test", now=NOW, today=TODAY)
    [problem] = missing.value.problems
    assert t("zh-CN", problem.key, **problem.message_params()).startswith("第4行")
    assert problem.params == {"day": "2026-12-04"}
    assert [(row[1], row[5]) for row in await stored(db)][2] == ("2026-12-03", ("T001",))

    # A roster without the column leaves duties as they are.
    without = [[cell for index, cell in enumerate(line) if index != column] for line in [header, *by_code.values()]]
    write(path, without)
    async with db.transaction() as session:
        await roster.import_roster(session, rows=roster.read_roster(path), actor="test", now=NOW, today=TODAY)
    assert [(row[1], row[5]) for row in await stored(db)][2] == ("2026-12-03", ("T001",))


async def test_the_demo_district_has_a_rota(db: Database, settings: Settings) -> None:
    await build_demo(db, settings=settings, today=TODAY)
    async with db.transaction() as session:
        days = list((await session.exec(select(ReceptionDay))).all())
        stations = (await session.exec(select(func.count()).select_from(Station))).one()
        duty = list((await session.exec(select(ReceptionDuty))).all())
        d001 = (await session.exec(select(Representative).where(Representative.code == "D001"))).one()
        planned = (await session.exec(select(func.count()).select_from(DueItem))).one()
    coming = [day for day in days if TODAY <= day.day <= TODAY + timedelta(weeks=4)]
    assert {day.station_id for day in coming} == set(range(1, stations + 1))  # every station
    assert any(day.day < TODAY for day in days)  # receptions held, for the digest
    on_duty: dict[int, int] = {}
    for link in duty:
        on_duty[link.reception_id] = on_duty.get(link.reception_id, 0) + 1
    assert set(on_duty.values()) <= {1, 2}
    assert [link.status for link in duty].count("swap_asked") == 1
    assert {"confirmed", "assigned"} <= {link.status for link in duty}
    assert sum(day.cancelled for day in days) == 1
    # The demo representative is on duty at their station today, so a note can be taken at once.
    today_ids = {day.id for day in days if day.day == TODAY and day.station_id == d001.station_id}
    assert any(link.reception_id in today_ids and link.representative_id == d001.id for link in duty)
    assert planned > 0
    async with db.transaction() as session:
        assert await session.exec(select(ReceptionDay).where(col(ReceptionDay.cancelled).is_(True))) is not None
