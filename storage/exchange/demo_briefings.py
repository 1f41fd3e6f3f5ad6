"""The demo district's briefings and opinion requests: old briefings most have read, one from the district leader
(L01), a recent one to the demo representative's group that D001 has not read yet (its not-read look still to
come); an open opinion request D001 can answer (options and free text) that others have begun answering, and a
closed one answered by many, its summary sent to its sender. Rows go in a few bulk statements, the same for a seed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.models import (
    Briefing,
    BriefingRecipient,
    OpinionAnswer,
    OpinionQuestion,
    OpinionRecipient,
    OpinionRequest,
    Representative,
    Staff,
)
from storage.records import audience, briefings, opinions, schedule
from storage.settings import Settings

DEMO_REPRESENTATIVE = "D001"  # as storage.exchange.demo's
BRIEFINGS = (
    # sender, scope ("group" is the demo representative's group), days before today, share read, title, text
    (
        "O01",
        "all",
        45,
        0.96,
        "关于开展党代表年度述职评议工作的通报",
        "根据区委安排，今年党代表年度述职评议于12月中旬进行。请各位代表对照“五个一”和联系群众任务，准备书面述职报告。",
    ),
    (
        "L01",
        "level:district",
        18,
        0.88,
        "区委常委会关于民生实事项目推进情况的通报",
        "今年确定的十项民生实事项目中，已完成七项，其余三项正在加快推进。请区级党代表在走访中听取群众意见，及时反映。",
    ),
    (
        "O01",
        "group",
        1,
        0.4,
        "关于第二轮集中走访安排的通报",
        "第二轮集中走访定于本月下旬开展，请各代表小组组长做好分工，走访情况及时在“连心”中登记。",
    ),
)
OPEN_QUESTIONS: tuple[tuple[str, list[str]], ...] = (
    ("您是否赞成在老旧小区推行加装电梯“一梯一策”？", ["赞成", "基本赞成", "不赞成"]),
    ("对资金分摊办法有什么意见和建议？", []),
)
CLOSED_QUESTIONS: tuple[tuple[str, list[str]], ...] = (
    ("您认为社区养老服务最需要加强的是哪一项？", ["助餐服务", "日间照料", "上门护理", "文体活动"]),
    ("您对服务站点布局是否满意？", ["满意", "基本满意", "不满意"]),
    ("其他意见和建议", []),
)
SUGGESTIONS = (
    "建议按楼层高低分档分摊，一楼住户给予适当补偿。",
    "希望政府补贴比例再提高一些，减轻老年住户负担。",
    "先在条件成熟的小区试点，再逐步推开。",
    "加强施工期间的安全管理和噪音控制。",
    "建议引入第三方评估，公开资金使用情况。",
    "站点尽量设在步行十分钟范围内。",
)


def _local(day: date, hour: int, settings: Settings, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=settings.zone).astimezone(UTC)


async def _ids_by_code(session: AsyncSession, model: type[Representative] | type[Staff]) -> dict[str, int]:
    found = await session.exec(select(model.code, model.id))
    return {code: row_id for code, row_id in found.all() if row_id is not None}


async def add_briefings(session: AsyncSession, *, settings: Settings, today: date, seed: int) -> None:
    """Insert the demo's briefings and opinion requests into the built district."""
    rng = random.Random(seed)
    staff = await _ids_by_code(session, Staff)
    reps = await _ids_by_code(session, Representative)
    demo_rep = await session.get(Representative, reps[DEMO_REPRESENTATIVE])
    assert demo_rep is not None
    group_scope = f"group:{demo_rep.group_id}" if demo_rep.group_id is not None else "all"
    start_of_today = _local(today, 0, settings)
    planned = []

    for sender, scope, days_ago, share, title, body in BRIEFINGS:
        scope = group_scope if scope == "group" else scope
        sent_at = _local(today - timedelta(days=days_ago), 9, settings, 30)
        briefing = Briefing(sender_id=staff[sender], title=title, body=body, scope=scope, sent_at=sent_at)
        session.add(briefing)
        await session.flush()
        rows = []
        for rep_id in await audience.representatives_in(session, scope):
            read = rng.random() < share
            if rep_id == reps[DEMO_REPRESENTATIVE]:
                read = days_ago > 1  # the recent one waits for D001
            read_at = min(sent_at + timedelta(hours=rng.uniform(0.5, 72)), start_of_today) if read else None
            rows.append({"briefing_id": briefing.id, "representative_id": rep_id, "read_at": read_at})
        await execute(session, sa.insert(BriefingRecipient.__table__), rows)  # type: ignore[attr-defined]
        if sent_at + timedelta(days=settings.briefings.not_read_days) > start_of_today:
            planned.append(briefings.unread_item(briefing, settings))

    # An open request from the district leader, closing in five days; a third have answered so far (not D001).
    open_request = await _request(
        session,
        sender=staff["L01"],
        title="老旧小区加装电梯实施办法（征求意见稿）",
        body="为推进老旧小区加装电梯工作，区住建局起草了实施办法（征求意见稿），现征求各位党代表意见。",
        sent_at=_local(today - timedelta(days=2), 10, settings),
        closes_at=opinions.closing_at(today + timedelta(days=5), settings),
        questions=OPEN_QUESTIONS,
    )
    await _answers(session, rng, open_request, share=0.33, skip={reps[DEMO_REPRESENTATIVE]}, until=start_of_today)
    planned += opinions.items_for(open_request, settings, start_of_today)

    # A closed one from the liaison office, answered by most district-level representatives, its summary sent.
    closed_request = await _request(
        session,
        sender=staff["O01"],
        title="社区养老服务设施布局规划（草案）",
        body="现就社区养老服务设施布局规划（草案）征求区级党代表意见。",
        sent_at=_local(today - timedelta(days=30), 10, settings),
        closes_at=opinions.closing_at(today - timedelta(days=20), settings),
        questions=CLOSED_QUESTIONS,
        scope="level:district",
    )
    await _answers(session, rng, closed_request, share=0.75, skip=set(), until=closed_request.closes_at)
    closed_request.summary_sent_at = closed_request.closes_at
    session.add(closed_request)
    await schedule.plan(session, items=planned, now=start_of_today)


async def _request(
    session: AsyncSession,
    *,
    sender: int,
    title: str,
    body: str,
    sent_at: datetime,
    closes_at: datetime,
    questions: tuple[tuple[str, list[str]], ...],
    scope: str = "all",
) -> OpinionRequest:
    request = OpinionRequest(
        sender_id=sender, title=title, body=body, scope=scope, sent_at=sent_at, closes_at=closes_at
    )
    session.add(request)
    await session.flush()
    for position, (text, options) in enumerate(questions, start=1):
        session.add(OpinionQuestion(request_id=request.id or 0, position=position, text=text, options=options))
    await session.flush()
    return request


async def _answers(
    session: AsyncSession,
    rng: random.Random,
    request: OpinionRequest,
    *,
    share: float,
    skip: set[int],
    until: datetime,
) -> None:
    """Recipients for the request's scope, and answers from about `share` of them, given between its sending and
    `until`."""
    assert request.id is not None
    questions = list(
        (
            await session.exec(
                select(OpinionQuestion)
                .where(OpinionQuestion.request_id == request.id)
                .order_by(col(OpinionQuestion.position))
            )
        ).all()
    )
    recipients: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    span = (until - request.sent_at).total_seconds()
    for rep_id in await audience.representatives_in(session, request.scope):
        answered_at = None
        if rep_id not in skip and rng.random() < share:
            answered_at = request.sent_at + timedelta(seconds=rng.uniform(0.05, 0.95) * span)
            for question in questions:
                if question.options:
                    weights = [len(question.options) - n for n in range(len(question.options))]
                    choice = rng.choices(range(len(question.options)), weights=weights)[0]
                    answers.append(_answer(question, rep_id, choice, "", answered_at))
                elif rng.random() < 0.6:  # not everyone has more to say
                    answers.append(_answer(question, rep_id, None, rng.choice(SUGGESTIONS), answered_at))
                else:
                    answers.append(_answer(question, rep_id, None, "无", answered_at))
        recipients.append({"request_id": request.id, "representative_id": rep_id, "answered_at": answered_at})
    await execute(session, sa.insert(OpinionRecipient.__table__), recipients)  # type: ignore[attr-defined]
    if answers:
        await execute(session, sa.insert(OpinionAnswer.__table__), answers)  # type: ignore[attr-defined]


def _answer(question: OpinionQuestion, rep_id: int, choice: int | None, text: str, at: datetime) -> dict[str, Any]:
    return {"question_id": question.id, "representative_id": rep_id, "choice": choice, "text": text, "answered_at": at}
