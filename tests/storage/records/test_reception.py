"""Reception days in the store: a day plans its notices, a change moves them and tells those concerned, a
cancellation skips them; duties confirmed or a swap asked (the liaison office told); subscriptions; a note taken at
a reception is a case linked to it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import col, select

from handlers.reception import notice
from storage.db import Database
from storage.errors import Conflict, InvalidInput, NotAllowed
from storage.models import (
    ChatIdentity,
    DueItem,
    OutboxMessage,
    ReceptionDay,
    ReceptionDuty,
    Station,
)
from storage.records import cases, people, reception, rota_changes, schedule
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.factories import NOW, District, build_district

HAPPY = "幸福社区党代表工作站"
EAST = "东山村党代表工作站"
THURSDAY = date(2026, 11, 26)  # the day after NOW (Wednesday 25 November, 10:00 in Shanghai)


def utc(text: str) -> datetime:
    """A Shanghai wall-clock time as the UTC moment it is: utc("2026-11-25 17:00")."""
    local = datetime.fromisoformat(text)
    return (local - (datetime(2000, 1, 1, 8) - datetime(2000, 1, 1))).replace(tzinfo=UTC)


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def station_id(db: Database, name: str = HAPPY) -> int:
    async with db.transaction() as session:
        found = (await session.exec(select(Station).where(Station.name == name))).one()
        assert found.id is not None
        return found.id


async def bind(db: Database, who: str, *, language: str | None = None) -> ChatIdentity:
    """A console chat bound as `who` (representative:D001, liaison:O01, resident:amy)."""
    role, _, code = who.partition(":")
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel="console", external_id=who)
        if role != "resident":
            await people.assume_role(session, identity=identity, role=role, code=code, actor="test")
        if language:
            await people.set_language(session, identity=identity, language=language)
        return identity


async def add_day(
    db: Database,
    settings: Settings,
    district: District,
    *,
    day: date = THURSDAY,
    starts: time = time(9, 0),
    ends: time = time(11, 30),
    codes: tuple[str, ...] = ("D001", "T001"),
    station: str = HAPPY,
    now: datetime = NOW,
) -> int:
    at = await station_id(db, station)
    async with db.transaction() as session:
        record = await rota_changes.add_day(
            session,
            station_id=at,
            day=day,
            starts=starts,
            ends=ends,
            representative_ids=[district.representatives[code] for code in codes],
            actor="test",
            settings=settings,
            now=now,
            render=notice,
        )
        assert record.id is not None
        return record.id


async def items(db: Database, reception_id: int) -> dict[str, DueItem]:
    async with db.transaction() as session:
        found = await session.exec(select(DueItem).where(col(DueItem.key).endswith(f":{reception_id}")))
        return {item.kind: item for item in found.all()}


async def told(db: Database, who: str) -> list[str]:
    async with db.transaction() as session:
        found = await session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_key == who).order_by(col(OutboxMessage.id))
        )
        return [str(row.payload.get("text", "")) for row in found.all()]


async def test_a_new_day_plans_its_notices_and_tells_those_on_duty(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:D001")
    await bind(db, "representative:T001", language="en")
    reception_id = await add_day(db, settings, district)
    planned = await items(db, reception_id)
    begins = utc("2026-11-26 09:00")
    assert {kind: (item.key, item.due_at, item.expires_at, item.state) for kind, item in planned.items()} == {
        "reception-duty": (f"reception-duty:{reception_id}", utc("2026-11-25 17:00"), begins, "pending"),
        "reception-residents": (f"reception-residents:{reception_id}", utc("2026-11-25 17:00"), begins, "pending"),
        "reception-morning": (f"reception-morning:{reception_id}", utc("2026-11-26 08:00"), begins, "pending"),
    }
    [zh] = await told(db, "representative:D001")
    assert "您被安排在幸福社区党代表工作站接待日值班：2026-11-26（周四）9:00-11:30，地点：幸福路1号" in zh
    [en] = await told(db, "representative:T001")
    assert "You are on duty at a reception day of 幸福社区党代表工作站: 2026-11-26 (Thu) 9:00-11:30" in en


async def test_a_far_day_keeps_its_notices_useful_for_their_lateness_only(
    db: Database, settings: Settings, district: District
) -> None:
    reception_id = await add_day(db, settings, district, day=date(2026, 12, 9), starts=time(14, 30), ends=time(17))
    planned = await items(db, reception_id)
    # 24 hours after the eve's 17:00 comes after the 14:30 start: the start is the limit; the morning's too.
    assert planned["reception-duty"].expires_at == utc("2026-12-09 14:30")
    assert planned["reception-morning"].expires_at == utc("2026-12-09 14:30")


async def test_a_change_moves_pending_items_and_tells_duty_and_subscribers(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:D001")
    await bind(db, "representative:D002")
    amy = await bind(db, "resident:amy")
    reception_id = await add_day(db, settings, district)
    happy = await station_id(db)
    async with db.transaction() as session:
        assert await reception.subscribe(session, identity=amy, station_id=happy, now=NOW)
        assert not await reception.subscribe(session, identity=amy, station_id=happy, now=NOW)
        await rota_changes.change_day(
            session,
            reception_id=reception_id,
            day=date(2026, 11, 27),
            starts=time(14, 0),
            ends=time(16, 0),
            place="幸福社区活动室",
            representative_ids=[district.representatives["D001"], district.representatives["D002"]],
            actor="test",
            settings=settings,
            now=NOW,
            render=notice,
        )
    planned = await items(db, reception_id)
    assert planned["reception-duty"].due_at == utc("2026-11-26 17:00")
    assert planned["reception-residents"].expires_at == utc("2026-11-27 14:00")
    assert planned["reception-morning"].due_at == utc("2026-11-27 08:00")
    changed = (
        "幸福社区党代表工作站的接待日有变动：原定 2026-11-26（周四）9:00-11:30，"
        "现在是 2026-11-27（周五）14:00-16:00，地点：幸福社区活动室"
    )
    assert any(changed in text for text in await told(db, "resident:amy"))
    assert any(changed in text for text in await told(db, "representative:D001"))
    # D002 joins the duty and hears that (not of a change); T001, taken off, has no chat here.
    [assigned] = await told(db, "representative:D002")
    assert "您被安排在幸福社区党代表工作站接待日值班：2026-11-27（周五）14:00-16:00" in assigned


async def test_a_sent_notice_stays_sent_when_the_day_moves(
    db: Database, settings: Settings, district: District
) -> None:
    reception_id = await add_day(db, settings, district)
    async with db.transaction() as session:
        [item] = await schedule.items_with_prefix(session, prefix=f"reception-duty:{reception_id}")
        schedule.finish(session, item, now=utc("2026-11-25 17:00"))
    async with db.transaction() as session:
        await rota_changes.change_day(
            session,
            reception_id=reception_id,
            starts=time(10),
            ends=time(11),
            actor="test",
            settings=settings,
            now=NOW,
            render=notice,
        )
    planned = await items(db, reception_id)
    assert (planned["reception-duty"].state, planned["reception-duty"].expires_at) == ("sent", utc("2026-11-26 09:00"))
    assert planned["reception-morning"].expires_at == utc("2026-11-26 10:00")


async def test_a_cancellation_skips_pending_items_and_tells_duty_and_subscribers(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:T001")
    amy = await bind(db, "resident:amy", language="en")
    reception_id = await add_day(db, settings, district)
    happy = await station_id(db)
    async with db.transaction() as session:
        await reception.subscribe(session, identity=amy, station_id=happy, now=NOW)
        await rota_changes.cancel_day(
            session, reception_id=reception_id, actor="test", settings=settings, now=NOW, render=notice
        )
    assert {item.state + ":" + item.reason for item in (await items(db, reception_id)).values()} == {
        "skipped:cancelled"
    }
    assert (
        "❌ 幸福社区党代表工作站 2026-11-26（周四）9:00-11:30 的接待日已取消"
        in (await told(db, "representative:T001"))[-1]
    )
    assert (await told(db, "resident:amy")) == [
        "❌ The reception day of 幸福社区党代表工作站 on 2026-11-26 (Thu) 9:00-11:30 is cancelled."
    ]
    async with db.transaction() as session:
        with pytest.raises(Conflict):
            await rota_changes.cancel_day(
                session, reception_id=reception_id, actor="test", settings=settings, now=NOW, render=notice
            )
        assert await reception.coming(session, station_id=happy, today=NOW.date(), limit=5) == []
    async with db.transaction() as session:  # restored (a rota re-imported): announced again
        await rota_changes.change_day(
            session,
            reception_id=reception_id,
            cancelled=False,
            actor="test",
            settings=settings,
            now=NOW,
            render=notice,
        )
    assert {item.state + ":" + item.reason for item in (await items(db, reception_id)).values()} == {"pending:"}


async def test_what_cannot_be_planned(db: Database, settings: Settings, district: District) -> None:
    await add_day(db, settings, district)
    for problem, kwargs in (
        ("reception.error.exists", {}),  # the same station, day and start
        ("reception.error.past", {"day": date(2026, 11, 24)}),
        ("reception.error.ends_first", {"day": date(2026, 11, 30), "starts": time(11), "ends": time(9)}),
    ):
        with pytest.raises((Conflict, InvalidInput)) as raised:
            await add_day(db, settings, district, **kwargs)
        assert raised.value.key == problem
    async with db.transaction() as session:
        with pytest.raises(InvalidInput) as unknown:
            await reception.representatives_by_codes(session, codes=["D001", "X999"])
        assert unknown.value.params == {"code": "X999"}
    assert reception.parse_span("9:00－11:30") == (time(9), time(11, 30))
    assert reception.parse_span("14点 至 16.30") == (time(14), time(16, 30))
    assert reception.split_codes("d001、T001；d001 D002") == ["D001", "T001", "D002"]


async def test_a_duty_confirmed_then_a_swap_asked_tells_the_liaison_office(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "liaison:O01")
    reception_id = await add_day(db, settings, district)
    d001 = district.standing("D001")
    async with db.transaction() as session:
        rota = await rota_changes.confirm_duty(
            session, reception_id=reception_id, standing=d001, settings=settings, now=NOW
        )
        confirmed = rota.on_duty(d001.representative_id)
        assert confirmed is not None and confirmed.status == "confirmed"
        rota = await rota_changes.ask_swap(
            session,
            reception_id=reception_id,
            standing=d001,
            reason="外出开会",
            settings=settings,
            now=NOW,
            render=notice,
        )
        mine = rota.on_duty(d001.representative_id)
        assert mine is not None and (mine.status, mine.note) == ("swap_asked", "外出开会")
        [(asked_rota, asked)] = await reception.swap_requests(session, today=NOW.date())
        assert (asked_rota.id, asked.code) == (reception_id, "D001")
    [office] = await told(db, "liaison:O01")
    assert office.startswith(
        "王建国（D001）申请调换幸福社区党代表工作站 2026-11-26（周四）9:00-11:30 的接待日值班，原因：外出开会"
    )
    async with db.transaction() as session:
        with pytest.raises(NotAllowed):  # D002 is not on duty that day
            await rota_changes.confirm_duty(
                session, reception_id=reception_id, standing=district.standing("D002"), settings=settings, now=NOW
            )
        with pytest.raises(InvalidInput):  # a day past cannot be answered any more
            await rota_changes.confirm_duty(
                session,
                reception_id=reception_id,
                standing=d001,
                settings=settings,
                now=utc("2026-11-27 10:00"),
            )


async def test_only_representatives_in_office_count_on_duty(
    db: Database, settings: Settings, district: District
) -> None:
    reception_id = await add_day(db, settings, district)
    async with db.transaction() as session:
        rep = await people.representative_by_code(session, code="T001")
        rep.active = False
        session.add(rep)
    async with db.transaction() as session:
        rota = await reception.view(session, reception_id=reception_id)
        assert [one.code for one in rota.duty] == ["D001"]
        with pytest.raises(InvalidInput) as refused:
            await reception.representatives_by_codes(session, codes=["T001"])
        assert refused.value.key == "reception.error.inactive"


async def test_a_note_taken_at_a_reception_is_a_case_linked_to_it(
    db: Database, settings: Settings, district: District
) -> None:
    rep = await bind(db, "representative:D001")
    reception_id = await add_day(db, settings, district, day=NOW.date(), starts=time(9), ends=time(11, 30))
    async with db.transaction() as session:
        rota = await rota_changes.noted_at(
            session, reception_id=reception_id, standing=district.standing("D001"), today=date(2026, 11, 28)
        )
        case = await cases.submit(
            session,
            intake=cases.Intake(
                source="reception",
                category="housing",
                text="幸福路12号屋顶漏水，希望尽快维修。",
                area_id=district.areas["幸福社区一区"],
                representative_id=district.representatives["D001"],
                name="陈阿姨",
                phone="13912345678",
                consent=True,
                reception_id=rota.id,
            ),
            writer=rep,
            actor=f"identity:{rep.id}",
            settings=settings,
            calendar=calendar_of(settings),
            now=NOW,
            render=notice,
        )
    assert (case.source, case.reception_id, case.reported, case.identity_id) == ("reception", reception_id, True, None)
    assert (case.name, case.department) == ("陈阿姨", "区住建局")
    async with db.transaction() as session:
        for standing, today, key in (
            (district.standing("D002"), NOW.date(), "reception.error.not_on_duty"),
            (district.standing("D001"), date(2026, 11, 24), "reception.error.not_yet"),
            (district.standing("D001"), date(2026, 11, 29), "reception.error.too_old"),
        ):
            with pytest.raises((NotAllowed, InvalidInput)) as refused:
                await rota_changes.noted_at(session, reception_id=reception_id, standing=standing, today=today)
            assert refused.value.key == key


async def test_subscribers_and_duty_links(db: Database, settings: Settings, district: District) -> None:
    amy = await bind(db, "resident:amy")
    bob = await bind(db, "resident:bob")
    happy, east = await station_id(db), await station_id(db, EAST)
    async with db.transaction() as session:
        await reception.subscribe(session, identity=amy, station_id=happy, now=NOW)
        await reception.subscribe(session, identity=bob, station_id=east, now=NOW)
        assert [person.external_id for person in await reception.subscribers(session, station_id=happy)] == [
            "resident:amy"
        ]
        assert await reception.unsubscribe(session, identity=amy, station_id=happy)
        assert not await reception.unsubscribe(session, identity=amy, station_id=happy)
        assert await reception.subscribers(session, station_id=happy) == []
    reception_id = await add_day(db, settings, district, codes=("D001", "D001", "T001"))
    async with db.transaction() as session:
        links = (await session.exec(select(ReceptionDuty).where(ReceptionDuty.reception_id == reception_id))).all()
        assert sorted(link.representative_id for link in links) == sorted(
            [district.representatives["D001"], district.representatives["T001"]]
        )
        assert (await session.get(ReceptionDay, reception_id)) is not None
