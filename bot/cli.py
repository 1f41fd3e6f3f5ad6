"""The command line (Typer) and the composition root: settings, database, router and channels are built here."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from telegram.error import InvalidToken

from bot import logs
from bot.console import CHANNEL, ConsoleChannel
from bot.instance_lock import AlreadyRunning
from bot.runtime import TelegramBot
from handlers import notices
from handlers.i18n import both, t
from handlers.router import Router
from storage.db import Database, DatabaseDamaged, DatabaseUnreachable, sqlite_url
from storage.delivery import inbox, outbox
from storage.errors import ConfigError, LianxinError
from storage.exchange import demo, exports, roster
from storage.exchange.roster import RosterInvalid
from storage.models import InboxEvent, OutboxMessage, utcnow
from storage.records import people
from storage.settings import LANGUAGES, Settings, load_settings

T = TypeVar("T")
DEFAULT_DB = "lianxin.db"
DEMO_DB = "lianxin-demo.db"

app = typer.Typer(help=both("cli.group.app"), no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help=both("cli.group.db"), no_args_is_help=True)
roster_app = typer.Typer(help=both("cli.group.roster"), no_args_is_help=True)
export_app = typer.Typer(help=both("cli.group.export"), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
app.add_typer(export_app, name="export")

DbOption = Annotated[str | None, typer.Option("--db", help=both("cli.option.db"))]
ConfigOption = Annotated[Path | None, typer.Option("--config", help=both("cli.option.config"))]
AsOption = Annotated[str, typer.Option("--as", help=both("cli.option.as"))]
LangOption = Annotated[str | None, typer.Option("--lang", help=both("cli.option.lang"))]


class Setup:
    """What every command needs: the settings and the database, built once."""

    def __init__(self, db: str | None, config: Path | None, default_db: str = DEFAULT_DB) -> None:
        try:
            self.settings: Settings = load_settings(config)
        except ConfigError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
        self.language = self.settings.general.default_language
        target = db or self.settings.database_url or default_db
        self.database = Database(target if "://" in target else sqlite_url(target))

    def existing(self) -> Setup:
        """For commands that only read: an SQLite file that is not there is a mistyped path, not a database to
        create (upgrading would make an empty one, and the command would report nothing)."""
        file = self.database.file
        if file is not None and not file.exists():
            raise self.fail("cli.db.missing", file=str(file))
        return self

    def say(self, key: str, /, **params: object) -> None:
        typer.echo(t(self.language, key, **params))

    def fail(self, key: str, /, exit_code: int = 1, **params: object) -> typer.Exit:
        typer.echo(t(self.language, key, **params), err=True)
        return typer.Exit(exit_code)

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one async job; expected problems become a clear message and a non-zero exit."""

        async def wrapped() -> T:
            try:
                return await work()
            finally:
                await self.database.dispose()

        try:
            return asyncio.run(wrapped())
        except RosterInvalid as invalid:
            typer.echo(t(self.language, "roster.invalid_header", count=len(invalid.problems)), err=True)
            for problem in invalid.problems:
                typer.echo("  " + t(self.language, problem.key, **problem.message_params()), err=True)
            raise typer.Exit(1) from None
        # A database that cannot be used at all: what is wrong and what to check, rather than the driver's traceback.
        except DatabaseDamaged as damaged:
            raise self.fail("cli.db.damaged", file=damaged.file) from None
        except DatabaseUnreachable as unreachable:
            raise self.fail("cli.db.unreachable", host=unreachable.host, port=unreachable.port) from None
        except LianxinError as problem:
            raise self.fail(problem.key, **problem.params) from None


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
        today = utcnow().astimezone(setup.settings.zone).date()
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
        await converse(await open_console(setup, as_, lang))

    setup.run(work)


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
) -> None:
    setup = Setup(db, config)
    token = setup.settings.telegram_token
    if not token:
        raise setup.fail("cli.run.no_token", 2)
    if webhook is not None and not webhook.startswith("https://"):  # Telegram calls nothing else
        raise setup.fail("cli.run.bad_webhook", 2, url=webhook)
    logs.configure(secrets=[token, setup.settings.telegram_webhook_secret or ""])
    telegram_bot = TelegramBot(setup.settings, setup.database, token)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await telegram_bot.run_until_stopped(
            stop,
            started=lambda: setup.say("cli.run.started", mode=webhook or "polling"),
            webhook_url=webhook,
            listen=listen,
            port=port,
        )
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


ExistingFile = Annotated[Path, typer.Argument(help=both("cli.option.file"), exists=True, dir_okay=False, readable=True)]
OutputFile = Annotated[Path, typer.Argument(help=both("cli.option.out"), dir_okay=False)]


def check_suffix(setup: Setup, path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise setup.fail("cli.bad_suffix", 2, path=str(path))


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
    since: Annotated[str | None, typer.Option("--from", help=both("cli.option.from"))] = None,
    until: Annotated[str | None, typer.Option("--to", help=both("cli.option.to"))] = None,
) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)
    today = utcnow().astimezone(setup.settings.zone).date()
    start = _date_option(setup, since, "--from") or date(today.year, 1, 1)
    end = _date_option(setup, until, "--to") or today
    if start > end:
        raise setup.fail("cli.bad_range", 2, start=start.isoformat(), end=end.isoformat())

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


def _date_option(setup: Setup, value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise setup.fail("cli.bad_date", 2, option=name, value=value) from None


def main() -> None:
    logs.configure(level=logging.WARNING)
    app()
