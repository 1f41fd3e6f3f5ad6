"""Activities a representative logs (/activity): one of the "five ones" (五个一) or another form of activity from
config.toml's [[activities.kinds]], the day it was done, what was done, and evidence (photos, documents). Also the
year's five-ones tally a representative sees, and what the leaders' digest counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.errors import InvalidInput
from storage.models import Activity, ActivityEvidence
from storage.policy import Action, Standing
from storage.settings import Settings

EVIDENCE_KINDS = ("photo", "document")


@dataclass(frozen=True)
class Evidence:
    """A photo or document as the channel refers to it."""

    kind: str  # photo | document
    file_ref: str
    name: str = ""


async def log_activity(
    session: AsyncSession,
    *,
    standing: Standing,
    kind: str,
    done_on: date,
    summary: str,
    evidence: Sequence[Evidence] = (),
    settings: Settings,
    today: date,
    now: datetime,
) -> Activity:
    """Save an activity with its evidence and an audit row (ids only). The day is this year's and not in the
    future; the kind is one of the configured ones."""
    policy.require(standing, Action.LOG_ACTIVITY)
    assert standing.representative_id is not None
    limits = settings.activities
    if limits.kind(kind) is None:
        raise InvalidInput("activity.error.kind")
    if done_on > today:
        raise InvalidInput("activity.error.future")
    if done_on.year != today.year:
        raise InvalidInput("activity.error.last_year", year=today.year)
    summary = summary.strip()
    if not summary:
        raise InvalidInput("input.empty")
    if len(summary) > limits.max_summary_length:
        raise InvalidInput("input.too_long", limit=limits.max_summary_length, length=len(summary))
    if len(evidence) > limits.max_evidence:
        raise InvalidInput("activity.error.too_much_evidence", limit=limits.max_evidence)
    if any(one.kind not in EVIDENCE_KINDS for one in evidence):
        raise InvalidInput("activity.error.evidence_kind")
    activity = Activity(
        representative_id=standing.representative_id, kind=kind, done_on=done_on, summary=summary, created_at=now
    )
    session.add(activity)
    await session.flush()
    assert activity.id is not None
    session.add_all(
        ActivityEvidence(activity_id=activity.id, kind=one.kind, file_ref=one.file_ref, name=one.name[:200])
        for one in evidence
    )
    audit.record(
        session,
        actor=standing.actor,
        action="activity.log",
        entity="activity",
        entity_id=activity.id,
        evidence=len(evidence),
    )
    await session.flush()
    return activity


async def of_year(session: AsyncSession, *, representative_id: int, year: int) -> list[tuple[Activity, int]]:
    """A representative's activities done in the year, latest first, each with how much evidence it has."""
    evidence = (
        select(sa.func.count()).where(ActivityEvidence.activity_id == Activity.id).correlate(Activity).scalar_subquery()
    )
    found = await session.exec(
        select(Activity, evidence)
        .where(
            Activity.representative_id == representative_id,
            col(Activity.done_on) >= date(year, 1, 1),
            col(Activity.done_on) <= date(year, 12, 31),
        )
        .order_by(col(Activity.done_on).desc(), col(Activity.id).desc())
    )
    return [(activity, int(count)) for activity, count in found.all()]


async def five_ones_tally(
    session: AsyncSession, *, representative_id: int, year: int, settings: Settings
) -> dict[str, int]:
    """How many of each "five ones" kind the representative did in the year, in config order (0 for none yet)."""
    codes = [kind.code for kind in settings.activities.kinds if kind.five_ones]
    found = await session.exec(
        select(Activity.kind, sa.func.count())
        .where(
            Activity.representative_id == representative_id,
            col(Activity.kind).in_(codes),
            col(Activity.done_on) >= date(year, 1, 1),
            col(Activity.done_on) <= date(year, 12, 31),
        )
        .group_by(col(Activity.kind))
    )
    counted = {kind: int(count) for kind, count in found.all()}
    return {code: counted.get(code, 0) for code in codes}


async def counts_by_kind(session: AsyncSession, *, since: datetime, until: datetime) -> dict[str, int]:
    """For the digest: activities logged (created_at) in [since, until), by kind code (kinds with none left out).
    The five ones are the kinds marked `five_ones`, the practical things (the headline's Z) those marked
    `practical` in settings.activities.kinds."""
    found = await session.exec(
        select(Activity.kind, sa.func.count())
        .where(col(Activity.created_at) >= since, col(Activity.created_at) < until)
        .group_by(col(Activity.kind))
    )
    return {kind: int(count) for kind, count in found.all()}
