"""PTB's Bot over bot.aiohttp_request against the fake Bot API: form and multipart requests, downloads, and
time-outs and dropped connections as PTB's own exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.aiohttp_request import AiohttpRequest
from tests.fakes.telegram_api import FakeTelegramServer

CHAT = 424242


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        fake.user_sends_text(CHAT, "hi")  # the chat exists once its user has written
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    request = AiohttpRequest(connections=4, read_timeout=0.5)
    async with Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url, request=request) as b:
        yield b


async def test_form_request_and_result(bot: Bot, server: FakeTelegramServer) -> None:
    message = await bot.send_message(CHAT, "<b>你好</b> &amp; welcome", parse_mode="HTML")
    assert message.chat.id == CHAT
    assert message.text == "你好 & welcome"  # the fake server parsed the HTML
    assert server.sent(CHAT)[-1]["text"] == "<b>你好</b> &amp; welcome"
    assert bot.username  # getMe ran when the bot was initialised


async def test_multipart_upload_and_download(bot: Bot, server: FakeTelegramServer) -> None:
    content = "连心卡".encode() * 1000
    message = await bot.send_document(CHAT, document=content, filename="card.txt")
    assert message.document is not None
    assert (message.document.file_name or "").endswith("card.txt")  # the upload kept its file name
    telegram_file = await bot.get_file(message.document.file_id)
    assert bytes(await telegram_file.download_as_bytearray()) == content


async def test_error_answers_become_ptb_exceptions(bot: Bot) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(CHAT, "")


async def test_a_slow_answer_is_a_timeout(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendMessage", delay=2.0)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "slow")


async def test_a_dropped_connection_is_a_network_error(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendMessage", drop=True)
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(CHAT, "dropped")
    assert not isinstance(raised.value, TimedOut)
