"""Exports for the liaison office: the visit record as a spreadsheet, with names and phones masked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import InvalidInput
from storage.exchange.spreadsheets import SUFFIXES, write_table
from storage.models import Area, Household, HouseholdCategory, Representative, Visit, VisitCompanion, VisitPhoto
from storage.records.households import mask_name, mask_phone
from storage.settings import Settings

# The export's columns are a file format that other tools read: they stay fixed, in Chinese.
VISIT_HEADERS = [
    "走访编号",
    "日期",
    "代表编号",
    "代表姓名",
    "走访方式",
    "类型",
    "形式",
    "同行代表",
    "责任区",
    "住户地址",
    "户主",
    "电话",
    "类别",
    "党员户",
    "情况记录",
    "照片数",
    "纬度",
    "经度",
]


async def visit_table(session: AsyncSession, *, start: date, end: date, settings: Settings) -> list[list[str]]:
    """The visits dated from `start` to `end` (inclusive) as the export's lines, the header first. Only reads: run it
    in `Database.read()`, and write the file after that transaction has ended (`write_visits`), so that a long
    export never holds up the bot's writes."""
    rows = (
        await session.exec(
            select(Visit, Representative, Household, col(Area.name))
            .join(Representative, col(Representative.id) == Visit.representative_id)
            .join(Household, col(Household.id) == Visit.household_id)
            .join(Area, col(Area.id) == Household.area_id)
            .where(col(Visit.visited_on).between(start, end))
            .order_by(col(Visit.visited_on), col(Visit.id))
        )
    ).all()
    # Sub-selects rather than lists of ids: a city's year of visits is more ids than a statement can carry.
    in_period = select(Visit.id).where(col(Visit.visited_on).between(start, end))
    households_in_period = select(Visit.household_id).where(col(Visit.visited_on).between(start, end))
    companions: dict[int, list[str]] = {}
    for visit_id, code in (
        await session.exec(
            select(VisitCompanion.visit_id, Representative.code)
            .join(Representative, col(Representative.id) == VisitCompanion.representative_id)
            .where(col(VisitCompanion.visit_id).in_(in_period))
        )
    ).all():
        companions.setdefault(visit_id, []).append(code)
    photos = dict(
        (
            await session.exec(
                select(VisitPhoto.visit_id, sa.func.count())
                .where(col(VisitPhoto.visit_id).in_(in_period))
                .group_by(col(VisitPhoto.visit_id))
            )
        ).all()
    )
    categories: dict[int, list[str]] = {}
    for household_id, code in (
        await session.exec(
            select(HouseholdCategory.household_id, HouseholdCategory.code)
            .where(col(HouseholdCategory.household_id).in_(households_in_period))
            .order_by(col(HouseholdCategory.code))
        )
    ).all():
        categories.setdefault(household_id, []).append(code)

    def label(code: str) -> str:
        found = settings.households.category(code) or settings.visits.mode(code)
        return found.zh if found else code

    lines = [VISIT_HEADERS]
    for visit, representative, household, area_name in rows:
        assert visit.id is not None and household.id is not None
        lines.append(
            [
                str(visit.id),
                visit.visited_on.isoformat(),
                representative.code,
                representative.name,
                label(visit.mode),
                "日常走访" if visit.round == "routine" else f"集中走访 {visit.round}",
                "集体" if visit.collective else "个人",
                "、".join(sorted(companions.get(visit.id, []))),
                area_name,
                household.address,
                mask_name(household.head_name),
                mask_phone(household.phone) if household.phone else "",
                "、".join(label(code) for code in categories.get(household.id, [])),
                "是" if household.party_member else "否",
                visit.notes,
                str(photos.get(visit.id, 0)),
                "" if visit.latitude is None else f"{visit.latitude:.6f}",
                "" if visit.longitude is None else f"{visit.longitude:.6f}",
            ]
        )
    return lines


def write_visits(path: Path, lines: list[list[str]]) -> None:
    """Write `visit_table`'s lines to a .csv or .xlsx file (whole, or not at all)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("cli.bad_suffix", path=path.name)
    try:
        write_table(path, lines, sheet_title="走访记录")
    except OSError as error:
        raise InvalidInput("cli.unwritable", path=path.name) from error


def record_visit_export(session: AsyncSession, *, actor: str, count: int, start: date, end: date) -> None:
    """The export's audit row, in a short transaction of its own once the file is written."""
    audit.record(
        session,
        actor=actor,
        action="visit.export",
        entity="visit",
        count=count,
        start=start.isoformat(),
        end=end.isoformat(),
    )
