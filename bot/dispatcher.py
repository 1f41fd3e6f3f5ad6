"""Handling the inbox: each chat's events oldest first, several chats' events in one transaction, failures retried
and then parked."""

from __future__ import annotations

import asyncio
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

    def fetches(self, event: QueuedEvent) -> bool:
        """Whether preparing the event may fetch something over the network (a photo): then it is prepared apart,
        so that a slow download holds up no other chat's events."""
        ...

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
    by one, so that one bad event cannot hold up the others.

    An event whose preparation fetches something (a photo: seconds, sometimes many) is prepared in a task of its
    own, outside any batch and outside the store's writer slot, and handled in a later batch once it is ready.
    Meanwhile it stays out of the claims, and so do its chat's later events: a claim returns only each chat's
    oldest pending event. On PostgreSQL a fetch that outlasts the lease may let another worker take the event
    too; `inbox.take` lets only one of them handle it."""

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
        self._fetching: dict[int, asyncio.Task[None]] = {}  # events being prepared apart
        self._fetched: dict[int, tuple[QueuedEvent, Prepared]] = {}  # prepared apart, waiting for a batch

    async def claim(self, limit: int) -> list[QueuedEvent]:
        # Events fetched apart come first (their chats have waited longest), unless a batch has them already.
        fetched = [row for row, _ in self._fetched.values() if row.id not in self.in_work][:limit]
        limit -= len(fetched)
        if limit <= 0:
            return fetched
        now = self.clock()
        # This worker's own rows stay out, and with them their chats' later rows: those in work, being fetched or
        # fetched, even once their lease has run out.
        skip = self.in_work.union(self._fetching, self._fetched)
        if self.db.is_sqlite:  # one worker per embedded store: its leases live in memory, and claiming is a read
            async with self.db.read() as session:
                return fetched + await inbox.due(session, channel=self.channel, now=now, limit=limit, skip=skip)
        async with self.db.transaction() as session:
            claimed = await inbox.claim(
                session, channel=self.channel, now=now, lease=self.lease, limit=limit, skip=skip
            )
        return fetched + claimed

    async def work(self, rows: list[QueuedEvent]) -> None:
        ready: list[tuple[QueuedEvent, Prepared]] = []
        for row in rows:
            if row.id in self._fetched:
                ready.append(self._fetched.pop(row.id))
            elif self.handler.fetches(row):
                self._fetching[row.id] = asyncio.create_task(self._fetch(row), name=f"{self.name}-fetch")
            else:
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

    async def _fetch(self, row: QueuedEvent) -> None:
        """Prepare an event apart; once it is ready (or its failure recorded), wake the worker to hand it on."""
        try:
            prepared = await self.handler.prepare(row)
        except Exception as error:
            try:
                await self._fail_alone(row, error)
            except Exception as unrecorded:  # the store is away: the event stays pending, to be tried again
                log.error("%s: recording a failure\n%s", self.name, redacted_traceback(unrecorded))
        else:
            self._fetched[row.id] = (row, prepared)
        finally:
            self._fetching.pop(row.id, None)
            self.wake()

    async def drain(self) -> None:
        """A stop is graceful for fetches too: those under way finish (their requests have time-outs) and what they
        fetched is handled, as the batches in work are; a crash is what leases are for."""
        await super().drain()  # first the batches in work, which may start fetches
        await asyncio.gather(*self._fetching.values())
        if self._fetched:
            await self.work([row for row, _ in self._fetched.values()])

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
