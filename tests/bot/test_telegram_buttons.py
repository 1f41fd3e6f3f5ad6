"""Buttons through the real Telegram channel: presses naming choices that were never offered (or another person's
press) change nothing in any flow; a prompt sent anew takes the buttons off the one before, so a person never sees
two live keyboards; and one person's flood of messages is held to the limit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import AuditEntry, Case, CaseRelay, DialogState, HouseholdCategory, InboxEvent, utcnow
from storage.records import mailbox
from storage.settings import Settings
from tests.bot.telegram_harness import (
    JPEG,
    REP_CHAT,
    RESIDENT_CHAT,
    Harness,
    bound_representative,
    invitation,
    running_bot,
)
from tests.factories import District

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


def live_keyboards(telegram: Harness, chat_id: int) -> list[dict[str, Any]]:
    """The messages of a chat that still show inline buttons."""
    return [
        message
        for message in telegram.server.sent(chat_id)
        if (message.get("reply_markup") or {}).get("inline_keyboard")
    ]


async def forge(telegram: Harness, chat_id: int, data: str, *, user: dict[str, Any] | None = None) -> str:
    """Press a button that is not on the newest message (a stale client, a malicious one)."""
    before = {message["message_id"]: message.get("plain_text") for message in telegram.server.sent(chat_id)}
    newest = telegram.server.sent(chat_id)[-1]
    telegram.server.user_presses_button(chat_id, newest["message_id"], data, user=user, check=False)
    await telegram.settle()
    changed = [  # what the person reads anew: messages sent, and messages edited
        message.get("plain_text") or ""
        for message in telegram.server.sent(chat_id)
        if before.get(message["message_id"]) != message.get("plain_text")
    ]
    return "\n".join(changed)


async def dialog_of(db: Database, chat_id: int) -> DialogState | None:
    async with db.transaction() as session:
        return (await session.exec(select(DialogState).where(DialogState.chat_id == str(chat_id)))).first()


# --- forged presses, flow by flow ----------------------------------------------------------------------------------


async def test_forged_presses_in_the_visit_flow_change_nothing(fast: Harness, db: Database, district: District) -> None:
    telegram = fast
    await bound_representative(telegram)
    await telegram.say(REP_CHAT, "/visit")
    await telegram.say(REP_CHAT, "幸福路12号")  # two households offered; 幸福路14号 is not among them
    elsewhere = district.households["幸福路14号"]
    for forged in (f"visit:hh:{elsewhere}", "visit:mode:home", "visit:save", "switch:go", "lang:en", "visit:hh:99999"):
        answer = await forge(telegram, REP_CHAT, forged)
        assert "这个按钮已经过期了" in answer, (forged, answer)
        state = await dialog_of(db, REP_CHAT)
        assert state is not None and state.step == "household" and "household" not in state.draft
    async with db.transaction() as session:
        opened = (await session.exec(select(AuditEntry).where(AuditEntry.action == "household.open"))).all()
    assert opened == []  # no household was read through a forged press

    # Past the household: a companion never offered, a category of a household whose categories are read-only.
    await telegram.press(REP_CHAT, "幸福路12号1栋1单元101 陈*明")
    await telegram.press(REP_CHAT, "入户")
    await telegram.press(REP_CHAT, "确认")
    await telegram.press(REP_CHAT, "集体走访")
    assert "这个按钮已经过期了" in await forge(telegram, REP_CHAT, f"visit:rep:{district.representatives['D002']}")
    state = await dialog_of(db, REP_CHAT)
    assert state is not None and state.draft.get("companions", []) == []


async def test_a_forged_category_on_a_household_elsewhere_is_refused(
    fast: Harness, db: Database, district: District
) -> None:
    telegram = fast
    await bound_representative(telegram, code="T001")  # 幸福路14号 is not in T001's area
    await telegram.say(REP_CHAT, "走访 幸福路14号 入户 看望")
    assert "这户不在您的责任区" in telegram.screen(REP_CHAT)
    assert "这个按钮已经过期了" in await forge(telegram, REP_CHAT, "visit:cat:hardship")
    for label in ("确认", "个人走访", "日常走访", "跳过"):
        await telegram.press(REP_CHAT, label)
    await telegram.say(REP_CHAT, "跳过")  # the location step's reply keyboard: its buttons are words
    shown = len(telegram.server.sent(REP_CHAT))
    await telegram.press(REP_CHAT, "保存")  # the summary becomes the saved visit; the offer of a request follows
    assert "走访已保存" in "\n".join(message["plain_text"] for message in telegram.server.sent(REP_CHAT)[shown - 1 :])
    async with db.transaction() as session:
        codes = (
            await session.exec(
                select(HouseholdCategory.code).where(
                    HouseholdCategory.household_id == district.households["幸福路14号"]
                )
            )
        ).all()
    assert sorted(codes) == ["hardship", "special_hardship"]  # as the ledger had them


async def test_forged_presses_in_the_mailbox_and_language_flows_change_nothing(fast: Harness, db: Database) -> None:
    telegram = fast
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=utcnow(), actor="test")
    assert "请选择问题的类别" in await telegram.say(RESIDENT_CHAT, f"/start m_{token}")
    for forged in ("case:cat:nonsense", "case:cat:", "case:join:1", "case:place:1", "mailbox:save"):
        assert "这个按钮已经过期了" in await forge(telegram, RESIDENT_CHAT, forged), forged
    state = await dialog_of(db, RESIDENT_CHAT)
    assert state is not None and state.step == "category" and "category" not in state.draft
    assert "请写下您想反映的问题" in await telegram.press(RESIDENT_CHAT, "环境卫生")
    assert "可以发照片" in await telegram.say(RESIDENT_CHAT, "楼道里的灯坏了三个月，晚上看不见路。")
    await telegram.say(RESIDENT_CHAT, "跳过")  # the extras step's reply keyboard: its buttons are words
    for forged in ("mailbox:anon:maybe", "mailbox:save", "mailbox:edit:text", "visit:mode:home", "case:consent:yes"):
        assert "这个按钮已经过期了" in await forge(telegram, RESIDENT_CHAT, forged), forged
    state = await dialog_of(db, RESIDENT_CHAT)
    assert state is not None and state.step == "anonymous" and "anonymous" not in state.draft
    async with db.transaction() as session:
        assert (await session.exec(select(Case))).all() == []
    await telegram.say(RESIDENT_CHAT, "/cancel")
    await telegram.say(RESIDENT_CHAT, "/lang")
    assert "这个按钮已经过期了" in await forge(telegram, RESIDENT_CHAT, "lang:fr")
    state = await dialog_of(db, RESIDENT_CHAT)
    assert state is not None and state.flow == "language"


async def test_forged_presses_in_the_case_flows_change_nothing(fast: Harness, db: Database) -> None:
    """A department presses steps that are the liaison office's, a resident rates with a rating never offered or
    picks another's case: each is refused, and the cases are as they were."""
    telegram = fast
    department, other = 7004, 7005
    assert "绑定成功" in await telegram.say(department, f"/start {await invitation(db, 'B01')}")
    # Two letters: amy's (housing: assigned to 区住建局 at once) and another resident's (waits for the office).
    for chat, category, text in (
        (RESIDENT_CHAT, "住房物业", "楼道里的灯坏了三个月，晚上看不见路。"),
        (other, "其他", "东山村3组17号门前的排水沟堵了。"),
    ):
        await telegram.say(chat, "写信")
        await telegram.say(chat, "东山村" if chat == other else "幸福社区一区")
        await telegram.press(chat, category)
        await telegram.say(chat, text)
        await telegram.say(chat, "跳过")
        await telegram.press(chat, "匿名")
        assert "已受理" in await telegram.press(chat, "保存")
    async with db.transaction() as session:
        amys, others = (await session.exec(select(Case).order_by(col(Case.id)))).all()
    assert (amys.department, others.department) == ("区住建局", "")

    async def cases_now() -> list[Any]:
        async with db.transaction() as session:
            found = [case.model_dump() for case in (await session.exec(select(Case).order_by(col(Case.id)))).all()]
            found += [relay.model_dump() for relay in (await session.exec(select(CaseRelay))).all()]
        return found

    before = await cases_now()
    assert amys.number in await telegram.say(department, "/cases")
    assert "这个按钮已经过期了" in await forge(telegram, department, f"case:pick:{others.id}")
    assert "写进展" in await telegram.press(department, amys.number)
    for forged in ("case:do:assign", "case:do:sort", "case:do:take", "case:do:rate", "case:dept:0", "case:approve:yes"):
        assert "这个按钮已经过期了" in await forge(telegram, department, forged), forged
        state = await dialog_of(db, department)
        assert state is not None and (state.flow, state.step) == ("cases", "step") and "step" not in state.draft
    assert await cases_now() == before

    # The department answers; amy rates from the notice's button, with what is offered only.
    assert "请写下答复内容" in await telegram.press(department, "答复")
    await telegram.say(department, "灯已修好。")
    assert "已答复" in await telegram.press(department, "是")
    assert "答复：灯已修好。" in await telegram.press(RESIDENT_CHAT, "评价")  # the notice's [评价]: /mycases N
    assert "请对答复进行评价" in await telegram.press(RESIDENT_CHAT, "评价")  # the case's [评价] step
    before = await cases_now()
    for forged in ("case:rating:excellent", "case:rating:", f"case:pick:{others.id}", "case:do:withdraw"):
        assert "这个按钮已经过期了" in await forge(telegram, RESIDENT_CHAT, forged), forged
        state = await dialog_of(db, RESIDENT_CHAT)
        assert state is not None and (state.flow, state.step) == ("mycases", "rating")
    assert await cases_now() == before
    assert "感谢您的评价" in await telegram.press(RESIDENT_CHAT, "满意")


async def test_a_press_by_someone_else_in_a_private_chat_is_ignored(fast: Harness, db: Database) -> None:
    telegram = fast
    await bound_representative(telegram)
    await telegram.say(REP_CHAT, "走访 幸福路14号 入户 看望")
    before = list(telegram.server.sent(REP_CHAT))
    stranger = {"id": 666, "is_bot": False, "first_name": "Mallory", "language_code": "zh-hans"}
    await forge(telegram, REP_CHAT, "visit:cat:ok", user=stranger)
    assert telegram.server.sent(REP_CHAT) == before  # nothing said, nothing edited
    state = await dialog_of(db, REP_CHAT)
    assert state is not None and state.step == "categories_ok"  # the representative's dialog is where it was


# --- superseded prompts -------------------------------------------------------------------------------------------


async def test_a_prompt_sent_anew_takes_the_buttons_off_the_one_before(fast: Harness, db: Database) -> None:
    telegram = fast
    await bound_representative(telegram)
    steps: list[tuple[str, str]] = [
        ("say", "走访 幸福路14号 入户 看望"),
        ("say", "随便写点"),  # a button step: the error and the question again come as a new message
        ("press", "确认"),
        ("press", "个人走访"),
        ("press", "日常走访"),
        ("say", "看望了老人"),
        ("photo", ""),  # the photo step asked anew: [完成] [清空]
        ("photo", ""),
        ("press", "完成"),
        ("say", "跳过"),  # the location step's keyboard is Telegram's reply keyboard: its buttons are words
    ]
    for kind, text in steps:
        if kind == "say":
            await telegram.say(REP_CHAT, text)
        elif kind == "press":
            await telegram.press(REP_CHAT, text)
        else:
            telegram.server.user_sends_photo(REP_CHAT, JPEG)
            await telegram.settle()
        assert len(live_keyboards(telegram, REP_CHAT)) <= 1, (kind, text, live_keyboards(telegram, REP_CHAT))
    assert "请核对这次走访" in telegram.screen(REP_CHAT)
    [summary] = live_keyboards(telegram, REP_CHAT)
    # Cancelled by typing: the summary with [保存] loses its buttons.
    assert "已取消" in await telegram.say(REP_CHAT, "/cancel")
    assert live_keyboards(telegram, REP_CHAT) == []
    # A press on it anyway (an old client) is told the dialog has ended, not to use newer options.
    telegram.server.user_presses_button(REP_CHAT, summary["message_id"], "visit:save", check=False)
    await telegram.settle()
    [pressed] = [
        message for message in telegram.server.sent(REP_CHAT) if message["message_id"] == summary["message_id"]
    ]
    assert "这段对话已经结束了" in pressed["plain_text"]


# --- the flood limit ------------------------------------------------------------------------------------------------


async def test_one_persons_flood_is_held_to_the_limit_with_one_polite_line(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"limits": settings.limits.model_copy(update={"messages_per_minute": 5})})
    async with running_bot(db, limited, tmp_path / "files", fast=True) as telegram:
        for number in range(9):
            telegram.server.user_sends_text(RESIDENT_CHAT, f"你好 {number}")
        telegram.server.user_sends_text(RESIDENT_CHAT + 1, "你好")  # someone else is not held up
        await telegram.settle()
        texts = [message.get("plain_text") or "" for message in telegram.server.sent(RESIDENT_CHAT)]
        assert len(texts) == 6, texts  # five answers and one line about the flood, nothing for the rest
        assert sum("发消息太快了" in text for text in texts) == 1 and "发消息太快了" in texts[-1]
        assert len(telegram.server.sent(RESIDENT_CHAT + 1)) == 1
        async with db.transaction() as session:
            statuses = (
                await session.exec(select(InboxEvent.status).where(col(InboxEvent.chat_key) == str(RESIDENT_CHAT)))
            ).all()
        assert list(statuses) == ["done"] * 9  # handled (by not answering), not left pending or parked


async def test_what_the_channel_answers_by_itself_is_held_to_the_limit_too(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"limits": settings.limits.model_copy(update={"messages_per_minute": 3})})
    async with running_bot(db, limited, tmp_path / "files", fast=True) as telegram:
        telegram.server.add_chat(RESIDENT_CHAT)
        for number in range(6):
            telegram.server._user_message(RESIDENT_CHAT, None, sticker={"file_id": f"s{number}", "type": "regular"})
        await telegram.settle()
        texts = [message.get("plain_text") or "" for message in telegram.server.sent(RESIDENT_CHAT)]
        assert len(texts) == 4 and sum("语音、贴纸" in text for text in texts) == 3 and "发消息太快了" in texts[-1]


async def test_a_backlog_is_counted_by_when_it_was_sent_not_when_it_arrived(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    """Messages that waited at Telegram while the bot was down arrive together: they are not a flood."""
    limited = settings.model_copy(update={"limits": settings.limits.model_copy(update={"messages_per_minute": 5})})
    async with running_bot(db, limited, tmp_path / "files", fast=True) as telegram:
        chat = telegram.server.add_chat(RESIDENT_CHAT)
        user = {"id": RESIDENT_CHAT, "is_bot": False, "first_name": "Amy", "language_code": "zh-hans"}
        sent = int(time.time()) - 600
        for number in range(12):  # one every 50 s over the last ten minutes
            message = {"message_id": 100 + number, "from": user, "chat": chat, "date": sent + 50 * number}
            telegram.server.push_update({"message": {**message, "text": f"你好 {number}"}})
        await telegram.settle()
        texts = [message.get("plain_text") or "" for message in telegram.server.sent(RESIDENT_CHAT)]
        assert len(texts) == 12 and not any("发消息太快了" in text for text in texts)


async def test_a_photo_nobody_asked_for_is_not_fetched(fast: Harness, tmp_path: Path) -> None:
    telegram = fast
    telegram.server.add_chat(RESIDENT_CHAT)
    telegram.server.user_sends_photo(RESIDENT_CHAT, JPEG)
    await telegram.settle()
    assert "收到了您的图片，但现在没有进行中的记录" in telegram.screen(RESIDENT_CHAT)
    assert telegram.server.calls_to("getFile") == []  # not fetched, not kept
    assert not list((tmp_path / "files").rglob("*.jpg"))


async def test_the_buttons_of_a_prompt_still_on_its_way_are_retired_once_it_arrives(fast: Harness) -> None:
    """The person answers before the question's message was even sent (a slow network): its buttons are taken off
    once it is, through the outbox row that carried it."""
    telegram = fast
    await bound_representative(telegram)
    telegram.server.fail_next("sendmessage", delay=1.0)  # the household list is slow to go out
    telegram.server.user_sends_text(REP_CHAT, "/visit")
    telegram.server.user_sends_text(REP_CHAT, "幸福路12号")
    await telegram.settle()
    assert "找到以下与“幸福路12号”相符的住户" in telegram.screen(REP_CHAT)
    assert len(live_keyboards(telegram, REP_CHAT)) == 1
