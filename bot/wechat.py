"""The WeChat channel, the puppet service's side only: message events into the inbox and into Inbound events, photos
and files fetched, outbox rows into sends (buttons as numbered menus: WeChat has none), at a pace a personal account
can bear. What every channel shares (answers into outbox rows, notices, apologies, ops notes) is bot/channel.py; the
protocol is bot/wechat_puppet.py; keeping the connection and telling the ops chat is bot/wechat_runtime.py."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlmodel.ext.asyncio.session import AsyncSession
from wechaty_grpc.wechaty import puppet as pb

from bot.channel import Conversations, Notice, Shape
from bot.sender import Blocked, Rejected, Throttled, Unreachable
from bot.wechat_puppet import CONNECTION_ERRORS, FileTooLarge, Puppet
from handlers.dialogs import COMMAND_BUTTON, OFFER, choices_of
from handlers.events import Button, Inbound, InputKind
from handlers.i18n import t
from handlers.router import Router
from storage.db import Database
from storage.delivery import dialog_state, inbox
from storage.delivery.dialog_state import Dialog
from storage.delivery.inbox import QueuedEvent, Received
from storage.delivery.outbox import FILE_KINDS, NewMessage, QueuedMessage
from storage.errors import StoreError
from storage.models import utcnow
from storage.settings import Delivery, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "wechat"
ROOM_SUFFIX = "@chatroom"
# What a message is, by the number its payload carries. The Node puppet service sends wechaty-puppet's own numbers
# (its MessagePayload copies them unconverted), not the .proto's, which differ from 4 on; `wechat.type_numbers`
# says which a gateway sends. Anything else (voice, video, stickers, links) gets a polite line; "ignored" is what
# WeChat writes by itself (a recalled message, a group's notice, a system line): nobody said it to the bot.
KINDS = {
    "puppet": {
        0: "ignored",
        1: "attachment",
        3: "contact",
        6: "image",
        7: "text",
        8: "location",
        10: "ignored",  # a group's notice
        13: "ignored",  # a recalled message
        18: "ignored",  # a system line (wechaty-puppet 1.21 and later; Unknown before)
    },
    "proto": {
        0: "ignored",
        1: "attachment",
        3: "contact",
        5: "image",
        6: "text",
        9: "location",
        13: "ignored",
        15: "ignored",
        18: "ignored",
    },
}
FILES = ("image", "attachment")
# Accounts that are not people: official accounts (gh_...) and WeChat's own helpers.
NOT_PEOPLE = frozenset(
    {"weixin", "filehelper", "fmessage", "medianote", "floatbottle", "newsapp", "qqmail", "qmessage", "tmessage"}
)
RECEIVE_BATCH = 64  # message events committed in one transaction when they come in a burst
PAYLOAD_FETCHES = 8  # MessagePayload calls at once
RECOVER_EVERY = 5.0  # seconds: how often arrived messages whose content could not be fetched are tried again
GIVE_UP = timedelta(hours=1)  # an arrived message whose content cannot be fetched for this long is parked


class Fetch(enum.Enum):
    FAILED = "failed"  # the gateway could not give a message's content now: its arrived row stays, to try again


DOWNLOADS = 2
# The Node puppet service answers every failure of the puppet alike (UNKNOWN since puppet-service 1.0.8, INTERNAL
# before): a hiccup of the puppet, or a person who is not a friend any more. Both are tried again
# (`delivery.send_attempts`); a private chat's send that fails so is first checked against the contact's friendship
# (not a friend: blocked, like Telegram's 403).
PUPPET_FAILURES = (Status.UNKNOWN, Status.INTERNAL)
TRANSIENT = {
    Status.UNAVAILABLE,
    Status.DEADLINE_EXCEEDED,
    Status.INTERNAL,
    Status.UNKNOWN,
    Status.ABORTED,
    Status.CANCELLED,
    Status.UNAUTHENTICATED,  # the token is being changed: every call fails alike, and the ops chat hears of it
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".gif"}


def pace(settings: Settings) -> Delivery:
    """The sender's limits for a personal WeChat account: WeChat's anti-spam, not an API's 429, is what counts."""
    wechat = settings.wechat
    return settings.delivery.model_copy(
        update={
            "private_per_second": wechat.per_chat_per_second,
            "private_burst": 1,
            "overall_per_second": wechat.per_minute / 60.0,
            "group_per_minute": min(wechat.per_minute, settings.delivery.group_per_minute),
        }
    )


def render(payload: dict[str, Any]) -> str:
    """A reply as WeChat text: its buttons as a numbered list (a reply with the number or the label picks one), and
    how to share a location or a contact card where the step asks for one."""
    lines = [str(payload.get("text", ""))]
    buttons: list[list[str]] = payload.get("buttons", [])
    lines += [f"{number}. {label}" for number, (_data, label) in enumerate(buttons, start=1)]
    ask = payload.get("ask")
    if ask in ("location", "contact"):
        lines.append(t(str(payload.get("language", "zh-CN")), f"wechat.ask_{ask}"))
    return "\n".join(lines)


def offers_commands(payload: dict[str, Any]) -> bool:
    buttons: list[list[str]] = payload.get("buttons", [])
    return bool(buttons) and all(data.startswith(COMMAND_BUTTON) for data, _label in buttons)


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as output:
        output.write(content)
    os.replace(temporary, target)


def suffix_of(name: str, default: str) -> str:
    """A stored file's suffix from the name it came with (the name itself is not kept: it may name a person)."""
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else default


class WeChatTransport:
    """Outbox rows to the puppet service's sends, and its errors to the sender's four kinds of failure. While the
    account is logged out nothing is tried: rows wait without using up their attempts."""

    channel = CHANNEL

    def __init__(self, puppet: Puppet, db: Database, *, ready: Callable[[], bool], clock: Callable[[], datetime]):
        self.puppet = puppet
        self.db = db
        self.ready = ready
        self.clock = clock
        self._captioned: set[int] = set()  # file rows whose caption went out before the file failed

    async def _friend(self, row: QueuedMessage) -> bool:
        """Whether the chat's person is still a friend of the account (True when the gateway cannot say)."""
        try:
            return await self.puppet.is_friend(row.chat_key)
        except CONNECTION_ERRORS:
            return True

    def is_group(self, chat_key: str) -> bool:
        return chat_key.endswith(ROOM_SUFFIX)

    def is_limited(self, row: QueuedMessage) -> bool:
        return row.kind in ("message", "edit") or row.kind in FILE_KINDS  # an edit is a new message here

    async def send(self, row: QueuedMessage) -> str:
        if row.kind in ("clear_buttons", "commands"):
            return ""  # numbered menus in text cannot be taken back, and WeChat has no command menus
        if not self.ready():
            raise Throttled(1.0)  # not an attempt: the row waits for the service or the login
        try:
            return await self._send(row)
        except GRPCError as error:
            if error.status in PUPPET_FAILURES and not self.is_group(row.chat_key) and not await self._friend(row):
                raise Blocked("not a friend") from None
            if error.status in TRANSIENT:
                raise Unreachable(error.status.name) from None
            if error.status is Status.RESOURCE_EXHAUSTED:
                raise Throttled(30.0) from None
            if error.status is Status.PERMISSION_DENIED:
                raise Blocked(error.status.name) from None  # not a friend any more, or removed from the group
            raise Rejected(error.status.name) from None
        except CONNECTION_ERRORS as error:
            raise Unreachable(type(error).__name__) from None

    async def _send(self, row: QueuedMessage) -> str:
        payload = row.payload
        if row.kind in ("message", "edit"):
            message_id = await self.puppet.send_text(row.chat_key, render(payload))
            if offers_commands(payload):
                await self._remember_offer(row.chat_key, payload)
            return message_id
        if row.kind in FILE_KINDS:
            path = Path(str(payload["path"]))
            try:
                content = await asyncio.to_thread(path.read_bytes)
            except OSError as error:
                raise Rejected(f"file unreadable ({type(error).__name__})") from None
            caption = str(payload.get("caption", ""))
            if caption and row.id not in self._captioned:  # WeChat's files have none: the words go just before
                await self.puppet.send_text(row.chat_key, caption)
                self._captioned.add(row.id)  # a retry of the file does not say them again
            message_id = await self.puppet.send_file(row.chat_key, str(payload.get("filename") or path.name), content)
            self._captioned.discard(row.id)
            return message_id
        raise Rejected(f"unknown outbox kind {row.kind}")

    async def _remember_offer(self, chat_key: str, payload: dict[str, Any]) -> None:
        """A notice's buttons (open the case, 已阅) arrive as a numbered list: remember them as an offer, so that the
        number picks one, unless the person is in a dialog (their numbers are the dialog's)."""
        if self.is_group(chat_key):
            return
        buttons = tuple(Button(data, label) for data, label in payload["buttons"])
        try:
            async with self.db.transaction() as session:
                current = await dialog_state.peek(session, channel=CHANNEL, chat_id=chat_key, user_id=chat_key)
                if current is not None and current.flow != OFFER:
                    return
                offer = Dialog(CHANNEL, chat_key, chat_key, flow=OFFER, step=OFFER, updated_at=self.clock())
                offer.choices = choices_of(buttons)
                await dialog_state.save(session, state=offer)
        except StoreError as error:  # sent already: the person can still type the command
            log.warning("wechat: could not remember an offer (%s)", type(error).__name__)


@dataclass(frozen=True)
class Incoming:
    """A message event read (and its photo fetched), ready to be handled in the dispatcher's transaction."""

    payload: dict[str, Any]
    converted: Inbound | Notice | None


class WeChatChannel:
    """Receives message events into the inbox, and is the dispatcher's handler of them (bot.dispatcher.EventHandler),
    as bot/telegram.TelegramChannel is for Telegram."""

    def __init__(
        self,
        puppet: Puppet,
        db: Database,
        router: Router,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.puppet = puppet
        self.db = db
        self.settings = settings
        self.clock = clock
        wechat = settings.wechat
        ops_chat = wechat.ops_chat or None
        self.conversations = Conversations(
            CHANNEL, router, settings, Shape(chunk=wechat.chunk), ops_chat=ops_chat, clock=clock
        )
        self.self_id = ""  # the logged-in account: its own messages are not read
        self.transport = WeChatTransport(puppet, db, ready=lambda: bool(self.self_id), clock=clock)
        self.files = Path(wechat.files_dir) / CHANNEL
        self.max_bytes = wechat.max_file_mb * 1024 * 1024
        self.groups = frozenset(wechat.groups)
        self.received: Callable[[], None] = lambda: None  # wakes the dispatcher
        self.queued: Callable[[], None] = lambda: None  # wakes the sender
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._in_flight = 0  # ids taken off the queue, not yet stored
        self._fetches = asyncio.Semaphore(PAYLOAD_FETCHES)
        self._downloads = asyncio.Semaphore(DOWNLOADS)

    # -- receiving ---------------------------------------------------------------------------------------------

    def message_arrived(self, message_id: str) -> None:
        """A message event's id, from the event stream: its payload is fetched and stored by `store_arrivals`."""
        if message_id:
            self._pending.put_nowait(message_id)

    @property
    def arrivals_waiting(self) -> int:
        return self._pending.qsize() + self._in_flight

    async def store_arrivals(self) -> None:
        """Store each message event's id at once (the gateway keeps no history and never sends an event again),
        then fetch the messages' contents and make them pending events, a burst in two transactions. A content
        that cannot be fetched now is tried again every RECOVER_EVERY seconds, and so are the ids a stopped process
        left; after GIVE_UP the row is parked."""
        recovered_at = 0.0
        while True:
            ids: list[str] = []
            with contextlib.suppress(TimeoutError):
                ids.append(await asyncio.wait_for(self._pending.get(), RECOVER_EVERY))
            while ids and len(ids) < RECEIVE_BATCH and not self._pending.empty():
                ids.append(self._pending.get_nowait())
            self._in_flight = len(ids)
            try:
                rows = await self._arrive(ids)
                if time.monotonic() - recovered_at >= RECOVER_EVERY:
                    recovered_at = time.monotonic()
                    rows = {**await self._left_over(), **rows}
                if rows:
                    await self._fill(rows)
            finally:
                self._in_flight = 0

    async def _arrive(self, ids: list[str]) -> dict[str, int]:
        """The new ids stored as arrived (a duplicate event is none of them), by id."""
        if not ids:
            return {}

        async def write(session: AsyncSession) -> dict[str, int]:
            return await inbox.arrive(session, channel=CHANNEL, event_keys=ids, now=self.clock())

        return await self._stored(write)

    async def _left_over(self) -> dict[str, int]:
        """Arrived ids whose content is still to fetch: a fetch failed, or a process stopped before it."""
        before = self.clock() - timedelta(seconds=RECOVER_EVERY)

        async def read(session: AsyncSession) -> dict[str, int]:
            return await inbox.arrived(session, channel=CHANNEL, before=before, limit=RECEIVE_BATCH)

        return await self._stored(read)

    async def _fill(self, rows: dict[str, int]) -> None:
        read = await asyncio.gather(*(self._read(message_id) for message_id in rows))
        events = {row_id: event for row_id, event in zip(rows.values(), read, strict=True) if event is not Fetch.FAILED}
        now = self.clock()

        async def write(session: AsyncSession) -> None:
            await inbox.fill(session, events=events, now=now, give_up_before=now - GIVE_UP)

        await self._stored(write)
        if any(event is not None for event in events.values()):
            self.received()

    async def _stored(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A transaction of the arrivals, tried until the store takes it: what the gateway delivered exists nowhere
        else."""
        pause = 0.5
        while True:
            try:
                async with self.db.transaction() as session:
                    return await work(session)
            except StoreError:
                log.warning("wechat: could not store message events; trying again in %.1f s", pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _read(self, message_id: str) -> Received | Fetch | None:
        """The message as the inbox keeps it; None for what is not for the bot (its own, WeChat's, a group's talk
        that does not mention it); Fetch.FAILED when the gateway cannot say now."""
        try:
            async with self._fetches:
                message = await self.puppet.message(message_id)
            return self.essentials(message)
        except CONNECTION_ERRORS as error:
            log.warning("wechat: message %s could not be read (%s); trying again", message_id, type(error).__name__)
            return Fetch.FAILED
        except Exception as error:  # one odd payload must not stop the others from being stored
            log.error("wechat: message %s could not be read (%s); it is dropped", message_id, type(error).__name__)
            return None

    def essentials(self, message: pb.MessagePayloadResponse) -> Received | None:
        """What the inbox keeps of a message: ids, its kind, a text's words; never names or what a file holds."""
        talker = message.talker_id
        kind = KINDS[self.settings.wechat.type_numbers].get(int(message.type), "other")
        if (
            not talker
            or talker == self.self_id
            or kind == "ignored"
            or talker in NOT_PEOPLE
            or talker.startswith("gh_")
        ):
            return None
        room = message.room_id
        mentioned = bool(self.self_id) and self.self_id in message.mention_ids
        if room and room not in self.groups and not mentioned:
            return None
        kept: dict[str, Any] = {"id": message.id, "type": kind, "talker": talker}
        if room:
            kept["room"] = room
            kept["mentioned"] = mentioned
        elif kind == "text":
            kept["text"] = message.text
        elif kind == "attachment":
            kept["suffix"] = suffix_of(message.filename, ".bin")
        sent = message.receive_time if message.is_set("receive_time") else None
        at = sent.astimezone(UTC) if isinstance(sent, datetime) and sent.year > 2000 else None
        return Received(message.id, room or talker, kept, at)

    # -- handling ----------------------------------------------------------------------------------------------

    def fetches(self, event: QueuedEvent) -> bool:
        """A photo, a file, a location or a contact card in a private chat is read from the gateway (a photo or a
        file only when a dialog wants it) before it is handled, apart from the batch."""
        # A location or a contact card is a call to the gateway too: none of them holds up other chats' events.
        return "room" not in event.payload and event.payload.get("type") in (*FILES, "location", "contact")

    async def prepare(self, event: QueuedEvent) -> Incoming:
        payload = event.payload
        return Incoming(payload, await self.inbound_for(event, payload))

    async def preload(self, session: AsyncSession, events: list[tuple[QueuedEvent, Incoming]]) -> None:
        answered = [
            (event, incoming.converted) for event, incoming in events if isinstance(incoming.converted, Inbound)
        ]
        await self.conversations.preload(session, answered)

    async def apply(self, session: AsyncSession, event: QueuedEvent, incoming: Incoming) -> list[NewMessage]:
        converted = incoming.converted
        if isinstance(converted, Inbound):
            return await self.conversations.answer(session, event, converted)
        if isinstance(converted, Notice):
            talker = str(incoming.payload.get("talker", ""))
            return await self.conversations.notice(session, event, converted, user_id=talker, hint=None)
        return []

    def applied(self, events: list[tuple[QueuedEvent, Incoming]]) -> None:
        self.queued()

    async def inbound_for(self, event: QueuedEvent, payload: dict[str, Any]) -> Inbound | Notice | None:
        """The channel-neutral event for a stored message, or a notice the channel answers itself."""
        talker = str(payload.get("talker", ""))
        if not talker:
            return None
        if "room" in payload:
            # Whatever it shows (a household, a case, a dialog's step) would show one person's records to the group;
            # and in a group read in full (wechat.groups) only what is said to the bot is answered.
            return Notice("wechat.private_only", group=True) if payload.get("mentioned") else None
        kind = payload.get("type")
        message_id = str(payload.get("id", event.event_key))

        def inbound(**fields: Any) -> Inbound:
            return Inbound(channel=CHANNEL, chat_id=talker, user_id=talker, event_id=event.event_key, **fields)

        if kind == "text":
            return inbound(kind="text", text=str(payload.get("text", "")))
        if kind == "location":
            location = await self.puppet.location(message_id)
            return inbound(kind="location", latitude=location.latitude, longitude=location.longitude)
        if kind == "contact":
            phone = await self.puppet.shared_contact_phone(message_id)
            return inbound(kind="contact", phone=phone) if phone else Notice("wechat.card_without_phone")
        if kind == "image":
            return await self._file(event, inbound, talker, message_id, "photo", ".jpg")
        if kind == "attachment":
            suffix = str(payload.get("suffix", ".bin"))
            as_kind: InputKind = "photo" if suffix in IMAGE_SUFFIXES else "document"
            return await self._file(event, inbound, talker, message_id, as_kind, suffix)
        return Notice("wechat.unsupported")

    async def _file(
        self,
        event: QueuedEvent,
        inbound: Callable[..., Inbound],
        talker: str,
        message_id: str,
        kind: InputKind,
        suffix: str,
    ) -> Inbound | Notice:
        """A photo or a file, fetched only when the person's dialog takes one (else answered without it)."""
        async with self.db.read() as session:
            wanted = await self.conversations.wants(session, event, user_id=talker, kind=kind)
        if not wanted:
            return inbound(kind="photo") if kind == "photo" else Notice("wechat.not_a_photo")
        limit_mb = self.settings.wechat.max_file_mb
        try:
            async with self._downloads:
                if event.payload.get("type") == "image":
                    content, _name = await self.puppet.image(message_id, self.max_bytes)
                else:
                    content, _name = await self.puppet.file(message_id, self.max_bytes)
        except FileTooLarge as large:
            return Notice("wechat.file_too_large", {"size": f"{large.size / 1024 / 1024:.1f}", "limit": limit_mb})
        # Named by what it holds: a retry or the same photo again is stored once.
        target = self.files / f"{hashlib.sha256(content).hexdigest()[:32]}{suffix}"
        if not await asyncio.to_thread(target.exists):
            await asyncio.to_thread(_write_atomically, target, content)
        reference = f"file:{target.resolve()}"
        if kind == "document":
            return inbound(kind="document", document=reference)
        return inbound(kind="photo", photo=reference)

    # -- when things go wrong ----------------------------------------------------------------------------------

    async def parked(self, session: AsyncSession, event: QueuedEvent) -> None:
        talker = event.payload.get("talker") if isinstance(event.payload, dict) else None
        private = isinstance(talker, str) and talker and "room" not in event.payload
        await self.conversations.parked(session, event, user_id=str(talker) if private else None, hint=None)
        self.queued()

    async def report_failure(self, session: AsyncSession, row: QueuedMessage, error: str) -> None:
        await self.conversations.report_failure(session, row, error)
