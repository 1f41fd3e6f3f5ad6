"""Briefings and opinion requests in time: the sender's look at who has not read a briefing (`briefings.not_read_days`
after it went out, with the button that reminds them), the reminder to those who have not answered an opinion request
(`briefings.opinion_remind_days_before` days before its deadline) and its summary to the sender at the deadline.
Each item is planned by storage.records.briefings or opinions when the record is sent; the job reads it as it is
when it runs, so a briefing everyone has read meanwhile is skipped, and a summary is sent once."""

from __future__ import annotations

from handlers.briefings import names_line, notice, pieces, summary_text
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import Briefing, DueItem, OpinionRequest
from storage.records import briefings, opinions
from storage.records.briefings import UNREAD
from storage.records.opinions import REMIND, SUMMARY


async def not_read(ctx: JobContext, item: DueItem) -> None:
    """Who has not confirmed reading the briefing, to its sender, with the button that reminds them."""
    briefing = await ctx.session.get(Briefing, int(item.payload["briefing_id"]))
    if briefing is None or briefing.id is None:
        raise Skip("gone")
    unread = await briefings.not_read(ctx.session, briefing_id=briefing.id)
    if not unread:
        raise Skip("everyone_read")
    senders = await briefings.chats_of_sender(ctx.session, briefing.sender_id)
    if not senders:
        raise Skip("nobody")
    _, total = await briefings.share(ctx.session, briefing_id=briefing.id)
    people = [(rep.name, rep.code) for rep in unread]
    for sender in senders:
        language = ctx.language(sender)
        values = {
            "id": briefing.id,
            "title": briefing.title,
            "days": ctx.settings.briefings.not_read_days,
            "count": len(unread),
            "total": total,
            "names": names_line(language, people),
        }
        ctx.send(sender, notice(language, "briefing.notify.unread", values))


async def _request(ctx: JobContext, item: DueItem) -> OpinionRequest:
    request = await ctx.session.get(OpinionRequest, int(item.payload["request_id"]))
    if request is None or request.id is None:
        raise Skip("gone")
    return request


async def remind(ctx: JobContext, item: DueItem) -> None:
    """The reminder to those who have not answered, before the deadline."""
    request = await _request(ctx, item)
    people = await opinions.remind_unanswered(ctx.session, request=request, now=ctx.now)
    if not people:
        raise Skip("everyone_answered")
    values = opinions.reminder_values(request, ctx.settings)
    for person in people:
        ctx.send(person, notice(ctx.language(person), "opinion.notify.reminder", values))


async def summary(ctx: JobContext, item: DueItem) -> None:
    """The summary to the sender at the deadline, once."""
    request = await _request(ctx, item)
    if request.summary_sent_at is not None:
        raise Skip("summary_sent")
    senders = await briefings.chats_of_sender(ctx.session, request.sender_id)
    if not senders:
        raise Skip("nobody")
    found = await opinions.summary(ctx.session, request=request)
    for sender in senders:
        text = summary_text(ctx.language(sender), ctx.settings, found, final=True)
        for piece in pieces(text):  # a summary of 300 answers is long: notices are not cut by the channel
            ctx.send(sender, {"text": piece})
    request.summary_sent_at = ctx.now
    ctx.session.add(request)


JOBS: dict[str, Job] = {UNREAD: not_read, REMIND: remind, SUMMARY: summary}
STARTERS: tuple[Starter, ...] = ()
