"""The `lianxin` command line, run as real processes: what a person at the terminal sees, and what is stored.

Every command runs in a new Python process against the store under test (a SQLite file, or PostgreSQL when
LIANXIN_TEST_DATABASE_URL is set). Starting a process costs about two seconds (imports), so calls that do not
depend on each other run side by side.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Inbound
from handlers.router import Router
from storage.db import Database
from storage.exchange import roster
from storage.exchange.exports import VISIT_HEADERS
from storage.models import (
    Area,
    AuditEntry,
    ChatIdentity,
    DialogState,
    DueItem,
    Household,
    Invitation,
    OutboxMessage,
    RepArea,
    Representative,
    Station,
    Visit,
)
from storage.settings import load_settings
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.factories import District, build_district, chat_as
from tests.fakes import bot_process
from tests.fakes.telegram_api import FakeTelegramServer

ROOT = Path(__file__).parents[2]
T = TypeVar("T")
Result = subprocess.CompletedProcess[str]


# --- running the command line -------------------------------------------------------------------------------


def child_environment() -> dict[str, str]:
    env = os.environ.copy()
    env["COLUMNS"] = "200"  # Typer's error panels wrap at the terminal width; keep messages on one line
    env["NO_COLOR"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("FORCE_COLOR", None)
    for key in [key for key in env if key.startswith("LIANXIN_") and "TOKEN" in key]:
        env.pop(key)  # `run` must find no channel token
    return env


def lianxin(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
    """`lianxin ARGS...` in a new process, with `stdin` as its (non-terminal) standard input and `env` added to
    its environment."""
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=child_environment() | (env or {}),
    )


def in_parallel(*jobs: Callable[[], T]) -> list[T]:
    """Run independent commands side by side; results in the order given."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [future.result() for future in [pool.submit(job) for job in jobs]]


def shown(result: Result) -> str:
    """Both streams, for assertion messages."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def script(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


# --- the store ----------------------------------------------------------------------------------------------


def query(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(url)
        try:
            async with database.transaction() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def count(url: str, table: Any, *where: Any) -> int:
    async def work(session: AsyncSession) -> int:
        statement = select(func.count()).select_from(table)
        for condition in where:
            statement = statement.where(condition)
        return int((await session.exec(statement)).one())

    return query(url, work)


def rows(url: str, table: type[T], *where: Any) -> list[T]:
    async def work(session: AsyncSession) -> list[T]:
        statement = select(table)
        for condition in where:
            statement = statement.where(condition)
        return list((await session.exec(statement)).all())

    return query(url, work)


def codes(url: str) -> list[str]:
    return sorted(rep.code for rep in rows(url, Representative))


@pytest.fixture
def store(database_url: str) -> str:
    """The URL of an empty store: a fresh SQLite file, or the test PostgreSQL database emptied."""
    if POSTGRES_URL:
        asyncio.run(reset_postgres(database_url))
    return database_url


@pytest.fixture
def district(store: str) -> tuple[str, District]:
    """The store with the small test district of tests/factories.py (D001 王建国, D002 李红梅, T001 张伟)."""

    async def build() -> District:
        database = Database(store)
        try:
            await database.upgrade()
            return await build_district(database)
        finally:
            await database.dispose()

    return store, asyncio.run(build())


def shanghai_today() -> date:
    return datetime.now(ZoneInfo(load_settings().general.time_zone)).date()


# --- 1. a conversation continues in a new process -----------------------------------------------------------


def test_visit_started_in_one_process_is_finished_in_another(district: tuple[str, District]) -> None:
    url, built = district
    first_day = shanghai_today()
    first = lianxin(
        "chat",
        "--db",
        url,
        "--as",
        "rep:D001",
        stdin=script("走访 幸福路14号 入户 看望", "确认", "个人走访"),
    )
    assert first.returncode == 0, shown(first)
    out = first.stdout
    # Scripted use echoes every message after "> ", each followed by its replies, in order.
    echoes = [line for line in out.splitlines() if line.startswith("> ")]
    assert echoes == ["> 走访 幸福路14号 入户 看望", "> 确认", "> 个人走访"], shown(first)
    positions = [
        out.index("> 走访 幸福路14号 入户 看望"),
        out.index("住户：幸福路14号 赵*"),
        out.index("这户的类别：困难群体、特殊困难群众"),
        out.index("> 确认"),
        out.index("个人走访还是集体走访？"),
        out.index("> 个人走访"),
        out.index("这次是日常走访还是集中走访？"),
    ]
    assert positions == sorted(positions), shown(first)
    assert "赵强" not in out  # the head of household is masked on screen
    # The process ended at the end of its input with the dialog half done: nothing saved, the step stored.
    assert count(url, Visit) == 0
    [state] = rows(url, DialogState)
    assert (state.channel, state.user_id, state.flow, state.step) == (
        "console",
        "representative:D001",
        "visit",
        "round",
    )
    assert state.draft["mode"] == "home" and state.draft["notes"] == "看望"

    second = lianxin(
        "chat",
        "--db",
        url,
        "--as",
        "rep:D001",
        stdin=script("日常走访", "跳过", "跳过", "保存"),
    )
    assert second.returncode == 0, shown(second)
    out = second.stdout
    assert [line for line in out.splitlines() if line.startswith("> ")] == [
        "> 日常走访",
        "> 跳过",
        "> 跳过",
        "> 保存",
    ]
    for fragment in ("需要附照片吗", "需要记录走访位置吗", "请核对这次走访", "方式：入户", "情况：看望", "走访已保存"):
        assert fragment in out, shown(second)
    assert "已联系 1/100 户" in out

    [visit] = rows(url, Visit)
    assert (visit.mode, visit.notes, visit.round, visit.collective) == ("home", "看望", "routine", False)
    assert visit.household_id == built.households["幸福路14号"]
    assert visit.representative_id == built.representatives["D001"]
    assert visit.visited_on in {first_day, shanghai_today()}
    assert [state.flow for state in rows(url, DialogState)] == ["_offer"]  # what stays: reporting its request


# --- 2. who is talking, and in which language --------------------------------------------------------------


def test_chat_refuses_a_malformed_identity(tmp_path: Path) -> None:
    untouched = tmp_path / "untouched.db"
    boss, no_code = in_parallel(
        lambda: lianxin("chat", "--db", str(untouched), "--as", "boss:1", stdin="/help\n"),
        lambda: lianxin("chat", "--db", str(untouched), "--as", "rep:", stdin="/help\n"),
    )
    for result, spec in ((boss, "boss:1"), (no_code, "rep:")):
        assert result.returncode == 2, shown(result)
        assert f"身份格式不对：{spec}。" in result.stderr, shown(result)
        assert f"Cannot read the identity {spec}." in result.stderr, shown(result)
        assert "--as" in result.stderr
        assert "> /help" not in result.stdout  # no console was opened
    assert not untouched.exists()  # refused before the database was touched


def test_chat_refuses_an_unknown_representative(district: tuple[str, District]) -> None:
    url, _ = district
    unknown = lianxin("chat", "--db", url, "--as", "rep:D999", stdin="/help\n")
    assert unknown.returncode == 1, shown(unknown)
    assert "找不到编号为 D999 的党代表" in unknown.stderr, shown(unknown)
    assert "Traceback" not in unknown.stderr
    assert "> /help" not in unknown.stdout
    # The console identity was created in the transaction that failed: nothing of it is stored.
    assert rows(url, ChatIdentity) == []


def test_chat_refuses_an_unknown_language(tmp_path: Path) -> None:
    result = lianxin("chat", "--db", str(tmp_path / "x.db"), "--as", "rep:D001", "--lang", "fr", stdin="/help\n")
    assert result.returncode == 2, shown(result)
    assert "不支持的语言：fr" in result.stderr, shown(result)
    assert "Traceback" not in result.stderr


# --- 3. db upgrade -----------------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_can_run_again(store: str, tmp_path: Path) -> None:
    # SQLite: a plain path (not a URL) to a file that does not exist yet; PostgreSQL: the emptied test database.
    fresh = tmp_path / "fresh.db"
    target = store if POSTGRES_URL else str(fresh)
    url = store if POSTGRES_URL else f"sqlite+inline:///{fresh}"
    first = lianxin("db", "upgrade", "--db", target)
    assert first.returncode == 0, shown(first)
    assert "数据库已是最新版本" in first.stdout
    if not POSTGRES_URL:
        assert fresh.is_file() and fresh.stat().st_size > 0
    assert count(url, Representative) == 0  # the tables exist (and are empty)
    again = lianxin("db", "upgrade", "--db", target)
    assert again.returncode == 0, shown(again)
    assert "数据库已是最新版本" in again.stdout
    assert count(url, Representative) == 0


# --- 4. roster import --------------------------------------------------------------------------------------

HEADER = "编号,姓名,层级,代表小组,小组职务,工作站,责任区,手机,单位职务,在任"
GOOD_ROSTER = [
    HEADER,
    "D101,张伟,区级,第一小组,组长,幸福社区工作站,幸福里；和平里,138 0013 8000,区教育局副局长,是",
    "D102,王芳,区级,第一小组,联络员,幸福社区工作站,和平里,0717-6543210,,是",
    "T101,李强,乡镇级,第二小组,,光明村工作站,光明一组、光明二组,,光明村党支部书记,",
]
BAD_ROSTER = [
    HEADER,
    "D101,张伟伟,区级,第一小组,组长,幸福社区工作站,幸福里；和平里,13800138000,区教育局副局长,是",  # would update
    "T102,赵敏,市级,,,,,,,否",  # row 3: no such level
    "D103,孙丽,区级,第一小组,成员,幸福社区工作站,幸福里,,,是",  # would be new
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_roster_import_good_again_bad_and_wrong_files(store: str, tmp_path: Path) -> None:
    good = write_lines(tmp_path / "名册.csv", GOOD_ROSTER)
    first = lianxin("roster", "import", str(good), "--db", store)
    assert first.returncode == 0, shown(first)
    assert "导入完成：新增3人，更新0人，未变0人。" in first.stdout, shown(first)
    assert codes(store) == ["D101", "D102", "T101"]
    [zhang] = rows(store, Representative, Representative.code == "D101")
    assert (zhang.name, zhang.level, zhang.group_role, zhang.phone) == ("张伟", "district", "leader", "13800138000")
    assert count(store, RepArea) == 5 and count(store, Area) == 4

    bad = write_lines(tmp_path / "bad.csv", BAD_ROSTER)
    text_file = write_lines(tmp_path / "名册.txt", GOOD_ROSTER)
    again, wrong, txt, missing = in_parallel(
        lambda: lianxin("roster", "import", str(good), "--db", store),
        lambda: lianxin("roster", "import", str(bad), "--db", store),
        lambda: lianxin("roster", "import", str(text_file), "--db", store),
        lambda: lianxin("roster", "import", str(tmp_path / "nowhere.csv"), "--db", store),
    )
    assert again.returncode == 0, shown(again)
    assert "导入完成：新增0人，更新0人，未变3人。" in again.stdout, shown(again)

    assert wrong.returncode == 1, shown(wrong)
    assert "名册中有以下1个问题，未导入任何数据" in wrong.stderr, shown(wrong)
    assert "第3行「层级」为「市级」" in wrong.stderr, shown(wrong)
    assert "第2行" not in wrong.stderr and "第4行" not in wrong.stderr
    assert "导入完成" not in wrong.stdout

    assert txt.returncode == 2, shown(txt)
    assert "只支持 .csv 和 .xlsx" in txt.stderr and "名册.txt" in txt.stderr, shown(txt)

    assert missing.returncode == 2, shown(missing)
    assert "nowhere.csv" in missing.stderr and "does not exist" in missing.stderr, shown(missing)

    # Only the first import changed anything: the bad file's good rows were not applied either.
    assert codes(store) == ["D101", "D102", "T101"]
    [zhang] = rows(store, Representative, Representative.code == "D101")
    assert zhang.name == "张伟"
    assert count(store, RepArea) == 5 and count(store, Area) == 4
    imports = sorted(rows(store, AuditEntry, AuditEntry.action == "roster.import"), key=lambda entry: entry.id or 0)
    assert [(entry.detail["created"], entry.detail["updated"]) for entry in imports] == [(3, 0), (0, 0)]


# --- 5. roster export and import back ----------------------------------------------------------------------


def test_roster_exported_to_xlsx_imports_back_unchanged(store: str, tmp_path: Path) -> None:
    good = write_lines(tmp_path / "名册.csv", GOOD_ROSTER)

    async def load_roster() -> None:  # in this process: the command under test here is the export
        database = Database(store)
        try:
            await database.upgrade()
            async with database.transaction() as session:
                await roster.import_roster(session, rows=roster.read_roster(good), actor="test")
        finally:
            await database.dispose()

    asyncio.run(load_roster())
    exported = tmp_path / "导出.xlsx"
    export = lianxin("roster", "export", str(exported), "--db", store)
    assert export.returncode == 0, shown(export)
    assert f"已导出3名代表到 {exported}" in export.stdout, shown(export)
    sheet = openpyxl.load_workbook(exported, read_only=True).worksheets[0]
    header, *data = [list(values) for values in sheet.iter_rows(values_only=True)]
    assert header == [*HEADER.split(","), "接待日"]  # the reception-day column, empty without a rota
    assert [line[0] for line in data] == ["D101", "D102", "T101"]

    back = lianxin("roster", "import", str(exported), "--db", store)
    assert back.returncode == 0, shown(back)
    assert "导入完成：新增0人，更新0人，未变3人。" in back.stdout, shown(back)
    assert codes(store) == ["D101", "D102", "T101"]
    assert count(store, RepArea) == 5 and count(store, Area) == 4


def test_test_district_roster_round_trip_changes_nothing(district: tuple[str, District], tmp_path: Path) -> None:
    url, built = district
    exported = tmp_path / "district.xlsx"
    assert lianxin("roster", "export", str(exported), "--db", url).returncode == 0
    back = lianxin("roster", "import", str(exported), "--db", url)
    assert back.returncode == 0, shown(back)
    assert count(url, Area) == 3
    links = rows(url, RepArea, RepArea.representative_id == built.representatives["D002"])
    assert [link.area_id for link in links] == [built.areas["东山村一组"]]
    assert "新增0人，更新0人" in back.stdout, shown(back)


# --- 6. invitations ----------------------------------------------------------------------------------------


def test_invite_code_binds_one_telegram_chat_once(district: tuple[str, District]) -> None:
    url, built = district
    issued, unknown = in_parallel(
        lambda: lianxin("invite", "D001", "--db", url),
        lambda: lianxin("invite", "D999", "--db", url),
    )
    assert issued.returncode == 0, shown(issued)
    found = re.search(r"邀请码：([A-Z0-9]+)", issued.stdout)
    assert found, shown(issued)
    code = found.group(1)
    assert len(code) == 10 and not set(code) & set("01OIL")
    assert f"https://t.me/lianxin_demo_bot?start={code}" in issued.stdout
    assert "D001 的邀请码" in issued.stdout
    [invitation] = rows(url, Invitation)
    assert invitation.code == code and invitation.used_at is None
    assert invitation.representative_id == built.representatives["D001"]
    assert timedelta(days=13) < invitation.expires_at - invitation.created_at <= timedelta(days=14)

    assert unknown.returncode == 1, shown(unknown)
    assert "找不到编号为 D999 的党代表或工作人员" in unknown.stderr, shown(unknown)

    async def redeem() -> tuple[str, str]:
        database = Database(url)
        try:
            router = Router(database, load_settings())
            start = await router.handle(
                Inbound(channel="telegram", chat_id="42", user_id="42", kind="text", text=f"/start {code}")
            )
            other = await router.handle(
                Inbound(channel="telegram", chat_id="43", user_id="43", kind="text", text=code.lower())
            )
            return "\n".join(reply.text for reply in start), "\n".join(reply.text for reply in other)
        finally:
            await database.dispose()

    welcome, refused = asyncio.run(redeem())
    assert "绑定成功" in welcome and "王建国" in welcome
    assert "已经被使用过" in refused
    [bound] = rows(url, ChatIdentity, ChatIdentity.external_id == "42")
    assert (bound.channel, bound.role, bound.representative_id) == (
        "telegram",
        "representative",
        built.representatives["D001"],
    )
    # The second chat was refused: it is bound to nobody (its whole event was rolled back).
    assert [identity.external_id for identity in rows(url, ChatIdentity, ChatIdentity.role == "representative")] == [
        "42"
    ]
    [invitation] = rows(url, Invitation)
    assert invitation.used_by == bound.id and invitation.used_at is not None


def bind(url: str, user: str, code: str) -> str:
    """`user` sends an invitation code to the bot (Telegram, through the router); returns what they read."""

    async def send() -> str:
        database = Database(url)
        try:
            router = Router(database, load_settings())
            inbound = Inbound(channel="telegram", chat_id=user, user_id=user, kind="text", text=f"/start {code}")
            return "\n".join(reply.text for reply in await router.handle(inbound))
        finally:
            await database.dispose()

    return asyncio.run(send())


def issued_code(result: Result) -> str:
    found = re.search(r"邀请码：([A-Z0-9]+)", result.stdout)
    assert found, shown(result)
    return found.group(1)


def test_staff_get_invitations_too_and_unbind_and_revoke_end_chats(district: tuple[str, District]) -> None:
    url, _ = district
    for_staff, for_phone, for_tablet = in_parallel(
        lambda: lianxin("invite", "B01", "--db", url),
        lambda: lianxin("invite", "D001", "--db", url),
        lambda: lianxin("invite", "D002", "--db", url),
    )
    assert "B01 的邀请码" in for_staff.stdout, shown(for_staff)
    assert "绑定成功！欢迎您，承办人甲" in bind(url, "51", issued_code(for_staff))
    assert "王建国" in bind(url, "52", issued_code(for_phone))
    assert "李红梅" in bind(url, "53", issued_code(for_tablet))
    [department] = rows(url, ChatIdentity, ChatIdentity.external_id == "51")
    assert (department.role, department.staff_id) == ("department", 3)

    # A lost phone: that one chat is unbound, and told so; the representative stays on the roster.
    unbound, again, malformed = in_parallel(
        lambda: lianxin("unbind", "telegram:52", "--db", url),
        lambda: lianxin("unbind", "telegram:9999", "--db", url),
        lambda: lianxin("unbind", "52", "--db", url),
    )
    assert unbound.returncode == 0 and "已解除 telegram:52 的身份" in unbound.stdout, shown(unbound)
    assert again.returncode == 1 and "找不到 telegram:9999 这个聊天身份" in again.stderr, shown(again)
    assert malformed.returncode == 2 and "渠道:编号" in malformed.stderr, shown(malformed)
    [phone] = rows(url, ChatIdentity, ChatIdentity.external_id == "52")
    assert (phone.role, phone.representative_id) == ("resident", None)
    told = rows(url, OutboxMessage, OutboxMessage.chat_key == "52")
    assert [row.kind for row in told] == ["message", "commands"]
    assert "身份已解除" in told[0].payload["text"]
    assert "绑定成功" not in bind(url, "52", issued_code(for_phone))  # its code was used: a new one is needed

    # Someone who left: every chat of theirs, and their unused codes.
    unused = issued_code(lianxin("invite", "B01", "--db", url))
    revoked = lianxin("revoke", "b01", "--db", url)
    assert revoked.returncode == 0 and "已解除 B01 承办人甲 的 1 个聊天" in revoked.stdout, shown(revoked)
    [department] = rows(url, ChatIdentity, ChatIdentity.external_id == "51")
    assert (department.role, department.staff_id) == ("resident", None)
    assert "过期" in bind(url, "54", unused)
    assert [row.action for row in rows(url, AuditEntry) if row.action == "identity.unbind"] == ["identity.unbind"] * 2


def test_a_roster_import_that_takes_someone_out_of_office_unbinds_their_chats(
    district: tuple[str, District], tmp_path: Path
) -> None:
    url, _ = district
    code = issued_code(lianxin("invite", "T001", "--db", url))
    assert "张伟" in bind(url, "61", code)
    exported = lianxin("roster", "export", str(tmp_path / "roster.csv"), "--db", url)
    assert exported.returncode == 0, shown(exported)
    with (tmp_path / "roster.csv").open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    active = table[0].index("在任")
    for line in table[1:]:
        if line[0] == "T001":
            line[active] = "否"
    with (tmp_path / "roster.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(table)
    imported = lianxin("roster", "import", str(tmp_path / "roster.csv"), "--db", url)
    assert imported.returncode == 0, shown(imported)
    assert "1个聊天因代表已不在任而解除了身份" in imported.stdout, shown(imported)
    [chat] = rows(url, ChatIdentity, ChatIdentity.external_id == "61")
    assert (chat.role, chat.representative_id) == ("resident", None)
    assert "身份已解除" in rows(url, OutboxMessage, OutboxMessage.chat_key == "61")[0].payload["text"]


# --- 7. visit export ---------------------------------------------------------------------------------------


def test_export_visits_masks_names_and_phones(district: tuple[str, District], tmp_path: Path) -> None:
    url, _ = district

    async def log_visit() -> None:
        database = Database(url)
        try:
            chat = await chat_as(database, load_settings(), "representative:D001")
            await chat.talk(
                [
                    ("走访 幸福路14号 入户 楼道灯坏了", "这户的类别"),
                    ("确认", "个人走访还是集体走访？"),
                    ("个人走访", "这次是日常走访还是集中走访？"),
                    ("日常走访", "需要附照片吗"),
                    ("跳过", "需要记录走访位置吗"),
                    ("跳过", "请核对这次走访"),
                    ("保存", "走访已保存"),
                ]
            )
        finally:
            await database.dispose()

    asyncio.run(log_visit())
    out = tmp_path / "visits.csv"
    export, bad_date, backwards = in_parallel(
        lambda: lianxin("export", "visits", str(out), "--db", url, "--from", "2026-01-01", "--to", "2026-12-31"),
        lambda: lianxin("export", "visits", str(tmp_path / "a.csv"), "--db", url, "--from", "2026-13-01"),
        lambda: lianxin(
            "export", "visits", str(tmp_path / "b.csv"), "--db", url, "--from", "2026-12-31", "--to", "2026-01-01"
        ),
    )
    assert export.returncode == 0, shown(export)
    assert f"已导出2026-01-01至2026-12-31的走访记录1条：{out}" in export.stdout, shown(export)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte order mark Excel on Chinese Windows needs
    text = raw.decode("utf-8-sig")
    assert "13812345678" not in text and "赵强" not in text
    header, *data = list(csv.reader(io.StringIO(text)))
    assert header == VISIT_HEADERS and header[:3] == ["走访编号", "日期", "代表编号"]
    [line] = data
    row = dict(zip(header, line, strict=True))
    [visit] = rows(url, Visit)
    assert row["走访编号"] == str(visit.id) and row["日期"] == "2026-11-25"
    assert (row["代表编号"], row["代表姓名"], row["走访方式"], row["类型"], row["形式"]) == (
        "D001",
        "王建国",
        "入户",
        "日常走访",
        "个人",
    )
    assert (row["住户地址"], row["户主"], row["电话"], row["情况记录"]) == (
        "幸福路14号",
        "赵*",
        "138****5678",
        "楼道灯坏了",
    )
    assert row["责任区"] == "幸福社区二区" and row["党员户"] == "否"
    [entry] = rows(url, AuditEntry, AuditEntry.action == "visit.export")
    assert (entry.actor, entry.detail["count"]) == ("cli", 1)

    assert bad_date.returncode == 2, shown(bad_date)
    assert "--from 的日期格式不对：2026-13-01，应为 YYYY-MM-DD" in bad_date.stderr, shown(bad_date)
    assert backwards.returncode == 2, shown(backwards)
    assert "起始日期 2026-12-31 晚于截止日期 2026-01-01" in backwards.stderr, shown(backwards)
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


# --- 7b. reading commands leave the bot's writes alone --------------------------------------------------------

EXPORT_SECONDS = 3.0


def slow_export(marker: Path, *args: str) -> subprocess.Popen[str]:
    """`lianxin ARGS...` whose spreadsheet writer touches `marker`, then takes EXPORT_SECONDS: an export of a
    city's year of visits (26,612 of them took 17 s as .xlsx)."""
    code = (
        "import pathlib, time\n"
        "from storage.exchange import exports, roster, spreadsheets\n"
        "def slow(*args, **kwargs):\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        f"    time.sleep({EXPORT_SECONDS})\n"
        "    spreadsheets.write_table(*args, **kwargs)\n"
        "exports.write_table = roster.write_table = slow\n"
        "from bot.cli import main\n"
        "main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=child_environment(),
    )


def timed_write(url: str) -> float:
    """Seconds a small write takes from a second Database on the store, as the running bot's would."""

    async def write() -> float:
        database = Database(url)
        try:
            started = time.monotonic()
            async with database.transaction() as session:
                session.add(Station(name="新建工作站"))
            return time.monotonic() - started
        finally:
            await database.dispose()

    return asyncio.run(write())


def test_exports_write_their_file_without_holding_up_the_bots_writes(
    district: tuple[str, District], tmp_path: Path
) -> None:
    url, built = district

    async def add_visits(session: AsyncSession) -> None:
        for day in range(1, 41):
            session.add(
                Visit(
                    representative_id=built.representatives["D001"],
                    household_id=built.households["幸福路14号"],
                    visited_on=date(2026, 3, 1) + timedelta(days=day),
                    mode="home",
                    notes=f"第{day}次",
                )
            )

    query(url, add_visits)
    visits_file, roster_file = tmp_path / "visits.xlsx", tmp_path / "roster.xlsx"
    visits_marker, roster_marker = tmp_path / "visits.writing", tmp_path / "roster.writing"
    exporting = [
        slow_export(visits_marker, "export", "visits", str(visits_file), "--db", url, "--from", "2026-01-01"),
        slow_export(roster_marker, "roster", "export", str(roster_file), "--db", url),
    ]
    try:
        deadline = time.monotonic() + 60
        while not (visits_marker.exists() and roster_marker.exists()):
            assert time.monotonic() < deadline and all(process.poll() is None for process in exporting)
            time.sleep(0.05)
        # Both are writing their files now: a write of the bot's goes through at once.
        assert timed_write(url) < 0.5
        outputs = [process.communicate(timeout=60) for process in exporting]
    finally:
        for process in exporting:
            process.kill()
    for process, (out, err) in zip(exporting, outputs, strict=True):
        assert process.returncode == 0, f"{out}\n{err}"
    assert "的走访记录40条" in outputs[0][0] and "已导出3名代表" in outputs[1][0]
    visit_lines = list(openpyxl.load_workbook(visits_file, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert list(visit_lines[0]) == VISIT_HEADERS and [line[-4] for line in visit_lines[1:]] == [
        f"第{day}次" for day in range(1, 41)
    ]
    roster_lines = list(openpyxl.load_workbook(roster_file, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [line[0] for line in roster_lines] == ["编号", "D001", "D002", "T001"]
    # Each export is audited, once the file is there.
    [visits_entry] = rows(url, AuditEntry, AuditEntry.action == "visit.export")
    [roster_entry] = rows(url, AuditEntry, AuditEntry.action == "roster.export")
    assert (visits_entry.actor, visits_entry.detail["count"]) == ("cli", 40)
    assert (roster_entry.actor, roster_entry.detail["count"]) == ("cli", 3)


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's write lock")
def test_outbox_answers_while_another_process_holds_the_write_lock(store: str) -> None:
    assert lianxin("db", "upgrade", "--db", store).returncode == 0
    path = make_url(store).database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None)  # a roster import, say, in the middle of its transaction
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        result = lianxin("outbox", "--db", store)
        elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.returncode == 0, shown(result)
    assert "发件箱（待发消息）" in result.stdout
    assert elapsed < 20, elapsed  # it did not wait for the lock (a writer gives up after 30 s)


# --- 8. the demo -------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    bool(POSTGRES_URL), reason="the demo build is timed on SQLite only, to keep the PostgreSQL run short"
)
def test_demo_builds_once_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    started = time.monotonic()
    first = lianxin("demo", "--db", str(path), stdin="/progress\n")
    elapsed = time.monotonic() - started
    assert first.returncode == 0, shown(first)
    assert elapsed < 60, f"the demo took {elapsed:.1f} s (target 30 s)"
    out = first.stdout
    assert "正在生成示范区" in out
    ready = r"示范区已生成：305名党代表、\d+个代表小组、64个工作站、212个责任区、30000户群众、\d+次走访"
    assert re.search(ready, out), out
    assert "现在您是党代表 D001" in out
    assert f"--db {path} --as leader:L01" in out and "--as resident:demo" in out
    assert "> /progress" in out and "走访进度" in out and "已联系" in out
    # The scheduler's series have started, and D001 finds this month's figures and a nudge waiting.
    assert "您不在时收到2条通知" in out and "每月走访提醒" in out and "走访进度提醒" in out
    url = f"sqlite+inline:///{path}"
    series = {item.kind for item in rows(url, DueItem, col(DueItem.state) == "pending")}
    assert {"cases-sweep", "quota-month", "round-reminder"} <= series, series
    representatives, households, visits = count(url, Representative), count(url, Household), count(url, Visit)
    assert (representatives, households) == (305, 30000) and visits > 0

    second = lianxin("demo", "--db", str(path), stdin="/progress\n")
    assert second.returncode == 0, shown(second)
    assert "沿用已有的示范区：305名党代表" in second.stdout, shown(second)
    assert "正在生成示范区" not in second.stdout and "示范区已生成" not in second.stdout
    assert "每月走访提醒" not in second.stdout  # told once
    assert "走访进度" in second.stdout
    assert (count(url, Representative), count(url, Household), count(url, Visit)) == (
        representatives,
        households,
        visits,
    )


# --- 9. help -----------------------------------------------------------------------------------------------


def test_help_is_bilingual_and_unknown_commands_fail() -> None:
    top, demo, unknown = in_parallel(
        lambda: lianxin("--help"),
        lambda: lianxin("demo", "--help"),
        lambda: lianxin("frobnicate"),
    )
    for result in (top, demo):
        assert result.returncode == 0, shown(result)
        assert "党代表" in result.stdout and "representative" in result.stdout, shown(result)
    for command in ("demo", "chat", "run", "outbox", "card", "invite", "db", "roster", "export"):
        assert re.search(rf"│ {command}\s", top.stdout), shown(top)
    assert "示范区" in demo.stdout and "demo district" in demo.stdout
    assert "--seed" in demo.stdout and "--as" in demo.stdout
    assert unknown.returncode == 2, shown(unknown)
    assert "No such command 'frobnicate'" in unknown.stderr, shown(unknown)


# --- 10. run -----------------------------------------------------------------------------------------------


def test_run_without_a_token_says_what_to_set(store: str) -> None:
    result = lianxin("run", "--db", store)
    assert result.returncode == 2, shown(result)
    assert "LIANXIN_TELEGRAM_TOKEN" in result.stderr and "lianxin demo" in result.stderr, shown(result)


def test_run_refuses_a_webhook_that_is_not_a_url(store: str) -> None:
    env_token = {"LIANXIN_TELEGRAM_TOKEN": "123456:TEST-token_for-fake-telegram"}
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "run", "--db", store, "--webhook", "bot.example"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=child_environment() | env_token,
    )
    assert result.returncode == 2, shown(result)
    assert "https://" in result.stderr and "bot.example" in result.stderr
    assert "TEST-token" not in result.stdout + result.stderr


@pytest.mark.skipif(bool(POSTGRES_URL), reason="one bot per SQLite file; PostgreSQL's workers share leases")
async def test_a_second_run_on_the_same_file_is_refused_at_once(tmp_path: Path) -> None:
    database = tmp_path / "lianxin.db"
    async with FakeTelegramServer() as server:
        env = bot_process.environment(server, tmp_path / "files", COLUMNS="200", NO_COLOR="1")
        first = await bot_process.start(str(database), env, tmp_path / "first.log")
        try:
            deadline = time.monotonic() + 60
            while not server.calls_to("getUpdates"):  # the first bot runs
                assert time.monotonic() < deadline and first.returncode is None, (tmp_path / "first.log").read_text()
                await asyncio.sleep(0.05)
            second = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from bot.cli import main; main()",
                "run",
                "--db",
                str(database),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = (stream.decode() for stream in await asyncio.wait_for(second.communicate(), 60))
            assert second.returncode == 1, f"{out}\n{err}"
            assert f"已有另一个连心机器人在用数据库文件 {database.resolve()} 运行" in err, err
            assert "PostgreSQL" in err and "Traceback" not in err
            assert "机器人已启动" not in out  # it never said it runs
            assert first.returncode is None  # the first runs on
        finally:
            await bot_process.stop(first)
    assert first.returncode == 0


def test_outbox_shows_counts_and_failures_without_personal_data(store: str) -> None:
    from storage.db import Database
    from storage.delivery import outbox
    from storage.models import utcnow

    async def fill() -> None:
        database = Database(store)
        await database.upgrade()
        async with database.transaction() as session:
            texts = ("陈志明 13812345678 您好", "第二条")
            messages = [outbox.NewMessage("telegram", "42", {"text": text}) for text in texts]
            [_first, second] = await outbox.enqueue(session, messages=messages, now=utcnow())
            await outbox.mark_failed(session, message_id=second, error="Rejected: chat not found", now=utcnow())
        await database.dispose()

    asyncio.run(fill())
    result = lianxin("outbox", "--db", store)
    assert result.returncode == 0, shown(result)
    assert "telegram：待处理 1, 已发送 0, 失败 1" in result.stdout, shown(result)
    assert "Rejected: chat not found" in result.stdout
    assert "陈志明" not in result.stdout and "13812345678" not in result.stdout


# --- 11. a database that cannot be used ---------------------------------------------------------------------

TOKEN = {"LIANXIN_TELEGRAM_TOKEN": "123456:TEST-token_for-fake-telegram"}


def commands_of_each_kind(db: str, tmp_path: Path) -> list[Result]:
    """A command of each way of meeting the database (all go through bot.cli's Setup.run), side by side: the
    upgrade alone, the console, a read, an export, the running bot."""
    return in_parallel(
        lambda: lianxin("db", "upgrade", "--db", db),
        lambda: lianxin("chat", "--db", db, "--as", "rep:D001", stdin="/help\n"),
        lambda: lianxin("outbox", "--db", db),
        lambda: lianxin("export", "visits", str(tmp_path / "visits.csv"), "--db", db),
        lambda: lianxin("run", "--db", db, env=TOKEN),
    )


def test_commands_that_only_read_do_not_create_a_mistyped_database(tmp_path: Path) -> None:
    typo = tmp_path / "lianxn.db"
    for result in in_parallel(
        lambda: lianxin("outbox", "--db", str(typo)),
        lambda: lianxin("export", "visits", str(tmp_path / "v.csv"), "--db", str(typo)),
        lambda: lianxin("roster", "export", str(tmp_path / "r.csv"), "--db", str(typo)),
    ):
        assert result.returncode == 1 and "没有找到数据库文件" in result.stderr, shown(result)
        assert "Traceback" not in result.stderr
    assert not typo.exists() and not (tmp_path / "v.csv").exists()


def test_a_file_that_is_not_a_database_gets_a_paragraph_not_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "lianxin.db"
    content = bytes(range(256)) * 64  # what a wrong file given as --db looks like: anything but SQLite's header
    garbage.write_bytes(content)
    for result in commands_of_each_kind(str(garbage), tmp_path):
        assert result.returncode == 1, shown(result)
        assert f"无法使用数据库文件 {garbage.resolve()}：它不是数据库，或者已经损坏" in result.stderr, shown(result)
        assert "备份恢复" in result.stderr, shown(result)
        assert "Traceback" not in result.stdout + result.stderr, shown(result)
        assert len(result.stderr.splitlines()) == 1, shown(result)
        assert "机器人已启动" not in result.stdout
    assert garbage.read_bytes() == content  # left as it was, for whoever restores it
    assert not (tmp_path / "visits.csv").exists()


def test_an_unreachable_postgresql_gets_a_paragraph_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:secretpw@127.0.0.1:1/x"  # nothing listens on port 1
    results = commands_of_each_kind(url, tmp_path)
    from_environment = lianxin("outbox", env={"LIANXIN_DATABASE_URL": url})
    for result in [*results, from_environment]:
        assert result.returncode == 1, shown(result)
        assert "连不上 127.0.0.1:1 上的 PostgreSQL 数据库" in result.stderr, shown(result)
        assert "LIANXIN_DATABASE_URL" in result.stderr, shown(result)
        assert "Traceback" not in result.stdout + result.stderr, shown(result)
        assert "secretpw" not in result.stdout + result.stderr, shown(result)
        assert len(result.stderr.splitlines()) == 1, shown(result)


# --- 12. configuration -------------------------------------------------------------------------------------


def test_invalid_configuration_names_key_and_value(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[general]\ndialog_timeout_minutes = 0\ntime_zone = "Mars/Olympus"\n\n[quota]\nhouseholds_per_yaer = 100\n',
        encoding="utf-8",
    )
    database = tmp_path / "never.db"
    upgrade, chat = in_parallel(
        lambda: lianxin("db", "upgrade", "--db", str(database), "--config", str(config)),
        lambda: lianxin("chat", "--db", str(database), "--config", str(config), "--as", "rep:D001", stdin="/help\n"),
    )
    for result in (upgrade, chat):
        assert result.returncode == 2, shown(result)
        assert "Traceback" not in result.stderr
        assert str(config) in result.stderr, shown(result)
        assert "general.dialog_timeout_minutes = 0" in result.stderr, shown(result)
        assert "general.time_zone = 'Mars/Olympus'" in result.stderr, shown(result)
        assert "quota.households_per_yaer" in result.stderr, shown(result)
        assert "数据库已是最新版本" not in result.stdout and "> /help" not in result.stdout
    assert not database.exists()
