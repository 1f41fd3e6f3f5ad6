"""Every kind of due item and the job that does it; every recurring series and how it starts."""

from __future__ import annotations

from scheduler import briefings, cases, digest, events, notices, proposals, quota, reception
from scheduler.engine import Job, Starter

MODULES = (quota, reception, cases, digest, notices, events, briefings, proposals)
JOBS: dict[str, Job] = {kind: job for module in MODULES for kind, job in module.JOBS.items()}
STARTERS: tuple[Starter, ...] = tuple(starter for module in MODULES for starter in module.STARTERS)
