"""One-off notices: a catalog message to one person at a moment (kind "notice"), for anything that must tell
someone something later and once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import ChatIdentity, DueItem
from storage.records.schedule import Planned

NOTICE = "notice"


def notice_item(
    *,
    key: str,
    identity_id: int,
    message: str,
    due_at: datetime,
    expires_at: datetime | None = None,
    urgent: bool = False,
    **values: Any,
) -> Planned:
    """A notice to plan: `message` is its catalog key, `values` its placeholders (no personal data: a due item's
    payload outlives the conversation it came from)."""
    return Planned(
        key=key,
        kind=NOTICE,
        due_at=due_at,
        expires_at=expires_at,
        urgent=urgent,
        payload={"identity_id": identity_id, "message": message, "values": values},
    )


async def notice(ctx: JobContext, item: DueItem) -> None:
    person = await ctx.session.get(ChatIdentity, int(item.payload["identity_id"]))
    if person is None:
        raise Skip("nobody")
    ctx.tell([person], str(item.payload["message"]), **dict(item.payload.get("values", {})))


JOBS: dict[str, Job] = {NOTICE: notice}
STARTERS: tuple[Starter, ...] = ()
