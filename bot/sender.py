"""The sender: drains the outbox within the platform's flood limits, retries what may succeed later, records
the platform's message id, and reports what could not be sent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.workers import QueueWorker
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from storage.settings import Delivery

log = logging.getLogger(__name__)


class Throttled(Exception):
    """The platform asked us to wait (Telegram: 429 with retry_after)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(Exception):
    """A server error, a network error or a time-out: the same message may succeed later."""


class Blocked(Exception):
    """The person blocked the bot (Telegram: 403): trying again cannot help."""


class Rejected(Exception):
    """The platform refused the message itself (Telegram: 400): trying again cannot help."""


class Transport(Protocol):
    """What a channel provides to the sender."""

    channel: str

    async def send(self, row: OutboxMessage) -> str:
        """Send one outbox row and return the platform's message id ("" when there is none); raise Throttled,
        Unreachable, Blocked or Rejected."""
        ...

    def is_group(self, chat_key: str) -> bool: ...

    def is_limited(self, row: OutboxMessage) -> bool:
        """Whether the row counts against the flood limits (new messages do; edits, answers to button presses and
        command menus do not)."""
        ...


Report = Callable[[AsyncSession, OutboxMessage, str], Awaitable[None]]  # the row and why it failed


@dataclass
class _ChatBudget:
    tokens: float
    at: float
    recent: deque[float] = field(default_factory=deque)  # groups: send times within the last minute


class RateLimiter:
    """Per private chat a token bucket (rate, burst), per group a sliding minute, overall an even spacing. Sends
    are spaced out rather than refused, so a broadcast runs at the overall rate without ever meeting a 429."""

    def __init__(self, limits: Delivery, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._chats: dict[str, _ChatBudget] = {}
        self._next_overall = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """After a 429 nobody sends until it has passed: the platform counts our whole traffic."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def acquire(self, chat_key: str, *, group: bool) -> None:
        # One chat's rows never run at once (the outbox hands out one per chat), so only the overall slot needs
        # a lock; the chat's own wait happens before it, outside the lock.
        await asyncio.sleep(self._chat_wait(chat_key, group=group))
        async with self._lock:
            now = self.clock()
            start = max(now, self._next_overall, self._paused_until)
            self._next_overall = start + 1.0 / self.limits.overall_per_second
        await asyncio.sleep(start - now)
        self._spend(chat_key, group=group)

    def _budget(self, chat_key: str) -> _ChatBudget:
        budget = self._chats.get(chat_key)
        if budget is None:
            budget = self._chats[chat_key] = _ChatBudget(tokens=float(self.limits.private_burst), at=self.clock())
        return budget

    def _chat_wait(self, chat_key: str, *, group: bool) -> float:
        budget = self._budget(chat_key)
        now = self.clock()
        if group:
            while budget.recent and budget.recent[0] <= now - 60.0:
                budget.recent.popleft()
            if len(budget.recent) < self.limits.group_per_minute:
                return 0.0
            return budget.recent[0] + 60.0 - now
        rate = self.limits.private_per_second
        tokens = min(float(self.limits.private_burst), budget.tokens + (now - budget.at) * rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    def _spend(self, chat_key: str, *, group: bool) -> None:
        budget = self._budget(chat_key)
        now = self.clock()
        if group:
            budget.recent.append(now)
            return
        rate = self.limits.private_per_second
        budget.tokens = min(float(self.limits.private_burst), budget.tokens + (now - budget.at) * rate) - 1.0
        budget.at = now


class Sender(QueueWorker[OutboxMessage]):
    def __init__(
        self,
        db: Database,
        limits: Delivery,
        transport: Transport,
        *,
        report: Report,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=f"{transport.channel}-sender", concurrency=limits.sender_concurrency)
        self.db = db
        self.limits = limits
        self.transport = transport
        self.report = report
        self.clock = clock
        self.limiter = RateLimiter(limits, monotonic)
        self.lease = timedelta(seconds=limits.lease_seconds)
        self.sent = 0
        self.throttled = 0

    async def claim(self, limit: int) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return await outbox.claim(
                session, channel=self.transport.channel, now=self.clock(), lease=self.lease, limit=limit
            )

    async def release_own_claims(self) -> None:
        if self.db.is_sqlite:
            async with self.db.transaction() as session:
                await outbox.release_claims(session, channel=self.transport.channel)

    async def work(self, row: OutboxMessage) -> None:
        assert row.id is not None
        if self.transport.is_limited(row):
            await self.limiter.acquire(row.chat_key, group=self.transport.is_group(row.chat_key))
        try:
            external_id = await self.transport.send(row)
        except Throttled as throttled:
            self.throttled += 1
            self.limiter.pause(throttled.seconds)
            log.warning("%s: outbox %s throttled for %s s", self.name, row.id, throttled.seconds)
            await self._retry(row, "Throttled", timedelta(seconds=throttled.seconds), count_attempt=False)
        except Unreachable as error:
            if row.attempts + 1 >= self.limits.send_attempts:
                await self._fail(row, f"Unreachable: {error}", report=True)
            else:
                wait = timedelta(seconds=self.limits.retry_seconds * 2**row.attempts)
                log.warning("%s: outbox %s attempt %s failed (%s)", self.name, row.id, row.attempts + 1, error)
                await self._retry(row, f"Unreachable: {error}", wait, count_attempt=True)
        except Blocked:
            async with self.db.transaction() as session:
                await outbox.mark_failed(session, message_id=row.id, error="Blocked", now=self.clock())
                await outbox.flag_blocked(
                    session, channel=self.transport.channel, chat_key=row.chat_key, now=self.clock()
                )
        except Rejected as error:
            await self._fail(row, f"Rejected: {error}", report=True)
        else:
            self.sent += 1
            async with self.db.transaction() as session:
                await outbox.mark_sent(session, message_id=row.id, external_id=external_id, now=self.clock())

    async def _retry(self, row: OutboxMessage, error: str, wait: timedelta, *, count_attempt: bool) -> None:
        assert row.id is not None
        async with self.db.transaction() as session:
            await outbox.retry_later(
                session, message_id=row.id, error=error, at=self.clock() + wait, count_attempt=count_attempt
            )
        self.wake_in(wait.total_seconds())

    async def _fail(self, row: OutboxMessage, error: str, *, report: bool) -> None:
        assert row.id is not None
        log.error("%s: outbox %s (%s) failed: %s", self.name, row.id, row.kind, error)
        async with self.db.transaction() as session:
            await outbox.mark_failed(session, message_id=row.id, error=error, now=self.clock())
            if report:
                await self.report(session, row, error)
        self.wake()
