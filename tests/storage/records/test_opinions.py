"""Opinion requests as storage keeps them: sent with their questions to everyone in office in a scope, the
reminder and the summary planned; answers saved, changed (replaced) until the deadline and refused after it; the
summary (counts per option, texts with who wrote them, who has not answered) for the sender alone."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import col, select

from handlers.briefings import notice
from storage.db import Database
from storage.errors import Conflict, InvalidInput, NotAllowed, NotFound
from storage.models import DueItem, OpinionAnswer, OpinionQuestion, OpinionRecipient
from storage.records import opinions
from storage.records.opinions import Answer, Question
from storage.settings import Settings
from tests.factories import NOW, TODAY, District, build_district
from tests.storage.records.test_briefings import outbox_of, standing
from tests.storage.records.test_reception import bind, utc

QUESTIONS = (Question("您是否赞成这个方案？", ("赞成", "基本赞成", "不赞成")), Question("您还有什么建议？"))


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def ask(
    db: Database,
    settings: Settings,
    who: str = "leader:L01",
    *,
    questions: tuple[Question, ...] = QUESTIONS,
    last_day: date = TODAY + timedelta(days=7),
    scope: str = "all",
) -> int:
    sender = await standing(db, who)
    async with db.transaction() as session:
        request = await opinions.send(
            session,
            standing=sender,
            scope=scope,
            title="老旧小区加装电梯实施办法（草案）",
            body="草案全文见附件。",
            attachment=None,
            questions=questions,
            closes_at=opinions.closing_at(last_day, settings),
            settings=settings,
            now=NOW,
            render=notice,
        )
        assert request.id is not None
        return request.id


async def answer(
    db: Database, settings: Settings, code: str, request_id: int, given: dict[int, Answer], *, now: datetime = NOW
) -> bool:
    rep = await standing(db, f"representative:{code}")
    async with db.transaction() as session:
        return await opinions.answer(
            session, standing=rep, request_id=request_id, answers=given, settings=settings, now=now
        )


async def test_a_request_reaches_its_scope_with_an_answer_button_and_plans_its_reminder_and_summary(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:D001")
    request_id = await ask(db, settings, last_day=date(2026, 12, 2))
    async with db.transaction() as session:
        request = await opinions.get(session, request_id)
        assert request.closes_at == utc("2026-12-03 00:00")  # the end of the last day, Shanghai time
        assert opinions.deadline_day(request, settings) == date(2026, 12, 2)
        questions = await opinions.questions_of(session, request_id=request_id)
        assert [(q.position, q.text, q.options) for q in questions] == [
            (1, "您是否赞成这个方案？", ["赞成", "基本赞成", "不赞成"]),
            (2, "您还有什么建议？", []),
        ]
        assert len((await session.exec(select(OpinionRecipient))).all()) == 3
        items = {item.kind: item for item in (await session.exec(select(DueItem))).all()}
        assert items["opinion-remind"].due_at == utc("2026-12-02 00:00")  # a day before the deadline
        assert items["opinion-remind"].expires_at is not None
        assert items["opinion-summary"].due_at == utc("2026-12-03 00:00")
        assert items["opinion-summary"].expires_at is None  # a late summary is still wanted
    [(_, message)] = await outbox_of(db, "representative:D001")
    assert "老旧小区加装电梯实施办法（草案）" in message["text"] and "2026-12-02" in message["text"]
    assert message["buttons"] == [[f"cmd:/opinions {request_id}", "✍️ 答复"]]


@pytest.mark.parametrize(
    ("questions", "last_day", "key"),
    [
        ((Question("赞成吗？", ("赞成",)),), TODAY + timedelta(days=3), "opinion.error.option_count"),
        ((Question("赞成吗？", ("赞成", "赞成")),), TODAY + timedelta(days=3), "opinion.error.option_twice"),
        ((), TODAY + timedelta(days=3), "opinion.error.question_count"),
        (QUESTIONS, TODAY - timedelta(days=1), "opinion.error.deadline_past"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_sent(
    db: Database, settings: Settings, district: District, questions: tuple[Question, ...], last_day: date, key: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await ask(db, settings, questions=questions, last_day=last_day)
    assert refused.value.key == key


async def test_representatives_cannot_ask(db: Database, settings: Settings, district: District) -> None:
    with pytest.raises(NotAllowed):
        await ask(db, settings, "representative:D001")


async def test_answers_are_saved_changed_until_the_deadline_and_refused_after_it(
    db: Database, settings: Settings, district: District
) -> None:
    request_id = await ask(db, settings, last_day=date(2026, 12, 2))
    first = {1: Answer(choice=0), 2: Answer(text="加装电梯要照顾低层住户的意见。")}
    assert await answer(db, settings, "D001", request_id, first) is False
    assert await answer(db, settings, "D001", request_id, {1: Answer(choice=1), 2: Answer(text="同意。")}) is True
    async with db.transaction() as session:
        given = await opinions.answers_of(
            session, request_id=request_id, representative_id=district.representatives["D001"]
        )
        assert given == {1: Answer(1, ""), 2: Answer(None, "同意。")}
        assert len((await session.exec(select(OpinionAnswer))).all()) == 2  # replaced, not added
    with pytest.raises(Conflict) as closed:
        await answer(db, settings, "D001", request_id, first, now=utc("2026-12-03 00:00"))
    assert closed.value.key == "opinion.error.closed"
    await answer(db, settings, "T001", request_id, first, now=utc("2026-12-02 23:59"))  # the last day counts whole
    with pytest.raises(InvalidInput):
        await answer(db, settings, "D002", request_id, {1: Answer(choice=3), 2: Answer(text="好")})
    with pytest.raises(InvalidInput):
        await answer(db, settings, "D002", request_id, {1: Answer(choice=0)})  # question 2 unanswered
    township_only = await ask(db, settings, scope="level:township")
    with pytest.raises(NotFound):
        await answer(db, settings, "D001", township_only, first)


async def test_the_summary_counts_options_quotes_texts_with_names_and_names_who_has_not_answered(
    db: Database, settings: Settings, district: District
) -> None:
    request_id = await ask(db, settings)
    await answer(db, settings, "D001", request_id, {1: Answer(choice=0), 2: Answer(text="先做试点。")})
    await answer(db, settings, "T001", request_id, {1: Answer(choice=0), 2: Answer(text="资金要公开。")})
    l01, o01 = await standing(db, "leader:L01"), await standing(db, "liaison:O01")
    async with db.transaction() as session:
        with pytest.raises(NotAllowed) as refused:
            await opinions.open_sent(session, standing=o01, request_id=request_id)
        assert refused.value.key == "briefing.error.not_sender"
        request = await opinions.open_sent(session, standing=l01, request_id=request_id)
        summary = await opinions.summary(session, request=request)
    assert (summary.recipients, summary.answered) == (3, 2)
    choice, free = summary.questions
    assert choice.counts == (2, 0, 0) and choice.answered == 2
    assert free.texts == (("王建国", "D001", "先做试点。"), ("张伟", "T001", "资金要公开。"))
    assert summary.silent == [("李红梅", "D002")]


async def test_a_representatives_list_puts_open_unanswered_requests_first(
    db: Database, settings: Settings, district: District
) -> None:
    answered = await ask(db, settings, last_day=TODAY + timedelta(days=2))
    waiting = await ask(db, settings, last_day=TODAY + timedelta(days=9))
    await answer(db, settings, "D001", answered, {1: Answer(choice=2), 2: Answer(text="无")})
    async with db.transaction() as session:
        found = await opinions.received(session, representative_id=district.representatives["D001"], now=NOW)
        assert [one.request.id for one in found] == [waiting, answered]
        later = await opinions.received(
            session, representative_id=district.representatives["D001"], now=NOW + timedelta(days=5), open_only=True
        )
        assert [one.request.id for one in later] == [waiting]
        rows = await session.exec(select(OpinionQuestion).where(col(OpinionQuestion.request_id) == waiting))
        assert len(rows.all()) == 2
