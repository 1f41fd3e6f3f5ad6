"""/opinion and /opinions as conversations through the console channel, by numbers and by button labels: a leader
asks the district-level representatives for opinions on a draft (a question with options, one in free text), a
representative answers, checks, changes one answer and later all of them, the sender alone reads the summary; bad
input (one option, a deadline in the past, an answer after the deadline) is answered politely."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from handlers.opinions import last_day, split_options
from storage.db import Database
from storage.errors import InvalidInput
from storage.models import OpinionAnswer, OpinionQuestion, OpinionRequest
from storage.settings import Settings
from tests.factories import TODAY, Chat, Clock, District, build_district, chat_as


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def ask(leader: Chat, deadline: str = "5", last_day: str = "2026-11-30") -> None:
    """L01 asks the district-level representatives (D001, D002) by numbers; the request is no. 1, closing at the
    end of `last_day` (typed as `deadline`)."""
    await leader.talk(
        [
            ("征求意见", "发给哪些党代表？"),
            ("2", "征求意见的标题是什么？"),
            ("老旧小区加装电梯实施办法", "请发送决策草案的内容"),
            ("草案共十二条，主要内容是……", ["需要附上草案文件吗？", "1. 不附文件"]),
            ("1", "请输入第1个问题（最多10个）。"),
            ("您是否赞成这个办法？", ["问题：您是否赞成这个办法？", "1. 自由作答"]),
            ("赞成、基本赞成\n不赞成", ["1. 您是否赞成这个办法？（赞成、基本赞成、不赞成）", "1. 问题已添加完"]),
            ("您还有什么建议？", "问题：您还有什么建议？"),
            ("1", ["2. 您还有什么建议？（自由作答）", "请输入第3个问题"]),
            ("1", ["请输入截止日期", "1. 7天后（2026-12-02）"]),
            (
                deadline,
                [
                    "范围：区级党代表（2位党代表）",
                    f"截止日期：{last_day}",
                    "1. 您是否赞成这个办法？（赞成、基本赞成、不赞成）",
                    "2. 您还有什么建议？（自由作答）",
                    "7. 修改截止日期",
                ],
            ),
            ("1", [f"✅ 第1号征求意见已发给2位党代表，截止日期{last_day}。", "1. 查看汇总"]),
        ]
    )


async def test_a_leader_asks_by_numbers_a_representative_answers_by_buttons_and_the_sender_reads_the_summary(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    d001 = await chat_as(db, settings, "representative:D001", clock)
    leader = await chat_as(db, settings, "leader:L01", clock)
    await ask(leader)
    received = "\n".join(reply.text for reply in await d001.console.waiting())
    assert "📝 征求意见（第1号）：老旧小区加装电梯实施办法" in received and "请在2026-11-30前点“答复”" in received

    await d001.talk(
        [
            ("答复意见", ["📝 🔴 第1号征求意见 老旧小区加装电梯实施办法（截止2026-11-30，未答复）"]),
            (
                "老旧小区加装电梯实施办法",
                [
                    "📝 第1号征求意见《老旧小区加装电梯实施办法》（截止2026-11-30）\n草案共十二条，主要内容是……",
                    "问题 1/2：您是否赞成这个办法？",
                    "1. 赞成",
                    "2. 基本赞成",
                    "3. 不赞成",
                ],
            ),
            ("随便说说", "请点选一个选项，或回复选项的编号（1到3）。"),
            ("基本赞成", "问题 2/2：您还有什么建议？"),
            (
                "建议先在两个小区试点。",
                ["1. 您是否赞成这个办法？：基本赞成", "2. 您还有什么建议？：建议先在两个小区试点。"],
            ),
            ("修改第1题", "问题 1/2：您是否赞成这个办法？"),
            ("赞成", ["1. 您是否赞成这个办法？：赞成", "2. 您还有什么建议？：建议先在两个小区试点。", "1. 提交"]),
            ("提交", "✅ 已提交您对《老旧小区加装电梯实施办法》的意见，谢谢！2026-11-30截止前还可以修改。"),
        ]
    )
    await leader.talk(
        [
            (
                "/opinion 1",
                [
                    "📝 第1号征求意见《老旧小区加装电梯实施办法》答复情况（截止2026-11-30）",
                    "已答复 1/2",
                    "   赞成：1人（100%）",
                    "   基本赞成：0人（0%）",
                    "   • 王建国（D001）：建议先在两个小区试点。",
                    "没有答复的（1位）：李红梅（D002）",
                ],
            ),
            ("/briefings", "📝 第1号征求意见 老旧小区加装电梯实施办法（截止2026-11-30）已答复 1/2"),
        ]
    )
    # Until the deadline the answers can change: the confirmation comes first, with the answers given.
    clock.advance(days=2)
    await d001.talk(
        [
            ("/opinions 1", ["您已经答复过，截止前可以修改。", "1. 您是否赞成这个办法？：赞成", "3. 修改第2题"]),
            ("3", "问题 2/2：您还有什么建议？"),
            ("同意草案。", "2. 您还有什么建议？：同意草案。"),
            ("1", "✅ 已修改您对《老旧小区加装电梯实施办法》的意见。"),
        ]
    )
    async with db.transaction() as session:
        answers = (await session.exec(select(OpinionAnswer))).all()
        assert sorted((answer.text, answer.choice) for answer in answers) == [("", 0), ("同意草案。", None)]


async def test_only_the_sender_reads_the_summary(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    await ask(await chat_as(db, settings, "leader:L01", clock))
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk([("/opinion 1", "只有发送人可以查看谁已阅读、谁已答复。")])
    rep = await chat_as(db, settings, "representative:D001", clock)
    await rep.talk([("/opinion 1", "只有联络办公室和领导可以发送通报和征求意见。")])
    t001 = await chat_as(db, settings, "representative:T001", clock)  # township level: not asked
    await t001.talk([("/opinions 1", "没有找到第1号征求意见。"), ("/opinions", "目前没有需要您答复的征求意见。")])


async def test_bad_input_when_asking_is_answered_and_the_step_asked_again(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    leader = await chat_as(db, settings, "leader:L01", clock)
    await leader.talk(
        [
            ("/opinion", "发给哪些党代表？"),
            ("全体党代表", "征求意见的标题是什么？"),
            ("社区养老服务", "请发送决策草案的内容"),
            ("征求对社区养老服务的意见。", "需要附上草案文件吗？"),
            ("不附文件", "请输入第1个问题"),
            ("您赞成这个方案吗？", "问题：您赞成这个方案吗？"),
            ("赞成", "有选项的问题需要2到9个选项"),
            ("赞成、赞成", "有两个选项是一样的"),
            ("赞成、反对", "问题已添加完"),
            ("问题已添加完", "请输入截止日期"),
            ("2026-11-20", ["截止日期不能早于今天，请重新输入。", "请输入截止日期"]),
            ("下个月", "没看懂这个日期"),
            ("200", "截止日期最多在90天之后"),
            ("12月1日", "截止日期：2026-12-01"),
            ("修改截止日期", "请输入截止日期"),
            ("0", "截止日期：2026-11-25"),  # today: open until the day ends
            ("/cancel", "已取消「征求意见」"),
        ]
    )
    async with db.transaction() as session:
        assert (await session.exec(select(OpinionRequest))).all() == []
        assert (await session.exec(select(OpinionQuestion))).all() == []


async def test_an_answer_after_the_deadline_is_refused_politely_and_nothing_changes(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    await ask(await chat_as(db, settings, "leader:L01", clock), deadline="0", last_day="2026-11-25")
    d001 = await chat_as(db, settings, "representative:D001", clock)
    clock.advance(hours=13, minutes=50)  # 23:50 on the last day
    await d001.talk([("/opinions 1", "问题 1/2"), ("1", "问题 2/2"), ("好", "1. 提交")])
    clock.advance(minutes=15)  # 00:05: closed
    await d001.talk(
        [
            ("提交", ["《老旧小区加装电梯实施办法》的征求意见已经截止，不能再答复或修改了。谢谢您的关注！"]),
            ("/cancel", "已取消"),
            ("/opinions 1", "已经截止"),
            ("/opinions", "目前没有需要您答复的征求意见。"),
            ("/briefings", "📝 第1号征求意见 老旧小区加装电梯实施办法（已于2026-11-25截止）"),
            ("1", ["这次征求意见已经截止。", "1. 通报列表"]),
        ]
    )
    async with db.transaction() as session:
        assert (await session.exec(select(OpinionAnswer))).all() == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("7", date(2026, 12, 2)), ("7天", date(2026, 12, 2)), ("0", TODAY), ("2026-12-20", date(2026, 12, 20))],
)
def test_a_deadline_is_a_number_of_days_or_a_date(typed: str, expected: date) -> None:
    assert last_day(typed, today=TODAY) == expected


def test_a_short_date_is_the_next_such_day() -> None:
    assert last_day("1月5日", today=date(2026, 12, 20)) == date(2027, 1, 5)
    assert last_day("12-31", today=date(2026, 12, 20)) == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("2026-11-24", "opinion.error.deadline_past"),
        ("2026-02-30", "opinion.error.bad_deadline"),
        ("91", "opinion.error.deadline_far"),
        ("下周", "opinion.error.bad_deadline"),
    ],
)
def test_a_deadline_that_is_no_date_or_not_to_come_is_refused(typed: str, key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        last_day(typed, today=TODAY)
    assert refused.value.key == key


def test_options_are_split_by_any_of_the_usual_separators() -> None:
    assert split_options("赞成、基本赞成, 不赞成；弃权\n其他") == ("赞成", "基本赞成", "不赞成", "弃权", "其他")
