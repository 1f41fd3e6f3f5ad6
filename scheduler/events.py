"""Events announced the day before (events.eve_at, local time) to the invited who are not excused. The item is
planned, moved and skipped by storage.records.events as the event is added, moved and cancelled; the job reads the
event as it is when it runs (whether it still takes place, who is invited and not excused now)."""

from __future__ import annotations

from handlers.programme_events import notice
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import DueItem, ProgrammeEvent
from storage.records import events
from storage.records.events import ATTEND, EVE, PENDING


async def eve(ctx: JobContext, item: DueItem) -> None:
    """The day-before reminder to the invited in office who have not been excused."""
    event = await ctx.session.get(ProgrammeEvent, int(item.payload["event_id"]))
    if event is None or event.id is None:
        raise Skip("gone")
    if event.cancelled:
        raise Skip("cancelled")
    people = await events.chats_of_invited(ctx.session, event_id=event.id, answers=(PENDING, ATTEND))
    if not people:
        raise Skip("nobody")
    shown = events.values(event, ctx.settings)
    for person in people:
        ctx.send(person, notice(ctx.language(person), "event.notify.eve", shown))


JOBS: dict[str, Job] = {EVE: eve}
STARTERS: tuple[Starter, ...] = ()
