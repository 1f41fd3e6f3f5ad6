"""The command line's scheduler commands: `lianxin schedule` (what is due next, what was skipped and why) and
`lianxin scheduler` (the scheduler alone, for deployments that run it apart from the bot)."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from typing import Annotated, Any

import typer

from bot import logs
from bot.cli_common import ConfigOption, DbOption, Setup
from handlers.i18n import both, t
from storage.models import DueItem
from storage.records import schedule


def register(app: typer.Typer) -> None:
    """Add this module's commands to the command line."""
    app.command("schedule", help=both("cli.schedule.help"))(schedule_command)
    app.command("scheduler", help=both("cli.scheduler.help"))(scheduler_command)


def schedule_command(
    db: DbOption = None,
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", help=both("cli.option.limit"))] = 20,
) -> None:
    setup = Setup(db, config).existing()

    async def work() -> schedule.Overview:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            return await schedule.overview(session, limit=limit)

    overview = setup.run(work)
    counts = overview.counts
    setup.say(
        "cli.schedule.counts",
        pending=counts["pending"],
        sent=counts["sent"],
        skipped=counts["skipped"],
        failed=counts["failed"],
    )
    if overview.upcoming:
        setup.say("cli.schedule.upcoming", count=len(overview.upcoming))
        for item in overview.upcoming:
            urgent = t(setup.language, "cli.schedule.urgent") if item.urgent else ""
            setup.say("cli.schedule.line", due=_local(setup, item.due_at), kind=item.kind, key=item.key, urgent=urgent)
    else:
        setup.say("cli.schedule.nothing_due")
    if overview.skipped:
        setup.say("cli.schedule.skipped", count=len(overview.skipped))
        for item in overview.skipped:
            setup.say(
                "cli.schedule.skipped_line",
                done=_local(setup, item.done_at or item.due_at),
                key=item.key,
                state=t(setup.language, f"cli.schedule.state.{item.state}"),
                reason=reason_text(setup, item),
            )


def reason_text(setup: Setup, item: DueItem) -> str:
    """Why an item was skipped or failed, in words: the reason's code and the values it was recorded with (a moment
    in local time, as the rest of the listing)."""
    values: dict[str, Any] = dict(item.payload.get("reason_values", {}))
    if "expired" in values:
        values["expired"] = _local(setup, datetime.fromisoformat(values["expired"]))
    return t(setup.language, f"schedule.reason.{item.reason or 'none'}", **values)


def _local(setup: Setup, moment: datetime) -> str:
    return moment.astimezone(setup.settings.zone).strftime("%Y-%m-%d %H:%M")


def scheduler_command(db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)
    logs.configure()
    from scheduler.tick import Scheduler  # APScheduler is loaded by the commands that tick

    async def work() -> None:
        await setup.database.upgrade()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        ticking = Scheduler(setup.database, setup.settings)
        setup.say("cli.scheduler.started", seconds=setup.settings.scheduler.tick_seconds)
        await ticking.run_until_stopped(stop)
        setup.say("cli.scheduler.stopped")

    setup.run(work)
