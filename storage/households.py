"""The household ledger: finding households by address or name, registering new ones, their categories."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import NotFound
from storage.models import Area, Household, HouseholdCategory, RepArea, utcnow


@dataclass(frozen=True)
class HouseholdBrief:
    """What a representative sees of a household in a list: the head's name is masked."""

    id: int
    address: str
    head: str
    area: str
    own_area: bool
    party_member: bool
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
    digits = phone.strip()
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)


def normalise(text: str) -> str:
    """Full-width digits and letters typed on phones become ASCII; surrounding spaces go."""
    return unicodedata.normalize("NFKC", text).strip()


def _like(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def representative_area_ids(session: AsyncSession, *, representative_id: int) -> list[int]:
    rows = await session.exec(select(RepArea.area_id).where(RepArea.representative_id == representative_id))
    return sorted(rows.all())


async def search(
    session: AsyncSession, *, fragment: str, representative_id: int, limit: int, actor: str
) -> list[HouseholdBrief]:
    """The best `limit` households whose address or head's name contains the fragment; own areas first."""
    fragment = normalise(fragment)
    if not fragment:
        return []
    own = await representative_area_ids(session, representative_id=representative_id)
    pattern = _like(fragment)
    own_rank = sa.case((col(Household.area_id).in_(own), 0), else_=1) if own else sa.literal(1)
    prefix_rank = sa.case((col(Household.address).startswith(fragment, autoescape=True), 0), else_=1)
    statement = (
        select(Household, Area.name)
        .join(Area, col(Area.id) == Household.area_id)
        .where(
            sa.or_(
                col(Household.address).like(pattern, escape="\\"),
                col(Household.head_name).like(pattern, escape="\\"),
            )
        )
        .order_by(own_rank, prefix_rank, col(Household.address), col(Household.id))
        .limit(limit)
    )
    rows = (await session.exec(statement)).all()
    categories = await categories_of(session, household_ids=[household.id for household, _ in rows if household.id])
    audit.record(session, actor=actor, action="household.search", entity="household", results=len(rows))
    return [
        HouseholdBrief(
            id=household.id or 0,
            address=household.address,
            head=mask_name(household.head_name),
            area=area_name,
            own_area=household.area_id in own,
            party_member=household.party_member,
            categories=tuple(categories.get(household.id or 0, ())),
        )
        for household, area_name in rows
    ]


async def exists_at(session: AsyncSession, *, address: str) -> bool:
    """Whether the ledger already has a household at exactly this address."""
    found = await session.exec(select(Household.id).where(Household.address == normalise(address)).limit(1))
    return found.first() is not None


async def brief(session: AsyncSession, *, household_id: int, representative_id: int) -> HouseholdBrief:
    row = (
        await session.exec(
            select(Household, Area.name)
            .join(Area, col(Area.id) == Household.area_id)
            .where(Household.id == household_id)
        )
    ).first()
    if row is None:
        raise NotFound("error.household_not_found")
    household, area_name = row
    own = await representative_area_ids(session, representative_id=representative_id)
    categories = await categories_of(session, household_ids=[household_id])
    return HouseholdBrief(
        id=household_id,
        address=household.address,
        head=mask_name(household.head_name),
        area=area_name,
        own_area=household.area_id in own,
        party_member=household.party_member,
        categories=tuple(categories.get(household_id, ())),
    )


async def categories_of(session: AsyncSession, *, household_ids: list[int]) -> dict[int, list[str]]:
    if not household_ids:
        return {}
    rows = await session.exec(
        select(HouseholdCategory.household_id, HouseholdCategory.code)
        .where(col(HouseholdCategory.household_id).in_(household_ids))
        .order_by(col(HouseholdCategory.code))
    )
    found: dict[int, list[str]] = {}
    for household_id, code in rows.all():
        found.setdefault(household_id, []).append(code)
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
    actor: str,
) -> Household:
    household = Household(
        area_id=area_id,
        address=normalise(address),
        head_name=normalise(head_name),
        phone=phone,
        party_member=party_member,
    )
    session.add(household)
    await session.flush()
    assert household.id is not None
    for code in sorted(set(categories)):
        session.add(HouseholdCategory(household_id=household.id, code=code))
    audit.record(session, actor=actor, action="household.create", entity="household", entity_id=household.id)
    return household


async def correct_categories(
    session: AsyncSession, *, household_id: int, categories: list[str], party_member: bool, actor: str
) -> bool:
    """Bring the ledger in line with what the representative saw at the door. True when anything changed."""
    household = await session.get(Household, household_id)
    if household is None:
        raise NotFound("error.household_not_found")
    current = set((await categories_of(session, household_ids=[household_id])).get(household_id, []))
    wanted = set(categories)
    if current == wanted and household.party_member == party_member:
        return False
    for code in current - wanted:
        await session.exec(
            sa.delete(HouseholdCategory).where(
                col(HouseholdCategory.household_id) == household_id, col(HouseholdCategory.code) == code
            )
        )
    for code in sorted(wanted - current):
        session.add(HouseholdCategory(household_id=household_id, code=code))
    changed_fields = []
    if household.party_member != party_member:
        household.party_member = party_member
        changed_fields.append("party_member")
    household.updated_at = utcnow()
    session.add(household)
    audit.record(
        session,
        actor=actor,
        action="household.categories",
        entity="household",
        entity_id=household_id,
        added=sorted(wanted - current),
        removed=sorted(current - wanted),
        fields=changed_fields,
    )
    return True
