"""The command line (Typer) and the composition root: settings, database, router and channels are built here."""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import cli_digest, cli_reception, cli_schedule, cli_wechat, logs
from bot.cli_common import (
    AsOption,
    ConfigOption,
    DbOption,
    ExistingFile,
    FromOption,
    LangOption,
    OutputFile,
    Setup,
    ToOption,
    check_suffix,
    local_today,
    period,
)
from bot.console import CHANNEL, ConsoleChannel
from bot.instance_lock import AlreadyRunning
from handlers import notices
from handlers.i18n import both, t
from handlers.router import Router
from storage.db import Database
from storage.delivery import inbox, outbox
from storage.exchange import case_export, case_figures, demo, exports, proposal_export, roster
from storage.models import Case, InboxEvent, OutboxMessage, Representative, utcnow
from storage.records import cases, people, schedule
from storage.settings import LANGUAGES
from storage.workdays import calendar_of

DEMO_DB = "lianxin-demo.db"

app = typer.Typer(help=both("cli.group.app"), no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help=both("cli.group.db"), no_args_is_help=True)
roster_app = typer.Typer(help=both("cli.group.roster"), no_args_is_help=True)
export_app = typer.Typer(help=both("cli.group.export"), no_args_is_help=True)
report_app = typer.Typer(help=both("cli.group.report"), no_args_is_help=True)
cases_app = typer.Typer(help=both("cli.group.cases"), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
app.add_typer(export_app, name="export")
app.add_typer(report_app, name="report")
app.add_typer(cases_app, name="cases")
# Each area's commands live beside the code they drive, and add themselves here.
cli_schedule.register(app)
cli_reception.register(app)
cli_digest.register(app)
cli_wechat.register(app)


def parse_identity(spec: str) -> tuple[str, str]:
    """`rep:D001`, `resident:anyone`, `leader:L01`, `liaison:O01`, `department:B01`."""
    role, _, code = spec.partition(":")
    role = {"rep": "representative"}.get(role.strip().lower(), role.strip().lower())
    if role not in people.ROLES or (role != "resident" and not code.strip()):
        raise typer.BadParameter(both("cli.bad_identity", spec=spec), param_hint="--as")
    return role, code.strip() or "guest"


async def open_console(setup: Setup, spec: str, language: str | None) -> ConsoleChannel:
    role, code = parse_identity(spec)
    user = f"{role}:{code}"
    async with setup.database.transaction() as session:
        identity = await people.identity_for(session, channel=CHANNEL, external_id=user)
        await people.assume_role(session, identity=identity, role=role, code=code, actor="console")
        if language:
            await people.set_language(session, identity=identity, language=language)
        chosen = identity.language or setup.language
    return ConsoleChannel(Router(setup.database, setup.settings), user=user, language=chosen)


async def converse(channel: ConsoleChannel) -> None:
    if sys.stdin.isatty():
        await channel.run_interactive()
    else:
        await channel.run_script(sys.stdin)


def check_language(language: str | None) -> str | None:
    if language is not None and language not in LANGUAGES:
        raise typer.BadParameter(both("cli.bad_language", language=language), param_hint="--lang")
    return language


@app.command("demo", help=both("cli.demo.help"))
def demo_command(
    db: DbOption = None,
    config: ConfigOption = None,
    seed: Annotated[int, typer.Option(help=both("cli.option.seed"))] = 2026,
    as_: AsOption = "rep:D001",
    lang: LangOption = None,
) -> None:
    check_language(lang)
    setup = Setup(db or DEMO_DB, config)
    parse_identity(as_)

    async def work() -> None:
        await setup.database.upgrade()
        today = local_today(setup)
        if not await _has_demo(setup.database):
            setup.say("cli.demo.building")
        summary = await demo.build_demo(setup.database, settings=setup.settings, seed=seed, today=today)
        setup.say(
            "cli.demo.ready" if summary.created else "cli.demo.reused",
            representatives=summary.representatives,
            households=summary.households,
            visits=summary.visits,
            groups=summary.groups,
            stations=summary.stations,
            areas=summary.areas,
        )
        db_hint = db or DEMO_DB
        if summary.cases:
            setup.say("cli.demo.cases", cases=summary.cases, db=db_hint)
        setup.say(
            "cli.demo.switch",
            db=db_hint,
            rep=summary.demo_representative,
            group_leader=summary.group_leader,
            left_office=summary.left_office,
            leader=summary.leader,
            liaison=summary.liaison,
            department=summary.department,
        )
        console = await open_console(setup, as_, lang)
        if summary.created:
            await _first_reminders(setup, summary.demo_representative)
        await converse(console)

    setup.run(work)


async def _first_reminders(setup: Setup, code: str) -> None:
    """A new demo starts the scheduler's series (`lianxin schedule` lists them) and leaves the demo representative
    this month's figures and nudge, as the first working day brings them, waiting in the console."""
    from scheduler import jobs, quota  # the scheduler's jobs are loaded by the commands that run them
    from scheduler.engine import Engine

    now = utcnow()
    month = now.astimezone(setup.settings.zone).strftime("%Y-%m")
    async with setup.database.transaction() as session:
        representative = await people.representative_by_code(session, code=code)
        assert representative.id is not None
        # Urgent: shown now, even to a newcomer trying the demo late in the evening.
        items = [
            quota.person_item(kind, month, representative.id, due_at=now, expires_at=None, urgent=True)
            for kind in (quota.QUOTA, quota.NUDGE)
        ]
        await schedule.plan(session, items=items, now=now)
    await Engine(setup.database, setup.settings, jobs=jobs.JOBS, starters=jobs.STARTERS).run_due(now)


async def _has_demo(database: Database) -> bool:
    async with database.transaction() as session:
        return await demo.has_demo(session)


@app.command(help=both("cli.chat.help"))
def chat(as_: AsOption, db: DbOption = None, config: ConfigOption = None, lang: LangOption = None) -> None:
    check_language(lang)
    setup = Setup(db, config)
    parse_identity(as_)

    async def work() -> None:
        await setup.database.upgrade()
        await converse(await open_console(setup, as_, lang))

    setup.run(work)


@app.command(help=both("cli.run.help"))
def run(
    db: DbOption = None,
    config: ConfigOption = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help=both("cli.option.webhook"))] = None,
    listen: Annotated[str | None, typer.Option("--listen", help=both("cli.option.listen"))] = None,
    port: Annotated[int | None, typer.Option("--port", help=both("cli.option.port"))] = None,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help=both("cli.run.option_no_scheduler"))] = False,
) -> None:
    """Telegram when its token is set, WeChat when its endpoint is configured: either, or both in one process (one
    scheduler, one purge, one lock on the SQLite file)."""
    setup = Setup(db, config)
    settings = setup.settings
    token = settings.telegram_token
    wechat = settings.wechat.enabled
    if not token and not wechat:
        raise setup.fail("cli.run.no_token", 2)
    if wechat and not settings.wechat_token:
        raise setup.fail("cli.run.no_wechat_token", 2)
    if webhook is not None and not webhook.startswith("https://"):  # Telegram calls nothing else
        raise setup.fail("cli.run.bad_webhook", 2, url=webhook)
    logs.configure(secrets=[token or "", settings.telegram_webhook_secret or "", settings.wechat_token or ""])
    # The channels' stacks are loaded by the one command that runs them: every other command starts a second sooner.
    from telegram.error import InvalidToken

    from bot.runtime import TelegramBot
    from bot.wechat_runtime import WeChatBot

    async def work() -> None:
        # Built in the loop that runs them: grpclib's channel belongs to the loop it was made in.
        telegram_bot = TelegramBot(settings, setup.database, token, scheduler=not no_scheduler) if token else None
        wechat_bot = (
            WeChatBot(
                settings,
                setup.database,
                settings.wechat_token or "",
                scheduler=not no_scheduler and telegram_bot is None,
                alone=telegram_bot is None,
            )
            if wechat
            else None
        )
        if telegram_bot is not None and wechat_bot is not None and telegram_bot.scheduler is not None:
            senders = (telegram_bot.sender, wechat_bot.sender)

            def wake_senders() -> None:  # the scheduler's messages may be for either channel
                for sender in senders:
                    sender.wake()

            telegram_bot.scheduler.queued = wake_senders
        modes = [webhook or "polling"] if telegram_bot is not None else []
        modes += ["wechat"] if wechat_bot is not None else []
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        runs: list[asyncio.Task[None]] = []
        try:
            if telegram_bot is not None:
                telegram_started = asyncio.Event()
                runs.append(
                    asyncio.create_task(
                        telegram_bot.run_until_stopped(
                            stop, started=telegram_started.set, webhook_url=webhook, listen=listen, port=port
                        )
                    )
                )
                # WeChat starts once Telegram has (the lock taken, the database upgraded), or not at all.
                started = asyncio.create_task(telegram_started.wait())
                await asyncio.wait([runs[0], started], return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                if runs[0].done():
                    runs[0].result()
            if wechat_bot is not None:
                runs.append(asyncio.create_task(wechat_bot.run_until_stopped(stop)))
            setup.say("cli.run.started", mode=" + ".join(modes))
            await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()  # one channel failed (a revoked token): the other stops too
            results = await asyncio.gather(*runs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        setup.say("cli.run.stopped")

    try:
        setup.run(work)
    except InvalidToken:
        raise setup.fail("cli.run.bad_token", 2) from None
    except AlreadyRunning as running:
        raise setup.fail("cli.run.already_running", file=str(running.database)) from None


@app.command("outbox", help=both("cli.outbox.help"))
def outbox_command(
    db: DbOption = None,
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", help=both("cli.option.limit"))] = 20,
) -> None:
    setup = Setup(db, config).existing()

    async def work() -> tuple[
        dict[tuple[str, str], int], dict[tuple[str, str], int], list[OutboxMessage], list[InboxEvent]
    ]:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            return (
                await outbox.counts(session),
                await inbox.counts(session),
                await outbox.failures(session, limit=limit),
                await inbox.parked(session, limit=limit),
            )

    sending, receiving, failed, parked = setup.run(work)
    setup.say("cli.outbox.outbox_header")
    _print_counts(setup, sending, ("pending", "sent", "failed"))
    setup.say("cli.outbox.inbox_header")
    _print_counts(setup, receiving, ("pending", "done", "parked"))
    zone = setup.settings.zone
    if failed:
        setup.say("cli.outbox.failures_header", count=len(failed))
        for row in failed:
            setup.say(
                "cli.outbox.failure",
                id=row.id,
                channel=row.channel,
                kind=row.kind,
                attempts=row.attempts,
                error=row.error,
                at=row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            )
    if parked:
        setup.say("cli.outbox.parked_header", count=len(parked))
        for event in parked:
            setup.say(
                "cli.outbox.parked",
                id=event.id,
                channel=event.channel,
                event=event.event_key,
                attempts=event.attempts,
                error=event.error,
                at=event.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            )


def _print_counts(setup: Setup, counts: dict[tuple[str, str], int], statuses: tuple[str, ...]) -> None:
    channels = sorted({channel for channel, _status in counts})
    if not channels:
        setup.say("cli.outbox.empty")
    for channel in channels:
        figures = ", ".join(
            f"{t(setup.language, 'cli.outbox.status.' + status)} {counts.get((channel, status), 0)}"
            for status in statuses
        )
        setup.say("cli.outbox.counts", channel=channel, figures=figures)


@db_app.command("upgrade", help=both("cli.db.upgrade"))
def db_upgrade(db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)
    setup.run(setup.database.upgrade)
    setup.say("cli.db.upgraded")


@roster_app.command("import", help=both("cli.roster.import"))
def roster_import(file: ExistingFile, db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)
    check_suffix(setup, file)

    async def work() -> roster.ImportResult:
        rows = roster.read_roster(file)
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            return await roster.import_roster(
                session,
                rows=rows,
                actor="cli",
                now=utcnow(),
                farewell=notices.unbound,
                default_language=setup.settings.general.default_language,
                today=local_today(setup),  # duty dates from the district's today, not the UTC one
            )

    result = setup.run(work)
    setup.say("roster.imported", created=result.created, updated=result.updated, unchanged=result.unchanged)
    if result.revoked:
        setup.say("roster.revoked", count=result.revoked)


@roster_app.command("export", help=both("cli.roster.export"))
def roster_export(file: OutputFile, db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)

    async def work() -> int:
        await setup.database.upgrade()
        # Read beside the bot, a short write for the audit row, then the file: a write transaction held for the
        # whole export would hold up every write of the bot on SQLite.
        # The audit row comes first: personal data never leaves without a record of it.
        async with setup.database.read() as session:
            lines = await roster.roster_table(session)
        async with setup.database.transaction() as session:
            roster.record_roster_export(session, actor="cli", count=len(lines) - 1, include_phones=True)
        roster.write_roster(file, lines)
        return len(lines) - 1

    count = setup.run(work)
    setup.say("roster.exported", count=count, file=str(file))


PersonArgument = Annotated[str, typer.Argument(metavar="CODE", help=both("cli.option.person"))]


@app.command(help=both("cli.invite.help"))
def invite(code: PersonArgument, db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)

    async def work() -> people.IssuedInvitation:
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            return await people.create_invitation(
                session,
                person_code=code,
                now=utcnow(),
                valid_for=timedelta(days=setup.settings.general.invitation_days),
                actor="cli",
            )

    issued = setup.run(work)
    link = f"https://t.me/{setup.settings.general.bot_username}?start={issued.code}"
    expires = issued.expires_at.astimezone(setup.settings.zone).strftime("%Y-%m-%d %H:%M")
    setup.say("cli.invite.issued", code=issued.code, rep=issued.person_code, link=link, expires=expires)


@app.command(help=both("cli.unbind.help"))
def unbind(
    chat: Annotated[str, typer.Argument(metavar="CHANNEL:ID", help=both("cli.option.chat"))],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    setup = Setup(db, config)
    channel, _, external_id = chat.partition(":")
    if not channel.strip() or not external_id.strip():
        raise setup.fail("cli.unbind.bad_chat", 2, chat=chat)

    async def work() -> bool:
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            identity = await people.identity_by_external_id(
                session, channel=channel.strip(), external_id=external_id.strip()
            )
            return await people.unbind(
                session,
                identity=identity,
                now=utcnow(),
                actor="cli",
                farewell=notices.unbound,
                default_language=setup.settings.general.default_language,
            )

    setup.say("cli.unbind.done" if setup.run(work) else "cli.unbind.nothing", chat=chat)


@app.command(help=both("cli.revoke.help"))
def revoke(code: PersonArgument, db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)

    async def work() -> tuple[people.Person, int]:
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            person = await people.person_by_code(session, code=code)
            count = await people.revoke(
                session,
                person=person,
                now=utcnow(),
                actor="cli",
                farewell=notices.unbound,
                default_language=setup.settings.general.default_language,
            )
            return person, count

    person, count = setup.run(work)
    setup.say("cli.revoke.done", code=person.code, name=person.name, count=count)


@app.command("card", help=both("cli.card.help"))
def card_command(
    rep_id: Annotated[str, typer.Argument(metavar="REP_ID", help=both("cli.option.rep"))],
    out: Annotated[Path | None, typer.Option("--out", help=both("cli.card.option.out"), dir_okay=False)] = None,
    renew: Annotated[bool, typer.Option("--renew", help=both("cli.card.option.renew"))] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help=both("cli.card.option.revoke"))] = False,
    font: Annotated[Path | None, typer.Option("--font", help=both("cli.card.option.font"))] = None,
    lang: LangOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    # Imported here: Pillow and the QR encoder are needed by this command only, not at every start.
    from bot import card as contact_card
    from storage.records import mailbox

    check_language(lang)
    setup = Setup(db, config)
    if renew and revoke:
        raise setup.fail("cli.card.renew_and_revoke", 2)
    if revoke:
        if out is not None:
            raise setup.fail("cli.card.revoke_and_out", 2)

        async def withdraw() -> tuple[mailbox.CardData, int]:
            await setup.database.upgrade()
            async with setup.database.transaction() as session:
                count = await mailbox.revoke_links(session, representative_code=rep_id, now=utcnow(), actor="cli")
                return await mailbox.card_by_code(session, representative_code=rep_id), count

        data, count = setup.run(withdraw)
        setup.say("cli.card.revoked", rep=data.code, name=data.name, count=count)
        return
    if out is None:
        raise setup.fail("cli.card.needs_out", 2)
    if out.suffix.lower() != ".png":
        raise setup.fail("cli.card.bad_suffix", 2, path=str(out))

    async def issue() -> tuple[mailbox.CardData, str]:
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            token = await mailbox.issue_link(
                session, representative_code=rep_id, now=utcnow(), actor="cli", renew=renew
            )
            return await mailbox.card_by_code(session, representative_code=rep_id), token

    data, token = setup.run(issue)
    configured = str(font) if font else setup.settings.card.font
    chosen = contact_card.find_cjk_font(configured)
    if configured and (chosen is None or chosen.path != Path(configured).expanduser()):
        typer.echo(t(setup.language, "cli.card.font_unusable", path=configured), err=True)
    if chosen is None:
        typer.echo(t(setup.language, "cli.card.no_font"), err=True)
    link = contact_card.deep_link(setup.settings.general.bot_username, token)
    png = contact_card.render_card(data, link=link, language=lang or setup.language, font=chosen)
    try:
        out.write_bytes(png)
    except OSError:
        raise setup.fail("cli.unwritable", path=str(out)) from None
    setup.say("cli.card.drawn", rep=data.code, name=data.name, path=str(out), link=link)
    setup.say("cli.card.renewed" if renew else "cli.card.reused")


@export_app.command("visits", help=both("cli.export.visits"))
def export_visits(
    file: OutputFile,
    db: DbOption = None,
    config: ConfigOption = None,
    since: FromOption = None,
    until: ToOption = None,
) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)
    start, end = period(setup, since, until)

    async def work() -> int:
        await setup.database.upgrade()
        # As `roster export`: read, record the export in a transaction of its own, then write the file.
        async with setup.database.read() as session:
            lines = await exports.visit_table(session, start=start, end=end, settings=setup.settings)
        async with setup.database.transaction() as session:
            exports.record_visit_export(session, actor="cli", count=len(lines) - 1, start=start, end=end)
        exports.write_visits(file, lines)
        return len(lines) - 1

    count = setup.run(work)
    setup.say("cli.export.done", count=count, path=str(file), start=start.isoformat(), end=end.isoformat())


@export_app.command("cases", help=both("cli.export.cases"))
def export_cases(
    file: OutputFile,
    db: DbOption = None,
    config: ConfigOption = None,
    since: FromOption = None,
    until: ToOption = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help=both("cli.export.option_unmasked"))] = False,
) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)
    start, end = period(setup, since, until)

    async def work() -> int:
        await setup.database.upgrade()
        if unmasked:
            # Names and phones as stored: read in the transaction that records who asked, so that no unmasked
            # export can leave without its audit row.
            async with setup.database.transaction() as session:
                lines = await case_export.case_table(
                    session, start=start, end=end, settings=setup.settings, unmasked=True
                )
                case_export.record_case_export(
                    session, actor="cli", count=len(lines) - 1, start=start, end=end, unmasked=True, asked_by=_login()
                )
        else:
            # As `export visits`: read beside the bot, record the export in a short transaction, write the file.
            async with setup.database.read() as session:
                lines = await case_export.case_table(session, start=start, end=end, settings=setup.settings)
            async with setup.database.transaction() as session:
                case_export.record_case_export(
                    session, actor="cli", count=len(lines) - 1, start=start, end=end, unmasked=False
                )
        case_export.write_cases(file, lines)
        return len(lines) - 1

    count = setup.run(work)
    setup.say(
        "cli.export.cases_done_unmasked" if unmasked else "cli.export.cases_done",
        count=count,
        path=str(file),
        start=start.isoformat(),
        end=end.isoformat(),
    )


@export_app.command("proposals", help=both("cli.export.proposals"))
def export_proposals(
    file: OutputFile,
    db: DbOption = None,
    config: ConfigOption = None,
    since: FromOption = None,
    until: ToOption = None,
) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)
    start, end = period(setup, since, until)

    async def work() -> int:
        await setup.database.upgrade()
        # As `export visits`: read beside the bot, record the export in a short transaction, write the file.
        async with setup.database.read() as session:
            lines = await proposal_export.proposal_table(session, start=start, end=end, settings=setup.settings)
        async with setup.database.transaction() as session:
            proposal_export.record_proposal_export(session, actor="cli", count=len(lines) - 1, start=start, end=end)
        proposal_export.write_proposals(file, lines)
        return len(lines) - 1

    count = setup.run(work)
    setup.say("cli.export.proposals_done", count=count, path=str(file), start=start.isoformat(), end=end.isoformat())


def _login() -> str:
    """Who asked at the terminal, for the audit row of an unmasked export: the operating system's login."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment, and none for the user id
        return ""


@report_app.command("cases", help=both("cli.report.cases"))
def report_cases(
    db: DbOption = None,
    config: ConfigOption = None,
    since: FromOption = None,
    until: ToOption = None,
    by: Annotated[str | None, typer.Option("--by", help=both("cli.report.option_by"))] = None,
    form: Annotated[str | None, typer.Option("--format", help=both("cli.report.option_format"))] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=both("cli.report.option_output"), dir_okay=False)
    ] = None,
) -> None:
    setup = Setup(db, config).existing()
    start, end = period(setup, since, until)
    if by is not None and by not in case_figures.GROUPINGS:
        raise setup.fail("cli.report.bad_by", 2, by=by)
    if form is None:  # from the file's name, else text
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        form = suffix if suffix in case_figures.FORMATS else "text"
    if form not in case_figures.FORMATS:
        raise setup.fail("cli.report.bad_format", 2, format=form)
    if form == "xlsx" and output is None:
        raise setup.fail("cli.report.needs_output", 2)
    if output is not None and form in ("csv", "xlsx") and output.suffix.lower() != f".{form}":
        raise setup.fail("cli.report.bad_output", 2, path=str(output), format=form)
    today = local_today(setup)

    async def work() -> case_figures.CaseReport:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            report = await case_figures.case_figures(
                session,
                start=start,
                end=end,
                settings=setup.settings,
                calendar=calendar_of(setup.settings),
                today=today,
                by=by,
            )
        if output is not None:
            if form == "text":
                case_figures.write_text(output, _report_text(setup, report))
            else:
                case_figures.write_report(output, report, form)
        return report

    report = setup.run(work)
    if output is not None:
        setup.say("cli.report.written", path=str(output))
    elif form == "text":
        typer.echo(_report_text(setup, report), nl=False)
    elif form == "csv":
        typer.echo(case_figures.csv_text(case_figures.report_table(report)), nl=False)
    else:
        typer.echo(case_figures.report_json(report), nl=False)


def _report_text(setup: Setup, report: case_figures.CaseReport) -> str:
    language = setup.language

    def rate(shown: case_figures.Rate) -> str:
        if shown.value is None:
            return case_figures.NONE
        return t(language, "cli.report.rate", rate=shown.shown(), part=shown.part, whole=shown.whole)

    period = {"start": report.start.isoformat(), "end": report.end.isoformat()}
    if report.by is None:
        lines = [t(language, "cli.report.header", **period)]
    else:
        grouping = t(language, f"cli.report.grouping.{report.by}")
        lines = [t(language, "cli.report.header_by", grouping=grouping, **period)]
    for row in [*report.rows, report.total]:
        lines.append(
            t(
                language,
                "cli.report.line",
                group=row.label or t(language, "cli.report.total"),
                registered=row.registered,
                due=row.due,
                response=rate(row.response_rate),
                resolution=rate(row.resolution_rate),
                satisfaction=rate(row.satisfaction_rate),
                answered=row.answered,
                rated=row.rated,
                overdue=row.overdue,
                withdrawn=row.withdrawn,
            )
        )
    lines.append(t(language, "cli.report.note", days=setup.settings.cases.response_working_days))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class OverdueLine:
    """A case due for chasing or escalation, as the terminal shows it: no name, phone or text."""

    number: str
    category: str
    owner: str
    due: str
    late: int
    action: str  # chase | escalate
    at: str = ""  # when it was sent, local time; "" for one not sent yet


@cases_app.command("overdue", help=both("cli.cases.overdue_help"))
def cases_overdue(
    db: DbOption = None,
    config: ConfigOption = None,
    send: Annotated[bool, typer.Option("--send", help=both("cli.cases.option_send"))] = False,
) -> None:
    setup = Setup(db, config).existing()

    async def work() -> tuple[date, list[OverdueLine], list[OverdueLine]]:
        await setup.database.upgrade()
        now = utcnow()
        today = now.astimezone(setup.settings.zone).date()
        calendar = calendar_of(setup.settings)
        if send:
            # Found and sent in one transaction, so that each chase and escalation goes out once.
            async with setup.database.transaction() as session:
                items = await cases.overdue(session, settings=setup.settings, calendar=calendar, today=today)
                shown = await _overdue_lines(setup, session, items)
                await cases.send_overdue(session, items=items, settings=setup.settings, now=now, render=notices.render)
        else:
            async with setup.database.read() as session:
                items = await cases.overdue(session, settings=setup.settings, calendar=calendar, today=today)
                shown = await _overdue_lines(setup, session, items)
        due_now = {item.case.id for item in items}  # listed as due (or just sent) below
        async with setup.database.read() as session:
            chased = await cases.chased_open(session)
            sent = await _overdue_lines(
                setup,
                session,
                [
                    cases.Overdue(case, calendar.working_days_between(case.due_on, today), _last_sent(case)[0])
                    for case in chased
                    if case.id not in due_now
                ],
            )
        return today, shown, sent

    today, shown, sent = setup.run(work)
    if sent:
        setup.say("cli.cases.sent_header", count=len(sent))
        for line in sent:
            _say_overdue(setup, "cli.cases.sent_line", line)
    if not shown:
        setup.say("cli.cases.overdue_none", today=today.isoformat())
        return
    setup.say("cli.cases.overdue_header", today=today.isoformat(), count=len(shown))
    for line in shown:
        _say_overdue(setup, "cli.cases.overdue_line", line)
    if send:
        chased = sum(line.action == "chase" for line in shown)
        setup.say("cli.cases.sent", chased=chased, escalated=len(shown) - chased)
    else:
        setup.say("cli.cases.overdue_hint")


def _say_overdue(setup: Setup, key: str, line: OverdueLine) -> None:
    action = t(setup.language, f"cli.cases.action.{line.action}")
    values = {"number": line.number, "category": line.category, "owner": line.owner, "due": line.due}
    setup.say(key, **values, late=line.late, action=action, at=line.at)


async def _overdue_lines(setup: Setup, session: AsyncSession, items: list[cases.Overdue]) -> list[OverdueLine]:
    keepers = {item.case.kept_by for item in items if item.case.kept_by is not None}
    codes: dict[int | None, str] = {}
    if keepers:
        found = await session.exec(
            select(Representative.id, Representative.code).where(col(Representative.id).in_(keepers))
        )
        codes = dict(found.all())
    lines = []
    for item in items:
        case = item.case
        category = setup.settings.cases.category(case.category)
        label = (category.en if setup.language == "en" else category.zh) if category else case.category
        if case.kept_by is not None:
            owner = t(setup.language, "cli.cases.kept_by", code=codes.get(case.kept_by, "?"))
        else:
            owner = case.department or t(setup.language, "cli.cases.unowned")
        sent_at = _last_sent(case)[1]
        at = sent_at.astimezone(setup.settings.zone).strftime("%Y-%m-%d %H:%M") if sent_at else ""
        lines.append(
            OverdueLine(case.number, label, owner, case.due_on.isoformat(), item.working_days_late, item.due, at)
        )
    return lines


def _last_sent(case: Case) -> tuple[str, datetime | None]:
    """What was sent last about an overdue case, and when: its escalation, else its chase."""
    if case.escalated_at is not None:
        return "escalate", case.escalated_at
    return "chase", case.chased_at


@cases_app.command("close-unrated", help=both("cli.cases.close_unrated_help"))
def cases_close_unrated(db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config).existing()

    async def work() -> list[str]:
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            return await cases.close_unrated(session, settings=setup.settings, now=utcnow())

    closed = setup.run(work)
    days = setup.settings.cases.auto_close_days
    if closed:
        separator = ", " if setup.language == "en" else "、"
        setup.say("cli.cases.closed", count=len(closed), days=days, numbers=separator.join(closed))
    else:
        setup.say("cli.cases.closed_none", days=days)


def main() -> None:
    logs.configure(level=logging.WARNING)
    app()
