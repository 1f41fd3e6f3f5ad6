"""`lianxin reception import | export | list`: exit codes and what is said, in this process with the command line's
clock at 10:00 in Shanghai on Wednesday 25 November 2026; one import as a real process."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import bot.cli as cli
import bot.cli_common as cli_common
import bot.cli_reception as cli_reception
from storage.models import DueItem, ReceptionDay
from tests.bot.test_cli import district, lianxin, rows, shown, store  # noqa: F401  (fixtures)
from tests.factories import NOW

HEADER = ["工作站", "日期", "开始", "结束", "地点", "值班代表", "取消"]
GOOD = [
    HEADER,
    ["幸福社区党代表工作站", "2026-11-26", "9:00", "11:30", "", "D001；T001", "否"],
    ["东山村党代表工作站", "2026-12-01", "14:00", "16:00", "东山村文化礼堂", "D002", ""],
]


def write(path: Path, lines: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(lines)
    return path


def invoke(*args: str, exit_code: int = 0) -> Result:
    result = CliRunner().invoke(cli.app, list(args))
    assert result.exit_code == exit_code, f"{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(autouse=True)
def wednesday(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_reception, "utcnow", lambda: NOW)
    monkeypatch.setattr(cli_common, "utcnow", lambda: NOW)  # the command line's today


def test_import_list_and_export(district: tuple[str, object], tmp_path: Path) -> None:  # noqa: F811
    url, _ = district
    imported = invoke("reception", "import", str(write(tmp_path / "rota.csv", GOOD)), "--db", url)
    assert "导入完成：新增2次接待日，更新0次，未变0次。" in imported.output
    assert len(rows(url, ReceptionDay)) == 2 and len(rows(url, DueItem)) == 6

    listed = invoke("reception", "list", "--db", url).output
    assert "2026-11-25 至 2026-12-22 的接待日（2次）：" in listed
    assert "2026-11-26（周四）9:00-11:30｜幸福社区党代表工作站｜幸福路1号｜值班：王建国（D001）、张伟（T001）" in listed
    assert "2026-12-01（周二）14:00-16:00｜东山村党代表工作站｜东山村文化礼堂｜值班：李红梅（D002）" in listed
    only = invoke("reception", "list", "--station", "东山村党代表工作站", "--days", "7", "--db", url).output
    assert "（1次）" in only and "幸福社区" not in only
    assert (
        "2026-11-25 至 2026-11-27 没有接待日。"
        in invoke("reception", "list", "--days", "3", "--station", "东山村党代表工作站", "--db", url).output
    )
    unknown = invoke("reception", "list", "--station", "无名站", "--db", url, exit_code=1)
    assert "没有找到工作站“无名站”。" in unknown.output

    exported = tmp_path / "导出.csv"
    assert "已导出2次接待日到" in invoke("reception", "export", str(exported), "--db", url).output
    with exported.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [
            HEADER,
            ["幸福社区党代表工作站", "2026-11-26", "9:00", "11:30", "", "D001；T001", "否"],
            ["东山村党代表工作站", "2026-12-01", "14:00", "16:00", "东山村文化礼堂", "D002", "否"],
        ]
    again = invoke("reception", "import", str(exported), "--db", url)
    assert "新增0次接待日，更新0次，未变2次" in again.output
    early = invoke("reception", "export", str(tmp_path / "none.csv"), "--to", "2026-11-25", "--db", url)
    assert "已导出0次接待日" in early.output
    invoke(
        "reception",
        "export",
        str(tmp_path / "x.csv"),
        "--from",
        "2026-12-01",
        "--to",
        "2026-11-01",
        "--db",
        url,
        exit_code=2,
    )


def test_a_bad_rota_is_refused_whole_with_every_problem(district: tuple[str, object], tmp_path: Path) -> None:  # noqa: F811
    url, _ = district
    bad = [*GOOD, ["幸福社区党代表工作站", "2026-11-31", "9:00", "11:30", "", "D009", ""]]
    result = invoke("reception", "import", str(write(tmp_path / "rota.csv", bad)), "--db", url, exit_code=1)
    assert "接待日安排中有以下1个问题，未导入任何数据：" in result.output
    assert "第4行「日期」为「2026-11-31」：日期应写成 2026-12-02 这样的格式。" in result.output
    unknown = [*GOOD, ["幸福社区党代表工作站", "2026-11-30", "9:00", "11:30", "", "D009", ""]]
    result = invoke("reception", "import", str(write(tmp_path / "unknown.csv", unknown)), "--db", url, exit_code=1)
    assert "第4行「值班代表」中的「D009」：没有这个编号的党代表。" in result.output
    assert rows(url, ReceptionDay) == []
    wrong = invoke("reception", "import", str(write(tmp_path / "rota.txt", GOOD)), "--db", url, exit_code=2)
    assert "rota.txt" in wrong.output
    missing = invoke("reception", "list", "--db", str(tmp_path / "nowhere.db"), exit_code=1)
    assert "没有找到数据库文件" in missing.output


def test_import_as_a_process(district: tuple[str, object], tmp_path: Path) -> None:  # noqa: F811
    url, _ = district
    result = lianxin("reception", "import", str(write(tmp_path / "rota.csv", GOOD)), "--db", url)
    assert result.returncode == 0, shown(result)
    assert "导入完成：新增2次接待日" in result.stdout, shown(result)
