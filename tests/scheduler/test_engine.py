"""The engine under a controlled clock: an item is sent once however late, skipped once useless, held in quiet
hours unless urgent, retried when its job fails; two engines at once never send one item twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from handlers.dialogs import COMMAND_BUTTON
from handlers.events import Button, Reply
from scheduler import jobs
from scheduler.engine import Engine, JobContext, Skip, quiet
from scheduler.notices import notice_item
from storage.db import Database
from storage.delivery import outbox
from storage.models import ChatIdentity, DueItem, OutboxMessage
from storage.records import cases, schedule
from storage.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.factories import Clock, build_district, chat_as

# 10:00 in Shanghai on Wednesday 2026-11-25.
T = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
MESSAGE = "access.unbound"  # any catalog message without placeholders


def engine(db: Database, settings: Settings, **extra: object) -> Engine:
    return Engine(db, settings, jobs={**jobs.JOBS, **extra}, starters=())  # type: ignore[dict-item]


async def people(db: Database, count: int) -> list[int]:
    async with db.transaction() as session:
        made = [ChatIdentity(channel="console", external_id=f"resident:{number}") for number in range(count)]
        session.add_all(made)
        await session.flush()
        return [person.id or 0 for person in made]


async def plan(db: Database, *items: schedule.Planned) -> None:
    async with db.transaction() as session:
        await schedule.plan(session, items=list(items), now=T - timedelta(days=1))


async def sent_to(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.exec(select(OutboxMessage.chat_key).order_by(col(OutboxMessage.id)))).all())


async def item(db: Database, key: str) -> DueItem:
    async with db.read() as session:
        return (await session.exec(select(DueItem).where(DueItem.key == key))).one()


async def test_an_item_due_during_two_hours_of_downtime_is_sent_once_after_the_restart(
    db: Database, settings: Settings
) -> None:
    (person,) = await people(db, 1)
    due = T + timedelta(minutes=30)
    await plan(db, notice_item(key="notice:a", identity_id=person, message=MESSAGE, due_at=due))
    running = engine(db, settings)
    assert (await running.run_due(T)).sent == 0  # the last tick before the machine went down: not due yet
    assert await sent_to(db) == []

    restarted = engine(db, settings)
    report = await restarted.run_due(T + timedelta(hours=2))  # back after two hours: the item is 90 minutes late
    assert (report.sent, report.skipped) == (1, 0)
    assert await sent_to(db) == ["resident:0"]
    for minutes in (1, 15, 60):  # the ticks after it find nothing more to do
        assert (await restarted.run_due(T + timedelta(hours=2, minutes=minutes))).sent == 0
    assert await sent_to(db) == ["resident:0"]
    done = await item(db, "notice:a")
    assert (done.state, done.done_at) == ("sent", T + timedelta(hours=2))


async def test_an_item_past_its_maximum_lateness_is_skipped_with_the_reason(db: Database, settings: Settings) -> None:
    (person,) = await people(db, 1)
    due = T + timedelta(minutes=30)
    await plan(
        db,
        notice_item(
            key="notice:late", identity_id=person, message=MESSAGE, due_at=due, expires_at=due + timedelta(hours=1)
        ),
    )
    report = await engine(db, settings).run_due(T + timedelta(hours=2))
    assert (report.sent, report.skipped) == (0, 1)
    assert await sent_to(db) == []
    skipped = await item(db, "notice:late")
    assert (skipped.state, skipped.reason) == ("skipped", "too_late")
    assert skipped.payload["reason_values"]["expired"].startswith("2026-11-25T03:30")
    async with db.read() as session:
        overview = await schedule.overview(session)
    assert [shown.key for shown in overview.skipped] == ["notice:late"]
    assert overview.counts["skipped"] == 1


async def test_quiet_hours_hold_what_can_wait_until_the_morning(db: Database, settings: Settings) -> None:
    calm, alarm = await people(db, 2)
    evening = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    await plan(
        db,
        notice_item(key="notice:calm", identity_id=calm, message=MESSAGE, due_at=evening),
        notice_item(key="notice:alarm", identity_id=alarm, message=MESSAGE, due_at=evening, urgent=True),
    )
    running = engine(db, settings)
    assert quiet(settings, evening) and quiet(settings, evening + timedelta(hours=10, minutes=29))
    await running.run_due(evening)
    assert await sent_to(db) == ["resident:1"]  # the urgent one goes at once
    await running.run_due(evening + timedelta(hours=10, minutes=29))  # 07:59 the next morning: still quiet
    assert await sent_to(db) == ["resident:1"]
    morning = evening + timedelta(hours=10, minutes=30)  # 08:00
    assert not quiet(settings, morning)
    await running.run_due(morning)
    assert await sent_to(db) == ["resident:1", "resident:0"]


def with_scheduler(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"scheduler": settings.scheduler.model_copy(update=changes)})


def test_quiet_hours_that_do_not_cross_midnight_and_none_at_all(settings: Settings) -> None:
    lunch = with_scheduler(settings, quiet_hours="12:00-14:00")
    assert quiet(lunch, datetime(2026, 11, 25, 4, 30, tzinfo=UTC))  # 12:30 local
    assert not quiet(lunch, datetime(2026, 11, 25, 14, 0, tzinfo=UTC))  # 22:00 local
    never = with_scheduler(settings, quiet_hours="")
    assert not quiet(never, datetime(2026, 11, 25, 15, 0, tzinfo=UTC))


async def test_a_job_that_fails_is_rolled_back_tried_again_and_given_up_after_three_tries(
    db: Database, settings: Settings
) -> None:
    tries: list[datetime] = []

    async def flaky(ctx: JobContext, due: DueItem) -> None:
        tries.append(ctx.now)
        # Written straight to the outbox, as storage functions do, before the job fails.
        half = outbox.NewMessage(channel="console", chat_key="resident:x", payload={"text": "half-written"})
        await outbox.enqueue(ctx.session, messages=[half], now=ctx.now)
        raise RuntimeError("the department's system is down")

    await plan(db, schedule.Planned(key="flaky:1", kind="flaky", due_at=T))
    running = engine(db, settings, flaky=flaky)
    first = await running.run_due(T)
    assert (first.sent, first.failed) == (0, 0)  # not given up yet: tried again later
    waiting = await item(db, "flaky:1")
    assert (waiting.state, waiting.attempts, waiting.due_at) == ("pending", 1, T + schedule.RETRY)
    assert (await running.run_due(T + timedelta(minutes=1))).failed == 0  # not due again yet
    await running.run_due(T + schedule.RETRY)
    last = await running.run_due(T + 2 * schedule.RETRY)
    assert last.failed == 1
    assert len(tries) == 3
    given_up = await item(db, "flaky:1")
    assert (given_up.state, given_up.reason, given_up.payload["reason_values"]) == (
        "failed",
        "error",
        {"error": "RuntimeError"},
    )
    assert await sent_to(db) == []  # what a failed job wrote was rolled back with it
    assert (await running.run_due(T + timedelta(days=1))).anything is False


async def test_a_skip_and_an_unknown_kind_are_recorded(db: Database, settings: Settings) -> None:
    async def useless(ctx: JobContext, due: DueItem) -> None:
        raise Skip("cancelled")

    await plan(
        db,
        schedule.Planned(key="useless:1", kind="useless", due_at=T),
        schedule.Planned(key="mystery:1", kind="mystery", due_at=T),
    )
    report = await engine(db, settings, useless=useless).run_due(T)
    assert (report.skipped, report.failed) == (1, 1)
    assert ((await item(db, "useless:1")).state, (await item(db, "useless:1")).reason) == ("skipped", "cancelled")
    assert ((await item(db, "mystery:1")).state, (await item(db, "mystery:1")).reason) == ("failed", "unknown_kind")


async def test_planning_an_occurrence_twice_plans_it_once_and_update_moves_only_a_pending_one(
    db: Database, settings: Settings
) -> None:
    (person,) = await people(db, 1)
    first = notice_item(key="notice:x", identity_id=person, message=MESSAGE, due_at=T)
    async with db.transaction() as session:
        assert await schedule.plan(session, items=[first, first], now=T) == 1
        assert await schedule.plan(session, items=[first], now=T) == 0
        moved = notice_item(key="notice:x", identity_id=person, message=MESSAGE, due_at=T + timedelta(hours=1))
        await schedule.plan(session, items=[moved], now=T, update=True)
    assert (await item(db, "notice:x")).due_at == T + timedelta(hours=1)
    await engine(db, settings).run_due(T + timedelta(hours=1))
    async with db.transaction() as session:
        await schedule.plan(session, items=[first], now=T, update=True)  # sent already: stays as it was
    done = await item(db, "notice:x")
    assert (done.state, done.due_at) == ("sent", T + timedelta(hours=1))


async def test_a_batch_larger_than_one_transaction_is_sent_whole(db: Database, settings: Settings) -> None:
    small = with_scheduler(settings, batch=7)
    ids = await people(db, 30)
    await plan(db, *(notice_item(key=f"notice:{n}", identity_id=n, message=MESSAGE, due_at=T) for n in ids))
    report = await engine(db, small).run_due(T)
    assert report.sent == 30
    assert sorted(await sent_to(db)) == sorted(f"resident:{number}" for number in range(30))


@pytest.mark.skipif(not POSTGRES_URL, reason="set LIANXIN_TEST_DATABASE_URL: claiming with SKIP LOCKED is PostgreSQL's")
async def test_two_engines_at_once_on_postgresql_send_every_item_once(db: Database, settings: Settings) -> None:
    """Leadership keeps a second scheduler idle; were two to run anyway, claims skip each other's rows."""
    small = with_scheduler(settings, batch=50)
    ids = await people(db, 1000)
    await plan(db, *(notice_item(key=f"notice:{n}", identity_id=n, message=MESSAGE, due_at=T) for n in ids))
    first, second = Database(db.url), Database(db.url)
    try:
        reports = await asyncio.gather(engine(first, small).run_due(T), engine(second, small).run_due(T))
    finally:
        await first.dispose()
        await second.dispose()
    assert sum(report.sent for report in reports) == 1000
    assert all(report.sent > 0 for report in reports), "both engines should have claimed a share"
    async with db.read() as session:
        per_chat = await session.exec(
            select(OutboxMessage.chat_key, func.count()).group_by(col(OutboxMessage.chat_key))
        )
        counts = dict(per_chat.all())
    assert len(counts) == 1000 and set(counts.values()) == {1}


async def test_a_notice_offering_commands_lets_a_typed_number_pick_one_unless_a_dialog_is_open(
    db: Database, settings: Settings
) -> None:
    """The console (and any channel without buttons) numbers a notice's buttons: "1" then types its command."""
    district = await build_district(db)
    clock = Clock(T)
    rep = await chat_as(db, settings, "representative:D001", clock)
    busy = await chat_as(db, settings, "representative:T001", clock)
    assert "走访哪一户" in await busy.send("/visit")

    async def figures(ctx: JobContext, due: DueItem) -> None:
        for code in ("D001", "T001"):
            for person in await cases.chats_of_representative(ctx.session, district.representatives[code]):
                button = Button(f"{COMMAND_BUTTON}/progress", "查看进度")
                ctx.send(person, Reply("本月走访情况", (button,)).to_payload())

    await plan(db, schedule.Planned(key="figures:1", kind="figures", due_at=T))
    await engine(db, settings, figures=figures).run_due(T)
    shown = "\n".join(rep.console.render(reply) for reply in await rep.console.waiting())
    assert "本月走访情况" in shown and "1. 查看进度" in shown
    assert "2026年走访进度" in await rep.send("1")
    assert "2026年走访进度" not in await busy.send("1")  # the open visit took the "1" as its answer
