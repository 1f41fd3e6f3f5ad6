"""`lianxin export proposals FILE`: one row per proposal drafted in the period, its co-signers, review, answers and
evaluation, as .csv and .xlsx, recorded in the audit log, never a phone; run as a real process."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl

from storage.db import Database
from storage.exchange.proposal_export import PROPOSAL_HEADERS
from storage.models import AuditEntry
from storage.records import proposals
from storage.settings import Settings, load_settings
from storage.workdays import calendar_of
from tests.bot.test_cli import lianxin, rows, shown, store  # noqa: F401  (store: a fixture)
from tests.storage.records.test_proposals import (
    BODY,
    accept,
    answer,
    build_proposal_world,
    draft,
    evaluate,
    step,
)

NOVEMBER = ("--from", "2026-11-01", "--to", "2026-11-30")


def build(url: str) -> None:
    """Three proposals of November (one closed, satisfied; one refused; one collecting co-signers) and one of
    December."""

    async def work(db: Database, settings: Settings) -> None:
        world = await build_proposal_world(db, settings)
        closed = await accept(world, await draft(world), "D002")
        closed = await step(world, "D001", proposals.submit, closed)
        closed = await step(world, "office", proposals.establish, closed)
        closed = await step(
            world, "office", proposals.assign, closed, department="区城管局", calendar=calendar_of(settings)
        )
        await evaluate(world, await answer(world, closed), "satisfied")
        refused = await draft(world, author="D003", kind="motion", cosigners=())
        await step(world, "office", proposals.refuse, refused, reason="不属于党代表提案范围")
        await draft(world, author="D004", cosigners=("D005",))
        await draft(world, kind="motion", cosigners=(), now=datetime(2026, 12, 2, 2, tzinfo=UTC))

    async def run() -> None:
        database = Database(url)
        try:
            await database.upgrade()
            await work(database, load_settings())
        finally:
            await database.dispose()

    asyncio.run(run())


def test_export_of_november_as_csv_and_xlsx(store: str, tmp_path: Path) -> None:  # noqa: F811
    build(store)
    as_csv, as_xlsx = tmp_path / "提案.csv", tmp_path / "提案.xlsx"
    for path in (as_csv, as_xlsx):
        done = lianxin("export", "proposals", str(path), "--db", store, *NOVEMBER)
        assert done.returncode == 0, shown(done)
        assert f"已导出2026-11-01至2026-11-30起草的提案3件：{path}" in done.stdout, shown(done)

    content = as_csv.read_bytes().decode("utf-8-sig")
    header, *data = list(csv.reader(io.StringIO(content)))
    assert header == PROPOSAL_HEADERS
    by_number = {line[0]: dict(zip(header, line, strict=True)) for line in data}
    assert sorted(by_number) == ["TA-2026-0001", "TA-2026-0002", "TA-2026-0003"]
    closed = by_number["TA-2026-0001"]
    assert (closed["状态"], closed["提案人编号"], closed["联名代表"], closed["承办单位"]) == (
        "已办结",
        "D001",
        "李红梅（D002）",
        "区城管局",
    )
    assert (closed["答复次数"], closed["评价"], closed["正文"], closed["答复"]) == ("1", "满意", BODY, "已增设信号灯。")
    refused = by_number["TA-2026-0002"]
    assert (refused["状态"], refused["不予确立理由"]) == ("不予确立", "不属于党代表提案范围")
    assert by_number["TA-2026-0003"]["状态"] == "征集联名中"
    assert "13900000000" not in content  # the representatives' phones stay in the roster

    sheet = openpyxl.load_workbook(as_xlsx, read_only=True).worksheets[0]
    plain = [[cell or "" for cell in line] for line in sheet.iter_rows(values_only=True)]
    assert plain[0] == PROPOSAL_HEADERS and len(plain) == 4

    exports = rows(store, AuditEntry, AuditEntry.action == "proposal.export")
    assert [(entry.actor, entry.detail["count"], entry.detail["start"]) for entry in exports] == [
        ("cli", 3, "2026-11-01")
    ] * 2


def test_a_file_of_another_kind_is_refused(store: str, tmp_path: Path) -> None:  # noqa: F811
    build(store)
    refused = lianxin("export", "proposals", str(tmp_path / "提案.pdf"), "--db", store, *NOVEMBER)
    assert refused.returncode != 0, shown(refused)
    assert not (tmp_path / "提案.pdf").exists()
    assert rows(store, AuditEntry, AuditEntry.action == "proposal.export") == []
