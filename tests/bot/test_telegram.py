"""The Telegram channel end to end: the real PTB Application over real HTTP against the fake Bot API server,
polling and webhook, with the inbox and the outbox in the real database."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.channel import split_text as cut
from bot.telegram import CALLBACK_LIMIT, SHAPE, button_rows, callback_data
from bot.telegram_updates import chat_key_of
from handlers.commands import menu as command_menu
from handlers.inputs import utf16_length
from storage.db import Database
from storage.models import ChatIdentity, InboxEvent, OutboxMessage, VisitPhoto, utcnow
from storage.policy import Role
from storage.records import people
from storage.settings import Settings
from tests.bot.telegram_harness import (
    JPEG,
    OPS_CHAT,
    REP_CHAT,
    RESIDENT_CHAT,
    Harness,
    bound_representative,
    invitation,
    post_update,
    running_bot,
    visits,
)
from tests.factories import District

# PTB 22 warns, when a RetryAfter is read, that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


# --- a whole visit over polling -----------------------------------------------------------------------------


def split_telegram(text: str) -> list[str]:
    return cut(text, SHAPE.chunk, SHAPE.measure)


def menu_of(role: Role) -> list[str]:
    return [name for name, _ in command_menu(role, "zh-CN")]


async def test_invitation_then_a_whole_visit_with_buttons_photo_and_location(telegram: Harness, db: Database) -> None:
    code = await invitation(db)
    welcome = await telegram.say(REP_CHAT, f"/start {code}")
    assert "王建国" in welcome
    # Binding made the chat a representative's: its own command menu follows.
    menu = telegram.server.my_commands({"type": "chat", "chat_id": REP_CHAT})
    assert menu is not None and [command["command"] for command in menu] == [
        name for name, _ in command_menu(Role.REPRESENTATIVE, "zh-CN")
    ]

    assert "走访哪一户" in await telegram.say(REP_CHAT, "/visit")
    assert "陈*明" in await telegram.say(REP_CHAT, "幸福路12号")
    messages_before_presses = len(telegram.server.sent(REP_CHAT))
    assert "走访方式是？" in await telegram.press(REP_CHAT, "幸福路12号1栋1单元101 陈*明")
    assert "这户的类别" in await telegram.press(REP_CHAT, "入户")
    assert "个人走访还是集体走访" in await telegram.press(REP_CHAT, "确认")
    assert "日常走访还是集中走访" in await telegram.press(REP_CHAT, "个人走访")
    assert "请简要记录" in await telegram.press(REP_CHAT, "日常走访")
    # Five presses, no new messages: each press edited the message it was on.
    assert len(telegram.server.sent(REP_CHAT)) == messages_before_presses
    assert len(telegram.server.callback_answers) == 5

    assert "需要附照片吗" in await telegram.say(REP_CHAT, "楼道灯<坏了> & 三个月")
    telegram.server.user_sends_photo(REP_CHAT, JPEG, caption="楼道")
    await telegram.settle()
    assert "已收到1张照片" in telegram.screen(REP_CHAT)
    assert "需要记录走访位置吗" in await telegram.press(REP_CHAT, "完成")
    # The location step brings a reply keyboard whose first button shares the location.
    keyboard = telegram.server.sent(REP_CHAT)[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True
    assert [button["text"] for row in keyboard[1:] for button in row] == ["跳过"]
    telegram.server.user_sends_location(REP_CHAT, 30.7, 111.29)
    await telegram.settle()
    confirmation = telegram.screen(REP_CHAT)
    assert "请核对这次走访" in confirmation and "楼道灯<坏了> & 三个月" in confirmation
    # User data travels escaped in HTML and reaches the person as they wrote it.
    assert "楼道灯&lt;坏了&gt; &amp; 三个月" in telegram.server.sent(REP_CHAT)[-1]["text"]
    saved = await telegram.press(REP_CHAT, "保存")
    assert "✅ 走访已保存" in saved and "这户群众有诉求吗" in saved and "[📝 反映诉求]" in saved

    [visit] = await visits(db)
    assert (visit.mode, visit.latitude, visit.longitude) == ("home", 30.7, 111.29)
    assert visit.notes == "楼道灯<坏了> & 三个月"
    async with db.transaction() as session:
        [photo] = (await session.exec(select(VisitPhoto))).all()
    stored = Path(photo.file_ref.removeprefix("file:"))
    assert await asyncio.to_thread(stored.read_bytes) == JPEG
    # Every message went out once and its Telegram message id is on record.
    rows = await telegram.outbox()
    assert {row.status for row in rows} == {"sent"}
    assert all(row.external_id for row in rows if row.kind in ("message", "edit"))


async def test_a_resident_gets_help_in_their_language(telegram: Harness) -> None:
    telegram.server.add_chat(RESIDENT_CHAT, language_code="en")
    answer = await telegram.say(RESIDENT_CHAT, "hello")
    assert answer.startswith("Send “mailbox” to write to a representative")


# --- inbox: redelivery, order, failures -----------------------------------------------------------------------


async def test_every_update_delivered_three_times_changes_nothing_twice(fast: Harness, db: Database) -> None:
    telegram = fast
    await bound_representative(telegram)
    steps = ["走访 幸福路14号 入户 看望", "确认", "个人走访", "日常走访", "跳过", "跳过", "保存"]
    for text in steps:
        update = telegram.server.user_sends_text(REP_CHAT, text)
        telegram.server.push_update(update)
        telegram.server.push_update(update)
        await telegram.settle()
        telegram.server.push_update(update)  # and once more after it was handled
        await telegram.settle()
    assert "✅ 走访已保存" in telegram.screen(REP_CHAT)
    assert len(await visits(db)) == 1
    events = await telegram.inbox()
    assert len(events) == len(steps) + 1  # the /start and the steps, each once
    replies = [row for row in await telegram.outbox() if row.kind == "message"]
    texts = [row.payload["text"] for row in replies]
    assert len(texts) == len(set(texts)), "a reply was queued twice"
    per_event: dict[int | None, int] = {}
    for row in await telegram.outbox():
        if row.kind in ("message", "edit"):
            per_event[row.inbox_id] = per_event.get(row.inbox_id, 0) + 1
    assert set(per_event) == {event.id for event in events}  # every event answered, by its own rows
    assert per_event[events[0].id] == 2 and set(list(per_event.values())[1:]) == {1}  # welcome + help, then one
    sent = [message["plain_text"] for message in telegram.server.sent(REP_CHAT)]
    assert len(sent) == len(replies)


async def test_one_chats_updates_are_handled_in_order(telegram: Harness) -> None:
    await bound_representative(telegram)
    before = len(telegram.server.sent(REP_CHAT))
    for text in ["/visit", "幸福路14号", "/cancel", "/progress"]:
        telegram.server.user_sends_text(REP_CHAT, text)
    await telegram.settle()
    texts = [message["plain_text"] for message in telegram.server.sent(REP_CHAT)[before:]]
    assert "走访哪一户" in texts[0]
    assert "幸福路14号" in texts[1]
    assert "已取消" in texts[2]
    assert "已联系" in texts[-1]


async def test_a_failing_update_is_retried_then_parked_and_reported(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_bot(db, settings, tmp_path, inbox_attempts=3) as telegram:
        original = telegram.bot.router.answer
        calls = {"flaky": 0}

        async def answer(session, inbound):  # type: ignore[no-untyped-def]
            if inbound.text == "flaky":
                calls["flaky"] += 1
                if calls["flaky"] == 1:
                    raise RuntimeError("the store hiccuped")
            if inbound.text == "broken":
                raise RuntimeError("a bug")
            return await original(session, inbound)

        telegram.bot.router.answer = answer  # type: ignore[method-assign]
        telegram.bot.channel.conversations.router = telegram.bot.router
        telegram.server.user_sends_text(RESIDENT_CHAT, "flaky")
        telegram.server.user_sends_text(RESIDENT_CHAT + 1, "broken")
        await telegram.settle()
        events = {event.payload["message"]["text"]: event for event in await telegram.inbox()}
        assert (events["flaky"].status, events["flaky"].attempts) == ("done", 1)
        assert (events["broken"].status, events["broken"].attempts) == ("parked", 3)
        assert events["broken"].error == "RuntimeError"
        assert len(telegram.server.sent(RESIDENT_CHAT)) == 1  # the help answer, once
        assert "抱歉" in telegram.screen(RESIDENT_CHAT + 1)
        [report] = telegram.server.sent(OPS_CHAT)
        assert f"#{events['broken'].id}" in report["plain_text"] and "broken" not in report["plain_text"]


# --- what the channel answers by itself -------------------------------------------------------------------------


async def test_files_too_large_documents_and_stickers_get_a_clear_answer(fast: Harness) -> None:
    telegram = fast
    await bound_representative(telegram)
    await telegram.say(REP_CHAT, "走访 幸福路14号 入户 看望")
    for text in ["确认", "个人走访", "日常走访"]:
        await telegram.say(REP_CHAT, text)
    telegram.server.user_sends_photo(REP_CHAT, JPEG, file_size=25 * 1024 * 1024)
    await telegram.settle()
    assert "超过了 20 MB 的上限" in telegram.screen(REP_CHAT)
    telegram.server.user_sends_document(REP_CHAT, b"%PDF-1.4", "report.pdf", mime_type="application/pdf")
    await telegram.settle()
    assert "只能接收照片" in telegram.screen(REP_CHAT)
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    message = telegram.server.user_sends_text(REP_CHAT, "x")["message"]
    telegram.server.updates.pop()
    telegram.server.push_update(
        {"message": {key: value for key, value in message.items() if key != "text"} | {"sticker": sticker}}
    )
    await telegram.settle()
    assert "语音、贴纸、视频暂时读不懂" in telegram.screen(REP_CHAT)
    # A photo sent as a file is a photo too, and it is downloaded.
    telegram.server.user_sends_document(REP_CHAT, JPEG, "door.jpg", mime_type="image/jpeg")
    await telegram.settle()
    assert "已收到1张照片" in telegram.screen(REP_CHAT)


# --- outbox: the sender's behaviour ------------------------------------------------------------------------------


async def test_429_waits_retry_after_and_is_not_an_attempt(telegram: Harness) -> None:
    telegram.server.fail_next("sendMessage", status=429, retry_after=1)
    started = asyncio.get_running_loop().time()
    await telegram.say(RESIDENT_CHAT, "你好")
    assert asyncio.get_running_loop().time() - started >= 1.0
    [reply] = [row for row in await telegram.outbox() if row.kind == "message"]
    assert (reply.status, reply.attempts) == ("sent", 0)
    assert len(telegram.server.sent(RESIDENT_CHAT)) == 1


async def test_server_errors_and_dropped_connections_are_retried(telegram: Harness) -> None:
    telegram.server.fail_next("sendMessage", status=502)
    telegram.server.fail_next("sendMessage", drop=True)
    await telegram.say(RESIDENT_CHAT, "你好")
    [reply] = [row for row in await telegram.outbox() if row.kind == "message"]
    assert (reply.status, reply.attempts) == ("sent", 2)
    assert len(telegram.server.sent(RESIDENT_CHAT)) == 1


async def test_three_failures_mark_the_message_failed_and_tell_the_ops_chat(telegram: Harness) -> None:
    telegram.server.fail_next("sendMessage", status=500, times=3)
    await telegram.say(RESIDENT_CHAT, "你好")
    rows = [row for row in await telegram.outbox() if row.chat_key == str(RESIDENT_CHAT)]
    [reply] = rows
    assert (reply.status, reply.attempts) == ("failed", 3)
    assert telegram.server.sent(RESIDENT_CHAT) == []
    [report] = telegram.server.sent(OPS_CHAT)
    assert f"#{reply.id}" in report["plain_text"]


async def test_a_time_out_is_retried(db: Database, settings: Settings, district: District, tmp_path: Path) -> None:
    async with running_bot(db, settings, tmp_path, telegram_options={"request_timeout_seconds": 0.3}) as telegram:
        telegram.server.fail_next("sendMessage", delay=1.0)
        await telegram.say(RESIDENT_CHAT, "你好")
        [reply] = [row for row in await telegram.outbox() if row.kind == "message"]
        assert reply.status == "sent" and reply.attempts == 1 and reply.error.startswith("Unreachable")
        # Telegram had sent the late one all the same: after a time-out nobody can know, so delivery is at least
        # once, and the person may read that answer twice.
        await asyncio.sleep(1.0)
        assert [message["plain_text"] for message in telegram.server.sent(RESIDENT_CHAT)].count(
            telegram.server.sent(RESIDENT_CHAT)[0]["plain_text"]
        ) == 2


async def test_a_blocked_user_is_not_retried_and_is_flagged(telegram: Harness, db: Database) -> None:
    telegram.server.block(RESIDENT_CHAT)
    telegram.server.user_sends_text(RESIDENT_CHAT, "你好")
    await telegram.settle()
    [reply] = [row for row in await telegram.outbox() if row.kind == "message"]
    assert (reply.status, reply.error) == ("failed", "Blocked")
    assert len(telegram.server.calls_to("sendMessage")) == 1
    async with db.transaction() as session:
        identity = (
            await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == str(RESIDENT_CHAT)))
        ).one()
    assert identity.blocked_at is not None
    assert telegram.server.sent(OPS_CHAT) == []  # blocking is the person's choice, not an incident
    # Writing again means they unblocked the bot.
    telegram.server.unblock(RESIDENT_CHAT)
    await telegram.say(RESIDENT_CHAT, "你好")
    async with db.transaction() as session:
        identity = (
            await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == str(RESIDENT_CHAT)))
        ).one()
    assert identity.blocked_at is None


async def test_flood_limits_are_kept_for_one_chat(telegram: Harness, db: Database) -> None:
    """Five messages to one private chat: three at once (the burst), then about one a second, never a 429."""
    async with db.transaction() as session:
        for number in range(5):
            session.add(
                OutboxMessage(channel="telegram", chat_key=str(RESIDENT_CHAT), payload={"text": f"第{number}条"})
            )
    telegram.server.add_chat(RESIDENT_CHAT)
    started = asyncio.get_running_loop().time()
    telegram.bot.sender.wake()
    await telegram.server.wait_sent(RESIDENT_CHAT, 5, within=10)
    elapsed = asyncio.get_running_loop().time() - started
    assert [message["plain_text"] for message in telegram.server.sent(RESIDENT_CHAT)] == [
        f"第{number}条" for number in range(5)
    ]
    assert elapsed >= 1.8
    assert telegram.bot.sender.throttled == 0


# --- menus, webhook, logs ----------------------------------------------------------------------------------------


async def test_menus_are_set_on_start_per_language_and_role(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel="telegram", external_id="8001")
        await people.assume_role(session, identity=identity, role="leader", code="L01", actor="test")
    async with running_bot(db, settings, tmp_path) as telegram:
        await asyncio.sleep(0.3)
        default = {"type": "default"}
        zh = telegram.server.my_commands(default, "zh")
        en = telegram.server.my_commands(default, "en")
        assert zh is not None and en is not None
        assert [command["command"] for command in zh] == menu_of(Role.RESIDENT)
        assert zh[0]["description"] != en[0]["description"]
        leader = telegram.server.my_commands({"type": "chat", "chat_id": 8001})
        assert leader is not None and [command["command"] for command in leader] == [
            name for name, _ in command_menu(Role.LEADER, "zh-CN")
        ]


async def test_webhook_commits_before_answering_and_refuses_a_wrong_secret(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_bot(db, settings, tmp_path, webhook=True, fast=True) as telegram:
        url = telegram.server.webhook_url
        secret = telegram.server.webhook_secret
        assert url is not None and secret is not None
        update = {
            "update_id": 990001,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": RESIDENT_CHAT, "type": "private", "first_name": "R"},
                "from": {"id": RESIDENT_CHAT, "is_bot": False, "first_name": "R"},
                "text": "你好",
            },
        }
        assert await post_update(url, update, None) == 403
        assert await post_update(url, update, "wrong-secret") == 403
        assert await post_update(url, {"no": "update"}, secret) == 400
        assert await telegram.inbox() == []
        telegram.server.add_chat(RESIDENT_CHAT)
        assert await post_update(url, update, secret) == 200
        assert [event.event_key for event in await telegram.inbox()] == ["1000:990001"]  # bot id, update id
        assert await post_update(url, update, secret) == 200  # a redelivery changes nothing
        await telegram.settle()
        assert len(await telegram.inbox()) == 1
        assert len(telegram.server.sent(RESIDENT_CHAT)) == 1

        # The fake server's own deliveries: the whole invitation and a visit over the webhook.
        code = await invitation(db)
        telegram.server.user_sends_text(REP_CHAT, f"/start {code}")
        await telegram.server.wait_sent(REP_CHAT, 2)
        assert "王建国" in telegram.server.sent(REP_CHAT)[0]["plain_text"]
        for text in ["走访 幸福路14号 入户 看望", "确认", "个人走访", "日常走访", "跳过", "跳过"]:
            telegram.server.user_sends_text(REP_CHAT, text)
        await asyncio.sleep(0.2)
        await telegram.settle()
        assert "✅ 走访已保存" in await telegram.press(REP_CHAT, "保存")
        assert len(await visits(db)) == 1
        assert all(attempt.get("status") == 200 for attempt in telegram.server.webhook_attempts_log)


async def test_the_token_never_reaches_the_logs(
    db: Database, settings: Settings, district: District, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot import logs

    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    redactor = logs.configure(secrets=["123456:TEST-token_for-fake-telegram"], level=logging.DEBUG)
    try:
        async with running_bot(db, settings, tmp_path) as telegram:
            telegram.server.fail_next("sendMessage", status=500, times=3)
            await telegram.say(RESIDENT_CHAT, "你好")
            logging.getLogger("test").error("calling %s/bot%s/getMe", telegram.server.url, telegram.server.token)
            token = telegram.server.token
    finally:
        root.setLevel(level)
        for handler in root.handlers:
            handler.removeFilter(redactor)
    text = caplog.text
    assert token == "123456:TEST-token_for-fake-telegram"
    assert "[REDACTED]" in text
    assert token not in text and "TEST-token" not in text
    assert "你好" not in text  # nor what people wrote


# --- rendering -----------------------------------------------------------------------------------------------


def test_long_texts_are_split_at_line_breaks() -> None:
    text = "\n".join(f"第{number}行 " + "字" * 50 for number in range(200))
    pieces = split_telegram(text)
    assert len(pieces) > 1 and all(len(piece) <= 3500 for piece in pieces)
    assert "\n".join(pieces) == text
    assert split_telegram("x" * 8000) == ["x" * 3500, "x" * 3500, "x" * 1000]


def test_long_texts_are_split_as_telegram_counts_them() -> None:
    """In UTF-16 code units: an emoji outside the BMP counts two, and is never cut in two."""
    bulbs = "💡" * 3000  # one line of 6,000 units
    assert split_telegram(bulbs) == ["💡" * 1750, "💡" * 1250]
    odd = "x" + "💡" * 2000  # 4,001 units: a cut at 3,500 units would fall inside a surrogate pair
    assert split_telegram(odd) == ["x" + "💡" * 1749, "💡" * 251]
    lines = "\n".join(f"第{number}行 " + "😀" * 40 for number in range(100))
    pieces = split_telegram(lines)
    assert len(pieces) == 3 and all(utf16_length(piece) <= 3500 for piece in pieces)
    assert "\n".join(pieces) == lines  # cut at line breaks only
    assert split_telegram("🙂" * 1750) == ["🙂" * 1750]  # exactly at the limit: one piece


@pytest.mark.parametrize(
    ("update", "key"),
    [
        ({"update_id": 1, "message": {"chat": {"id": 5}, "from": {"id": 6}}}, "5"),
        ({"update_id": 1, "callback_query": {"from": {"id": 6}, "message": {"chat": {"id": -7}}}}, "-7"),
        ({"update_id": 1, "callback_query": {"from": {"id": 6}, "inline_message_id": "x"}}, "6"),  # no chat
        ({"update_id": 1, "my_chat_member": {"chat": {"id": 8}, "from": {"id": 8}}}, "8"),
        ({"update_id": 1, "poll": {"id": "p"}}, "-"),  # nobody's chat
    ],
)
def test_an_update_belongs_to_its_chat_or_else_its_sender(update: dict[str, Any], key: str) -> None:
    assert chat_key_of(update) == key


def test_callback_data_fits_telegram() -> None:
    assert callback_data("visit:mode:home", 0) == "visit:mode:home"
    long = "visit:hh:" + "9" * 80
    assert callback_data(long, 4) == "#5" and len(callback_data(long, 4).encode()) <= CALLBACK_LIMIT
    assert button_rows(["入户", "座谈", "接访", "下访"]) == [[0, 1, 2], [3]]
    assert button_rows(["幸福路12号1栋1单元101 陈*明", "登记新住户"]) == [[0], [1]]


async def test_outbox_rows_wait_for_the_sender_in_order(db: Database) -> None:
    """The head of each chat's queue only: a chat's second message waits for its first."""
    from storage.delivery import outbox

    async with db.transaction() as session:
        messages = [
            outbox.NewMessage("telegram", chat, {"text": text}) for chat, text in [("1", "a"), ("1", "b"), ("2", "c")]
        ]
        await outbox.enqueue(session, messages=messages, now=utcnow())
    async with db.transaction() as session:
        first = await outbox.claim(session, channel="telegram", now=utcnow(), lease=timedelta(seconds=60), limit=10)
        again = await outbox.claim(session, channel="telegram", now=utcnow(), lease=timedelta(seconds=60), limit=10)
    assert [row.payload["text"] for row in first] == ["a", "c"]
    assert again == []
    async with db.transaction() as session:
        await outbox.mark_sent(session, sent=[(first[0].id, "1")], now=utcnow())
        after = await outbox.claim(session, channel="telegram", now=utcnow(), lease=timedelta(seconds=60), limit=10)
    assert [row.payload["text"] for row in after] == ["b"]
    async with db.transaction() as session:
        statuses = (await session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))).all()
        assert list(statuses) == ["sent", "pending", "pending"]
        assert (await session.exec(select(InboxEvent))).all() == []


# --- the contact card's deep link ----------------------------------------------------------------------------


async def test_a_resident_scans_a_contact_card_and_the_representative_hears_of_it(
    telegram: Harness, db: Database
) -> None:
    from storage.records import mailbox

    await bound_representative(telegram)
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=utcnow(), actor="test")
    link = await telegram.say(RESIDENT_CHAT, f"/start m_{token}")
    assert "请选择问题的类别" in link and "王建国" in link and "幸福社区党代表工作站" in link
    assert "请写下您想反映的问题" in await telegram.press(RESIDENT_CHAT, "其他")
    assert "可以发照片" in await telegram.say(RESIDENT_CHAT, "楼道里的灯坏了三个月，<晚上>看不见路。")
    assert "要署名吗" in await telegram.say(RESIDENT_CHAT, "跳过")
    assert "请输入您的姓名" in await telegram.press(RESIDENT_CHAT, "署名")
    answer = await telegram.say(RESIDENT_CHAT, "陈小红")
    # The phone step offers Telegram's own "share my number" button.
    keyboard = telegram.server.sent(RESIDENT_CHAT)[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True, answer
    telegram.server.user_sends_contact(RESIDENT_CHAT, "8613912345678")
    await telegram.settle()
    assert "是否同意承办单位打电话" in telegram.screen(RESIDENT_CHAT)
    assert "电话：13912345678" in await telegram.press(RESIDENT_CHAT, "否")
    assert "✅ 已受理，编号 LX-2026-000001" in await telegram.press(RESIDENT_CHAT, "保存")
    # The representative's own Telegram chat hears of it, through the outbox; the writer is not named there.
    notice = telegram.server.sent(REP_CHAT)[-1]["plain_text"]
    assert "您的片区有新的诉求 LX-2026-000001" in notice and "陈小红" not in notice
    # A revoked card opens nothing.
    async with db.transaction() as session:
        await mailbox.revoke_links(session, representative_code="D001", now=utcnow(), actor="test")
    refused = await telegram.say(RESIDENT_CHAT + 1, f"/start m_{token}")
    assert "王建国" not in refused and "要署名吗" not in refused


# --- the sender without the network: its limits and its stop --------------------------------------------------


def test_the_rate_limiter_keeps_telegrams_limits() -> None:
    from bot.sender import RateLimiter

    now = [100.0]
    limits = Settings().delivery.model_copy(update={"private_per_second": 1.0, "group_per_minute": 20})
    limiter = RateLimiter(limits, clock=lambda: now[0])
    # A private chat: a burst of three, then one a second.
    for _ in range(3):
        assert limiter.chat_wait("5", group=False) == 0.0
        limiter._spend("5", group=False)
    assert limiter.chat_wait("5", group=False) == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.chat_wait("5", group=False) == 0.0
    # A group: twenty in a minute, then the 21st waits for the first to leave the minute.
    for _ in range(20):
        now[0] += 1.0
        assert limiter.chat_wait("-7", group=True) == 0.0
        limiter._spend("-7", group=True)
    now[0] += 1.0
    assert limiter.chat_wait("-7", group=True) == pytest.approx(40.0)  # the first went at 101, now is 121


async def test_bulk_messages_go_a_few_at_once_then_spaced_by_the_overall_rate() -> None:
    from bot.sender import OVERALL_BURST, RateLimiter

    limits = Settings().delivery.model_copy(update={"overall_per_second": 50.0})
    limiter = RateLimiter(limits)
    loop = asyncio.get_running_loop()
    started = loop.time()
    times: list[float] = []

    async def send(chat: int) -> None:
        await limiter.acquire(str(chat), group=False, bulk=True)
        times.append(loop.time() - started)

    await asyncio.gather(*(send(chat) for chat in range(26)))
    assert all(at < 0.05 for at in times[:OVERALL_BURST])  # a few at once go out together (spaced: 80 ms)
    # Then no faster than the rate: the k-th send needs k + 1 tokens, of which the rate has made all but the burst.
    for number, at in enumerate(times):
        assert at >= (number + 1 - OVERALL_BURST) / 50.0 - 0.002, (number, at)
    assert times[-1] < 1.0  # and no slower than it either (about 0.42 s)


async def test_answers_go_at_once_until_the_overall_second_is_full() -> None:
    from bot.sender import WINDOW_MARGIN, RateLimiter

    limits = Settings().delivery.model_copy(update={"overall_per_second": 20.0})
    limiter = RateLimiter(limits)
    loop = asyncio.get_running_loop()
    started = loop.time()
    times: list[float] = []

    async def send(chat: int) -> None:
        await limiter.acquire(str(chat), group=False)
        times.append(loop.time() - started)

    await asyncio.gather(*(send(chat) for chat in range(25)))
    assert all(at < 0.05 for at in times[:20])  # twenty people waiting get their answers together
    # The 21st must wait until the first has left the second (and the margin): never 20 within 1.05 s.
    assert all(at >= 1.0 + WINDOW_MARGIN - 0.002 for at in times[20:])
    assert times[-1] < 1.0 + WINDOW_MARGIN + 0.1


async def test_a_group_over_its_minute_waits_in_the_outbox_not_in_a_slot(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_bot(db, settings, tmp_path, group_per_minute=2) as telegram:
        group = -100200
        telegram.server.add_chat(group, title="代表小组")
        async with db.transaction() as session:
            for number in range(3):
                session.add(OutboxMessage(channel="telegram", chat_key=str(group), payload={"text": f"通知{number}"}))
            session.add(OutboxMessage(channel="telegram", chat_key=str(RESIDENT_CHAT), payload={"text": "私聊"}))
        telegram.server.add_chat(RESIDENT_CHAT)
        telegram.bot.sender.wake()
        await telegram.server.wait_sent(group, 2)
        await telegram.server.wait_sent(RESIDENT_CHAT, 1)
        await asyncio.sleep(0.3)
        rows = [row for row in await telegram.outbox() if row.chat_key == str(group)]
        assert [row.status for row in rows] == ["sent", "sent", "pending"]
        assert rows[2].attempts == 0 and rows[2].claimed_until is None
        assert rows[2].next_attempt_at > utcnow() + timedelta(seconds=50)
        assert telegram.server.flood_refusals == 0


async def test_stopping_waits_for_sends_in_flight_and_records_them(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_bot(db, settings, tmp_path, fast=True) as telegram:
        telegram.server.fail_next("sendMessage", delay=0.5)
        telegram.server.user_sends_text(RESIDENT_CHAT, "你好")
        await asyncio.sleep(0.25)  # handled, and the reply is on its way (the fake holds it for half a second)
        assert telegram.server.calls_to("sendMessage")
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(telegram.bot.stop(), 5)
        assert asyncio.get_running_loop().time() - started < 5
        [reply] = [row for row in await telegram.outbox() if row.kind == "message"]
        assert reply.status == "sent" and reply.external_id


async def test_polling_survives_a_429_and_a_server_error(telegram: Harness) -> None:
    telegram.server.fail_next("getUpdates", status=429, retry_after=1)
    telegram.server.fail_next("getUpdates", status=502)
    await asyncio.sleep(0.1)
    assert "/help" in await telegram.say(RESIDENT_CHAT, "你好")


async def test_an_answer_does_not_wait_behind_a_broadcast(telegram: Harness, db: Database) -> None:
    from storage.delivery import outbox

    notices = []
    for number in range(120):  # four seconds of sending at Telegram's overall limit
        telegram.server.add_chat(30_000 + number)
        notices.append(outbox.NewMessage("telegram", str(30_000 + number), {"text": "通知"}, bulk=True))
    async with db.transaction() as session:
        await outbox.enqueue(session, messages=notices, now=utcnow())
    telegram.bot.sender.wake()
    await asyncio.sleep(0.5)
    started = asyncio.get_running_loop().time()
    telegram.server.user_sends_text(RESIDENT_CHAT, "你好")
    await telegram.server.wait_sent(RESIDENT_CHAT, 1, within=3)
    assert asyncio.get_running_loop().time() - started < 1.0
    async with db.read() as session:
        waiting = (await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))).all()
    assert len(waiting) > 50  # the broadcast was still going
