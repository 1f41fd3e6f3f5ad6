"""The command line's digest: `lianxin digest [--week 2026-W47] [--scope district|township:NAME|group:NAME]
[--format text|json] [--out DIR] [--send]` renders any week's digest of a scope, writes its chart and spreadsheet,
or queues it now for the scope's readers through the scheduler's own job (so the words are the same)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import ConfigOption, DbOption, Setup, local_today
from handlers.digest import digest_text
from handlers.i18n import both, t
from storage.delivery import outbox
from storage.errors import InvalidInput
from storage.exchange import digest_figures, digest_scope
from storage.exchange.digest_figures import DigestFigures
from storage.exchange.digest_scope import Scope, Week
from storage.models import utcnow
from storage.workdays import calendar_of

FORMATS = ("text", "json")

WeekOption = Annotated[str | None, typer.Option("--week", help=both("cli.digest.option_week"))]
ScopeOption = Annotated[str, typer.Option("--scope", help=both("cli.digest.option_scope"))]
FormatOption = Annotated[str, typer.Option("--format", help=both("cli.digest.option_format"))]
OutOption = Annotated[Path | None, typer.Option("--out", help=both("cli.digest.option_out"), file_okay=False)]
SendOption = Annotated[bool, typer.Option("--send", help=both("cli.digest.option_send"))]


@dataclass(frozen=True)
class Sent:
    readers: int
    chats: int
    messages: int


def register(app: typer.Typer) -> None:
    """Add this module's commands to the command line."""
    app.command("digest", help=both("cli.digest.help"))(digest_command)


def digest_command(
    db: DbOption = None,
    config: ConfigOption = None,
    week: WeekOption = None,
    scope: ScopeOption = "district",
    form: FormatOption = "text",
    out: OutOption = None,
    send: SendOption = False,
) -> None:
    setup = Setup(db, config).existing()
    if form not in FORMATS:
        raise setup.fail("cli.digest.bad_format", 2, format=form)
    today = local_today(setup)
    try:
        chosen = Scope.parse(scope)
        picked = Week.parse(week) if week else Week.of(today).previous()  # by default the last full week
    except InvalidInput as problem:
        raise setup.fail(problem.key, 2, **problem.params) from None
    if picked.monday > today:
        raise setup.fail("digest.error.future_week", 2, week=picked.key)

    async def work() -> tuple[DigestFigures, list[Path], Sent | None]:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            figures = await digest_figures.figures(
                session,
                scope=chosen,
                week=picked,
                today=today,
                settings=setup.settings,
                calendar=calendar_of(setup.settings),
            )
        written: list[Path] = []
        if out is not None:
            from handlers import digest_files  # matplotlib and openpyxl: only for the files

            font = await asyncio.to_thread(digest_files.cjk_font, setup.settings.card.font)
            files = await asyncio.to_thread(
                digest_files.make_files, out, figures, setup.language, font=font, reuse=False
            )
            written = [files.chart, files.sheet]
        return figures, written, (await queue(setup, chosen, picked) if send else None)

    figures, written, sent = setup.run(work)
    if form == "json":
        typer.echo(json.dumps(figures.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(digest_text(setup.language, figures, setup.settings))
    # After JSON, what was done goes to standard error, so that the output stays one JSON document.
    for path in written:
        typer.echo(t(setup.language, "cli.digest.written", path=str(path)), err=form == "json")
    if sent is not None:
        if sent.readers:
            told = t(setup.language, "cli.digest.sent", week=picked.key, **sent.__dict__)
        else:
            told = t(setup.language, "cli.digest.nobody", scope=chosen.key)
        typer.echo(told, err=form == "json")


async def queue(setup: Setup, scope: Scope, week: Week) -> Sent:
    """The week's digest for each reader of the scope, queued in one transaction as the scheduler queues it."""
    from handlers.digest_files import DigestFiles
    from scheduler import digest as digest_jobs  # the scheduler's job, and the drawing libraries behind it
    from scheduler.engine import JobContext, Skip

    now = utcnow()
    async with setup.database.transaction() as session:
        ctx = JobContext(session, setup.settings, now, calendar_of(setup.settings))
        readers = chats = 0
        made: dict[tuple[str, str], DigestFiles] = {}
        for reader in await digest_scope.readers(session, scope=scope):
            try:
                chats += await digest_jobs.send_to(ctx, reader, week, made=made)
            except Skip:
                continue  # every chat of theirs has blocked the bot
            readers += 1
        await outbox.enqueue(session, messages=ctx.messages, now=now)
    return Sent(readers, chats, len(ctx.messages))
