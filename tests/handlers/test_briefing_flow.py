"""/briefing and /briefings as conversations through the console channel, by numbers and by button labels: the
liaison office sends a briefing with a document to everyone (or a group found by name), representatives confirm
reading it (twice changes nothing), the sender sees the read share and who has not read it, and reminds them once a
day; bad input is answered politely and nothing half-done is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Briefing, BriefingRecipient, OutboxMessage
from storage.records import briefings
from storage.settings import Settings
from tests.factories import Chat, Clock, District, build_district, chat_as
from tests.storage.records.test_briefings import send, standing
from tests.storage.records.test_opinions import ask


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def waiting(chat: Chat) -> str:
    return "\n\n".join(chat.console.render(reply) for reply in await chat.console.waiting())


async def test_the_office_sends_a_briefing_with_a_document_by_numbers_and_representatives_read_it_by_buttons(
    db: Database, settings: Settings, district: District, clock: Clock, tmp_path: Path
) -> None:
    document = tmp_path / "述职安排.pdf"
    document.write_bytes(b"%PDF-1.4")
    d001 = await chat_as(db, settings, "representative:D001", clock)
    t001 = await chat_as(db, settings, "representative:T001", clock)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            ("发通报", ["发给哪些党代表？", "1. 全体党代表", "2. 区级党代表", "3. 镇（街道）级党代表"]),
            ("1", "通报的标题是什么？"),
            ("关于年度述职评议的通报", "请发送通报正文"),
            ("年度述职评议将于12月举行，请各位代表提前准备述职报告。", ["需要附上文件吗？", "1. 不附文件"]),
            (
                f"/file {document}",
                [
                    "请确认这份通报：",
                    "范围：全体党代表（3位党代表）",
                    "标题：关于年度述职评议的通报",
                    "附件：述职安排.pdf",
                    "1. 保存",
                    "3. 修改标题",
                ],
            ),
            ("1", ["✅ 第1号通报已发给3位党代表。3天后会告诉您还有谁没有确认阅读。", "1. 查看阅读情况"]),
        ]
    )
    received = await waiting(d001)
    assert "📢 党内情况通报（第1号）：关于年度述职评议的通报" in received and "年度述职评议将于12月举行" in received
    assert "1. ✅ 已阅" in received
    assert str(document) in received  # the document follows the briefing (a terminal names where it is)

    await d001.talk(
        [
            ("通报列表", ["📢 🔴 第1号 关于年度述职评议的通报（2026-11-25，未读）", "1. 📢 关于年度述职评议的通报"]),
            ("关于年度述职评议的通报", ["发送人：联络员甲", "附件：述职安排.pdf", "1. ✅ 已阅", "2. 通报列表"]),
            ("已阅", "✅ 已确认阅读第1号通报《关于年度述职评议的通报》，谢谢！"),
            ("/briefings 1 read", "您已经确认阅读过第1号通报《关于年度述职评议的通报》了，不用再确认。"),
            ("通报列表", "📢 第1号 关于年度述职评议的通报（2026-11-25，已阅）"),
        ]
    )
    async with db.transaction() as session:
        rows = (await session.exec(select(BriefingRecipient))).all()
        assert sorted(row.read_at is not None for row in rows) == [False, False, True]

    await office.talk(
        [
            ("通报列表", ["您发送的通报和征求意见：", "📢 第1号 关于年度述职评议的通报（2026-11-25）已阅 1/3"]),
            ("1", ["已阅 1/3", "还没有确认阅读的（2位）：李红梅（D002）、张伟（T001）", "1. 🔔 提醒未读的代表"]),
            ("1", "🔔 已提醒2位还没有确认阅读《关于年度述职评议的通报》的党代表。"),
            ("/briefings 1 remind", "今天已经提醒过还没有阅读《关于年度述职评议的通报》的党代表了，这次没有再发提醒。"),
        ]
    )
    reminded = await waiting(t001)
    assert reminded.count("🔔 提醒：您还没有确认阅读第1号通报《关于年度述职评议的通报》") == 1
    assert "提醒" not in await waiting(d001)  # who read it is not reminded
    clock.advance(days=1)
    await office.talk([("/briefings 1 remind", "🔔 已提醒2位")])


async def test_a_group_found_by_name_a_changed_title_and_the_words_in_english(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    leader = await chat_as(db, settings, "leader:L01", clock)
    await leader.talk(
        [
            ("/briefing", "发给哪些党代表？"),
            ("幸福街道", "通报的标题是什么？"),
            ("小组学习安排", "请发送通报正文"),
            ("本周五下午集中学习。", "需要附上文件吗？"),
            ("不附文件", ["范围：幸福街道代表小组（3位党代表）", "标题：小组学习安排"]),
            ("修改标题", "通报的标题是什么？"),
            ("小组学习时间调整", ["标题：小组学习时间调整", "1. 保存"]),
            ("保存", "✅ 第1号通报已发给3位党代表"),
        ]
    )
    async with db.transaction() as session:
        [briefing] = (await session.exec(select(Briefing))).all()
        assert (briefing.title, briefing.scope) == ("小组学习时间调整", f"group:{district.group_id}")
    t001 = await chat_as(db, settings, "representative:T001", clock)
    await t001.talk([("/lang", "1."), ("English", "English")])
    await t001.talk(
        [
            ("/briefings", ["📢 🔴 No. 1 小组学习时间调整 (2026-11-25, unread)", "1. 📢 小组学习时间调整"]),
            ("1", ['📢 Briefing no. 1, "小组学习时间调整"', "1. ✅ Read"]),
            ("Read", "✅ You confirmed reading briefing no. 1"),
        ]
    )


async def test_bad_input_is_answered_and_nothing_is_sent_until_saved(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            ("/briefing", "发给哪些党代表？"),
            ("没有这个小组", "没有找到名称包含“没有这个小组”的代表小组"),
            ("3", "通报的标题是什么？"),
            ("标" * 101, "内容太长"),
            ("！！！", ["没有看到文字内容", "通报的标题是什么？"]),
            ("述职通报", "请发送通报正文"),
            ("正文", "需要附上文件吗？"),
            ("这不是文件", ["这一步需要", "需要附上文件吗？", "1. 不附文件"]),
            ("/cancel", "已取消「发送通报」"),
        ]
    )
    async with db.transaction() as session:
        assert (await session.exec(select(Briefing))).all() == []
        assert (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_key != "liaison:O01"))).all() == []
    await office.talk([("/briefings", "您还没有发送过通报或征求意见")])


async def test_a_representatives_list_puts_what_waits_for_them_first(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    first = await send(db, settings, scope="level:district")  # read below
    request = await ask(db, settings, scope="level:district")  # open, not answered
    second = await send(db, settings, scope="level:district")  # not read
    rep = await standing(db, "representative:D001")
    async with db.transaction() as session:
        await briefings.confirm_read(session, standing=rep, briefing_id=first, now=clock.now)
    d001 = await chat_as(db, settings, "representative:D001", clock)
    shown = await d001.send("我的通报")
    order = [
        shown.index(f"📝 🔴 第{request}号征求意见"),
        shown.index(f"📢 🔴 第{second}号"),
        shown.index(f"📢 第{first}号"),
    ]
    assert order == sorted(order), shown
