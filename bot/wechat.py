"""The WeChat channel, the puppet service's side only: message events into the inbox and into Inbound events, photos
and files fetched, outbox rows into sends (buttons as numbered menus: WeChat has none), at a pace a personal account
can bear. What every channel shares (answers into outbox rows, notices, apologies, ops notes) is bot/channel.py; the
protocol is bot/wechat_puppet.py; keeping the connection and telling the ops chat is bot/wechat_runtime.py."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
CHANNEL = "wechat"
ROOM_SUFFIX = "@chatroom"
M = pb.MessageType
# Message types a person sends that a dialog can read; the rest (voice, video, stickers, links) get a polite line.
READ = {
    M.MESSAGE_TYPE_TEXT,
    M.MESSAGE_TYPE_IMAGE,
    M.MESSAGE_TYPE_ATTACHMENT,
    M.MESSAGE_TYPE_LOCATION,
    M.MESSAGE_TYPE_CONTACT,
}
# What WeChat writes by itself into a chat (a recalled message, "X joined the group"): nobody said it to the bot.
IGNORED = {M.MESSAGE_TYPE_SYSTEM, M.MESSAGE_TYPE_RECALLED, M.MESSAGE_TYPE_GROUP_NOTE}
RECEIVE_BATCH = 64  # message events committed in one transaction when they come in a burst
PAYLOAD_FETCHES = 8  # MessagePayload calls at once
PAYLOAD_ATTEMPTS = 3
DOWNLOADS = 2
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
            if caption:  # a file has no caption on WeChat: the words go just before it
                await self.puppet.send_text(row.chat_key, caption)
            return await self.puppet.send_file(row.chat_key, str(payload.get("filename") or path.name), content)
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
        self.stored = 0  # message events committed to the inbox (new ones)
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
        """Fetch the payloads of message events and commit them to the inbox, a burst in one transaction. The
        service keeps no history: an event is stored before anything is done with it, and a commit that fails is
        tried again (the service keeps payloads for a while)."""
        while True:
            ids = [await self._pending.get()]
            while len(ids) < RECEIVE_BATCH and not self._pending.empty():
                ids.append(self._pending.get_nowait())
            self._in_flight = len(ids)
            read = await asyncio.gather(*(self._read(message_id) for message_id in ids))
            events = [event for event in read if event is not None]
            pause = 0.5
            while events:
                try:
                    async with self.db.transaction() as session:
                        new = await inbox.receive(session, channel=CHANNEL, events=events, now=self.clock())
                except StoreError:
                    log.warning("wechat: could not store %s message events; trying again in %.1f s", len(events), pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 30.0)
                    continue
                self.stored += len(new)
                if new:
                    self.received()
                break
            self._in_flight = 0

    async def _read(self, message_id: str) -> Received | None:
        """The message as the inbox keeps it, or None for what is not for the bot (its own, WeChat's, a group's
        talk that does not mention it)."""
        for attempt in range(PAYLOAD_ATTEMPTS):
            try:
                async with self._fetches:
                    message = await self.puppet.message(message_id)
                break
            except CONNECTION_ERRORS as error:
                if attempt + 1 == PAYLOAD_ATTEMPTS:
                    log.error("wechat: message %s could not be read (%s); it is lost", message_id, type(error).__name__)
                    return None
                await asyncio.sleep(0.5 * 2**attempt)
        try:
            return self.essentials(message)
        except Exception as error:  # one odd payload must not stop the others from being stored
            log.error("wechat: message %s could not be read (%s); it is lost", message_id, type(error).__name__)
            return None

    def essentials(self, message: pb.MessagePayloadResponse) -> Received | None:
        """What the inbox keeps of a message: ids, its type, a text's words; never names or what a file holds."""
        if not message.talker_id or message.talker_id == self.self_id or message.type in IGNORED:
            return None
        room = message.room_id
        mentioned = bool(self.self_id) and self.self_id in message.mention_ids
        if room and room not in self.groups and not mentioned:
            return None
        kept: dict[str, Any] = {"id": message.id, "type": int(message.type), "talker": message.talker_id}
        if room:
            kept["room"] = room
        elif message.type == M.MESSAGE_TYPE_TEXT:
            kept["text"] = message.text
        elif message.type == M.MESSAGE_TYPE_ATTACHMENT:
            kept["suffix"] = suffix_of(message.filename, ".bin")
        sent = message.receive_time if message.is_set("receive_time") else None
        at = sent.astimezone(UTC) if isinstance(sent, datetime) and sent.year > 2000 else None
        return Received(message.id, room or message.talker_id, kept, at)

    # -- handling ----------------------------------------------------------------------------------------------

    def fetches(self, event: QueuedEvent) -> bool:
        """A photo or a file in a private chat is fetched (when a dialog wants it) before it is handled."""
        kind = event.payload.get("type")
        return "room" not in event.payload and kind in (M.MESSAGE_TYPE_IMAGE, M.MESSAGE_TYPE_ATTACHMENT)

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
            # Whatever it shows (a household, a case, a dialog's step) would show one person's records to the group.
            return Notice("wechat.private_only", group=True)
        kind = payload.get("type")
        message_id = str(payload.get("id", event.event_key))

        def inbound(**fields: Any) -> Inbound:
            return Inbound(channel=CHANNEL, chat_id=talker, user_id=talker, event_id=event.event_key, **fields)

        if kind == M.MESSAGE_TYPE_TEXT:
            return inbound(kind="text", text=str(payload.get("text", "")))
        if kind == M.MESSAGE_TYPE_LOCATION:
            location = await self.puppet.location(message_id)
            return inbound(kind="location", latitude=location.latitude, longitude=location.longitude)
        if kind == M.MESSAGE_TYPE_CONTACT:
            phone = await self.puppet.shared_contact_phone(message_id)
            return inbound(kind="contact", phone=phone) if phone else Notice("wechat.card_without_phone")
        if kind == M.MESSAGE_TYPE_IMAGE:
            return await self._file(event, inbound, talker, message_id, "photo", ".jpg")
        if kind == M.MESSAGE_TYPE_ATTACHMENT:
            suffix = str(payload.get("suffix", ".bin"))
            return await self._file(
                event, inbound, talker, message_id, "photo" if suffix in IMAGE_SUFFIXES else "document", suffix
            )
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
                if event.payload.get("type") == M.MESSAGE_TYPE_IMAGE:
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
