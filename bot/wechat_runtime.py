"""The composition root of a running WeChat channel: the puppet connection and its event stream, the channel, the
inbox dispatcher and the sender, and the gateway's health: who is logged in, the state `lianxin wechat status`
reads (table channel_status), and the ops chats told when WeChat has been down too long or the account was logged
out (with the QR code's link to scan)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from wechaty_grpc.wechaty import puppet as pb

from bot.channel import ops_note
from bot.dispatcher import Dispatcher
from bot.instance_lock import InstanceLock
from bot.runtime import purge_now_and_then, until_stopped_or_failed
from bot.sender import Sender
from bot.wechat import CHANNEL, WeChatChannel, pace
from bot.wechat_puppet import Event, EventStream, Puppet, qr_link
from handlers.router import Router
from scheduler.tick import Scheduler
from storage.db import Database
from storage.delivery import outbox
from storage.delivery.outbox import NewMessage
from storage.errors import StoreError
from storage.models import utcnow
from storage.records import channel_status
from storage.settings import Settings

log = logging.getLogger(__name__)
E = pb.EventType
LAST_EVENT_EVERY = 30.0  # seconds: how often the time of the last event is written down (not at every event)
LOGIN_GRACE = 10.0  # seconds: a new stream replays the login at once when the account is logged in
WAITING, TIMEOUT = 2, 5  # ScanStatus: a QR code waiting to be scanned, one that expired (a new one follows)


def ops_messages(settings: Settings, key: str, **params: Any) -> list[NewMessage]:
    """A note for the ops chats of both channels (ids and states only): WeChat's own may be the one that is down."""
    language = settings.general.default_language
    # Telegram's only when a Telegram bot runs beside: else no sender would ever send it.
    telegram = str(settings.telegram.ops_chat_id) if settings.telegram.ops_chat_id and settings.telegram_token else None
    return [
        *ops_note("telegram", telegram, language, key, **params),
        *ops_note(CHANNEL, settings.wechat.ops_chat, language, key, **params),
    ]


class WeChatBot:
    """Everything the WeChat channel needs, started and stopped together. Beside a TelegramBot in one process
    (`lianxin run` with both configured) it leaves the scheduler, the purge and the SQLite lock to that one."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        token: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        scheduler: bool = True,
        alone: bool = True,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.alone = alone
        self.puppet = Puppet(settings.wechat, token)
        self.router = Router(db, settings, clock)
        self.channel = WeChatChannel(self.puppet, db, self.router, settings, clock=clock)
        self.dispatcher = Dispatcher(
            db,
            settings,
            channel=CHANNEL,
            handler=self.channel,
            clock=clock,
            retry_seconds=settings.delivery.retry_seconds,
        )
        self.sender = Sender(
            db, pace(settings), self.channel.transport, report=self.channel.report_failure, clock=clock
        )
        self.channel.received = self.dispatcher.wake
        self.channel.queued = self.sender.wake
        self.stream = EventStream(self.puppet, settings.wechat, self._event, on_lost=self._lost)
        # Sends wait (their attempts unspent) while nobody is logged in or the service is away.
        self.channel.transport.ready = lambda: bool(self.channel.self_id) and self.stream.connected.is_set()
        self.scheduler = Scheduler(db, settings, clock=clock, queued=self.sender.wake) if scheduler else None
        self.instance_lock = InstanceLock(db.file) if alone and db.file is not None else None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_written = 0.0
        self._down_since: float | None = time.monotonic()  # until the first stream opens
        self._down_at = clock()  # the same moment, as the status shows it
        self._down_told = False
        self._logged_out_told = False
        self._told_qr = ""
        self._opened_at = 0.0
        self._login_seen = False

    # -- life --------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.instance_lock is not None:
            self.instance_lock.acquire()
        try:
            await self.db.upgrade()
            self._down_at = self.clock()
            await self._record(state="starting", down_since=self._down_at)
            self._tasks = [
                asyncio.create_task(self.dispatcher.run(), name="wechat-inbox"),
                asyncio.create_task(self.sender.run(), name="wechat-sender"),
                asyncio.create_task(self.stream.run(), name="wechat-stream"),
                asyncio.create_task(self.channel.store_arrivals(), name="wechat-arrivals"),
                asyncio.create_task(self._watch_health(), name="wechat-health"),
            ]
            if self.alone:
                self._tasks.append(asyncio.create_task(purge_now_and_then(self.db, self.settings), name="wechat-purge"))
            if self.scheduler is not None:
                self.scheduler.start()
            self.dispatcher.wake()
            self.sender.wake()
            log.info("wechat: connecting to the puppet service")
        except BaseException:
            if self.instance_lock is not None:
                self.instance_lock.release()
            raise

    async def stop(self) -> None:
        """Stop the stream; let the events already read be stored and the rows in work finish."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        self.stream.stop()
        for _ in range(50):  # message ids read from the stream but not yet stored: they exist nowhere else
            if self.channel.arrivals_waiting == 0:
                break
            await asyncio.sleep(0.1)
        self.dispatcher.stop()
        self.sender.stop()
        for task in self._tasks:
            if task.get_name() in ("wechat-stream", "wechat-arrivals", "wechat-health", "wechat-purge"):
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(StoreError):
            await self._record(state="stopped")
        self.puppet.close()
        if self.instance_lock is not None:
            self.instance_lock.release()

    async def run_until_stopped(self, stop: asyncio.Event, *, started: Callable[[], None] = lambda: None) -> None:
        await self.start()
        started()
        try:
            await until_stopped_or_failed(stop, self._tasks)
        finally:
            await self.stop()

    # -- the stream's events -----------------------------------------------------------------------------------

    async def _event(self, event: Event) -> None:
        if self._down_since is not None:  # the first event of a new stream
            await self._back()
        if event.type == E.EVENT_TYPE_MESSAGE:
            self.channel.message_arrived(str(event.payload.get("messageId", "")))
        elif event.type == E.EVENT_TYPE_LOGIN:
            await self._login(str(event.payload.get("contactId", "")))
        elif event.type == E.EVENT_TYPE_LOGOUT:
            await self._logout()
        elif event.type == E.EVENT_TYPE_SCAN:
            await self._scan(str(event.payload.get("qrcode", "")), int(event.payload.get("status", 0) or 0))
        elif event.type == E.EVENT_TYPE_ERROR:
            log.warning("wechat: the puppet service reported an error")
        now = time.monotonic()
        if now - self._last_written > LAST_EVENT_EVERY:
            self._last_written = now
            await self._record(last_event_at=self.clock())

    async def _login(self, contact_id: str) -> None:
        self._login_seen = True
        before = self.channel.self_id
        self.channel.self_id = contact_id
        if before and contact_id != before:
            log.warning("wechat: a different account is now logged in")
        await self._record(state="logged_in", self_id=contact_id, login_at=self.clock(), qr_url="")
        if self._logged_out_told:
            self._logged_out_told = False
            await self._tell("wechat.ops.logged_in")
        self.sender.wake()  # rows held while nobody was logged in
        log.info("wechat: logged in")

    async def _logout(self) -> None:
        self.channel.self_id = ""
        await self._record(state="logged_out", self_id="")
        log.warning("wechat: the account was logged out; a QR code must be scanned")
        if not self._logged_out_told:
            self._logged_out_told = True
            await self._tell("wechat.ops.logged_out")

    async def _scan(self, qrcode: str, status: int) -> None:
        if not qrcode or status not in (WAITING, TIMEOUT):
            return
        link = qr_link(qrcode, self.settings.wechat.qr_link)
        await self._record(state="logged_out", qr_url=link)
        if qrcode != self._told_qr:
            self._told_qr = qrcode
            self._logged_out_told = True
            await self._tell("wechat.ops.scan", link=link)

    async def _back(self) -> None:
        down_for = time.monotonic() - (self._down_since or time.monotonic())
        self._down_since = None
        self._opened_at = time.monotonic()
        self._login_seen = False
        await self._record(state="logged_in" if self.channel.self_id else "connected", down_since=None)
        self.sender.wake()  # rows held while the service was away
        if self._down_told:
            self._down_told = False
            await self._tell("wechat.ops.back", minutes=f"{down_for / 60:.0f}")

    async def _lost(self, reason: str) -> None:
        if self._down_since is None:
            self._down_since, self._down_at = time.monotonic(), self.clock()
        await self._record(state="down", down_since=self._down_at)

    async def _watch_health(self) -> None:
        """Tell the ops chats once when WeChat has been down `down_alert_minutes`; after a new stream, compare the
        login: one that is not replayed at once means the account is logged out now."""
        limit = self.settings.wechat.down_alert_minutes * 60.0
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if self._down_since is not None and not self._down_told and now - self._down_since >= limit:
                self._down_told = True
                await self._tell("wechat.ops.down", minutes=f"{(now - self._down_since) / 60:.0f}")
            opened = self._down_since is None and self._opened_at
            if opened and not self._login_seen and now - self._opened_at > LOGIN_GRACE and self.channel.self_id:
                self._login_seen = True
                await self._logout()

    # -- the record and the ops chats --------------------------------------------------------------------------

    async def _record(self, **changes: Any) -> None:
        try:
            async with self.db.transaction() as session:
                await channel_status.record(session, channel=CHANNEL, now=self.clock(), **changes)
        except StoreError as error:  # the status is for people to read: the channel runs without it
            log.warning("wechat: could not record the channel's state (%s)", type(error).__name__)

    async def _tell(self, key: str, **params: Any) -> None:
        messages = ops_messages(self.settings, key, **params)
        if not messages:
            return
        try:
            async with self.db.transaction() as session:
                await outbox.enqueue(session, messages=messages, now=self.clock())
        except StoreError as error:
            log.warning("wechat: could not tell the ops chat (%s)", type(error).__name__)
            return
        self.sender.wake()
