"""The command line's WeChat commands: `lianxin wechat status` (does the puppet service answer, who is logged in,
when the last event arrived), read from the gateway itself and from what the running channel wrote down."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from bot.cli_common import ConfigOption, DbOption, Setup
from handlers.i18n import both
from storage.models import ChannelStatus
from storage.records import channel_status

wechat_app = typer.Typer(help=both("cli.group.wechat"), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the command line."""
    app.add_typer(wechat_app, name="wechat")
    wechat_app.command("status", help=both("cli.wechat.status_help"))(status_command)


def status_command(db: DbOption = None, config: ConfigOption = None) -> None:
    setup = Setup(db, config)
    settings = setup.settings
    if not settings.wechat.enabled:
        raise setup.fail("cli.wechat.not_configured", 2)
    if not settings.wechat_token:
        raise setup.fail("cli.run.no_wechat_token", 2)
    # The gRPC stack is loaded by the commands that speak it.
    from bot.wechat import CHANNEL
    from bot.wechat_puppet import CONNECTION_ERRORS, Puppet

    async def work() -> tuple[str | None, str, str, ChannelStatus | None]:
        await setup.database.upgrade()
        async with setup.database.read() as session:
            recorded = await channel_status.read(session, channel=CHANNEL)
        puppet = Puppet(settings.wechat, settings.wechat_token or "")
        version, problem, name = None, "", ""
        try:
            version = await puppet.version()
            if recorded is not None and recorded.self_id:
                name = await puppet.contact_name(recorded.self_id)
        except CONNECTION_ERRORS as error:
            status = getattr(error, "status", None)
            problem = status.name if status is not None else type(error).__name__
        finally:
            puppet.close()
        return version, problem, name, recorded

    version, problem, name, recorded = setup.run(work)
    setup.say("cli.wechat.endpoint", endpoint=settings.wechat.endpoint, tls=settings.wechat.tls)
    if version is not None:
        setup.say("cli.wechat.answers", version=version or "?")
    else:
        setup.say("cli.wechat.silent", problem=problem)
    if recorded is None:
        setup.say("cli.wechat.never_ran")
    else:
        setup.say(f"cli.wechat.state.{recorded.state}", name=name or recorded.self_id or "?")
        setup.say("cli.wechat.last_event", at=_when(setup, recorded.last_event_at))
        if recorded.down_since is not None and recorded.state in ("down", "starting"):
            setup.say("cli.wechat.down_since", at=_when(setup, recorded.down_since))
        if recorded.qr_url and recorded.state == "logged_out":
            setup.say("cli.wechat.scan", link=recorded.qr_url)
    if version is None:
        raise typer.Exit(1)


def _when(setup: Setup, moment: datetime | None) -> Any:
    if moment is None:
        return "—"
    return moment.astimezone(setup.settings.zone).strftime("%Y-%m-%d %H:%M:%S")
