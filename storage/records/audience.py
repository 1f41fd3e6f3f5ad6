"""Who a briefing, an opinion request or an event goes to: everyone in office, a level, or a representative group.

A scope is kept as a short string on the record (`all`, `level:district`, `level:township`, `group:<id>`), so the
list of recipients can be read again as the roster stands when it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import Conflict, InvalidInput
from storage.models import RepGroup, Representative

ALL = "all"
LEVELS = ("district", "township")


@dataclass(frozen=True)
class Scope:
    """A parsed scope: everyone, one level, or one group (with its name, for people to read)."""

    kind: str  # all | level | group
    level: str = ""
    group_id: int | None = None
    group_name: str = ""

    @property
    def key(self) -> str:
        if self.kind == "level":
            return f"level:{self.level}"
        if self.kind == "group":
            return f"group:{self.group_id}"
        return ALL


def parse(key: str) -> Scope:
    """A stored scope string as a Scope (a group's name is filled by `resolve`)."""
    kind, _, value = key.partition(":")
    if kind == "level" and value in LEVELS:
        return Scope("level", level=value)
    if kind == "group" and value.isdigit():
        return Scope("group", group_id=int(value))
    if key == ALL:
        return Scope(ALL)
    raise ValueError(f"not a scope: {key!r}")


async def resolve(session: AsyncSession, key: str) -> Scope:
    """The scope with its group's name; a group that no longer exists is refused."""
    scope = parse(key)
    if scope.kind != "group":
        return scope
    group = await session.get(RepGroup, scope.group_id)
    if group is None:
        raise InvalidInput("audience.error.no_group")
    return Scope("group", group_id=group.id, group_name=group.name)


async def find_groups(session: AsyncSession, *, text: str, limit: int = 8) -> list[RepGroup]:
    """Representative groups whose name contains the text, by name."""
    found = await session.exec(
        select(RepGroup).where(col(RepGroup.name).contains(text.strip())).order_by(col(RepGroup.name)).limit(limit)
    )
    return list(found.all())


async def representatives_in(session: AsyncSession, key: str) -> list[int]:
    """The ids of the representatives in office the scope names, in roster order."""
    scope = parse(key)
    query = select(Representative.id).where(col(Representative.active).is_(True))
    if scope.kind == "level":
        query = query.where(Representative.level == scope.level)
    elif scope.kind == "group":
        query = query.where(Representative.group_id == scope.group_id)
    found = await session.exec(query.order_by(col(Representative.code)))
    return [rep_id for rep_id in found.all() if rep_id is not None]


async def recipients(session: AsyncSession, key: str) -> list[int]:
    """The representatives in office a scope names, for sending something to them: a vanished group, or a scope
    with nobody in office in it, is refused (nothing would reach anyone)."""
    await resolve(session, key)
    found = await representatives_in(session, key)
    if not found:
        raise Conflict("audience.error.nobody")
    return found
