"""The Telegram channel end to end with updates that need care: a photo whose download is slow, a note as long as
Telegram counts it (UTF-16), an edited message."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import select

from handlers.i18n import t
from storage.db import Database
from storage.models import DialogState, VisitPhoto
from storage.settings import Settings
from tests.bot.telegram_harness import JPEG, REP_CHAT, RESIDENT_CHAT, Harness, bound_representative, running_bot, visits
from tests.factories import District

NOTE_AT_LIMIT = "路灯" + "💡" * 999  # 1,001 characters, 2,000 UTF-16 code units: the longest note allowed
NOTE_OVER_LIMIT = NOTE_AT_LIMIT + "💡"  # 2,002 units


async def up_to_the_photos(telegram: Harness) -> None:
    await bound_representative(telegram)
    for text in ["走访 幸福路14号 入户 看望", "确认", "个人走访", "日常走访"]:
        await telegram.say(REP_CHAT, text)
    assert "需要附照片吗" in telegram.screen(REP_CHAT)


# --- a slow download ---------------------------------------------------------------------------------------------


async def test_a_slow_photo_download_holds_up_no_other_chat(fast: Harness, db: Database) -> None:
    telegram = fast
    await up_to_the_photos(telegram)
    telegram.server.fail_next("getFile", delay=3)
    telegram.server.user_sends_photo(REP_CHAT, JPEG)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not telegram.server.calls_to("getFile"):  # the photo is being fetched
        assert loop.time() < deadline, "the photo was not fetched"
        await asyncio.sleep(0.01)

    started = loop.time()
    telegram.server.user_sends_text(RESIDENT_CHAT, "你好")
    await telegram.server.wait_sent(RESIDENT_CHAT, 1, within=5)
    assert loop.time() - started < 0.5  # not 3 s behind the other chat's download
    assert "已收到1张照片" not in telegram.screen(REP_CHAT)  # that one is still on its way

    await telegram.settle()
    assert "已收到1张照片" in telegram.screen(REP_CHAT)
    assert "需要记录走访位置吗" in await telegram.press(REP_CHAT, "完成")
    await telegram.say(REP_CHAT, "跳过")
    assert "✅ 走访已保存" in await telegram.press(REP_CHAT, "保存")
    assert len(await visits(db)) == 1
    async with db.read() as session:
        assert len((await session.exec(select(VisitPhoto))).all()) == 1
    assert len(telegram.server.calls_to("getFile")) == 1  # fetched once


# --- lengths as Telegram counts them -----------------------------------------------------------------------------


async def up_to_the_note(telegram: Harness) -> None:
    await bound_representative(telegram)
    for text in ["走访 幸福路14号 入户", "确认", "个人走访"]:
        await telegram.say(REP_CHAT, text)
    assert "请简要记录" in await telegram.press(REP_CHAT, "日常走访")


async def test_a_note_is_measured_in_utf16_units_as_telegram_measures_it(fast: Harness, db: Database) -> None:
    telegram = fast
    await up_to_the_note(telegram)
    refused = await telegram.say(REP_CHAT, NOTE_OVER_LIMIT)
    assert refused.startswith(t("zh-CN", "input.too_long", limit=2000, length=2002)) and "请简要记录" in refused

    assert "需要附照片吗" in await telegram.say(REP_CHAT, NOTE_AT_LIMIT)
    assert "需要记录走访位置吗" in await telegram.press(REP_CHAT, "跳过")
    confirmation = await telegram.say(REP_CHAT, "跳过")
    assert "请核对这次走访" in confirmation and NOTE_AT_LIMIT in confirmation
    assert "✅ 走访已保存" in await telegram.press(REP_CHAT, "保存")
    [visit] = await visits(db)
    assert visit.notes == NOTE_AT_LIMIT
    assert {row.status for row in await telegram.outbox()} == {"sent"}


async def test_a_confirmation_over_telegrams_length_arrives_in_pieces(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    """With notes of up to 4,000 units, the confirmation quoting one is longer than a Telegram message."""
    longer = settings.model_copy(update={"visits": settings.visits.model_copy(update={"max_note_length": 4000})})
    note = "路灯" + "💡" * 1999  # 4,000 units
    async with running_bot(db, longer, tmp_path / "files", fast=True) as telegram:
        await up_to_the_note(telegram)
        await telegram.say(REP_CHAT, note)
        await telegram.press(REP_CHAT, "跳过")
        before = len(telegram.server.sent(REP_CHAT))
        await telegram.say(REP_CHAT, "跳过")
        pieces = [message["plain_text"] for message in telegram.server.sent(REP_CHAT)[before:]]
        assert len(pieces) > 1 and "请核对这次走访" in pieces[0]
        assert note in "".join(pieces)  # cut where it had to be, nothing lost
        assert "保存" in telegram.buttons(REP_CHAT)  # the buttons come with the last piece
        await telegram.press(REP_CHAT, "保存")  # its answer quotes the note again: in pieces too
        assert any("✅ 走访已保存" in message["plain_text"] for message in telegram.server.sent(REP_CHAT)[before:])
        assert {row.status for row in await telegram.outbox()} == {"sent"}  # Telegram took every piece
    [visit] = await visits(db)
    assert visit.notes == note


# --- edited messages ---------------------------------------------------------------------------------------------


async def test_an_edited_message_is_answered_and_changes_nothing(fast: Harness, db: Database) -> None:
    telegram = fast
    await bound_representative(telegram)
    typed = telegram.server.user_sends_text(REP_CHAT, "走访 幸福路14号 入户 看望")
    await telegram.settle()
    assert "这户的类别" in telegram.screen(REP_CHAT)
    step = telegram.server.sent(REP_CHAT)[-1]
    async with db.read() as session:
        [before] = (await session.exec(select(DialogState))).all()
        draft = dict(before.draft)

    telegram.server.user_edits_message(typed, "走访 幸福路12号 入户 看望")
    await telegram.settle()
    assert telegram.screen(REP_CHAT) == t("zh-CN", "telegram.edited")
    async with db.read() as session:
        [after] = (await session.exec(select(DialogState))).all()
    assert (after.step, after.draft) == (before.step, draft)  # where it was, with the household first written
    await telegram.press(REP_CHAT, "确认")  # the dialog goes on from its message
    assert "个人走访还是集体走访" in step["plain_text"]

    # In English for a person who reads English.
    telegram.server.add_chat(RESIDENT_CHAT, language_code="en")
    greeting = telegram.server.user_sends_text(RESIDENT_CHAT, "hello")
    await telegram.settle()
    telegram.server.user_edits_message(greeting, "hello again")
    await telegram.settle()
    assert telegram.screen(RESIDENT_CHAT) == t("en", "telegram.edited")

    # A live location moves by edits of its message: no answer to those.
    sent = len(telegram.server.sent(RESIDENT_CHAT))
    shared = telegram.server.user_sends_location(RESIDENT_CHAT, 30.7, 111.29)
    await telegram.settle()
    moved = {**shared["message"], "location": {"latitude": 30.71, "longitude": 111.3}, "edit_date": 1}
    telegram.server.push_update({"edited_message": moved})
    await telegram.settle()
    assert len(telegram.server.sent(RESIDENT_CHAT)) == sent + 1  # the location's answer only


# --- control characters ----------------------------------------------------------------------------------------


async def test_a_nul_in_a_message_is_dropped_on_its_way_to_either_store(fast: Harness, db: Database) -> None:
    """A NUL saves on SQLite and fails every save on PostgreSQL (its text columns refuse it): dropped on the way in,
    so the visit saves on both, and the raw update still sits in the inbox as Telegram sent it."""
    telegram = fast
    await up_to_the_photos(telegram)
    await telegram.say(REP_CHAT, "/back")  # to the notes again
    assert "需要附照片吗" in await telegram.say(REP_CHAT, "楼道\x00灯坏了\x07")
    await telegram.press(REP_CHAT, "跳过")
    await telegram.say(REP_CHAT, "跳过")
    assert "走访已保存" in await telegram.press(REP_CHAT, "保存")
    [visit] = await visits(db)
    assert visit.notes == "楼道灯坏了"
