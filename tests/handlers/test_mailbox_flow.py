"""The mailbox flow as conversations through the console channel: a resident scans a contact card and writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from storage.db import Database
from storage.models import AuditEntry, DialogState, MailboxItem, OutboxMessage, Representative
from storage.records import mailbox
from storage.settings import Settings
from tests.factories import NOW, Chat, District, build_district, chat_as

CONCERN = "幸福路12号楼道灯坏了三个月，老人夜里出门不便。"
INTRO = ["您正在给区级党代表王建国写信", "工作站：幸福社区党代表工作站", "接待日：每周三上午 9:00-11:30", "5到2000字"]


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
async def token(db: Database, district: District) -> str:
    async with db.transaction() as session:
        return await mailbox.issue_link(session, representative_code="D001", now=NOW, actor="test")


@pytest.fixture
async def representative(db: Database, settings: Settings, district: District) -> Chat:
    """D001's own chat, bound before anyone writes: it is where new items are announced."""
    return await chat_as(db, settings, "representative:D001")


async def items_of(db: Database) -> list[MailboxItem]:
    async with db.transaction() as session:
        return list((await session.exec(select(MailboxItem).order_by(col(MailboxItem.id)))).all())


async def outbox_of(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def dialogs_of(db: Database) -> list[DialogState]:
    async with db.transaction() as session:
        return list((await session.exec(select(DialogState))).all())


async def test_named_letter_with_a_typed_phone(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            (CONCERN, ["要署名吗？", "1. 署名", "2. 匿名"]),
            ("1", "请输入您的姓名"),
            ("陈小红", ["请留一个联系电话", "1. 跳过", "发送 /contact 电话号码 分享联系人"]),
            ("139-1234-5678", ["请核对您的来信", "写给：区级党代表王建国（幸福社区党代表工作站）"]),
        ]
    )
    answer = await resident.send("保存")
    assert "✅ 来信已送达王建国代表的信箱，编号 #1" in answer, answer
    assert "代表会尽快阅读并与您联系" in answer
    assert "您也可以在接待日（每周三上午 9:00-11:30）到幸福社区党代表工作站当面反映" in answer
    [item] = await items_of(db)
    assert (item.text, item.anonymous, item.name, item.phone, item.status) == (
        CONCERN,
        False,
        "陈小红",
        "13912345678",
        "new",
    )
    [notice] = await outbox_of(db)
    assert (notice.channel, notice.chat_key) == ("console", "representative:D001")
    assert "收到新来信 #1" in notice.payload["text"] and "陈小红" in notice.payload["text"]
    assert await dialogs_of(db) == []
    async with db.transaction() as session:
        actions = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert "mailbox.submit" in actions


async def test_confirmation_lists_everything_and_can_change_it(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            (CONCERN, "要署名吗？"),
            ("署名", "请输入您的姓名"),
            ("陈小红", "请留一个联系电话"),
            (
                "跳过",
                [
                    "请核对您的来信",
                    f"内容：{CONCERN}",
                    "署名：陈小红，电话：未留",
                    "1. 保存",
                    "2. 改内容",
                    "3. 改署名/匿名",
                    "4. 改姓名",
                    "5. 改电话",
                    "6. 取消",
                ],
            ),
            ("改内容", "请写下您想反映的问题"),
            ("和平街5号门口的下水道堵了", "内容：和平街5号门口的下水道堵了"),
            ("改电话", "请留一个联系电话"),
            ("/contact 0717-6543210", "署名：陈小红，电话：07176543210"),
            ("改署名/匿名", "要署名吗？"),
            ("匿名", ["署名：匿名（代表看不到您的姓名和电话）", "3. 改署名/匿名", "4. 取消"]),
            ("保存", ["来信已送达王建国代表的信箱", "这是一封匿名信"]),
        ]
    )
    [item] = await items_of(db)
    assert (item.text, item.anonymous, item.name, item.phone) == ("和平街5号门口的下水道堵了", True, "", "")


async def test_a_shared_contact_gives_the_phone(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            (CONCERN, "要署名吗？"),
            ("署名", "请输入您的姓名"),
            ("陈小红", "请留一个联系电话"),
            ("/contact 8613912345678", "署名：陈小红，电话：13912345678"),  # as Telegram shares it
            ("保存", "来信已送达"),
        ]
    )
    [item] = await items_of(db)
    assert item.phone == "13912345678"


async def test_anonymous_letter(db: Database, settings: Settings, token: str, representative: Chat) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            (CONCERN, "要署名吗？"),
            ("匿名", ["请核对您的来信", "署名：匿名"]),
            ("保存", ["✅ 来信已送达王建国代表的信箱，编号 #1", "代表看不到您的姓名和电话，答复会发到这里"]),
        ]
    )
    [item] = await items_of(db)
    assert (item.anonymous, item.name, item.phone) == (True, "", "")
    [notice] = await outbox_of(db)
    assert "匿名" in notice.payload["text"] and "来信人：" not in notice.payload["text"]


async def test_bad_input_at_every_step(db: Database, settings: Settings, token: str, tmp_path: Path) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            ("   ", ["内容不能为空", "请写下您想反映的问题"]),
            ("好", ["内容太短了：请至少写5个字", "请写下您想反映的问题"]),
            ("灯" * 10_000, ["内容太长了：最多2000字，您发送了10000字", "请写下您想反映的问题"]),
            ("！！！？？？。。。", "没有看到文字内容"),
            (f"/photo {photo}", "这一步需要文字，收到的是图片"),
            ("/visit", ["这项功能只对党代表开放", "请写下您想反映的问题"]),  # refused; the letter goes on
            ("灯" * 2000, "要署名吗？"),  # exactly the limit is accepted
            ("随便", "这一步需要选项，收到的是文字"),
            ("3", "请回复 1 到 2 之间的编号"),
            ("署名", "请输入您的姓名"),
            ("张3", "姓名只能包含文字"),
            ("陈小红", "请留一个联系电话"),
            ("12345", "电话号码格式不对"),
            ("/contact 12345", "电话号码格式不对"),
            ("13912345678", "请核对您的来信"),
        ]
    )
    assert await items_of(db) == []


async def test_unknown_and_revoked_links_are_refused_politely(
    db: Database, settings: Settings, token: str, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            ("/start m_nosuchtoken", "这个信箱链接无效。请重新扫描党代表连心卡上的二维码"),
            ("/start m_", "这个信箱链接无效"),
            (f"/start m_{token}x", "这个信箱链接无效"),
        ]
    )
    async with db.transaction() as session:
        await mailbox.revoke_links(session, representative_code="D001", now=NOW, actor="test")
    await resident.talk([(f"/start m_{token}", "这张连心卡的二维码已停用")])
    await resident.talk([("/lang en", "Language set to English")])
    await resident.talk(
        [
            (f"/start m_{token}", "This contact card's QR code has been withdrawn"),
            ("/start m_nosuchtoken", "This mailbox link is not valid"),
        ]
    )
    assert await dialogs_of(db) == []


async def test_a_card_of_a_representative_who_left_office(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([(f"/start m_{token}", INTRO), (CONCERN, "要署名吗？"), ("匿名", "请核对您的来信")])
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(col(Representative.code) == "D001").values(active=False))
    answer = await resident.send("保存")
    assert "这位党代表已不在任，信箱已关闭" in answer and "来信已送达" not in answer
    assert await dialogs_of(db) == []  # nowhere to send it: the dialog ends
    await resident.talk([(f"/start m_{token}", "这位党代表已不在任")])
    assert await items_of(db) == []
    assert await outbox_of(db) == []


async def test_cancel_mid_flow_saves_nothing(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            (CONCERN, "要署名吗？"),
            ("署名", "请输入您的姓名"),
            ("/cancel", "已取消「给党代表写信」，没有保存任何内容"),
            ("1", "发送 /help 查看可以做什么"),  # no dialog any more: a number means nothing
        ]
    )
    assert await items_of(db) == []
    assert await outbox_of(db) == []
    assert await dialogs_of(db) == []


async def test_back_and_help(db: Database, settings: Settings, token: str) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", INTRO),
            ("/back", ["已经是第一步了", "请写下您想反映的问题"]),
            ("帮助", ["把问题发生的地点、经过和您的诉求写清楚，5到2000字", "/back 返回上一步"]),
            (CONCERN, "要署名吗？"),
            ("署名", "请输入您的姓名"),
            ("返回", "要署名吗？"),
            ("匿名", "署名：匿名"),
            ("/back", "要署名吗？"),
        ]
    )


async def test_residents_hear_about_cards_in_help(db: Database, settings: Settings, district: District) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([("/help", "扫描党代表连心卡上的二维码，就可以给这位党代表写信")])


async def test_english_conversation(db: Database, settings: Settings, token: str, representative: Chat) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            ("/lang en", "Language set to English"),
            (
                f"/start m_{token}",
                [
                    "You are writing to 王建国, district-level party representative",
                    "Reception day: 每周三上午 9:00-11:30",
                ],
            ),
            ("The stairway light is broken.", "Sign your message?"),
            ("Signed", "Your name"),
            ("Amy Chen", "A phone number"),
            ("Skip", ["Please check your message", "Signed: Amy Chen, phone: not given"]),
            ("Save", ["reached representative 王建国's mailbox as item #1", "contact you"]),
        ]
    )
    [notice] = await outbox_of(db)
    assert "收到新来信 #1" in notice.payload["text"]  # the representative reads it in their own language


async def test_staff_and_representatives_may_write_too(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    leader = await chat_as(db, settings, "leader:L01")
    await leader.talk([(f"/start m_{token}", INTRO), (CONCERN, "要署名吗？")])
    colleague = await chat_as(db, settings, "representative:T001")
    await colleague.talk(
        [(f"/start m_{token}", INTRO), (CONCERN, "要署名吗？"), ("匿名", "请核对"), ("保存", "来信已送达")]
    )
    assert len(await items_of(db)) == 1


async def test_invitation_codes_still_work_with_start(db: Database, settings: Settings, district: District) -> None:
    """Only `m_` arguments open the mailbox; any other /start argument is an invitation code as before."""
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([("/start ABCDEFGHJK", "邀请码不正确")])
