"""Commitments in the store: published up to activities.max_commitments a year, marked by their representative
only, read by anyone through the representative's code."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.db import Database
from storage.errors import InvalidInput, NotAllowed, NotFound
from storage.models import AuditEntry
from storage.policy import Role, Standing
from storage.records import commitments
from storage.settings import Settings
from tests.factories import NOW, District, build_district


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def add(db: Database, settings: Settings, standing: Standing, text: str, *, year: int = 2026) -> int:
    async with db.transaction() as session:
        commitment = await commitments.add(session, standing=standing, text=text, year=year, settings=settings, now=NOW)
        assert commitment.id is not None
        return commitment.id


async def test_a_year_holds_at_most_max_commitments(db: Database, settings: Settings, district: District) -> None:
    d001 = district.standing("D001")
    for number in range(settings.activities.max_commitments):
        await add(db, settings, d001, f"承诺{number}")
    with pytest.raises(InvalidInput) as refused:
        await add(db, settings, d001, "再来一条")
    assert refused.value.key == "commitment.error.too_many"
    assert refused.value.params == {"limit": settings.activities.max_commitments, "year": 2026}
    await add(db, settings, d001, "明年的", year=2027)  # another year has room
    await add(db, settings, district.standing("T001"), "别人的")  # and so has another representative
    async with db.transaction() as session:
        mine = await commitments.of_year(session, representative_id=district.representatives["D001"], year=2026)
    assert [one.text for one in mine] == [f"承诺{number}" for number in range(settings.activities.max_commitments)]
    assert {one.status for one in mine} == {"planned"}


async def test_only_the_representative_marks_their_commitment(
    db: Database, settings: Settings, district: District
) -> None:
    commitment_id = await add(db, settings, district.standing("D001"), "每月接待一次群众")
    async with db.transaction() as session:
        with pytest.raises(NotAllowed) as other:
            await commitments.mark(
                session,
                standing=district.standing("T001"),
                commitment_id=commitment_id,
                status="done",
                note="",
                now=NOW,
            )
        assert other.value.key == "commitment.error.not_yours"
        with pytest.raises(InvalidInput):
            await commitments.mark(
                session,
                standing=district.standing("D001"),
                commitment_id=commitment_id,
                status="lost",
                note="",
                now=NOW,
            )
        with pytest.raises(NotFound):
            await commitments.mark(
                session, standing=district.standing("D001"), commitment_id=999, status="done", note="", now=NOW
            )
    async with db.transaction() as session:
        marked = await commitments.mark(
            session,
            standing=district.standing("D001"),
            commitment_id=commitment_id,
            status="in_progress",
            note="已接待3次",
            now=NOW,
        )
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "commitment.mark"))).one()
    assert (marked.status, marked.progress_note) == ("in_progress", "已接待3次")
    assert audit.detail == {"status": "in_progress"}  # the note is not in the audit log


async def test_representatives_are_found_by_code_in_office_only(
    db: Database, settings: Settings, district: District
) -> None:
    async with db.transaction() as session:
        assert (await commitments.representative_by_code(session, code=" d001 ")).code == "D001"
        with pytest.raises(NotFound):
            await commitments.representative_by_code(session, code="X999")
    with pytest.raises(NotAllowed):
        await add(db, settings, Standing(Role.RESIDENT, identity_id=1), "群众不能发布")
