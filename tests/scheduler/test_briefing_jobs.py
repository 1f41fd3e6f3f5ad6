"""Briefings and opinion requests as the scheduler sends them, at controlled moments: the sender's not-read look
`not_read_days` after a briefing (once, skipped when everyone has read it), the reminder to those who have not
answered an opinion request the day before its deadline (once, not to those who answered) and its summary to the
sender at the deadline (once, in their language)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

import scheduler.jobs
from handlers.inputs import utf16_length
from scheduler.engine import Engine
from storage.db import Database
from storage.models import DueItem, OpinionRequest, OutboxMessage
from storage.records import briefings
from storage.records.opinions import Answer
from storage.settings import Settings
from tests.factories import NOW, TODAY, District, build_district
from tests.storage.records.test_briefings import send, standing
from tests.storage.records.test_opinions import answer, ask
from tests.storage.records.test_reception import bind, utc


@pytest.fixture
async def district(db: Database) -> District:
    district = await build_district(db)
    for who in ("representative:D001", "representative:D002", "representative:T001", "liaison:O01"):
        await bind(db, who)
    await bind(db, "leader:L01", language="en")
    return district


def engine(db: Database, settings: Settings) -> Engine:
    return Engine(db, settings, jobs=scheduler.jobs.JOBS, starters=scheduler.jobs.STARTERS)


async def texts(db: Database, who: str, *fragments: str) -> list[tuple[str, list[list[str]]]]:
    """What was sent to this person that contains any of the fragments (other jobs may tell them other things)."""
    async with db.transaction() as session:
        rows = await session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_key == who).order_by(col(OutboxMessage.id))
        )
        found = [(str(row.payload.get("text", "")), row.payload.get("buttons", [])) for row in rows.all()]
    return [(text, buttons) for text, buttons in found if any(fragment in text for fragment in fragments)]


async def states(db: Database, prefix: str) -> dict[str, tuple[str, str]]:
    async with db.transaction() as session:
        found = await session.exec(select(DueItem).where(col(DueItem.key).startswith(prefix)))
        return {item.kind: (item.state, item.reason) for item in found.all()}


async def test_the_sender_hears_once_who_has_not_read_a_briefing_after_three_days(
    db: Database, settings: Settings, district: District
) -> None:
    briefing_id = await send(db, settings)  # by O01 to all three, at NOW
    d001 = await standing(db, "representative:D001")
    async with db.transaction() as session:
        await briefings.confirm_read(session, standing=d001, briefing_id=briefing_id, now=NOW)
    run = engine(db, settings)
    await run.run_due(NOW + timedelta(days=3) - timedelta(minutes=1))
    assert await texts(db, "liaison:O01", "没有确认阅读") == []
    await run.run_due(NOW + timedelta(days=3, minutes=1))
    await run.run_due(NOW + timedelta(days=3, hours=2))  # a later tick sends nothing again
    [(text, buttons)] = await texts(db, "liaison:O01", "没有确认阅读")
    assert text == (
        "📢 第1号通报《关于年度述职的通报》发出3天了，3位党代表中还有2位没有确认阅读：李红梅（D002）、张伟（T001）"
    )
    assert buttons == [[f"cmd:/briefings {briefing_id} remind", "🔔 提醒未读的代表"]]
    assert await states(db, "briefing-unread:") == {"briefing-unread": ("sent", "")}


async def test_a_briefing_everyone_read_is_skipped_with_its_reason(
    db: Database, settings: Settings, district: District
) -> None:
    briefing_id = await send(db, settings, scope="level:township")
    t001 = await standing(db, "representative:T001")
    async with db.transaction() as session:
        await briefings.confirm_read(session, standing=t001, briefing_id=briefing_id, now=NOW)
    await engine(db, settings).run_due(NOW + timedelta(days=3, minutes=1))
    assert await texts(db, "liaison:O01", "没有确认阅读") == []
    assert await states(db, "briefing-unread:") == {"briefing-unread": ("skipped", "everyone_read")}


async def test_an_opinion_requests_reminder_and_summary_are_sent_once_to_the_right_people(
    db: Database, settings: Settings, district: District
) -> None:
    request_id = await ask(db, settings, last_day=TODAY + timedelta(days=7))  # by L01 (English), closes 12-03 00:00
    await answer(db, settings, "D001", request_id, {1: Answer(choice=0), 2: Answer(text="先做试点。")})
    run = engine(db, settings)
    await run.run_due(utc("2026-12-01 23:59"))
    assert await texts(db, "representative:D002", "将于") == []
    await run.run_due(utc("2026-12-02 09:00"))  # due at midnight, sent after the quiet hours
    await run.run_due(utc("2026-12-02 10:00"))
    [(reminder, buttons)] = await texts(db, "representative:D002", "将于")
    assert reminder == "🔔 提醒：第1号征求意见《老旧小区加装电梯实施办法（草案）》将于2026-12-02截止，您还没有答复。"
    assert buttons == [[f"cmd:/opinions {request_id}", "✍️ 答复"]]
    assert len(await texts(db, "representative:T001", "将于")) == 1
    assert await texts(db, "representative:D001", "将于") == []  # answered: not reminded

    await run.run_due(utc("2026-12-02 23:59"))
    assert await texts(db, "leader:L01", "summary") == []
    await run.run_due(utc("2026-12-03 00:01"))
    assert await texts(db, "leader:L01", "summary") == []  # quiet hours: it waits for the morning
    await run.run_due(utc("2026-12-03 08:00"))
    await run.run_due(utc("2026-12-03 09:00"))
    [(summary, _)] = await texts(db, "leader:L01", "summary")
    assert summary.startswith(
        '📝 Opinion request no. 1, "老旧小区加装电梯实施办法（草案）", closed on 2026-12-02: the summary\nAnswered 1/3'
    )
    assert "   赞成: 1 (100%)" in summary and "   • 王建国 (D001): 先做试点。" in summary
    assert "Not answered (2): 李红梅 (D002), 张伟 (T001)" in summary
    assert await states(db, "opinion-") == {"opinion-remind": ("sent", ""), "opinion-summary": ("sent", "")}
    async with db.transaction() as session:
        request = await session.get(OpinionRequest, request_id)
        assert request is not None and request.summary_sent_at == utc("2026-12-03 08:00")


async def test_a_request_everyone_answered_skips_its_reminder(
    db: Database, settings: Settings, district: District
) -> None:
    request_id = await ask(db, settings, scope="level:township", last_day=TODAY + timedelta(days=3))
    await answer(db, settings, "T001", request_id, {1: Answer(choice=2), 2: Answer(text="无")})
    await engine(db, settings).run_due(utc("2026-11-28 12:00"))
    assert await states(db, "opinion-") == {
        "opinion-remind": ("skipped", "everyone_answered"),
        "opinion-summary": ("pending", ""),
    }


async def test_a_long_summary_comes_in_messages_telegram_can_carry(
    db: Database, settings: Settings, district: District
) -> None:
    request_id = await ask(db, settings, last_day=TODAY + timedelta(days=1))
    long_texts = {code: f"{code}的意见：" + "建议加强统筹，分步实施。" * 150 for code in ("D001", "D002", "T001")}
    for code, text in long_texts.items():
        await answer(db, settings, code, request_id, {1: Answer(choice=1), 2: Answer(text=text)})
    await engine(db, settings).run_due(utc("2026-11-27 09:00"))
    async with db.transaction() as session:
        rows = await session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_key == "leader:L01").order_by(col(OutboxMessage.id))
        )
        sent = [str(row.payload["text"]) for row in rows.all()]
    assert len(sent) > 1 and all(utf16_length(text) <= 3500 for text in sent)
    whole = "\n".join(sent)
    assert whole.startswith("📝 Opinion request no. 1") and "Every representative asked has answered." in whole
    assert all(text in whole for text in long_texts.values())
