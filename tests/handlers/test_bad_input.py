"""Bad input at every step of the visit flow: each gets a clear reply, and the dialog stays usable."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import DialogState, Visit
from storage.settings import Settings
from tests.factories import build_district, chat_as

TO_CATEGORIES = ["/visit", "幸福路14号", "1", "入户"]
TO_ROUND = [*TO_CATEGORIES, "确认", "个人走访"]
TO_CONFIRM = [*TO_ROUND, "日常走访", "跳过", "跳过", "跳过"]
TO_NEW = ["/visit", "登记新住户"]


@dataclass(frozen=True)
class StepCase:
    name: str
    path: list[str]  # what gets the dialog to the step
    prompt: str  # a fragment of the step's question
    takes: str  # "text", "choice", "phone", "date", "photo" or "location": what the step reads
    good: str  # a valid answer
    after: str  # a fragment of the next question


STEPS = [
    StepCase("household", ["/visit"], "走访哪一户", "text", "幸福路14号", "1. 幸福路14号"),
    StepCase("new_address", TO_NEW, "请输入新住户的详细地址", "text", "人民路8号", "请输入户主姓名"),
    StepCase("new_head", [*TO_NEW, "人民路8号"], "请输入户主姓名", "text", "黄晓燕", "请输入户主联系电话"),
    StepCase(
        "new_phone",
        [*TO_NEW, "人民路8号", "黄晓燕"],
        "请输入户主联系电话",
        "phone",
        "13912345678",
        "这户属于您的哪个责任区",
    ),
    StepCase(
        "new_area", [*TO_NEW, "人民路8号", "黄晓燕", "跳过"], "这户属于您的哪个责任区", "choice", "1", "走访方式是？"
    ),
    StepCase("mode", ["/visit", "幸福路14号", "1"], "走访方式是？", "choice", "入户", "这户的类别"),
    StepCase("categories", TO_CATEGORIES, "这户的类别", "choice", "确认", "个人走访还是集体走访？"),
    StepCase(
        "collective",
        [*TO_CATEGORIES, "确认"],
        "个人走访还是集体走访？",
        "choice",
        "个人走访",
        "这次是日常走访还是集中走访？",
    ),
    StepCase("companions", [*TO_CATEGORIES, "确认", "集体走访"], "同行的党代表", "text", "李", "1. 李红梅（D002）"),
    StepCase("round", TO_ROUND, "这次是日常走访还是集中走访？", "choice", "日常走访", "请简要记录"),
    StepCase("notes", [*TO_ROUND, "日常走访"], "请简要记录", "text", "看望老人", "需要附照片吗"),
    StepCase("photos", [*TO_ROUND, "日常走访", "跳过"], "需要附照片吗", "photo", "跳过", "需要记录走访位置吗"),
    StepCase(
        "location",
        [*TO_ROUND, "日常走访", "跳过", "跳过"],
        "需要记录走访位置吗",
        "location",
        "/location 30.7 111.3",
        "请核对这次走访",
    ),
    StepCase("confirm", TO_CONFIRM, "请核对这次走访", "choice", "改方式", "走访方式是？"),
    StepCase("date", [*TO_CONFIRM, "改日期"], "走访是哪一天", "date", "昨天", "请核对这次走访"),
]

# What each kind of step answers to each bad input. None: the input is acceptable there (not bad).
LONG = "字" * 10_000
PHOTO = "/photo {photo}"
EXPECTED: dict[str, dict[str, str | None]] = {
    "text": {
        " ": "内容不能为空",
        LONG: "内容太长了",
        "😀😀😀": "没有看到文字内容",
        PHOTO: "这一步需要文字",
        "/foo": "不认识命令 /foo",
        "99": None,
    },
    "choice": {
        " ": "内容不能为空",
        LONG: "这一步需要选项，收到的是文字",
        "😀😀😀": "这一步需要选项，收到的是文字",
        PHOTO: "这一步需要选项，收到的是图片",
        "/foo": "不认识命令 /foo",
        "99": "请回复 1 到",
    },
    "phone": {
        " ": "内容不能为空",
        LONG: "电话号码格式不对",
        "😀😀😀": "电话号码格式不对",
        PHOTO: "这一步需要文字或联系人或选项，收到的是图片",
        "/foo": "不认识命令 /foo",
        "99": "电话号码格式不对",
    },
    "date": {
        " ": "内容不能为空",
        LONG: "日期格式不对",
        "😀😀😀": "日期格式不对",
        PHOTO: "这一步需要文字或选项，收到的是图片",
        "/foo": "不认识命令 /foo",
        "99": "日期格式不对",
    },
    "photo": {
        " ": "内容不能为空",
        LONG: "这一步需要图片或选项，收到的是文字",
        "😀😀😀": "这一步需要图片或选项，收到的是文字",
        PHOTO: None,
        "/foo": "不认识命令 /foo",
        "99": "请回复 1 到 1 之间的编号",
    },
    "location": {
        " ": "内容不能为空",
        LONG: "这一步需要位置或选项，收到的是文字",
        "😀😀😀": "这一步需要位置或选项，收到的是文字",
        PHOTO: "这一步需要位置或选项，收到的是图片",
        "/foo": "不认识命令 /foo",
        "99": "请回复 1 到 1 之间的编号",
    },
}
BAD_INPUTS = [" ", LONG, "😀😀😀", PHOTO, "/foo", "99"]


@pytest.mark.parametrize("case", STEPS, ids=[case.name for case in STEPS])
async def test_bad_input_at_every_step(db: Database, settings: Settings, case: StepCase, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await build_district(db)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg")
    chat = await chat_as(db, settings, "representative:D001")
    for line in case.path:
        await chat.send(line)
    for bad in BAD_INPUTS:
        expected = EXPECTED[case.takes][bad]
        if expected is None:
            continue
        answer = await chat.send(bad.format(photo=photo))
        assert expected in answer, f"step {case.name}, input {bad[:20]!r}: expected {expected!r} in\n{answer}"
        assert case.prompt in answer, f"step {case.name}: the question is not asked again after {bad[:20]!r}"
    answer = await chat.send("/visit")  # a command that would open another dialog: asked about first
    assert "还没有保存。要放弃它，改为“/visit”吗？" in answer and "继续填写「走访记录」" in answer
    answer = await chat.send("继续填写「走访记录」")  # ... and this one goes on where it was
    assert case.prompt in answer
    answer = await chat.send(case.good)
    assert case.after in answer, f"step {case.name} did not move on after {case.good!r}:\n{answer}"


@pytest.mark.parametrize("case", STEPS, ids=[case.name for case in STEPS])
async def test_cancel_at_every_step(db: Database, settings: Settings, case: StepCase) -> None:
    await build_district(db)
    chat = await chat_as(db, settings, "representative:D001")
    for line in case.path:
        await chat.send(line)
    assert "已取消「走访记录」，没有保存任何内容" in await chat.send("/cancel")
    async with db.transaction() as session:
        assert (await session.exec(select(DialogState))).all() == []
        assert (await session.exec(select(Visit))).all() == []


async def test_stale_button_is_refused(db: Database, settings: Settings) -> None:
    await build_district(db)
    chat = await chat_as(db, settings, "representative:D001")
    await chat.send("/visit")
    from dataclasses import replace

    inbound = chat.console.to_inbound("x")
    assert not isinstance(inbound, str)
    replies = await chat.router.handle(replace(inbound, kind="button", data="visit:mode:home"))
    assert "这个按钮已经过期了" in replies[0].text
    assert "走访哪一户" in replies[-1].text


async def test_notes_at_the_limit_are_kept_whole(db: Database, settings: Settings) -> None:
    await build_district(db)
    chat = await chat_as(db, settings, "representative:D001")
    for line in [*TO_ROUND, "日常走访"]:
        await chat.send(line)
    limit = settings.visits.max_note_length
    assert "内容太长了：最多2000字，您发送了2001字" in await chat.send("记" * (limit + 1))
    assert "需要附照片吗" in await chat.send("记" * limit)
    for line in ["跳过", "跳过", "保存"]:
        await chat.send(line)
    async with db.transaction() as session:
        [visit] = (await session.exec(select(Visit))).all()
    assert visit.notes == "记" * limit
