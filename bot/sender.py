"""The sender: drains the outbox within the platform's flood limits, retries what may succeed later, records
the platform's message id, and reports what could not be sent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.workers import QueueWorker
from storage.db import Database
from storage.delivery import outbox
from storage.delivery.outbox import QueuedMessage
from storage.errors import redacted_traceback
from storage.models import utcnow
from storage.records import people
from storage.settings import Delivery

log = logging.getLogger(__name__)
WINDOW_MARGIN = 0.05  # seconds added to the overall one-second window
OVERALL_BURST = 5  # sends that may go out back to back before the overall rate spaces them
PUT_OFF_AFTER = 2.0  # seconds: a message that must wait longer for its chat goes back to the outbox meanwhile
RECORD_WITHIN = 0.02  # seconds an outcome may wait for others to be recorded with it in one transaction
PRUNE_FROM = 1024  # chats the limiter keeps before it first looks for ones it can forget


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

    async def send(self, row: QueuedMessage) -> str:
        """Send one outbox row and return the platform's message id ("" when there is none); raise Throttled,
        Unreachable, Blocked or Rejected."""
        ...

    def is_group(self, chat_key: str) -> bool: ...

    def is_limited(self, row: QueuedMessage) -> bool:
        """Whether the row counts against the flood limits (new messages do; edits and command menus do not)."""
        ...


Report = Callable[[AsyncSession, QueuedMessage, str], Awaitable[None]]  # the row and why it failed


@dataclass
class _ChatBudget:
    tokens: float
    at: float
    recent: deque[float] = field(default_factory=deque)  # groups: send times within the last minute


def overall_window(rate: float) -> tuple[float, int]:
    """The overall limit as (seconds, sends within them): Telegram's 30 a second, or a rate under one a second
    (WeChat's 20 a minute) as a sliding minute."""
    if rate >= 1.0:
        return 1.0, int(rate)
    return 60.0, max(1, round(rate * 60.0))


class RateLimiter:
    """Per chat a token bucket (rate, burst), per group also a sliding minute; overall a sliding second that never
    holds `overall_per_second` sends. Bulk messages are also paced by a token bucket (the overall rate,
    OVERALL_BURST): a broadcast runs just under the overall limit without meeting a 429, and slots keep coming free
    every 1/rate seconds, so an answer never waits behind a broadcast for a whole window. Answers are not paced:
    the people waiting for them came in bursts, and the window alone keeps Telegram's limit."""

    def __init__(self, limits: Delivery, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._chats: dict[str, _ChatBudget] = {}
        self._prune_at = PRUNE_FROM  # the size of `_chats` at which idle chats are next forgotten
        self._overall = _ChatBudget(tokens=float(OVERALL_BURST), at=clock())
        self._recent: deque[float] = deque()  # start times of the last sends, for the overall window
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """After a 429 nobody sends until it has passed: the platform counts our whole traffic."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def chat_wait(self, chat_key: str, *, group: bool) -> float:
        """Seconds until this chat may have another message (0: now)."""
        return self._chat_wait(chat_key, group=group)

    async def acquire(self, chat_key: str, *, group: bool, bulk: bool = False) -> None:
        """Take the chat's turn and an overall slot, waiting for them. One chat's rows never run at once (the
        outbox hands out one per chat), so only the overall slot needs the lock."""
        wait = self._chat_wait(chat_key, group=group)
        if wait > 0:
            await asyncio.sleep(wait)
        window, per_window = overall_window(self.limits.overall_per_second)
        async with self._lock:
            # Sends are stamped when they really start, not when they were planned: after a stall of the event
            # loop a planned schedule would bunch up and break the window, real start times cannot.
            while True:
                now = self.clock()
                rate = self.limits.overall_per_second
                tokens = min(float(OVERALL_BURST), self._overall.tokens + (now - self._overall.at) * rate)
                start = max(now, self._paused_until)
                if bulk and tokens < 1.0:
                    start = max(start, now + (1.0 - tokens) / rate)
                if len(self._recent) >= per_window:
                    # Never `per_window` sends within the window as the platform counts them (on arrival): the
                    # oldest of the last ones must be more than the window and a margin for the network's jitter ago.
                    start = max(start, self._recent[0] + window + WINDOW_MARGIN)
                if start <= now:
                    break
                await asyncio.sleep(start - now)
            self._recent.append(now)
            while len(self._recent) > per_window:
                self._recent.popleft()
            self._overall.tokens = max(0.0, tokens - 1.0)  # answers, too, use up what bulk may send at once
            self._overall.at = now
        self._spend(chat_key, group=group)

    def _budget(self, chat_key: str) -> _ChatBudget:
        budget = self._chats.get(chat_key)
        if budget is None:
            if len(self._chats) >= self._prune_at:
                self._prune()
            budget = self._chats[chat_key] = _ChatBudget(tokens=float(self.limits.private_burst), at=self.clock())
        return budget

    def _prune(self) -> None:
        """Forget the chats whose budget says nothing: the bucket refilled to the burst, no group send within the
        minute. Such a chat, met again, gets a new budget exactly like the one forgotten, so no limit is weakened;
        without this a broadcast to 30,000 residents would leave 30,000 budgets behind for good. The next pruning
        waits until the chats have doubled, so that the sweep costs O(1) per chat added."""
        now = self.clock()
        burst = float(self.limits.private_burst)
        idle = [
            key
            for key, budget in self._chats.items()
            if self._tokens(budget, now) >= burst and (not budget.recent or budget.recent[-1] <= now - 60.0)
        ]
        for key in idle:
            del self._chats[key]
        self._prune_at = max(PRUNE_FROM, 2 * len(self._chats))

    def _tokens(self, budget: _ChatBudget, now: float) -> float:
        """What a chat's bucket holds now, refilled since it was last spent from."""
        refilled = budget.tokens + (now - budget.at) * self.limits.private_per_second
        return min(float(self.limits.private_burst), refilled)

    def _chat_wait(self, chat_key: str, *, group: bool) -> float:
        budget = self._budget(chat_key)
        now = self.clock()
        tokens = self._tokens(budget, now)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.limits.private_per_second
        if group:  # about one a second as in any chat, and no more than the minute allows
            while budget.recent and budget.recent[0] <= now - 60.0:
                budget.recent.popleft()
            if len(budget.recent) >= self.limits.group_per_minute:
                wait = max(wait, budget.recent[0] + 60.0 - now)
        return wait

    def _spend(self, chat_key: str, *, group: bool) -> None:
        budget = self._budget(chat_key)
        now = self.clock()
        if group:
            budget.recent.append(now)
        budget.tokens = self._tokens(budget, now) - 1.0
        budget.at = now


class Outcome:
    """What became of one send, to be recorded with the sender's next round; `recorded` resolves once it is.
    A message sent is (its id, the platform's id), recorded with the others sent in one statement; anything else
    is a function of its own."""

    def __init__(
        self,
        record: Callable[[AsyncSession], Awaitable[None]] | None = None,
        *,
        sent: tuple[int, str] | None = None,
        retry_in: float | None = None,
    ) -> None:
        self.record = record
        self.sent = sent
        self.retry_in = retry_in  # look again after this many seconds: the row is due again then
        self.recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Sender(QueueWorker[QueuedMessage]):
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
        self._outcomes: list[Outcome] = []
        self._record_now = False  # the oldest outcome has waited long enough for others

    async def claim(self, limit: int) -> list[QueuedMessage]:
        """Record what the finished sends came to and lease new rows, in one transaction: on an embedded store
        every transaction waits its turn, so one per round instead of one per message is what lets the sender
        keep up. A send's slot stays taken until its outcome is recorded, so a crash can repeat at most as many
        messages as there are slots."""
        outcomes, self._outcomes = self._outcomes, []
        self._record_now = False
        channel = self.transport.channel
        rows: list[QueuedMessage] = []
        leasing = limit > 0 and not self.db.is_sqlite
        reading = limit > 0 and self.db.is_sqlite  # one sender per embedded store: leases in memory, claims read
        try:
            if outcomes or leasing:
                async with self.db.transaction() as session:
                    sent = [outcome.sent for outcome in outcomes if outcome.sent is not None]
                    if sent:
                        await self._record(
                            session, lambda session: outbox.mark_sent(session, sent=sent, now=self.clock())
                        )
                    for outcome in outcomes:
                        if outcome.record is not None:
                            await self._record(session, outcome.record)
                    if leasing:
                        now = self.clock()
                        rows = await outbox.claim(
                            session, channel=channel, now=now, lease=self.lease, limit=limit, skip=self.in_work
                        )
                    elif reading:  # in the transaction that is open anyway
                        now = self.clock()
                        rows = await outbox.due(session, channel=channel, now=now, limit=limit, skip=self.in_work)
                        reading = False
        except BaseException:
            self._outcomes[:0] = outcomes  # not recorded: the next round tries again
            self._record_now = True
            raise
        for outcome in outcomes:
            outcome.recorded.set_result(None)
            if outcome.retry_in is not None:
                self.wake_in(outcome.retry_in)
        if reading:
            async with self.db.read() as session:
                rows = await outbox.due(session, channel=channel, now=self.clock(), limit=limit, skip=self.in_work)
        return rows

    async def _record(self, session: AsyncSession, record: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """An outcome that cannot be recorded must not hold up the others: its row's lease runs out and it is
        sent again, which is the duplicate a crash would cause too."""
        try:
            async with session.begin_nested():
                await record(session)
        except Exception as error:
            log.error("%s: could not record an outcome\n%s", self.name, redacted_traceback(error))

    def claim_anyway(self) -> bool:
        """Record outcomes once half the slots wait for theirs, or the oldest has waited RECORD_WITHIN: one
        transaction for several sends (every claim records them too; a stop records them at once)."""
        many = len(self._outcomes) >= max(1, self.concurrency // 2)
        return bool(self._outcomes) and (many or self._record_now or self._stopping)

    def _add_outcome(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        if len(self._outcomes) == 1:
            asyncio.get_running_loop().call_later(RECORD_WITHIN, self._time_to_record)
        if self.claim_anyway():
            self.wake()

    def _time_to_record(self) -> None:
        self._record_now = True
        self.wake()

    async def work(self, rows: list[QueuedMessage]) -> None:
        [row] = rows  # one message per task (batch 1): sends to different chats go side by side
        message_id = row.id
        if self.transport.is_limited(row):
            group = self.transport.is_group(row.chat_key)
            wait = self.limiter.chat_wait(row.chat_key, group=group)
            if wait > PUT_OFF_AFTER:
                # A group's minute is used up, say: the row waits in the outbox (its chat with it), and this slot
                # and the row's lease are not held for it.
                put_off = self._retry(row, "Waiting for the chat's flood limit", wait, count_attempt=False)
                self._add_outcome(put_off)
                await put_off.recorded
                return
            await self.limiter.acquire(row.chat_key, group=group, bulk=row.priority > 0)
        if row.kind == "clear_buttons" and "outbox_id" in row.payload:
            row = await self._resolved(row)
        try:
            external_id = await self.transport.send(row)
        except Throttled as throttled:
            self.throttled += 1
            self.limiter.pause(throttled.seconds)
            log.warning("%s: outbox %s throttled for %s s", self.name, row.id, throttled.seconds)
            outcome = self._retry(row, "Throttled", throttled.seconds, count_attempt=False)
        except Unreachable as error:
            if row.attempts + 1 >= self.limits.send_attempts:
                outcome = self._fail(row, f"Unreachable: {error}")
            else:
                wait = self.limits.retry_seconds * 2**row.attempts
                log.warning("%s: outbox %s attempt %s failed (%s)", self.name, row.id, row.attempts + 1, error)
                outcome = self._retry(row, f"Unreachable: {error}", wait, count_attempt=True)
        except Blocked:

            async def blocked(session: AsyncSession) -> None:
                await outbox.mark_failed(session, message_id=message_id, error="Blocked", now=self.clock())
                await people.mark_blocked(
                    session, channel=self.transport.channel, external_id=row.chat_key, at=self.clock()
                )

            outcome = Outcome(blocked)
        except Rejected as error:
            outcome = self._fail(row, f"Rejected: {error}")
        else:
            self.sent += 1
            outcome = Outcome(sent=(message_id, external_id))
        self._add_outcome(outcome)
        await outcome.recorded

    async def _resolved(self, row: QueuedMessage) -> QueuedMessage:
        """A clear_buttons row written before the message it clears was sent names that message's outbox row; it was
        sent before this one (a chat's rows go in order), so its platform id is known now ("" if it failed)."""
        async with self.db.read() as session:
            external_id = await outbox.external_id_of(session, message_id=int(row.payload["outbox_id"]))
        return replace(row, payload={"message_id": external_id})

    def _retry(self, row: QueuedMessage, error: str, seconds: float, *, count_attempt: bool) -> Outcome:
        message_id = row.id

        async def retry(session: AsyncSession) -> None:
            await outbox.retry_later(
                session,
                message_id=message_id,
                error=error,
                at=self.clock() + timedelta(seconds=seconds),
                count_attempt=count_attempt,
            )

        return Outcome(retry, retry_in=seconds)

    def _fail(self, row: QueuedMessage, error: str) -> Outcome:
        message_id = row.id
        log.error("%s: outbox %s (%s) failed: %s", self.name, row.id, row.kind, error)

        async def fail(session: AsyncSession) -> None:
            await outbox.mark_failed(session, message_id=message_id, error=error, now=self.clock())
            await self.report(session, row, error)

        return Outcome(fail, retry_in=0.0)  # the report is a new row to send
