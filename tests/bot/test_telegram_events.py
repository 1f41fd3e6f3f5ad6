"""An event through the real Telegram channel against the fake Bot API server: the invitation reaches D001 with its
buttons, D001 answers 参加 by pressing one, and on the day checks in by sharing a location (one too far away first,
refused with the distance)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from handlers.programme_events import notice
from storage.db import Database
from storage.models import EventInvitation, utcnow
from storage.records import events, people
from storage.settings import Settings
from tests.bot.telegram_harness import REP_CHAT, Harness, bound_representative
from tests.factories import District
from tests.storage.records.test_reception import bind

PLACE = (30.7000, 111.3000)


async def test_an_invitation_answered_by_button_then_a_check_in_by_shared_location(
    fast: Harness, db: Database, settings: Settings, district: District
) -> None:
    await bound_representative(fast)
    office = await bind(db, "liaison:O01")
    now = utcnow()
    async with db.transaction() as session:
        liaison = await people.standing_of(session, identity=office)
        # Starting in half an hour: check-in is already open (it opens an hour before the start).
        event = await events.add_event(
            session,
            kind=events.TRAINING,
            title="党章学习培训",
            scope="all",
            starts_at=now + timedelta(minutes=30),
            ends_at=now + timedelta(hours=2),
            place="区委党校",
            latitude=PLACE[0],
            longitude=PLACE[1],
            standing=liaison,
            settings=settings,
            now=now,
            render=notice,
        )
    await fast.settle()
    invited = fast.screen(REP_CHAT)
    assert "📣 邀请您参加培训「党章学习培训」" in invited and "地点：区委党校" in invited
    assert fast.buttons(REP_CHAT) == ["参加", "请假"]

    attending = await fast.press(REP_CHAT, "参加")
    assert "✅ 已回复参加。" in attending and "您的回复：参加" in attending
    asked = await fast.press(REP_CHAT, "分享位置签到")
    assert "请分享您现在的位置" in asked
    keyboard = fast.server.sent(REP_CHAT)[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True

    fast.server.user_sends_location(REP_CHAT, PLACE[0] + 0.01, PLACE[1])  # about 1.1 km away
    await fast.settle()
    assert "您离活动地点约 1112 米，需在 500 米内才能签到" in "\n".join(
        str(message.get("plain_text")) for message in fast.server.sent(REP_CHAT)[-2:]
    )
    fast.server.user_sends_location(REP_CHAT, PLACE[0] + 0.001, PLACE[1])
    await fast.settle()
    assert "✅ 签到成功。" in fast.screen(REP_CHAT)

    async with db.transaction() as session:
        invitations = (await session.exec(select(EventInvitation).where(EventInvitation.event_id == event.id))).all()
        mine = await session.get(EventInvitation, (event.id, district.representatives["D001"]))
    assert len(invitations) == 3 and mine is not None
    assert (mine.answer, mine.check_in_by, mine.distance_m) == ("attend", "location", 111)
    assert {row.status for row in await fast.outbox()} == {"sent"}
