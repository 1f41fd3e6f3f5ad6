"""Public commitments (承诺制): a representative publishes the year's commitments (at most
activities.max_commitments) and marks each planned, in progress or done with a note; anyone reads them by the
representative's code."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.errors import InvalidInput, NotAllowed, NotFound
from storage.models import Commitment, Representative
from storage.policy import Action, Standing
from storage.settings import Settings

PLANNED, IN_PROGRESS, DONE = "planned", "in_progress", "done"
STATUSES = (PLANNED, IN_PROGRESS, DONE)
MAX_TEXT = 500
MAX_NOTE = 500


def _text(text: str, limit: int, *, required: bool = True) -> str:
    text = text.strip()
    if required and not text:
        raise InvalidInput("input.empty")
    if len(text) > limit:
        raise InvalidInput("input.too_long", limit=limit, length=len(text))
    return text


async def count_of_year(session: AsyncSession, *, representative_id: int, year: int) -> int:
    found = await session.exec(
        select(sa.func.count()).where(Commitment.representative_id == representative_id, Commitment.year == year)
    )
    return int(found.one())


async def add(
    session: AsyncSession, *, standing: Standing, text: str, year: int, settings: Settings, now: datetime
) -> Commitment:
    """Publish a commitment for the year; more than activities.max_commitments a year is refused."""
    policy.require(standing, Action.COMMITMENTS)
    assert standing.representative_id is not None
    # The representative's row is locked, so two commitments added at once cannot pass the limit together.
    await session.get(Representative, standing.representative_id, with_for_update=True)
    limit = settings.activities.max_commitments
    if await count_of_year(session, representative_id=standing.representative_id, year=year) >= limit:
        raise InvalidInput("commitment.error.too_many", limit=limit, year=year)
    commitment = Commitment(
        representative_id=standing.representative_id,
        year=year,
        text=_text(text, MAX_TEXT),
        created_at=now,
        updated_at=now,
    )
    session.add(commitment)
    await session.flush()
    audit.record(session, actor=standing.actor, action="commitment.add", entity="commitment", entity_id=commitment.id)
    return commitment


async def mark(
    session: AsyncSession, *, standing: Standing, commitment_id: int, status: str, note: str, now: datetime
) -> Commitment:
    """Mark one's own commitment planned, in progress or done, with a note (optional)."""
    policy.require(standing, Action.COMMITMENTS)
    if status not in STATUSES:
        raise InvalidInput("commitment.error.status")
    commitment = await own(session, standing=standing, commitment_id=commitment_id, lock=True)
    commitment.status, commitment.progress_note, commitment.updated_at = (
        status,
        _text(note, MAX_NOTE, required=False),
        now,
    )
    session.add(commitment)
    await session.flush()
    audit.record(
        session,
        actor=standing.actor,
        action="commitment.mark",
        entity="commitment",
        entity_id=commitment_id,
        status=status,
    )
    return commitment


async def own(session: AsyncSession, *, standing: Standing, commitment_id: int, lock: bool = False) -> Commitment:
    """One of this representative's commitments; another's is refused."""
    commitment = await session.get(Commitment, commitment_id, with_for_update=lock, populate_existing=lock)
    if commitment is None:
        raise NotFound("commitment.error.unknown")
    if commitment.representative_id != standing.representative_id:
        raise NotAllowed("commitment.error.not_yours")
    return commitment


async def of_year(session: AsyncSession, *, representative_id: int, year: int) -> list[Commitment]:
    """A representative's commitments for the year, in the order they were published."""
    found = await session.exec(
        select(Commitment)
        .where(Commitment.representative_id == representative_id, Commitment.year == year)
        .order_by(col(Commitment.id))
    )
    return list(found.all())


async def representative_by_code(session: AsyncSession, *, code: str) -> Representative:
    """A representative in office by roster code (D001), whose commitments are public."""
    found = await session.exec(
        select(Representative).where(Representative.code == code.strip().upper(), col(Representative.active).is_(True))
    )
    rep = found.first()
    if rep is None:
        raise NotFound("commitment.error.no_representative", code=code.strip()[:20])
    return rep
