"""`lianxin report cases`, `export cases` and `cases overdue | close-unrated`.

The report and the export run as real processes (as tests/bot/test_cli.py runs every command), side by side. The
overdue list depends on today's date, so it runs in this process with the command line's clock set to days of
November 2026, which the working-day calendar knows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlmodel import col
from typer.testing import CliRunner, Result

import bot.cli as cli
from storage.db import Database
from storage.exchange.case_export import CASE_HEADERS
from storage.models import AuditEntry, Case, OutboxMessage
from storage.settings import Settings, load_settings
from tests.bot.test_cli import in_parallel, lianxin, rows, shown, store  # noqa: F401  (store: a fixture)
from tests.factories import build_district
from tests.storage.exchange.test_case_figures import Desk, a_month_of_cases, at

T = TypeVar("T")


def with_database(url: str, work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(url)
        try:
            await database.upgrade()
            return await work(database, load_settings())
        finally:
            await database.dispose()

    return asyncio.run(run())


# --- the report and the export, as processes ----------------------------------------------------------------


def test_report_and_export_of_november(store: str, tmp_path: Path) -> None:  # noqa: F811
    async def build(db: Database, settings: Settings) -> None:
        await build_district(db)
        desk = await a_month_of_cases(db, settings)  # cases 1-8, by residents a..h without names
        # Registered on Friday 27 November: due in December, so the rates are those of the month's cases.
        await desk.submit("2026-11-27", "housing", "resident:named", name="王芳", phone="13812345678")
        await desk.submit("2026-11-27", "other", "resident:hidden", anonymous=True, name="李四", phone="13900001111")

    with_database(store, build)
    november = ("--from", "2026-11-01", "--to", "2026-11-30")
    masked, unmasked = tmp_path / "诉求.csv", tmp_path / "诉求-未脱敏.xlsx"
    # As processes: what the person at the terminal reads, and the unmasked export's audit row.
    text, export_unmasked = in_parallel(
        lambda: lianxin("report", "cases", "--db", store, *november, "--by", "department"),
        lambda: lianxin("export", "cases", str(unmasked), "--db", store, *november, "--unmasked"),
    )
    assert text.returncode == 0, shown(text)
    lines = text.stdout.splitlines()
    assert lines[0] == "2026-11-01至2026-11-30诉求办理情况（按承办单位）：", shown(text)
    assert lines[1].startswith(
        "  区住建局：登记6件，到期4件，响应率75%（3/4），解决率50%（2/4），答复3件，评价3件，满意率66.7%（2/3），"
    ), shown(text)
    assert lines[2].startswith("  区城管局：登记1件，到期0件，响应率—，解决率—，答复0件，评价0件，满意率—，"), shown(
        text
    )
    assert lines[3].startswith("  —：登记2件，到期1件，响应率0%（0/1），"), shown(text)
    assert lines[4].startswith("  全区：登记9件，到期5件，响应率60%（3/5），解决率40%（2/5），"), shown(text)
    assert "1个工作日内开始办理" in lines[5]

    assert export_unmasked.returncode == 0, shown(export_unmasked)
    assert "已导出2026-11-01至2026-11-30登记的诉求9件，含未脱敏的姓名和电话" in export_unmasked.stdout
    sheet = openpyxl.load_workbook(unmasked, read_only=True).worksheets[0]
    plain = [[cell or "" for cell in line] for line in sheet.iter_rows(values_only=True)]
    assert plain[0] == CASE_HEADERS and len(plain) == 10
    assert ["王芳", "13812345678"] in [line[18:20] for line in plain]
    [unmasked_export] = rows(store, AuditEntry, AuditEntry.action == "case.export_unmasked")
    assert (unmasked_export.actor, unmasked_export.entity, unmasked_export.detail["count"]) == ("cli", "case", 9)
    assert unmasked_export.detail["start"] == "2026-11-01" and "asked_by" in unmasked_export.detail

    # In this process: the other forms and the refusals.
    as_json = invoke("report", "cases", "--db", store, *november, "--format", "json")
    report = json.loads(as_json.stdout)
    assert (report["from"], report["to"], report["by"], report["rows"]) == ("2026-11-01", "2026-11-30", None, [])
    assert report["total"]["response_rate"] == 0.6 and report["total"]["satisfaction_rate"] == pytest.approx(2 / 3)

    export = invoke("export", "cases", str(masked), "--db", store, *november)
    assert f"已导出2026-11-01至2026-11-30登记的诉求9件（姓名和电话已脱敏）：{masked}" in export.stdout
    content = masked.read_bytes().decode("utf-8-sig")
    header, *data = list(csv.reader(io.StringIO(content)))
    assert header == CASE_HEADERS and len(data) == 9
    by_name = {line[header.index("姓名")]: line for line in data}
    assert by_name["王*"][header.index("电话")] == "138****5678"
    assert "王芳" not in content and "13812345678" not in content
    for export_text in (content, "\n".join("\t".join(map(str, line)) for line in plain)):
        for secret in ("李四", "13900001111", "resident:hidden"):
            assert secret not in export_text  # an anonymous writer is in neither export
    [plain_export] = rows(store, AuditEntry, AuditEntry.action == "case.export")
    assert (plain_export.actor, plain_export.detail["count"]) == ("cli", 9)

    table = tmp_path / "报表.xlsx"
    invoke("report", "cases", "--db", store, *november, "--by", "area", "--output", str(table))
    first_row = next(openpyxl.load_workbook(table, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert first_row[:5] == ("责任区", "登记件数", "到期件数", "按时响应件数", "响应率")

    for args, message in [
        (("--from", "2026-11-31"), "--from 的日期格式不对：2026-11-31"),
        (("--from", "2026-12-01", "--to", "2026-11-01"), "起始日期 2026-12-01 晚于截止日期 2026-11-01"),
        (("--by", "street"), "--by 只能是 area"),
        (("--format", "pdf"), "--format 只能是 text、csv、xlsx 或 json"),
        (("--format", "xlsx"), "xlsx 格式只能写入文件"),
        (("--format", "csv", "--output", str(tmp_path / "r.xlsx")), "csv 格式的文件名应以 .csv 结尾"),
    ]:
        refused = invoke("report", "cases", "--db", store, *args, exit_code=2)
        assert message in refused.stderr, (args, refused.stderr)
    assert not (tmp_path / "r.xlsx").exists()


def invoke(*args: str, exit_code: int = 0) -> Result:
    """`lianxin ARGS...` in this process."""
    result = CliRunner().invoke(cli.app, list(args))
    assert result.exit_code == exit_code, f"{result.output}\n{result.exception!r}"
    return result


# --- overdue and unrated cases, at set days ------------------------------------------------------------------


def run_on(monkeypatch: pytest.MonkeyPatch, day: str, *args: str) -> str:
    """`lianxin ARGS...` in this process, as if it were 10:00 in Shanghai on `day`."""
    moment = at(day, load_settings())
    monkeypatch.setattr(cli, "utcnow", lambda: moment)
    return invoke(*args).stdout


def case_state(url: str, number: str) -> Case:
    [case] = rows(url, Case, col(Case.number) == number)
    return case


def sent_at(url: str, number: str) -> str:
    """When a case was chased, as the command line shows it (local time)."""
    chased = case_state(url, f"LX-2026-{number}").chased_at
    assert chased is not None
    return chased.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def test_overdue_cases_are_chased_then_escalated(store: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    async def build(db: Database, settings: Settings) -> None:
        await build_district(db)
        desk = Desk(db, settings)
        async with db.transaction() as session:  # chats for the notices: the department, the office, a leader
            for who in ("department:B01", "liaison:O01", "leader:L01"):
                await desk.actor(session, who)
        await desk.submit("2026-11-17", "housing", "resident:a")  # 000001: due Friday 20 November
        await desk.submit("2026-11-10", "housing", "resident:b")  # 000002: due Friday 13 November
        await desk.submit("2026-11-17", "other", "resident:c")  # 000003: due 20 November, assigned to nobody

    with_database(store, build)
    db = ("--db", store)

    # Monday 16 November: 000002 is one working day late, and chased.
    first_chase = run_on(monkeypatch, "2026-11-16", "cases", "overdue", "--send", *db)
    assert first_chase.splitlines() == [
        "截至2026-11-16，需要催办或升级的逾期诉求1件：",
        "  LX-2026-000002 住房物业 区住建局 期限2026-11-13 已逾期1个工作日：催办",
        "已催办1件，升级至领导0件；通知已放入发件箱。",
    ]
    on_thursday = run_on(monkeypatch, "2026-11-19", "cases", "overdue", *db)
    assert on_thursday.splitlines() == [  # chased, four working days late: what was sent, and nothing due
        "已发出催办或升级、仍未答复的诉求1件：",
        f"  LX-2026-000002 住房物业 区住建局 期限2026-11-13 已逾期4个工作日：{sent_at(store, '000002')}已催办",
        "截至2026-11-19，没有需要催办或升级的逾期诉求。",
    ]
    on_friday = run_on(monkeypatch, "2026-11-20", "cases", "overdue", *db)
    assert on_friday.splitlines() == [  # due for escalation: listed as due, not among the sent
        "截至2026-11-20，需要催办或升级的逾期诉求1件：",
        "  LX-2026-000002 住房物业 区住建局 期限2026-11-13 已逾期5个工作日：升级至领导",
        "以上通知尚未发送：调度程序会在下一个工作日的催办时间发送；加 --send 立即发送。",
    ]
    messages = len(rows(store, OutboxMessage))
    on_monday = run_on(monkeypatch, "2026-11-23", "cases", "overdue", *db)
    assert on_monday.splitlines()[1:4] == [
        "  LX-2026-000002 住房物业 区住建局 期限2026-11-13 已逾期6个工作日：升级至领导",
        "  LX-2026-000001 住房物业 区住建局 期限2026-11-20 已逾期1个工作日：催办",
        "  LX-2026-000003 其他 尚未交办（联络办公室） 期限2026-11-20 已逾期1个工作日：催办",
    ]
    # Listing sends nothing and marks nothing.
    assert case_state(store, "LX-2026-000001").chased_at is None
    assert len(rows(store, OutboxMessage)) == messages

    sent = run_on(monkeypatch, "2026-11-23", "cases", "overdue", "--send", *db)
    assert "已催办2件，升级至领导1件；通知已放入发件箱。" in sent, sent
    # The department's handler is chased for 000001, the office for the unassigned 000003; the leader and the
    # office hear of the escalation of 000002.
    assert len(rows(store, OutboxMessage)) - messages == 4
    chased = case_state(store, "LX-2026-000001")
    assert chased.chased_at is not None and chased.escalated_at is None
    assert case_state(store, "LX-2026-000002").escalated_at is not None

    after = run_on(monkeypatch, "2026-11-23", "cases", "overdue", *db).splitlines()
    assert after[0] == "已发出催办或升级、仍未答复的诉求3件："
    assert [line.rsplit("已", 1)[-1] for line in after[1:4]] == ["升级至领导", "催办", "催办"]
    assert after[4] == "截至2026-11-23，没有需要催办或升级的逾期诉求。"
    # Thursday: four working days late, already chased: nothing. Friday: five, escalated to leaders.
    assert "没有需要催办或升级" in run_on(monkeypatch, "2026-11-26", "cases", "overdue", *db)
    on_next_friday = run_on(monkeypatch, "2026-11-27", "cases", "overdue", *db)
    assert "  LX-2026-000001 住房物业 区住建局 期限2026-11-20 已逾期5个工作日：升级至领导" in on_next_friday


def test_answers_left_unrated_close_after_a_week(store: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    async def build(db: Database, settings: Settings) -> None:
        await build_district(db)
        desk = Desk(db, settings)
        first = await desk.submit("2026-11-02", "housing", "resident:a")
        second = await desk.submit("2026-11-02", "housing", "resident:b")
        await desk.answer(first, "2026-11-03", resolved=True)
        await desk.answer(second, "2026-11-06", resolved=True)

    with_database(store, build)
    db = ("--db", store)
    assert run_on(monkeypatch, "2026-11-11", "cases", "close-unrated", *db) == (
        "已自动办结1件答复后7天仍未评价的诉求：LX-2026-000001\n"
    )
    assert case_state(store, "LX-2026-000001").state == "closed"
    assert case_state(store, "LX-2026-000002").state == "answered"
    assert run_on(monkeypatch, "2026-11-11", "cases", "close-unrated", *db) == "没有答复后7天仍未评价的诉求。\n"
