"""/commitments (承诺) as conversations through the console channel, by numbers and by button labels: a
representative publishes commitments up to the year's limit and marks progress; anyone reads them by code."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import Commitment
from storage.settings import Settings
from tests.factories import Clock, District, build_district, chat_as


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def published(db: Database) -> list[tuple[str, str, str]]:
    async with db.transaction() as session:
        found = await session.exec(select(Commitment).order_by(col(Commitment.id)))
        return [(row.text, row.status, row.progress_note) for row in found.all()]


async def test_publishing_and_marking_by_numbers_then_read_by_a_resident(
    db: Database, settings: Settings, district: District
) -> None:
    d001 = await chat_as(db, settings, "representative:D001", Clock())
    await d001.talk(
        [
            ("我的承诺", ["您2026年的公开承诺（0/10条）", "还没有发布承诺", "1. 添加承诺"]),
            ("1", "请写下您今年的一条承诺"),
            ("每月到幸福社区接待群众一次", ["✅ 已发布这条承诺。", "1. ○ 每月到幸福社区接待群众一次（计划中）"]),
            ("2", ["「每月到幸福社区接待群众一次」现在是“计划中”", "1. 计划中", "2. 进行中", "3. 已完成"]),
            ("2", ["写一句进展说明", "1. 跳过"]),
            ("已接待11次", ["✅ 已更新为“进行中”", "1. ◐ 每月到幸福社区接待群众一次（进行中）", "进展：已接待11次"]),
        ]
    )
    amy = await chat_as(db, settings, "resident:amy", Clock())
    await amy.talk(
        [
            ("承诺", "请在“承诺”后写上党代表编号"),
            (
                "承诺 D001",
                ["王建国（D001）2026年的公开承诺", "每月到幸福社区接待群众一次（进行中）", "进展：已接待11次"],
            ),
            ("承诺 T001", "这位党代表今年还没有发布承诺。"),
            ("承诺 X999", "没有找到编号为 X999 的在任党代表。"),
        ]
    )
    assert await published(db) == [("每月到幸福社区接待群众一次", "in_progress", "已接待11次")]


async def test_by_labels_the_limit_and_another_representatives_commitment(
    db: Database, settings: Settings, district: District
) -> None:
    two = settings.model_copy(update={"activities": settings.activities.model_copy(update={"max_commitments": 2})})
    t001 = await chat_as(db, two, "representative:T001", Clock())
    await t001.talk(
        [
            ("/commitments", "1. 添加承诺"),
            ("添加承诺", "请写下"),
            ("帮扶两户困难家庭", "（1/2条）"),
            ("添加承诺", "请写下"),
            ("为东山村争取一条路灯", ["（2/2条）", "1. 更新第1条", "2. 更新第2条"]),
            ("/commitments add", "2026年的承诺最多2条，已经满了。"),
            ("更新第2条", "现在是“计划中”"),
            ("已完成", "写一句进展"),
            ("跳过", ["✅ 已更新为“已完成”", "● 为东山村争取一条路灯（已完成）"]),
        ]
    )
    d001 = await chat_as(db, two, "representative:D001", Clock())
    await d001.talk([("/commitments 1", "这不是您的承诺，只能更新自己的。")])
    office = await chat_as(db, two, "liaison:O01", Clock())
    await office.talk([("/commitments add", "只对党代表开放"), ("承诺 t001", "帮扶两户困难家庭（计划中）")])
    assert await published(db) == [("帮扶两户困难家庭", "planned", ""), ("为东山村争取一条路灯", "done", "")]
