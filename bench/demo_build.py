"""Times the demo district build into a fresh temporary SQLite file."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path

from storage.db import Database, sqlite_url
from storage.exchange.demo import build_demo
from storage.settings import load_settings


async def main() -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory() as directory:
        db = Database(sqlite_url(Path(directory) / "demo.db"))
        try:
            await db.upgrade()
            started = time.perf_counter()
            summary = await build_demo(db, settings=settings, today=date(2026, 11, 25))
            elapsed = time.perf_counter() - started
        finally:
            await db.dispose()
    print(summary)
    print(f"demo build: {summary.households} households, {summary.visits} visits in {elapsed:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
