"""Handling the inbox: each chat's events oldest first, several chats' events in one transaction, failures retried
and then parked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.workers import QueueWorker
from storage.db import Database
from storage.delivery import inbox, outbox
from storage.delivery.inbox import QueuedEvent
from storage.delivery.outbox import NewMessage
from storage.errors import redacted_traceback
from storage.models import utcnow
from storage.settings import Settings

log = logging.getLogger(__name__)
Prepared = TypeVar("Prepared")


class EventHandler(Protocol[Prepared]):
    """What a channel provides to the dispatcher."""

    async def prepare(self, event: QueuedEvent) -> Prepared:
        """What must happen before the transaction (reading the event, fetching a photo)."""
        ...

    async def preload(self, session: AsyncSession, events: list[tuple[QueuedEvent, Prepared]]) -> None:
        """Read ahead, in the transaction, what handling the events will ask for one by one."""
        ...

    async def apply(self, session: AsyncSession, event: QueuedEvent, prepared: Prepared) -> list[NewMessage]:
        """Handle the event inside the dispatcher's transaction, where it is already marked handled, and say what
        to send (the dispatcher writes the batch's messages to the outbox in one statement)."""
        ...

    def applied(self, events: list[tuple[QueuedEvent, Prepared]]) -> None:
        """After the commit: what is not worth a row (waking the sender, stopping a button's spinner)."""
        ...

    async def parked(self, session: AsyncSession, event: QueuedEvent) -> None:
        """The event failed every attempt: apologise and tell the ops chat, in the transaction that parks it."""
        ...


class Dispatcher(QueueWorker[QueuedEvent], Generic[Prepared]):
    """Claims the due heads of up to `delivery.handler_batch` chats and handles them in one transaction, each in a
    savepoint of its own: a commit is what an update costs most, and under load one commit carries many. The
    batch is taken (storage.delivery.inbox.take) in one statement and its replies are written in one.

    Exactly-once: an event's mark and its changes commit together or not at all. An event that raises is rolled
    back to its savepoint, given back and counted as a failed attempt in the same transaction; after
    `delivery.inbox_attempts` it is parked. Should the transaction itself fail, its events are handled again one
    by one, so that one bad event cannot hold up the others."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        channel: str,
        handler: EventHandler[Prepared],
        clock: Callable[[], datetime] = utcnow,
        retry_seconds: float = 1.0,
    ) -> None:
        # SQLite lets one writer in at a time: one transaction at work, the next batch claimed when it is done.
        concurrency = 1 if db.is_sqlite else settings.delivery.handler_concurrency
        super().__init__(name=f"{channel}-inbox", concurrency=concurrency, batch=settings.delivery.handler_batch)
        self.db = db
        self.settings = settings
        self.channel = channel
        self.handler = handler
        self.clock = clock
        self.retry = timedelta(seconds=retry_seconds)
        self.lease = timedelta(seconds=settings.delivery.lease_seconds)

    async def claim(self, limit: int) -> list[QueuedEvent]:
        now, in_work = self.clock(), self.in_work
        if self.db.is_sqlite:  # one worker per embedded store: its leases live in memory, and claiming is a read
            async with self.db.read() as session:
                return await inbox.due(session, channel=self.channel, now=now, limit=limit, skip=in_work)
        # Rows of this worker's own stay out even when a slow batch (photos to fetch) outlives their lease.
        async with self.db.transaction() as session:
            return await inbox.claim(
                session, channel=self.channel, now=now, lease=self.lease, limit=limit, skip=in_work
            )

    async def work(self, rows: list[QueuedEvent]) -> None:
        ready: list[tuple[QueuedEvent, Prepared]] = []
        for row in rows:
            try:
                ready.append((row, await self.handler.prepare(row)))
            except Exception as error:
                await self._fail_alone(row, error)
        applied: list[tuple[QueuedEvent, Prepared]] = []
        try:
            applied = await self._handle(ready)
        except Exception as error:
            if len(ready) == 1:
                await self._fail_alone(ready[0][0], error)
                return
            log.error(
                "%s: a batch of %s events failed, handling them one by one\n%s",
                self.name,
                len(ready),
                redacted_traceback(error),
            )
            for one in ready:
                try:
                    applied += await self._handle([one])
                except Exception as alone:
                    await self._fail_alone(one[0], alone)
        if applied:
            try:
                self.handler.applied(applied)
            except Exception as error:  # committed already: nothing to retry
                log.error("%s: after handling\n%s", self.name, redacted_traceback(error))

    async def _handle(self, ready: list[tuple[QueuedEvent, Prepared]]) -> list[tuple[QueuedEvent, Prepared]]:
        """Handle events in one transaction; returns those handled (the others failed, or were handled already)."""
        applied: list[tuple[QueuedEvent, Prepared]] = []
        if not ready:
            return applied
        async with self.db.transaction() as session:
            now = self.clock()
            # Taken already (by another worker, or before a crash): then nothing is changed for it.
            taken = await inbox.take(session, event_ids=[row.id for row, _ in ready], now=now)
            if len(taken) > 1:
                await self.handler.preload(session, [(row, prepared) for row, prepared in ready if row.id in taken])
            messages: list[NewMessage] = []
            failed: list[tuple[QueuedEvent, Exception]] = []
            for row, prepared in ready:
                if row.id not in taken:
                    continue
                try:
                    async with session.begin_nested():
                        messages += await self.handler.apply(session, row, prepared)
                    applied.append((row, prepared))
                except SQLAlchemyError:
                    # A database error ends the batch: after one, SQLite may have rolled the whole transaction back
                    # by itself (a full disk), and nothing more may be written in it. Its events are then handled
                    # one by one.
                    raise
                except Exception as error:
                    failed.append((row, error))
            await outbox.enqueue(session, messages=messages, now=now)
            for row, problem in failed:
                await self._failed(session, row, problem, taken=True)
        return applied

    async def _fail_alone(self, row: QueuedEvent, error: Exception) -> None:
        async with self.db.transaction() as session:
            await self._failed(session, row, error)

    async def _failed(self, session: AsyncSession, row: QueuedEvent, error: Exception, *, taken: bool = False) -> None:
        """Count the failed attempt; retry later, or park the event after the configured attempts."""
        log.error(
            "%s event %s (inbox %s) failed on attempt %s\n%s",
            self.channel,
            row.event_key,
            row.id,
            row.attempts + 1,
            redacted_traceback(error),
        )
        failure = await inbox.record_failure(
            session,
            event_id=row.id,
            error=type(error).__name__,
            now=self.clock(),
            max_attempts=self.settings.delivery.inbox_attempts,
            retry_after=self.retry,
            taken=taken,
        )
        if failure.parked:
            log.error(
                "%s event %s (inbox %s) parked after %s attempts", self.channel, row.event_key, row.id, failure.attempts
            )
            await self.handler.parked(session, row)
        else:
            self.wake_in(self.retry.total_seconds() * 2 ** (failure.attempts - 1))
