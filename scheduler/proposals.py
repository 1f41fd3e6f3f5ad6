"""Proposals past their deadline, as cases are: every working day at `cases.chase_at` a sweep plans one chase (the
working day after the missed deadline, to the department and the liaison office) and one escalation to leaders
(`proposals.escalate_after_working_days` later) per proposal and deadline, inquiries like every kind; each is sent
once by storage.records.proposals.send_overdue. The sweep also closes the answers their authors left unevaluated
for `proposals.auto_close_days`. An invitation to co-sign not answered in three days reminds its invitee once (the
item is planned with the invitation)."""

from __future__ import annotations

from datetime import date, timedelta

from handlers.proposals import render
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import DueItem, Proposal
from storage.records import proposals, schedule
from storage.records.schedule import Planned

SWEEP, CHASE, ESCALATE = "proposals-sweep", "proposal-chase", "proposal-escalate"


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
    """Plan the chases and escalations due today, and the next working day's sweep; close unevaluated answers."""
    ctx.plan(sweep_item(ctx, ctx.calendar.next_working_day(ctx.today)))  # after today, however late this one ran
    await proposals.close_unevaluated(ctx.session, settings=ctx.settings, now=ctx.now, render=render)
    for overdue in await proposals.overdue(ctx.session, settings=ctx.settings, calendar=ctx.calendar, today=ctx.today):
        proposal = overdue.proposal
        assert proposal.due_on is not None
        kind = ESCALATE if overdue.due == "escalate" else CHASE
        ctx.plan(
            Planned(
                key=f"{kind}:{proposal.number}:{proposal.due_on.isoformat()}",
                kind=kind,
                due_at=ctx.now,
                expires_at=ctx.expires("proposals", ctx.now),
                payload={"proposal_id": proposal.id, "due_on": proposal.due_on.isoformat()},
            )
        )


async def _send(ctx: JobContext, item: DueItem, due: str) -> None:
    proposal = await ctx.session.get(Proposal, int(item.payload["proposal_id"]), with_for_update=True)
    if proposal is None:
        raise Skip("gone")
    if proposal.state != proposals.ASSIGNED:
        raise Skip("proposal_moved", number=proposal.number)
    if proposal.due_on is None or proposal.due_on.isoformat() != item.payload["due_on"]:
        raise Skip("proposal_deadline_moved", number=proposal.number)
    if (proposal.escalated_at if due == "escalate" else proposal.chased_at or proposal.escalated_at) is not None:
        raise Skip("proposal_already_sent", number=proposal.number)
    late = ctx.calendar.working_days_between(proposal.due_on, ctx.today)
    await proposals.send_overdue(
        ctx.session,
        item=proposals.Overdue(proposal, late, due),
        settings=ctx.settings,
        now=ctx.now,
        render=render,
    )


async def chase(ctx: JobContext, item: DueItem) -> None:
    await _send(ctx, item, "chase")


async def escalate(ctx: JobContext, item: DueItem) -> None:
    await _send(ctx, item, "escalate")


async def remind_invitee(ctx: JobContext, item: DueItem) -> None:
    """The invitee of a co-signing invitation still unanswered hears of it once more, with its buttons."""
    pending = await proposals.pending_invitation(
        ctx.session,
        proposal_id=int(item.payload["proposal_id"]),
        representative_id=int(item.payload["representative_id"]),
        invited_before=item.due_at - timedelta(days=proposals.INVITE_REMINDER_DAYS),
    )
    if pending is None:
        found = await ctx.session.get(Proposal, int(item.payload["proposal_id"]))
        raise Skip("invitation_answered", number=found.number if found else "")
    proposal, chats = pending
    if not chats:
        raise Skip("nobody")
    values = proposals.values(proposal, ctx.settings)
    for person in chats:
        ctx.send(person, render(ctx.language(person), "proposal.notify.invite_reminder", values))


JOBS: dict[str, Job] = {
    SWEEP: sweep,
    CHASE: chase,
    ESCALATE: escalate,
    proposals.INVITE_REMINDER: remind_invitee,
}
STARTERS: tuple[Starter, ...] = (start,)
