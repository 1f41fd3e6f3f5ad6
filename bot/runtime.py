"""The composition root of a running Telegram bot: the PTB Application, the channel, the inbox dispatcher, the
sender, and how updates arrive (polling, or a webhook behind a reverse proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application, ApplicationBuilder

from bot.aiohttp_request import AiohttpRequest
from bot.dispatcher import Dispatcher
from bot.instance_lock import InstanceLock
from bot.sender import Sender
from bot.telegram import CHANNEL, TelegramChannel, webhook_secret
from bot.telegram_updates import ALLOWED_UPDATES
from handlers.router import Router
from scheduler.tick import Scheduler
from storage.db import Database
from storage.delivery import dialog_state, queue
from storage.models import utcnow
from storage.settings import Settings

log = logging.getLogger(__name__)
DIALOGS_KEPT = timedelta(days=1)  # far beyond general.dialog_timeout_minutes: a dialog left this long is dropped
PURGE_EVERY = 6 * 3600  # seconds


async def purge_now_and_then(db: Database, settings: Settings) -> None:
    """Events and messages quote what people wrote: they are kept `delivery.keep_days`, then deleted; dialogs left
    for a day go too. One per process that runs channels."""
    while True:
        try:
            async with db.transaction() as session:
                before = utcnow() - timedelta(days=settings.delivery.keep_days)
                events, messages = await queue.purge(session, before=before)
                dialogs = await dialog_state.purge(session, before=utcnow() - DIALOGS_KEPT)
            if dialogs:
                log.info("deleted %s dialogs left for more than a day", dialogs)
            if events or messages:
                log.info(
                    "purged %s events and %s messages older than %s days", events, messages, settings.delivery.keep_days
                )
        except Exception as error:  # a purge can wait for the next round
            log.warning("purge failed (%s)", type(error).__name__)
        await asyncio.sleep(PURGE_EVERY)


async def until_stopped_or_failed(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Return when `stop` is set; raise when one of a bot's own tasks dies first (a revoked token): then the bot
    stops rather than run on without it."""
    failed = asyncio.create_task(_first_failure(tasks))
    waiting = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({failed, waiting}, return_when=asyncio.FIRST_COMPLETED)
    for task in (failed, waiting):
        task.cancel()
    if failed in done and not failed.cancelled() and failed.exception() is not None:
        raise failed.exception()  # type: ignore[misc]


async def _first_failure(tasks: list[asyncio.Task[None]]) -> None:
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    await asyncio.Event().wait()


def build_application(settings: Settings, token: str) -> Application:  # type: ignore[type-arg]
    """PTB's Application owns the HTTP client, the Bot and its life cycle. Its Updater is left out: updates come
    from our own loop or webhook, which commit them to the inbox before Telegram is told they arrived (PTB's own
    acknowledge first and keep them in memory). Requests go through aiohttp (bot.aiohttp_request)."""
    timeout = settings.telegram.request_timeout_seconds
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram.api_url)
        .base_file_url(settings.telegram.file_url)
        .updater(None)
        .request(
            AiohttpRequest(
                connections=settings.delivery.sender_concurrency + 8, read_timeout=timeout, write_timeout=timeout * 2
            )
        )
        .get_updates_request(AiohttpRequest(connections=2, read_timeout=timeout, write_timeout=timeout))
        .build()
    )


class TelegramBot:
    """Everything a running bot needs, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        token: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        scheduler: bool = True,
    ) -> None:
        self.settings = settings
        self.db = db
        self.token = token
        self.application = build_application(settings, token)
        self.router = Router(db, settings, clock)
        self.channel = TelegramChannel(self.application.bot, db, self.router, settings, clock=clock)
        self.dispatcher = Dispatcher(
            db,
            settings,
            channel=CHANNEL,
            handler=self.channel,
            clock=clock,
            retry_seconds=settings.delivery.retry_seconds,
        )
        self.sender = Sender(
            db, settings.delivery, self.channel.transport, report=self.channel.report_failure, clock=clock
        )
        self.channel.received = self.dispatcher.wake
        self.channel.queued = self.sender.wake
        # The scheduler writes to the outbox that this sender drains; `lianxin run --no-scheduler` leaves it to a
        # `lianxin scheduler` of its own (on PostgreSQL one of them leads at a time anyway).
        self.scheduler = Scheduler(db, settings, clock=clock, queued=self.sender.wake) if scheduler else None
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._site: web.AppRunner | None = None
        # On SQLite one bot per file (see bot.instance_lock); PostgreSQL's workers share the queues through leases.
        self.instance_lock = InstanceLock(db.file) if db.file is not None else None

    async def start(
        self, *, webhook_url: str | None = None, listen: str | None = None, port: int | None = None
    ) -> None:
        """Raises AlreadyRunning, before anything starts, when another bot runs on the same SQLite file."""
        if self.instance_lock is not None:
            self.instance_lock.acquire()
        try:
            await self._start(webhook_url, listen, port)
        except BaseException:
            if self.instance_lock is not None:
                self.instance_lock.release()
            raise

    async def _start(self, webhook_url: str | None, listen: str | None, port: int | None) -> None:
        await self.db.upgrade()
        await self.application.initialize()  # getMe: a wrong token fails here, before anything else starts
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="telegram-inbox"),
            asyncio.create_task(self.sender.run(), name="telegram-sender"),
            asyncio.create_task(self._menus(), name="telegram-menus"),
            asyncio.create_task(purge_now_and_then(self.db, self.settings), name="telegram-purge"),
        ]
        if webhook_url is None:
            self._tasks.append(asyncio.create_task(self.channel.poll(), name="telegram-polling"))
            log.info("telegram: polling as @%s", self.application.bot.username)
        else:
            await self._serve_webhook(
                webhook_url,
                listen or self.settings.telegram.webhook_listen,
                port or self.settings.telegram.webhook_port,
            )
        if self.scheduler is not None:
            self.scheduler.start()
        self.dispatcher.wake()
        self.sender.wake()
        # Everything start-up made (modules, settings, catalogs, the Application) lives as long as the bot: moved
        # out of the collector's sight, so that a full collection scans what handling makes, not 160,000
        # objects, which held the event loop ~100 ms each time.
        gc.collect()
        gc.freeze()

    async def _serve_webhook(self, url: str, listen: str, port: int) -> None:
        secret = self.settings.telegram_webhook_secret or webhook_secret(self.token)
        path = urlsplit(url).path or "/"
        self._site = web.AppRunner(self.channel.webhook_app(path, secret), access_log=None)
        await self._site.setup()
        await web.TCPSite(self._site, listen, port).start()
        await self.application.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        log.info("telegram: webhook listening on %s:%s%s", listen, port, path)

    async def _menus(self) -> None:
        try:
            await self.channel.set_menus()
        except Exception as error:  # menus are a convenience: the bot runs without them
            log.warning("telegram: could not set the command menus (%s)", type(error).__name__)

    async def stop(self) -> None:
        """Stop taking updates, let the rows in work finish, close the HTTP client."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        self.channel.stop()
        if self._site is not None:
            await self._site.cleanup()
        self.dispatcher.stop()
        self.sender.stop()
        for task in self._tasks:
            if task.get_name() in ("telegram-polling", "telegram-purge"):
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.channel.finish_answers()
        await self.application.shutdown()
        if self.instance_lock is not None:
            self.instance_lock.release()  # last: the rows in work are recorded, a new bot may take over
        self._stopped.set()

    async def run_until_stopped(
        self, stop: asyncio.Event, *, started: Callable[[], None] = lambda: None, **start_options: str | int | None
    ) -> None:
        """`started` is called once the bot runs: a bot refused at start (another one runs on the SQLite file, a
        wrong token) never says that it runs."""
        await self.start(**start_options)  # type: ignore[arg-type]
        started()
        try:
            await until_stopped_or_failed(stop, self._tasks)
        finally:
            await self.stop()
