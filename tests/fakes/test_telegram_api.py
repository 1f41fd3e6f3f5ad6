"""The fake Telegram Bot API server, driven by the real python-telegram-bot over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import FakeTelegramServer, HtmlError, parse_html

# PTB 22 warns, even inside RetryAfter.__init__, that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = 501


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    request = HTTPXRequest(read_timeout=1.0, connect_timeout=1.0)
    async with Bot(
        server.token, base_url=server.base_url, base_file_url=server.base_file_url, request=request
    ) as real_bot:
        yield real_bot


def seconds(error: RetryAfter) -> float:
    """retry_after is an int or a timedelta, depending on PTB's PTB_TIMEDELTA setting."""
    value = error.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"button {item}", callback_data=item) for item in data]])


async def test_get_me(bot: Bot, server: FakeTelegramServer) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (1000, "lianxin_test_bot", True)
    assert server.calls[0].method == "getMe"


async def test_wrong_token_is_unauthorized(server: FakeTelegramServer) -> None:
    from telegram.error import InvalidToken

    wrong = Bot("999:WRONG", base_url=server.base_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    await wrong.shutdown()


async def test_send_message_is_recorded(bot: Bot, server: FakeTelegramServer) -> None:
    server.user_sends_text(CHAT, "/start")
    message = await bot.send_message(
        CHAT, "<b>你好</b> &lt;居民&gt;", parse_mode="HTML", reply_markup=keyboard("a", "b")
    )
    assert message.text == "你好 <居民>"
    assert message.chat.id == CHAT
    assert message.reply_markup == keyboard("a", "b")
    [record] = server.sent(CHAT)
    assert record["message_id"] == message.message_id == 2  # the user's /start was message 1
    assert record["text"] == "<b>你好</b> &lt;居民&gt;"
    assert record["parse_mode"] == "HTML"
    assert record["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "b"
    assert server.calls_to("sendMessage")[0].params["chat_id"] == str(CHAT)


async def test_missing_parameters(bot: Bot, server: FakeTelegramServer) -> None:
    server.add_chat(CHAT)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "<b> </b>", parse_mode="HTML")
    async with aiohttp.ClientSession() as session:  # a JSON body, as other clients send
        async with session.post(f"{server.base_url}{server.token}/sendMessage", json={"text": "hi"}) as response:
            assert response.status == 400
            assert await response.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: chat_id is empty",
            }
        async with session.post(f"{server.base_url}{server.token}/noSuchMethod") as response:
            assert response.status == 404


async def test_get_updates_offset_and_long_polling(bot: Bot, server: FakeTelegramServer) -> None:
    first = server.user_sends_text(CHAT, "one")
    server.user_sends_text(CHAT, "two")
    updates = await bot.get_updates(timeout=0)
    assert [update.message.text for update in updates if update.message] == ["one", "two"]
    assert updates[0].update_id == first["update_id"]
    # Not confirmed yet: delivered again. limit is honoured.
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first["update_id"]]
    # Confirming with offset drops the earlier ones forever.
    again = await bot.get_updates(offset=updates[1].update_id)
    assert [u.update_id for u in again] == [updates[1].update_id]
    assert await bot.get_updates(offset=updates[1].update_id + 1, timeout=0) == ()
    assert await bot.get_updates(offset=first["update_id"], timeout=0) == ()
    # The same update pushed again before confirmation is delivered again (a redelivery).
    repeated = server.push_update(server.user_sends_text(CHAT, "twice"))
    assert [u.update_id for u in await bot.get_updates(offset=-5)] == [repeated["update_id"]] * 2
    assert await bot.get_updates(offset=repeated["update_id"] + 1, timeout=0) == ()

    next_offset = repeated["update_id"] + 1
    started = time.monotonic()
    assert await bot.get_updates(timeout=1, read_timeout=3) == ()
    assert 0.9 <= time.monotonic() - started < 2

    async def push_soon() -> None:
        await asyncio.sleep(0.2)
        server.user_sends_text(CHAT, "three")

    pusher = asyncio.create_task(push_soon())
    started = time.monotonic()
    waited = await bot.get_updates(offset=next_offset, timeout=2, read_timeout=4)
    await pusher
    assert [u.message.text for u in waited if u.message] == ["three"]
    assert time.monotonic() - started < 1


async def test_second_get_updates_terminates_first(bot: Bot, server: FakeTelegramServer) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=2, read_timeout=4))
    await asyncio.sleep(0.2)
    async with Bot(server.token, base_url=server.base_url) as other_instance:
        assert await other_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_limits_and_bad_html(bot: Bot, server: FakeTelegramServer) -> None:
    server.add_chat(CHAT)
    server.flood_limits = False
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    await bot.send_message(CHAT, "字" * 4096)
    await bot.send_message(CHAT, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # length is counted without tags
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "hi", reply_markup=keyboard("x" * 65))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "hi", reply_markup=keyboard("字" * 22))  # 66 bytes in UTF-8
    await bot.send_message(CHAT, "hi", reply_markup=keyboard("x" * 64))
    for bad in ("<foo>x</foo>", "<b>x", "<b><i>x</b></i>", "1 < 2", "Tom & Jerry", "x</b>", "&nbsp;"):
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_message(CHAT, bad, parse_mode="HTML")
    assert len(server.sent(CHAT)) == 3


def test_html_parser() -> None:
    good = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s><strike>s</strike><del>d</del>"
        '<a href="https://t.me/x?a=1&amp;b=2">a</a><code>c</code><pre><code class="language-python">p</code></pre>'
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote>'
        "&lt;&gt;&amp;&quot;&#20013;&#x6587; 1 > 0"
    )
    assert parse_html(good) == 'bsieuissdacpstq<>&"中文 1 > 0'
    assert parse_html("<B>x</B>") == "x"
    with pytest.raises(HtmlError, match='Unsupported start tag "div" at byte offset 3'):
        parse_html("中<div>")
    with pytest.raises(HtmlError, match='expected "</i>", found "</b>"'):
        parse_html("<b><i>x</b></i>")
    with pytest.raises(HtmlError, match='start tag "b"'):
        parse_html("<b>x")
    with pytest.raises(HtmlError, match="tg-spoiler"):
        parse_html('<span class="x">y</span>')
    with pytest.raises(HtmlError, match="Unclosed start tag"):
        parse_html('<a href="x>y')


async def test_blocked_and_unknown_chats_are_forbidden(bot: Bot, server: FakeTelegramServer) -> None:
    server.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(777, "hi")
    with pytest.raises(Forbidden):
        await bot.send_message(-100777, "hi")
    server.unblock(CHAT)
    await bot.send_message(CHAT, "hi")


async def test_flood_limits(bot: Bot, server: FakeTelegramServer) -> None:
    now = [1000.0]
    server.clock = lambda: now[0]
    server.add_chat(CHAT)
    for _ in range(3):  # a burst of three is allowed
        await bot.send_message(CHAT, "burst")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "too fast")
    assert seconds(caught.value) == 1
    now[0] += 1.0
    await bot.send_message(CHAT, "after a second")
    assert len(server.sent(CHAT)) == 4

    # 20 messages a minute to a group.
    server.add_chat(-100200)
    for _ in range(20):
        now[0] += 0.1
        await bot.send_message(-100200, "group")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(-100200, "group")
    assert 55 <= seconds(caught.value) <= 60

    # 30 messages a second overall.
    now[0] += 60
    for chat_id in range(1, 31):
        server.add_chat(chat_id)
        await bot.send_message(chat_id, "broadcast")
    server.add_chat(31)
    with pytest.raises(RetryAfter):
        await bot.send_message(31, "broadcast")
    now[0] += 1.0
    await bot.send_message(31, "broadcast")


async def test_injected_faults(bot: Bot, server: FakeTelegramServer) -> None:
    server.add_chat(CHAT)
    server.fail_next("sendMessage", status=429, retry_after=2)
    server.fail_next("sendMessage", status=500)
    server.fail_next("sendMessage", delay=1.5)
    server.fail_next("sendMessage", drop=True)
    server.fail_next("sendMessage", drop="after")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "1")
    assert seconds(caught.value) == 2
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CHAT, "2")
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "3", read_timeout=0.3)  # handled late: it is sent, the answer is lost
    with pytest.raises(NetworkError) as dropped:
        await bot.send_message(CHAT, "4")
    assert not isinstance(dropped.value, TimedOut)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "5")  # handled, then the connection dropped
    await asyncio.sleep(1.3)  # the delayed request finishes
    assert [m["text"] for m in server.sent(CHAT)] == ["5", "3"]
    await bot.send_message(CHAT, "6")
    assert [m["text"] for m in server.sent(CHAT)][-1] == "6"
    with pytest.raises(ValueError, match="a fault needs"):
        server.fail_next("sendMessage")


async def test_edits_buttons_and_deletes(bot: Bot, server: FakeTelegramServer) -> None:
    server.add_chat(CHAT)
    message = await bot.send_message(CHAT, "pick", reply_markup=keyboard("a"))
    update = server.user_presses_button(CHAT, message.message_id, "a")
    [received] = await bot.get_updates()
    assert received.callback_query is not None
    assert received.callback_query.data == "a"
    assert received.callback_query.message is not None
    assert received.callback_query.message.message_id == message.message_id
    assert await received.callback_query.answer("ok")
    assert server.callback_answers == [
        {"callback_query_id": update["callback_query"]["id"], "text": "ok", "show_alert": False}
    ]
    with pytest.raises(BadRequest, match="Query is too old"):
        await received.callback_query.answer()

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("pick", CHAT, message.message_id, reply_markup=keyboard("a"))
    edited = await bot.edit_message_text("picked a", CHAT, message.message_id)
    assert isinstance(edited, type(message))
    assert edited.text == "picked a"
    assert server.sent(CHAT)[0]["text"] == "picked a"
    assert server.sent(CHAT)[0]["reply_markup"] is None
    await bot.edit_message_reply_markup(CHAT, message.message_id, reply_markup=keyboard("b"))
    assert server.sent(CHAT)[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(CHAT, message.message_id, reply_markup=keyboard("b"))
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)

    assert await bot.delete_message(CHAT, message.message_id)
    assert server.sent(CHAT) == []
    assert server.sent(CHAT, include_deleted=True)[0]["deleted"] is True
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(CHAT, message.message_id)


async def test_user_helpers_and_reply_keyboards(bot: Bot, server: FakeTelegramServer) -> None:
    location_keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("发送位置", request_location=True), KeyboardButton("发送手机号", request_contact=True)]],
        one_time_keyboard=True,
    )
    server.add_chat(CHAT)
    await bot.send_message(CHAT, "where?", reply_markup=location_keyboard)
    assert server.sent(CHAT)[0]["reply_markup"]["keyboard"][0][0]["request_location"] is True
    await bot.send_message(CHAT, "thanks", reply_markup=ReplyKeyboardRemove())
    assert server.sent(CHAT)[1]["reply_markup"] == {"remove_keyboard": True}

    server.user_sends_location(CHAT, 31.2304, 121.4737)
    server.user_sends_contact(CHAT, "+8613800000000")
    server.user_sends_document(CHAT, b"%PDF", "申请.pdf", mime_type="application/pdf")
    member = {"id": 77, "is_bot": False, "first_name": "王", "language_code": "en"}
    server.user_sends_text(-100300, "/help@lianxin_test_bot", user=member)
    location, contact, document, group = await bot.get_updates()
    assert location.message is not None
    assert location.message.location is not None
    assert location.message.location.latitude == pytest.approx(31.2304)
    assert contact.message is not None
    assert contact.message.contact is not None
    assert contact.message.contact.user_id == CHAT
    assert document.message is not None
    assert document.message.document is not None
    assert document.message.document.file_name == "申请.pdf"
    assert group.message is not None
    assert group.message.chat.type == "supergroup"
    assert group.message.from_user is not None
    assert group.message.from_user.id == 77
    assert group.message.entities[0].type == "bot_command"
    assert [m.message_id for m in (location.message, contact.message, document.message)] == [3, 4, 5]

    await bot.send_message(-100300, "group reply")
    assert server.sent(-100300)[0]["text"] == "group reply"

    message = await bot.send_message(CHAT, "pick", reply_markup=keyboard("yes"))
    with pytest.raises(ValueError, match="has no button 'no'"):
        server.user_presses_button(CHAT, message.message_id, "no")
    forged = server.user_presses_button(CHAT, message.message_id, "no", check=False)
    assert forged["callback_query"]["data"] == "no"


async def test_webhook_delivery(bot: Bot, server: FakeTelegramServer) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    failures = [2]  # the receiver answers 500 twice: the server retries

    async def receive(request: web.Request) -> web.Response:
        if failures[0]:
            failures[0] -= 1
            return web.Response(status=500)
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        waiting = asyncio.create_task(bot.get_updates(timeout=2, read_timeout=4))
        await asyncio.sleep(0.1)
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret_-X")
        with pytest.raises(Conflict, match="webhook is active"):
            await waiting
        update = server.user_sends_text(CHAT, "via webhook")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert received == [(update, "s3cret_-X")]
        assert [attempt.get("status") for attempt in server.webhook_attempts_log] == [500, 500, 200]
        assert server.updates == []
        assert Update.de_json(received[0][0], bot).message is not None
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")

        assert await bot.delete_webhook()
        server.user_sends_text(CHAT, "via polling")
        [polled] = await bot.get_updates()
        assert polled.message is not None
        assert polled.message.text == "via polling"
    finally:
        await runner.cleanup()


async def test_webhook_gives_up_after_attempts(bot: Bot, server: FakeTelegramServer) -> None:
    server.webhook_attempts = 2
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    update = server.user_sends_text(CHAT, "lost")
    for _ in range(100):
        if server.webhook_failed:
            break
        await asyncio.sleep(0.02)
    assert server.webhook_failed == [update]
    assert len(server.webhook_attempts_log) == 2
    assert "error" in server.webhook_attempts_log[0]


async def test_files(bot: Bot, server: FakeTelegramServer) -> None:
    picture = bytes(range(256)) * 40
    update = server.user_sends_photo(CHAT, picture, caption="门口的路灯坏了")
    [received] = await bot.get_updates()
    assert received.message is not None
    assert received.message.caption == "门口的路灯坏了"
    photo = received.message.photo[-1]
    telegram_file = await photo.get_file()
    assert telegram_file.file_size == len(picture)
    assert bytes(await telegram_file.download_as_bytearray()) == picture
    assert update["message"]["photo"][-1]["file_id"] == photo.file_id

    server.user_sends_photo(CHAT, b"small", file_size=25 * 1024 * 1024)
    [huge] = await bot.get_updates(offset=received.update_id + 1)
    assert huge.message is not None
    with pytest.raises(BadRequest, match="File is too big"):
        await huge.message.photo[-1].get_file()
    with pytest.raises(BadRequest, match="Wrong file_id"):
        await bot.get_file("nope")

    sent_photo = await bot.send_photo(CHAT, picture, caption="<i>收到</i>", parse_mode="HTML")
    assert sent_photo.caption == "收到"
    again = await bot.send_photo(CHAT, sent_photo.photo[-1].file_id)
    assert again.photo[-1].file_id == sent_photo.photo[-1].file_id
    document = await bot.send_document(CHAT, b"a,b\n1,2\n", filename="visits.csv")
    assert document.document is not None
    assert document.document.file_name is not None
    assert document.document.file_name.endswith("visits.csv")
    downloaded = await (await bot.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"a,b\n1,2\n"
    assert [("photo" in m, "document" in m) for m in server.sent(CHAT)] == [(True, False)] * 2 + [(False, True)]
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(CHAT, "unknown-file-id")


async def test_set_my_commands(bot: Bot, server: FakeTelegramServer) -> None:
    await bot.set_my_commands([BotCommand("start", "开始")])
    await bot.set_my_commands(
        [BotCommand("visits", "My visits"), BotCommand("help", "Help")],
        scope=BotCommandScopeChat(CHAT),
        language_code="en",
    )
    assert server.my_commands() == [{"command": "start", "description": "开始"}]
    assert server.my_commands({"type": "chat", "chat_id": CHAT}, "en") == [
        {"command": "visits", "description": "My visits"},
        {"command": "help", "description": "Help"},
    ]
    assert server.my_commands({"type": "chat", "chat_id": CHAT}) is None
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(CHAT), language_code="en")] == [
        "visits",
        "help",
    ]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])


async def test_real_application_echo(server: FakeTelegramServer) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        assert update.message.text is not None
        await update.message.reply_text(f"echo: {update.message.text}")

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url).build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        server.user_sends_text(CHAT, "你好")
        assert [m["text"] for m in await server.wait_sent(CHAT)] == ["echo: 你好"]
        server.user_sends_text(CHAT, "再见")
        assert [m["text"] for m in await server.wait_sent(CHAT, 2)] == ["echo: 你好", "echo: 再见"]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert server.updates == []  # the updater confirmed the update on shutdown
    assert "deleteWebhook" in [call.method for call in server.calls]
