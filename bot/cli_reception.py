"""The command line's reception-day commands: `lianxin reception import FILE` (the rota, all or nothing),
`lianxin reception export FILE` and `lianxin reception list [--station NAME]`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from sqlmodel import select

from bot.cli_common import (
    ConfigOption,
    DbOption,
    ExistingFile,
    FromOption,
    OutputFile,
    Setup,
    ToOption,
    check_suffix,
    date_option,
    local_today,
)
from handlers.i18n import both, t
from handlers.reception import names_text, notice, when_text
from storage.exchange import reception_rota
from storage.exchange.reception_rota import RotaResult
from storage.models import Station, utcnow
from storage.records import reception

EXPORT_DAYS = 90  # export from today this many days ahead unless --to says otherwise
LIST_DAYS = 28

reception_app = typer.Typer(help=both("cli.reception.group"), no_args_is_help=True)
StationOption = Annotated[str | None, typer.Option("--station", help=both("cli.reception.option_station"))]
DaysOption = Annotated[int, typer.Option("--days", min=1, max=366, help=both("cli.reception.option_days"))]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the command line."""
    app.add_typer(reception_app, name="reception")


@reception_app.command("import", help=both("cli.reception.import"))
def import_command(file: ExistingFile, db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)
    check_suffix(setup, file)

    async def work() -> RotaResult:
        rows = reception_rota.read_rota(file)  # a bad row: RotaInvalid, every problem said by Setup.run
        await setup.database.upgrade()
        async with setup.database.transaction() as session:
            return await reception_rota.import_rota(
                session, rows=rows, actor="cli", settings=setup.settings, now=utcnow(), render=notice
            )

    result = setup.run(work)
    setup.say("reception.rota.imported", created=result.created, updated=result.updated, unchanged=result.unchanged)


@reception_app.command("export", help=both("cli.reception.export"))
def export_command(
    file: OutputFile, db: DbOption = None, config: ConfigOption = None, since: FromOption = None, until: ToOption = None
) -> None:
    setup = Setup(db, config).existing()
    check_suffix(setup, file)
    today = local_today(setup)
    start = date_option(setup, since, "--from") or today
    end = date_option(setup, until, "--to") or start + timedelta(days=EXPORT_DAYS)
    if start > end:
        raise setup.fail("cli.bad_range", 2, start=start.isoformat(), end=end.isoformat())

    async def work() -> int:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            lines = await reception_rota.rota_table(session, since=start, until=end)
        reception_rota.write_rota(file, lines)
        return len(lines) - 1

    count = setup.run(work)
    setup.say("reception.rota.exported", count=count, file=str(file))


@reception_app.command("list", help=both("cli.reception.list"))
def list_command(
    db: DbOption = None, config: ConfigOption = None, station: StationOption = None, days: DaysOption = LIST_DAYS
) -> None:
    setup = Setup(db, config).existing()
    today = local_today(setup)
    until = today + timedelta(days=days - 1)

    async def work() -> list[reception.Rota]:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            station_id = None
            if station is not None:
                found = (await session.exec(select(Station).where(Station.name == station))).first()
                if found is None:
                    raise setup.fail("reception.rota.no_station", name=station)
                station_id = found.id
            return await reception.listing(session, since=today, until=until, station_id=station_id)

    rotas = setup.run(work)
    if not rotas:
        setup.say("reception.rota.list_none", since=today.isoformat(), until=until.isoformat())
        return
    setup.say("reception.rota.list_header", since=today.isoformat(), until=until.isoformat(), count=len(rotas))
    language = setup.language
    for rota in rotas:
        setup.say(
            "reception.rota.list_line",
            when=when_text(language, rota.when),
            station=rota.station,
            place=rota.where or "—",
            names=names_text(language, [f"{one.name}（{one.code}）" for one in rota.duty]),
            cancelled=t(language, "reception.rota.list_cancelled") if rota.cancelled else "",
        )
