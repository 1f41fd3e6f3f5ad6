"""The mailbox flow as conversations through the console channel: a resident writes to the representatives of their
area (/mailbox, the area asked once and remembered) or, through a contact card's link, to that card's representative;
each letter becomes a case (a number and a due date), or joins an open case that reads the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from storage.db import Database
from storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseRelay,
    ChatIdentity,
    DialogState,
    OutboxMessage,
    Representative,
)
from storage.records import mailbox
from storage.settings import Settings
from tests.factories import NOW, Chat, District, build_district, chat_as

CONCERN = "幸福路12号楼道灯坏了三个月，老人夜里出门不便。"
INTRO = ["您正在给区级党代表王建国写信", "工作站：幸福社区党代表工作站", "接待日：每周三上午 9:00-11:30"]
ASK_CATEGORY = "请选择问题的类别"
ASK_TEXT = "请写下您想反映的问题"
ASK_EXTRAS = "可以发照片（最多5张）或分享位置"
ASK_SIGNED = "要署名吗？"
ASK_NAME = "请输入您的姓名"
ASK_PHONE = "请留一个联系电话"
ASK_CONSENT = "是否同意承办单位打电话向您了解情况？"
ASK_PLACE = "请告诉我您住在哪个社区、村或街道"
ASK_SIMILAR = "这个片区已经有相近的问题正在办理"
CONFIRM = "请核对您的来信"
FIRST = "LX-2026-000001"
SAVED = f"✅ 已受理，编号 {FIRST}，应在 2026-11-30 前答复。"  # three working days after Wednesday 2026-11-25


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
async def token(db: Database, district: District) -> str:
    async with db.transaction() as session:
        return await mailbox.issue_link(session, representative_code="D001", now=NOW, actor="test")


@pytest.fixture
async def representative(db: Database, settings: Settings, district: District) -> Chat:
    """D001's own chat, bound before anyone writes: it is where new cases of its areas are announced."""
    return await chat_as(db, settings, "representative:D001")


async def cases_of(db: Database) -> list[Case]:
    async with db.transaction() as session:
        return list((await session.exec(select(Case).order_by(col(Case.id)))).all())


async def relays_of(db: Database) -> list[CaseRelay]:
    async with db.transaction() as session:
        return list((await session.exec(select(CaseRelay).order_by(col(CaseRelay.case_id)))).all())


async def outbox_of(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def dialogs_of(db: Database) -> list[DialogState]:
    async with db.transaction() as session:
        return list((await session.exec(select(DialogState))).all())


async def identity_of(db: Database, who: str) -> ChatIdentity:
    async with db.transaction() as session:
        return (await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == who))).one()


async def open_card(resident: Chat, token: str, category: str = "住房物业") -> None:
    """Open the card's link and choose a category: the card's representative is introduced before the text is
    asked for (on the first screen or the second)."""
    first = await resident.send(f"/start m_{token}")
    assert ASK_CATEGORY in first and "1. 环境卫生" in first and "11. 其他" in first, first
    second = await resident.send(category)
    assert ASK_TEXT in second and "5到2000字" in second, second
    for fragment in INTRO:
        assert fragment in first + second, (fragment, first, second)


async def test_named_letter_with_a_typed_phone(
    db: Database, settings: Settings, token: str, representative: Chat, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk(
        [
            (CONCERN, [ASK_EXTRAS, "1. 跳过"]),
            ("跳过", [ASK_SIGNED, "1. 署名", "2. 匿名"]),
            ("1", ASK_NAME),
            ("陈小红", [ASK_PHONE, "1. 跳过", "发送 /contact 电话号码 分享联系人"]),
            ("139-1234-5678", [ASK_CONSENT, "1. 是", "2. 否"]),
            (
                "是",
                [
                    CONFIRM,
                    "写给：区级党代表王建国（幸福社区党代表工作站）",
                    "类别：住房物业",
                    f"内容：{CONCERN}",
                    "署名：陈小红，电话：13912345678",
                    "同意承办单位电话联系",
                ],
            ),
        ]
    )
    answer = await resident.send("保存")
    assert SAVED in answer, answer
    assert "已交给区住建局办理" in answer  # housing goes to its department at once
    assert "代表会尽快阅读并与您联系" in answer
    assert "发送“我的诉求”可以随时查看办理进度" in answer
    assert "您也可以在接待日（每周三上午 9:00-11:30）到幸福社区党代表工作站当面反映" in answer
    amy = await identity_of(db, "resident:amy")
    [case] = await cases_of(db)
    assert (case.number, case.text, case.anonymous, case.name, case.phone, case.consent) == (
        FIRST,
        CONCERN,
        False,
        "陈小红",
        "13912345678",
        True,
    )
    assert (case.source, case.category, case.identity_id, case.link_token) == ("card", "housing", amy.id, token)
    assert case.representative_id == district.representatives["D001"]
    assert case.area_id == district.areas["幸福社区一区"]  # the first of the card's representative's areas
    assert (case.state, case.department) == ("assigned", "区住建局")
    assert await relays_of(db) == []  # a named case is reached through its writer, not the relay
    # The representative is told (the writer was answered in their chat: no notice of their own letter).
    [notice] = await outbox_of(db)
    told = notice.payload["text"]
    assert notice.chat_key == "representative:D001"
    assert f"您的片区有新的诉求 {FIRST}（住房物业）" in told and CONCERN in told
    assert "陈小红" not in told and "13912345678" not in told  # a notice never names the writer
    assert await dialogs_of(db) == []
    async with db.transaction() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "case.registered"))).all()
    assert [entry.actor for entry in entries] == [f"identity:{amy.id}"]
    # The representative reads who wrote, and how to reach them.
    await representative.talk([(f"/cases {FIRST}", [CONCERN, "来信人：陈小红，电话：13912345678"])])


async def test_confirmation_lists_everything_and_can_change_it(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk(
        [
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("署名", ASK_NAME),
            ("陈小红", ASK_PHONE),
            (
                "跳过",  # no phone: no question about calling it
                [
                    CONFIRM,
                    "写给：区级党代表王建国（幸福社区党代表工作站）",
                    "类别：住房物业",
                    f"内容：{CONCERN}",
                    "署名：陈小红，电话：未留",
                    "1. 保存",
                    "2. 改类别",
                    "3. 改内容",
                    "4. 改照片/位置",
                    "5. 改署名/匿名",
                    "6. 改姓名",
                    "7. 改电话",
                    "8. 取消",
                ],
            ),
            ("改内容", ASK_TEXT),
            ("和平街5号门口的下水道堵了", ["内容：和平街5号门口的下水道堵了", "类别：住房物业"]),
            ("改类别", ASK_CATEGORY),
            ("环境卫生", ["类别：环境卫生", "内容：和平街5号门口的下水道堵了"]),
            ("改电话", ASK_PHONE),
            ("/contact 0717-6543210", ASK_CONSENT),  # a phone now: may the department call it?
            (
                "否",
                [
                    "署名：陈小红，电话：07176543210",
                    "不同意电话联系（只通过平台答复）",
                    "8. 改是否同意联系",
                    "9. 取消",
                ],
            ),
            ("改是否同意联系", ASK_CONSENT),
            ("是", "同意承办单位电话联系"),
            ("改照片/位置", ASK_EXTRAS),
            ("/location 30.59 114.3", ["已记下位置", "1. 完成"]),
            ("完成", ["附件：照片0张，已记位置", "署名：陈小红，电话：07176543210"]),
            ("改署名/匿名", ASK_SIGNED),
            (
                "匿名",  # name, phone and consent are forgotten, and their buttons go
                [
                    "署名：匿名（代表看不到您的姓名和电话）",
                    "类别：环境卫生",
                    "附件：照片0张，已记位置",
                    "5. 改署名/匿名",
                    "6. 取消",
                ],
            ),
        ]
    )
    answer = await resident.send("保存")
    assert SAVED in answer and "这是一封匿名信" in answer, answer
    assert "陈小红" not in answer and "07176543210" not in answer
    [case] = await cases_of(db)
    assert (case.text, case.category, case.anonymous, case.name, case.phone, case.consent, case.identity_id) == (
        "和平街5号门口的下水道堵了",
        "environment",
        True,
        "",
        "",
        False,
        None,
    )
    assert (case.latitude, case.longitude) == (30.59, 114.3)
    [relay] = await relays_of(db)
    assert (relay.case_id, relay.identity_id, relay.writer) == (
        case.id,
        (await identity_of(db, "resident:amy")).id,
        True,
    )


async def test_a_shared_contact_gives_the_phone(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk(
        [
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("署名", ASK_NAME),
            ("陈小红", ASK_PHONE),
            ("/contact 8613912345678", ASK_CONSENT),  # as Telegram shares it
            ("否", ["署名：陈小红，电话：13912345678", "不同意电话联系"]),
            ("保存", SAVED),
        ]
    )
    [case] = await cases_of(db)
    assert (case.phone, case.consent) == ("13912345678", False)


async def test_anonymous_letter(db: Database, settings: Settings, token: str, representative: Chat) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk(
        [
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("匿名", [CONFIRM, "署名：匿名"]),  # neither name, nor phone, nor consent is asked
            ("保存", [SAVED, "这是一封匿名信：代表看不到您的姓名和电话，答复会发到这里"]),
        ]
    )
    [case] = await cases_of(db)
    assert (case.anonymous, case.identity_id, case.name, case.phone, case.consent) == (True, None, "", "", False)
    [relay] = await relays_of(db)
    assert (relay.case_id, relay.identity_id, relay.writer) == (
        case.id,
        (await identity_of(db, "resident:amy")).id,
        True,
    )
    async with db.transaction() as session:
        events = (await session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.entity == "case"))).all()
    assert {event.actor for event in events if event.action == "registered"} == {"anonymous"}
    assert {entry.actor for entry in entries if entry.action == "case.registered"} == {"anonymous"}
    told = [message.payload["text"] for message in await outbox_of(db) if message.chat_key == "representative:D001"]
    assert len(told) == 1 and FIRST in told[0] and "来信人" not in told[0]
    await representative.talk([(f"/cases {FIRST}", ["来信人：匿名（答复由平台转达）", CONCERN])])


async def test_bad_input_at_every_step(db: Database, settings: Settings, token: str, tmp_path: Path) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", ASK_CATEGORY),
            ("美食", ["这一步需要选项，收到的是文字", ASK_CATEGORY]),  # a category that is not offered
            ("12", ["请回复 1 到 11 之间的编号", ASK_CATEGORY]),
            (f"/photo {photo}", ["这一步需要选项，收到的是图片", ASK_CATEGORY]),
            ("住房物业", ASK_TEXT),
            ("   ", ["内容不能为空", ASK_TEXT]),
            ("好", ["内容太短了：请至少写5个字", ASK_TEXT]),
            ("好好好好", ["内容太短了：请至少写5个字", ASK_TEXT]),
            ("灯" * 10_000, ["内容太长了：最多2000字，您发送了10000字", ASK_TEXT]),
            ("！！！？？？。。。", "没有看到文字内容"),
            (f"/photo {photo}", ["这一步需要文字，收到的是图片", ASK_TEXT]),  # a photo where the text is asked
            ("/location 30.5 114.3", ["这一步需要文字，收到的是位置", ASK_TEXT]),
            ("/visit", ["这项功能只对党代表开放", ASK_TEXT]),  # refused; the letter goes on
            ("/cases", ["群众请发送 /mycases 查看自己反映的问题", ASK_TEXT]),
            ("灯" * 2000, ASK_EXTRAS),  # exactly the limit is accepted
            ("随便", ["这一步需要图片或位置或选项，收到的是文字", ASK_EXTRAS]),
            ("2", ["请回复 1 到 1 之间的编号", ASK_EXTRAS]),
            ("/contact 13912345678", "这一步需要图片或位置或选项，收到的是联系人"),
            ("/location 91 200", ["位置信息无效", ASK_EXTRAS]),
        ]
    )
    for count in range(1, 6):
        await resident.talk([(f"/photo {photo}", [f"已收到 {count} 张照片（最多5张）", "1. 完成"])])
    await resident.talk(
        [
            (f"/photo {photo}", ["最多5张", "已收到 5 张照片"]),  # the sixth is refused
            ("完成", ASK_SIGNED),
            ("随便", ["这一步需要选项，收到的是文字", ASK_SIGNED]),
            ("3", "请回复 1 到 2 之间的编号"),
            ("署名", ASK_NAME),
            ("张3", "姓名只能包含文字"),
            (f"/photo {photo}", "这一步需要文字，收到的是图片"),
            ("陈小红", ASK_PHONE),
            ("12345", "电话号码格式不对"),
            ("/contact 12345", "电话号码格式不对"),
            ("13912345678", ASK_CONSENT),
            ("也许", ["这一步需要选项，收到的是文字", ASK_CONSENT]),
            ("3", "请回复 1 到 2 之间的编号"),
            ("是", [CONFIRM, "附件：照片5张"]),
            ("好的", ["这一步需要选项，收到的是文字", CONFIRM]),
            ("10", "请回复 1 到 9 之间的编号"),
        ]
    )
    assert await cases_of(db) == []
    [state] = await dialogs_of(db)
    assert state.step == "confirmed" and len(state.draft["photos"]) == 5


async def test_bad_input_where_the_place_is_asked(db: Database, settings: Settings, district: District) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            ("/mailbox", ASK_PLACE),
            ("火星", ["没有找到“火星”。请换个说法", ASK_PLACE]),
            ("   ", ["内容不能为空", ASK_PLACE]),
            ("！！！", ["没有看到文字内容", ASK_PLACE]),
            ("幸福" * 30, ["内容太长了：最多50字", ASK_PLACE]),
            ("/location 30.5 114.3", ["这一步需要文字，收到的是位置", ASK_PLACE]),
            (
                "幸福",
                ["找到以下片区", "1. 幸福社区一区（幸福社区党代表工作站）", "2. 幸福社区二区（幸福社区党代表工作站）"],
            ),
            ("火星", ["没有找到“火星”", ASK_PLACE]),  # a new search: the list is gone
            ("幸福", "找到以下片区"),
            ("幸福社区二区", ASK_CATEGORY),  # the label picks it
        ]
    )
    assert (await identity_of(db, "resident:amy")).area_id == district.areas["幸福社区二区"]


async def test_a_number_beyond_the_listed_places_picks_none(
    db: Database, settings: Settings, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([("/mailbox", ASK_PLACE), ("幸福", "2. 幸福社区二区")])
    answer = await resident.send("3")
    assert (await identity_of(db, "resident:amy")).area_id is None
    assert "请回复 1 到 2 之间的编号" in answer, answer


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
    assert await cases_of(db) == []


async def test_a_card_of_a_representative_who_left_office(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk([(CONCERN, ASK_EXTRAS), ("跳过", ASK_SIGNED), ("匿名", CONFIRM)])
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(col(Representative.code) == "D001").values(active=False))
    answer = await resident.send("保存")
    assert "这位党代表已不在任，信箱已关闭" in answer and "已受理" not in answer
    assert await dialogs_of(db) == []  # nowhere to send it: the dialog ends
    await resident.talk([(f"/start m_{token}", "这位党代表已不在任")])
    assert await cases_of(db) == []
    assert await relays_of(db) == []
    assert await outbox_of(db) == []


async def test_cancel_mid_flow_saves_nothing(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await open_card(resident, token)
    await resident.talk(
        [
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("署名", ASK_NAME),
            ("陈小红", ASK_PHONE),
            ("13912345678", ASK_CONSENT),
            ("/cancel", "已取消「给党代表写信」，没有保存任何内容"),
            ("1", "/help 查看全部"),  # no dialog any more: a number means nothing
        ]
    )
    assert await cases_of(db) == []
    assert await outbox_of(db) == []
    assert await dialogs_of(db) == []


async def test_back_and_help(db: Database, settings: Settings, token: str) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            (f"/start m_{token}", ASK_CATEGORY),
            ("/back", ["已经是第一步了", ASK_CATEGORY]),
            ("帮助", ["选一个最接近的类别", "/back 返回上一步", ASK_CATEGORY]),
            ("住房物业", ASK_TEXT),
            ("帮助", ["把问题发生的地点、经过和您的诉求写清楚，5到2000字", "/back 返回上一步", ASK_TEXT]),
            ("/back", ASK_CATEGORY),
            ("环境卫生", ASK_TEXT),
            (CONCERN, ASK_EXTRAS),
            ("帮助", ["帮助承办单位找到现场", ASK_EXTRAS]),
            ("返回", ASK_TEXT),
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("帮助", ["署名方便代表直接联系您", ASK_SIGNED]),
            ("署名", ASK_NAME),
            ("返回", ASK_SIGNED),
            ("署名", ASK_NAME),
            ("陈小红", ASK_PHONE),
            ("13912345678", ASK_CONSENT),
            ("帮助", ["同意后，承办单位可以打电话向您了解情况", ASK_CONSENT]),
            ("上一步", ASK_PHONE),
            ("跳过", ["署名：陈小红，电话：未留", "类别：环境卫生"]),
            ("帮助", "点“保存”把来信送达代表"),
            ("/back", ASK_PHONE),
            ("返回", ASK_NAME),
            ("返回", ASK_SIGNED),
            ("匿名", "署名：匿名"),
            ("/back", ASK_SIGNED),
        ]
    )


async def test_residents_hear_about_the_mailbox_and_cards_in_help(
    db: Database, settings: Settings, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            ("/help", ["发送“写信”就可以给您所在片区的党代表反映问题", "连心卡上的二维码", "/mailbox", "/mycases"]),
            ("你好", ["发送“写信”给党代表反映问题", "“我的诉求”查看进度"]),
        ]
    )


async def test_english_conversation(db: Database, settings: Settings, token: str, representative: Chat) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([("/lang en", "Language set to English")])
    first = await resident.send(f"/start m_{token}")
    second = await resident.send("Housing and property")
    for fragment in (
        "You are writing to 王建国, district-level party representative",
        "Reception day: 每周三上午 9:00-11:30",
    ):
        assert fragment in first + second, (fragment, first, second)
    await resident.talk(
        [
            ("The stairway light is broken.", "You may send photos (up to 5)"),
            ("Skip", "Sign your message?"),
            ("Signed", "Your name"),
            ("Amy Chen", "A phone number"),
            (
                "Skip",
                ["Please check your message", "Category: Housing and property", "Signed: Amy Chen, phone: not given"],
            ),
            ("Save", [f"Received, number {FIRST}; an answer is due by 2026-11-30", "contact you"]),
        ]
    )
    [notice] = [message for message in await outbox_of(db) if message.chat_key == "representative:D001"]
    assert f"您的片区有新的诉求 {FIRST}（住房物业）" in notice.payload["text"]  # in the representative's language


async def test_staff_and_representatives_may_write_too(
    db: Database, settings: Settings, token: str, representative: Chat
) -> None:
    leader = await chat_as(db, settings, "leader:L01")
    await open_card(leader, token)
    await leader.talk([(CONCERN, ASK_EXTRAS)])
    colleague = await chat_as(db, settings, "representative:T001")
    await open_card(colleague, token, "环境卫生")
    await colleague.talk([(CONCERN, ASK_EXTRAS), ("跳过", ASK_SIGNED), ("匿名", CONFIRM), ("保存", SAVED)])
    department = await chat_as(db, settings, "department:B01")
    await department.talk(
        [
            ("/mailbox", ASK_PLACE),
            ("东山村", ASK_CATEGORY),  # one area found: chosen at once
            ("其他", ASK_TEXT),
            ("东山村3组的路灯不亮了。", ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("匿名", CONFIRM),
            ("保存", "LX-2026-000002"),
        ]
    )
    assert [case.source for case in await cases_of(db)] == ["card", "mailbox"]


async def test_invitation_codes_still_work_with_start(db: Database, settings: Settings, district: District) -> None:
    """Only `m_` arguments open the mailbox; any other /start argument is an invitation code as before."""
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk([("/start ABCDEFGHJK", "邀请码不正确")])


# --- without a card: the resident's area -------------------------------------------------------------------------


async def test_a_letter_without_a_card_asks_the_area_once(
    db: Database, settings: Settings, district: District, representative: Chat
) -> None:
    colleague = await chat_as(db, settings, "representative:T001")  # serves 幸福社区一区 only
    resident = await chat_as(db, settings, "resident:amy")
    await resident.talk(
        [
            ("/mailbox", ASK_PLACE),
            (
                "幸福",
                [
                    "找到以下片区，请选择您所在的一个",
                    "1. 幸福社区一区（幸福社区党代表工作站）",
                    "2. 幸福社区二区（幸福社区党代表工作站）",
                ],
            ),
            ("2", ASK_CATEGORY),
            ("其他", ASK_TEXT),
            (CONCERN, ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("署名", ASK_NAME),
            ("陈小红", ASK_PHONE),
            ("13912345678", ASK_CONSENT),
            ("否", [CONFIRM, "类别：其他", "署名：陈小红，电话：13912345678"]),
        ]
    )
    answer = await resident.send("保存")
    assert SAVED in answer and "接待日" not in answer, answer  # no card: no one representative's reception day
    assert "已交给" not in answer  # "other" names no department: the liaison office sorts it
    [case] = await cases_of(db)
    assert (case.source, case.area_id, case.representative_id, case.link_token) == (
        "mailbox",
        district.areas["幸福社区二区"],
        None,
        None,
    )
    assert (case.state, case.department) == ("registered", "")  # "other" waits for the liaison office
    assert (await identity_of(db, "resident:amy")).area_id == district.areas["幸福社区二区"]
    # The representatives of that area hear of it; a representative of another area does not.
    told = {message.chat_key for message in await outbox_of(db)}
    assert "representative:D001" in told and "representative:T001" not in told
    assert colleague.who not in told

    # The next letter does not ask again ...
    await resident.talk([("写信", ASK_CATEGORY)])
    [state] = await dialogs_of(db)
    assert state.draft["area_id"] == district.areas["幸福社区二区"]
    # ... and going back to the question changes the remembered area.
    await resident.talk([("/back", ASK_PLACE), ("东山村", ASK_CATEGORY), ("/cancel", "已取消")])
    assert (await identity_of(db, "resident:amy")).area_id == district.areas["东山村一组"]
    await resident.talk([("/mailbox", ASK_CATEGORY)])


# --- a concern like an open case ----------------------------------------------------------------------------------

SAME = "幸福路12号楼道的灯坏了三个月，老人夜里出门很不便。"  # reads like CONCERN


async def write_in_second_area(chat: Chat, text: str, category: str = "住房物业") -> str:
    """Through /mailbox to 幸福社区二区 (asked the first time only), up to the answer to the description."""
    if ASK_PLACE in await chat.send("/mailbox"):
        await chat.talk([("幸福社区二区", ASK_CATEGORY)])
    await chat.talk([(category, ASK_TEXT)])
    return await chat.send(text)


async def test_a_similar_open_case_can_be_joined_or_not(
    db: Database, settings: Settings, district: District, representative: Chat
) -> None:
    department = await chat_as(db, settings, "department:B01")  # 区住建局, where housing goes
    amy = await chat_as(db, settings, "resident:amy")
    assert ASK_EXTRAS in await write_in_second_area(amy, CONCERN)  # nothing like it yet
    await amy.talk([("跳过", ASK_SIGNED), ("匿名", CONFIRM), ("保存", SAVED)])

    bob = await chat_as(db, settings, "resident:bob")
    offered = await write_in_second_area(bob, SAME)
    for fragment in (ASK_SIMILAR, f"· {FIRST}：{CONCERN}", f"1. 我也遇到了（{FIRST}）", "2. 这是另一件事"):
        assert fragment in offered, offered
    await bob.talk(
        [
            ("帮助", ["点“我也遇到了”，办理结果会同样告诉您", ASK_SIMILAR]),
            ("随便", ["这一步需要选项，收到的是文字", ASK_SIMILAR]),
            ("3", "请回复 1 到 2 之间的编号"),
            (f"我也遇到了（{FIRST}）", f"✅ 已加入案件 {FIRST}：办理结果会同样告诉您。"),
        ]
    )
    [case] = await cases_of(db)  # joined: no new case
    bob_id = (await identity_of(db, "resident:bob")).id
    joined = [relay for relay in await relays_of(db) if relay.identity_id == bob_id]
    assert [(relay.case_id, relay.writer) for relay in joined] == [(case.id, False)]
    async with db.transaction() as session:
        events = (await session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
    assert [event.actor for event in events if event.action == "joined"] == ["anonymous"]
    told = "\n".join(notice.text for notice in await department.console.waiting())
    assert f"又有群众反映了 {FIRST} 的同一问题，目前共 2 人关注" in told and "resident:bob" not in told
    await bob.talk([("/mycases", ["您反映的问题（共 1 件）", FIRST]), ("/cancel", "已取消")])
    # Already following it, he is offered it again, and told so if he presses it.
    await write_in_second_area(bob, SAME)
    await bob.talk([(f"我也遇到了（{FIRST}）", [f"您已经在关注案件 {FIRST} 了", ASK_SIMILAR]), ("/cancel", "已取消")])

    # Another resident says it is another matter: a case of its own.
    carol = await chat_as(db, settings, "resident:carol")
    assert ASK_SIMILAR in await write_in_second_area(carol, SAME)
    await carol.talk(
        [
            ("这是另一件事", ASK_EXTRAS),
            ("跳过", ASK_SIGNED),
            ("匿名", CONFIRM),
            ("改内容", ASK_TEXT),  # a new description is compared anew
            (SAME, ASK_SIMILAR),
            ("2", [CONFIRM, f"内容：{SAME}"]),  # back where the change began
            ("保存", "✅ 已受理，编号 LX-2026-000002"),
        ]
    )
    assert [case.text for case in await cases_of(db)] == [CONCERN, SAME]
    # Another category, or another area, is not offered the case.
    dave = await chat_as(db, settings, "resident:dave")
    assert ASK_EXTRAS in await write_in_second_area(dave, SAME, category="其他")

    # The answer reaches the writer, and the one who joined, through the relay.
    await department.talk(
        [(f"/cases {FIRST}", "答复"), ("答复", "请写下答复内容"), ("灯已修好", "问题解决了吗？"), ("是", "已答复")]
    )
    assert f"您反映的问题 {FIRST} 已答复" in "\n".join(reply.text for reply in await amy.console.waiting())
    heard = "\n".join(reply.text for reply in await bob.console.waiting())
    assert f"您关注的问题 {FIRST} 已答复" in heard and "灯已修好" in heard and "请对答复进行评价" not in heard
