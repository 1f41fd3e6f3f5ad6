"""Times the demo district's weekly digest end to end on SQLite: the figures, the text, the chart and the spreadsheet
of the whole district for the last full week. The demo is built into a temporary file first (as bench/demo_build.py
does); a first digest (of a group) loads matplotlib, openpyxl and the Chinese font, as the running scheduler has
done before its Monday digest; the district's is then timed. The last line is `digest: district X s`."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path

from handlers import digest_files
from handlers.digest import digest_text
from storage.db import Database, sqlite_url
from storage.exchange import digest_figures, digest_scope
from storage.exchange.demo import build_demo
from storage.exchange.digest_scope import GROUP, Scope, Week
from storage.settings import Settings, load_settings
from storage.workdays import calendar_of

TODAY = date(2026, 11, 25)  # bench/demo_build.py's day: a Wednesday, so the last full week is 2026-W47


async def one_digest(db: Database, settings: Settings, scope: Scope, folder: Path) -> tuple[dict[str, float], str]:
    """The digest of `scope` in Chinese, each part timed."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with db.read() as session:
        figures = await digest_figures.figures(
            session,
            scope=scope,
            week=Week.of(TODAY).previous(),
            today=TODAY,
            settings=settings,
            calendar=calendar_of(settings),
        )
    timings["figures"] = time.perf_counter() - started
    mark = time.perf_counter()
    text = digest_text("zh-CN", figures, settings)
    timings["text"] = time.perf_counter() - mark
    mark = time.perf_counter()
    font = digest_files.cjk_font(settings.card.font)
    chart = folder / f"{digest_files.scope_slug(figures)}.png"
    digest_files.write_chart(chart, figures, "zh-CN", font=font)
    timings["chart"] = time.perf_counter() - mark
    mark = time.perf_counter()
    digest_files.write_sheet(chart.with_suffix(".xlsx"), figures, "zh-CN")
    timings["spreadsheet"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return timings, text


def shown(timings: dict[str, float]) -> str:
    return ", ".join(f"{part} {seconds:.3f} s" for part, seconds in timings.items())


async def main() -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        db = Database(sqlite_url(folder / "demo.db"))
        try:
            await db.upgrade()
            summary = await build_demo(db, settings=settings, today=TODAY)
            print(f"demo: {summary.representatives} representatives, {summary.households} households, ", end="")
            print(f"{summary.visits} visits, {summary.cases} cases")
            async with db.read() as session:
                [first, *_] = (await digest_scope.members(session, scope=Scope("district"))).groups.values()
            warm_up, _ = await one_digest(db, settings, Scope(GROUP, first), folder)
            print(f"first digest ({first}; loads matplotlib, openpyxl, the font): {shown(warm_up)}")
            timings, text = await one_digest(db, settings, Scope("district"), folder)
        finally:
            await db.dispose()
    print(text)
    print(f"district: {shown(timings)}")
    print(f"digest: district {timings['total']:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
