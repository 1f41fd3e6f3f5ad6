"""The demo district's briefings and opinion requests: something for each sender and for the demo representative
to see and do (an unread briefing, an open request to answer), a closed request answered by many with its summary
sent, the items still to come planned, and the same rows from the same seed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database, sqlite_url
from storage.exchange.demo import DEMO_REPRESENTATIVE, build_demo
from storage.models import Briefing, DueItem, OpinionRequest, Representative, Staff
from storage.records import briefings, opinions
from storage.settings import Settings
from tests.storage.exchange.test_demo import TODAY, digest

TABLES = (
    "briefing",
    "briefing_recipient",
    "opinion_request",
    "opinion_question",
    "opinion_recipient",
    "opinion_answer",
)
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 on the demo's day, Shanghai


@pytest.fixture
async def demo(db: Database, settings: Settings) -> Database:
    await build_demo(db, settings=settings, today=TODAY)
    return db


async def test_every_sender_and_the_demo_representative_have_something_to_see(
    demo: Database, settings: Settings
) -> None:
    async with demo.transaction() as session:
        d001 = (await session.exec(select(Representative).where(Representative.code == DEMO_REPRESENTATIVE))).one()
        staff = {row.code: row.id for row in (await session.exec(select(Staff))).all()}
        assert d001.id is not None and staff["O01"] is not None and staff["L01"] is not None

        got = await briefings.received(session, representative_id=d001.id)
        assert len(got) == 3
        assert got[0].read_at is None and all(one.read_at is not None for one in got[1:])  # the unread one first
        sent_by_o01 = await briefings.sent_by(session, staff_id=staff["O01"])
        sent_by_l01 = await briefings.sent_by(session, staff_id=staff["L01"])
        assert len(sent_by_o01) == 2 and len(sent_by_l01) == 1
        for sent in [*sent_by_o01, *sent_by_l01]:
            assert 0 < sent.read < sent.recipients
        everyone = next(sent for sent in sent_by_o01 if sent.briefing.scope == "all")
        assert everyone.recipients > 250 and everyone.read / everyone.recipients > 0.9

        [waiting] = await opinions.received(session, representative_id=d001.id, now=NOW, open_only=True)
        assert waiting.answered_at is None
        questions = await opinions.questions_of(session, request_id=waiting.request.id or 0)
        assert [bool(question.options) for question in questions] == [True, False]
        so_far = await opinions.summary(session, request=waiting.request)
        assert 0 < so_far.answered < so_far.recipients

        closed = (await session.exec(select(OpinionRequest).where(col(OpinionRequest.closes_at) < NOW))).one()
        assert closed.sender_id == staff["O01"] and closed.summary_sent_at == closed.closes_at
        summary = await opinions.summary(session, request=closed)
        assert summary.answered > summary.recipients / 2 and summary.silent
        assert any(question.texts for question in summary.questions)
        assert all(sum(question.counts) == question.answered for question in summary.questions if question.options)

        recent = (await session.exec(select(Briefing).order_by(col(Briefing.sent_at).desc()))).first()
        assert recent is not None
        planned = {item.key for item in (await session.exec(select(DueItem))).all()}
        assert f"briefing-unread:{recent.id}" in planned
        assert {f"opinion-remind:{waiting.request.id}", f"opinion-summary:{waiting.request.id}"} <= planned
        assert f"opinion-summary:{closed.id}" not in planned


async def test_same_seed_and_day_give_identical_briefings(demo: Database, settings: Settings, tmp_path: Path) -> None:
    other = Database(sqlite_url(tmp_path / "again.db"))
    try:
        await other.upgrade()
        await build_demo(other, settings=settings, today=TODAY)
        for table_name in TABLES:
            assert await digest(demo, table_name) == await digest(other, table_name), table_name
    finally:
        await other.dispose()
