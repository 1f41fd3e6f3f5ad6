"""Personal data stays where it belongs, end to end: nothing of it in a group chat, and nothing in the inbox beyond
what handling an update needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from bot.telegram_updates import essentials
from handlers.i18n import t
from storage.db import Database
from storage.models import AuditEntry, Case, ChatIdentity, DialogState, InboxEvent, utcnow
from storage.records import mailbox
from storage.settings import Settings
from tests.bot.telegram_harness import (
    JPEG,
    REP_CHAT,
    RESIDENT_CHAT,
    Harness,
    bound_representative,
    post_update,
    running_bot,
)
from tests.factories import District
from tests.fakes.telegram_api import BOT_USER

GROUP = -100300
# Everything the inbox may keep of an update: ids, the chat's type, what was written or sent, a contact's number.
KEPT_FIELDS = {
    "update_id", "message", "edited_message", "callback_query", "my_chat_member",
    "message_id", "date", "from", "chat", "id", "is_bot", "language_code", "type",
    "text", "caption", "photo", "document", "file_id", "file_unique_id", "file_size", "mime_type",
    "location", "latitude", "longitude", "contact", "phone_number", "data",
    "old_chat_member", "new_chat_member", "status",
}  # fmt: skip


async def count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


# --- groups ------------------------------------------------------------------------------------------------------


async def test_in_a_group_the_bot_only_says_to_talk_to_it_in_private(
    fast: Harness, db: Database, settings: Settings
) -> None:
    telegram = fast
    await bound_representative(telegram)
    representative = {"id": REP_CHAT, "is_bot": False, "first_name": "建国", "language_code": "zh-hans"}
    line = t("zh-CN", "telegram.private_only", bot=settings.general.bot_username)
    audit_rows, identities = await count(db, AuditEntry), await count(db, ChatIdentity)

    telegram.server.user_adds_bot(GROUP, user=representative)
    await telegram.settle()
    assert [message["plain_text"] for message in telegram.server.sent(GROUP)] == [line]  # said once on joining

    for text in ["/progress", "走访 幸福路12号", "/visit", "幸福路12号"]:
        telegram.server.user_sends_text(GROUP, text, user=representative)
        await telegram.settle()
    telegram.server.user_sends_photo(GROUP, JPEG, user=representative)
    telegram.server.user_sends_text(GROUP, "/progress")  # another member of the group, never seen before
    await telegram.settle()
    pressed = telegram.server.sent(GROUP)[0]["message_id"]
    for data in ["visit:save", "visit:hh:1"]:  # forged: the bot never offered these there
        telegram.server.user_presses_button(GROUP, pressed, data, user=representative, check=False)
        await telegram.settle()

    said = [message["plain_text"] for message in telegram.server.sent(GROUP, include_deleted=True)]
    assert said == [line]  # once a minute at most: a busy group is not answered line by line
    assert "@" + settings.general.bot_username in line
    # Nothing was looked up or begun: no dialog, no search, no progress, no new person, no download.
    assert await count(db, DialogState) == 0
    assert await count(db, AuditEntry) == audit_rows
    assert await count(db, ChatIdentity) == identities
    assert telegram.server.calls_to("getFile") == []
    assert len(telegram.server.callback_answers) == 2  # the spinners stopped all the same
    # In private the representative is served as before.
    assert "已联系" in await telegram.say(REP_CHAT, "/progress")


# --- what the inbox keeps ------------------------------------------------------------------------------------------


def fields(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from fields(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from fields(inner)


async def stored_payloads(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        return [event.payload for event in (await session.exec(select(InboxEvent))).all()]


def leaks(payloads: list[dict[str, Any]], *secrets: str) -> list[str]:
    text = json.dumps(payloads, ensure_ascii=False)
    return [secret for secret in secrets if secret in text] + sorted(set(fields(payloads)) - KEPT_FIELDS)


PROFILE = {
    "id": RESIDENT_CHAT,
    "is_bot": False,
    "first_name": "Rosalind",
    "last_name": "Profilename",
    "username": "rosalind_handle",
    "language_code": "zh-hans",
}
SECRETS = ("Rosalind", "Profilename", "rosalind_handle", "Contactfirst", "Contactlast", "VCARD", "Forwarder")


async def test_the_inbox_keeps_only_what_handling_needs(fast: Harness, db: Database) -> None:
    telegram = fast
    await bound_representative(telegram)
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=utcnow(), actor="test")
    telegram.server.add_chat(RESIDENT_CHAT, user=PROFILE)
    assert "您正在给区级党代表王建国写信" in await telegram.say(RESIDENT_CHAT, f"/start m_{token}")
    assert "请写下您想反映的问题" in await telegram.press(RESIDENT_CHAT, "住房物业")

    concern = telegram.server.user_sends_text(RESIDENT_CHAT, "楼道里的灯坏了三个月，晚上看不见路。")
    # What Telegram adds to a message that quotes and forwards (filled in before the bot can fetch it).
    concern["message"]["reply_to_message"] = {
        "message_id": telegram.server.sent(RESIDENT_CHAT)[-1]["message_id"],
        "date": 1,
        "chat": concern["message"]["chat"],
        "from": BOT_USER,
        "text": telegram.server.sent(RESIDENT_CHAT)[-1]["plain_text"],
    }
    concern["message"]["forward_origin"] = {
        "type": "user",
        "date": 1,
        "sender_user": {"id": 5, "first_name": "Forwarder"},
    }
    await telegram.settle()
    assert "可以发照片" in telegram.screen(RESIDENT_CHAT)
    await telegram.say(RESIDENT_CHAT, "跳过")
    signed = await telegram.press(RESIDENT_CHAT, "署名")  # a press carries the message it was on, text and all
    assert "请输入您的姓名" in signed
    await telegram.say(RESIDENT_CHAT, "陈小红")
    telegram.server.user_sends_contact(
        RESIDENT_CHAT, "8613912345678", first_name="Contactfirst", last_name="Contactlast", vcard="BEGIN:VCARD"
    )
    await telegram.settle()
    assert "是否同意承办单位打电话" in telegram.screen(RESIDENT_CHAT)
    assert "电话：13912345678" in await telegram.press(RESIDENT_CHAT, "是")
    assert "✅ 已受理，编号 LX-2026-000001" in await telegram.press(RESIDENT_CHAT, "保存")

    telegram.server.add_chat(GROUP, title="幸福社区居民群")
    telegram.server.user_sends_text(GROUP, "/start", user=PROFILE)
    await telegram.settle()

    payloads = await stored_payloads(db)
    # Neither names, usernames, titles, contact cards, quoted or forwarded messages, nor the bot's own texts.
    assert leaks(payloads, *SECRETS, "幸福社区居民群", "王建国", "要署名吗") == []
    texts = [payload["message"].get("text") for payload in payloads if "message" in payload]
    assert "陈小红" in texts and "楼道里的灯坏了三个月，晚上看不见路。" in texts  # what people wrote is kept
    contacts = [payload["message"]["contact"] for payload in payloads if "contact" in payload.get("message", {})]
    assert contacts == [{"phone_number": "8613912345678"}]
    async with db.read() as session:
        [case] = (await session.exec(select(Case))).all()
    assert (case.name, case.phone, case.consent) == ("陈小红", "13912345678", True)


async def test_the_webhook_stores_updates_stripped_as_well(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_bot(db, settings, tmp_path, webhook=True, fast=True) as telegram:
        url, secret = telegram.server.webhook_url, telegram.server.webhook_secret
        assert url is not None and secret is not None
        telegram.server.add_chat(RESIDENT_CHAT, user=PROFILE)
        chat = {"id": RESIDENT_CHAT, "type": "private", "first_name": "Rosalind", "username": "rosalind_handle"}
        update = {
            "update_id": 990001,
            "message": {"message_id": 1, "date": 1, "chat": chat, "from": PROFILE, "text": "你好"},
        }
        assert await post_update(url, update, secret) == 200
        await telegram.settle()
        assert leaks(await stored_payloads(db), *SECRETS) == []
        assert len(telegram.server.sent(RESIDENT_CHAT)) == 1


def test_what_is_kept_of_an_update() -> None:
    pressed = {
        "message_id": 9,
        "date": 1700000000,
        "chat": {"id": -100300, "type": "supergroup", "title": "幸福社区居民群"},
        "from": {"id": 1000, "is_bot": True, "first_name": "连心", "username": "lianxin_bot"},
        "text": "住户：幸福路12号1栋1单元101 谢*",
        "reply_markup": {"inline_keyboard": [[{"text": "保存", "callback_data": "visit:save"}]]},
    }
    query = {"id": "77", "from": PROFILE, "message": pressed, "chat_instance": "-1", "data": "visit:save"}
    assert essentials({"update_id": 3, "callback_query": query}) == {
        "update_id": 3,
        "callback_query": {
            "id": "77",
            "from": {"id": RESIDENT_CHAT, "is_bot": False, "language_code": "zh-hans"},
            "data": "visit:save",
            "message": {"message_id": 9, "date": 1700000000, "chat": {"id": -100300, "type": "supergroup"}},
        },
    }
    photo = {
        "message_id": 4,
        "date": 1,
        "from": PROFILE,
        "chat": {"id": RESIDENT_CHAT, "type": "private", "first_name": "Rosalind"},
        "photo": [
            {"file_id": "small", "file_unique_id": "s", "file_size": 10, "width": 90, "height": 67},
            {"file_id": "large", "file_unique_id": "l", "file_size": 99, "width": 1280, "height": 960},
        ],
        "caption": "楼道",
        "caption_entities": [{"type": "mention", "offset": 0, "length": 2}],
        "media_group_id": "1",
    }
    assert essentials({"update_id": 4, "message": photo})["message"] == {
        "message_id": 4,
        "from": {"id": RESIDENT_CHAT, "is_bot": False, "language_code": "zh-hans"},
        "chat": {"id": RESIDENT_CHAT, "type": "private"},
        "caption": "楼道",
        "photo": [{"file_id": "large", "file_unique_id": "l", "file_size": 99}],  # the one that is fetched
    }
    # Whatever else arrives (a sticker, a kind of update never asked for, a malformed one) leaves its ids only.
    assert essentials({"update_id": 5, "message": {"message_id": 1, "sticker": {"file_id": "x"}}}) == {
        "update_id": 5,
        "message": {"message_id": 1},
    }
    assert essentials({"update_id": 6, "poll": {"id": "p"}, "message": "?"}) == {"update_id": 6}
