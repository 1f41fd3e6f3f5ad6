"""The console channel: notices queued for a console identity are shown when its console opens, then marked sent."""

from __future__ import annotations

import io

from sqlmodel import select

from bot.console import ConsoleChannel
from handlers.router import Router
from storage.db import Database
from storage.models import OutboxMessage
from storage.records import mailbox
from storage.settings import Settings
from tests.factories import NOW, Clock, build_district, chat_as


async def test_a_letter_waits_for_the_representatives_console_and_is_shown_when_it_opens(
    db: Database, settings: Settings
) -> None:
    await build_district(db)
    await chat_as(db, settings, "representative:D001")  # the demo representative's console identity, bound
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=NOW, actor="test")
    resident = await chat_as(db, settings, "resident:amy")
    for line in [f"/start m_{token}", "其他", "楼道的灯坏了三个月，晚上看不见路。", "跳过", "匿名", "保存"]:
        await resident.send(line)
    async with db.transaction() as session:
        [waiting] = (await session.exec(select(OutboxMessage).where(OutboxMessage.channel == "console"))).all()
    assert (waiting.chat_key, waiting.status) == ("representative:D001", "pending")

    output = io.StringIO()
    console = ConsoleChannel(
        Router(db, settings, clock=Clock()), user="representative:D001", language="zh-CN", output=output
    )
    await console.run_script([])
    shown = output.getvalue()
    assert "您不在时收到1条通知" in shown and "有新的诉求 LX-2026-000001" in shown and "楼道的灯坏了三个月" in shown
    async with db.transaction() as session:
        [sent] = (await session.exec(select(OutboxMessage).where(OutboxMessage.channel == "console"))).all()
    assert sent.status == "sent"

    output.truncate(0)
    await ConsoleChannel(
        Router(db, settings, clock=Clock()), user="representative:D001", language="zh-CN", output=output
    ).run_script([])
    assert "通知" not in output.getvalue()  # shown once
