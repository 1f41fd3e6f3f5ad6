"""The roster: reading and checking files, importing (created / updated / unchanged), exporting and back."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import func, select

from handlers.i18n import catalog, placeholders, t
from storage.db import Database
from storage.errors import InvalidInput
from storage.exchange.roster import (
    COLUMNS,
    ImportResult,
    RosterInvalid,
    RosterRow,
    export_roster,
    import_roster,
    read_roster,
)
from storage.models import Area, AuditEntry, RepArea, RepGroup, Representative, Station

# The columns of a roster without reception days (tests/storage/exchange/test_reception_rota.py has that one).
ZH = [column.chinese for column in COLUMNS if column.name != "reception_days"]
EN = [column.name for column in COLUMNS if column.name != "reception_days"]

# 编号,姓名,层级,代表小组,小组职务,工作站,责任区,手机,单位职务,在任
ROSTER_TEXT = """\
D001,张伟,区级,第一小组,组长,幸福社区工作站,幸福里；和平里,138 0013 8000,区教育局副局长,是
D002,王芳,区级,第一小组,联络员,幸福社区工作站,和平里,0717-6543210,,是
T001,李强,乡镇级,第二小组,,光明村工作站,光明一组、光明二组,,光明村党支部书记,
T002,赵敏,街道,,,,,,,否
"""
ROSTER = [line.split(",") for line in ROSTER_TEXT.splitlines()]
ROSTER_COUNTS = {"representative": 4, "rep_group": 2, "station": 2, "area": 4, "rep_area": 5}
EMPTY_COUNTS = dict.fromkeys(ROSTER_COUNTS, 0)


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def write(path: Path, rows: list[list[Any]]) -> Path:
    return write_xlsx(path, rows) if path.suffix == ".xlsx" else write_csv(path, rows)


def edited(row: list[str], **changes: str) -> list[str]:
    """A copy of a ROSTER row with some cells changed, named by their Chinese header."""
    values = dict(zip(ZH, row, strict=True))
    values.update(changes)
    return [values[header] for header in ZH]


async def counts(db: Database) -> dict[str, int]:
    tables = {"representative": Representative, "rep_group": RepGroup, "station": Station, "area": Area}
    result: dict[str, int] = {}
    async with db.transaction() as session:
        for name, model in [*tables.items(), ("rep_area", RepArea)]:
            result[name] = (await session.exec(select(func.count()).select_from(model))).one()
    return result


async def load(db: Database, path: Path) -> ImportResult:
    rows = read_roster(path)
    async with db.transaction() as session:
        return await import_roster(session, rows=rows, actor="test")


async def reps(db: Database) -> dict[str, Representative]:
    async with db.transaction() as session:
        return {rep.code: rep for rep in await session.exec(select(Representative))}


async def areas_of(db: Database, code: str) -> set[str]:
    async with db.transaction() as session:
        query = (
            select(Area.name)
            .join(RepArea, RepArea.area_id == Area.id)  # type: ignore[arg-type]
            .join(Representative, Representative.id == RepArea.representative_id)  # type: ignore[arg-type]
            .where(Representative.code == code)
        )
        return set(await session.exec(query))


def problems_of(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(RosterInvalid) as caught:
        read_roster(path)
    for problem in caught.value.problems:  # every problem has a message in both languages
        for language in ("zh-CN", "en"):
            assert t(language, problem.key, **problem.message_params()) != problem.key
    return [(problem.row, problem.column, problem.key) for problem in caught.value.problems]


# --- reading ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_good_roster_creates_reps_groups_stations_areas(db: Database, tmp_path: Path, suffix: str) -> None:
    result = await load(db, write(tmp_path / f"roster{suffix}", [ZH, *ROSTER]))

    assert result == ImportResult(created=4, updated=0, unchanged=0)
    assert await counts(db) == ROSTER_COUNTS
    stored = await reps(db)
    assert {code: (rep.level, rep.group_role, rep.phone, rep.active) for code, rep in stored.items()} == {
        "D001": ("district", "leader", "13800138000", True),
        "D002": ("district", "liaison", "07176543210", True),
        "T001": ("township", "member", "", True),
        "T002": ("township", "member", "", False),
    }
    assert stored["D001"].group_id == stored["D002"].group_id != stored["T001"].group_id
    assert stored["T002"].group_id is None and stored["T002"].station_id is None
    assert await areas_of(db, "D001") == {"幸福里", "和平里"}
    assert await areas_of(db, "T001") == {"光明一组", "光明二组"}


async def test_english_headers_any_case_and_spacing_and_numeric_cells(db: Database, tmp_path: Path) -> None:
    header = [f"  {name.upper()} " for name in EN]
    row = ["D009", "陈静", "District", "第三小组", "Leader", "学校工作站", "东校区", 13912345678, "", 1]
    result = await load(db, write_xlsx(tmp_path / "roster.xlsx", [header, row]))

    assert result.created == 1
    rep = (await reps(db))["D009"]
    assert (rep.level, rep.group_role, rep.phone, rep.active) == ("district", "leader", "13912345678", True)


async def test_title_rows_above_the_header_keep_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "roster.xlsx", [["2026年党代表名册"], [], ZH, ROSTER[0], edited(ROSTER[1], 层级="")])
    assert problems_of(path) == [(5, "层级", "roster.error.required")]


async def test_gbk_csv_is_read(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [ZH, *ROSTER], encoding="gbk")
    assert [row.name for row in read_roster(path)] == ["张伟", "王芳", "李强", "赵敏"]


async def test_utf8_csv_with_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [EN, *ROSTER], encoding="utf-8-sig")
    assert [row.code for row in read_roster(path)] == ["D001", "D002", "T001", "T002"]


# (changes to the third line of the file, the column the problem is reported on, the catalog key)
BAD_ROWS = [
    ({"编号": ""}, "编号", "roster.error.required"),
    ({"姓名": " "}, "姓名", "roster.error.required"),
    ({"层级": ""}, "层级", "roster.error.required"),
    ({"编号": "D 02!"}, "编号", "roster.error.code"),
    ({"编号": "D" * 21}, "编号", "roster.error.code"),
    ({"姓名": "王" * 51}, "姓名", "roster.error.too_long"),
    ({"层级": "市级"}, "层级", "roster.error.level"),
    ({"手机": "1380013800"}, "手机", "roster.error.phone"),
    ({"手机": "138-0013-800x"}, "手机", "roster.error.phone"),
    ({"手机": "123456"}, "手机", "roster.error.phone"),
    ({"小组职务": "副组长"}, "小组职务", "roster.error.group_role"),
    ({"在任": "也许"}, "在任", "roster.error.active"),
    ({"工作站": ""}, "工作站", "roster.error.areas_without_station"),
    ({"代表小组": ""}, "代表小组", "roster.error.role_without_group"),
    ({"编号": "D001"}, "编号", "roster.error.duplicate_code"),
    ({"小组职务": "组长"}, "小组职务", "roster.error.second_leader"),
]


@pytest.mark.parametrize(("changes", "column", "key"), BAD_ROWS)
async def test_bad_row_is_reported_with_row_column_and_key(
    tmp_path: Path, changes: dict[str, str], column: str, key: str
) -> None:
    path = write_csv(tmp_path / "roster.csv", [ZH, ROSTER[0], edited(ROSTER[1], **changes), ROSTER[2]])
    assert problems_of(path) == [(3, column, key)]


async def test_later_row_carries_the_duplicate_and_names_the_first(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [EN, ROSTER[0], ROSTER[2], edited(ROSTER[1], 编号="D001")])
    with pytest.raises(RosterInvalid) as caught:
        read_roster(path)
    [problem] = caught.value.problems
    assert (problem.row, problem.column, problem.params) == (4, "code", {"value": "D001", "first_row": 2})


async def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    rows = [ZH, edited(ROSTER[0], 姓名=""), ROSTER[1], edited(ROSTER[2], 层级="省级", 手机="12"), ROSTER[3]]
    assert problems_of(write_csv(tmp_path / "roster.csv", rows)) == [
        (2, "姓名", "roster.error.required"),
        (4, "层级", "roster.error.level"),
        (4, "手机", "roster.error.phone"),
    ]


async def test_areas_without_a_station_column_name_the_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [["编号", "姓名", "层级", "责任区"], ["D001", "张伟", "区级", "幸福里"]])
    assert problems_of(path) == [(2, "station", "roster.error.areas_without_station")]


async def test_the_same_column_twice_is_a_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [[*ZH, "phone"], [*ROSTER[0], "13800138000"]])
    assert problems_of(path) == [(1, "phone", "roster.error.duplicate_column")]


@pytest.mark.parametrize(
    ("name", "content", "key"),
    [
        ("roster.xls", b"whatever", "roster.error.format"),
        ("roster.txt", b"code,name,level\n", "roster.error.format"),
        ("roster", b"code,name,level\n", "roster.error.format"),
        ("roster.xlsx", b"not a zip file", "roster.error.unreadable"),
        ("roster.csv", b"\xff\xfe\x00\x81\x30\xff\xff", "roster.error.unreadable"),
        ("roster.csv", "编号,姓名\nD001,张伟\n".encode(), "roster.error.missing_header"),
        ("roster.csv", "编号,姓名,层级\n".encode(), "roster.error.empty"),
        ("roster.csv", b"", "roster.error.missing_header"),
    ],
)
async def test_unusable_files(tmp_path: Path, name: str, content: bytes, key: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        read_roster(path)
    assert not isinstance(caught.value, RosterInvalid)
    assert caught.value.key == key
    for language in ("zh-CN", "en"):
        assert t(language, key, **caught.value.params) != key


async def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_roster(tmp_path / "nowhere.csv")
    assert caught.value.key == "roster.error.unreadable"


# --- importing --------------------------------------------------------------------------------------------


async def test_importing_the_same_roster_twice_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [ZH, *ROSTER])
    await load(db, path)
    before = await reps(db)

    assert await load(db, path) == ImportResult(created=0, updated=0, unchanged=4)
    assert await counts(db) == ROSTER_COUNTS
    after = await reps(db)
    assert {code: rep.updated_at for code, rep in after.items()} == {
        code: rep.updated_at for code, rep in before.items()
    }


async def test_changed_name_phone_and_areas_update(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "first.csv", [ZH, *ROSTER]))
    changed = [
        ZH,
        edited(ROSTER[0], 责任区="和平里"),
        edited(ROSTER[1], 姓名="王芳芳"),
        edited(ROSTER[2], 手机="13700001111"),
        ROSTER[3],
    ]
    assert await load(db, write_csv(tmp_path / "second.csv", changed)) == ImportResult(0, 3, 1)
    stored = await reps(db)
    assert (stored["D002"].name, stored["T001"].phone) == ("王芳芳", "13700001111")
    assert await areas_of(db, "D001") == {"和平里"}
    assert await counts(db) == {**ROSTER_COUNTS, "rep_area": 4}


async def test_columns_left_out_keep_their_stored_values(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "full.csv", [ZH, *ROSTER]))
    short = [["编号", "姓名", "层级"], *[row[:3] for row in ROSTER]]
    assert await load(db, write_csv(tmp_path / "short.csv", short)) == ImportResult(0, 0, 4)
    assert (await reps(db))["D001"].phone == "13800138000"
    assert await areas_of(db, "D001") == {"幸福里", "和平里"}


async def test_moving_a_representative_to_another_station_moves_their_areas(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "first.csv", [ZH, *ROSTER]))
    moved = edited(ROSTER[3], 工作站="幸福社区工作站", 责任区="幸福里")
    assert await load(db, write_csv(tmp_path / "second.csv", [ZH, moved])) == ImportResult(0, 1, 0)
    assert await areas_of(db, "T002") == {"幸福里"}
    assert await counts(db) == {**ROSTER_COUNTS, "rep_area": 6}  # 幸福里 is shared, not created twice


async def test_one_bad_row_imports_nothing(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "first.csv", [ZH, ROSTER[0]]))
    before = await counts(db)
    rows = [ZH, edited(ROSTER[0], 姓名="张伟伟"), ROSTER[1], edited(ROSTER[2], 手机="110"), ROSTER[3]]
    with pytest.raises(RosterInvalid):
        await load(db, write_csv(tmp_path / "second.csv", rows))
    assert await counts(db) == before
    assert (await reps(db))["D001"].name == "张伟"


async def test_a_second_leader_beside_a_stored_one_rolls_everything_back(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "first.csv", [ZH, ROSTER[0]]))  # D001 leads 第一小组
    before = await counts(db)
    rows = [ZH, edited(ROSTER[1], 小组职务="组长"), ROSTER[2], ROSTER[3]]
    with pytest.raises(RosterInvalid) as caught:
        await load(db, write_csv(tmp_path / "second.csv", rows))
    [problem] = caught.value.problems
    assert (problem.row, problem.key, problem.params) == (
        2,
        "roster.error.leader_exists",
        {"group": "第一小组", "code": "D001"},
    )
    assert await counts(db) == before


async def test_handing_over_the_leader_role_in_one_file_is_allowed(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "first.csv", [ZH, *ROSTER]))
    rows = [ZH, edited(ROSTER[0], 小组职务="成员"), edited(ROSTER[1], 小组职务="组长")]
    assert await load(db, write_csv(tmp_path / "second.csv", rows)) == ImportResult(0, 2, 0)


async def test_rows_built_in_code_are_checked_too(db: Database) -> None:
    rows = [
        RosterRow(code="D001", name="甲", level="district"),
        RosterRow(code="D001", name="乙", level="district"),
    ]
    with pytest.raises(RosterInvalid) as caught:
        async with db.transaction() as session:
            await import_roster(session, rows=rows, actor="test")
    assert [problem.key for problem in caught.value.problems] == ["roster.error.duplicate_code"]
    assert await counts(db) == EMPTY_COUNTS


async def test_import_and_export_are_audited_with_counts_only(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "roster.csv", [ZH, *ROSTER]))
    async with db.transaction() as session:
        await export_roster(session, path=tmp_path / "out.csv", actor="cli")
    async with db.transaction() as session:
        entries = list(await session.exec(select(AuditEntry).order_by(AuditEntry.id)))  # type: ignore[arg-type]
    assert [(entry.actor, entry.action, entry.entity, entry.detail) for entry in entries] == [
        ("test", "roster.import", "representative", {"created": 4, "updated": 0, "unchanged": 0, "revoked": 0}),
        ("cli", "roster.export", "representative", {"count": 4, "phones": True}),
    ]
    logged = json.dumps([entry.detail for entry in entries], ensure_ascii=False)
    assert "张伟" not in logged and "13800138000" not in logged


# --- exporting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_export_then_import_changes_nothing(db: Database, tmp_path: Path, suffix: str) -> None:
    tricky = edited(ROSTER[3], 单位职务="=1+1 不是公式", 编号="T003")  # a formula-looking cell stays text
    await load(db, write_csv(tmp_path / "roster.csv", [ZH, *ROSTER, tricky]))
    before = await counts(db)
    path = tmp_path / f"export{suffix}"
    async with db.transaction() as session:
        assert await export_roster(session, path=path) == 5

    rows = read_roster(path)
    assert [row.code for row in rows] == ["D001", "D002", "T001", "T002", "T003"]
    assert rows[-1].unit == "=1+1 不是公式"
    assert await load(db, path) == ImportResult(created=0, updated=0, unchanged=5)
    assert await counts(db) == before


async def test_export_has_chinese_headers_and_labels(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "roster.csv", [ZH, *ROSTER]))
    path = tmp_path / "export.csv"
    async with db.transaction() as session:
        await export_roster(session, path=path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the mark to read UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == [*ZH, "接待日"]  # no coming duty here: the column is empty
    first = "D001,张伟,区级,第一小组,组长,幸福社区工作站,和平里；幸福里,13800138000,区教育局副局长,是,"
    assert ",".join(lines[1]) == first
    assert lines[4][2:5] + lines[4][-2:] == ["乡镇级", "", "成员", "否", ""]


async def test_export_without_phones_reimports_without_touching_them(db: Database, tmp_path: Path) -> None:
    await load(db, write_csv(tmp_path / "roster.csv", [ZH, *ROSTER]))
    path = tmp_path / "export.xlsx"
    async with db.transaction() as session:
        assert await export_roster(session, path=path, include_phones=False) == 4
    sheet = openpyxl.load_workbook(path).active
    assert "手机" not in [cell.value for cell in sheet[1]]
    assert await load(db, path) == ImportResult(created=0, updated=0, unchanged=4)
    assert (await reps(db))["D001"].phone == "13800138000"


@pytest.mark.parametrize("name", ["roster.xls", "roster.json"])
async def test_export_refuses_unknown_file_types(db: Database, tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with db.transaction() as session:
            await export_roster(session, path=tmp_path / name)
    assert caught.value.key == "roster.error.format"
    assert not (tmp_path / name).exists()


async def test_export_into_a_missing_folder_is_unwritable(db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with db.transaction() as session:
            await export_roster(session, path=tmp_path / "no" / "such" / "roster.csv")
    assert caught.value.key == "roster.error.unwritable"


# --- messages ---------------------------------------------------------------------------------------------


def test_every_roster_key_has_both_languages_with_the_same_placeholders() -> None:
    source = (Path(__file__).resolve().parents[3] / "storage" / "exchange" / "roster.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(roster\.[a-z_.]+)"', source))
    used -= {"roster.import", "roster.export"}  # audit actions, not messages
    used |= {f"roster.error.{name}" for name in ("level", "group_role", "active")}  # built from the column name
    zh, en = catalog("zh-CN"), catalog("en")
    assert used <= zh.keys()
    roster_keys = {key for key in zh if key.startswith("roster.")}
    assert roster_keys == {key for key in en if key.startswith("roster.")}
    for key in roster_keys:
        assert placeholders(zh[key]) == placeholders(en[key]), key


async def test_an_area_of_another_station_is_written_with_its_station(db: Database, tmp_path: Path) -> None:
    """A representative may serve an area of another work station: 工作站/责任区 names it, both ways."""
    rows = [ZH, edited(ROSTER[1], 责任区="和平里；光明村工作站/光明一组"), ROSTER[2]]
    await load(db, write_csv(tmp_path / "in.csv", rows))
    assert await areas_of(db, "D002") == {"和平里", "光明一组"}
    assert (await counts(db))["area"] == 3  # 光明一组 is T001's area under 光明村工作站, not a second one
    exported = tmp_path / "out.csv"
    async with db.transaction() as session:
        await export_roster(session, path=exported)
    assert "光明村工作站/光明一组；和平里" in exported.read_text(encoding="utf-8-sig")
    assert await load(db, exported) == ImportResult(created=0, updated=0, unchanged=2)


async def test_qualified_areas_need_no_station_column_of_their_own(tmp_path: Path) -> None:
    [row] = read_roster(write_csv(tmp_path / "in.csv", [ZH, edited(ROSTER[3], 责任区="光明村工作站/光明一组")]))
    assert row.area_keys() == [("光明村工作站", "光明一组")]
