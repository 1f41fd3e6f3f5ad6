"""The visit-quota reminders as the scheduler runs them at chosen moments: each month's figures and the nudge to
those behind, month after month across month ends, a holiday and the year's end; the reminder of a centralized
round to those without a visit in it; downtime, lateness and quiet hours; what a representative reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlmodel import col, select

from scheduler import jobs
from scheduler.engine import Engine, TickReport
from storage.db import Database
from storage.models import ChatIdentity, DueItem, OutboxMessage, Representative, Visit, VisitCompanion, utcnow
from storage.records import schedule, visits
from storage.records.schedule import Planned
from storage.settings import Settings
from tests.bot.telegram_harness import REP_CHAT, bound_representative, render, running_bot
from tests.factories import Chat, District, build_district, chat_as

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPS = ("D001", "D002", "T001")


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    """A moment in the district's time, as the UTC moment the scheduler is given."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def tuned(settings: Settings, **sections: dict[str, object]) -> Settings:
    """The settings with some values of some sections changed."""
    return settings.model_copy(
        update={name: getattr(settings, name).model_copy(update=values) for name, values in sections.items()}
    )


@pytest.fixture
def small_quota(settings: Settings) -> Settings:
    """Five households a year, so a few visits put a representative ahead or behind: on 1 December an even pace
    is at 4 (5 × 335 / 365), and more than 2 behind is nudged."""
    return tuned(settings, quota={"households_per_year": 5}, reminders={"behind_margin": 2, "nudge_households": 5})


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def bound(db: Database, settings: Settings, codes: Sequence[str] = REPS) -> dict[str, Chat]:
    """Representatives, each bound to a console chat."""
    return {code: await chat_as(db, settings, f"representative:{code}") for code in codes}


async def tick(db: Database, settings: Settings, at: datetime) -> TickReport:
    return await Engine(db, settings, jobs=jobs.JOBS, starters=jobs.STARTERS).run_due(at)


async def visit(
    db: Database,
    district: District,
    code: str,
    address: str,
    day: date,
    *,
    round_code: str = "routine",
    companions: Sequence[str] = (),
) -> None:
    async with db.transaction() as session:
        logged = Visit(
            representative_id=district.representatives[code],
            household_id=district.households[address],
            visited_on=day,
            mode="home",
            round=round_code,
            collective=bool(companions),
        )
        session.add(logged)
        await session.flush()
        assert logged.id is not None
        for companion in companions:
            session.add(VisitCompanion(visit_id=logged.id, representative_id=district.representatives[companion]))


async def leaves_office(db: Database, district: District, code: str) -> None:
    async with db.transaction() as session:
        representative = await session.get(Representative, district.representatives[code])
        assert representative is not None
        representative.active = False
        session.add(representative)


REMINDERS = ("📅", "⏰", "🗓")  # how the monthly figures, the nudge and the round reminder begin, in any language


async def messages(db: Database) -> dict[str, list[OutboxMessage]]:
    """The quota reminders the outbox holds for each representative's chat, oldest first (the other series run
    too: a group leader's weekly digest, say)."""
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    found: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        if str(row.payload.get("text", "")).startswith(REMINDERS):
            found.setdefault(row.chat_key.removeprefix("representative:"), []).append(row)
    return found


def texts(rows: Sequence[OutboxMessage]) -> list[str]:
    return [str(row.payload.get("text", "")) for row in rows]


async def series(db: Database, prefix: str) -> list[DueItem]:
    async with db.transaction() as session:
        return await schedule.items_with_prefix(session, prefix=prefix)


async def item(db: Database, key: str) -> DueItem:
    [found] = [found for found in await series(db, key) if found.key == key]
    return found


# --- the monthly figures and the nudge ------------------------------------------------------------------------


async def test_the_monthly_figures_reach_every_representative_in_office_once(
    db: Database, district: District, small_quota: Settings
) -> None:
    chats = await bound(db, small_quota)
    await leaves_office(db, district, "T001")  # still bound to a chat, but no longer in office
    # D001 visited one household this year: 3 behind the pace of 4. D002 two: 2 behind, not more than the margin.
    await visit(db, district, "D001", "幸福路12号1栋1单元101", date(2026, 3, 2))
    await visit(db, district, "D002", "东山村3组17号", date(2026, 5, 6))
    await visit(db, district, "D002", "和平街5号", date(2026, 6, 1), round_code="2026-H1")

    # On 25 November the series starts: November's first working day has passed, so December's comes next.
    await tick(db, small_quota, local(2026, 11, 25, 10))
    [december] = await series(db, "quota-month:")
    assert (december.key, december.due_at) == ("quota-month:2026-12", local(2026, 12, 1))
    assert not december.urgent
    assert await messages(db) == {}

    await tick(db, small_quota, local(2026, 12, 1, 8, 59))
    assert await messages(db) == {}
    await tick(db, small_quota, local(2026, 12, 1, 9, 0))
    sent = await messages(db)
    assert set(sent) == {"D001", "D002"}  # T001 left office: nothing
    d001 = texts(sent["D001"])
    assert len(d001) == 2  # the figures, then the nudge
    assert "截至2026年12月1日" in d001[0]
    assert "已联系 1/5 户" in d001[0]
    assert "按全年进度此时应达 4 户，落后 3 户" in d001[0]
    assert "入户走访 1 户，占 100%" in d001[0]
    assert sent["D001"][0].payload["buttons"] == [["cmd:/progress", "📊 查看进度"]]
    assert "落后 3 户" in d001[1]
    # The nudge names focus households of D001's own areas not visited this year, must-visits first, heads masked.
    assert "1. 幸福路14号 赵*" in d001[1]
    assert "2. 幸福路12号1栋1单元102 刘*【青年】" in d001[1]
    assert "101" not in d001[1]  # visited this year
    assert "和平街" not in d001[1] and "东山村" not in d001[1]  # no focus category / another's area
    assert "赵强" not in d001[1] and "刘芳" not in d001[1]
    assert [data for data, _ in sent["D001"][1].payload["buttons"]] == ["cmd:/visit", "cmd:/progress"]
    [d002] = texts(sent["D002"])
    assert "已联系 2/5 户" in d002 and "落后 2 户" in d002

    keys = {found.key: found.state for found in await series(db, "")}
    assert keys[f"quota:2026-12:rep-{district.representatives['D001']}"] == "sent"
    assert keys[f"nudge:2026-12:rep-{district.representatives['D001']}"] == "sent"
    assert f"nudge:2026-12:rep-{district.representatives['D002']}" not in keys
    assert not [key for key in keys if key.endswith(f"rep-{district.representatives['T001']}")]
    assert keys["quota-month:2026-12"] == "sent" and keys["quota-month:2027-01"] == "pending"

    # Running again the same day (every tick does) sends nothing more.
    before = sum(len(rows) for rows in (await messages(db)).values())
    for moment in (local(2026, 12, 1, 9, 0), local(2026, 12, 1, 9, 1), local(2026, 12, 1, 17)):
        await tick(db, small_quota, moment)
    assert sum(len(rows) for rows in (await messages(db)).values()) == before

    # What D001 reads on opening the console, and the button's command answers there.
    read = "\n".join(chats["D001"].console.render(reply) for reply in await chats["D001"].console.waiting())
    assert "📅 每月走访提醒" in read and "1. 📊 查看进度" in read
    assert "📊 2026年走访进度" in await chats["D001"].send("/progress")


async def test_the_figures_are_read_when_they_go_out_and_one_who_caught_up_is_not_nudged(
    db: Database, district: District, small_quota: Settings
) -> None:
    """In quiet hours nothing goes out; visits logged meanwhile count, and one who caught up is not nudged."""
    await bound(db, small_quota, ["D001"])
    await tick(db, small_quota, local(2026, 11, 25, 10))
    # The scheduler was down from 08:00 and comes back at 22:00, in quiet hours: the occurrence fans out at 08:00
    # the next morning, within its 72 hours.
    await tick(db, small_quota, local(2026, 12, 1, 22))
    assert await messages(db) == {}
    for address in ("幸福路12号1栋1单元101", "幸福路14号", "和平街5号"):
        await visit(db, district, "D001", address, date(2026, 12, 1))
    await tick(db, small_quota, local(2026, 12, 2, 8))
    [figures] = texts((await messages(db))["D001"])
    assert "已联系 3/5 户" in figures
    assert "截至2026年12月2日" in figures
    # D001 had caught up before the month started: no nudge was planned at all.
    assert not await series(db, "nudge:")


async def test_a_nudge_is_skipped_when_the_representative_caught_up_before_it_went_out(
    db: Database, district: District, small_quota: Settings
) -> None:
    await bound(db, small_quota, ["D001"])
    rep = district.representatives["D001"]
    async with db.transaction() as session:
        await schedule.plan(
            session,
            items=[
                Planned(
                    key=f"nudge:2026-12:rep-{rep}",
                    kind="nudge",
                    due_at=local(2026, 12, 1),
                    payload={"representative_id": rep, "month": "2026-12"},
                )
            ],
            now=local(2026, 12, 1),
        )
    for address in ("幸福路12号1栋1单元101", "幸福路14号", "和平街5号"):
        await visit(db, district, "D001", address, date(2026, 11, 30))
    await tick(db, small_quota, local(2026, 12, 1, 9, 5))
    nudge = await item(db, f"nudge:2026-12:rep-{rep}")
    assert (nudge.state, nudge.reason) == ("skipped", "caught_up")
    assert await messages(db) == {}


async def test_one_who_left_office_or_has_no_chat_is_skipped_with_the_reason(
    db: Database, district: District, small_quota: Settings
) -> None:
    await bound(db, small_quota, ["D001"])
    await leaves_office(db, district, "D001")
    due = local(2026, 12, 1)
    keys = {}
    async with db.transaction() as session:
        for code in ("D001", "D002"):  # D002 was never bound to a chat
            rep = district.representatives[code]
            keys[code] = f"quota:2026-12:rep-{rep}"
            await schedule.plan(
                session,
                items=[Planned(keys[code], "quota", due, payload={"representative_id": rep, "month": "2026-12"})],
                now=due,
            )
    await tick(db, small_quota, due)
    assert (await item(db, keys["D001"])).reason == "out_of_office"
    assert (await item(db, keys["D002"])).reason == "nobody"
    assert await messages(db) == {}


async def test_each_reads_in_their_own_language_and_january_tells_how_the_year_ended(
    db: Database, district: District, small_quota: Settings
) -> None:
    await bound(db, small_quota, ["D001", "D002"])
    async with db.transaction() as session:
        english = (
            await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == "representative:D002"))
        ).one()
        english.language = "en"
        session.add(english)
    for address in ("幸福路12号1栋1单元101", "幸福路14号", "和平街5号", "和平街7号"):
        await visit(db, district, "D001", address, date(2026, 10, 12))
    await tick(db, small_quota, local(2026, 11, 25, 10))
    await tick(db, small_quota, local(2026, 12, 1))
    english_figures, english_nudge = texts((await messages(db))["D002"])
    assert english_figures.startswith("📅 Your monthly visit figures, as of 1.12.2026:")
    assert "📊 My progress" in str((await messages(db))["D002"][0].payload["buttons"])
    assert english_nudge.startswith("⏰ Visit pace: by 1.12.2026 an even pace reaches 4 households")
    assert "1. 东山村3组17号 孙* [Model worker]" in english_nudge  # the addresses are the ledger's

    # On the first working day of 2027 the new year has barely begun: the figures also say how 2026 ended.
    await tick(db, small_quota, (await item(db, "quota-month:2027-01")).due_at)
    january = texts((await messages(db))["D001"])[-1]
    assert "2026年全年共联系 4/5 户。" in january
    assert "📊 2027年走访进度" in january and "已联系 0/5 户" in january
    assert "In 2026 you contacted 0 of 5 households." in texts((await messages(db))["D002"])[-1]


# --- month after month ----------------------------------------------------------------------------------------


def first_working_day(year: int, month: int) -> date:
    """As the statutory calendar has it (chinese_calendar), independently of the scheduler's WorkCalendar."""
    day = date(year, month, 1)
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


async def test_the_series_goes_on_month_after_month_across_a_holiday_month_ends_and_the_years_end(
    db: Database, district: District, settings: Settings
) -> None:
    await bound(db, settings, ["D001"])
    await tick(db, settings, local(2026, 9, 30, 10))
    seen: list[tuple[str, date]] = []
    for _ in range(5):
        [coming] = [found for found in await series(db, "quota-month:") if found.state == "pending"]
        seen.append((coming.key, coming.due_at.astimezone(SHANGHAI).date()))
        assert coming.due_at.astimezone(SHANGHAI).time().isoformat() == "09:00:00"
        await tick(db, settings, coming.due_at)
    # October: 1-7 October are the National Day holiday; the calendar's first working day after it is the 8th, a
    # Thursday. The year after 2026 is not in the calendar yet: January 2027 counts weekends only (1 January is a
    # Friday).
    assert first_working_day(2026, 10) == date(2026, 10, 8)
    assert seen == [
        ("quota-month:2026-10", date(2026, 10, 8)),
        ("quota-month:2026-11", date(2026, 11, 2)),
        ("quota-month:2026-12", date(2026, 12, 1)),
        ("quota-month:2027-01", date(2027, 1, 1)),
        ("quota-month:2027-02", date(2027, 2, 1)),
    ]
    # The figures every month; a nudge while more than 10 behind an even pace through 100 households a year: in
    # October, November and December, not in January (0 expected yet) nor February (8).
    sent = [text[:1] for text in texts((await messages(db))["D001"])]
    assert sent == ["📅", "⏰", "📅", "⏰", "📅", "⏰", "📅", "📅"]


async def test_the_series_starts_with_this_months_occurrence_when_its_time_has_not_come(
    db: Database, district: District, settings: Settings
) -> None:
    await tick(db, settings, local(2026, 11, 30, 10))
    [december] = await series(db, "quota-month:")
    assert (december.key, december.due_at) == ("quota-month:2026-12", local(2026, 12, 1))


async def test_an_occurrence_due_in_a_downtime_is_sent_once_after_the_restart(
    db: Database, district: District, small_quota: Settings
) -> None:
    await bound(db, small_quota, ["D001", "D002"])
    await tick(db, small_quota, local(2026, 11, 25, 10))
    # Down from 08:30 to 10:30 on 1 December: the 09:00 occurrence goes out at the restart, and only then.
    await tick(db, small_quota, local(2026, 12, 1, 8, 30))
    assert await messages(db) == {}
    for moment in (local(2026, 12, 1, 10, 30), local(2026, 12, 1, 10, 30, 15), local(2026, 12, 1, 10, 31)):
        await tick(db, small_quota, moment)
    sent = await messages(db)
    assert [len(sent[code]) for code in ("D001", "D002")] == [2, 2]  # figures and nudge, once each
    december = await item(db, "quota-month:2026-12")
    assert (december.state, december.done_at) == ("sent", local(2026, 12, 1, 10, 30))


async def test_an_occurrence_past_its_maximum_lateness_is_skipped_and_the_series_goes_on(
    db: Database, district: District, small_quota: Settings
) -> None:
    await bound(db, small_quota, ["D001"])
    await tick(db, small_quota, local(2026, 11, 25, 10))
    # Down from 25 November to the morning of 4 December: 73 hours after December's occurrence was due.
    await tick(db, small_quota, local(2026, 12, 4, 10))
    december = await item(db, "quota-month:2026-12")
    assert (december.state, december.reason) == ("skipped", "too_late")
    assert december.payload["reason_values"] == {"expired": local(2026, 12, 4, 9).isoformat()}
    assert await messages(db) == {}
    await tick(db, small_quota, local(2026, 12, 4, 10, 0, 15))  # the next tick starts the series again
    assert (await item(db, "quota-month:2027-01")).state == "pending"


# --- the centralized rounds -----------------------------------------------------------------------------------


async def test_the_round_reminder_goes_to_those_without_a_visit_in_the_round(
    db: Database, district: District, settings: Settings
) -> None:
    chats = await bound(db, settings)
    # D001 logged a centralized visit of the second half-year with D002 along; T001 only routine visits, and one
    # in the first half-year's round.
    await visit(db, district, "D001", "幸福路14号", date(2026, 9, 15), round_code="2026-H2", companions=["D002"])
    await visit(db, district, "T001", "和平街7号", date(2026, 10, 3))
    await visit(db, district, "T001", "和平街5号", date(2026, 4, 3), round_code="2026-H1")

    await tick(db, settings, local(2026, 11, 25, 10))
    [reminder] = await series(db, "round-reminder:")
    # 14 days before the round's last day, 31 December.
    assert (reminder.key, reminder.due_at) == ("round-reminder:2026-H2", local(2026, 12, 17))
    await tick(db, settings, local(2026, 12, 17))
    sent = await messages(db)
    rounds = {code: [text for text in texts(rows) if "集中走访提醒" in text] for code, rows in sent.items()}
    assert set(code for code, found in rounds.items() if found) == {"T001"}
    [text] = rounds["T001"]
    assert "2026年下半年的集中走访将于2026年12月31日结束（还有14天）" in text
    assert "选“集中走访（2026年下半年）”" in text
    assert [row.payload["buttons"] for row in sent["T001"] if "集中走访提醒" in row.payload["text"]] == [
        [["cmd:/visit", "📝 记录走访"]]
    ]
    # The next round's reminder is planned: the first half of 2027 closes on 30 June.
    assert (await item(db, "round-reminder:2027-H1")).due_at == local(2027, 6, 16)

    # The button starts the visit flow, whose round step offers that choice.
    await chats["T001"].console.waiting()
    assert "走访哪一户" in await chats["T001"].send("/visit")


async def test_a_round_reminder_is_not_sent_once_the_round_has_closed(
    db: Database, district: District, settings: Settings
) -> None:
    last_day = tuned(settings, reminders={"round_days_before": 1})  # due 30 December 09:00; 48 h would be 1 January
    await bound(db, last_day, ["D001"])
    await tick(db, last_day, local(2026, 11, 25, 10))
    reminder = await item(db, "round-reminder:2026-H2")
    assert reminder.due_at == local(2026, 12, 30)
    assert reminder.expires_at == local(2027, 1, 1, 0)  # the round closes at midnight, before 48 hours are up
    await tick(db, last_day, local(2027, 1, 1, 8, 30))  # back after the round closed
    reminder = await item(db, "round-reminder:2026-H2")
    assert (reminder.state, reminder.reason) == ("skipped", "too_late")
    assert not [text for text in texts((await messages(db)).get("D001", [])) if "集中走访" in text]


async def test_a_round_reminder_is_skipped_for_one_who_took_part_before_it_went_out(
    db: Database, district: District, settings: Settings
) -> None:
    await bound(db, settings, ["T001"])
    rep = district.representatives["T001"]
    key = f"round:2026-H2:rep-{rep}"
    async with db.transaction() as session:
        payload = {"representative_id": rep, "round": "2026-H2", "last_day": "2026-12-31"}
        await schedule.plan(
            session, items=[Planned(key, "round", local(2026, 12, 17), payload=payload)], now=local(2026, 12, 17)
        )
    await visit(db, district, "D001", "幸福路14号", date(2026, 12, 17), round_code="2026-H2", companions=["T001"])
    await tick(db, settings, local(2026, 12, 17, 9, 1))
    assert (await item(db, key)).reason == "round_visited"


async def test_without_rounds_there_is_no_round_reminder(db: Database, district: District, settings: Settings) -> None:
    no_rounds = tuned(settings, quota={"centralized_rounds_per_year": 0})
    await bound(db, no_rounds, ["D001"])
    await tick(db, no_rounds, local(2026, 11, 25, 10))
    assert await series(db, "round-reminder:") == []
    assert await series(db, "quota-month:") != []


async def test_four_rounds_a_year_close_each_quarter(db: Database, district: District, settings: Settings) -> None:
    quarterly = tuned(settings, quota={"centralized_rounds_per_year": 4})
    await tick(db, quarterly, local(2026, 11, 25, 10))
    reminder = await item(db, "round-reminder:2026-P4")
    assert reminder.due_at == local(2026, 12, 17)
    await tick(db, quarterly, reminder.due_at)
    assert (await item(db, "round-reminder:2027-P1")).due_at == local(2027, 3, 17)


async def test_nothing_here_is_urgent(db: Database, district: District, small_quota: Settings) -> None:
    """Quiet hours hold every item of these series back (only urgent ones go out at night)."""
    await bound(db, small_quota)
    await tick(db, small_quota, local(2026, 11, 25, 10))
    await tick(db, small_quota, local(2026, 12, 1))
    await tick(db, small_quota, local(2026, 12, 17))
    found = await series(db, "")
    assert found and not [row.key for row in found if row.urgent]


# --- through Telegram -----------------------------------------------------------------------------------------


async def test_a_representative_on_telegram_reads_the_reminders_and_their_buttons_answer(
    db: Database, district: District, settings: Settings, tmp_path: Path
) -> None:
    """The real channel against the fake Bot API: the reminders arrive with their buttons, and pressing one is
    typing its command. Run at the real time (the sender sends what is due now), without quiet hours."""
    awake = tuned(settings, scheduler={"quiet_hours": ""})
    async with running_bot(db, awake, tmp_path / "files", fast=True) as harness:
        await bound_representative(harness)
        now = utcnow()
        today = now.astimezone(SHANGHAI).date()
        round_code = visits.round_id(today, per_year=2)
        assert round_code is not None
        _, last_day = visits.round_span(round_code, per_year=2)
        rep = district.representatives["D001"]
        month = f"{today.year}-{today.month:02}"
        async with db.transaction() as session:
            await schedule.plan(
                session,
                items=[
                    Planned(
                        f"quota:{month}:rep-{rep}", "quota", now, payload={"representative_id": rep, "month": month}
                    ),
                    Planned(
                        f"round:{round_code}:rep-{rep}",
                        "round",
                        now,
                        payload={"representative_id": rep, "round": round_code, "last_day": last_day.isoformat()},
                    ),
                ],
                now=now,
            )
        await tick(db, awake, now)
        await harness.settle()
        shown = [render(message) for message in harness.server.sent(REP_CHAT)]
        [figures] = [text for text in shown if text.startswith("📅")]
        [reminder] = [text for text in shown if text.startswith("🗓")]
        assert "📅 每月走访提醒" in figures and figures.endswith("[📊 查看进度]")
        assert "集中走访提醒" in reminder and reminder.endswith("[📝 记录走访]")
        # A press answers in the message it was on: the figures become /progress in detail, the round reminder the
        # visit flow's first question.
        await harness.press(REP_CHAT, "📊 查看进度")
        shown = [render(message) for message in harness.server.sent(REP_CHAT)]
        assert [text for text in shown if f"📊 {today.year}年走访进度" in text and "五必访" in text]
        assert "走访哪一户" in await harness.press(REP_CHAT, "📝 记录走访")
