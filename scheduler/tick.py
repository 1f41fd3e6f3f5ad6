"""The scheduler as it runs: APScheduler's AsyncIOScheduler ticks every `scheduler.tick_seconds`; at each tick the
leader runs what is due. APScheduler keeps no job of ours: its one interval job only ticks, with no misfire limit
(a tick delayed by a stalled loop still runs), coalesced and never two at once. What is due lives in the database
(storage.records.schedule), so a tick missed, a restart or a crash delays an item and loses none."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler import jobs
from scheduler.engine import Engine, TickReport
from scheduler.leader import Leadership
from storage.db import Database
from storage.errors import redacted_traceback
from storage.models import utcnow
from storage.settings import Settings

log = logging.getLogger(__name__)
TICK_JOB = "lianxin-tick"


class Scheduler:
    """Ticks, leads (or waits to), and tells the sender when it queued messages."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.queued = queued
        self.engine = Engine(db, settings, jobs=jobs.JOBS, starters=jobs.STARTERS)
        self.leadership = Leadership(db)
        self._ticker: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()

    async def tick(self) -> TickReport | None:
        """One look at what is due; None when another instance leads (or the database cannot be reached now)."""
        async with self._lock:
            try:
                if not await self.leadership.hold():
                    return None
                report = await self.engine.run_due(self.clock())
            except Exception as error:  # the next tick tries again; nothing half-done was committed
                log.warning("scheduler: tick failed: %s", redacted_traceback(error))
                return None
        if report.anything:
            log.info("scheduler: %s sent, %s skipped, %s failed", report.sent, report.skipped, report.failed)
            self.queued()
        return report

    def start(self) -> None:
        """Start ticking on the running event loop; the first tick comes at once."""
        self._ticker = AsyncIOScheduler(timezone=UTC)
        self._ticker.add_job(
            self.tick,
            "interval",
            seconds=self.settings.scheduler.tick_seconds,
            id=TICK_JOB,
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )
        self._ticker.start()

    async def stop(self) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.shutdown(wait=False)
        self._ticker = None
        async with self._lock:  # a tick under way finishes first
            await self.leadership.release()

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        """`lianxin scheduler`: the scheduler alone, until SIGINT or SIGTERM."""
        self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
