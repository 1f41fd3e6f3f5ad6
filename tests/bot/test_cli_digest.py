"""`lianxin digest`: any week's digest of any scope as text or JSON, its chart and spreadsheet written to a folder,
or queued now for the scope's readers with the scheduler's own words; bad weeks and scopes refused with a clear
message. In this process with the command line's clock on Wednesday 25 November 2026 (the last full week is
2026-W47, counted by hand in tests/storage/exchange/test_digest_figures.py), and once as a real process."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, select
from typer.testing import CliRunner, Result

import bot.cli as cli
import bot.cli_common as cli_common
import bot.cli_digest as cli_digest
from handlers.digest import digest_text
from storage.db import Database
from storage.models import OutboxMessage
from storage.records import people
from storage.settings import Settings, load_settings
from tests.bot.test_cli import lianxin, shown, store  # noqa: F401  (store: a fixture)
from tests.storage.exchange.test_digest_figures import (
    EAST_GROUP,
    HAPPY_TOWN,
    W47,
    digest_district,
    figures_of,
    small_quota,
)

WEDNESDAY = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SMALL_QUOTA = {"LIANXIN_QUOTA__HOUSEHOLDS_PER_YEAR": "4", "LIANXIN_REMINDERS__BEHIND_MARGIN": "1"}


def build(url: str, readers: tuple[tuple[str, str], ...] = ()) -> None:
    """The hand-counted district, with these (who, language) bound to console chats."""

    async def work() -> None:
        database = Database(url)
        try:
            await database.upgrade()
            await digest_district(database, small_quota(load_settings()))
            async with database.transaction() as session:
                for who, language in readers:
                    identity = await people.identity_for(session, channel="console", external_id=who)
                    role, _, code = who.partition(":")
                    await people.assume_role(session, identity=identity, role=role, code=code, actor="test")
                    await people.set_language(session, identity=identity, language=language)
        finally:
            await database.dispose()

    asyncio.run(work())


@pytest.fixture
def district(store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:  # noqa: F811
    for name, value in {**SMALL_QUOTA, "LIANXIN_DIGEST__FILES_DIR": str(tmp_path / "digests")}.items():
        monkeypatch.setenv(name, value)
    for module in (cli_common, cli_digest):
        monkeypatch.setattr(module, "utcnow", lambda: WEDNESDAY)
    return store


def digest(url: str, *args: str, exit_code: int = 0) -> Result:
    result = CliRunner().invoke(cli.app, ["digest", "--db", url, *args])
    assert result.exit_code == exit_code, f"{result.stdout}\n{result.stderr}\n{result.exception!r}"
    return result


def outbox(url: str) -> list[OutboxMessage]:
    async def work() -> list[OutboxMessage]:
        database = Database(url)
        try:
            async with database.read() as session:
                found = await session.exec(
                    select(OutboxMessage).where(OutboxMessage.channel == "console").order_by(col(OutboxMessage.id))
                )
                return [row for row in found.all() if row.chat_key.startswith(("leader:", "liaison:"))]
        finally:
            await database.dispose()

    return asyncio.run(work())


def expected_text(url: str, settings: Settings, scope: str = "district", language: str = "zh-CN") -> str:
    async def work() -> str:
        database = Database(url)
        try:
            figures = await figures_of(database, settings, scope, week=W47)
            return digest_text(language, figures, settings)
        finally:
            await database.dispose()

    return asyncio.run(work())


def test_the_last_full_week_as_text_and_as_json(district: str) -> None:
    build(district)
    text = digest(district).stdout
    assert text.splitlines()[:2] == [
        "【连心周报】全区｜2026年第47周（11月16日—11月22日）",
        "本周共走访联系群众4户，收集建议意见3条，办实事解难事2件。",
    ]
    assert text == digest(district, "--week", "2026-W47").stdout
    assert text.rstrip("\n") == expected_text(district, small_quota(load_settings()))

    figures = json.loads(digest(district, "--week", "2026-W47", "--format", "json").stdout)
    assert (figures["households_visited"], figures["suggestions"], figures["things_done"]) == (4, 3, 2)
    assert (figures["scope"], figures["week"], figures["from"], figures["to"]) == (
        "district",
        "2026-W47",
        "2026-11-16",
        "2026-11-22",
    )
    assert (figures["visits_week"], figures["behind_pace"], figures["cases"]["overdue"]) == (5, 1, 1)
    township = json.loads(digest(district, "--scope", f"township:{HAPPY_TOWN}", "--format", "json").stdout)
    assert (township["households_visited"], township["suggestions"], township["things_done"]) == (3, 2, 2)


def test_the_chart_and_the_spreadsheet_go_to_a_folder(district: str, tmp_path: Path) -> None:
    build(district)
    out = tmp_path / "out"
    result = digest(district, "--scope", f"group:{EAST_GROUP}", "--format", "json", "--out", str(out))
    figures = json.loads(result.stdout)  # standard output stays one JSON document
    chart = out / f"2026-W47-group-{EAST_GROUP}-zh-CN.png"
    sheet = out / f"2026-W47-group-{EAST_GROUP}-zh-CN.xlsx"
    assert result.stderr.splitlines() == [f"已写入：{chart.resolve()}", f"已写入：{sheet.resolve()}"]
    assert chart.read_bytes().startswith(b"\x89PNG")
    rows = list(openpyxl.load_workbook(sheet)["代表明细"].iter_rows(values_only=True))
    assert [row[0] for row in rows[1:-2]] == ["T009"]
    assert rows[-2][7] == figures["households_visited"] == 2


def test_bad_weeks_scopes_and_formats_are_refused(district: str) -> None:
    build(district)
    for args, exit_code, message in (
        (("--week", "2026-47"), 2, "“2026-47”不是周次，请按 2026-W47 的格式写"),
        (("--week", "2025-W53"), 2, "“2025-W53”不是周次"),
        (("--week", "2026-W49"), 2, "2026-W49 还没有开始"),
        (("--scope", "street:幸福"), 2, "“street:幸福”不是统计范围"),
        (("--format", "csv"), 2, "不支持的格式 csv"),
        (("--scope", "township:幸福镇"), 1, "没有属于“幸福镇”的党代表工作站"),
        (("--scope", "group:无名小组"), 1, "没有名为“无名小组”的代表小组"),
    ):
        result = digest(district, *args, exit_code=exit_code)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == "", args


def test_send_queues_the_schedulers_digest_for_the_scopes_readers(district: str, tmp_path: Path) -> None:
    build(district, readers=(("leader:L01", "zh-CN"), ("liaison:O01", "en"), ("leader:L02", "zh-CN")))
    result = digest(district, "--week", "2026-W47", "--send")
    assert result.stdout.splitlines()[-1] == (
        "已把 2026-W47 的周报放入发送队列：2 位读者，2 个聊天，6 条消息。正在运行的机器人会发送它们。"
    )
    rows = outbox(district)
    assert [(row.chat_key, row.kind) for row in rows] == [
        (who, kind) for who in ("leader:L01", "liaison:O01") for kind in ("message", "photo", "document")
    ]
    settings = small_quota(load_settings())
    assert rows[0].payload["text"] == expected_text(district, settings)
    assert rows[3].payload["text"] == expected_text(district, settings, language="en")
    folder = tmp_path / "digests" / "2026-W47"
    assert rows[1].payload["path"] == str(folder.resolve() / "2026-W47-district-zh-CN.png")
    assert rows[4].payload["path"] == str(folder.resolve() / "2026-W47-district-en.png")

    nobody = digest(district, "--week", "2026-W47", "--scope", f"group:{EAST_GROUP}", "--send")
    assert nobody.stdout.splitlines()[-1] == f"group:{EAST_GROUP} 没有已绑定聊天的周报读者，没有发送。"
    assert len(outbox(district)) == 6


def test_as_a_real_process(store: str, tmp_path: Path) -> None:  # noqa: F811
    build(store)
    result = lianxin(
        "digest",
        "--db",
        store,
        "--week",
        "2026-W47",
        "--format",
        "json",
        env={**SMALL_QUOTA, "LIANXIN_DIGEST__FILES_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, shown(result)
    figures = json.loads(result.stdout)
    assert (figures["households_visited"], figures["suggestions"], figures["things_done"]) == (4, 3, 2)
    refused = lianxin("digest", "--db", store, "--week", "W47")
    assert refused.returncode == 2 and "“W47”不是周次" in refused.stderr, shown(refused)
