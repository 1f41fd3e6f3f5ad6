"""Reception days (接待日) as they are read: each work station's rota (when, where, who is on duty and how they
answered), residents' subscriptions to a station's notices, reading what was typed or written (times, dates,
codes), and the due items that announce a day (the eve to those on duty and to the subscribers, the morning to
those on duty), planned or moved by `plan_day`. Changing the rota: storage.records.rota_changes.

A day counts as held (the digest's "receptions held") when it is not cancelled and its `day` is not after today.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import InvalidInput, NotFound
from storage.models import (
    Area,
    ChatIdentity,
    ReceptionDay,
    ReceptionDuty,
    ReceptionSubscription,
    Representative,
    Station,
)
from storage.records import people, schedule
from storage.records.cases import chats_of_representative
from storage.records.schedule import Planned
from storage.settings import Settings

ASSIGNED, CONFIRMED, SWAP_ASKED = "assigned", "confirmed", "swap_asked"
STATUSES = (ASSIGNED, CONFIRMED, SWAP_ASKED)
# The due items of a day, keyed <kind>:<reception id>.
DUTY_EVE, RESIDENTS_EVE, MORNING = "reception-duty", "reception-residents", "reception-morning"
KINDS = (DUTY_EVE, RESIDENTS_EVE, MORNING)
LATENESS = "reception"  # scheduler.max_lateness_hours
NOTE_DAYS = 3  # what was heard at a reception may be noted on the day and this many days after
MAX_PLACE = 200
MAX_REASON = 200
MAX_ON_DUTY = 10
CODE_SEPARATORS = re.compile(r"[;；、,，\s]+")
TIME = re.compile(r"^(\d{1,2})(?:[:：.点](\d{2})?)?$")
SPAN = re.compile(r"\s*(?:-|–|—|~|～|至|到)\s*")


@dataclass(frozen=True)
class OnDuty:
    representative_id: int
    code: str
    name: str
    status: str  # assigned | confirmed | swap_asked
    note: str  # why a swap was asked


@dataclass(frozen=True)
class Rota:
    """One reception day as it is shown: its station, when, where, and the representatives in office on duty."""

    id: int
    station_id: int
    station: str
    address: str  # the station's
    day: date
    starts: time
    ends: time
    place: str  # as set; empty: the station's address
    cancelled: bool
    duty: tuple[OnDuty, ...]

    @property
    def where(self) -> str:
        return self.place or self.address

    @property
    def when(self) -> tuple[str, str, str]:
        """(ISO day, start, end) as the notices carry it; the reader's words make it a date with its weekday."""
        return (self.day.isoformat(), clock(self.starts), clock(self.ends))

    def on_duty(self, representative_id: int | None) -> OnDuty | None:
        return next((one for one in self.duty if one.representative_id == representative_id), None)

    def values(self) -> dict[str, Any]:
        """What every notice about this day may quote."""
        return {
            "station": self.station,
            "when": self.when,
            "place": self.where,
            "names": tuple(one.name for one in self.duty),
            "reception_id": self.id,
        }


def clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def parse_time(text: str) -> time | None:
    """9:00, 09:30, 9点, 14.30, 9 -> the time of day; None when it is none."""
    match = TIME.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_span(text: str) -> tuple[time, time]:
    """9:00-11:30 (also –, ~, 至, 到): the start and the end, the end after the start."""
    parts = SPAN.split(unicodedata.normalize("NFKC", text).strip())
    if len(parts) != 2:
        raise InvalidInput("reception.error.bad_time", value=text.strip()[:20])
    starts, ends = parse_time(parts[0]), parse_time(parts[1])
    if starts is None or ends is None:
        raise InvalidInput("reception.error.bad_time", value=text.strip()[:20])
    check_times(starts, ends)
    return starts, ends


def parse_day(text: str) -> date | None:
    """2026-11-26, 2026/11/26, 2026.11.26, 2026年11月26日, or a spreadsheet date cell (2026-11-26 00:00:00)."""
    typed = unicodedata.normalize("NFKC", text).strip()
    typed = typed.split(" ", 1)[0].replace("年", "-").replace("月", "-").rstrip("日").replace("/", "-")
    typed = typed.replace(".", "-")
    parts = typed.split("-")
    if len(parts) != 3 or not all(part.isdigit() and part.isascii() for part in parts) or len(parts[0]) != 4:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def check_times(starts: time, ends: time) -> None:
    if ends <= starts:
        raise InvalidInput("reception.error.ends_first", starts=clock(starts), ends=clock(ends))


def split_codes(text: str) -> list[str]:
    """Representatives' codes as typed or written in a file: split by spaces, commas, ；; 、; upper case, once each."""
    codes: list[str] = []
    for part in CODE_SEPARATORS.split(unicodedata.normalize("NFKC", text)):
        code = part.strip().upper()
        if code and code not in codes:
            codes.append(code)
    return codes


# --- reading ----------------------------------------------------------------------------------------------


async def station_of_area(session: AsyncSession, *, area_id: int) -> Station | None:
    area = await session.get(Area, area_id)
    return None if area is None else await session.get(Station, area.station_id)


async def find_stations(session: AsyncSession, *, text: str, limit: int = 6) -> list[Station]:
    """Work stations whose name or address holds what was typed; an exact name alone when there is one."""
    typed = unicodedata.normalize("NFKC", text).strip()
    if not typed:
        return []
    exact = (await session.exec(select(Station).where(Station.name == typed))).first()
    if exact is not None:
        return [exact]
    pattern = f"%{typed}%"
    found = await session.exec(
        select(Station)
        .where(sa.or_(col(Station.name).like(pattern), col(Station.address).like(pattern)))
        .order_by(col(Station.name))
        .limit(limit)
    )
    return list(found.all())


async def representatives_by_codes(session: AsyncSession, *, codes: Sequence[str]) -> list[Representative]:
    """The representatives in office with these codes, in the order given; an unknown code or one of a
    representative no longer in office is refused by name."""
    if len(codes) > MAX_ON_DUTY:
        raise InvalidInput("reception.error.too_many", limit=MAX_ON_DUTY)
    found = {
        rep.code: rep
        for rep in await session.exec(select(Representative).where(col(Representative.code).in_(list(codes))))
    }
    reps: list[Representative] = []
    for code in codes:
        rep = found.get(code)
        if rep is None:
            raise InvalidInput("reception.error.unknown_code", code=code[:20])
        if not rep.active:
            raise InvalidInput("reception.error.inactive", code=code)
        reps.append(rep)
    return reps


async def _rotas(session: AsyncSession, days: Sequence[ReceptionDay]) -> list[Rota]:
    if not days:
        return []
    ids = [day.id for day in days]
    stations = {
        station.id: station
        for station in await session.exec(
            select(Station).where(col(Station.id).in_(sorted({day.station_id for day in days})))
        )
    }
    duty: dict[int, list[OnDuty]] = {}
    rows = await session.exec(
        select(ReceptionDuty, Representative)
        .join(Representative, col(Representative.id) == ReceptionDuty.representative_id)
        .where(col(ReceptionDuty.reception_id).in_(ids), col(Representative.active).is_(True))
        .order_by(col(Representative.code))
    )
    for link, rep in rows.all():
        assert rep.id is not None
        duty.setdefault(link.reception_id, []).append(OnDuty(rep.id, rep.code, rep.name, link.status, link.note))
    rotas: list[Rota] = []
    for day in days:
        assert day.id is not None
        station = stations[day.station_id]
        rotas.append(
            Rota(
                id=day.id,
                station_id=day.station_id,
                station=station.name,
                address=station.address,
                day=day.day,
                starts=day.starts,
                ends=day.ends,
                place=day.place,
                cancelled=day.cancelled,
                duty=tuple(duty.get(day.id, ())),
            )
        )
    return rotas


def _in_order(query: Any) -> Any:
    return query.order_by(col(ReceptionDay.day), col(ReceptionDay.starts), col(ReceptionDay.id))


async def view(session: AsyncSession, *, reception_id: int) -> Rota:
    day = await session.get(ReceptionDay, reception_id)
    if day is None:
        raise NotFound("reception.error.unknown")
    [rota] = await _rotas(session, [day])
    return rota


async def coming(
    session: AsyncSession, *, station_id: int, today: date, limit: int, include_cancelled: bool = False
) -> list[Rota]:
    """A station's reception days from today on, soonest first."""
    query = select(ReceptionDay).where(ReceptionDay.station_id == station_id, col(ReceptionDay.day) >= today)
    if not include_cancelled:
        query = query.where(col(ReceptionDay.cancelled).is_(False))
    return await _rotas(session, list((await session.exec(_in_order(query).limit(limit))).all()))


async def duties_of(session: AsyncSession, *, representative_id: int, since: date, limit: int) -> list[Rota]:
    """The days a representative is on duty from `since` on (cancelled ones left out), soonest first."""
    query = (
        select(ReceptionDay)
        .join(ReceptionDuty, col(ReceptionDuty.reception_id) == ReceptionDay.id)
        .where(
            ReceptionDuty.representative_id == representative_id,
            col(ReceptionDay.day) >= since,
            col(ReceptionDay.cancelled).is_(False),
        )
    )
    return await _rotas(session, list((await session.exec(_in_order(query).limit(limit))).all()))


async def swap_requests(session: AsyncSession, *, today: date, limit: int = 20) -> list[tuple[Rota, OnDuty]]:
    """Coming days with a representative who asked for a swap, soonest first, for the liaison office."""
    query = (
        select(ReceptionDay)
        .where(
            col(ReceptionDay.day) >= today,
            col(ReceptionDay.cancelled).is_(False),
            col(ReceptionDay.id).in_(select(ReceptionDuty.reception_id).where(ReceptionDuty.status == SWAP_ASKED)),
        )
        .limit(limit)
    )
    found = await _rotas(session, list((await session.exec(_in_order(query))).all()))
    return [(rota, one) for rota in found for one in rota.duty if one.status == SWAP_ASKED]


async def listing(session: AsyncSession, *, since: date, until: date, station_id: int | None = None) -> list[Rota]:
    """Every day (cancelled ones too) between two dates, by day then station: the command line's list."""
    query = select(ReceptionDay).where(col(ReceptionDay.day) >= since, col(ReceptionDay.day) <= until)
    if station_id is not None:
        query = query.where(ReceptionDay.station_id == station_id)
    return await _rotas(session, list((await session.exec(_in_order(query))).all()))


async def is_subscribed(session: AsyncSession, *, identity: ChatIdentity, station_id: int) -> bool:
    return await session.get(ReceptionSubscription, (identity.id, station_id)) is not None


async def subscribe(session: AsyncSession, *, identity: ChatIdentity, station_id: int, now: datetime) -> bool:
    """Hear of this station's reception days; False when already subscribed."""
    assert identity.id is not None
    if await is_subscribed(session, identity=identity, station_id=station_id):
        return False
    if await session.get(Station, station_id) is None:
        raise NotFound("reception.error.unknown_station")
    session.add(ReceptionSubscription(identity_id=identity.id, station_id=station_id, created_at=now))
    await session.flush()
    return True


async def unsubscribe(session: AsyncSession, *, identity: ChatIdentity, station_id: int) -> bool:
    found = await session.get(ReceptionSubscription, (identity.id, station_id))
    if found is None:
        return False
    await session.delete(found)
    await session.flush()
    return True


async def subscribers(session: AsyncSession, *, station_id: int) -> list[ChatIdentity]:
    found = await session.exec(
        select(ChatIdentity)
        .join(ReceptionSubscription, col(ReceptionSubscription.identity_id) == ChatIdentity.id)
        .where(ReceptionSubscription.station_id == station_id, people.reachable())
        .order_by(col(ChatIdentity.id))
    )
    return list(found.all())


async def duty_chats(session: AsyncSession, rota: Rota) -> list[ChatIdentity]:
    """The chats of the representatives on duty (in office: the rota shows only those)."""
    chats: list[ChatIdentity] = []
    for one in rota.duty:
        chats.extend(await chats_of_representative(session, one.representative_id))
    return chats


# --- the due items of a day -------------------------------------------------------------------------------


def _moment(day: date, when: time, settings: Settings) -> datetime:
    return datetime.combine(day, when, tzinfo=settings.zone).astimezone(UTC)


def due_items(day: ReceptionDay, *, settings: Settings) -> list[Planned]:
    """The eve's notices (to those on duty, to the subscribers) and the morning's (to those on duty). Each is of
    use until its kind's maximum lateness, and never once the reception has begun."""
    assert day.id is not None
    begins = _moment(day.day, day.starts, settings)
    eve = _moment(day.day - timedelta(days=1), settings.reception.eve_at, settings)
    morning = _moment(day.day, settings.reception.morning_at, settings)
    lateness = timedelta(hours=settings.scheduler.lateness_hours(LATENESS))
    planned = [(DUTY_EVE, eve), (RESIDENTS_EVE, eve)]
    if morning < begins:  # a reception that begins before the morning notice needs none
        planned.append((MORNING, morning))
    return [
        Planned(
            key=f"{kind}:{day.id}",
            kind=kind,
            due_at=due,
            expires_at=min(due + lateness, begins),
            payload={"reception_id": day.id},
        )
        for kind, due in planned
    ]


def item_keys(reception_id: int) -> list[str]:
    return [f"{kind}:{reception_id}" for kind in KINDS]


async def plan_day(session: AsyncSession, *, day: ReceptionDay, settings: Settings, now: datetime) -> None:
    """Plan the day's items, or move the pending ones to its new time; a cancelled day's pending ones are skipped,
    and planned again if it is restored. Items already of no use (the day is past) are not planned at all."""
    assert day.id is not None
    if day.cancelled:
        await schedule.skip_pending(session, keys=item_keys(day.id), now=now, reason="cancelled")
        return
    # A day restored after a cancellation (a rota re-imported) is announced again, however it was skipped.
    await schedule.reopen_skipped(session, keys=item_keys(day.id), reason="cancelled")
    items = [item for item in due_items(day, settings=settings) if item.expires_at is None or item.expires_at > now]
    await schedule.plan(session, items=items, now=now, update=True)


async def station_areas(session: AsyncSession, *, station_id: int) -> list[Area]:
    found = await session.exec(select(Area).where(Area.station_id == station_id).order_by(col(Area.name)))
    return list(found.all())


# --- the roster's reception-day column ----------------------------------------------------------------------


async def coming_duty_dates(session: AsyncSession, *, since: date) -> dict[int, list[date]]:
    """Each representative's duty dates from `since` at their own station (what the roster's column lists)."""
    found = await session.exec(
        select(col(ReceptionDuty.representative_id), col(ReceptionDay.day))
        .join(ReceptionDay, col(ReceptionDay.id) == ReceptionDuty.reception_id)
        .join(Representative, col(Representative.id) == ReceptionDuty.representative_id)
        .where(
            col(ReceptionDay.day) >= since,
            col(ReceptionDay.cancelled).is_(False),
            col(ReceptionDay.station_id) == col(Representative.station_id),
        )
        .order_by(col(ReceptionDay.day))
    )
    dates: dict[int, list[date]] = {}
    for rep_id, day in found.all():
        if day not in dates.setdefault(rep_id, []):
            dates[rep_id].append(day)
    return dates


async def station_representatives(session: AsyncSession, *, station_id: int, limit: int = 30) -> list[Representative]:
    """The representatives in office at a station, by code: whom the liaison office usually puts on duty there."""
    found = await session.exec(
        select(Representative)
        .where(Representative.station_id == station_id, col(Representative.active).is_(True))
        .order_by(col(Representative.code))
        .limit(limit)
    )
    return list(found.all())
