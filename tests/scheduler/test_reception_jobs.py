"""The reception-day notices as the scheduler sends them, at controlled moments: the eve to those on duty and to the
subscribers (each in their language, once), the morning to those on duty; a change of time moves them, a
cancellation skips them, a notice that would come after the reception began is skipped with its reason."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlmodel import col, select

import scheduler.jobs
from handlers.reception import notice
from scheduler.engine import Engine
from storage.db import Database
from storage.models import DueItem, OutboxMessage, ReceptionDay
from storage.records import reception, rota_changes
from storage.settings import Settings
from tests.factories import NOW, District, build_district
from tests.storage.records.test_reception import THURSDAY, add_day, bind, station_id, utc


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


def engine(db: Database, settings: Settings) -> Engine:
    return Engine(db, settings, jobs=scheduler.jobs.JOBS, starters=scheduler.jobs.STARTERS)


async def about_receptions(db: Database, who: str) -> list[str]:
    """What the scheduler sent this person about reception days (other jobs may tell them other things)."""
    async with db.transaction() as session:
        rows = await session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_key == who).order_by(col(OutboxMessage.id))
        )
        texts = [str(row.payload.get("text", "")) for row in rows.all()]
    return [text for text in texts if "接待日" in text or "reception day" in text]


async def item_states(db: Database, reception_id: int) -> dict[str, tuple[str, str]]:
    async with db.transaction() as session:
        found = await session.exec(select(DueItem).where(col(DueItem.key).endswith(f":{reception_id}")))
        return {item.kind: (item.state, item.reason) for item in found.all()}


@pytest.fixture
async def people(db: Database, settings: Settings, district: District) -> None:
    """D001 reads Chinese, T001 English; amy (English) and bob (Chinese) subscribed to the station."""
    await bind(db, "representative:D001")
    await bind(db, "representative:T001", language="en")
    amy = await bind(db, "resident:amy", language="en")
    bob = await bind(db, "resident:bob")
    happy = await station_id(db)
    async with db.transaction() as session:
        for resident in (amy, bob):
            await reception.subscribe(session, identity=resident, station_id=happy, now=NOW)


async def test_the_eve_and_the_morning_are_sent_once_to_the_right_people_in_their_language(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    reception_id = await add_day(db, settings, district)  # Thursday 9:00-11:30, D001 and T001 on duty
    before = {who: len(await about_receptions(db, who)) for who in ("representative:D001", "representative:T001")}
    run = engine(db, settings)
    await run.run_due(utc("2026-11-25 16:59"))
    assert await about_receptions(db, "resident:amy") == []

    await run.run_due(utc("2026-11-25 17:01"))
    await run.run_due(utc("2026-11-25 17:30"))  # a second tick sends nothing again
    [amy] = await about_receptions(db, "resident:amy")
    assert amy.startswith(
        "📅 Tomorrow, 2026-11-26 (Thu) 9:00-11:30, 幸福社区党代表工作站 holds a representatives' reception"
    )
    assert "on duty: 王建国, 张伟" in amy
    [bob] = await about_receptions(db, "resident:bob")
    assert bob.startswith("📅 明天 2026-11-26（周四）9:00-11:30，幸福社区党代表工作站举行党代表接待日，地点：幸福路1号")
    d001 = (await about_receptions(db, "representative:D001"))[before["representative:D001"] :]
    t001 = (await about_receptions(db, "representative:T001"))[before["representative:T001"] :]
    assert len(d001) == len(t001) == 1
    assert d001[0].startswith("⏰ 明天 2026-11-26（周四）9:00-11:30 您在幸福社区党代表工作站接待日值班")
    assert t001[0].startswith("⏰ Tomorrow, 2026-11-26 (Thu) 9:00-11:30, you are on duty at the reception day")
    assert (await item_states(db, reception_id))["reception-duty"] == ("sent", "")

    await run.run_due(utc("2026-11-26 08:01"))
    assert (await about_receptions(db, "representative:D001"))[-1].startswith("⏰ 今天 2026-11-26（周四）9:00-11:30")
    assert len(await about_receptions(db, "resident:amy")) == 1  # residents hear on the eve only
    assert set((await item_states(db, reception_id)).values()) == {("sent", "")}


async def test_a_change_of_time_moves_the_pending_notices(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    reception_id = await add_day(db, settings, district)
    async with db.transaction() as session:
        await rota_changes.change_day(
            session,
            reception_id=reception_id,
            day=date(2026, 11, 27),
            actor="test",
            settings=settings,
            now=NOW,
            render=notice,
        )
    changes = len(await about_receptions(db, "resident:amy"))  # told of the change at once
    run = engine(db, settings)
    await run.run_due(utc("2026-11-25 17:05"))
    assert len(await about_receptions(db, "resident:amy")) == changes
    assert (await item_states(db, reception_id))["reception-residents"] == ("pending", "")
    await run.run_due(utc("2026-11-26 17:05"))
    assert "Tomorrow, 2026-11-27 (Fri) 9:00-11:30" in (await about_receptions(db, "resident:amy"))[-1]


async def test_a_cancelled_day_is_never_announced(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    reception_id = await add_day(db, settings, district)
    async with db.transaction() as session:
        await rota_changes.cancel_day(
            session, reception_id=reception_id, actor="test", settings=settings, now=NOW, render=notice
        )
    told = len(await about_receptions(db, "resident:bob"))
    run = engine(db, settings)
    await run.run_due(utc("2026-11-25 17:05"))
    await run.run_due(utc("2026-11-26 08:05"))
    assert len(await about_receptions(db, "resident:bob")) == told
    assert set((await item_states(db, reception_id)).values()) == {("skipped", "cancelled")}


async def test_a_day_cancelled_behind_the_schedules_back_is_skipped_when_due(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    """Cancelled outside the storage functions (a hand edit): the job reads the day and skips."""
    reception_id = await add_day(db, settings, district)
    async with db.transaction() as session:
        day = await session.get(ReceptionDay, reception_id)
        assert day is not None
        day.cancelled = True
        session.add(day)
    await engine(db, settings).run_due(utc("2026-11-25 17:05"))
    assert (await item_states(db, reception_id))["reception-residents"] == ("skipped", "cancelled")


async def test_after_downtime_a_notice_comes_late_once_or_is_skipped_once_the_reception_began(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    early = await add_day(db, settings, district, day=THURSDAY, starts=time(9), ends=time(11, 30))
    late = await add_day(db, settings, district, day=THURSDAY, starts=time(14, 30), ends=time(17))
    run = engine(db, settings)
    # Down from before the eve until 10:00 on the day: the 9:00 reception has begun, the 14:30 one has not.
    await run.run_due(utc("2026-11-26 10:00"))
    assert await item_states(db, early) == {
        kind: ("skipped", "too_late") for kind in ("reception-duty", "reception-residents", "reception-morning")
    }
    assert set((await item_states(db, late)).values()) == {("sent", "")}
    [amy] = await about_receptions(db, "resident:amy")
    assert "2026-11-26 (Thu) 14:30-17:00" in amy
    async with db.transaction() as session:
        found = await session.exec(select(DueItem).where(DueItem.key == f"reception-duty:{early}"))
        assert found.one().payload["reason_values"]["expired"] == utc("2026-11-26 09:00").isoformat()
    await run.run_due(utc("2026-11-26 10:01"))
    assert len(await about_receptions(db, "resident:amy")) == 1


async def test_nobody_to_tell_is_a_skip_with_its_reason(db: Database, settings: Settings, district: District) -> None:
    """No one on duty has a chat, and no one subscribed to 东山村's station."""
    reception_id = await add_day(db, settings, district, codes=("D002",), station="东山村党代表工作站")
    await engine(db, settings).run_due(utc("2026-11-25 17:05"))
    states = await item_states(db, reception_id)
    assert states["reception-duty"] == ("skipped", "nobody")
    assert states["reception-residents"] == ("skipped", "nobody")


async def test_the_notices_read_who_is_on_duty_when_they_are_sent(
    db: Database, settings: Settings, district: District, people: None
) -> None:
    reception_id = await add_day(db, settings, district, codes=("T001",))
    async with db.transaction() as session:
        await rota_changes.change_day(
            session,
            reception_id=reception_id,
            representative_ids=[district.representatives["D001"]],
            actor="test",
            settings=settings,
            now=NOW,
            render=notice,
        )
    t001_before = len(await about_receptions(db, "representative:T001"))
    await engine(db, settings).run_due(datetime.fromisoformat("2026-11-25T09:05:00+00:00"))
    assert len(await about_receptions(db, "representative:T001")) == t001_before
    assert "明天 2026-11-26（周四）9:00-11:30 您在" in (await about_receptions(db, "representative:D001"))[-1]
