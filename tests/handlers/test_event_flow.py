"""/events (活动安排) as conversations through the console channel, by numbers and by button labels: the liaison
office schedules an event (the invited are told) and opens its attendance, cancels it; a representative sees their
invitations and this year's attendance, attends, is excused (a reason is required) and checks in, by button or by
sharing a location within the radius, only while check-in is open; only the invited answer."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import DueItem, EventInvitation, ProgrammeEvent
from storage.records import events
from storage.settings import Settings
from tests.factories import Chat, Clock, District, build_district, chat_as
from tests.storage.records.test_events import add_event, invitations
from tests.storage.records.test_reception import utc

INVITED = "📣 邀请您参加培训「党章学习培训」"


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def waiting(chat: Chat) -> str:
    return "\n\n".join(chat.console.render(reply) for reply in await chat.console.waiting())


async def the_event(db: Database) -> ProgrammeEvent:
    async with db.transaction() as session:
        return (await session.exec(select(ProgrammeEvent).order_by(col(ProgrammeEvent.id).desc()).limit(1))).one()


async def test_the_office_schedules_an_event_by_numbers_and_the_invited_are_told(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    d001 = await chat_as(db, settings, "representative:D001", clock)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            ("活动安排", ["今年还没有安排活动", "1. 安排活动"]),
            ("1", ["安排什么活动？", "1. 培训", "2. 集体活动", "3. 集中走访"]),
            ("1", "活动名称是什么？"),
            ("党章学习培训", ["发给哪些党代表？", "2. 区级党代表"]),
            ("2", "哪一天？"),
            ("2026-11-20", "2026-11-20 已经过去了"),  # the rota's own words for a day that has passed
            ("明天", "几点到几点？"),
            ("11:30-9:00", "结束时间"),
            ("9:00-11:30", "在哪里举行？"),
            ("区委党校", ["请分享活动地点的位置", "1. 不设定位置（点按钮签到）", "/location"]),
            (
                "/location 30.7 111.3",
                [
                    "请核对这项活动",
                    "范围：区级党代表",
                    "时间：2026-11-26（周四）9:00-11:30",
                    "签到：在活动地点500米内分享位置签到",
                    "1. 保存",
                ],
            ),
            ("1", ["✅ 已安排，2位党代表已收到邀请", "1. 查看出勤", "2. 全部活动"]),
            (
                "1",
                [
                    "受邀代表（2人）",
                    "• 王建国（D001）：未回复",
                    "• 李红梅（D002）：未回复",
                    "1. 改时间",
                    "2. 取消这项活动",
                ],
            ),
        ]
    )
    event = await the_event(db)
    assert (event.kind, event.latitude, event.longitude, event.scope) == ("training", 30.7, 111.3, "level:district")
    assert set(await invitations(db, event.id or 0)) == {"D001", "D002"}
    told = await waiting(d001)
    assert INVITED in told and "1. 参加" in told and "2. 请假" in told
    async with db.transaction() as session:
        planned = (await session.exec(select(DueItem).where(DueItem.kind == events.EVE))).one()
    assert planned.due_at == utc("2026-11-25 17:00")


async def test_the_office_schedules_by_labels_without_a_location_and_cancels(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    d001 = await chat_as(db, settings, "representative:D001", clock)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            ("/events add", "安排什么活动？"),
            ("集体活动", "活动名称是什么？"),
            ("社区议事", "发给哪些党代表？"),
            ("幸福街道", "哪一天？"),  # a group found by part of its name
            ("12-02", "几点到几点？"),
            ("14:00-16:00", "在哪里举行？"),
            ("幸福社区活动室", "请分享活动地点的位置"),
            ("不设定位置（点按钮签到）", ["范围：幸福街道代表小组", "签到：点按钮签到"]),
            ("改名称", "活动名称是什么？"),
            ("社区议事会", ["📌 集体活动：社区议事会", "2026-12-02（周三）14:00-16:00"]),
            ("保存", "✅ 已安排，3位党代表已收到邀请"),
            (
                "全部活动",
                ["📌 集体活动：社区议事会", "邀请 3 人：参加 0，请假 0，已签到 0", "2. 12-02 集体活动：社区议事会"],
            ),
            ("2", "2. 取消这项活动"),
            ("取消这项活动", ["确定取消这项活动吗？", "1. 否", "2. 是"]),
            ("否", "受邀代表（3人）"),
        ]
    )
    event = await the_event(db)
    assert not event.cancelled
    await waiting(d001)
    await office.talk(
        [
            (f"/events {event.id} cancel", "确定取消这项活动吗？"),
            ("2", ["✅ 已取消，受邀的党代表已收到通知", "❌ 已取消"]),
        ]
    )
    assert "❌ 集体活动「社区议事会」（2026-12-02（周三）14:00-16:00）已取消。" in await waiting(d001)
    async with db.transaction() as session:
        item = (await session.exec(select(DueItem).where(DueItem.kind == events.EVE))).one()
    assert (item.state, item.reason) == ("skipped", "cancelled")


async def test_a_representative_attends_and_is_excused_with_a_reason_by_numbers(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    event_id = await add_event(db, settings)
    d001 = await chat_as(db, settings, "representative:D001", clock)
    await d001.talk(
        [
            (
                "活动安排",
                [
                    "今年已参加培训 0/1 次，集体活动 0/2 次。",
                    "📌 培训：党章学习培训",
                    "您的回复：未回复",
                    "1. 11-26 培训：党章学习培训",
                ],
            ),
            ("1", ["1. 参加", "2. 请假", "3. 全部活动"]),
            ("1", ["✅ 已回复参加。", "您的回复：参加", "1. 请假"]),
            ("1", "请说明不能参加「党章学习培训」的原因"),
            ("   ", "请"),  # nothing written: asked again
            ("区人大会议", ["✅ 已请假", "您的回复：请假（区人大会议）", "1. 参加"]),
        ]
    )
    link = (await invitations(db, event_id))["D001"]
    assert (link.answer, link.reason) == ("excused", "区人大会议")


async def test_check_in_by_location_inside_and_outside_the_radius_and_the_window(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    event_id = await add_event(db, settings)
    d001 = await chat_as(db, settings, "representative:D001", clock)
    # The day before: no check-in button, and the command is refused with when it opens.
    assert "签到" not in (await d001.send(f"/events {event_id}")).split("您的回复")[1]
    await d001.talk([(f"/events {event_id} checkin", "现在不能签到：签到时间是 2026-11-26 8:00 到 11:30。")])
    clock.now = utc("2026-11-26 08:40")
    await d001.talk(
        [
            (f"/events {event_id}", ["1. 分享位置签到", "2. 参加", "3. 请假"]),
            ("1", ["请分享您现在的位置", "500米内", "/location"]),
            ("/location 30.71 111.3", ["您离活动地点约 1112 米，需在 500 米内才能签到", "请分享您现在的位置"]),
            ("好的", "这一步需要位置，收到的是文字。"),
        ]
    )
    assert (await invitations(db, event_id))["D001"].checked_in_at is None
    await d001.talk([("/location 30.701 111.3", ["✅ 签到成功。", "您的回复：✅ 已签到（8:40）"])])
    link = (await invitations(db, event_id))["D001"]
    assert (link.check_in_by, link.distance_m, link.answer) == ("location", 111, "attend")
    await d001.talk([(f"/events {event_id} checkin", "您已经签到过了。")])


async def test_check_in_by_button_and_only_the_invited(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    event_id = await add_event(db, settings, place=None, scope="level:district")
    clock.now = utc("2026-11-26 09:10")
    d001 = await chat_as(db, settings, "representative:D001", clock)
    await d001.talk(
        [
            ("活动安排", "1. 11-26 培训：党章学习培训"),
            ("11-26 培训：党章学习培训", "1. 签到"),
            ("签到", ["✅ 签到成功。", "✅ 已签到（9:10）"]),
            ("活动安排", "今年已参加培训 1/1 次，集体活动 0/2 次。"),
            # Checked in, the answer stands: an old invitation's 请假 cannot count them as both.
            (f"/events {event_id} excuse", "您已经签到，出勤已记录，不能再改为参加或请假。"),
        ]
    )
    assert (await invitations(db, event_id))["D001"].answer != "excused"
    t001 = await chat_as(db, settings, "representative:T001", clock)
    for verb in ("", " attend", " excuse", " checkin"):
        await t001.talk([(f"/events {event_id}{verb}", "您没有受邀参加这项活动。")])
    await t001.talk([("活动安排", "您近期没有受邀参加的活动。")])
    assert (await invitations(db, event_id))["D001"].check_in_by == "button"


async def test_the_office_cannot_answer_and_residents_do_not_see_events(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    event_id = await add_event(db, settings)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            (f"/events {event_id} attend", "您没有受邀参加这项活动。"),
            (f"/events {event_id}x", "请说明是哪一项活动"),
            ("/events 999", "没有找到这项活动。"),
        ]
    )
    amy = await chat_as(db, settings, "resident:amy", clock)
    await amy.talk([("活动安排", "这项功能只对党代表开放"), (f"/events {event_id} cancel", "这项功能只对党代表开放")])
    d001 = await chat_as(db, settings, "representative:D001", clock)
    await d001.talk(
        [(f"/events {event_id} cancel", "这一步由联络办公室办理。"), ("/events add", "这一步由联络办公室办理。")]
    )
    async with db.transaction() as session:
        assert (await session.get(EventInvitation, (event_id, district.representatives["D001"]))) is not None


async def test_the_office_moves_an_event_and_the_invited_hear_of_it(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    event_id = await add_event(db, settings, scope="level:district")
    d001 = await chat_as(db, settings, "representative:D001", clock)
    office = await chat_as(db, settings, "liaison:O01", clock)
    await office.talk(
        [
            (f"/events {event_id}", ["1. 改时间", "2. 取消这项活动"]),
            ("改时间", "哪一天？"),
            ("12-01", "几点到几点？"),
            ("14:00-16:00", ["✅ 已改时间", "时间：2026-12-01（周二）14:00-16:00"]),
        ]
    )
    told = await waiting(d001)
    assert "原定：2026-11-26（周四）9:00-11:30" in told and "现在：2026-12-01（周二）14:00-16:00" in told
    async with db.transaction() as session:
        items = (await session.exec(select(DueItem).where(DueItem.kind == events.EVE).order_by(col(DueItem.id)))).all()
    # The first day's reminder is skipped, the new day's planned.
    assert [(item.state, item.due_at) for item in items] == [
        ("skipped", utc("2026-11-25 17:00")),
        ("pending", utc("2026-11-30 17:00")),
    ]
    await d001.talk([(f"/events {event_id} time", "这一步由联络办公室办理。")])
