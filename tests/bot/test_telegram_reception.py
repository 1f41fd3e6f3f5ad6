"""Reception days through the real Telegram channel against the fake Bot API server: a resident finds their
station's coming days and subscribes, then unsubscribes, by pressing buttons."""

from __future__ import annotations

from datetime import time, timedelta

from sqlmodel import select

from handlers.reception import notice
from storage.db import Database
from storage.models import ReceptionSubscription, Station, utcnow
from storage.records import rota_changes
from storage.settings import Settings
from tests.bot.telegram_harness import RESIDENT_CHAT, Harness
from tests.factories import District


async def test_a_resident_subscribes_to_their_stations_reception_days_by_button(
    fast: Harness, db: Database, settings: Settings, district: District
) -> None:
    now = utcnow()
    tomorrow = now.astimezone(settings.zone).date() + timedelta(days=1)
    async with db.transaction() as session:
        station = (await session.exec(select(Station).where(Station.name == "幸福社区党代表工作站"))).one()
        assert station.id is not None
        await rota_changes.add_day(
            session,
            station_id=station.id,
            day=tomorrow,
            starts=time(9),
            ends=time(11, 30),
            representative_ids=[district.representatives["D001"]],
            actor="test",
            settings=settings,
            now=now,
            render=notice,
        )

    assert "我帮您找到附近的党代表工作站" in await fast.say(RESIDENT_CHAT, "接待日")
    assert "找到以下片区" in await fast.say(RESIDENT_CHAT, "幸福")
    shown = await fast.press(RESIDENT_CHAT, "幸福社区一区（幸福社区党代表工作站）")
    assert "幸福社区党代表工作站（幸福路1号）接下来的接待日" in shown
    assert f"📅 {tomorrow.isoformat()}" in shown and "值班代表：王建国" in shown
    assert fast.buttons(RESIDENT_CHAT) == ["订阅本站接待日通知", "换一个地方"]

    subscribed = await fast.press(RESIDENT_CHAT, "订阅本站接待日通知")
    assert "✅ 已订阅幸福社区党代表工作站的接待日通知" in subscribed
    assert fast.buttons(RESIDENT_CHAT) == ["退订本站接待日通知", "换一个地方"]
    async with db.transaction() as session:
        [subscription] = (await session.exec(select(ReceptionSubscription))).all()
    assert subscription.station_id == station.id

    assert "已退订" in await fast.press(RESIDENT_CHAT, "退订本站接待日通知")
    async with db.transaction() as session:
        assert (await session.exec(select(ReceptionSubscription))).all() == []
    rows = await fast.outbox()
    assert {row.status for row in rows} == {"sent"}
