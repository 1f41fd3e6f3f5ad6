"""What every command of the command line shares: the settings and the database (Setup), the common options, and
reading dates, periods and file names from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from handlers.i18n import both, t
from storage.db import Database, DatabaseDamaged, DatabaseUnreachable, sqlite_url
from storage.errors import ConfigError, LianxinError
from storage.exchange.table_files import TableInvalid
from storage.models import utcnow
from storage.settings import Settings, load_settings

T = TypeVar("T")
DEFAULT_DB = "lianxin.db"

DbOption = Annotated[str | None, typer.Option("--db", help=both("cli.option.db"))]
FromOption = Annotated[str | None, typer.Option("--from", help=both("cli.option.from"))]
ToOption = Annotated[str | None, typer.Option("--to", help=both("cli.option.to"))]
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
        except TableInvalid as invalid:  # a roster or a rota: every problem, by row
            typer.echo(t(self.language, invalid.key, **invalid.params), err=True)
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


ExistingFile = Annotated[Path, typer.Argument(help=both("cli.option.file"), exists=True, dir_okay=False, readable=True)]
OutputFile = Annotated[Path, typer.Argument(help=both("cli.option.out"), dir_okay=False)]


def check_suffix(setup: Setup, path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise setup.fail("cli.bad_suffix", 2, path=str(path))


def period(setup: Setup, since: str | None, until: str | None) -> tuple[date, date]:
    """--from and --to: by default from 1 January of this year to today; the first day may not follow the last."""
    today = local_today(setup)
    start = date_option(setup, since, "--from") or date(today.year, 1, 1)
    end = date_option(setup, until, "--to") or today
    if start > end:
        raise setup.fail("cli.bad_range", 2, start=start.isoformat(), end=end.isoformat())
    return start, end


def local_today(setup: Setup) -> date:
    return utcnow().astimezone(setup.settings.zone).date()


def date_option(setup: Setup, value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise setup.fail("cli.bad_date", 2, option=name, value=value) from None
