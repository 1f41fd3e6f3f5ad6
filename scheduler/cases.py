"""Cases past their deadline: every working day at `cases.chase_at` a sweep plans one chase (the day after the
missed deadline) and one escalation to leaders (`cases.escalate_after_working_days` later) per case and deadline;
each is sent once, by storage.records.cases.send_overdue. The sweep also closes the answers their writers left
unrated for `cases.auto_close_days`."""

from __future__ import annotations

from datetime import date

from handlers.notices import render
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import Case, DueItem
from storage.records import cases, schedule
from storage.records.schedule import Planned

SWEEP, CHASE, ESCALATE = "cases-sweep", "chase", "escalate"


def sweep_item(ctx: JobContext, day: date) -> Planned:
    # No expiry: a sweep late after downtime still finds everything overdue; its chases expire instead.
    return Planned(key=f"{SWEEP}:{day.isoformat()}", kind=SWEEP, due_at=ctx.at(day, ctx.settings.cases.chase_at))


async def start(ctx: JobContext) -> None:
    """The first sweep (or the next, should one have failed): the next working day's (today's, if its hour has not
    come)."""
    if await schedule.exists(ctx.session, kind=SWEEP):
        return
    day = ctx.today if ctx.calendar.is_working_day(ctx.today) else ctx.calendar.next_working_day(ctx.today)
    if ctx.at(day, ctx.settings.cases.chase_at) < ctx.now:
        day = ctx.calendar.next_working_day(day)
    ctx.plan(sweep_item(ctx, day))


async def sweep(ctx: JobContext, item: DueItem) -> None:
    """Plan the chases and escalations due today, and the next working day's sweep; close unrated answers."""
    ctx.plan(sweep_item(ctx, ctx.calendar.next_working_day(ctx.today)))  # after today, however late this one ran
    await cases.close_unrated(ctx.session, settings=ctx.settings, now=ctx.now)
    for overdue in await cases.overdue(ctx.session, settings=ctx.settings, calendar=ctx.calendar, today=ctx.today):
        case = overdue.case
        kind = ESCALATE if overdue.due == "escalate" else CHASE
        ctx.plan(
            Planned(
                key=f"{kind}:{case.number}:{case.due_on.isoformat()}",
                kind=kind,
                due_at=ctx.now,
                expires_at=ctx.expires("cases", ctx.now),
                urgent=case.time_limit == "emergency",
                payload={"case_id": case.id, "due_on": case.due_on.isoformat()},
            )
        )


async def _send(ctx: JobContext, item: DueItem, due: str) -> None:
    case = await ctx.session.get(Case, int(item.payload["case_id"]), with_for_update=True)
    if case is None:
        raise Skip("gone")
    if case.state not in (cases.REGISTERED, cases.SORTED, cases.ASSIGNED, cases.IN_PROGRESS):
        raise Skip("answered_meanwhile", number=case.number)
    if case.due_on.isoformat() != item.payload["due_on"]:
        raise Skip("deadline_moved", number=case.number)
    if (case.escalated_at if due == "escalate" else case.chased_at or case.escalated_at) is not None:
        raise Skip("already_sent", number=case.number)  # by `lianxin cases overdue --send`
    late = ctx.calendar.working_days_between(case.due_on, ctx.today)
    await cases.send_overdue(
        ctx.session,
        items=[cases.Overdue(case, late, due)],
        settings=ctx.settings,
        now=ctx.now,
        render=render,
    )


async def chase(ctx: JobContext, item: DueItem) -> None:
    await _send(ctx, item, "chase")


async def escalate(ctx: JobContext, item: DueItem) -> None:
    await _send(ctx, item, "escalate")


JOBS: dict[str, Job] = {SWEEP: sweep, CHASE: chase, ESCALATE: escalate}
STARTERS: tuple[Starter, ...] = (start,)
