"""A leader's digest through the real Telegram channel against the fake Bot API server: /digest answers this week
so far in their scope; the weekly digest arrives as three messages, the text, the chart as a photo and the
spreadsheet as a document, whose bytes are the files the scheduler wrote."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from scheduler import digest as digest_jobs
from scheduler.engine import JobContext
from storage.db import Database
from storage.delivery import outbox
from storage.exchange import digest_scope
from storage.exchange.digest_scope import Week
from storage.models import Visit, utcnow
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.bot.telegram_harness import Harness, invitation, render
from tests.factories import District

LEADER_CHAT = 7011
MEMBER_CHAT = 7012


async def visits_on(db: Database, district: District, day: datetime, addresses: tuple[str, ...]) -> None:
    async with db.transaction() as session:
        for address in addresses:
            session.add(
                Visit(
                    representative_id=district.representatives["D001"],
                    household_id=district.households[address],
                    visited_on=day.date(),
                    mode="home",
                    created_at=day.astimezone(UTC),
                )
            )


async def test_a_leader_asks_for_this_weeks_digest(
    fast: Harness, db: Database, settings: Settings, district: District
) -> None:
    now = utcnow().astimezone(settings.zone)
    await visits_on(db, district, now, ("幸福路12号1栋1单元101", "幸福路14号"))
    assert "绑定成功" in await fast.say(LEADER_CHAT, f"/start {await invitation(db, 'L01')}")
    week = Week.of(now.date())
    answer = await fast.say(LEADER_CHAT, "/digest")
    assert f"【连心周报】全区｜{week.year}年第{week.number}周" in answer
    assert "本周共走访联系群众2户，收集建议意见0条，办实事解难事0件。" in answer
    assert "走访：本周2次" in answer
    assert "· 幸福街道代表小组：走访2次/2户" in answer
    # A member representative is told the digest is not theirs.
    assert "绑定成功" in await fast.say(MEMBER_CHAT, f"/start {await invitation(db, 'T001')}")
    assert "只对领导、联络办公室和代表小组组长开放" in await fast.say(MEMBER_CHAT, "周报")


async def test_the_weekly_digest_arrives_as_text_chart_and_spreadsheet(
    fast: Harness, db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    now = utcnow()
    week = Week.of(now.astimezone(settings.zone).date()).previous()
    monday = datetime.combine(week.monday, time(10), tzinfo=settings.zone)
    await visits_on(db, district, monday, ("幸福路12号1栋1单元101",))
    await visits_on(db, district, monday + timedelta(days=2), ("幸福路12号1栋1单元101", "和平街5号"))
    assert "绑定成功" in await fast.say(LEADER_CHAT, f"/start {await invitation(db, 'L01')}")
    files = tmp_path / "digests"
    tuned = settings.model_copy(update={"digest": settings.digest.model_copy(update={"files_dir": files})})

    # What the scheduler's job does for the leader (the job itself: the same function, in its transaction).
    async with db.transaction() as session:
        ctx = JobContext(session, tuned, now, calendar_of(tuned))
        [leader] = await digest_scope.readers(session)
        assert await digest_jobs.send_to(ctx, leader, week) == 1
        await outbox.enqueue(session, messages=ctx.messages, now=now)
    fast.bot.sender.wake()
    await fast.settle()

    text, photo, document = fast.server.sent(LEADER_CHAT)[-3:]
    assert f"【连心周报】全区｜{week.year}年第{week.number}周" in render(text)
    assert "本周共走访联系群众2户，收集建议意见0条，办实事解难事0件。" in render(text)
    assert "走访：本周3次" in render(text)
    assert photo["plain_caption"] == f"全区｜{week.year}年第{week.number}周：每周走访次数和“一百户”完成情况"
    assert document["plain_caption"] == f"全区｜{week.year}年第{week.number}周代表明细表"
    assert document["document"]["file_name"].endswith(f"lianxin-digest-{week.key}-district.xlsx")
    chart = files.resolve() / week.key / f"{week.key}-district-zh-CN.png"
    sheet = chart.with_suffix(".xlsx")
    assert fast.server.files[photo["photo"][0]["file_id"]].data == chart.read_bytes()
    assert fast.server.files[document["document"]["file_id"]].data == sheet.read_bytes()
    assert {row.status for row in await fast.outbox()} == {"sent"}
