"""Who reads which digest, and what a scope and a week are: the scopes as storage.exchange.digest_figures defines
them, resolved against the roster; the people the weekly digest goes to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Executable
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.errors import InvalidInput, NotFound
from storage.models import ChatIdentity, RepGroup, Representative, Staff, Station
from storage.policy import GroupRole, Role, Standing

DISTRICT, TOWNSHIP, GROUP = "district", "township", "group"
SCOPE_KINDS = (DISTRICT, TOWNSHIP, GROUP)
WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{1,2})$")


async def rows(session: AsyncSession, statement: Executable) -> list[tuple[Any, ...]]:
    """A Core statement's rows as plain tuples (no ORM objects are made)."""
    return [tuple(row) for row in (await execute(session, statement)).all()]


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week: 2026-W47 runs from Monday 16 to Sunday 22 November 2026."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        found = WEEK_PATTERN.match(text.strip().upper())
        if found is None:
            raise InvalidInput("digest.error.bad_week", week=text.strip()[:20])
        week = cls(int(found.group(1)), int(found.group(2)))
        try:
            date.fromisocalendar(week.year, week.number, 1)
        except ValueError:
            raise InvalidInput("digest.error.bad_week", week=text.strip()[:20]) from None
        return week

    @classmethod
    def of(cls, day: date) -> Week:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def next(self) -> Week:
        return Week.of(self.monday + timedelta(days=7))

    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))


@dataclass(frozen=True)
class Scope:
    """What a digest covers: the district, a township (street or town) by name, a representative group by name."""

    kind: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        """district, township:NAME or group:NAME."""
        kind, _, name = text.strip().partition(":")
        kind, name = kind.strip().lower(), name.strip()
        if kind == DISTRICT and not name:
            return cls(DISTRICT)
        if kind in (TOWNSHIP, GROUP) and name:
            return cls(kind, name)
        raise InvalidInput("digest.error.bad_scope", scope=text.strip()[:60])

    @property
    def key(self) -> str:
        return self.kind if self.kind == DISTRICT else f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class RepRow:
    id: int
    code: str
    name: str
    level: str
    group_id: int | None
    station_id: int | None
    active: bool


@dataclass(frozen=True)
class Members:
    """A scope resolved against the roster: its representatives and stations, with the names around them."""

    scope: Scope
    representatives: list[RepRow]
    station_ids: frozenset[int]
    stations: dict[int, str]  # every station's name, by id
    groups: dict[int, str]  # every group's name, by id
    group_stations: dict[int, frozenset[int]]  # each group's stations: where its representatives in office sit

    @property
    def district(self) -> bool:
        return self.scope.kind == DISTRICT

    @property
    def rep_ids(self) -> list[int] | None:
        """The representatives to filter by; None for the district (everyone, with no filter to pay for)."""
        return None if self.district else [rep.id for rep in self.representatives]


async def members(session: AsyncSession, *, scope: Scope) -> Members:
    """Resolve a scope; an unknown township or group is NotFound."""
    roster = sa.select(
        col(Representative.id),
        col(Representative.code),
        col(Representative.name),
        col(Representative.level),
        col(Representative.group_id),
        col(Representative.station_id),
        col(Representative.active),
    ).order_by(col(Representative.code))
    reps = [RepRow(*row) for row in await rows(session, roster)]
    station_rows = (await session.exec(select(Station.id, Station.name, Station.township))).all()
    stations = {int(id_ or 0): name for id_, name, _ in station_rows}
    groups = {int(id_ or 0): name for id_, name in (await session.exec(select(RepGroup.id, RepGroup.name))).all()}
    group_stations: dict[int, set[int]] = {}
    for rep in reps:
        if rep.active and rep.group_id is not None and rep.station_id is not None:
            group_stations.setdefault(rep.group_id, set()).add(rep.station_id)
    frozen = {group: frozenset(found) for group, found in group_stations.items()}
    if scope.kind == DISTRICT:
        chosen, station_ids = reps, frozenset(stations)
    elif scope.kind == TOWNSHIP:
        station_ids = frozenset(int(id_ or 0) for id_, _, township in station_rows if township == scope.name)
        if not station_ids:
            raise NotFound("digest.error.unknown_township", name=scope.name)
        chosen = [rep for rep in reps if rep.station_id in station_ids]
    else:
        group_id = next((id_ for id_, name in groups.items() if name == scope.name), None)
        if group_id is None:
            raise NotFound("digest.error.unknown_group", name=scope.name)
        chosen = [rep for rep in reps if rep.group_id == group_id]
        station_ids = frozen.get(group_id, frozenset())
    return Members(scope, chosen, station_ids, stations, groups, frozen)


async def scope_of(session: AsyncSession, *, standing: Standing) -> Scope | None:
    """The scope a person reads: the liaison office the district, a leader their township (or the district), a
    group's leader the group; None for anyone else."""
    if standing.role is Role.LIAISON:
        return Scope(DISTRICT)
    if standing.role is Role.LEADER and standing.staff_id is not None:
        staff = await session.get(Staff, standing.staff_id)
        if staff is None:
            return None
        return Scope(TOWNSHIP, staff.township) if staff.township else Scope(DISTRICT)
    if standing.is_representative and standing.group_role is GroupRole.LEADER and standing.group_id is not None:
        group = await session.get(RepGroup, standing.group_id)
        return None if group is None else Scope(GROUP, group.name)
    return None


@dataclass(frozen=True)
class Reader:
    """Someone the weekly digest goes to: `key` names the person (staff-3, rep-17), with their scope and chats."""

    key: str
    scope: Scope
    identities: tuple[ChatIdentity, ...]


async def readers(session: AsyncSession, *, scope: Scope | None = None, key: str | None = None) -> list[Reader]:
    """The people with a chat bound who read a digest (of `scope`, or the one person `key`), by key, each with
    their notice chat (blocked or not: the job skips a reader it cannot reach, and says so)."""
    found: dict[str, tuple[Scope, list[ChatIdentity]]] = {}
    staff = await session.exec(
        select(ChatIdentity, Staff)
        .join(Staff, col(Staff.id) == ChatIdentity.staff_id)
        .where(
            col(ChatIdentity.role).in_((Role.LEADER.value, Role.LIAISON.value)),
            Staff.role == ChatIdentity.role,
            col(ChatIdentity.notices).is_(True),
        )
        .order_by(col(ChatIdentity.id))
    )
    for identity, person in staff.all():
        township = person.township if person.role == Role.LEADER.value else ""
        read = Scope(TOWNSHIP, township) if township else Scope(DISTRICT)
        found.setdefault(f"staff-{person.id}", (read, []))[1].append(identity)
    leaders = await session.exec(
        select(ChatIdentity, Representative.id, RepGroup.name)
        .join(Representative, col(Representative.id) == ChatIdentity.representative_id)
        .join(RepGroup, col(RepGroup.id) == Representative.group_id)
        .where(
            ChatIdentity.role == Role.REPRESENTATIVE.value,
            col(Representative.active).is_(True),
            Representative.group_role == GroupRole.LEADER.value,
            col(ChatIdentity.notices).is_(True),
        )
        .order_by(col(ChatIdentity.id))
    )
    for identity, rep_id, group_name in leaders.all():
        found.setdefault(f"rep-{rep_id}", (Scope(GROUP, group_name), []))[1].append(identity)
    return [
        Reader(person, read, tuple(identities))
        for person, (read, identities) in sorted(found.items())
        if (scope is None or read == scope) and (key is None or person == key)
    ]
