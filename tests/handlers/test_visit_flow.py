"""The visit flow as conversations through the console channel: what is sent, what must come back and be stored."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import col, select

from handlers.events import Reply
from storage.db import Database
from storage.models import (
    AuditEntry,
    DialogState,
    Household,
    HouseholdCategory,
    Visit,
    VisitCompanion,
    VisitPhoto,
)
from storage.settings import Settings
from tests.factories import TODAY, Chat, District, build_district, chat_as


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def visits_of(db: Database) -> list[Visit]:
    async with db.transaction() as session:
        return list((await session.exec(select(Visit).order_by(col(Visit.id)))).all())


async def test_whole_visit_by_numbers(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/visit", "走访哪一户"),
            (
                "幸福路12号",
                ["找到以下与“幸福路12号”相符的住户", "1. 幸福路12号1栋1单元101 陈*明", "登记新住户"],
            ),
            ("1", ["走访方式是？", "1. 入户", "6. 电话"]),
            ("1", ["这户的类别：四老、党员中心户；党员户", "✓ 四老"]),
            ("确认", "个人走访还是集体走访？"),
            ("1", ["这次是日常走访还是集中走访？", "日常走访", "集中走访（2026年下半年）"]),
            ("1", "请简要记录群众反映的情况"),
            ("楼道灯坏了三个月，老人夜里出门不便。", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            (
                "跳过",
                [
                    "请核对这次走访",
                    "日期：2026-11-25",
                    "住户：幸福路12号1栋1单元101 陈*明",
                    "方式：入户",
                    "情况：楼道灯坏了三个月",
                ],
            ),
            (
                "保存",
                [
                    "✅ 走访已保存",
                    "已联系 1/100 户",
                    "按全年进度此时应达 90 户，落后 89 户",
                    "入户走访 1 户，占 100%",
                ],
            ),
        ]
    )
    [visit] = await visits_of(db)
    assert visit.household_id == district.households["幸福路12号1栋1单元101"]
    assert visit.representative_id == district.representatives["D001"]
    assert (visit.mode, visit.round, visit.collective, visit.visited_on) == ("home", "routine", False, TODAY)
    assert visit.notes == "楼道灯坏了三个月，老人夜里出门不便。"
    async with db.transaction() as session:
        # What stays is the offer to report the household's request, which a typed number picks.
        assert [state.flow for state in (await session.exec(select(DialogState))).all()] == ["_offer"]
        actions = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert "visit.create" in actions and "household.search" in actions


async def test_choices_by_label_and_centralized_round(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访", "走访哪一户"),
            ("赵", "幸福路14号 赵*"),
            ("1", "走访方式是？"),
            ("座谈", "这户的类别：困难群体、特殊困难群众"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("集中走访（2026年下半年）", "请简要记录"),
            ("跳过", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", "请核对这次走访"),
            ("保存", "走访已保存"),
        ]
    )
    [visit] = await visits_of(db)
    assert (visit.mode, visit.round, visit.notes) == ("forum", "2026-H2", "")


async def test_quick_form_with_one_match_opens_prefilled(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 路灯坏了", "这户的类别：困难群体、特殊困难群众"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("日常走访", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", ["方式：入户", "情况：路灯坏了", "住户：幸福路14号 赵*"]),
            ("保存", "走访已保存"),
        ]
    )
    [visit] = await visits_of(db)
    assert (visit.household_id, visit.mode, visit.notes) == (
        district.households["幸福路14号"],
        "home",
        "路灯坏了",
    )


async def test_quick_form_with_several_matches_asks_which(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            (
                "走访 幸福路12号 入户 路灯坏了",
                ["找到以下与“幸福路12号”相符的住户", "1. 幸福路12号1栋1单元101", "2. 幸福路12号1栋1单元102"],
            ),
            ("2", "这户的类别：青年；非党员户"),
        ]
    )


async def test_search_puts_own_areas_first_and_marks_others(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D002")
    answer = await chat.send("走访 号")
    lines = [line for line in answer.splitlines() if line.startswith("  ")]
    assert lines[0].startswith("  1. 东山村3组17号")
    assert "（非本责任区）" in lines[1] and "（非本责任区）" not in lines[0]
    assert len(lines) == settings.visits.search_results + 1  # five matches and "register a new household"


async def test_register_new_household(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/visit", "走访哪一户"),
            ("人民路", "台账里没有找到与“人民路”相符的住户"),
            ("登记新住户", "请输入新住户的详细地址"),
            ("幸福路12号1栋1单元101", "台账里已有“幸福路12号1栋1单元101”这一户"),
            ("人民路8号2栋301", "请输入户主姓名"),
            ("张3", "姓名只能包含文字"),
            ("黄晓燕", "请输入户主联系电话"),
            ("/contact 139-1234-5678", "这户属于您的哪个责任区"),
            ("幸福社区二区", "走访方式是？"),
            ("入户", "这户的类别：无；非党员户"),
            ("青年", "这户的类别：青年；非党员户"),
            ("困难群体", "这户的类别：青年、困难群体；非党员户"),
            ("青年", "这户的类别：困难群体；非党员户"),
            ("切换党员/非党员（现为非党员户）", "这户的类别：困难群体；党员户"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("日常走访", "请简要记录"),
            ("刚搬来，想了解社区医保办理。", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            (
                "跳过",
                ["住户：人民路8号2栋301 黄*燕（新登记，幸福社区二区，电话 139****5678）", "类别：困难群体；党员户"],
            ),
            ("保存", "走访已保存"),
        ]
    )
    async with db.transaction() as session:
        household = (await session.exec(select(Household).where(Household.address == "人民路8号2栋301"))).one()
        codes = (
            await session.exec(select(HouseholdCategory.code).where(HouseholdCategory.household_id == household.id))
        ).all()
    assert (household.head_name, household.phone, household.party_member) == ("黄晓燕", "13912345678", True)
    assert household.area_id == district.areas["幸福社区二区"]
    assert list(codes) == ["hardship"]
    [visit] = await visits_of(db)
    assert visit.household_id == household.id


async def test_collective_visit_counts_for_companions(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 和平街5号 约访", "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("集体走访", "同行的党代表：无"),
            ("王建国", "没有找到与“王建国”相符的党代表"),  # oneself is not a companion
            ("李", "1. 李红梅（D002）"),
            ("1", ["同行的党代表：李红梅（D002）", "完成"]),
            ("T001", "1. 张伟（T001）"),
            ("1", "同行的党代表：李红梅（D002）、张伟（T001）"),
            ("✗ 移除 张伟（T001）", "同行的党代表：李红梅（D002）。"),
            ("完成", "这次是日常走访还是集中走访？"),
            ("日常走访", "请简要记录"),
            ("跳过", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", "形式：集体走访（李红梅（D002））"),
            ("保存", "走访已保存"),
        ]
    )
    [visit] = await visits_of(db)
    assert visit.collective and visit.mode == "appointment"
    async with db.transaction() as session:
        companions = (await session.exec(select(VisitCompanion.representative_id))).all()
    assert list(companions) == [district.representatives["D002"]]
    companion = await chat_as(db, settings, "representative:D002")
    assert "已联系 1/100 户" in await companion.send("/progress")


async def test_photos_and_location(db: Database, settings: Settings, district: District, tmp_path: Path) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("日常走访", "需要附照片吗"),
            (f"/photo {photo}", "已收到1张照片"),
            (f"/photo {photo}", "已收到2张照片"),
            ("完成", ["需要记录走访位置吗", "发送 /location 纬度 经度"]),
            ("/location 30.70 111.29", "请核对这次走访"),
        ]
    )
    answer = await chat.send("保存")
    assert "照片：2张" in answer and "位置：30.70000, 111.29000" in answer
    [visit] = await visits_of(db)
    assert (visit.latitude, visit.longitude) == (30.70, 111.29)
    async with db.transaction() as session:
        photos = (await session.exec(select(VisitPhoto.file_ref))).all()
    assert photos == [f"file:{photo.resolve()}"] * 2


async def confirm_screen(db: Database, settings: Settings) -> Chat:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("集中走访（2026年下半年）", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", "请核对这次走访"),
        ]
    )
    return chat


async def test_edit_from_confirmation(db: Database, settings: Settings, district: District) -> None:
    chat = await confirm_screen(db, settings)
    await chat.talk(
        [
            ("改方式", "走访方式是？"),
            ("电话", ["请核对这次走访", "方式：电话"]),
            ("改日期", "走访是哪一天"),
            ("明天", "日期格式不对"),
            ("2026-12-01", "走访日期不能晚于今天"),
            ("11月20日", ["日期：2026-11-20", "类型：集中走访（2026年下半年）"]),  # same half-year: round kept
            ("改日期", "走访是哪一天"),
            ("6月30日", "这次是日常走访还是集中走访？"),  # another half-year: the round is asked again
            ("2", "类型：集中走访（2026年上半年）"),
            ("改日期", "走访是哪一天"),
            ("11月20日", "这次是日常走访还是集中走访？"),
            ("日常走访", ["日期：2026-11-20", "类型：日常走访"]),
            ("改情况记录", "请简要记录"),
            ("送了慰问品", "情况：送了慰问品"),
            ("改住户", "走访哪一户"),
            ("幸福路12号1栋1单元102", "1. 幸福路12号1栋1单元102"),
            ("1", "这户的类别：青年"),
            ("确认", ["住户：幸福路12号1栋1单元102 刘*", "方式：电话"]),
            ("保存", "走访已保存"),
        ]
    )
    [visit] = await visits_of(db)
    assert (visit.mode, visit.visited_on, visit.notes, visit.round) == (
        "phone",
        date(2026, 11, 20),
        "送了慰问品",
        "routine",
    )
    assert visit.household_id == district.households["幸福路12号1栋1单元102"]


async def test_category_correction_updates_ledger(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路12号1栋1单元102 入户 看望", "这户的类别：青年；非党员户"),
            ("青年", "这户的类别：无"),
            ("重信重访群众", "这户的类别：重信重访群众"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "这次是日常走访还是集中走访？"),
            ("日常走访", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", "类别：重信重访群众；非党员户"),
            ("保存", "走访已保存"),
        ]
    )
    household_id = district.households["幸福路12号1栋1单元102"]
    async with db.transaction() as session:
        codes = (
            await session.exec(select(HouseholdCategory.code).where(HouseholdCategory.household_id == household_id))
        ).all()
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "household.categories"))).one()
    assert list(codes) == ["repeat_petitioner"]
    assert entry.detail == {"added": ["repeat_petitioner"], "removed": ["youth"], "fields": []}


async def test_back_returns_to_the_previous_step(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/visit", "走访哪一户"),
            ("/back", ["已经是第一步了", "走访哪一户"]),
            ("幸福路14号", "1. 幸福路14号"),
            ("1", "走访方式是？"),
            ("入户", "这户的类别"),
            ("返回", "走访方式是？"),
            ("/back", "走访哪一户"),
        ]
    )


async def test_cancel_saves_nothing(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("取消", "已取消「走访记录」，没有保存任何内容"),
            ("1", "发送 /visit 记录走访"),  # no dialog any more: a number means nothing
        ]
    )
    assert await visits_of(db) == []
    async with db.transaction() as session:
        assert (await session.exec(select(DialogState))).all() == []


async def test_help_inside_the_flow_explains_the_step(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/visit", "走访哪一户"),
            ("幸福路14号", "1. 幸福路14号"),
            ("1", "走访方式是？"),
            ("帮助", ["入户走访计入", "/back 返回上一步", "走访方式是？"]),
            ("入户", "这户的类别"),
        ]
    )


async def test_dialog_times_out(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk([("走访 幸福路14号 入户 看望", "这户的类别")])
    chat.clock.advance(minutes=settings.general.dialog_timeout_minutes + 1)
    await chat.talk([("确认", ["「走访记录」已超过30分钟没有操作，已自动放弃", "发送 /visit 记录走访"])])
    async with db.transaction() as session:
        assert (await session.exec(select(DialogState))).all() == []


async def test_dialog_within_timeout_continues(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk([("走访 幸福路14号 入户 看望", "这户的类别")])
    chat.clock.advance(minutes=settings.general.dialog_timeout_minutes - 1)
    await chat.talk([("确认", "个人走访还是集体走访？")])


async def test_english_conversation(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/lang en", "Language set to English"),
            (
                "visit 幸福路14号 in-home streetlight",
                "This household's categories: Hardship, Special hardship",
            ),
            ("Confirm", "Individual or collective visit?"),
            ("1", "Was this a routine visit or part of a centralized round?"),
            ("Centralized round (second half of 2026)", "Attach photos?"),
            ("Skip", "Record where the visit took place?"),
            ("Skip", ["Please check this visit", "Mode: In-home", "Notes: streetlight"]),
            ("Save", ["Visit saved", "Households contacted: 1/100", "behind"]),
        ]
    )


async def test_only_representatives_log_visits(db: Database, settings: Settings, district: District) -> None:
    resident = await chat_as(db, settings, "resident:visitor")
    await resident.talk([("/visit", "这项功能只对党代表开放"), ("走访 幸福路14号", "这项功能只对党代表开放")])
    assert await visits_of(db) == []


async def test_too_many_matches_ask_for_a_closer_fragment(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk([("走访", "走访哪一户"), ("号", ["相符的不止5户，只列出最相近的5户", "5. ", "6. ➕ 登记新住户"])])
    answer = await chat.send("幸福路")
    assert "相符的不止" not in answer and "3. 幸福路14号" in answer


async def test_double_tapped_save_saves_once(db: Database, settings: Settings, district: District) -> None:
    chat = await confirm_screen(db, settings)
    inbound = chat.console.to_inbound("保存")
    assert not isinstance(inbound, str)
    first, second = await asyncio.gather(chat.router.handle(inbound), chat.router.handle(inbound))
    answers = [joined(first), joined(second)]
    assert sum("走访已保存" in answer for answer in answers) == 1
    assert len(await visits_of(db)) == 1


def joined(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


async def test_back_in_the_middle_of_a_change_abandons_it(db: Database, settings: Settings, district: District) -> None:
    chat = await confirm_screen(db, settings)
    await chat.talk(
        [
            ("改类别", "这户的类别：困难群体、特殊困难群众"),
            ("青年", "这户的类别：青年、困难群体、特殊困难群众"),
            ("确认", "类别：青年、困难群体、特殊困难群众"),
            ("改住户", "走访哪一户"),
            ("登记新住户", "请输入新住户的详细地址"),
            ("/back", ["已放弃这次修改，内容保持原样", "住户：幸福路14号 赵*", "类别：青年、困难群体、特殊困难群众"]),
            ("改方式", "走访方式是？"),
            ("/back", ["已放弃这次修改", "方式：入户", "情况：看望", "类型：集中走访（2026年下半年）"]),
            ("/back", "需要记录走访位置吗"),  # on the confirmation screen, "back" is the question above
            ("/location 30.7 111.3", "位置：30.70000, 111.30000"),
            ("改个人/集体", "个人走访还是集体走访？"),
            ("集体走访", "同行的党代表：无"),
            ("李", "1. 李红梅（D002）"),
            ("1", "完成"),
            ("完成", "形式：集体走访（李红梅（D002））"),
            ("改个人/集体", "个人走访还是集体走访？"),
            ("集体走访", "同行的党代表：李红梅（D002）"),  # the co-visitors are still there
        ]
    )


async def test_back_after_a_quick_form_reaches_what_it_filled(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("/back", "走访方式是？"),
            ("/back", "走访哪一户"),
            ("/back", "已经是第一步了"),
        ]
    )


async def test_a_correction_made_meanwhile_is_not_undone(db: Database, settings: Settings, district: District) -> None:
    # Both serve 幸福社区一区, where this household lives: both may correct its categories.
    address = "幸福路12号1栋1单元101"
    first = await chat_as(db, settings, "representative:D001")
    await first.talk([(f"走访 {address} 入户 看望", "这户的类别：四老、党员中心户")])
    second = await chat_as(db, settings, "representative:T001")
    for line in [f"走访 {address} 电话 回访", "青年", "确认", "个人走访", "日常走访", "跳过", "跳过", "保存"]:
        await second.send(line)
    for line in ["四老", "确认", "个人走访", "日常走访", "跳过", "跳过", "保存"]:
        await first.send(line)
    async with db.transaction() as session:
        codes = (
            await session.exec(
                select(HouseholdCategory.code).where(HouseholdCategory.household_id == district.households[address])
            )
        ).all()
    assert sorted(codes) == ["party_center", "youth"]  # T001's 青年 stays, D001's removal applies


async def test_quick_form_note_that_is_too_long_is_asked_again(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 " + "长" * 2001, "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("个人走访", "日常走访还是集中走访"),
            ("日常走访", "请简要记录"),
            ("长" * 2001, "内容太长了：最多2000字，您发送了2001字"),
        ]
    )


async def test_collective_without_companions_can_become_individual(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("五必访·特殊困难群众", "这户的类别：困难群体；非党员户"),
            ("特殊困难群众", "这户的类别：困难群体、特殊困难群众"),  # the end of a label picks it
            ("确认", "个人走访还是集体走访？"),
            ("集体走访", "没有同行代表，改为个人走访"),
            ("没有同行代表，改为个人走访", "日常走访还是集中走访"),
            ("日常走访", "需要附照片吗"),
            ("跳过", "需要记录走访位置吗"),
            ("跳过", "形式：个人走访"),
        ]
    )


async def test_edits_of_a_new_household_co_visitors_and_photos(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(b"jpeg")
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("/visit", "走访哪一户"),
            ("登记新住户", "请输入新住户的详细地址"),
            ("人民路8号", "请输入户主姓名"),
            ("黄晓燕", "请输入户主联系电话"),
            ("跳过", "这户属于您的哪个责任区"),
            ("幸福社区一区", "走访方式是？"),
            ("入户", "这户的类别"),
            ("确认", "个人走访还是集体走访？"),
            ("集体走访", "同行的党代表"),
            ("李", "李红梅（D002）"),
            ("1", "完成"),
            ("完成", "日常走访还是集中走访"),
            ("日常走访", "请简要记录"),
            ("跳过", "需要附照片吗"),
            (f"/photo {photo}", "已收到1张照片"),
            ("完成", "需要记录走访位置吗"),
            ("跳过", ["改地址", "改户主", "改电话", "改同行代表"]),
            ("改地址", "请输入新住户的详细地址"),
            ("人民路9号", ["住户：人民路9号 黄*燕（新登记，幸福社区一区，电话 未留）", "照片：1张"]),
            ("改同行代表", "同行的党代表：李红梅（D002）"),
            ("完成", "形式：集体走访（李红梅（D002））"),
            ("改照片", ["已收到1张照片", "清除已发的照片"]),
            ("清除已发的照片", "需要附照片吗"),
            ("跳过", "照片：0张"),
            ("保存", "走访已保存"),
        ]
    )
    async with db.transaction() as session:
        household = (await session.exec(select(Household).where(Household.address == "人民路9号"))).one()
        assert (await session.exec(select(VisitPhoto))).all() == []
    [visit] = await visits_of(db)
    assert visit.household_id == household.id and visit.collective


async def test_toggles_are_pressed_not_typed(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别：困难群体、特殊困难群众；非党员户"),
            ("非党员户", ["这一步需要选项", "这户的类别：困难群体、特殊困难群众；非党员户"]),  # the status, not a press
            ("四老对象", "这户的类别：困难群体、四老对象、特殊困难群众"),  # a category's own name picks it
        ]
    )


async def test_one_persons_messages_are_handled_one_at_a_time(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    inbound = chat.console.to_inbound("走访 幸福路14号 入户 看望")
    assert not isinstance(inbound, str)
    answers = [joined(replies) for replies in await asyncio.gather(*(chat.router.handle(inbound) for _ in range(3)))]
    # One dialog started; the others arrived inside it, and were asked whether to leave it for a new one.
    assert sum("还没有保存。要放弃它" in answer for answer in answers) == 2
    async with db.transaction() as session:
        opened = (await session.exec(select(AuditEntry).where(AuditEntry.action == "household.open"))).all()
    assert len(opened) == 1


async def test_the_same_new_address_cannot_be_registered_twice(
    db: Database, settings: Settings, district: District
) -> None:
    registration = ["/visit", "登记新住户", "人民路8号", "黄晓燕", "跳过", "幸福社区一区", "入户", "确认", "个人走访"]
    registration += ["日常走访", "跳过", "跳过", "跳过"]
    first = await chat_as(db, settings, "representative:D001")
    second = await chat_as(db, settings, "representative:T001")
    for line in registration:
        await first.send(line)
        await second.send(line)
    assert "走访已保存" in await first.send("保存")
    answer = await second.send("保存")
    assert "台账里已有“人民路8号”这一户" in answer and "请核对这次走访" in answer  # told, and still confirming
    async with db.transaction() as session:
        assert len((await session.exec(select(Household).where(Household.address == "人民路8号"))).all()) == 1
    assert len(await visits_of(db)) == 1
