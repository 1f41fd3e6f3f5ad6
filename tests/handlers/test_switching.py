"""A command that would leave an open dialog asks first (a notice's button too); control characters never reach the
store; the mailbox's daily limit per card and writer."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from storage.db import Database
from storage.models import Case, CaseRelay, DialogState, HouseholdCategory, RepArea, Representative, Visit
from storage.records import mailbox
from storage.settings import Settings
from tests.factories import NOW, District, build_district, chat_as

QUESTION = "您正在填写「走访记录」，还没有保存。要放弃它，改为“走访 幸福路12号”吗？"


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def dialogs(db: Database) -> list[DialogState]:
    async with db.transaction() as session:
        return list((await session.exec(select(DialogState))).all())


async def test_a_quick_form_in_another_dialog_asks_and_can_start_the_new_one(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),  # a step that takes options only
            ("走访 幸福路12号", [QUESTION, "1. 放弃当前，开始新的", "2. 继续填写「走访记录」"]),
            ("1", ["已放弃「走访记录」，没有保存", "幸福路12号1栋1单元101"]),
        ]
    )
    [state] = await dialogs(db)
    assert state.draft["query"] == "幸福路12号" and "_switch" not in state.draft


async def test_staying_keeps_the_dialog_where_it_was(db: Database, settings: Settings, district: District) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.talk(
        [
            ("走访 幸福路14号 入户 看望", "这户的类别"),
            ("走访 幸福路12号", QUESTION),
            ("随便", ["请选择下面的一项", QUESTION]),  # neither choice: asked again
            ("继续填写「走访记录」", "这户的类别：困难群体、特殊困难群众"),
            ("确认", "个人走访还是集体走访？"),
        ]
    )


async def test_at_a_step_that_takes_text_the_words_may_be_the_answer(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    for line in ["走访 幸福路14号 入户", "确认", "个人走访", "日常走访"]:
        await chat.send(line)
    await chat.talk(
        [
            ("走访 幸福路12号 的邻居反映噪音", ["还没有保存。要放弃它", "3. 把这句话作为这一步的回答"]),
            ("3", "需要附照片吗"),
            ("/progress X999", ["找不到编号为 X999 的党代表", "需要附照片吗"]),  # said; the dialog goes on
        ]
    )
    for line in ["跳过", "跳过", "保存"]:
        await chat.send(line)
    other = await chat_as(db, settings, "representative:T001")
    for line in ["走访 幸福路12号1栋1单元101 入户", "确认", "个人走访", "日常走访"]:
        await other.send(line)
    # A word that only answers (进度) is just text where text is asked: a note, not /progress.
    await other.talk([("进度 很慢", "需要附照片吗")])
    for line in ["跳过", "跳过", "保存"]:
        await other.send(line)
    async with db.transaction() as session:
        notes = sorted(visit.notes for visit in (await session.exec(select(Visit))).all())
    assert notes == ["走访 幸福路12号 的邻居反映噪音", "进度 很慢"]


async def test_a_command_that_only_answers_is_answered_and_the_dialog_goes_on(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.send("走访 幸福路14号 入户 看望")
    answer = await chat.send("/progress")
    assert "2026年走访进度" in answer and "这户的类别" in answer  # the figures, then the step again
    [state] = await dialogs(db)
    assert state.step == "categories_ok"


async def test_control_characters_never_reach_the_store(db: Database, settings: Settings, district: District) -> None:
    """A NUL saves on SQLite and fails every save on PostgreSQL: both stores get the note without it."""
    chat = await chat_as(db, settings, "representative:D001")
    for line in ["走访 幸福路14号 入户", "确认", "个人走访", "日常走访"]:
        await chat.send(line)
    inbound = chat.console.to_inbound("x")
    assert not isinstance(inbound, str)
    from dataclasses import replace

    replies = await chat.router.handle(replace(inbound, text="楼道\x00灯坏了\r\n三个月\x07\t了"))
    assert "需要附照片吗" in replies[-1].text
    for line in ["跳过", "跳过", "保存"]:
        await chat.send(line)
    async with db.transaction() as session:
        [visit] = (await session.exec(select(Visit))).all()
    assert visit.notes == "楼道灯坏了\n三个月\t了"


async def test_a_writer_may_send_five_letters_a_day_through_one_card(
    db: Database, settings: Settings, district: District
) -> None:
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=NOW, actor="test")
    resident = await chat_as(db, settings, "resident:amy")
    # Five categories: letters that read alike in one category would be offered to join the first.
    for number, category in enumerate(("环境卫生", "住房物业", "道路交通", "社会保障", "医疗卫生")):
        anonymous = "匿名" if number % 2 else "署名"  # anonymous letters count as well
        script = [f"/start m_{token}", category, f"第{number}封信：楼道的灯坏了", "跳过", anonymous]
        if anonymous == "署名":
            script += ["陈小红", "跳过"]
        for line in [*script, "保存"]:
            answer = await resident.send(line)
        assert f"✅ 已受理，编号 LX-2026-00000{number + 1}" in answer, answer
    refused = await resident.send(f"/start m_{token}")
    assert "已经写了5封信，请明天再写" in refused
    async with db.transaction() as session:
        assert len((await session.exec(select(Case))).all()) == 5
        assert len((await session.exec(select(CaseRelay))).all()) == 2  # the two anonymous ones
    assert await dialogs(db) == []
    other = await chat_as(db, settings, "resident:bob")  # another writer is not held to amy's count
    assert "请选择问题的类别" in await other.send(f"/start m_{token}")


async def test_cancel_with_the_bots_name_or_words_after_it_cancels_the_dialog(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    for typed in ("/cancel@lianxin_demo_bot", "/cancel please", "取消 吧"):
        await chat.send("走访 幸福路14号 入户 看望")  # at a step that takes options only
        assert "已取消「走访记录」" in await chat.send(typed), typed
        assert await dialogs(db) == []
    await chat.send("走访 幸福路14号 入户")
    for line in ["确认", "个人走访", "日常走访"]:
        await chat.send(line)
    assert "需要附照片吗" in await chat.send("取消 这户的低保")  # where a note is asked, that is the note


async def test_a_representative_out_of_office_loses_the_open_dialog_at_any_command(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    await chat.send("走访 幸福路14号 入户 看望")
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(col(Representative.code) == "D001").values(active=False))
    answer = await chat.send("/progress")  # refused, and the dialog's step would be shown again after it
    assert "名册显示您已不在任" in answer and "幸福路14号" not in answer and "困难群体" not in answer
    assert await dialogs(db) == []


async def test_a_household_whose_area_left_the_representative_mid_visit_is_saved_without_corrections(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    for line in ["走访 幸福路14号 入户 看望", "困难群体", "确认", "个人走访", "日常走访", "跳过", "跳过"]:
        await chat.send(line)
    async with db.transaction() as session:  # a roster import gives 幸福社区二区 to someone else
        await session.exec(
            sa.delete(RepArea).where(
                col(RepArea.representative_id) == district.representatives["D001"],
                col(RepArea.area_id) == district.areas["幸福社区二区"],
            )
        )
    answer = await chat.send("保存")
    assert "走访已保存" in answer and "非本责任区，不能更正" in answer
    async with db.transaction() as session:
        codes = (
            await session.exec(
                select(HouseholdCategory.code).where(
                    HouseholdCategory.household_id == district.households["幸福路14号"]
                )
            )
        ).all()
    assert sorted(codes) == ["hardship", "special_hardship"]  # the removal was not applied


async def test_a_letter_half_written_asks_before_another_command_leaves_it(
    db: Database, settings: Settings, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")
    for line in ["/mailbox", "东山村", "其他", "东山村3组的路灯不亮了。", "跳过", "匿名", "保存"]:
        await resident.send(line)
    await resident.talk(
        [
            ("/mailbox", "请选择问题的类别"),  # the area is remembered
            ("投诉", "请写下您想反映的问题"),
            # A word that opens a dialog, typed where the text is asked: leave, stay, or take it as the text.
            ("我的诉求 太多了写不完", ["还没有保存。要放弃它", "3. 把这句话作为这一步的回答"]),
            ("2", "请写下您想反映的问题"),
            ("/mycases", ["要放弃它，改为“/mycases”吗？", "2. 继续填写「给党代表写信」"]),  # no third choice
            ("1", ["已放弃「给党代表写信」，没有保存", "您反映的问题（共 1 件）", "LX-2026-000001"]),
        ]
    )
    [state] = await dialogs(db)
    assert state.flow == "mycases"
    # What a resident may not use is refused, and the letter goes on where it was.
    await resident.talk(
        [
            ("/cancel", "已取消"),
            ("/mailbox", "请选择问题的类别"),
            ("/request", ["群众反映问题请发送“写信”", "请选择问题的类别"]),
            ("/cases", ["群众请发送 /mycases 查看自己反映的问题", "请选择问题的类别"]),
            ("其他", "请写下您想反映的问题"),
            ("办件 太慢了", "可以发照片"),  # a refused command's word, where text is asked, is the text
        ]
    )
    [state] = await dialogs(db)
    assert (state.flow, state.draft["text"]) == ("mailbox", "办件 太慢了")


async def test_a_notices_button_in_another_dialog_asks_first(
    db: Database, settings: Settings, district: District
) -> None:
    """A notice's button ([查看案件], [评价]) types its command: pressed in the middle of a visit, it asks first."""
    chat = await chat_as(db, settings, "representative:D001")
    await chat.send("走访 幸福路14号 入户 看望")
    inbound = chat.console.to_inbound("x")
    assert not isinstance(inbound, str)
    from dataclasses import replace

    pressed = replace(inbound, kind="button", data="cmd:/cases LX-2026-000001", text="")
    answer = "\n".join(reply.text for reply in await chat.router.handle(pressed))
    assert "您正在填写「走访记录」，还没有保存。要放弃它，改为“/cases LX-2026-000001”吗？" in answer
    await chat.talk([("2", "这户的类别")])  # stayed: the visit goes on
    [state] = await dialogs(db)
    assert (state.flow, state.step) == ("visit", "categories_ok")


async def test_leaving_for_a_command_that_cannot_start_keeps_the_person_where_they_were(
    db: Database, settings: Settings, district: District
) -> None:
    resident = await chat_as(db, settings, "resident:amy")  # no letter yet: /mycases has nothing to show
    for line in ["/mailbox", "东山村", "/mycases"]:
        await resident.send(line)
    answer = await resident.send("1")
    assert "您还没有反映过问题" in answer
    states = await dialogs(db)
    # The letter goes on where it was, its question shown again.
    assert [(state.flow, "_switch" in state.draft) for state in states] == [("mailbox", False)]
    assert "请选择问题的类别" in answer, answer
