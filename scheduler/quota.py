"""The visit-quota reminders: on each month's first working day every representative's figures (and a nudge to
those behind the pace, naming focus households to visit), and before each centralized round closes a reminder to
those without a visit in it. Two recurring series, "quota-month" and "round-reminder", each occurrence fanning out
one item per representative, whose figures are read when it is sent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from handlers import reminders
from handlers.reminders import Reader
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.models import ChatIdentity, DueItem, Representative
from storage.policy import Standing
from storage.records import cases, people, schedule, visits
from storage.records.schedule import Planned

MONTH, QUOTA, NUDGE = "quota-month", "quota", "nudge"
ROUNDS, ROUND = "round-reminder", "round"
ONE_DAY = timedelta(days=1)


# --- the monthly figures --------------------------------------------------------------------------------------


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_item(ctx: JobContext, year: int, month: int) -> Planned:
    """A month's occurrence, on its first working day (in a year the calendar does not know: its first weekday)."""
    day = ctx.calendar.add_working_days(date(year, month, 1), 0).day
    due_at = ctx.at(day, ctx.settings.reminders.monthly_at)
    name = f"{year}-{month:02}"
    return Planned(
        key=f"{MONTH}:{name}",
        kind=MONTH,
        due_at=due_at,
        expires_at=ctx.expires("quota", due_at),
        payload={"month": name},
    )


async def start_months(ctx: JobContext) -> None:
    """This month's occurrence if its time has not come yet, else next month's."""
    if await schedule.exists(ctx.session, kind=MONTH):
        return
    item = month_item(ctx, ctx.today.year, ctx.today.month)
    if item.due_at < ctx.now:
        item = month_item(ctx, *_month_after(ctx.today.year, ctx.today.month))
    ctx.plan(item)


async def month(ctx: JobContext, item: DueItem) -> None:
    """Plan next month's occurrence, then one "quota" item for every representative who can be told and a "nudge"
    for each of them more than `reminders.behind_margin` households behind the pace."""
    name = str(item.payload["month"])
    year, number = (int(part) for part in name.split("-"))
    ctx.plan(month_item(ctx, *_month_after(year, number)))
    told = await visits.representatives_to_remind(ctx.session)
    counted = await visits.households_this_year(ctx.session, today=ctx.today, representative_ids=told)
    expected = visits.expected_by(ctx.today, per_year=ctx.settings.quota.households_per_year)
    margin = ctx.settings.reminders.behind_margin
    # Every figure first, then the nudges: a representative reads their figures before being told they lag.
    for kind, lateness, chosen in (
        (QUOTA, "quota", told),
        (NUDGE, "nudge", [rep for rep in told if expected - counted.get(rep, 0) > margin]),
    ):
        for representative_id in chosen:
            # Of use as long as the occurrence is, counted from when it was due, not from now.
            expires = ctx.expires(lateness, item.due_at)
            ctx.plan(person_item(kind, name, representative_id, due_at=ctx.now, expires_at=expires))


def person_item(
    kind: str,
    month: str,
    representative_id: int,
    *,
    due_at: datetime,
    expires_at: datetime | None,
    urgent: bool = False,
) -> Planned:
    """One representative's figures (QUOTA) or nudge (NUDGE) of a month (2026-12)."""
    return Planned(
        key=f"{kind}:{month}:rep-{representative_id}",
        kind=kind,
        due_at=due_at,
        expires_at=expires_at,
        urgent=urgent,
        payload={"representative_id": representative_id, "month": month},
    )


async def _recipients(ctx: JobContext, item: DueItem) -> tuple[int, list[ChatIdentity], Standing]:
    """The representative's chats, and how they stand: in office and reachable, or the item is skipped."""
    representative_id = int(item.payload["representative_id"])
    representative = await ctx.session.get(Representative, representative_id)
    if representative is None or not representative.active:
        raise Skip("out_of_office")
    chats = await cases.chats_of_representative(ctx.session, representative_id)
    if not chats:
        raise Skip("nobody")
    return representative_id, chats, await people.standing_of(ctx.session, identity=chats[0])


async def quota(ctx: JobContext, item: DueItem) -> None:
    """The figures as they are now; in January also how last year ended."""
    representative_id, chats, _ = await _recipients(ctx, item)
    progress = await visits.progress(
        ctx.session, representative_id=representative_id, today=ctx.today, settings=ctx.settings
    )
    last_year = None
    year, number = (int(part) for part in str(item.payload["month"]).split("-"))
    if number == 1:
        last_year = await visits.progress(
            ctx.session, representative_id=representative_id, today=date(year - 1, 12, 31), settings=ctx.settings
        )
    for chat in chats:
        reader = Reader(ctx.language(chat), ctx.settings)
        ctx.send(chat, reminders.monthly(reader, progress, today=ctx.today, last_year=last_year))


async def nudge(ctx: JobContext, item: DueItem) -> None:
    """How far behind, and the focus households of their areas still to visit; nothing if they caught up."""
    representative_id, chats, standing = await _recipients(ctx, item)
    progress = await visits.progress(
        ctx.session, representative_id=representative_id, today=ctx.today, settings=ctx.settings
    )
    if -progress.ahead_by <= ctx.settings.reminders.behind_margin:
        raise Skip("caught_up")
    limit = ctx.settings.reminders.nudge_households
    suggestions = []
    if limit > 0:
        suggestions = await visits.suggested_households(
            ctx.session, viewer=standing, today=ctx.today, settings=ctx.settings, limit=limit
        )
    for chat in chats:
        reader = Reader(ctx.language(chat), ctx.settings)
        ctx.send(
            chat, reminders.nudge(reader, progress, today=ctx.today, suggestions=suggestions, looked_for=limit > 0)
        )


# --- the centralized rounds -----------------------------------------------------------------------------------


def round_item(ctx: JobContext, round_code: str, per_year: int) -> Planned:
    """A round's occurrence: `reminders.round_days_before` days before its last day (not before its first)."""
    first, last = visits.round_span(round_code, per_year=per_year)
    day = max(first, last - timedelta(days=ctx.settings.reminders.round_days_before))
    due_at = ctx.at(day, ctx.settings.reminders.monthly_at)
    return Planned(
        key=f"{ROUNDS}:{round_code}",
        kind=ROUNDS,
        due_at=due_at,
        expires_at=ctx.expires("round", due_at, before=_closes(ctx, last)),
        payload={"round": round_code, "per_year": per_year},
    )


def _closes(ctx: JobContext, last: date) -> datetime:
    return ctx.at(last + ONE_DAY, time(0))


def next_round(round_code: str, *, per_year: int) -> str:
    """The round after this one, as the rounds are configured now."""
    _, last = visits.round_span(round_code, per_year=per_year)
    following = visits.round_id(last + ONE_DAY, per_year=per_year)
    assert following is not None
    return following


async def start_rounds(ctx: JobContext) -> None:
    """The current round's reminder if its time has not come yet, else the next round's; none without rounds."""
    per_year = ctx.settings.quota.centralized_rounds_per_year
    current = visits.round_id(ctx.today, per_year=per_year)
    if current is None or await schedule.exists(ctx.session, kind=ROUNDS):
        return
    item = round_item(ctx, current, per_year)
    if item.due_at < ctx.now:
        item = round_item(ctx, next_round(current, per_year=per_year), per_year)
    ctx.plan(item)


async def round_reminder(ctx: JobContext, item: DueItem) -> None:
    """Plan the next round's reminder, then one "round" item for every representative who can be told and has
    neither logged nor joined a visit of this round. Rounds switched off (0 a year) end the series."""
    per_year = ctx.settings.quota.centralized_rounds_per_year
    if per_year <= 0:
        return
    round_code = str(item.payload["round"])
    _, last = visits.round_span(round_code, per_year=int(item.payload.get("per_year", per_year)))
    ctx.plan(round_item(ctx, next_round(round_code, per_year=per_year), per_year))
    for representative_id in await visits.representatives_to_remind(ctx.session, without_round=round_code):
        ctx.plan(
            Planned(
                key=f"{ROUND}:{round_code}:rep-{representative_id}",
                kind=ROUND,
                due_at=ctx.now,
                expires_at=ctx.expires("round", item.due_at, before=_closes(ctx, last)),
                payload={"representative_id": representative_id, "round": round_code, "last_day": last.isoformat()},
            )
        )


async def round_(ctx: JobContext, item: DueItem) -> None:
    """The round, when it closes and how to log a visit of it; nothing if they took part meanwhile."""
    representative_id, chats, _ = await _recipients(ctx, item)
    round_code = str(item.payload["round"])
    if not await visits.representatives_to_remind(
        ctx.session, without_round=round_code, representative_id=representative_id
    ):
        raise Skip("round_visited")
    last = date.fromisoformat(str(item.payload["last_day"]))
    for chat in chats:
        reader = Reader(ctx.language(chat), ctx.settings)
        ctx.send(chat, reminders.round_reminder(reader, round_code=round_code, last_day=last, today=ctx.today))


JOBS: dict[str, Job] = {MONTH: month, QUOTA: quota, NUDGE: nudge, ROUNDS: round_reminder, ROUND: round_}
STARTERS: tuple[Starter, ...] = (start_months, start_rounds)
