"""Anonymity that holds: after an anonymous letter, nothing in the whole database but the relay table links its case
to the writer's chat, even when the writer signed first (typed a name and a phone) and then chose anonymity; and it
still holds once the department has answered the case and the writer has rated the answer. Run end to end through
the Telegram channel, where every update and every message passes through the inbox and outbox."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

import storage.models  # noqa: F401  (every table on SQLModel.metadata)
from storage.db import Database
from storage.models import Case, CaseRelay, ChatIdentity, utcnow
from storage.records import mailbox, people
from storage.settings import Settings
from tests.bot.telegram_harness import Harness, running_bot
from tests.factories import District, build_district

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

REP_CHAT = 7101
WRITER_CHAT = 7102
DEPARTMENT_CHAT = 7103  # 区住建局, where housing goes at once
CONCERN = "幸福路12号的楼道灯坏了三个月，老人夜里摔倒过一次。"
ANSWER = "已更换幸福路12号全部楼道灯，并加装了声控开关。"
NAME = "陈小红"
PHONE = "13912345678"


async def bind(harness: Harness, chat_id: int, code: str) -> None:
    async with harness.db.transaction() as session:
        issued = await people.create_invitation(
            session, person_code=code, now=utcnow(), valid_for=timedelta(days=1), actor="test"
        )
    assert "绑定成功" in await harness.say(chat_id, f"/start {issued.code}")


@pytest.fixture
async def telegram(db: Database, settings: Settings, tmp_path: Path) -> AsyncIterator[Harness]:
    district: District = await build_district(db)
    assert district.representatives
    async with running_bot(db, settings, tmp_path / "files", fast=True) as harness:
        await bind(harness, REP_CHAT, "D001")
        yield harness


def user(chat_id: int, first: str, last: str, username: str) -> dict[str, Any]:
    return {
        "id": chat_id,
        "is_bot": False,
        "first_name": first,
        "last_name": last,
        "username": username,
        "language_code": "zh-hans",
    }


def everything(telegram: Harness, chat_id: int) -> str:
    """All a chat was sent, as it reads now (the fake server keeps what the database forgets)."""
    return "\n\n".join(message.get("plain_text") or "" for message in telegram.server.sent(chat_id))


async def write_anonymously_after_signing(telegram: Harness, db: Database) -> dict[str, Any]:
    """The writer signs, types a name and a phone, then chooses anonymity and sends; returns their concern's update."""
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=utcnow(), actor="test")
    telegram.server.add_chat(WRITER_CHAT, user=user(WRITER_CHAT, "小红", "陈", "chen_xiaohong"))
    opened = await telegram.say(WRITER_CHAT, f"/start m_{token}")
    assert "请选择问题的类别" in opened and "王建国" in opened
    assert "请写下您想反映的问题" in await telegram.press(WRITER_CHAT, "住房物业")
    concern = telegram.server.user_sends_text(WRITER_CHAT, CONCERN)
    await telegram.settle()
    assert "可以发照片" in telegram.screen(WRITER_CHAT)
    assert "要署名吗" in await telegram.say(WRITER_CHAT, "跳过")  # the extras step's reply keyboard: words
    assert "请输入您的姓名" in await telegram.press(WRITER_CHAT, "署名")
    await telegram.say(WRITER_CHAT, NAME)
    assert "是否同意承办单位打电话" in await telegram.say(WRITER_CHAT, PHONE)
    assert PHONE in await telegram.press(WRITER_CHAT, "是")  # the confirmation quotes the name and phone
    assert "要署名吗" in await telegram.press(WRITER_CHAT, "改署名/匿名")
    assert "署名：匿名" in await telegram.press(WRITER_CHAT, "匿名")
    assert "✅ 已受理，编号 LX-2026-000001" in await telegram.press(WRITER_CHAT, "保存")
    await telegram.settle()
    return concern


async def every_row(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (the search index's included), as plain values."""
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        rows: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            result = await connection.execute(sa.text(f'SELECT * FROM "{name}"'))
            rows[name] = [dict(row._mapping) for row in result]
    return rows


def text_of(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)


async def the_anonymous_case(db: Database) -> tuple[ChatIdentity, Case]:
    async with db.transaction() as session:
        writer = (await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == str(WRITER_CHAT)))).one()
        case = (await session.exec(select(Case))).one()
    assert case.anonymous and (case.identity_id, case.name, case.phone, case.consent) == (None, "", "", False)
    return writer, case


def payload_of(row: dict[str, Any]) -> Any:
    payload = row["payload"]
    return json.loads(payload) if isinstance(payload, str) else payload  # SQLite hands JSON over as text


async def only_the_relay_links(
    db: Database,
    *,
    case: Case,
    chat: int = WRITER_CHAT,
    profile: frozenset[str] = frozenset({"小红", "chen_xiaohong"}),
    secrets: frozenset[str] = frozenset({NAME, PHONE}),
    writer: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """The key guarantee, for the resident of `chat` (the writer, or one who joined): no row of any table but
    case_relay both points at their chat and names the case (or what they typed); what they typed and is not part of
    the case (`secrets`) is nowhere at all; nothing tied to their chat tells when it was busy; what was sent to them
    is forgotten once sent. Returns every row, for the caller's further checks."""
    tables = await every_row(db)
    assert set(SQLModel.metadata.tables) <= set(tables)  # the scan reads every modelled table, and more
    [identity] = [row for row in tables[ChatIdentity.__tablename__] if row["external_id"] == str(chat)]
    chat_id = re.compile(rf"(?<!\d){chat}(?!\d)")  # the chat's id as a number of its own, not inside a time
    letter_marks = {CONCERN[:12], ANSWER[:12], case.number, *secrets}  # what names the case or what they typed
    for name, rows in tables.items():
        for row in rows:
            written = text_of(row)
            # What they typed (a name and phone given up for anonymity, the words of a concern they joined
            # instead) is nowhere at all: not in events, messages, dialogs or audit rows; nor is their username.
            assert not any(secret in written for secret in secrets), (name, row)
            assert not any(mark in written for mark in profile if mark.isascii()), (name, row)
            if name == CaseRelay.__tablename__:
                continue
            links_the_chat = (
                chat_id.search(written) is not None
                or any(mark in written for mark in profile)
                or (name != ChatIdentity.__tablename__ and _references(name, row, identity["id"]))
            )
            names_the_case = any(mark in written for mark in letter_marks) or _names_case(name, row, case.id)
            assert not (links_the_chat and names_the_case), f"{name} links the case to chat {chat}: {row}"
    # Nor does anything tied to their chat tell when it was busy: its events and messages are gone, and the
    # identity's creation is rounded to its day (a first-time writer's would be moments before the letter).
    for name in ("inbox", "outbox"):
        assert [row for row in tables[name] if row["chat_key"] == str(chat)] == [], name
    assert abs((_moment(identity["created_at"]) - case.registered_at).total_seconds()) > 60 or _midnight(identity)
    relays = [row for row in tables[CaseRelay.__tablename__] if row["identity_id"] == identity["id"]]
    assert [(row["case_id"], bool(row["writer"])) for row in relays] == [(case.id, writer)]
    # What was sent to anyone to be forgotten keeps nothing once sent: to whom, what, or the platform's message id.
    for row in tables["outbox"]:
        if row["scrub"] and row["status"] in ("sent", "failed"):
            assert (row["chat_key"], payload_of(row), row["external_id"]) == ("", {}, ""), row
    return tables


async def test_nothing_but_the_relay_links_an_anonymous_letter_to_its_writer(telegram: Harness, db: Database) -> None:
    await write_anonymously_after_signing(telegram, db)
    _, case = await the_anonymous_case(db)
    tables = await only_the_relay_links(db, case=case)
    [identity] = [row for row in tables[ChatIdentity.__tablename__] if row["external_id"] == str(WRITER_CHAT)]
    assert identity["area_id"] is None  # written through a card: no area of theirs was asked for or kept
    [audit] = [row for row in tables["audit_log"] if row["action"] == "case.registered"]
    assert audit["actor"] == "anonymous"
    [event] = [row for row in tables["case_event"] if row["action"] == "registered"]
    assert event["actor"] == "anonymous"
    # The representative was told, without the writer, and the writer still got the case number on the phone.
    told = everything(telegram, REP_CHAT)
    assert f"您的片区有新的诉求 {case.number}" in told and NAME not in told and PHONE not in told
    assert case.number in everything(telegram, WRITER_CHAT)


async def test_nothing_but_the_relay_links_it_once_answered_and_rated(telegram: Harness, db: Database) -> None:
    """The department answers the anonymous case; the writer hears the answer and the rating question through
    Telegram, opens the case from the notice's button and rates it. Still nothing but the relay links the case to
    their chat: what was said to them is forgotten once sent, and the trail of their chat goes again."""
    await bind(telegram, DEPARTMENT_CHAT, "B01")
    await write_anonymously_after_signing(telegram, db)
    writer, case = await the_anonymous_case(db)
    assert case.department == "区住建局"  # housing is assigned at once

    # The department reads the case without its writer, and answers.
    opened = await telegram.press(DEPARTMENT_CHAT, "查看案件")
    assert CONCERN in opened and "来信人：匿名" in opened and NAME not in opened and PHONE not in opened
    assert "请写下答复内容" in await telegram.press(DEPARTMENT_CHAT, "答复")
    assert "问题解决了吗" in await telegram.say(DEPARTMENT_CHAT, ANSWER)
    assert f"✅ {case.number} 已答复" in await telegram.press(DEPARTMENT_CHAT, "是")
    await telegram.settle()

    # The writer hears the answer and is asked to rate it, with a button that opens the case.
    heard = telegram.screen(WRITER_CHAT)
    assert f"您反映的问题 {case.number} 已答复（已解决）" in heard and ANSWER in heard, heard
    assert "请对答复进行评价" in heard and telegram.buttons(WRITER_CHAT) == ["评价"]
    await only_the_relay_links(db, case=case)  # the notice was forgotten once sent

    opened = await telegram.press(WRITER_CHAT, "评价")
    assert f"答复：{ANSWER}" in opened and "[评价]" in opened
    assert "请对答复进行评价" in await telegram.press(WRITER_CHAT, "评价")
    assert "满意" in telegram.buttons(WRITER_CHAT)
    assert f"✅ 感谢您的评价！{case.number} 当前状态：已办结" in await telegram.press(WRITER_CHAT, "满意")
    await telegram.settle()

    rated = await the_anonymous_case(db)
    assert (rated[1].state, rated[1].rating) == ("closed", "satisfied")
    tables = await only_the_relay_links(db, case=rated[1])
    actors = {row["actor"] for row in tables["audit_log"] if row["entity"] == "case"}
    assert f"identity:{writer.id}" not in actors and "anonymous" in actors
    assert {row["actor"] for row in tables["case_event"] if row["action"] == "rated"} == {"anonymous"}
    # The department heard the rating; the writer's name was never theirs to read.
    told = everything(telegram, DEPARTMENT_CHAT)
    assert f"{case.number} 的评价：满意" in told and NAME not in told and "小红" not in told


JOINER_CHAT = 7104
SAME = "幸福路12号楼道的灯坏了三个月，老人晚上出门摔倒过。"  # reads like CONCERN


async def test_nothing_but_the_relay_links_a_case_to_a_resident_who_joined_it(telegram: Harness, db: Database) -> None:
    """A neighbour writes the same concern and joins the open case instead: they hear its answer, and nothing but
    the relay links the case to their chat (what they typed of it included)."""
    await bind(telegram, DEPARTMENT_CHAT, "B01")
    await write_anonymously_after_signing(telegram, db)
    _, case = await the_anonymous_case(db)
    telegram.server.add_chat(JOINER_CHAT, user=user(JOINER_CHAT, "小明", "王", "wang_xiaoming"))
    assert "住在哪个社区" in await telegram.say(JOINER_CHAT, "写信")
    assert "请选择问题的类别" in await telegram.say(JOINER_CHAT, "幸福社区一区")
    await telegram.press(JOINER_CHAT, "住房物业")
    offered = await telegram.say(JOINER_CHAT, SAME)
    assert "这个片区已经有相近的问题正在办理" in offered and case.number in offered
    assert f"已加入案件 {case.number}" in await telegram.press(JOINER_CHAT, f"我也遇到了（{case.number}）")
    await telegram.settle()
    joiner = frozenset({"小明", "wang_xiaoming"})
    await only_the_relay_links(
        db, case=case, chat=JOINER_CHAT, profile=joiner, secrets=frozenset({SAME[:12]}), writer=False
    )
    await only_the_relay_links(db, case=case)

    await telegram.press(DEPARTMENT_CHAT, "查看案件")
    await telegram.press(DEPARTMENT_CHAT, "答复")
    await telegram.say(DEPARTMENT_CHAT, ANSWER)
    await telegram.press(DEPARTMENT_CHAT, "是")
    await telegram.settle()
    heard = telegram.screen(JOINER_CHAT)
    assert f"您关注的问题 {case.number} 已答复" in heard and ANSWER in heard and "评价" not in heard
    await only_the_relay_links(
        db, case=case, chat=JOINER_CHAT, profile=joiner, secrets=frozenset({SAME[:12]}), writer=False
    )
    await only_the_relay_links(db, case=case)


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _midnight(row: dict[str, Any]) -> bool:
    return _moment(row["created_at"]).time() == datetime.min.time()


def _references(table: str, row: dict[str, Any], identity_id: int | None) -> bool:
    """Whether a row points at the writer's chat identity (a column naming it, an audit actor)."""
    if identity_id is None:
        return False
    pointers = {"identity_id", "used_by"}
    if any(row.get(column) == identity_id for column in pointers):
        return True
    return table == "audit_log" and row.get("actor") == f"identity:{identity_id}"


def _names_case(table: str, row: dict[str, Any], case_id: int | None) -> bool:
    """Whether a row is the case, part of it, or a record about it."""
    if table == Case.__tablename__:
        return True
    if "case_id" in row and row["case_id"] == case_id:
        return True  # its events, attachments and relay
    return table == "audit_log" and row.get("entity") == "case" and row.get("entity_id") == str(case_id)


async def test_raw_updates_keep_no_names(telegram: Harness, db: Database) -> None:
    """What the inbox keeps of an update is what handling needs: no first or last name, no username."""
    telegram.server.add_chat(WRITER_CHAT + 1, user=user(WRITER_CHAT + 1, "小明", "王", "wang_xiaoming"))
    await telegram.say(WRITER_CHAT + 1, "你好")
    for event in await telegram.inbox():
        written = json.dumps(event.payload, ensure_ascii=False)
        assert "wang_xiaoming" not in written and "小明" not in written


async def test_the_files_keep_no_trace_of_what_the_writer_typed(telegram: Harness, db: Database) -> None:
    """SQLite keeps deleted content in free pages and old log frames unless told otherwise: neither the typed name
    nor the phone is anywhere in the database's files afterwards."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL keeps old row versions until VACUUM; its files are the server's")
    await write_anonymously_after_signing(telegram, db)
    path = Path(str(sa.engine.make_url(db.url).database))
    written = b"".join(
        candidate.read_bytes() for candidate in (path, path.with_name(path.name + "-wal")) if candidate.exists()
    )
    for secret in (PHONE, NAME, json.dumps(NAME)[1:-1]):
        assert secret.encode() not in written, secret


async def test_an_edit_after_the_letter_keeps_nothing_of_what_it_says(telegram: Harness, db: Database) -> None:
    concern = await write_anonymously_after_signing(telegram, db)
    telegram.server.user_edits_message(concern, CONCERN + "（更正）")  # a typo fixed after sending
    await telegram.settle()
    assert "修改不会生效" in telegram.screen(WRITER_CHAT)
    for name, rows in (await every_row(db)).items():
        for row in rows:
            assert CONCERN[:12] not in text_of(row) or name in (Case.__tablename__, "outbox"), (name, row)
