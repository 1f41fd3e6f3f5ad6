"""A worker loop over a queue table: claim due rows, work on each in its own task, wake when told or on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from storage.errors import redacted_traceback

log = logging.getLogger(__name__)
Row = TypeVar("Row")


class QueueWorker(ABC, Generic[Row]):
    """Keeps up to `concurrency` tasks at work, each on up to `batch` rows. Rows come from `claim` (which leases
    them, one per chat at a time), so a chat's rows are worked on one after the other while different chats run
    side by side. `wake()` says new rows may be due (a commit in this process); the timer catches rows written by
    other processes.

    While tasks are at work, the worker claims again only once half of them are done: under load one claim then
    brings several rows instead of one claim per finished row, and when it is quiet a new row is claimed at once."""

    def __init__(self, *, name: str, concurrency: int, batch: int = 1, idle_seconds: float = 1.0) -> None:
        self.name = name
        self.concurrency = concurrency
        self.batch = batch
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.in_work: set[int] = set()  # ids of the rows in work: their chats wait

    @abstractmethod
    async def claim(self, limit: int) -> list[Row]:
        """Lease up to `limit` rows (possibly 0, see claim_anyway)."""

    @staticmethod
    def row_id(row: Row) -> int:
        row_id = getattr(row, "id", None)
        assert isinstance(row_id, int)
        return row_id

    def claim_anyway(self) -> bool:
        """Whether `claim` has something to do even when no slot is free (the sender records outcomes there)."""
        return False

    @abstractmethod
    async def work(self, rows: list[Row]) -> None:
        """Do up to `batch` rows; exceptions are logged and the rows' leases let them be tried again later."""

    def wake(self) -> None:
        self._wake.set()

    def wake_in(self, seconds: float) -> None:
        """Look again when a row put off until later in this process becomes due, rather than at the next tick."""
        asyncio.get_running_loop().call_later(max(seconds, 0.0), self._wake.set)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def run(self) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                free = self.concurrency - len(self._tasks)
                if self._tasks and free < max(1, self.concurrency // 2):
                    free = 0
                rows = await self._claim(free * self.batch) if free > 0 or self.claim_anyway() else []
                for start in range(0, len(rows), self.batch):
                    batch = rows[start : start + self.batch]
                    self.in_work.update(self.row_id(row) for row in batch)
                    task = asyncio.create_task(self._work(batch), name=f"{self.name}-work")
                    self._tasks.add(task)
                # Whatever could be claimed is in work: the next chance is a finished row (it wakes us), a commit
                # in this process (it wakes us) or a row from another process (the timer).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
        finally:
            await self.drain()

    async def _claim(self, limit: int) -> list[Row]:
        try:
            return await self.claim(limit)
        except Exception as error:  # the store is unreachable for a moment: try again after a pause
            log.error("%s: claiming failed\n%s", self.name, redacted_traceback(error))
            await asyncio.sleep(self.idle_seconds)
            return []

    async def _work(self, rows: list[Row]) -> None:
        try:
            await self.work(rows)
        except Exception as error:
            log.error("%s: unexpected error\n%s", self.name, redacted_traceback(error))
        finally:
            self.in_work.difference_update(self.row_id(row) for row in rows)
            current = asyncio.current_task()
            if current is not None:
                self._tasks.discard(current)
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self) -> None:
        """Let the rows in work finish (a stop is graceful; a crash is what leases are for)."""
        while self._tasks:
            if self.claim_anyway():
                await self._claim(0)  # the sender's finished rows wait for their outcome to be recorded
            await asyncio.wait(self._tasks, timeout=0.05)
