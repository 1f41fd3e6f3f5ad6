"""The events' day-before reminder as the scheduler sends it, at controlled moments: once, at events.eve_at the day
before, to the invited who are not excused, each in their language; a new time moves it, a cancellation skips it,
a reminder that would come after the event began is skipped with its reason."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import col, select

import scheduler.jobs
from handlers.programme_events import notice
from scheduler.engine import Engine
from storage.db import Database
from storage.models import DueItem, OutboxMessage
from storage.policy import Standing
from storage.records import events
from storage.settings import Settings
from tests.factories import NOW, District, build_district
from tests.storage.records.test_events import add_event, office
from tests.storage.records.test_reception import bind, utc


@pytest.fixture
async def district(db: Database) -> District:
    """D001 reads Chinese, T001 English, D002 Chinese; all three bound."""
    built = await build_district(db)
    await bind(db, "representative:D001")
    await bind(db, "representative:T001", language="en")
    await bind(db, "representative:D002")
    return built


def engine(db: Database, settings: Settings) -> Engine:
    return Engine(db, settings, jobs=scheduler.jobs.JOBS, starters=scheduler.jobs.STARTERS)


async def reminders(db: Database) -> dict[str, list[str]]:
    """What each chat was reminded of (the eve's words only, whatever else the scheduler sent)."""
    async with db.transaction() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        sent: dict[str, list[str]] = {}
        for row in rows.all():
            text = str(row.payload.get("text", ""))
            if text.startswith(("⏰ 明天", "⏰ Tomorrow")):  # not the monthly quota reminders
                sent.setdefault(row.chat_key, []).append(text)
        return sent


async def eve(db: Database, event_id: int, day: str = "20261126") -> tuple[str, str, datetime]:
    """The reminder of the event held on `day` (the key names the day: a move to another day plans anew)."""
    async with db.transaction() as session:
        item = (await session.exec(select(DueItem).where(DueItem.key == f"{events.EVE}:{event_id}:{day}"))).one()
        return item.state, item.reason, item.due_at


async def move(db: Database, settings: Settings, event_id: int, starts: str, ends: str) -> None:
    liaison = await office(db)  # before the transaction: SQLite lets one writer in at a time
    async with db.transaction() as session:
        await events.change_time(
            session,
            event_id=event_id,
            starts_at=utc(starts),
            ends_at=utc(ends),
            standing=liaison,
            settings=settings,
            now=NOW,
            render=notice,
        )


async def test_the_eve_is_sent_once_to_the_invited_not_excused_in_their_language(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings)  # Thursday 9:00-11:30
    async with db.transaction() as session:
        await events.answer(
            session, event_id=event_id, standing=district.standing("D002"), attend=False, reason="出差", now=NOW
        )
    run = engine(db, settings)
    await run.run_due(utc("2026-11-25 16:59"))
    assert await reminders(db) == {}
    await run.run_due(utc("2026-11-25 17:00"))
    await run.run_due(utc("2026-11-25 17:30"))  # a second tick sends nothing again
    sent = await reminders(db)
    assert set(sent) == {"representative:D001", "representative:T001"}  # D002 is excused
    assert sent["representative:D001"] == [
        "⏰ 明天：培训「党章学习培训」\n时间：2026-11-26（周四）9:00-11:30\n地点：区委党校\n到场后记得签到。"
    ]
    [english] = sent["representative:T001"]
    assert english.startswith('⏰ Tomorrow: Training "党章学习培训"') and "2026-11-26 (Thu) 9:00-11:30" in english
    assert (await eve(db, event_id))[:2] == ("sent", "")


async def test_a_new_time_moves_the_eve_and_a_cancellation_skips_it(
    db: Database, settings: Settings, district: District
) -> None:
    moved = await add_event(db, settings)
    cancelled = await add_event(db, settings, starts="2026-11-27 09:00", ends="2026-11-27 10:00")
    liaison: Standing = await office(db)
    async with db.transaction() as session:
        await events.change_time(
            session,
            event_id=moved,
            starts_at=utc("2026-11-30 14:00"),
            ends_at=utc("2026-11-30 16:00"),
            standing=liaison,
            settings=settings,
            now=NOW,
            render=notice,
        )
        await events.cancel_event(
            session, event_id=cancelled, standing=liaison, settings=settings, now=NOW, render=notice
        )
    run = engine(db, settings)
    for day in ("2026-11-25", "2026-11-26", "2026-11-27"):
        await run.run_due(utc(f"{day} 18:00"))
    assert await reminders(db) == {}
    assert await eve(db, moved, "20261130") == ("pending", "", utc("2026-11-29 17:00"))
    assert (await eve(db, moved))[:2] == ("skipped", events.MOVED)  # the first day's
    assert (await eve(db, cancelled, "20261127"))[:2] == ("skipped", "cancelled")
    await run.run_due(utc("2026-11-29 17:05"))
    assert [len(texts) for texts in (await reminders(db)).values()] == [1, 1, 1]
    assert "2026-11-30（周一）14:00-16:00" in (await reminders(db))["representative:D001"][0]


async def test_an_event_moved_to_another_day_after_its_reminder_went_out_is_reminded_again(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings)  # Thursday 26 November
    run = engine(db, settings)
    await run.run_due(utc("2026-11-25 17:05"))
    assert [len(texts) for texts in (await reminders(db)).values()] == [1, 1, 1]
    await move(db, settings, event_id, "2026-12-03 09:00", "2026-12-03 11:30")
    await run.run_due(utc("2026-12-02 17:05"))
    sent = await reminders(db)
    assert [len(texts) for texts in sent.values()] == [2, 2, 2]
    assert "2026-12-03（周四）9:00-11:30" in sent["representative:D001"][1]
    # Moved back to the first day: its reminder, sent already, is not sent twice.
    await move(db, settings, event_id, "2026-11-26 09:00", "2026-11-26 11:30")
    assert (await eve(db, event_id))[:2] == ("sent", "")


async def test_an_event_moved_after_its_reminder_came_too_late_is_reminded_of_its_new_day(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings)
    run = engine(db, settings)
    await run.run_due(utc("2026-11-26 09:30"))  # down until the event began: skipped
    assert (await eve(db, event_id))[:2] == ("skipped", "too_late")
    await move(db, settings, event_id, "2026-12-03 09:00", "2026-12-03 11:30")
    await run.run_due(utc("2026-12-02 17:05"))
    assert [len(texts) for texts in (await reminders(db)).values()] == [1, 1, 1]


async def test_a_reminder_too_late_after_downtime_is_skipped_with_its_reason(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings)
    await engine(db, settings).run_due(utc("2026-11-26 09:30"))  # the scheduler was down until the event began
    assert await reminders(db) == {}
    assert (await eve(db, event_id))[:2] == ("skipped", "too_late")


async def test_the_eve_of_an_event_cancelled_behind_the_schedule_is_skipped(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings)
    async with db.transaction() as session:
        # A cancellation whose item was not skipped (written by hand, say): the job reads the event when it runs.
        record = await events.get(session, event_id=event_id)
        record.cancelled = True
        session.add(record)
    await engine(db, settings).run_due(utc("2026-11-25 17:05"))
    assert await reminders(db) == {}
    assert (await eve(db, event_id))[:2] == ("skipped", "cancelled")
