"""Handling the inbox: each chat's events oldest first, chats side by side, failures retried and then parked."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.workers import QueueWorker
from storage import inbox
from storage.db import Database
from storage.errors import redacted_traceback
from storage.models import InboxEvent, utcnow
from storage.settings import Settings

log = logging.getLogger(__name__)

Handle = Callable[[InboxEvent], Awaitable[None]]
Parked = Callable[[AsyncSession, InboxEvent], Awaitable[None]]


class Dispatcher(QueueWorker[InboxEvent]):
    """`handle` must be exactly-once by itself (storage.inbox.take in its transaction); the dispatcher only decides
    when to call it and what to do when it raises: retry later, and after the configured attempts park the event
    and let the channel apologise and tell the ops chat (`parked`, in the transaction that parks it)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        channel: str,
        handle: Handle,
        parked: Parked,
        clock: Callable[[], datetime] = utcnow,
        retry_seconds: float = 1.0,
    ) -> None:
        super().__init__(name=f"{channel}-inbox", concurrency=settings.delivery.handler_concurrency)
        self.db = db
        self.settings = settings
        self.channel = channel
        self.handle = handle
        self.parked = parked
        self.clock = clock
        self.retry = timedelta(seconds=retry_seconds)
        self.lease = timedelta(seconds=settings.delivery.lease_seconds)

    async def claim(self, limit: int) -> list[InboxEvent]:
        if self.db.is_sqlite:  # one worker per embedded store: its leases live in memory, and claiming is a read
            async with self.db.read() as session:
                return await inbox.due(session, channel=self.channel, now=self.clock(), limit=limit, skip=self.in_work)
        async with self.db.transaction() as session:
            return await inbox.claim(session, channel=self.channel, now=self.clock(), lease=self.lease, limit=limit)

    async def work(self, row: InboxEvent) -> None:
        assert row.id is not None
        try:
            await self.handle(row)
        except Exception as error:
            log.error(
                "%s event %s (inbox %s) failed on attempt %s\n%s",
                self.channel,
                row.event_key,
                row.id,
                row.attempts + 1,
                redacted_traceback(error),
            )
            async with self.db.transaction() as session:
                failure = await inbox.record_failure(
                    session,
                    event_id=row.id,
                    error=type(error).__name__,
                    now=self.clock(),
                    max_attempts=self.settings.delivery.inbox_attempts,
                    retry_after=self.retry,
                )
                if not failure.parked:
                    self.wake_in(self.retry.total_seconds() * 2 ** (failure.attempts - 1))
                if failure.parked:
                    log.error(
                        "%s event %s (inbox %s) parked after %s attempts",
                        self.channel,
                        row.event_key,
                        row.id,
                        failure.attempts,
                    )
                    await self.parked(session, row)
