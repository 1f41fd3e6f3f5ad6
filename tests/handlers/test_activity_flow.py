"""/activity (活动, 五个一) as conversations through the console channel, by numbers and by button labels: the
five-ones tally first, the kind, what was done, evidence, the day (today unless changed: never in the future,
never before this year), saved; this year's list."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import Activity, ActivityEvidence
from storage.settings import Settings
from tests.factories import Clock, District, build_district, chat_as


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def logged(db: Database) -> list[tuple[str, str, str]]:
    async with db.transaction() as session:
        found = await session.exec(select(Activity).order_by(col(Activity.id)))
        return [(row.kind, row.done_on.isoformat(), row.summary) for row in found.all()]


async def test_logging_by_numbers_with_evidence_updates_the_tally(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    photo = tmp_path / "lamp.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4")
    d001 = await chat_as(db, settings, "representative:D001", Clock())
    await d001.talk(
        [
            (
                "五个一",
                [
                    "今年五个一：还没有记录",
                    "还没有：调研报告、办实事、化解信访案件、公益活动、结对帮扶困难户",
                    "1. ⭐ 调研报告",
                    "2. ⭐ 办实事",
                    "6. 视察调研",
                    "10. 今年的活动",
                ],
            ),
            ("2", "请简要写下这次办实事做了什么"),
            ("为幸福路12号修好了路灯", ["可以发照片或文件作为佐证（最多6份）", "1. 跳过"]),
            (f"/photo {photo}", ["已收到1份材料", "1. 完成", "2. 清空已发的材料"]),
            (f"/file {report}", "已收到2份材料"),
            ("1", ["请核对这次活动", "类别：办实事", "日期：2026-11-25", "材料：照片1张，文件1份"]),
            ("1", ["✅ 已记录活动 #1", "今年五个一：办实事 ✓", "还没有：调研报告、化解信访案件", "1. 再记一次"]),
            ("1", "今年五个一：办实事 ✓"),  # the offer: log another
            ("2", "请简要写下"),
            ("又帮一户修了水管", "佐证"),
            ("1", "请核对"),
            ("1", "今年五个一：办实事 2"),
        ]
    )
    assert await logged(db) == [
        ("practical_thing", "2026-11-25", "为幸福路12号修好了路灯"),
        ("practical_thing", "2026-11-25", "又帮一户修了水管"),
    ]
    async with db.transaction() as session:
        evidence = (await session.exec(select(ActivityEvidence))).all()
    assert [one.kind for one in evidence] == ["photo", "document"]


async def test_logging_by_labels_with_another_day_and_bad_days_refused(
    db: Database, settings: Settings, district: District
) -> None:
    t001 = await chat_as(db, settings, "representative:T001", Clock())
    await t001.talk(
        [
            ("/activity", "记录哪一类活动？"),
            ("议事会", "请简要写下这次议事会做了什么"),
            ("组织居民商量加装电梯", "佐证"),
            ("跳过", ["日期：2026-11-25", "3. 改日期"]),
            ("改日期", ["活动是哪一天？", "1. 今天", "2. 昨天"]),
            ("2026-11-26", "活动日期不能晚于今天。"),
            ("2025-12-30", "只能记录2026年内的活动。"),
            ("12-30", "只能记录2026年内的活动。"),  # without a year, a day to come is last year's
            ("11-20", "日期：2026-11-20"),
            ("改类别", "记录哪一类活动？"),
            ("民心恳谈", ["类别：民心恳谈", "内容：组织居民商量加装电梯"]),
            ("保存", ["✅ 已记录活动", "今年五个一：还没有记录"]),
        ]
    )
    assert await logged(db) == [("heart_talk", "2026-11-20", "组织居民商量加装电梯")]


async def test_this_years_list_by_argument_and_by_button(db: Database, settings: Settings, district: District) -> None:
    d001 = await chat_as(db, settings, "representative:D001", Clock())
    await d001.talk(
        [
            ("/activity list", ["2026年记录的活动（0项）", "今年还没有记录活动。", "1. 记一次活动"]),
            ("1", "记录哪一类活动？"),
            ("1", "调研报告"),
            ("关于老旧小区加装电梯的调研", "佐证"),
            ("1", "请核对"),
            ("1", "✅ 已记录活动"),
            ("活动", "10. 今年的活动"),
            ("今年的活动", ["2026年记录的活动（1项）", "⭐ 11-25 调研报告：关于老旧小区加装电梯的调研"]),
        ]
    )


async def test_only_representatives_log_activities(db: Database, settings: Settings, district: District) -> None:
    for who, refusal in (("resident:amy", "只对党代表开放"), ("liaison:O01", "只对党代表开放")):
        chat = await chat_as(db, settings, who, Clock())
        await chat.talk([("/activity", refusal), ("五个一", refusal)])
    assert await logged(db) == []
