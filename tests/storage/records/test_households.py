"""Household search: the trigram index (SQLite) finds exactly what a scan with LIKE finds, and stays in step with
the ledger as households are added, corrected and removed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from storage.db import Database
from storage.models import Household
from storage.records import households
from tests.factories import District, build_district

REP = "D001"
FRAGMENTS = [
    "幸福路",  # many addresses
    "东山村3组17号",  # one exact address
    "王建",  # a head's name (two characters: LIKE on every store)
    "号",  # one character
    "幸福路12",  # a prefix
    "无此地址",  # nothing
    "100%",  # LIKE's wildcards are plain characters in a search
    "a_b",
    '"引号"',  # so are FTS5's quotes
    "Ab栋",  # letter case does not matter, as with LIKE
]


async def search(db: Database, district: District, fragment: str, *, limit: int = 50) -> list[str]:
    async with db.transaction() as session:
        found = await households.search(
            session, fragment=fragment, viewer=district.standing(REP), limit=limit, sensitive=frozenset()
        )
    return [brief.address for brief in found]


async def scanned(db: Database, district: District, fragment: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The same search, made to scan with LIKE (the index needs fragments of TRIGRAM characters)."""
    with monkeypatch.context() as patched:
        patched.setattr(households, "TRIGRAM", 10_000)
        return await search(db, district, fragment)


async def add(db: Database, district: District, *rows: tuple[str, str]) -> None:
    async with db.transaction() as session:
        for address, head in rows:
            session.add(Household(area_id=district.areas["幸福社区一区"], address=address, head_name=head))


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
async def ledger(db: Database, district: District) -> District:
    await add(db, district, ("幸福路100%号", "百分"), ("幸福路a_b号", "下划线"), ("东山村ab栋", '"引号"先生'))
    return district


@pytest.mark.parametrize("fragment", FRAGMENTS)
async def test_the_index_finds_what_the_scan_finds(
    db: Database, ledger: District, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexed = await search(db, ledger, fragment)
    assert indexed == await scanned(db, ledger, fragment, monkeypatch)
    if fragment in ("幸福路", "东山村3组17号", "100%", "a_b", '"引号"', "Ab栋"):
        assert indexed, fragment  # the comparison is not between two empty lists


async def test_sqlite_searches_of_three_characters_use_the_index(db: Database, district: District) -> None:
    if not db.is_sqlite:
        pytest.skip("the trigram index is SQLite's")
    statements: list[str] = []

    def note(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        await search(db, district, "幸福路")
        await search(db, district, "号")
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", note)
    searches = [statement for statement in statements if "household.head_name" in statement]
    # The index finds the candidates (the LIKE beside it only sorts out which of those the asker may find by name).
    assert "household_search MATCH" in searches[0]
    assert "household_search" not in searches[1] and "head_name LIKE" in searches[1]


async def test_the_index_follows_new_corrected_and_removed_households(db: Database, district: District) -> None:
    await add(db, district, ("光明路88号", "赵新"))
    assert await search(db, district, "光明路88") == ["光明路88号"]
    async with db.transaction() as session:
        household = (await session.exec(select(Household).where(Household.address == "光明路88号"))).one()
        household.address = "光明路99号"
        session.add(household)
    assert await search(db, district, "光明路88") == []
    assert await search(db, district, "光明路99") == ["光明路99号"]
    async with db.transaction() as session:
        await session.exec(sa.delete(Household).where(col(Household.address) == "光明路99号"))
    assert await search(db, district, "光明路99") == []
