"""Activities in the store: logged with evidence and an audit row of ids; this year's only, never in the future;
the five-ones tally; what the digest counts by kind."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from storage.db import Database
from storage.errors import InvalidInput, NotAllowed
from storage.models import ActivityEvidence, AuditEntry
from storage.policy import Role, Standing
from storage.records import activities
from storage.records.activities import Evidence
from storage.settings import Settings
from tests.factories import NOW, TODAY, District, build_district


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def log(
    db: Database,
    settings: Settings,
    standing: Standing,
    kind: str,
    *,
    done_on: date = TODAY,
    evidence: tuple[Evidence, ...] = (),
    summary: str = "为幸福路12号修好了路灯",
) -> int:
    async with db.transaction() as session:
        activity = await activities.log_activity(
            session,
            standing=standing,
            kind=kind,
            done_on=done_on,
            summary=summary,
            evidence=evidence,
            settings=settings,
            today=TODAY,
            now=NOW,
        )
        assert activity.id is not None
        return activity.id


async def test_an_activity_is_saved_with_its_evidence_and_an_audit_row_of_ids(
    db: Database, settings: Settings, district: District
) -> None:
    evidence = (Evidence("photo", "tg:photo-1"), Evidence("document", "tg:doc-2", "报告.pdf"))
    activity_id = await log(db, settings, district.standing("D001"), "practical_thing", evidence=evidence)
    async with db.transaction() as session:
        files = (await session.exec(select(ActivityEvidence))).all()
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "activity.log"))).one()
        listed = await activities.of_year(session, representative_id=district.representatives["D001"], year=2026)
    assert [(one.activity_id, one.kind, one.file_ref) for one in files] == [
        (activity_id, "photo", "tg:photo-1"),
        (activity_id, "document", "tg:doc-2"),
    ]
    assert audit.entity_id == str(activity_id) and audit.detail == {"evidence": 2}  # never the text
    assert [(activity.id, count) for activity, count in listed] == [(activity_id, 2)]


@pytest.mark.parametrize(
    ("kind", "done_on", "summary", "key"),
    [
        ("dancing", TODAY, "跳舞", "activity.error.kind"),
        ("council", TODAY + timedelta(days=1), "议事会", "activity.error.future"),
        ("council", date(2025, 12, 31), "议事会", "activity.error.last_year"),
        ("council", TODAY, "   ", "input.empty"),
        ("council", TODAY, "长" * 2001, "input.too_long"),
    ],
)
async def test_bad_activities_are_refused_and_nothing_is_saved(
    db: Database, settings: Settings, district: District, kind: str, done_on: date, summary: str, key: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await log(db, settings, district.standing("D001"), kind, done_on=done_on, summary=summary)
    assert refused.value.key == key
    async with db.transaction() as session:
        assert await activities.of_year(session, representative_id=district.representatives["D001"], year=2026) == []


async def test_evidence_is_limited_and_only_representatives_log(
    db: Database, settings: Settings, district: District
) -> None:
    too_many = tuple(Evidence("photo", f"p{n}") for n in range(settings.activities.max_evidence + 1))
    with pytest.raises(InvalidInput) as refused:
        await log(db, settings, district.standing("D001"), "council", evidence=too_many)
    assert refused.value.key == "activity.error.too_much_evidence"
    with pytest.raises(NotAllowed):
        await log(db, settings, Standing(Role.LIAISON, identity_id=1, staff_id=1), "council")


async def test_the_five_ones_tally_counts_this_years_by_kind(
    db: Database, settings: Settings, district: District
) -> None:
    d001 = district.standing("D001")
    for kind in ("research_report", "practical_thing", "practical_thing", "council"):
        await log(db, settings, d001, kind)
    await log(db, settings, district.standing("T001"), "public_welfare")
    async with db.transaction() as session:
        tally = await activities.five_ones_tally(
            session, representative_id=district.representatives["D001"], year=2026, settings=settings
        )
        last_year = await activities.five_ones_tally(
            session, representative_id=district.representatives["D001"], year=2025, settings=settings
        )
    assert tally == {
        "research_report": 1,
        "practical_thing": 2,
        "petition_resolved": 0,
        "public_welfare": 0,
        "hardship_helped": 0,
    }
    assert set(last_year.values()) == {0}


async def test_the_digest_counts_activities_logged_in_a_period_by_kind(
    db: Database, settings: Settings, district: District
) -> None:
    for kind in ("practical_thing", "practical_thing", "research_report"):
        await log(db, settings, district.standing("D001"), kind, done_on=TODAY - timedelta(days=30))
    async with db.transaction() as session:
        this_week = await activities.counts_by_kind(
            session, since=NOW - timedelta(days=1), until=NOW + timedelta(days=1)
        )
        next_week = await activities.counts_by_kind(
            session, since=NOW + timedelta(days=1), until=NOW + timedelta(days=8)
        )
    # Logged this week, whatever day they were done: the digest counts what was logged in its period.
    assert this_week == {"practical_thing": 2, "research_report": 1}
    assert next_week == {}
