"""/reception (接待日) as conversations through the console channel, by numbers and by button labels: a resident
finds their station's days and subscribes; a representative confirms a duty, asks for a swap, and notes what they
heard at a reception (a case linked to it); the liaison office adds a day, changes it, answers a swap request and
cancels a day, and those concerned are told."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import handlers.i18n as i18n
from handlers.dialogs import ConfirmStep, Flow
from handlers.reception import NoteFlow, ReceptionFlow
from handlers.reception_office import CHANGES, RotaDayFlow, RotaFlow, coming_day
from storage.db import Database
from storage.errors import InvalidInput
from storage.models import Case, DueItem, ReceptionDay, ReceptionDuty, ReceptionSubscription
from storage.records import reception, schedule
from storage.settings import Settings
from tests.factories import TODAY, Chat, Clock, District, build_district, chat_as
from tests.storage.records.test_reception import add_day, station_id

HAPPY = "幸福社区党代表工作站"
FLOWS: list[Flow] = [ReceptionFlow(), NoteFlow(), RotaFlow(), RotaDayFlow()]


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def rota(db: Database, settings: Settings, district: District) -> dict[str, int]:
    """Today (Wednesday) 9:00-11:30 with D001; Thursday 9:00-11:30 with D001 and T001."""
    return {
        "today": await add_day(db, settings, district, day=TODAY, codes=("D001",)),
        "thursday": await add_day(db, settings, district),
    }


async def waiting(chat: Chat) -> str:
    return "\n\n".join(reply.text for reply in await chat.console.waiting())


async def subscriptions(db: Database) -> list[tuple[str, int]]:
    async with db.transaction() as session:
        found = await session.exec(select(ReceptionSubscription))
        return [(str(row.identity_id), row.station_id) for row in found.all()]


async def test_a_resident_finds_their_station_and_subscribes_by_numbers(
    db: Database, settings: Settings, district: District, rota: dict[str, int], clock: Clock
) -> None:
    amy = await chat_as(db, settings, "resident:amy", clock)
    await amy.talk(
        [
            ("接待日", "请告诉我您住在哪个社区、村或街道"),
            ("幸福", ["找到以下片区", "1. 幸福社区一区（幸福社区党代表工作站）"]),
            (
                "1",
                [
                    "幸福社区党代表工作站（幸福路1号）接下来的接待日：",
                    "📅 2026-11-25（周三）9:00-11:30",
                    "📅 2026-11-26（周四）9:00-11:30\n   地点：幸福路1号\n   值班代表：王建国、张伟",
                    "1. 订阅本站接待日通知",
                    "2. 换一个地方",
                ],
            ),
            ("1", ["✅ 已订阅幸福社区党代表工作站的接待日通知", "您已订阅本站的接待日通知", "1. 退订本站接待日通知"]),
        ]
    )
    assert len(await subscriptions(db)) == 1
    # The area is remembered: next time the days come at once; the button's label works as well as its number.
    await amy.talk(
        [
            ("/reception", ["您已订阅本站的接待日通知", "1. 退订本站接待日通知"]),
            ("退订本站接待日通知", ["已退订幸福社区党代表工作站的接待日通知", "1. 订阅本站接待日通知"]),
        ]
    )
    assert await subscriptions(db) == []
    # Another place: asked again, and remembered.
    await amy.talk(
        [
            ("接待日", "2. 换一个地方"),
            ("2", "请告诉我您住在哪个社区"),
            ("东山村", ["东山村党代表工作站（东山村村委会）接下来的接待日：", "近期还没有安排接待日"]),
        ]
    )


async def test_a_resident_whose_area_the_mailbox_remembered_is_not_asked(
    db: Database, settings: Settings, district: District, rota: dict[str, int]
) -> None:
    amy = await chat_as(db, settings, "resident:amy")
    await amy.talk(
        [("写信", "住在哪个社区"), ("幸福", "找到以下片区"), ("2", "请选择问题的类别"), ("/cancel", "已取消")]
    )
    answer = await amy.send("接待日")
    assert "幸福社区党代表工作站（幸福路1号）接下来的接待日" in answer and "住在哪个社区" not in answer
    # A typed word that is no choice reads as it would without the offer.
    assert "写下" not in await amy.send("你好")


async def test_a_representative_confirms_and_asks_for_a_swap_and_the_office_is_told(
    db: Database, settings: Settings, district: District, rota: dict[str, int], clock: Clock
) -> None:
    rep = await chat_as(db, settings, "representative:D001", clock)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await rep.talk(
        [
            (
                "接待日",
                [
                    "您接下来的接待日值班：",
                    "📅 2026-11-26（周四）9:00-11:30\n   工作站：幸福社区党代表工作站",
                    "您的值班：待确认",
                    "1. 确认值班 11-25",
                    "3. 确认值班 11-26",
                    "4. 申请调班 11-26",
                    "5. 记录接待 11-25",
                ],
            ),
            ("3", ["✅ 已确认 2026-11-26（周四）9:00-11:30 在幸福社区党代表工作站值班", "您的值班：已确认"]),
            ("申请调班 11-26", "请简单说明原因"),
            ("区里临时安排外出开会", ["已提交调班申请", "已申请调班（区里临时安排外出开会）"]),
        ]
    )
    async with db.transaction() as session:
        link = await session.get(ReceptionDuty, (rota["thursday"], district.representatives["D001"]))
        assert link is not None and (link.status, link.note) == ("swap_asked", "区里临时安排外出开会")
    told = await waiting(office)
    assert (
        "王建国（D001）申请调换幸福社区党代表工作站 2026-11-26（周四）9:00-11:30 的接待日值班，"
        "原因：区里临时安排外出开会" in told
    )
    # The office answers from its own /reception: the request is listed, and D002 takes over.
    d002 = await chat_as(db, settings, "representative:D002", clock)
    await office.talk(
        [
            ("接待日", ["调班申请（1条）", "王建国（D001）——区里临时安排外出开会", "3. 处理调班 11-26 D001"]),
            ("3", ["王建国（D001，申请调班：区里临时安排外出开会）", "1. 改日期", "4. 改值班代表"]),
            ("改值班代表", ["现在值班：", "本站代表：D001 王建国、D002 李红梅、T001 张伟"]),
            ("D002 T001", ["✅ 已修改", "值班代表：李红梅（D002，待确认）、张伟（T001，待确认）"]),
        ]
    )
    assert "您不再在幸福社区党代表工作站 2026-11-26（周四）9:00-11:30 的接待日值班" in await waiting(rep)
    assert "您被安排在幸福社区党代表工作站接待日值班：2026-11-26（周四）9:00-11:30" in await waiting(d002)
    assert "目前没有待处理的调班申请" in await office.send("接待日")


async def test_a_duty_that_is_not_theirs_cannot_be_answered(
    db: Database, settings: Settings, district: District, rota: dict[str, int]
) -> None:
    d002 = await chat_as(db, settings, "representative:D002")
    assert "您不在这次接待日的值班名单上" in await d002.send(f"/reception confirm {rota['thursday']}")
    assert "您不在这次接待日的值班名单上" in await d002.send(f"/reception note {rota['today']}")
    amy = await chat_as(db, settings, "resident:amy")
    assert "这一步由联络办公室办理" in await amy.send("/reception add")
    assert "这项功能只对党代表开放" in await amy.send(f"/reception note {rota['today']}")
    async with db.transaction() as session:
        link = await session.get(ReceptionDuty, (rota["thursday"], district.representatives["D002"]))
        assert link is None


async def test_a_note_taken_at_a_reception_opens_a_case_linked_to_it(
    db: Database, settings: Settings, district: District, rota: dict[str, int], clock: Clock
) -> None:
    rep = await chat_as(db, settings, "representative:D001", clock)
    department = await chat_as(db, settings, "department:B01", clock)
    await rep.talk(
        [
            ("接待日", "5. 记录接待 11-25"),
            ("记录接待 11-25", ["这件事在哪个责任区？", "1. 幸福社区一区", "2. 幸福社区二区"]),
            ("1", "请选择问题的类别"),
            ("住房物业", "请写下群众反映的问题和诉求"),
            ("幸福路12号屋顶漏水，楼上住户希望尽快维修。", "可以发照片"),
            ("跳过", "群众愿意留下姓名和电话吗？"),
            ("是", "请输入群众的姓名"),
            ("陈阿姨", "请输入群众的联系电话"),
            ("13912345678", "居民是否同意承办单位打电话联系？"),
            (
                "是",
                [
                    "请核对接待记录",
                    "接待日：幸福社区党代表工作站 2026-11-25（周三）9:00-11:30",
                    "类别：住房物业",
                    "群众：陈阿姨，电话：13912345678",
                ],
            ),
            ("保存", ["✅ 已登记为诉求 LX-2026-000001（住房物业）", "已交给区住建局办理", "1. 再记一件"]),
        ]
    )
    async with db.transaction() as session:
        case = (await session.exec(select(Case))).one()
    assert (case.source, case.reception_id, case.area_id, case.reported) == (
        "reception",
        rota["today"],
        district.areas["幸福社区一区"],
        True,
    )
    assert (case.name, case.phone, case.consent, case.representative_id) == (
        "陈阿姨",
        "13912345678",
        True,
        district.representatives["D001"],
    )
    assert "LX-2026-000001" in await waiting(department)  # 区住建局, as for any case of its category
    # Another one by numbers, without a name: the offer's button starts it again.
    await rep.talk(
        [
            ("1", "这件事在哪个责任区"),
            ("2", "请选择问题的类别"),
            ("11", "请写下群众反映的问题和诉求"),
            ("希望社区多办几场老年人智能手机培训。", "可以发照片"),
            ("1", "群众愿意留下姓名和电话吗？"),
            ("2", ["请核对接待记录", "群众未留姓名"]),
            ("1", "✅ 已登记为诉求 LX-2026-000002（其他）"),
        ]
    )


async def test_the_liaison_office_adds_changes_and_cancels_a_day(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    office = await chat_as(db, settings, "liaison:O01", clock)
    rep = await chat_as(db, settings, "representative:T001", clock)
    amy = await chat_as(db, settings, "resident:amy", clock)
    await office.talk(
        [
            ("接待日", ["接待日安排", "目前没有待处理的调班申请", "1. 添加接待日", "2. 修改或取消接待日"]),
            ("1", "在哪个工作站？"),
            ("党代表工作站", ["找到以下工作站", "1. 东山村党代表工作站", "2. 幸福社区党代表工作站"]),
            ("2", "哪一天？"),
            ("昨天", "日期格式不对。可以回复“明天”“后天”"),
            ("2026-11-24", "2026-11-24 已经过去了"),
            ("12-2", "几点到几点？"),
            ("11:30-9:00", "结束时间 9:00 要晚于开始时间 11:30"),
            ("14:30-17:00", ["在哪里接待？", "1. 在工作站（幸福路1号）"]),
            ("幸福社区活动中心二楼", ["请输入值班代表的编号", "本站代表：D001 王建国、D002 李红梅、T001 张伟"]),
            ("T001 X9", "没有编号为 X9 的党代表"),
            (
                "t001",
                [
                    "请核对接待日安排",
                    "时间：2026-12-02（周三）14:30-17:00",
                    "地点：幸福社区活动中心二楼",
                    "张伟（T001）",
                ],
            ),
            ("改地点", "在哪里接待？"),
            ("1", ["请核对接待日安排", "地点：幸福路1号"]),
            (
                "保存",
                ["✅ 已添加接待日", "📅 2026-12-02（周三）14:30-17:00", "1. 在本站再添加一天", "2. 修改这次接待日"],
            ),
        ]
    )
    assert "您被安排在幸福社区党代表工作站接待日值班：2026-12-02（周三）14:30-17:00" in await waiting(rep)
    async with db.transaction() as session:
        [day] = (await session.exec(select(ReceptionDay))).all()
        assert (day.day, day.starts, day.ends, day.place) == (date(2026, 12, 2), time(14, 30), time(17), "")
    await amy.talk([("接待日", "住在哪个社区"), ("幸福", "找到以下片区"), ("1", "订阅"), ("1", "✅ 已订阅")])
    await office.talk(
        [
            ("2", ["要修改什么？", "1. 改日期", "2. 改时间", "5. 取消这次接待日"]),  # the offer: 修改这次接待日
            ("改时间", "几点到几点"),
            ("15:00-17:00", ["✅ 已修改", "📅 2026-12-02（周三）15:00-17:00"]),
        ]
    )
    changed = "原定 2026-12-02（周三）14:30-17:00，现在是 2026-12-02（周三）15:00-17:00"
    assert changed in await waiting(rep) and changed in await waiting(amy)
    async with db.transaction() as session:
        [item] = [
            item
            for item in await reception_items(session, day.id)
            if item.kind == "reception-morning"  # the morning's notice now expires at the new start
        ]
        assert item.expires_at is not None and item.expires_at.hour == 7  # 15:00 in Shanghai
    await office.talk(
        [
            ("/reception station", "在哪个工作站"),
            ("幸福社区", ["接下来的接待日，请选择要修改的一天", "1. 2026-12-02（周三）15:00-17:00"]),
            ("1", "要修改什么？"),
            ("取消这次接待日", "确定取消这次接待日吗？"),
            ("否", "要修改什么？"),
            ("5", "确定取消"),
            ("是", ["✅ 已取消这次接待日", "❌ 已取消"]),
        ]
    )
    assert "❌ 幸福社区党代表工作站 2026-12-02（周三）15:00-17:00 的接待日已取消" in await waiting(amy)
    assert "的接待日已取消" in await waiting(rep)


async def reception_items(session: AsyncSession, reception_id: int | None) -> list[DueItem]:
    found: list[DueItem] = []
    for kind in reception.KINDS:
        found += await schedule.items_with_prefix(session, prefix=f"{kind}:{reception_id}")
    return found


def test_dates_the_office_types() -> None:
    today = date(2026, 12, 30)
    assert coming_day("明天", today=today) == date(2026, 12, 31)
    assert coming_day("1-5", today=today) == date(2027, 1, 5)  # next January
    assert coming_day("2027年1月6日", today=today) == date(2027, 1, 6)
    for typed, key in (
        ("2026-12-29", "reception.error.past"),
        ("2028-01-01", "reception.error.too_far"),
        ("周三", "reception.error.bad_day"),
    ):
        with pytest.raises(InvalidInput) as refused:
            coming_day(typed, today=today)
        assert refused.value.key == key


def test_every_key_the_reception_flows_build_exists() -> None:
    """Keys made at run time (the engine's flow, help and edit keys, the change buttons) in both languages."""
    keys = [f"flow.{flow.name}" for flow in FLOWS]
    keys += [f"{flow.name}.help.{step.key}" for flow in FLOWS for step in flow.steps]
    keys += [
        f"{step.flow}.edit.{key}"
        for flow in FLOWS
        for step in flow.steps
        if isinstance(step, ConfirmStep)
        for key in step.editable
    ]
    keys += [f"{step.flow}.ask.confirm" for flow in FLOWS for step in flow.steps if isinstance(step, ConfirmStep)]
    keys += [f"reception.button.do_{change}" for change in CHANGES]
    keys += [f"reception.status.{status}" for status in reception.STATUSES]
    keys += ["command.reception.help", "command.reception.menu"]
    for language in i18n.languages():
        missing = [key for key in keys if key not in i18n.catalog(language)]
        assert not missing, (language, missing)


async def test_station_id_helper_agrees_with_the_view(db: Database, district: District) -> None:
    happy = await station_id(db)
    async with db.transaction() as session:
        stations = await reception.find_stations(session, text="幸福社区党代表工作站")
        assert [station.id for station in stations] == [happy]
        assert await session.exec(select(ReceptionDay).where(col(ReceptionDay.station_id) == happy)) is not None
