"""The weekly digest as the scheduler runs it at chosen moments: the series starts, goes out on Monday at 08:30
for the week just ended to every reader in their scope and language (text, chart, spreadsheet, files shared by
those who share them), plans the next week; quiet hours, downtime, another weekday; readers who stopped being
readers or blocked the bot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from handlers.digest import digest_text
from scheduler import digest
from scheduler.engine import Engine, TickReport
from storage.db import Database, execute
from storage.models import ChatIdentity, DueItem, OutboxMessage, Representative, Staff
from storage.records import schedule
from storage.records.schedule import Planned
from storage.settings import Settings
from tests.factories import Chat, Clock, chat_as
from tests.storage.exchange.test_digest_figures import (
    EAST_GROUP,
    HAPPY_GROUP,
    HAPPY_TOWN,
    W48,
    DigestDistrict,
    digest_district,
    figures_of,
    small_quota,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
READERS = ("leader:L01", "leader:L02", "liaison:O01", "representative:D001", "representative:T009")


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def tuned(settings: Settings, files: Path, **digest_values: Any) -> Settings:
    quota = small_quota(settings)
    return quota.model_copy(update={"digest": quota.digest.model_copy(update={"files_dir": files, **digest_values})})


@pytest.fixture
def tuned_settings(settings: Settings, tmp_path: Path) -> Settings:
    return tuned(settings, tmp_path / "digests")


@pytest.fixture
async def fixture(db: Database, tuned_settings: Settings) -> DigestDistrict:
    return await digest_district(db, tuned_settings)


async def readers(db: Database, settings: Settings) -> dict[str, Chat]:
    """Every reader bound to a console chat (the township's leader reads English), and a member who is none."""
    chats = {who: await chat_as(db, settings, who, Clock()) for who in (*READERS, "representative:T001")}
    await chats["leader:L02"].send("/lang en")
    await nothing_waiting(db)
    return chats


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def tick(db: Database, settings: Settings, at: datetime) -> TickReport:
    return await Engine(db, settings, jobs=digest.JOBS, starters=digest.STARTERS).run_due(at)


async def items(db: Database) -> dict[str, DueItem]:
    async with db.read() as session:
        return {item.key: item for item in await schedule.items_with_prefix(session, prefix="digest")}


async def outbox(db: Database) -> list[OutboxMessage]:
    """What the scheduler queued (the fixture's cases had told their people before: those are sent)."""
    async with db.read() as session:
        found = await session.exec(
            select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(col(OutboxMessage.id))
        )
        return list(found.all())


async def every_message(db: Database) -> int:
    async with db.read() as session:
        return len((await session.exec(select(OutboxMessage.id))).all())


async def nothing_waiting(db: Database) -> None:
    async with db.transaction() as session:
        await execute(session, sa.update(OutboxMessage).values(status="sent"))


async def reader_keys(db: Database, fixture: DigestDistrict) -> dict[str, str]:
    async with db.read() as session:
        staff = dict((await session.exec(select(Staff.code, Staff.id))).all())
    reps = fixture.district.representatives
    return {
        "leader:L01": f"staff-{staff['L01']}",
        "leader:L02": f"staff-{staff['L02']}",
        "liaison:O01": f"staff-{staff['O01']}",
        "representative:D001": f"rep-{reps['D001']}",
        "representative:T009": f"rep-{reps['T009']}",
        "representative:T001": f"rep-{reps['T001']}",
    }


async def test_on_monday_morning_every_reader_gets_the_week_just_ended_in_their_scope_and_language(
    db: Database, tuned_settings: Settings, fixture: DigestDistrict, tmp_path: Path
) -> None:
    chats = await readers(db, tuned_settings)
    keys = await reader_keys(db, fixture)
    await tick(db, tuned_settings, local(11, 25, 10))  # Wednesday: the series starts with this week's digest
    planned = await items(db)
    assert list(planned) == ["digest-week:2026-W48"]
    assert planned["digest-week:2026-W48"].due_at == local(11, 30, 8, 30)
    assert (await tick(db, tuned_settings, local(11, 30, 8, 29))).sent == 0

    report = await tick(db, tuned_settings, local(11, 30, 8, 30))
    assert report == TickReport(sent=6)  # the series and its five readers
    planned = await items(db)
    assert sorted(planned) == sorted(
        [
            "digest-week:2026-W48",
            "digest-week:2026-W49",
            *(f"digest:2026-W48:{keys[who]}" for who in READERS),
        ]
    )
    assert planned["digest-week:2026-W49"].due_at == local(12, 7, 8, 30)
    assert planned["digest-week:2026-W49"].state == "pending"

    rows = await outbox(db)
    by_chat: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        by_chat.setdefault(row.chat_key, []).append(row)
    assert set(by_chat) == set(READERS)  # not the member T001
    for who in READERS:
        assert [row.kind for row in by_chat[who]] == ["message", "photo", "document"], who

    def text(who: str) -> str:
        return str(by_chat[who][0].payload["text"])

    # Each in their scope: the district, the township (in English), each group.
    district = await figures_of(db, tuned_settings, "district", week=W48, today=local(11, 30, 8, 30).date())
    assert text("leader:L01") == text("liaison:O01") == digest_text("zh-CN", district, tuned_settings)
    assert "本周共走访联系群众1户，收集建议意见1条，办实事解难事0件。" in text("leader:L01")
    assert text("leader:L02").startswith(f"[Lianxin weekly digest] {HAPPY_TOWN} | 2026 week 48 (11/23-11/29)")
    assert f"【连心周报】{HAPPY_GROUP}｜2026年第48周" in text("representative:D001")
    assert "本周共走访联系群众0户，收集建议意见0条，办实事解难事0件。" in text("representative:T009")
    assert EAST_GROUP in text("representative:T009")

    # One chart and one sheet per scope and language, shared by the readers who share them.
    folder = tmp_path / "digests" / "2026-W48"
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"2026-W48-{stem}.{suffix}"
        for stem in (
            "district-zh-CN",
            f"township-{HAPPY_TOWN}-en",
            f"group-{HAPPY_GROUP}-zh-CN",
            f"group-{EAST_GROUP}-zh-CN",
        )
        for suffix in ("png", "xlsx")
    )
    assert by_chat["leader:L01"][1].payload == by_chat["liaison:O01"][1].payload
    assert by_chat["leader:L01"][1].payload["path"] == str(folder / "2026-W48-district-zh-CN.png")
    assert by_chat["leader:L02"][2].payload["caption"] == f"{HAPPY_TOWN} | 2026 week 48: representatives"
    # The console shows what a terminal can: the text, and where the files are.
    waiting = [reply.text for reply in await chats["representative:D001"].console.waiting()]
    assert any(f"（图片：{folder}" in line for line in waiting)

    # Nothing goes twice.
    before = await every_message(db)
    assert (await tick(db, tuned_settings, local(11, 30, 8, 31))).sent == 0
    assert await every_message(db) == before


async def test_quiet_hours_hold_the_digest_until_morning(
    db: Database, settings: Settings, fixture: DigestDistrict, tmp_path: Path
) -> None:
    late = tuned(settings, tmp_path / "digests", at=datetime(2026, 1, 1, 22, 30).time())
    await readers(db, late)
    await tick(db, late, local(11, 25, 10))
    assert (await items(db))["digest-week:2026-W48"].due_at == local(11, 30, 22, 30)
    assert (await tick(db, late, local(11, 30, 22, 30))).sent == 0  # quiet from 21:00 to 08:00
    assert (await tick(db, late, local(12, 1, 7, 59))).sent == 0
    assert (await tick(db, late, local(12, 1, 8, 0))).sent == 6
    assert len(await outbox(db)) == 15


async def test_after_downtime_a_stale_digest_is_skipped_and_the_series_goes_on(
    db: Database, tuned_settings: Settings, fixture: DigestDistrict
) -> None:
    await readers(db, tuned_settings)
    await tick(db, tuned_settings, local(11, 25, 10))
    # Down from Monday morning to Thursday: past the digest's 48 hours, the readers' items are of no use.
    report = await tick(db, tuned_settings, local(12, 3, 9))
    assert (report.sent, report.skipped) == (1, 5)
    planned = await items(db)
    assert {item.reason for key, item in planned.items() if key.startswith("digest:")} == {"too_late"}
    assert await outbox(db) == []
    assert planned["digest-week:2026-W49"].state == "pending"
    assert (await tick(db, tuned_settings, local(12, 7, 8, 30))).sent == 6
    [first, *_files] = [row for row in await outbox(db) if row.chat_key == "leader:L01"]
    assert str(first.payload["text"]).startswith("【连心周报】全区｜2026年第49周（11月30日—12月6日）")


async def test_the_first_digest_is_the_next_one_and_any_weekday_can_be_chosen(
    db: Database, settings: Settings, fixture: DigestDistrict, tmp_path: Path
) -> None:
    monday = tuned(settings, tmp_path / "a")
    await tick(db, monday, local(11, 30, 9))  # started after this Monday's hour: next Monday's, for this week
    assert [(key, item.due_at) for key, item in (await items(db)).items()] == [
        ("digest-week:2026-W49", local(12, 7, 8, 30))
    ]
    async with db.transaction() as session:
        await execute(session, sa.delete(DueItem))
    wednesday = tuned(settings, tmp_path / "b", weekday=3)
    await tick(db, wednesday, local(11, 25, 10))  # Wednesday 08:30 has passed: W48's digest, on 2 December
    assert [(key, item.due_at) for key, item in (await items(db)).items()] == [
        ("digest-week:2026-W48", local(12, 2, 8, 30))
    ]


async def test_readers_who_stopped_reading_or_blocked_the_bot_are_skipped_with_the_reason(
    db: Database, tuned_settings: Settings, fixture: DigestDistrict
) -> None:
    await readers(db, tuned_settings)
    keys = await reader_keys(db, fixture)
    await tick(db, tuned_settings, local(11, 25, 10))
    d001, l01 = f"digest:2026-W48:{keys['representative:D001']}", f"digest:2026-W48:{keys['leader:L01']}"
    async with db.transaction() as session:
        # D001's item was planned while he led the group (as a fan-out would have), then he handed it over; L01's
        # only chat blocked the bot.
        await schedule.plan(
            session,
            items=[
                Planned(
                    key=d001,
                    kind="digest",
                    due_at=local(11, 30, 8, 30),
                    payload={"week": "2026-W48", "reader": keys["representative:D001"]},
                )
            ],
            now=local(11, 29, 12),
        )
        leader = sa.update(Representative).where(col(Representative.code) == "D001").values(group_role="member")
        await execute(session, leader)
        blocked = (
            sa.update(ChatIdentity)
            .where(col(ChatIdentity.external_id) == "leader:L01")
            .values(blocked_at=local(11, 29, 12))
        )
        await execute(session, blocked)
    report = await tick(db, tuned_settings, local(11, 30, 8, 30))
    assert (report.sent, report.skipped) == (4, 2)  # the series, L02, O01 and T009; D001 and L01
    planned = await items(db)
    assert (planned[d001].state, planned[d001].reason, planned[d001].payload["reason_values"]) == (
        "skipped",
        "digest_not_a_reader",
        {"reader": keys["representative:D001"]},
    )
    assert (planned[l01].state, planned[l01].reason) == ("skipped", "digest_no_chat")
    told = {row.chat_key for row in await outbox(db)}
    assert told == {"leader:L02", "liaison:O01", "representative:T009"}
