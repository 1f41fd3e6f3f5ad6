"""Anonymity that holds: after an anonymous letter, nothing in the whole database but the relay table links it to
the writer's chat, even when the writer signed first (typed a name and a phone) and then chose anonymity. Run end
to end through the Telegram channel, where every update and every message passes through the inbox and outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

import storage.models  # noqa: F401  (every table on SQLModel.metadata)
from storage.db import Database
from storage.models import ChatIdentity, MailboxItem, MailboxRelay, utcnow
from storage.records import mailbox, people
from storage.settings import Settings
from tests.bot.telegram_harness import Harness, running_bot
from tests.factories import District, build_district

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

REP_CHAT = 7101
WRITER_CHAT = 7102
CONCERN = "幸福路12号的楼道灯坏了三个月，老人夜里摔倒过一次。"
NAME = "陈小红"
PHONE = "13912345678"


@pytest.fixture
async def telegram(db: Database, settings: Settings, tmp_path: Path) -> AsyncIterator[Harness]:
    district: District = await build_district(db)
    assert district.representatives
    async with running_bot(db, settings, tmp_path / "files", fast=True) as harness:
        async with db.transaction() as session:
            issued = await people.create_invitation(
                session, person_code="D001", now=utcnow(), valid_for=timedelta(days=1), actor="test"
            )
        await harness.say(REP_CHAT, f"/start {issued.code}")
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


async def write_anonymously_after_signing(telegram: Harness, db: Database) -> dict[str, Any]:
    """The writer signs, types a name and a phone, then chooses anonymity and sends; returns their concern's update."""
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=utcnow(), actor="test")
    telegram.server.add_chat(WRITER_CHAT, user=user(WRITER_CHAT, "小红", "陈", "chen_xiaohong"))
    assert "王建国" in await telegram.say(WRITER_CHAT, f"/start m_{token}")
    concern = telegram.server.user_sends_text(WRITER_CHAT, CONCERN)
    await telegram.settle()
    assert "要署名吗" in telegram.screen(WRITER_CHAT)
    assert "请输入您的姓名" in await telegram.press(WRITER_CHAT, "署名")
    await telegram.say(WRITER_CHAT, NAME)
    assert PHONE in await telegram.say(WRITER_CHAT, PHONE)  # the confirmation quotes the name and phone
    assert "要署名吗" in await telegram.press(WRITER_CHAT, "改署名/匿名")
    assert "署名：匿名" in await telegram.press(WRITER_CHAT, "匿名")
    assert "来信已送达王建国代表的信箱" in await telegram.press(WRITER_CHAT, "保存")
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


async def test_nothing_but_the_relay_links_an_anonymous_letter_to_its_writer(telegram: Harness, db: Database) -> None:
    await write_anonymously_after_signing(telegram, db)
    async with db.transaction() as session:
        writer = (await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == str(WRITER_CHAT)))).one()
        item = (await session.exec(select(MailboxItem))).one()
    assert item.anonymous and (item.identity_id, item.name, item.phone) == (None, "", "")

    tables = await every_row(db)
    assert set(SQLModel.metadata.tables) <= set(tables)  # the scan reads every modelled table, and more
    chat_marks = {str(WRITER_CHAT), "chen_xiaohong", "小红"}  # what names the writer's chat or account
    letter_marks = {CONCERN[:12], NAME, PHONE, f"#{item.id}"}  # what names the letter or what they typed
    for name, rows in tables.items():
        for row in rows:
            written = text_of(row)
            # The typed name and phone are nowhere at all: not in events, messages, dialogs or audit rows.
            assert NAME not in written and PHONE not in written and "chen_xiaohong" not in written, (name, row)
            if name == MailboxRelay.__tablename__:
                continue
            links_the_chat = any(mark in written for mark in chat_marks) or (
                name != ChatIdentity.__tablename__ and _references(name, row, writer.id)
            )
            names_the_letter = any(mark in written for mark in letter_marks) or _names_item(name, row, item.id)
            assert not (links_the_chat and names_the_letter), f"{name} links the letter to its writer: {row}"
    # Nor does anything tied to the writer's chat tell when it was busy: its events and messages are gone, and the
    # identity's creation is rounded to its day (a first-time writer's would be moments before the letter).
    for name in ("inbox", "outbox"):
        assert [row for row in tables[name] if row["chat_key"] == str(WRITER_CHAT)] == [], name
    [identity] = [row for row in tables[ChatIdentity.__tablename__] if row["external_id"] == str(WRITER_CHAT)]
    assert abs((_moment(identity["created_at"]) - item.created_at).total_seconds()) > 60 or _midnight(identity)
    [relay] = tables[MailboxRelay.__tablename__]
    assert (relay["item_id"], relay["identity_id"]) == (item.id, writer.id)
    [audit] = [row for row in tables["audit_log"] if row["action"] == "mailbox.submit"]
    assert audit["actor"] == "anonymous"
    # The representative was told, without the writer, and the writer still got the item number on the phone.
    assert f"#{item.id}" in telegram.server.sent(REP_CHAT)[-1]["plain_text"]
    assert f"#{item.id}" in telegram.screen(WRITER_CHAT)


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


def _names_item(table: str, row: dict[str, Any], item_id: int | None) -> bool:
    if table == MailboxItem.__tablename__:
        return True
    return table == "audit_log" and row.get("entity") == "mailbox_item" and row.get("entity_id") == str(item_id)


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
            assert CONCERN[:12] not in text_of(row) or name in ("mailbox_item", "outbox"), (name, row)
