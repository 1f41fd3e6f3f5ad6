"""Reception days announced: the eve (reception.eve_at) to the representatives on duty and to the residents
subscribed to the station, the morning (reception.morning_at) to those on duty. Each item is planned, moved and
skipped by storage.records.reception as the day is set, changed and cancelled; the job reads the day as it is when
it runs (who is on duty now, whether it still takes place) and words it in each reader's language."""

from __future__ import annotations

from handlers.reception import notice
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import ChatIdentity, DueItem, ReceptionDay
from storage.records import reception
from storage.records.reception import DUTY_EVE, MORNING, RESIDENTS_EVE, Rota

MESSAGES = {
    DUTY_EVE: "reception.notify.eve_duty",
    RESIDENTS_EVE: "reception.notify.eve_residents",
    MORNING: "reception.notify.morning",
}


async def _day(ctx: JobContext, item: DueItem) -> Rota:
    found = await ctx.session.get(ReceptionDay, int(item.payload["reception_id"]))
    if found is None or found.id is None:
        raise Skip("gone")
    if found.cancelled:
        raise Skip("cancelled")
    return await reception.view(ctx.session, reception_id=found.id)


def _tell(ctx: JobContext, people: list[ChatIdentity], rota: Rota, key: str) -> None:
    if not people:
        raise Skip("nobody")
    for person in people:
        ctx.send(person, notice(ctx.language(person), key, rota.values()))


async def to_duty(ctx: JobContext, item: DueItem) -> None:
    """The eve's and the morning's notice to the representatives on duty (in office) now."""
    rota = await _day(ctx, item)
    _tell(ctx, await reception.duty_chats(ctx.session, rota), rota, MESSAGES[item.kind])


async def to_residents(ctx: JobContext, item: DueItem) -> None:
    """The eve's notice to the residents subscribed to the station."""
    rota = await _day(ctx, item)
    subscribed = await reception.subscribers(ctx.session, station_id=rota.station_id)
    _tell(ctx, subscribed, rota, MESSAGES[item.kind])


JOBS: dict[str, Job] = {DUTY_EVE: to_duty, RESIDENTS_EVE: to_residents, MORNING: to_duty}
STARTERS: tuple[Starter, ...] = ()
