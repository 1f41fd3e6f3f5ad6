"""/channel (通知渠道) through the console: a representative with a console chat and a WeChat chat sees where their
notices go and why, and chooses by button number, by label or by name; residents are told it is not for them."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import AuditEntry, ChatIdentity
from storage.records import cases
from storage.settings import Settings
from tests.factories import Chat, District, build_district, chat_as

REPRESENTATIVE = "representative:D001"


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def add_chat(db: Database, district: District, channel: str, external_id: str, code: str = "D001") -> None:
    """Another chat of the same representative, bound earlier (as an invitation on that channel binds it); the
    console chat, bound after it, holds the notices."""
    async with db.transaction() as session:
        session.add(
            ChatIdentity(
                channel=channel,
                external_id=external_id,
                role="representative",
                representative_id=district.representatives[code],
                notices=False,
            )
        )


async def notice_chats(db: Database, district: District) -> list[str]:
    """The channels a notice to D001 reaches."""
    async with db.transaction() as session:
        chats = await cases.chats_of_representative(session, district.representatives["D001"])
    return [chat.channel for chat in chats]


async def representative_with_wechat(db: Database, settings: Settings, district: District) -> Chat:
    chat = await chat_as(db, settings, REPRESENTATIVE)
    await add_chat(db, district, "wechat", "wxid_secret_123")
    return chat


async def test_the_overview_says_where_notices_go_and_why(db: Database, settings: Settings, district: District) -> None:
    chat = await representative_with_wechat(db, settings, district)
    answer = await chat.send("/channel")
    for expected in (
        "通知现在发到：控制台（最近使用的渠道）",
        "· 控制台（当前聊天） ✓ 接收通知",
        "· 微信",
        "1. 只在控制台接收",
        "2. 只在微信接收",
        "3. 跟随最近使用的渠道",
    ):
        assert expected in answer, answer
    assert "wxid_secret_123" not in answer and REPRESENTATIVE not in answer  # no chat's id is shown


async def test_a_typed_number_chooses_and_the_choice_holds(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await representative_with_wechat(db, settings, district)
    await chat.talk([("通知渠道", "2. 只在微信接收"), ("2", "好的，通知以后只发到微信。")])
    assert await notice_chats(db, district) == ["wechat"]
    await chat.send("/progress")  # writing here does not take them back: they were chosen
    assert await notice_chats(db, district) == ["wechat"]
    await chat.talk([("/channel", ["通知现在发到：微信（您选定的）", "· 微信 ✓ 接收通知"])])
    async with db.transaction() as session:
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "notices.channel"))).all()
        wechat = (await session.exec(select(ChatIdentity).where(col(ChatIdentity.channel) == "wechat"))).one()
    assert (entry.entity, entry.entity_id, entry.detail) == ("chat_identity", str(wechat.id), {"chosen": True})


async def test_a_typed_label_follows_the_chat_used_last_again(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await representative_with_wechat(db, settings, district)
    await chat.talk([("/channel", "只在微信接收"), ("只在微信接收", "好的，通知以后只发到微信。")])
    await chat.talk(
        [
            ("接收渠道", "3. 跟随最近使用的渠道"),
            ("跟随最近使用的渠道", "好的，通知以后发到您最近使用的渠道，现在是控制台。"),
        ]
    )
    assert await notice_chats(db, district) == ["console"]


async def test_the_command_names_its_choice_directly(db: Database, settings: Settings, district: District) -> None:
    chat = await representative_with_wechat(db, settings, district)
    await chat.talk(
        [
            ("通知渠道 微信", "好的，通知以后只发到微信。"),
            ("/channel auto", "现在是控制台"),
            ("/channel WeChat", "好的，通知以后只发到微信。"),
            ("/channel 9", "没有这个选项"),
            ("/channel 短信", "没有这个选项"),
        ]
    )
    assert await notice_chats(db, district) == ["wechat"]


async def test_two_chats_of_one_channel_are_told_apart_by_number(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, REPRESENTATIVE)
    await add_chat(db, district, "telegram", "501")
    await add_chat(db, district, "telegram", "502")
    answer = await chat.send("/channel")
    assert "· Telegram (1)" in answer and "· Telegram (2)" in answer and "只在Telegram (2)接收" in answer
    assert "好的，通知以后只发到Telegram (2)。" in await chat.send("3")
    assert await notice_chats(db, district) == ["telegram"]


async def test_with_one_chat_there_is_nothing_to_choose(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "liaison:O01")
    answer = await chat.send("/channel")
    assert "您只绑定了这一个聊天（控制台），通知都发到这里。" in answer
    assert "跟随最近使用的渠道" not in answer


async def test_residents_are_told_it_is_for_bound_people(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "resident:amy")
    answer = await chat.send("/channel")
    assert "通知渠道只用于绑定了身份的党代表和工作人员" in answer
    assert "通知现在发到" not in answer


async def test_in_english(db: Database, settings: Settings, district: District) -> None:
    chat = await representative_with_wechat(db, settings, district)
    await chat.talk(
        [
            ("/lang en", "Language set to English"),
            ("channel", ["Your notices go to: Console (the channel you used last).", "2. Only on WeChat"]),
            ("2", "Done: your notices now go to WeChat only."),
        ]
    )
    resident = await chat_as(db, settings, "resident:bob")
    await resident.talk([("/lang en", "English"), ("/channel", "The notice channel is for representatives and staff")])
