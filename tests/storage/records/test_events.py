"""Events in the store: adding one invites the scope's representatives in office, tells them and plans the
day-before reminder; a new time moves it and a cancellation skips it, the invited told; answers (excused needs a
reason), check-in within the window and the radius (nothing recorded otherwise), only the invited; attendance
for the group rules and the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from handlers.programme_events import notice
from storage.db import Database
from storage.errors import Conflict, InvalidInput, NotAllowed
from storage.models import AuditEntry, DueItem, EventInvitation, OutboxMessage, ProgrammeEvent, Representative
from storage.policy import Standing
from storage.records import events, people, schedule
from storage.settings import Settings
from tests.factories import NOW, District, build_district
from tests.storage.records.test_reception import bind, utc

# The event's place and points near and far from it.
PLACE = (30.7000, 111.3000)
NEAR = (30.7020, 111.3000)  # about 222 m north
FAR = (30.7100, 111.3000)  # about 1.1 km north


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
async def liaison(db: Database, district: District) -> Standing:
    return await office(db)


async def office(db: Database) -> Standing:
    identity = await bind(db, "liaison:O01")
    async with db.transaction() as session:
        return await people.standing_of(session, identity=identity)


async def add_event(
    db: Database,
    settings: Settings,
    *,
    kind: str = events.TRAINING,
    starts: str = "2026-11-26 09:00",
    ends: str = "2026-11-26 11:30",
    scope: str = "all",
    place: tuple[float, float] | None = PLACE,
    now: datetime = NOW,
) -> int:
    """An event scheduled by the liaison office (Thursday 9:00-11:30 in Shanghai unless said otherwise)."""
    standing = await office(db)
    async with db.transaction() as session:
        event = await events.add_event(
            session,
            kind=kind,
            title="党章学习培训",
            scope=scope,
            starts_at=utc(starts),
            ends_at=utc(ends),
            place="区委党校",
            latitude=place[0] if place else None,
            longitude=place[1] if place else None,
            standing=standing,
            settings=settings,
            now=now,
            render=notice,
        )
        assert event.id is not None
        return event.id


async def invitations(db: Database, event_id: int) -> dict[str, EventInvitation]:
    async with db.transaction() as session:
        found = await session.exec(
            select(Representative.code, EventInvitation)
            .join(EventInvitation, col(EventInvitation.representative_id) == Representative.id)
            .where(EventInvitation.event_id == event_id)
        )
        return {code: link for code, link in found.all()}


async def told(db: Database) -> list[tuple[str, str]]:
    async with db.transaction() as session:
        found = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [(row.chat_key, str(row.payload["text"])) for row in found.all()]


async def eve_item(db: Database, event_id: int) -> DueItem:
    """The reminder of the day the event is held on now: the last planned (a move to another day plans anew)."""
    async with db.transaction() as session:
        return (await schedule.items_with_prefix(session, prefix=f"{events.EVE}:{event_id}:"))[-1]


async def test_adding_invites_the_scope_tells_them_and_plans_the_eve(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:D001")
    await bind(db, "representative:T001")
    event_id = await add_event(db, settings)
    assert set(await invitations(db, event_id)) == {"D001", "D002", "T001"}  # D002 has no chat: invited all the same
    sent = await told(db)
    assert [chat for chat, _ in sent] == ["representative:D001", "representative:T001"]
    assert "邀请您参加培训「党章学习培训」" in sent[0][1] and "2026-11-26（周四）9:00-11:30" in sent[0][1]
    async with db.transaction() as session:
        payload = (await session.exec(select(OutboxMessage))).first()
        assert payload is not None
        assert payload.payload["buttons"] == [
            [f"cmd:/events {event_id} attend", "参加"],
            [f"cmd:/events {event_id} excuse", "请假"],
        ]
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "event.add"))).one()
        assert audit.entity_id == str(event_id) and "党章" not in str(audit.detail)  # ids only, never the text
    item = await eve_item(db, event_id)
    assert item.state == "pending" and item.due_at == utc("2026-11-25 17:00")
    assert item.expires_at is not None and item.expires_at <= utc("2026-11-26 09:00")


async def test_a_level_or_a_group_invites_only_its_representatives_in_office(
    db: Database, settings: Settings, district: District
) -> None:
    assert set(await invitations(db, await add_event(db, settings, scope="level:district"))) == {"D001", "D002"}
    async with db.transaction() as session:
        rep = await session.get(Representative, district.representatives["D002"])
        assert rep is not None
        rep.active = False
        session.add(rep)
    group = await add_event(db, settings, scope=f"group:{district.group_id}")
    assert set(await invitations(db, group)) == {"D001", "T001"}


async def test_only_the_liaison_office_schedules_and_an_ended_event_is_refused(
    db: Database, settings: Settings, district: District
) -> None:
    async with db.transaction() as session:
        with pytest.raises(NotAllowed):
            await events.add_event(
                session,
                kind=events.TRAINING,
                title="x",
                scope="all",
                starts_at=utc("2026-11-26 09:00"),
                ends_at=utc("2026-11-26 10:00"),
                standing=district.standing("D001"),
                settings=settings,
                now=NOW,
                render=notice,
            )
    with pytest.raises(InvalidInput) as past:
        await add_event(db, settings, starts="2026-11-24 09:00", ends="2026-11-24 11:00")
    assert past.value.key == "event.error.past"
    with pytest.raises(InvalidInput) as backwards:
        await add_event(db, settings, starts="2026-11-26 11:00", ends="2026-11-26 09:00")
    assert backwards.value.key == "event.error.ends_first"


async def test_excused_needs_a_reason_and_only_the_invited_answer(
    db: Database, settings: Settings, district: District, liaison: Standing
) -> None:
    event_id = await add_event(db, settings, scope="level:district")
    async with db.transaction() as session:
        with pytest.raises(InvalidInput) as no_reason:
            await events.answer(session, event_id=event_id, standing=district.standing("D001"), attend=False, now=NOW)
        assert no_reason.value.key == "event.error.reason_required"
        with pytest.raises(NotAllowed) as stranger:
            await events.answer(session, event_id=event_id, standing=district.standing("T001"), attend=True, now=NOW)
        assert stranger.value.key == "event.error.not_invited"
        with pytest.raises(NotAllowed):
            await events.answer(session, event_id=event_id, standing=liaison, attend=True, now=NOW)
    async with db.transaction() as session:
        await events.answer(
            session, event_id=event_id, standing=district.standing("D001"), attend=False, reason=" 出差 ", now=NOW
        )
        await events.answer(session, event_id=event_id, standing=district.standing("D002"), attend=True, now=NOW)
    answers = await invitations(db, event_id)
    assert (answers["D001"].answer, answers["D001"].reason) == ("excused", "出差")
    assert (answers["D002"].answer, answers["D002"].reason) == ("attend", "")


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        ("2026-11-26 07:59", False),  # check_in_opens_minutes (60) before the start is 8:00
        ("2026-11-26 08:00", True),
        ("2026-11-26 11:30", True),
        ("2026-11-26 11:31", False),
    ],
)
async def test_check_in_is_open_from_an_hour_before_until_the_end(
    db: Database, settings: Settings, district: District, at: str, allowed: bool
) -> None:
    event_id = await add_event(db, settings, place=None)
    async with db.transaction() as session:
        if allowed:
            await events.check_in(
                session, event_id=event_id, standing=district.standing("D001"), now=utc(at), settings=settings
            )
        else:
            with pytest.raises(InvalidInput) as closed:
                await events.check_in(
                    session, event_id=event_id, standing=district.standing("D001"), now=utc(at), settings=settings
                )
            assert closed.value.params == {"date": "2026-11-26", "opens": "8:00", "closes": "11:30"}
    link = (await invitations(db, event_id))["D001"]
    assert (link.checked_in_at is not None) is allowed
    if allowed:
        assert (link.check_in_by, link.distance_m, link.answer) == ("button", None, "attend")


async def test_check_in_by_location_within_the_radius_only(
    db: Database, settings: Settings, district: District, liaison: Standing
) -> None:
    event_id = await add_event(db, settings)
    at = utc("2026-11-26 08:50")
    standing = district.standing("D001")
    async with db.transaction() as session:
        with pytest.raises(InvalidInput) as far:
            await events.check_in(
                session,
                event_id=event_id,
                standing=standing,
                now=at,
                settings=settings,
                latitude=FAR[0],
                longitude=FAR[1],
            )
        assert far.value.key == "event.error.too_far"
        assert far.value.params["radius"] == 500 and 1050 <= far.value.params["distance"] <= 1150
        with pytest.raises(InvalidInput) as button:
            await events.check_in(session, event_id=event_id, standing=standing, now=at, settings=settings)
        assert button.value.key == "event.error.location_needed"
    assert (await invitations(db, event_id))["D001"].checked_in_at is None  # nothing recorded
    async with db.transaction() as session:
        await events.check_in(
            session,
            event_id=event_id,
            standing=standing,
            now=at,
            settings=settings,
            latitude=NEAR[0],
            longitude=NEAR[1],
        )
    link = (await invitations(db, event_id))["D001"]
    assert link.checked_in_at == at and link.check_in_by == "location"
    assert link.distance_m is not None and 200 <= link.distance_m <= 240
    async with db.transaction() as session:
        with pytest.raises(Conflict):
            await events.check_in(
                session,
                event_id=event_id,
                standing=standing,
                now=at,
                settings=settings,
                latitude=NEAR[0],
                longitude=NEAR[1],
            )
        with pytest.raises(NotAllowed):  # the liaison office is not invited
            await events.check_in(session, event_id=event_id, standing=liaison, now=at, settings=settings)


def test_the_distance_is_the_great_circle_one() -> None:
    assert events.distance_m(*PLACE, *PLACE) == 0
    assert round(events.distance_m(30.0, 111.0, 31.0, 111.0)) == 111_195  # one degree of latitude
    assert round(events.distance_m(0.0, 0.0, 0.0, 1.0)) == 111_195  # one degree of longitude at the equator


async def test_a_new_time_moves_the_eve_and_tells_those_not_excused(
    db: Database, settings: Settings, district: District, liaison: Standing
) -> None:
    for who in ("representative:D001", "representative:T001"):
        await bind(db, who)
    event_id = await add_event(db, settings)
    async with db.transaction() as session:
        await events.answer(
            session, event_id=event_id, standing=district.standing("T001"), attend=False, reason="出差", now=NOW
        )
        await events.change_time(
            session,
            event_id=event_id,
            starts_at=utc("2026-11-28 14:00"),
            ends_at=utc("2026-11-28 16:00"),
            standing=liaison,
            settings=settings,
            now=NOW,
            render=notice,
        )
    item = await eve_item(db, event_id)
    assert item.state == "pending" and item.due_at == utc("2026-11-27 17:00")
    changed = [(chat, text) for chat, text in await told(db) if "时间有变" in text]
    assert [chat for chat, _ in changed] == ["representative:D001"]
    assert (
        "原定：2026-11-26（周四）9:00-11:30" in changed[0][1] and "现在：2026-11-28（周六）14:00-16:00" in changed[0][1]
    )


async def test_cancelling_skips_the_eve_and_tells_the_invited_once(
    db: Database, settings: Settings, district: District, liaison: Standing
) -> None:
    await bind(db, "representative:D001")
    event_id = await add_event(db, settings)
    async with db.transaction() as session:
        await events.cancel_event(
            session, event_id=event_id, standing=liaison, settings=settings, now=NOW, render=notice
        )
    item = await eve_item(db, event_id)
    assert (item.state, item.reason) == ("skipped", "cancelled")
    assert [text for _, text in await told(db) if "已取消" in text] == [
        "❌ 培训「党章学习培训」（2026-11-26（周四）9:00-11:30）已取消。"
    ]
    async with db.transaction() as session:
        with pytest.raises(Conflict):
            await events.cancel_event(
                session, event_id=event_id, standing=liaison, settings=settings, now=NOW, render=notice
            )
        with pytest.raises(Conflict):
            await events.answer(session, event_id=event_id, standing=district.standing("D001"), attend=True, now=NOW)


async def test_attendance_counts_check_ins_of_trainings_and_collective_activities(
    db: Database, settings: Settings, district: District
) -> None:
    training = await add_event(db, settings, place=None)
    collective = await add_event(
        db, settings, kind=events.COLLECTIVE, starts="2026-11-27 09:00", ends="2026-11-27 11:00", place=None
    )
    visit_round = await add_event(
        db, settings, kind=events.ROUND, starts="2026-11-27 14:00", ends="2026-11-27 17:00", place=None
    )
    checks = [(training, "D001", "2026-11-26 09:00"), (collective, "D001", "2026-11-27 09:00")]
    checks += [(visit_round, "D001", "2026-11-27 14:00"), (training, "T001", "2026-11-26 10:00")]
    for event_id, code, at in checks:
        async with db.transaction() as session:
            await events.check_in(
                session, event_id=event_id, standing=district.standing(code), now=utc(at), settings=settings
            )
    async with db.transaction() as session:
        done = await events.attended(session, year=2026, settings=settings)
        mine = await events.attended(
            session, year=2026, settings=settings, representative_id=district.representatives["D001"]
        )
        nothing = await events.attended(session, year=2025, settings=settings)
        digest = await events.attendance(session, since=utc("2026-11-23 00:00"), until=utc("2026-11-30 00:00"))
        later = await events.attendance(session, since=utc("2026-11-30 00:00"), until=utc("2026-12-07 00:00"))
    assert done == {
        district.representatives["D001"]: events.Attended(trainings=1, collective=1),  # the round does not count
        district.representatives["T001"]: events.Attended(trainings=1, collective=0),
    }
    assert mine == {district.representatives["D001"]: events.Attended(1, 1)}
    assert nothing == {} and later == []
    assert [(event.id, checked, invited) for event, checked, invited in digest] == [
        (training, 2, 3),
        (collective, 1, 3),
        (visit_round, 1, 3),
    ]


async def test_the_office_list_counts_answers_and_check_ins(
    db: Database, settings: Settings, district: District
) -> None:
    event_id = await add_event(db, settings, place=None)
    async with db.transaction() as session:
        await events.answer(session, event_id=event_id, standing=district.standing("D001"), attend=True, now=NOW)
        await events.answer(
            session, event_id=event_id, standing=district.standing("D002"), attend=False, reason="病假", now=NOW
        )
    async with db.transaction() as session:
        await events.check_in(
            session,
            event_id=event_id,
            standing=district.standing("T001"),
            now=utc("2026-11-26 08:30"),
            settings=settings,
        )
    async with db.transaction() as session:
        listed = await events.office_list(session, now=NOW, settings=settings)
        coming = await events.coming_for(session, representative_id=district.representatives["D001"], now=NOW)
        over = await events.coming_for(
            session, representative_id=district.representatives["D001"], now=utc("2026-11-26 12:00")
        )
    assert [(c.event.id, c.invited, c.attending, c.excused, c.checked_in) for c in listed] == [(event_id, 3, 2, 1, 1)]
    assert [event.id for event, _ in coming] == [event_id] and over == []


def test_the_eve_is_of_no_use_once_the_event_begins(settings: Settings) -> None:
    event = ProgrammeEvent(
        id=7, kind=events.TRAINING, title="t", starts_at=utc("2026-11-26 08:00"), ends_at=utc("2026-11-26 09:00")
    )
    item = events.eve_item(event, settings=settings)
    assert item.due_at == utc("2026-11-25 17:00")
    assert item.expires_at == utc("2026-11-26 05:00")  # events lateness: 12 hours, before the start
    assert item.due_at.tzinfo is not None and item.due_at.utcoffset() == timedelta(0)
    assert datetime(2026, 11, 25, 9, 0, tzinfo=UTC) == item.due_at
