"""The household ledger: finding households by address (anywhere) or name (in one's own areas), registering new
ones, correcting their categories; what of them a person may see is the policy's to say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import execute
from storage.errors import InvalidInput, NotFound
from storage.models import HOUSEHOLD_SEARCH, Area, Household, HouseholdCategory, RepArea, utcnow
from storage.policy import Action, Standing
from storage.text import contains_pattern, normalise, prefix_pattern

TRIGRAM = 3  # the shortest fragment the search index can find
INDEX_PHRASE = 6  # the most characters of a fragment the index is asked for


@dataclass(frozen=True)
class HouseholdBrief:
    """What a person sees of a household in a list. The head's name is masked, and empty where they may not read
    it; party membership (None) and sensitive categories are left out where they may not read them."""

    id: int
    address: str
    head: str
    area: str
    own_area: bool
    party_member: bool | None
    categories: tuple[str, ...]


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小明 -> 张*明: enough to recognise a household at its door, not to copy a list of names."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678: the first three and the last four; a short number keeps its last two only."""
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "****" + digits[-4:]
    return "*" * (len(digits) - 2) + digits[-2:] if len(digits) > 2 else "*" * len(digits)


async def representative_areas(session: AsyncSession, *, representative_id: int) -> list[Area]:
    """The responsibility areas a representative serves, by name."""
    rows = await session.exec(
        select(Area)
        .join(RepArea, col(RepArea.area_id) == Area.id)
        .where(RepArea.representative_id == representative_id)
        .order_by(col(Area.name))
    )
    return list(rows.all())


# The statements a visit runs (the search of the quick form, opening a household) are built once, with bound
# parameters: building them anew cost more than running them.
_OWN_AREAS = select(RepArea.area_id).where(
    RepArea.representative_id == sa.bindparam("representative_id", type_=sa.Integer)
)
_LISTED: tuple[Any, ...] = (  # the columns `briefs` reads
    col(Household.id),
    col(Household.address),
    col(Household.head_name),
    col(Area.name).label("area"),
    col(Household.area_id).in_(_OWN_AREAS).label("own_area"),
    col(Household.party_member),
)
_CATEGORIES = (
    select(HouseholdCategory.household_id, HouseholdCategory.code)
    .where(col(HouseholdCategory.household_id).in_(sa.bindparam("household_ids", expanding=True)))
    .order_by(col(HouseholdCategory.code))
)
_BRIEF = (
    sa.select(*_LISTED)
    .join(Area, col(Area.id) == Household.area_id)
    .where(col(Household.id) == sa.bindparam("household_id"))
)


async def briefs(
    session: AsyncSession, *, rows: Sequence[sa.Row[Any]], viewer: Standing, sensitive: frozenset[str]
) -> list[HouseholdBrief]:
    """Rows of the columns in _LISTED as the viewer may see them, with their categories."""
    categories = await categories_of(session, household_ids=[row.id for row in rows])
    found = []
    for row in rows:
        record = policy.Household(own_area=bool(row.own_area))
        personal = policy.may(viewer, Action.READ_HOUSEHOLD, record)
        shown = policy.may(viewer, Action.READ_SENSITIVE, record)
        found.append(
            HouseholdBrief(
                id=row.id,
                address=row.address,
                head=mask_name(row.head_name) if personal else "",
                area=row.area,
                own_area=bool(row.own_area),
                party_member=row.party_member if personal else None,
                categories=tuple(code for code in categories.get(row.id, ()) if shown or code not in sensitive),
            )
        )
    return found


@cache
def _search(dialect: str, *, indexed: bool, names_everywhere: bool) -> sa.Select[Any]:
    """Households whose address contains the fragment, or whose head's name does in the areas where the asker may
    read names (their own, unless `names_everywhere`): a name is not a way to find where someone lives. Letter
    case is ignored (`a座` finds `A座`); the best come first: own areas, then an exact address, then addresses
    starting with the fragment. On SQLite, for three characters or more, from the trigram index (migration 0003);
    else by LIKE, which on SQLite scans the whole ledger and ignores case, and on PostgreSQL (as ILIKE) runs in the
    server."""
    address, head = col(Household.address), col(Household.head_name)
    pattern = sa.bindparam("pattern", type_=sa.String)
    if dialect == "postgresql":  # its LIKE minds letter case; SQLite's does not
        by_address, by_name = address.ilike(pattern, escape="\\"), head.ilike(pattern, escape="\\")
    else:
        by_address, by_name = address.like(pattern, escape="\\"), head.like(pattern, escape="\\")
    containing: sa.ColumnElement[bool] = sa.or_(
        by_address, by_name if names_everywhere else sa.and_(col(Household.area_id).in_(_OWN_AREAS), by_name)
    )
    if indexed:
        # The index finds the few households whose address or name holds the fragment; the test above then says
        # which of them the asker may find that way (one lookup of the index: each costs more than the rest).
        index = sa.table(HOUSEHOLD_SEARCH, sa.column("rowid"))
        matching = sa.select(index.c.rowid).where(sa.text(f"{HOUSEHOLD_SEARCH} MATCH :phrase"))
        containing = sa.and_(col(Household.id).in_(matching), containing)
    own_rank = sa.case((col(Household.area_id).in_(_OWN_AREAS), 0), else_=1)
    exact_rank = sa.case((address == sa.bindparam("fragment"), 0), else_=1)
    prefix_rank = sa.case((address.like(sa.bindparam("prefix"), escape="\\"), 0), else_=1)
    return (
        sa.select(*_LISTED)
        .join(Area, col(Area.id) == Household.area_id)
        .where(containing)
        .order_by(own_rank, exact_rank, prefix_rank, address, col(Household.id))
        .limit(sa.bindparam("limit"))
    )


async def search(
    session: AsyncSession, *, fragment: str, viewer: Standing, limit: int, sensitive: frozenset[str]
) -> list[HouseholdBrief]:
    """The best `limit` households whose address (or, where the viewer may read names, head's name) contains the
    fragment: own areas first, then an exact address, then addresses starting with the fragment."""
    policy.require(viewer, Action.FIND_HOUSEHOLD)
    fragment = normalise(fragment)
    if not fragment:
        return []
    dialect = session.get_bind().dialect.name
    indexed = dialect == "sqlite" and len(fragment) >= TRIGRAM
    names_everywhere = policy.may(viewer, Action.READ_HOUSEHOLD, policy.Household(own_area=False))
    # The index is asked for the fragment's first few characters only: every household holding the whole of it
    # holds those, the LIKE beside it keeps the ones that hold the rest, and a long phrase of common trigrams
    # (…1栋1单元101) cost the index milliseconds to intersect.
    leading = fragment[:INDEX_PHRASE]
    phrase = '"' + leading.replace('"', '""') + '"'  # one FTS5 string: no query syntax inside it
    parameters = {
        "representative_id": viewer.representative_id,
        "fragment": fragment,
        "prefix": prefix_pattern(fragment),
        "limit": limit,
        "pattern": contains_pattern(fragment),
        **({"phrase": phrase} if indexed else {}),
    }
    statement = _search(dialect, indexed=indexed, names_everywhere=names_everywhere)
    rows = list(await execute(session, statement, parameters))
    audit.record(
        session,
        actor=viewer.actor,
        action="household.search",
        entity="household",
        households=[row.id for row in rows],
    )
    return await briefs(session, rows=rows, viewer=viewer, sensitive=sensitive)


async def exists_at(session: AsyncSession, *, address: str) -> bool:
    """Whether the ledger already has a household at exactly this address."""
    found = await session.exec(select(Household.id).where(Household.address == normalise(address)).limit(1))
    return found.first() is not None


async def brief(
    session: AsyncSession, *, household_id: int, viewer: Standing, sensitive: frozenset[str]
) -> HouseholdBrief:
    policy.require(viewer, Action.FIND_HOUSEHOLD)
    parameters = {"household_id": household_id, "representative_id": viewer.representative_id}
    row = (await execute(session, _BRIEF, parameters)).first()
    if row is None:
        raise NotFound("error.household_not_found")
    record_opened(session, household_id=household_id, actor=viewer.actor)
    [found] = await briefs(session, rows=[row], viewer=viewer, sensitive=sensitive)
    return found


async def in_own_areas(session: AsyncSession, *, household_id: int, representative_id: int | None) -> bool:
    """Whether the household lies in one of the representative's areas."""
    found = await session.exec(
        select(Household.id)
        .join(RepArea, col(RepArea.area_id) == Household.area_id)
        .where(Household.id == household_id, RepArea.representative_id == representative_id)
    )
    return found.first() is not None


def record_opened(session: AsyncSession, *, household_id: int, actor: str) -> None:
    """Audit that someone opened a household's record (a search that found only it opens it directly)."""
    audit.record(session, actor=actor, action="household.open", entity="household", entity_id=household_id)


async def categories_of(session: AsyncSession, *, household_ids: list[int]) -> dict[int, list[str]]:
    if not household_ids:
        return {}
    found: dict[int, list[str]] = {}
    for row in await execute(session, _CATEGORIES, {"household_ids": household_ids}):
        found.setdefault(row.household_id, []).append(row.code)
    return found


async def register(
    session: AsyncSession,
    *,
    area_id: int,
    address: str,
    head_name: str,
    phone: str,
    party_member: bool,
    categories: list[str],
    viewer: Standing,
) -> Household:
    """A new household of the ledger, in one of the registering representative's own areas. One address is one
    household: a second one at the same address is refused, also when two representatives register it at the
    same moment."""
    policy.require(viewer, Action.REGISTER_HOUSEHOLD)
    if viewer.representative_id is None or area_id not in {
        area.id for area in await representative_areas(session, representative_id=viewer.representative_id)
    }:
        raise policy.refusal(viewer, Action.CORRECT_HOUSEHOLD)  # not their area: they may not describe it
    address = normalise(address)
    if session.get_bind().dialect.name == "postgresql":
        # Serialises registrations of the same address until commit; SQLite's BEGIN IMMEDIATE already does.
        await session.exec(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(address))))  # type: ignore[call-overload]
    if await exists_at(session, address=address):
        raise InvalidInput("visit.error.address_exists", address=address)
    household = Household(
        area_id=area_id,
        address=address,
        head_name=normalise(head_name),
        phone=phone,
        party_member=party_member,
    )
    session.add(household)
    await session.flush()
    assert household.id is not None
    for code in sorted(set(categories)):
        session.add(HouseholdCategory(household_id=household.id, code=code))
    audit.record(session, actor=viewer.actor, action="household.create", entity="household", entity_id=household.id)
    return household


async def correct_categories(
    session: AsyncSession,
    *,
    household_id: int,
    added: Sequence[str],
    removed: Sequence[str],
    party_member: bool | None,
    viewer: Standing,
) -> bool:
    """Apply the representative's corrections from the door (not a whole new set: a correction someone else
    made meanwhile stays). `party_member` None leaves it as it is. True when anything changed. Only where the
    policy lets the viewer correct: the representatives of the household's own areas and the liaison office."""
    if not (added or removed or party_member is not None):
        return False
    household = await session.get(Household, household_id, with_for_update=True)
    if household is None:
        raise NotFound("error.household_not_found")
    own = await in_own_areas(session, household_id=household_id, representative_id=viewer.representative_id)
    policy.require(viewer, Action.CORRECT_HOUSEHOLD, policy.Household(own_area=own))
    current = set((await categories_of(session, household_ids=[household_id])).get(household_id, []))
    to_add = sorted(set(added) - current)
    to_remove = sorted(set(removed) & current)
    party_changed = party_member is not None and household.party_member != party_member
    if not (to_add or to_remove or party_changed):
        return False
    if to_remove:
        await session.exec(
            sa.delete(HouseholdCategory).where(
                col(HouseholdCategory.household_id) == household_id, col(HouseholdCategory.code).in_(to_remove)
            )
        )
    for code in to_add:
        session.add(HouseholdCategory(household_id=household_id, code=code))
    if party_changed:
        household.party_member = bool(party_member)
    household.updated_at = utcnow()
    session.add(household)
    audit.record(
        session,
        actor=viewer.actor,
        action="household.categories",
        entity="household",
        entity_id=household_id,
        added=to_add,
        removed=to_remove,
        fields=["party_member"] if party_changed else [],
    )
    return True
