"""(being built) The scheduler's quota jobs."""

from __future__ import annotations

from scheduler.engine import Job, Starter

JOBS: dict[str, Job] = {}
STARTERS: tuple[Starter, ...] = ()
