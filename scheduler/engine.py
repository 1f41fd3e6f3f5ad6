"""One tick's work: start the recurring series that have not started, claim what is due, run each item's job, and
write the messages it sends (and the items it plans) in the transaction that marks it done.

A job is an async function of (JobContext, DueItem). It sends by `ctx.tell` / `ctx.send`, plans further items by
`ctx.plan`, and skips by raising `Skip(code, **values)`; whatever else it raises is rolled back and tried again
later, up to storage.records.schedule.ATTEMPTS times.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.dialogs import COMMAND_BUTTON, OFFER
from handlers.events import Reply
from handlers.i18n import t
from storage.db import Database
from storage.delivery import dialog_state, outbox
from storage.delivery.dialog_state import Dialog
from storage.errors import redacted_traceback
from storage.models import ChatIdentity, DueItem
from storage.records import schedule
from storage.records.schedule import Planned
from storage.settings import Settings
from storage.workdays import WorkCalendar, calendar_of

log = logging.getLogger(__name__)


class Skip(Exception):
    """Raised by a job: this occurrence is of no use now (the reception day was cancelled, nobody to tell)."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


@dataclass
class JobContext:
    """What a job may use: the transaction, the settings, the moment, the calendar; what it sends and plans."""

    session: AsyncSession
    settings: Settings
    now: datetime
    calendar: WorkCalendar
    messages: list[outbox.NewMessage] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    offers: list[tuple[ChatIdentity, list[list[str]]]] = field(default_factory=list)

    @property
    def zone(self) -> tzinfo:
        return self.settings.zone

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def at(self, day: date, when: time) -> datetime:
        """A local day and time as the UTC moment it is."""
        return datetime.combine(day, when, tzinfo=self.zone).astimezone(UTC)

    def expires(self, lateness: str, due_at: datetime, *, before: datetime | None = None) -> datetime:
        """Until when an item due at `due_at` is still of use: its kind's maximum lateness, or `before`."""
        latest = due_at + timedelta(hours=self.settings.scheduler.lateness_hours(lateness))
        return latest if before is None else min(latest, before)

    def language(self, person: ChatIdentity) -> str:
        return person.language or self.settings.general.default_language

    def send(self, person: ChatIdentity, payload: dict[str, Any], *, kind: str = "message") -> None:
        self.messages.append(outbox.to_identity(person, payload, bulk=True, kind=kind))
        buttons = [[str(data), str(label)] for data, label in payload.get("buttons", ())]
        if kind == "message" and buttons and all(data.startswith(COMMAND_BUTTON) for data, _ in buttons):
            self.offers.append((person, buttons))

    async def leave_offers(self) -> None:
        """A message whose buttons type commands (see the figures, log a visit) leaves them as an offer, as a
        finished dialog does, so that a typed number picks one on a channel without buttons; never over a dialog
        the person is in."""
        for person, buttons in self.offers:
            chat = person.external_id  # a private chat is its user
            state = await dialog_state.load(self.session, channel=person.channel, chat_id=chat, user_id=chat)
            if state is not None and state.flow != OFFER:
                continue
            offer = Dialog(person.channel, chat, chat, flow=OFFER, step=OFFER, choices=buttons, updated_at=self.now)
            await dialog_state.save(self.session, state=offer)

    def tell(self, people: Iterable[ChatIdentity], key: str, **values: Any) -> int:
        """Send a catalog message to each person in their language; returns how many."""
        told = 0
        for person in people:
            self.send(person, Reply(t(self.language(person), key, **values)).to_payload())
            told += 1
        return told

    def plan(self, item: Planned) -> None:
        self.planned.append(item)


Job = Callable[[JobContext, DueItem], Awaitable[None]]
# Plans the first occurrence of a recurring series that has none yet; later ones are planned by the job that does
# the one before.
Starter = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class TickReport:
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def __add__(self, other: TickReport) -> TickReport:
        return TickReport(self.sent + other.sent, self.skipped + other.skipped, self.failed + other.failed)

    @property
    def anything(self) -> bool:
        return bool(self.sent or self.skipped or self.failed)


def quiet(settings: Settings, now: datetime) -> bool:
    """Whether `now` falls in the quiet hours (local time), when only urgent items go out."""
    hours = settings.scheduler.quiet()
    if hours is None:
        return False
    start, end = hours
    local = now.astimezone(settings.zone).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


class Engine:
    """The jobs by kind and the series starters; runs what is due at a moment."""

    def __init__(self, db: Database, settings: Settings, *, jobs: dict[str, Job], starters: Iterable[Starter]) -> None:
        self.db = db
        self.settings = settings
        self.jobs = jobs
        self.starters = tuple(starters)
        self.calendar = calendar_of(settings)

    def context(self, session: AsyncSession, now: datetime) -> JobContext:
        return JobContext(session, self.settings, now, self.calendar)

    async def start_series(self, now: datetime) -> None:
        async with self.db.transaction() as session:
            ctx = self.context(session, now)
            for starter in self.starters:
                await starter(ctx)
            await schedule.plan(session, items=ctx.planned, now=now)

    async def run_due(self, now: datetime) -> TickReport:
        """Everything due at `now`, in transactions of `scheduler.batch` items, until nothing is left: items a job
        planned as due now (one per person of a monthly reminder) go in the same tick."""
        await self.start_series(now)
        report = TickReport()
        urgent_only = quiet(self.settings, now)
        limit = self.settings.scheduler.batch
        while True:
            async with self.db.transaction() as session:
                items = await schedule.claim(session, now=now, limit=limit, urgent_only=urgent_only)
                done = TickReport()
                for item in items:
                    done += await self._run(session, item, now)
            report += done
            if not items:
                return report

    async def _run(self, session: AsyncSession, item: DueItem, now: datetime) -> TickReport:
        if item.expires_at is not None and now > item.expires_at:
            schedule.finish(
                session, item, now=now, state=schedule.SKIPPED, reason="too_late", expired=item.expires_at.isoformat()
            )
            return TickReport(skipped=1)
        job = self.jobs.get(item.kind)
        if job is None:
            schedule.finish(session, item, now=now, state=schedule.FAILED, reason="unknown_kind", kind=item.kind)
            return TickReport(failed=1)
        ctx = self.context(session, now)
        try:
            async with session.begin_nested():
                await job(ctx, item)
                await outbox.enqueue(session, messages=ctx.messages, now=now)
                await ctx.leave_offers()
                await schedule.plan(session, items=ctx.planned, now=now)
        except Skip as skip:
            schedule.finish(session, item, now=now, state=schedule.SKIPPED, reason=skip.code, **skip.values)
            return TickReport(skipped=1)
        except Exception as error:
            # Only the kind and the error's type: a message may quote personal data.
            log.warning("scheduler: %s failed: %s", item.kind, redacted_traceback(error))
            gave_up = schedule.failed_once(session, item, now=now, error=type(error).__name__)
            return TickReport(failed=int(gave_up))
        schedule.finish(session, item, now=now, told=len(ctx.messages))
        return TickReport(sent=1)
