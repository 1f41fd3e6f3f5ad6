"""Events the liaison office schedules (trainings, collective activities, centralized visit rounds): adding one
invites every representative in office of its scope (they are told, and the day-before reminder is planned),
changing its time moves the reminder, cancelling it skips the reminder and tells the invited. The invited answer
attend or excused (with a reason) and check in on the day, by button or by a shared location within the radius of
the event's place. Attendance (check-ins) counts for the group rules and the leaders' digest.

Storage holds no words: a notice is a catalog key and values, which the caller's `Render` turns into a message in
each recipient's language (handlers.programme_events.notice)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import execute
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import ChatIdentity, EventInvitation, ProgrammeEvent, Representative
from storage.policy import Action, EventRecord, Role, Standing
from storage.records import audience, people, schedule
from storage.records.cases import Notices, Render
from storage.records.schedule import Planned
from storage.settings import Settings

TRAINING, COLLECTIVE, ROUND = "training", "collective", "round"
KINDS = (TRAINING, COLLECTIVE, ROUND)
PENDING, ATTEND, EXCUSED = "pending", "attend", "excused"
ANSWERS = (PENDING, ATTEND, EXCUSED)
BY_BUTTON, BY_LOCATION = "button", "location"
EVE = "event-eve"  # the due item's kind: the day-before reminder
MOVED = "event_moved"  # why a day's reminder was skipped: the event moved to another day
LATENESS = "events"  # scheduler.max_lateness_hours
MAX_TITLE = 100
MAX_PLACE = 200
MAX_REASON = 300
EARTH_RADIUS_M = 6_371_000
EVENT_INVITATION: sa.Table = EventInvitation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Counts:
    """An event with how its invited answered: for the liaison office's list."""

    event: ProgrammeEvent
    invited: int
    attending: int
    excused: int
    checked_in: int


@dataclass(frozen=True)
class Attended:
    """What a representative attended in a year (checked in), against the group rules."""

    trainings: int = 0
    collective: int = 0


def distance_m(latitude: float, longitude: float, other_latitude: float, other_longitude: float) -> float:
    """The great-circle distance between two points in metres (haversine)."""
    phi1, phi2 = math.radians(latitude), math.radians(other_latitude)
    d_phi = phi2 - phi1
    d_lambda = math.radians(other_longitude - longitude)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def radius_of(event: ProgrammeEvent, settings: Settings) -> int:
    return event.radius_m or settings.events.check_in_radius_m


def values(event: ProgrammeEvent, settings: Settings) -> dict[str, Any]:
    """What a notice about the event says: its id, kind, title, local day and times, place."""
    starts, ends = event.starts_at.astimezone(settings.zone), event.ends_at.astimezone(settings.zone)
    return {
        "event_id": event.id,
        "kind": event.kind,
        "title": event.title,
        "when": [starts.date().isoformat(), clock(starts.time()), clock(ends.time())],
        "place": event.place,
    }


def clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def moment(day: date, when: time, settings: Settings) -> datetime:
    """A local day and time as the UTC moment it is."""
    return datetime.combine(day, when, tzinfo=settings.zone).astimezone(UTC)


def _check(kind: str, title: str, place: str, starts_at: datetime, ends_at: datetime) -> tuple[str, str]:
    if kind not in KINDS:
        raise InvalidInput("event.error.kind")
    title, place = title.strip(), place.strip()
    if not title:
        raise InvalidInput("input.empty")
    if len(title) > MAX_TITLE:
        raise InvalidInput("input.too_long", limit=MAX_TITLE, length=len(title))
    if len(place) > MAX_PLACE:
        raise InvalidInput("input.too_long", limit=MAX_PLACE, length=len(place))
    if ends_at <= starts_at:
        raise InvalidInput("event.error.ends_first")
    return title, place


async def _locked(session: AsyncSession, event_id: int) -> ProgrammeEvent:
    event = await session.get(ProgrammeEvent, event_id, with_for_update=True, populate_existing=True)
    if event is None:
        raise NotFound("event.error.unknown")
    return event


async def get(session: AsyncSession, *, event_id: int) -> ProgrammeEvent:
    event = await session.get(ProgrammeEvent, event_id)
    if event is None:
        raise NotFound("event.error.unknown")
    return event


async def chats_of_invited(
    session: AsyncSession, *, event_id: int, answers: Sequence[str] = ANSWERS
) -> list[ChatIdentity]:
    """The notice chats of the invited representatives in office whose answer is one of `answers`, in one
    statement."""
    invited = (
        select(EventInvitation.representative_id)
        .join(Representative, col(Representative.id) == EventInvitation.representative_id)
        .where(
            EventInvitation.event_id == event_id,
            col(EventInvitation.answer).in_(list(answers)),
            col(Representative.active).is_(True),
        )
    )
    where = sa.and_(col(ChatIdentity.role) == Role.REPRESENTATIVE, col(ChatIdentity.representative_id).in_(invited))
    return await people.reachable_chats(session, where=where)


# --- the day-before reminder --------------------------------------------------------------------------------


def eve_item(event: ProgrammeEvent, *, settings: Settings) -> Planned:
    """The reminder at events.eve_at (local) the day before, of use until its lateness or the start."""
    assert event.id is not None
    local_day = event.starts_at.astimezone(settings.zone).date()
    due = moment(local_day - timedelta(days=1), settings.events.eve_at, settings)
    lateness = timedelta(hours=settings.scheduler.lateness_hours(LATENESS))
    return Planned(
        key=f"{EVE}:{event.id}:{local_day:%Y%m%d}",  # one per day the event is held on: a move plans anew
        kind=EVE,
        due_at=due,
        expires_at=min(due + lateness, event.starts_at),
        payload={"event_id": event.id},
    )


async def plan_event(session: AsyncSession, *, event: ProgrammeEvent, settings: Settings, now: datetime) -> None:
    """Plan the reminder, or move it with the event; a cancelled event's is skipped. One already of no use (the
    event begins before it could be sent) is not planned. Moved to another day, the event gets that day's reminder
    even when the old day's was sent or skipped already; the old day's, if still pending, is skipped."""
    item = eve_item(event, settings=settings)
    other_days = [
        found.key
        for found in await schedule.items_with_prefix(session, prefix=f"{EVE}:{event.id}:")
        if found.key != item.key
    ]
    await schedule.skip_pending(session, keys=other_days, now=now, reason=MOVED)
    await schedule.reopen_skipped(session, keys=[item.key], reason=MOVED)  # moved back to a day it had before
    if event.cancelled:
        await schedule.skip_pending(session, keys=[item.key], now=now, reason="cancelled")
        return
    if item.expires_at is not None and item.expires_at <= now:
        await schedule.skip_pending(session, keys=[item.key], now=now, reason="too_late")
        return
    await schedule.plan(session, items=[item], now=now, update=True)


# --- the liaison office's changes ---------------------------------------------------------------------------


async def add_event(
    session: AsyncSession,
    *,
    kind: str,
    title: str,
    scope: str,
    starts_at: datetime,
    ends_at: datetime,
    place: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    standing: Standing,
    settings: Settings,
    now: datetime,
    render: Render,
    notify: bool = True,
) -> ProgrammeEvent:
    """A new event: every representative in office of the scope is invited (in bulk) and told, with buttons to
    answer; the day-before reminder is planned. An event that has already ended is refused."""
    policy.require(standing, Action.MANAGE_EVENTS)
    title, place = _check(kind, title, place, starts_at, ends_at)
    if ends_at <= now:
        raise InvalidInput("event.error.past")
    invited = await audience.recipients(session, scope)
    event = ProgrammeEvent(
        kind=kind,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        place=place,
        latitude=latitude,
        longitude=longitude,
        scope=scope,
        created_by=standing.staff_id,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    await session.flush()
    assert event.id is not None
    session.add_all(EventInvitation(event_id=event.id, representative_id=rep_id) for rep_id in invited)
    await session.flush()
    audit.record(
        session,
        actor=standing.actor,
        action="event.add",
        entity="programme_event",
        entity_id=event.id,
        invited=len(invited),
    )
    await plan_event(session, event=event, settings=settings, now=now)
    if notify:
        notices = Notices(render, settings.general.default_language)
        notices.tell(
            await chats_of_invited(session, event_id=event.id), "event.notify.invited", **values(event, settings)
        )
        await notices.send(session, now)
    return event


async def change_time(
    session: AsyncSession,
    *,
    event_id: int,
    starts_at: datetime,
    ends_at: datetime,
    standing: Standing,
    settings: Settings,
    now: datetime,
    render: Render,
) -> ProgrammeEvent:
    """Move an event: its reminder moves with it, and the invited who are not excused are told."""
    policy.require(standing, Action.MANAGE_EVENTS)
    event = await _locked(session, event_id)
    if event.cancelled:
        raise Conflict("event.error.cancelled")
    _check(event.kind, event.title, event.place, starts_at, ends_at)
    if ends_at <= now:
        raise InvalidInput("event.error.past")
    before = values(event, settings)
    event.starts_at, event.ends_at, event.updated_at = starts_at, ends_at, now
    session.add(event)
    await session.flush()
    audit.record(session, actor=standing.actor, action="event.change", entity="programme_event", entity_id=event_id)
    await plan_event(session, event=event, settings=settings, now=now)
    notices = Notices(render, settings.general.default_language)
    concerned = await chats_of_invited(session, event_id=event_id, answers=(PENDING, ATTEND))
    notices.tell(concerned, "event.notify.changed", before=before["when"], **values(event, settings))
    await notices.send(session, now)
    return event


async def cancel_event(
    session: AsyncSession, *, event_id: int, standing: Standing, settings: Settings, now: datetime, render: Render
) -> ProgrammeEvent:
    """Cancel an event: its reminder is skipped, and the invited who are not excused are told."""
    policy.require(standing, Action.MANAGE_EVENTS)
    event = await _locked(session, event_id)
    if event.cancelled:
        raise Conflict("event.error.cancelled")
    if event.ends_at <= now:
        raise InvalidInput("event.error.past")
    event.cancelled, event.updated_at = True, now
    session.add(event)
    await session.flush()
    audit.record(session, actor=standing.actor, action="event.cancel", entity="programme_event", entity_id=event_id)
    await plan_event(session, event=event, settings=settings, now=now)
    notices = Notices(render, settings.general.default_language)
    concerned = await chats_of_invited(session, event_id=event_id, answers=(PENDING, ATTEND))
    notices.tell(concerned, "event.notify.cancelled", **values(event, settings))
    await notices.send(session, now)
    return event


# --- the invited answer and check in ------------------------------------------------------------------------


async def invitation_of(
    session: AsyncSession, *, event_id: int, standing: Standing, lock: bool = False
) -> tuple[ProgrammeEvent, EventInvitation]:
    """The event and this person's invitation; anyone not invited is refused (policy: ANSWER_EVENT)."""
    event = await get(session, event_id=event_id)
    link = None
    if standing.representative_id is not None:
        link = await session.get(
            EventInvitation, (event_id, standing.representative_id), with_for_update=lock, populate_existing=lock
        )
    policy.require(standing, Action.ANSWER_EVENT, EventRecord(invited=link is not None))
    assert link is not None
    return event, link


def _open(event: ProgrammeEvent, now: datetime) -> None:
    if event.cancelled:
        raise Conflict("event.error.cancelled")
    if event.ends_at <= now:
        raise InvalidInput("event.error.over")


async def answer(
    session: AsyncSession, *, event_id: int, standing: Standing, attend: bool, reason: str = "", now: datetime
) -> EventInvitation:
    """Attend, or excused with a reason (required). An answer may be changed until the event ends, and not once
    the representative checked in (they came: excused would count them twice)."""
    event, link = await invitation_of(session, event_id=event_id, standing=standing, lock=True)
    _open(event, now)
    answerable(link)
    reason = reason.strip()
    if not attend and not reason:
        raise InvalidInput("event.error.reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput("input.too_long", limit=MAX_REASON, length=len(reason))
    link.answer = ATTEND if attend else EXCUSED
    link.reason = "" if attend else reason
    link.answered_at = now
    session.add(link)
    await session.flush()
    audit.record(
        session, actor=standing.actor, action=f"event.{link.answer}", entity="programme_event", entity_id=event_id
    )
    return link


def answerable(link: EventInvitation) -> None:
    """Refuse a changed answer from one who checked in already."""
    if link.checked_in_at is not None:
        raise Conflict("event.error.answered_by_check_in")


def check_in_window(event: ProgrammeEvent, settings: Settings) -> tuple[datetime, datetime]:
    """When check-in is open: from events.check_in_opens_minutes before the start until the end."""
    return event.starts_at - timedelta(minutes=settings.events.check_in_opens_minutes), event.ends_at


def ready_to_check_in(event: ProgrammeEvent, link: EventInvitation, *, now: datetime, settings: Settings) -> None:
    """Refuse a check-in now: the event is cancelled, check-in is not open (saying when it is), or done already."""
    if event.cancelled:
        raise Conflict("event.error.cancelled")
    opens, closes = check_in_window(event, settings)
    if not opens <= now <= closes:
        local = opens.astimezone(settings.zone)
        raise InvalidInput(
            "event.error.check_in_closed",
            date=local.date().isoformat(),
            opens=clock(local.time()),
            closes=clock(closes.astimezone(settings.zone).time()),
        )
    if link.checked_in_at is not None:
        raise Conflict("event.error.checked_in_already")


async def check_in(
    session: AsyncSession,
    *,
    event_id: int,
    standing: Standing,
    now: datetime,
    settings: Settings,
    latitude: float | None = None,
    longitude: float | None = None,
) -> EventInvitation:
    """Check in on the day, within the window. An event with a place's location takes a shared location within its
    radius (refused, saying how far, otherwise); one without takes the button. Nothing is recorded when refused."""
    event, link = await invitation_of(session, event_id=event_id, standing=standing, lock=True)
    ready_to_check_in(event, link, now=now, settings=settings)
    distance: int | None = None
    if event.latitude is not None and event.longitude is not None:
        if latitude is None or longitude is None:
            raise InvalidInput("event.error.location_needed")
        distance = round(distance_m(event.latitude, event.longitude, latitude, longitude))
        radius = radius_of(event, settings)
        if distance > radius:
            raise InvalidInput("event.error.too_far", distance=distance, radius=radius)
    link.checked_in_at, link.distance_m = now, distance
    link.check_in_by = BY_BUTTON if distance is None else BY_LOCATION
    if link.answer != ATTEND:
        link.answer, link.reason, link.answered_at = ATTEND, "", now
    session.add(link)
    await session.flush()
    audit.record(
        session,
        actor=standing.actor,
        action="event.check_in",
        entity="programme_event",
        entity_id=event_id,
        by=link.check_in_by,
    )
    return link


# --- reading ------------------------------------------------------------------------------------------------


async def coming_for(
    session: AsyncSession, *, representative_id: int, now: datetime, limit: int = 10
) -> list[tuple[ProgrammeEvent, EventInvitation]]:
    """A representative's invitations to events not yet over (cancelled ones too, marked), soonest first."""
    found = await session.exec(
        select(ProgrammeEvent, EventInvitation)
        .join(EventInvitation, col(EventInvitation.event_id) == ProgrammeEvent.id)
        .where(EventInvitation.representative_id == representative_id, col(ProgrammeEvent.ends_at) > now)
        .order_by(col(ProgrammeEvent.starts_at), col(ProgrammeEvent.id))
        .limit(limit)
    )
    return [(event, link) for event, link in found.all()]


async def _counts(session: AsyncSession, listed: Sequence[ProgrammeEvent]) -> list[Counts]:
    """The events with their invited, attending, excused and checked-in counts, in one statement."""
    ids = [event.id for event in listed]
    invitation = EVENT_INVITATION
    counted = await execute(
        session,
        sa.select(
            invitation.c.event_id,
            sa.func.count(),
            sa.func.count(sa.case((invitation.c.answer == ATTEND, 1))),
            sa.func.count(sa.case((invitation.c.answer == EXCUSED, 1))),
            sa.func.count(invitation.c.checked_in_at),
        )
        .where(invitation.c.event_id.in_(ids))
        .group_by(invitation.c.event_id),
    )
    by_event: dict[int, list[int]] = {}
    for row in counted.all():
        numbers: tuple[Any, ...] = tuple(row)
        by_event[int(numbers[0])] = [int(number) for number in numbers[1:]]
    return [Counts(event, *by_event.get(event.id or 0, [0, 0, 0, 0])) for event in listed]


async def office_list(session: AsyncSession, *, now: datetime, settings: Settings, limit: int = 12) -> list[Counts]:
    """The events not yet over first (soonest first), then this year's past ones (latest first), with their counts."""
    year_start = moment(date(now.astimezone(settings.zone).year, 1, 1), time(0), settings)
    coming = await session.exec(
        select(ProgrammeEvent)
        .where(col(ProgrammeEvent.ends_at) > now)
        .order_by(col(ProgrammeEvent.starts_at), col(ProgrammeEvent.id))
        .limit(limit)
    )
    listed = list(coming.all())
    past = await session.exec(
        select(ProgrammeEvent)
        .where(col(ProgrammeEvent.ends_at) <= now, col(ProgrammeEvent.starts_at) >= year_start)
        .order_by(col(ProgrammeEvent.starts_at).desc(), col(ProgrammeEvent.id).desc())
        .limit(max(limit - len(listed), 0))
    )
    listed += list(past.all())
    return await _counts(session, listed)


async def invited_list(session: AsyncSession, *, event_id: int) -> list[tuple[Representative, EventInvitation]]:
    """Everyone invited, with their answer and check-in, by roster code."""
    found = await session.exec(
        select(Representative, EventInvitation)
        .join(EventInvitation, col(EventInvitation.representative_id) == Representative.id)
        .where(EventInvitation.event_id == event_id)
        .order_by(col(Representative.code))
    )
    return [(rep, link) for rep, link in found.all()]


async def attended(
    session: AsyncSession, *, year: int, settings: Settings, representative_id: int | None = None
) -> dict[int, Attended]:
    """Per representative, the trainings and collective activities (not cancelled) of the year (local) they checked
    in at: what the group rules count (events.trainings_per_year, collective_per_year)."""
    since = moment(date(year, 1, 1), time(0), settings)
    until = moment(date(year + 1, 1, 1), time(0), settings)
    query = (
        select(EventInvitation.representative_id, ProgrammeEvent.kind, sa.func.count())
        .join(ProgrammeEvent, col(ProgrammeEvent.id) == EventInvitation.event_id)
        .where(
            col(EventInvitation.checked_in_at).is_not(None),
            col(ProgrammeEvent.cancelled).is_(False),
            col(ProgrammeEvent.kind).in_((TRAINING, COLLECTIVE)),
            col(ProgrammeEvent.starts_at) >= since,
            col(ProgrammeEvent.starts_at) < until,
        )
        .group_by(col(EventInvitation.representative_id), col(ProgrammeEvent.kind))
    )
    if representative_id is not None:
        query = query.where(EventInvitation.representative_id == representative_id)
    counts: dict[int, dict[str, int]] = {}
    for rep_id, kind, count in (await session.exec(query)).all():
        counts.setdefault(rep_id, {})[kind] = int(count)
    return {rep_id: Attended(by.get(TRAINING, 0), by.get(COLLECTIVE, 0)) for rep_id, by in counts.items()}


async def attendance(
    session: AsyncSession, *, since: datetime, until: datetime
) -> list[tuple[ProgrammeEvent, int, int]]:
    """For the digest: each event (not cancelled) starting in [since, until), with how many of its invited checked
    in and how many were invited, soonest first."""
    found = await session.exec(
        select(
            ProgrammeEvent,
            sa.func.count(col(EventInvitation.checked_in_at)),
            sa.func.count(col(EventInvitation.representative_id)),
        )
        .outerjoin(EventInvitation, col(EventInvitation.event_id) == ProgrammeEvent.id)
        .where(
            col(ProgrammeEvent.cancelled).is_(False),
            col(ProgrammeEvent.starts_at) >= since,
            col(ProgrammeEvent.starts_at) < until,
        )
        .group_by(col(ProgrammeEvent.id))
        .order_by(col(ProgrammeEvent.starts_at), col(ProgrammeEvent.id))
    )
    return [(event, int(checked), int(invited)) for event, checked, invited in found.all()]
