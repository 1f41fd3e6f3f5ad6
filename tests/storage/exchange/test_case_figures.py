"""The case rates, for a hand-built month of cases, and the cases' export with its masking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from bot.console import CHANNEL
from handlers.notices import render
from storage.db import Database
from storage.exchange import case_export, case_figures
from storage.exchange.case_figures import CaseFigures, CaseReport
from storage.models import Case
from storage.records import cases, households, people
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.factories import District, build_district

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def at(day: str, settings: Settings, hour: int = 10) -> datetime:
    """A local moment (Asia/Shanghai) as the aware UTC time the store keeps."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=settings.zone).astimezone(UTC)


class Desk:
    """Cases made and moved through their lifecycle as the people concerned would, at given moments.

    People are named as in the console: resident:KEY, liaison:O01, department:B01 (区住建局), representative:D001."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.calendar = calendar_of(settings)

    async def actor(self, session: Any, who: str) -> cases.Actor:
        role, _, code = who.partition(":")
        identity = await people.identity_for(session, channel=CHANNEL, external_id=who)
        if role != "resident" and identity.role != role:
            await people.assume_role(session, identity=identity, role=role, code=code, actor="test")
        return cases.Actor(await people.standing_of(session, identity=identity), identity)

    async def submit(self, day: str, category: str, writer: str = "resident:r1", **intake: Any) -> int:
        async with self.db.transaction() as session:
            who = await self.actor(session, writer)
            case = await cases.submit(
                session,
                intake=cases.Intake(
                    source=intake.pop("source", "mailbox"),
                    category=category,
                    text=intake.pop("text", "楼道灯坏了，晚上看不清台阶"),
                    **intake,
                ),
                writer=who.identity,
                actor=who.name,
                settings=self.settings,
                calendar=self.calendar,
                now=at(day, self.settings),
                render=render,
            )
            assert case.id is not None
            return case.id

    async def step(
        self, who: str, action: Callable[..., Awaitable[Case]], case_id: int, day: str, **values: Any
    ) -> Case:
        async with self.db.transaction() as session:
            return await action(
                session,
                who=await self.actor(session, who),
                case_id=case_id,
                settings=self.settings,
                now=at(day, self.settings, hour=15),
                render=render,
                **values,
            )

    async def progress(self, case_id: int, day: str, by: str = "department:B01") -> None:
        await self.step(by, cases.progress, case_id, day, note="已派人查看", to_resident=False, attachment=None)

    async def answer(self, case_id: int, day: str, resolved: bool, by: str = "department:B01") -> None:
        await self.step(by, cases.answer, case_id, day, text="已修好", resolved=resolved, attachment=None)

    async def rate(self, case_id: int, day: str, rating: str, writer: str, handler_at_fault: bool = False) -> None:
        await self.step(
            writer,
            cases.rate,
            case_id,
            day,
            rating=rating,
            reason="",
            handler_at_fault=handler_at_fault,
            calendar=self.calendar,
        )

    async def withdraw(self, case_id: int, day: str, writer: str) -> None:
        await self.step(writer, cases.withdraw, case_id, day)

    async def report(
        self, start: date, end: date, *, by: str | None = None, today: date = date(2026, 12, 1)
    ) -> CaseReport:
        async with self.db.read() as session:
            return await case_figures.case_figures(
                session, start=start, end=end, settings=self.settings, calendar=self.calendar, today=today, by=by
            )


async def a_month_of_cases(db: Database, settings: Settings) -> Desk:
    """November 2026. Housing goes to 区住建局 (B01), environment to 区城管局, "other" to nobody yet. A help case
    (3 working days) registered on Monday 2 November is due on Thursday 5 November.

    区住建局: A acted on the same day, answered resolved, rated satisfied; B acted on the next working day, answered
    unresolved, rated basically satisfied; C answered on the next working day, resolved, rated dissatisfied (not the
    handler's fault: closed); D first acted on two working days later, never answered; H registered on 27 November,
    due in December. 区城管局: E withdrawn. Nobody: F registered on Friday 20 November, due Wednesday 25, not
    touched. G: registered, answered and rated in October (outside the period)."""
    desk = Desk(db, settings)
    a = await desk.submit("2026-11-02", "housing", "resident:a")
    b = await desk.submit("2026-11-02", "housing", "resident:b")
    c = await desk.submit("2026-11-02", "housing", "resident:c")
    d = await desk.submit("2026-11-02", "housing", "resident:d")
    e = await desk.submit("2026-11-02", "environment", "resident:e")
    await desk.submit("2026-11-20", "other", "resident:f")
    await desk.submit("2026-11-27", "housing", "resident:h")
    g = await desk.submit("2026-10-12", "housing", "resident:g")

    await desk.progress(a, "2026-11-02")
    await desk.answer(a, "2026-11-04", resolved=True)
    await desk.rate(a, "2026-11-06", "satisfied", "resident:a")
    await desk.progress(b, "2026-11-03")
    await desk.answer(b, "2026-11-05", resolved=False)
    await desk.rate(b, "2026-11-09", "basic", "resident:b")
    await desk.answer(c, "2026-11-03", resolved=True)
    await desk.rate(c, "2026-11-10", "dissatisfied", "resident:c")
    await desk.progress(d, "2026-11-04")
    await desk.withdraw(e, "2026-11-03", "resident:e")
    await desk.answer(g, "2026-10-13", resolved=True)
    await desk.rate(g, "2026-10-14", "satisfied", "resident:g")
    return desk


def figures(row: CaseFigures) -> dict[str, object]:
    return {
        "registered": row.registered,
        "due": row.due,
        "response": row.response_rate.shown(),
        "resolution": row.resolution_rate.shown(),
        "satisfaction": row.satisfaction_rate.shown(),
        "answered": row.answered,
        "rated": row.rated,
        "overdue": row.overdue,
        "withdrawn": row.withdrawn,
    }


async def test_rates_for_the_district_and_by_department(db: Database, settings: Settings) -> None:
    await build_district(db)
    desk = await a_month_of_cases(db, settings)

    district = await desk.report(*NOVEMBER)
    assert district.rows == []
    assert figures(district.total) == {
        "registered": 7,  # A B C D E F H; G was registered in October
        "due": 5,  # A B C D F; E was withdrawn, H is due in December
        "response": "60%",  # A B C
        "resolution": "40%",  # A C
        "satisfaction": "66.7%",  # A and B of A B C
        "answered": 3,
        "rated": 3,
        "overdue": 2,  # D and F, on 30 November
        "withdrawn": 1,
    }
    assert (district.total.responded, district.total.resolved, district.total.satisfied) == (3, 2, 2)

    by_department = await desk.report(*NOVEMBER, by="department")
    assert [row.label for row in by_department.rows] == ["区住建局", "区城管局", "—"]
    housing, environment, nobody = by_department.rows
    assert figures(housing) == {
        "registered": 5,
        "due": 4,
        "response": "75%",  # 3 of 4: D was first acted on two working days after registration
        "resolution": "50%",
        "satisfaction": "66.7%",
        "answered": 3,
        "rated": 3,
        "overdue": 1,
        "withdrawn": 0,
    }
    # Nothing due and nothing rated: no rate at all, never 0%.
    assert figures(environment) == {
        "registered": 1,
        "due": 0,
        "response": "—",
        "resolution": "—",
        "satisfaction": "—",
        "answered": 0,
        "rated": 0,
        "overdue": 0,
        "withdrawn": 1,
    }
    assert figures(nobody)["response"] == "0%" and figures(nobody)["satisfaction"] == "—"
    assert by_department.total == district.total

    # October alone: G, whose answer came on the day after registration.
    october = await desk.report(date(2026, 10, 1), date(2026, 10, 31))
    assert figures(october.total) == {
        "registered": 1,
        "due": 1,
        "response": "100%",
        "resolution": "100%",
        "satisfaction": "100%",
        "answered": 1,
        "rated": 1,
        "overdue": 0,
        "withdrawn": 0,
    }


async def test_a_response_limit_of_more_days_counts_the_slower_first_step(db: Database, settings: Settings) -> None:
    await build_district(db)
    slower = settings.model_copy(deep=True)
    slower.cases.response_working_days = 2
    await a_month_of_cases(db, settings)
    report = await Desk(db, slower).report(*NOVEMBER, by="department")
    assert report.rows[0].response_rate.shown() == "100%"  # D's first step, two working days on, is now in time


async def test_an_empty_period_shows_no_rates_and_the_table_says_so(db: Database, settings: Settings) -> None:
    await build_district(db)
    desk = await a_month_of_cases(db, settings)
    empty = await desk.report(date(2026, 1, 1), date(2026, 1, 31), by="area")
    assert empty.rows == []
    assert figures(empty.total)["response"] == "—" and empty.total.response_rate.value is None
    header, total = case_figures.report_table(empty)
    assert header[0] == "责任区" and total[0] == "全区"
    assert [total[4], total[6], total[10]] == ["—", "—", "—"]
    assert empty.as_dict()["total"]["satisfaction_rate"] is None


async def test_a_case_rated_twice_in_the_period_counts_once_with_its_last_rating(
    db: Database, settings: Settings
) -> None:
    await build_district(db)
    desk = Desk(db, settings)
    case = await desk.submit("2026-11-02", "housing", "resident:a")
    await desk.answer(case, "2026-11-03", resolved=False)
    await desk.rate(case, "2026-11-04", "dissatisfied", "resident:a", handler_at_fault=True)  # reopened
    reopened = await desk.report(*NOVEMBER)
    assert (reopened.total.rated, reopened.total.satisfied) == (1, 0)
    assert reopened.total.resolution_rate.shown() == "0%"  # reopened: no answer stands, due again on 9 November
    await desk.answer(case, "2026-11-06", resolved=True)
    await desk.rate(case, "2026-11-09", "satisfied", "resident:a")
    again = await desk.report(*NOVEMBER)
    assert (again.total.rated, again.total.satisfied, again.total.answered) == (1, 1, 1)
    assert again.total.resolution_rate.shown() == "100%"


async def test_grouping_by_area_station_and_representative_group(db: Database, settings: Settings) -> None:
    built: District = await build_district(db)
    desk = Desk(db, settings)
    await desk.submit("2026-11-02", "housing", "resident:a", area_id=built.areas["幸福社区一区"])
    await desk.submit("2026-11-02", "housing", "resident:b", area_id=built.areas["东山村一组"])
    await desk.submit(
        "2026-11-03",
        "housing",
        "representative:D002",
        source="report",
        area_id=built.areas["东山村一组"],
        representative_id=built.representatives["D002"],
    )
    await desk.submit("2026-11-04", "other", "resident:c")

    def registered(report: CaseReport) -> dict[str, int]:
        return {row.label: row.registered for row in report.rows}

    assert registered(await desk.report(*NOVEMBER, by="area")) == {"东山村一组": 2, "幸福社区一区": 1, "—": 1}
    assert registered(await desk.report(*NOVEMBER, by="station")) == {
        "东山村党代表工作站": 2,
        "幸福社区党代表工作站": 1,
        "—": 1,
    }
    assert registered(await desk.report(*NOVEMBER, by="group")) == {"幸福街道代表小组": 1, "—": 3}


# --- the export ---------------------------------------------------------------------------------------------


async def test_export_masks_names_and_phones_and_never_shows_an_anonymous_writer(
    db: Database, settings: Settings
) -> None:
    await build_district(db)
    desk = Desk(db, settings)
    named = await desk.submit("2026-11-02", "housing", "resident:w1", name="王芳", phone="13812345678", consent=True)
    await desk.submit("2026-11-02", "housing", "resident:w2", name="欧阳建国", phone="62345")
    await desk.submit("2026-11-03", "environment", "resident:hidden", anonymous=True, name="李四", phone="13900001111")
    await desk.answer(named, "2026-11-04", resolved=True)
    await desk.rate(named, "2026-11-05", "basic", "resident:w1")

    async with db.read() as session:
        masked = await case_export.case_table(session, start=NOVEMBER[0], end=NOVEMBER[1], settings=settings)
        unmasked = await case_export.case_table(
            session, start=NOVEMBER[0], end=NOVEMBER[1], settings=settings, unmasked=True
        )
    header, *data = masked
    assert header == case_export.CASE_HEADERS
    rows = [dict(zip(header, line, strict=True)) for line in data]
    first, second, anonymous = rows
    assert (first["姓名"], first["电话"]) == ("王*", "138****5678")
    assert (second["姓名"], second["电话"]) == ("欧***", "***45")
    assert (anonymous["姓名"], anonymous["电话"], anonymous["匿名"]) == ("", "", "是")
    assert first["诉求编号"] == "LX-2026-000001" and first["登记日期"] == "2026-11-02"
    assert (first["来源"], first["类别"], first["时限类别"], first["状态"]) == (
        "信箱来信",
        "住房物业",
        "求助",
        "已办结",
    )
    assert (first["承办单位"], first["办理期限"], first["期限待定"]) == ("区住建局", "2026-11-05", "否")
    assert (first["答复日期"], first["是否解决"], first["评价"], first["重办次数"]) == (
        "2026-11-04",
        "是",
        "基本满意",
        "0",
    )
    assert anonymous["诉求内容"] == "楼道灯坏了，晚上看不清台阶"  # the concern itself is what is handled

    everything = "\n".join("\t".join(line) for line in masked + unmasked)
    for secret in ("王芳", "13812345678", "62345", "李四", "13900001111", "resident:hidden", "hidden"):
        assert secret not in "\n".join("\t".join(line) for line in masked), secret
    for secret in ("李四", "13900001111", "hidden"):
        assert secret not in everything, secret  # an anonymous writer is not in the store to export

    _, *plain = unmasked
    assert [(line[18], line[19]) for line in plain] == [("王芳", "13812345678"), ("欧阳建国", "62345"), ("", "")]


def test_masks() -> None:
    assert case_export.mask_name("王建国") == "王**"
    assert case_export.mask_name(" 王 ") == "王"
    assert case_export.mask_name("") == ""
    assert households.mask_phone("13812345678") == "138****5678"
    assert households.mask_phone("021-62345678") == "021****5678"
    assert households.mask_phone("12345") == "***45"
    assert households.mask_phone("12") == "**"
    assert households.mask_phone("") == ""
