"""Changing the reception-day rota: adding, changing and cancelling a day (whoever is concerned is told, its due
items planned, moved or skipped in the same transaction), a representative's answer to their duty (confirmed, or
a swap asked, the liaison office told), whether a note may be taken at a reception, and the roster's column of
duty dates. What a day is and how it is read: storage.records.reception.

Storage holds no words: a notice is a catalog key and values, which the caller's `Render` turns into a message in
each recipient's language (handlers.reception.notice)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import Conflict, InvalidInput, NotAllowed, NotFound
from storage.models import ReceptionDay, ReceptionDuty, Station
from storage.policy import Role, Standing
from storage.records.cases import Notices, Render, chats_of_representative, chats_of_staff
from storage.records.reception import (
    CONFIRMED,
    MAX_PLACE,
    MAX_REASON,
    NOTE_DAYS,
    SWAP_ASKED,
    OnDuty,
    Rota,
    check_times,
    clock,
    duty_chats,
    plan_day,
    subscribers,
    view,
)
from storage.settings import Settings


def _today(settings: Settings, now: datetime) -> date:
    return now.astimezone(settings.zone).date()


async def _locked(session: AsyncSession, reception_id: int) -> ReceptionDay:
    day = await session.get(ReceptionDay, reception_id, with_for_update=True, populate_existing=True)
    if day is None:
        raise NotFound("reception.error.unknown")
    return day


async def _duty_links(session: AsyncSession, reception_id: int) -> dict[int, ReceptionDuty]:
    found = await session.exec(select(ReceptionDuty).where(ReceptionDuty.reception_id == reception_id))
    return {link.representative_id: link for link in found.all()}


async def _clash(session: AsyncSession, *, station_id: int, day: date, starts: time, other: int | None) -> None:
    query = select(ReceptionDay.id).where(
        ReceptionDay.station_id == station_id, ReceptionDay.day == day, ReceptionDay.starts == starts
    )
    if other is not None:
        query = query.where(ReceptionDay.id != other)
    if (await session.exec(query)).first() is not None:
        raise Conflict("reception.error.exists", day=day.isoformat(), starts=clock(starts))


def _check_place(place: str) -> str:
    place = place.strip()
    if len(place) > MAX_PLACE:
        raise InvalidInput("reception.error.place_too_long", max=MAX_PLACE)
    return place


async def _set_duty(session: AsyncSession, day: ReceptionDay, wanted: Sequence[int]) -> tuple[list[int], list[int]]:
    """Make the representatives on duty exactly `wanted`; those who stay keep their answer. Returns (added,
    removed)."""
    assert day.id is not None
    have = await _duty_links(session, day.id)
    added = [rep_id for rep_id in wanted if rep_id not in have]
    removed = [rep_id for rep_id in have if rep_id not in wanted]
    for rep_id in removed:
        await session.delete(have[rep_id])
    session.add_all(ReceptionDuty(reception_id=day.id, representative_id=rep_id) for rep_id in added)
    await session.flush()
    return added, removed


async def add_day(
    session: AsyncSession,
    *,
    station_id: int,
    day: date,
    starts: time,
    ends: time,
    place: str = "",
    representative_ids: Sequence[int] = (),
    actor: str,
    settings: Settings,
    now: datetime,
    render: Render,
    notify: bool = True,
    allow_past: bool = False,
) -> ReceptionDay:
    """A new reception day; those on duty are told (unless `notify` is off: an import), its items planned. A day
    already past is refused unless `allow_past` (an import keeps the record of days held)."""
    check_times(starts, ends)
    if day < _today(settings, now) and not allow_past:
        raise InvalidInput("reception.error.past", day=day.isoformat())
    if await session.get(Station, station_id) is None:
        raise NotFound("reception.error.unknown_station")
    await _clash(session, station_id=station_id, day=day, starts=starts, other=None)
    record = ReceptionDay(
        station_id=station_id,
        day=day,
        starts=starts,
        ends=ends,
        place=_check_place(place),
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    await session.flush()
    assert record.id is not None
    await _set_duty(session, record, list(dict.fromkeys(representative_ids)))
    audit.record(session, actor=actor, action="reception.add", entity="reception_day", entity_id=record.id)
    await plan_day(session, day=record, settings=settings, now=now)
    if notify and day >= _today(settings, now):
        rota = await view(session, reception_id=record.id)
        notices = Notices(render, settings.general.default_language)
        notices.tell(await duty_chats(session, rota), "reception.notify.assigned", **rota.values())
        await notices.send(session, now)
    return record


async def change_day(
    session: AsyncSession,
    *,
    reception_id: int,
    day: date | None = None,
    starts: time | None = None,
    ends: time | None = None,
    place: str | None = None,
    representative_ids: Sequence[int] | None = None,
    cancelled: bool | None = None,
    actor: str,
    settings: Settings,
    now: datetime,
    render: Render,
    allow_past: bool = False,
) -> ReceptionDay:
    """Change a day's date, time, place or duty (None: as it is), or cancel it. Whoever is concerned is told: of a
    new time or place those on duty and the subscribers; of a cancellation the same; representatives put on or
    taken off duty. Its items move with it, or are skipped when it is cancelled."""
    record = await _locked(session, reception_id)
    today = _today(settings, now)
    if record.day < today and not allow_past:
        raise InvalidInput("reception.error.past", day=record.day.isoformat())
    before = await view(session, reception_id=reception_id)
    new_day = record.day if day is None else day
    new_starts = record.starts if starts is None else starts
    new_ends = record.ends if ends is None else ends
    check_times(new_starts, new_ends)
    if new_day < today and not allow_past:
        raise InvalidInput("reception.error.past", day=new_day.isoformat())
    if (new_day, new_starts) != (record.day, record.starts):
        await _clash(session, station_id=record.station_id, day=new_day, starts=new_starts, other=record.id)
    was_cancelled = record.cancelled
    changes: dict[str, Any] = {
        "day": new_day,
        "starts": new_starts,
        "ends": new_ends,
        "place": record.place if place is None else _check_place(place),
        "cancelled": record.cancelled if cancelled is None else cancelled,
    }
    changed = [name for name, value in changes.items() if getattr(record, name) != value]
    for name in changed:
        setattr(record, name, changes[name])
    added: list[int] = []
    removed: list[int] = []
    if representative_ids is not None:
        added, removed = await _set_duty(session, record, list(dict.fromkeys(representative_ids)))
    if not changed and not added and not removed:
        return record
    record.updated_at = now
    session.add(record)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="reception.cancel" if record.cancelled and not was_cancelled else "reception.change",
        entity="reception_day",
        entity_id=reception_id,
        fields=changed,
        added=len(added),
        removed=len(removed),
    )
    await plan_day(session, day=record, settings=settings, now=now)
    if record.day >= today or before.day >= today:
        await _tell_change(session, before, record, added, removed, settings=settings, now=now, render=render)
    return record


async def _tell_change(
    session: AsyncSession,
    before: Rota,
    record: ReceptionDay,
    added: list[int],
    removed: list[int],
    *,
    settings: Settings,
    now: datetime,
    render: Render,
) -> None:
    assert record.id is not None
    after = await view(session, reception_id=record.id)
    notices = Notices(render, settings.general.default_language)
    if after.cancelled and not before.cancelled:
        concerned = [*await duty_chats(session, before), *await subscribers(session, station_id=after.station_id)]
        notices.tell(concerned, "reception.notify.cancelled", **before.values())
        await notices.send(session, now)
        return
    if after.cancelled:
        return
    for rep_id in removed:
        notices.tell(await chats_of_representative(session, rep_id), "reception.notify.unassigned", **before.values())
    for rep_id in added:
        notices.tell(await chats_of_representative(session, rep_id), "reception.notify.assigned", **after.values())
    if (before.when, before.where) != (after.when, after.where) or before.cancelled:
        staying = [one for one in after.duty if one.representative_id not in added]
        concerned = [*await duty_chats(session, _with_duty(after, staying))]
        concerned += await subscribers(session, station_id=after.station_id)
        notices.tell(concerned, "reception.notify.changed", before=before.when, **after.values())
    await notices.send(session, now)


def _with_duty(rota: Rota, duty: Iterable[OnDuty]) -> Rota:
    return Rota(
        rota.id,
        rota.station_id,
        rota.station,
        rota.address,
        rota.day,
        rota.starts,
        rota.ends,
        rota.place,
        rota.cancelled,
        tuple(duty),
    )


async def cancel_day(
    session: AsyncSession, *, reception_id: int, actor: str, settings: Settings, now: datetime, render: Render
) -> ReceptionDay:
    """Cancel a coming day: those on duty and the subscribers are told, its pending items skipped."""
    record = await _locked(session, reception_id)
    if record.cancelled:
        raise Conflict("reception.error.already_cancelled")
    return await change_day(
        session, reception_id=reception_id, cancelled=True, actor=actor, settings=settings, now=now, render=render
    )


# --- a representative's answer to their duty --------------------------------------------------------------


async def own_duty(
    session: AsyncSession, *, reception_id: int, standing: Standing, today: date
) -> tuple[ReceptionDay, ReceptionDuty]:
    if standing.representative_id is None:
        raise NotAllowed("reception.error.not_on_duty")
    record = await session.get(ReceptionDay, reception_id)
    link = await session.get(ReceptionDuty, (reception_id, standing.representative_id), with_for_update=True)
    if record is None or link is None:
        raise NotAllowed("reception.error.not_on_duty")
    if record.cancelled:
        raise Conflict("reception.error.is_cancelled")
    if record.day < today:
        raise InvalidInput("reception.error.past", day=record.day.isoformat())
    return record, link


async def confirm_duty(
    session: AsyncSession, *, reception_id: int, standing: Standing, settings: Settings, now: datetime
) -> Rota:
    """The representative will be there (also after asking for a swap, which withdraws the request)."""
    _record, link = await own_duty(session, reception_id=reception_id, standing=standing, today=_today(settings, now))
    link.status, link.note, link.answered_at = CONFIRMED, "", now
    session.add(link)
    audit.record(
        session, actor=standing.actor, action="reception.confirm", entity="reception_day", entity_id=reception_id
    )
    await session.flush()
    return await view(session, reception_id=reception_id)


async def ask_swap(
    session: AsyncSession,
    *,
    reception_id: int,
    standing: Standing,
    reason: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Rota:
    """The representative cannot be there: the liaison office is told, with the reason, and may reassign the day."""
    _record, link = await own_duty(session, reception_id=reception_id, standing=standing, today=_today(settings, now))
    reason = reason.strip()
    if not reason:
        raise InvalidInput("input.empty")
    if len(reason) > MAX_REASON:
        raise InvalidInput("input.too_long", limit=MAX_REASON, length=len(reason))
    link.status, link.note, link.answered_at = SWAP_ASKED, reason, now
    session.add(link)
    audit.record(session, actor=standing.actor, action="reception.swap", entity="reception_day", entity_id=reception_id)
    await session.flush()
    rota = await view(session, reception_id=reception_id)
    rep = rota.on_duty(standing.representative_id)
    assert rep is not None
    notices = Notices(render, settings.general.default_language)
    notices.tell(
        await chats_of_staff(session, Role.LIAISON),
        "reception.notify.swap_asked",
        name=rep.name,
        code=rep.code,
        reason=reason,
        **rota.values(),
    )
    await notices.send(session, now)
    return rota


async def noted_at(session: AsyncSession, *, reception_id: int, standing: Standing, today: date) -> Rota:
    """A reception whose notes may be taken now, by this person: held (not cancelled) today or in the last
    NOTE_DAYS days; a representative must have been on duty there, the liaison office may note any."""
    rota = await view(session, reception_id=reception_id)
    if standing.role is not Role.LIAISON and rota.on_duty(standing.representative_id) is None:
        raise NotAllowed("reception.error.not_on_duty")
    if rota.cancelled:
        raise Conflict("reception.error.is_cancelled")
    if rota.day > today:
        raise InvalidInput("reception.error.not_yet", day=rota.day.isoformat())
    if rota.day < today - timedelta(days=NOTE_DAYS):
        raise InvalidInput("reception.error.too_old", days=NOTE_DAYS)
    return rota


# --- the roster's reception-day column ----------------------------------------------------------------------


@dataclass(frozen=True)
class RosterDuty:
    """A roster row's coming duty dates at the representative's station."""

    row: int
    representative_id: int
    station_id: int | None
    dates: tuple[date, ...]


async def set_roster_duties(
    session: AsyncSession, *, duties: Sequence[RosterDuty], today: date
) -> list[tuple[int, date]]:
    """Make each representative's coming duties at their station exactly the dates listed (past days and other
    stations' days are left as they are). Returns the (row, date) of dates with no reception day at the station
    there: nothing should then be kept. The days' items stay as planned: their jobs read who is on duty when they
    run."""
    missing: list[tuple[int, date]] = []
    for entry in duties:
        days: list[ReceptionDay] = []
        if entry.station_id is not None:
            listed = set(entry.dates)
            found = await session.exec(
                select(ReceptionDay).where(
                    ReceptionDay.station_id == entry.station_id,
                    col(ReceptionDay.cancelled).is_(False),
                    sa.or_(col(ReceptionDay.day) >= today, col(ReceptionDay.day).in_(sorted(listed))),
                )
            )
            days = list(found.all())
        on_dates = {day.day for day in days}
        missing += [(entry.row, wanted) for wanted in entry.dates if wanted not in on_dates]
        for day in days:
            assert day.id is not None
            link = await session.get(ReceptionDuty, (day.id, entry.representative_id))
            if day.day in entry.dates and link is None:
                session.add(ReceptionDuty(reception_id=day.id, representative_id=entry.representative_id))
            elif day.day not in entry.dates and link is not None and day.day >= today:
                await session.delete(link)
    await session.flush()
    return missing
