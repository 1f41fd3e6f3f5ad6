"""The Telegram channel, the Bot API's side only: updates into the inbox and into Inbound events, files fetched,
outbox rows into Bot API calls, menus as BotCommands, and the two ways updates arrive (our own getUpdates loop, or a
webhook). What every channel shares (answers into outbox rows, notices, apologies, ops notes) is bot/channel.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import mimetypes
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from bot.channel import Conversations, Notice, Shape
from bot.sender import Blocked, Rejected, Throttled, Unreachable
from bot.telegram_updates import (
    ALLOWED_UPDATES,
    added_to_group,
    chat_key_of,
    chat_of,
    essentials,
    pressed_message_id,
    sender_of,
    sent_at,
)
from handlers import commands
from handlers.events import Inbound, InputKind
from handlers.i18n import t
from handlers.inputs import utf16_length
from handlers.router import Router
from storage.db import Database
from storage.delivery import inbox
from storage.delivery.inbox import QueuedEvent, Received
from storage.delivery.outbox import FILE_KINDS, NewMessage, QueuedMessage
from storage.errors import StoreError
from storage.models import utcnow
from storage.policy import Role
from storage.records import people
from storage.settings import LANGUAGES, Settings

log = logging.getLogger(__name__)
# The polling loop asks for getUpdates through do_api_request to receive the updates as raw JSON (what the inbox
# stores). Bot.get_updates would parse them first, and one update it cannot parse would stop polling for good,
# after logging the whole batch, personal data included, at CRITICAL. The sender sends and edits the same way: of
# the Message that comes back it needs only the id, and building the object cost more than the request. Sends and
# edits are named in lower case (the Bot API's method names ignore case): PTB warns at every do_api_request of a
# name it has a method for, and the warning machinery cost as much as the call's parameters. getUpdates keeps its
# name, by which PTB gives it a connection pool of its own (a long poll must not wait behind sends), and its
# warning, once per poll, is silenced.
GET_UPDATES, SEND_MESSAGE, EDIT_MESSAGE_TEXT = "getUpdates", "sendmessage", "editmessagetext"
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CALLBACK_LIMIT = 64  # bytes of callback data Telegram accepts
# A message's length as Telegram counts it, in UTF-16 code units: 4096 at most, and an edit must fit in one.
SHAPE = Shape(chunk=3500, measure=utf16_length, editable_buttons=True)
DOWNLOADS = 4  # files fetched at once: downloads share the Bot API connection pool with the sender
# What a message in a group says to the bot (answered with the private-chat line); edits, stickers, people joining
# and leaving are the group's own business.
SAID = ("text", "caption", "photo", "document", "location", "contact")
NO_PREVIEW = {"is_disabled": True}  # LinkPreviewOptions: what people type is never turned into a preview
# Telegram's language codes for the default-scope menus, and the catalog each one reads.
MENU_LANGUAGES = {"zh": "zh-CN", "en": "en"}


def _seconds(error: RetryAfter) -> float:
    retry_after = error.retry_after  # an int or a timedelta, depending on PTB_TIMEDELTA
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)


def webhook_secret(token: str) -> str:
    """The secret Telegram sends with each webhook call, derived from the token, so that every worker behind the
    webhook knows it without being told, and nobody without the token can guess it."""
    return hmac.new(token.encode(), b"lianxin webhook", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Incoming:
    """An update read and its photo fetched, ready to be handled in the dispatcher's transaction."""

    update: dict[str, Any]
    converted: Inbound | Notice | None


def escape(text: str) -> str:
    """Everything the bot says is sent as HTML; the texts are plain, so all of it is escaped, user data included."""
    return html.escape(text, quote=False)


def callback_data(data: str, index: int) -> str:
    """The button's own data when Telegram can carry it, else its number, which every dialog step accepts."""
    return data if len(data.encode()) <= CALLBACK_LIMIT else f"#{index + 1}"


def button_rows(labels: list[str]) -> list[list[int]]:
    """Short labels side by side, long ones (addresses, names with notes) one per row; returns index rows."""
    longest = max((len(label) for label in labels), default=0)
    per_row = 3 if longest <= 6 else 2 if longest <= 14 else 1
    indexes = list(range(len(labels)))
    return [indexes[start : start + per_row] for start in range(0, len(indexes), per_row)]


def reply_markup(payload: dict[str, Any], *, editing: bool = False) -> dict[str, Any] | None:
    """Inline buttons for choices; a reply keyboard with a share button when the step asks for a location or a
    contact (its choices become keyboard buttons whose label is the answer); otherwise remove any reply keyboard.

    As the Bot API's JSON (InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove): PTB sends a dict as
    it is, and building its objects for every message cost a quarter of the send."""
    buttons: list[list[str]] = payload.get("buttons", [])
    labels = [label for _data, label in buttons]
    ask = payload.get("ask")
    if ask in ("location", "contact") and not editing:
        language = str(payload.get("language", "zh-CN"))
        share = {"text": t(language, f"telegram.share_{ask}"), f"request_{ask}": True}
        keyboard = [[share]] + [[{"text": labels[i]} for i in row] for row in button_rows(labels)]
        return {"keyboard": keyboard, "resize_keyboard": True, "one_time_keyboard": True}
    if buttons:
        rows = [
            [{"text": labels[i], "callback_data": callback_data(buttons[i][0], i)} for i in row]
            for row in button_rows(labels)
        ]
        return {"inline_keyboard": rows}
    return None if editing else {"remove_keyboard": True}


def bot_commands(role: Role, language: str) -> list[BotCommand]:
    """A role's command menu (from the command table) as Telegram's BotCommands."""
    return [BotCommand(name, description) for name, description in commands.menu(role, language)]


def _write_atomically(target: Path, content: bytes) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a photo, and two
    downloads of the same file do not trip over each other."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as output:
        output.write(content)
    os.replace(temporary, target)


class TelegramTransport:
    """Outbox rows to Bot API calls, and the Bot API's errors to the sender's four kinds of failure."""

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def is_group(self, chat_key: str) -> bool:
        return chat_key.startswith("-")

    def is_limited(self, row: QueuedMessage) -> bool:
        return row.kind == "message"  # Telegram's flood limits count messages sent; edits and menus are free

    async def send(self, row: QueuedMessage) -> str:
        try:
            return await self._call(row)
        except RetryAfter as error:
            raise Throttled(_seconds(error)) from None
        except Forbidden as error:
            raise Blocked(str(error)) from None
        except BadRequest as error:  # a NetworkError subclass in PTB, so it is caught first
            raise Rejected(str(error)) from None
        except InvalidToken as error:
            raise Rejected(type(error).__name__) from None
        except NetworkError as error:  # time-outs, dropped connections, 5xx
            raise Unreachable(str(error) or type(error).__name__) from None
        except TelegramError as error:
            raise Rejected(str(error)) from None

    async def _call(self, row: QueuedMessage) -> str:
        payload = row.payload
        chat_id = int(row.chat_key)
        if row.kind == "message":
            return await self._send_message(chat_id, payload)
        if row.kind == "edit":
            try:
                edited = await self._api(
                    EDIT_MESSAGE_TEXT,
                    chat_id=chat_id,
                    message_id=int(payload["message_id"]),
                    text=escape(payload["text"]),
                    reply_markup=reply_markup(payload, editing=True),
                )
            except BadRequest as error:
                if "not modified" in error.message:  # pressed twice: what it should show, it shows
                    return str(payload["message_id"])
                if "can't be edited" in error.message or "not found" in error.message:
                    return await self._send_message(chat_id, payload)
                raise
            return str(edited["message_id"]) if isinstance(edited, dict) else str(payload["message_id"])
        if row.kind == "clear_buttons":
            if not payload.get("message_id"):
                return ""  # the message it would clear was never sent
            with contextlib.suppress(BadRequest):  # already without buttons, or gone
                await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(payload["message_id"]))
            return ""
        if row.kind in FILE_KINDS:
            return await self._send_file(chat_id, row.kind, payload)
        if row.kind == "commands":
            role = Role(str(payload["role"])) if payload["role"] in tuple(Role) else Role.RESIDENT
            await self.bot.set_my_commands(
                bot_commands(role, str(payload["language"])), scope=BotCommandScopeChat(chat_id)
            )
            return ""
        raise Rejected(f"unknown outbox kind {row.kind}")

    async def _send_file(self, chat_id: int, kind: str, payload: dict[str, Any]) -> str:
        """A chart or a spreadsheet the scheduler made: read from disk when it is sent (a file gone meanwhile is
        refused, not retried)."""
        path = Path(str(payload["path"]))
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as error:
            raise Rejected(f"file unreadable ({type(error).__name__})") from None
        caption = escape(str(payload.get("caption", ""))) or None
        filename = str(payload.get("filename") or path.name)
        send = self.bot.send_photo if kind == "photo" else self.bot.send_document
        message = await send(chat_id, content, caption=caption, parse_mode=ParseMode.HTML, filename=filename)
        return str(message.message_id)

    async def _send_message(self, chat_id: int, payload: dict[str, Any]) -> str:
        message = await self._api(
            SEND_MESSAGE, chat_id=chat_id, text=escape(payload["text"]), reply_markup=reply_markup(payload)
        )
        return str(message["message_id"])

    async def _api(self, endpoint: str, **arguments: Any) -> Any:
        """A text method as HTML without link previews; the raw JSON result (PTB still serialises the markup and
        turns error answers into its exceptions)."""
        arguments.update(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
        api_kwargs = {name: value for name, value in arguments.items() if value is not None}
        return await self.bot.do_api_request(endpoint, api_kwargs=api_kwargs)


class TelegramChannel:
    """Receives updates into the inbox, and is the dispatcher's handler of them (bot.dispatcher.EventHandler): in the
    dispatcher's transaction an update is marked handled, the router answers it and every reply becomes an outbox
    row, so a crash at any point leaves it either wholly done or not at all."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        router: Router,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        self.db = db
        self.settings = settings
        self.clock = clock
        ops_chat = str(settings.telegram.ops_chat_id) if settings.telegram.ops_chat_id else None
        self.conversations = Conversations(CHANNEL, router, settings, SHAPE, ops_chat=ops_chat, clock=clock)
        self.transport = TelegramTransport(bot)
        self.files = Path(settings.telegram.files_dir) / CHANNEL
        self.max_bytes = settings.telegram.max_file_mb * 1024 * 1024
        self.received: Callable[[], None] = lambda: None  # wakes the dispatcher
        self.queued: Callable[[], None] = lambda: None  # wakes the sender
        self._stopping = asyncio.Event()
        self._answers: set[asyncio.Task[None]] = set()
        self._downloads = asyncio.Semaphore(DOWNLOADS)

    # -- receiving ---------------------------------------------------------------------------------------------

    async def receive(self, updates: list[dict[str, Any]]) -> int:
        """Commit updates to the inbox (a redelivered one changes nothing); returns how many were new."""
        events = [
            # Update ids count per bot: a new token starts again from low numbers.
            Received(f"{self.bot.id}:{update['update_id']}", chat_key_of(update), essentials(update), sent_at(update))
            for update in updates
        ]
        async with self.db.transaction() as session:
            new = await inbox.receive(session, channel=CHANNEL, events=events, now=self.clock())
        if new:
            self.received()
        return len(new)

    async def poll(self) -> None:
        """Our own getUpdates loop: the offset moves past an update only after the update is committed, so an
        update that was never stored is delivered again by Telegram after a crash."""
        with contextlib.suppress(TelegramError):
            await self.bot.delete_webhook()  # polling is refused while a webhook is set
        offset: int | None = None
        pause = 1.0
        while not self._stopping.is_set():
            timeout = self.settings.telegram.poll_timeout_seconds
            try:
                updates = await self.bot.do_api_request(
                    GET_UPDATES,
                    api_kwargs={"offset": offset, "timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)},
                    read_timeout=timeout + self.settings.telegram.request_timeout_seconds,
                )
            except InvalidToken:
                log.error("telegram rejected the token; check LIANXIN_TELEGRAM_TOKEN")
                raise
            except TelegramError as error:  # Telegram is away, busy, or another instance polls
                if self._stopping.is_set():
                    return
                wait = pause
                if isinstance(error, RetryAfter):
                    wait = max(pause, _seconds(error))
                kind = "another instance is polling" if isinstance(error, Conflict) else type(error).__name__
                log.warning("getUpdates failed (%s); trying again in %.0f s", kind, wait)
                await self._pause(wait)
                pause = min(pause * 2, 30.0)
                continue
            pause = 1.0
            updates = [update for update in updates or [] if isinstance(update, dict) and "update_id" in update]
            if not updates:
                continue
            try:
                await self.receive(updates)
            except StoreError:  # not stored, so the offset stays: Telegram hands them out again
                log.warning("could not store %s updates; asking for them again in %.0f s", len(updates), pause)
                await self._pause(pause)
                pause = min(pause * 2, 30.0)
                continue
            offset = max(int(update["update_id"]) for update in updates) + 1

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def stop(self) -> None:
        self._stopping.set()

    async def finish_answers(self) -> None:
        if self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)

    def webhook_app(self, path: str, secret: str) -> web.Application:
        """The webhook endpoint: 403 without the secret (compared in constant time), 400 for what is not an
        update, 200 only after the update is committed, so Telegram redelivers anything we did not store."""
        expected = secret.encode()

        async def endpoint(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=403, text="forbidden")
            try:
                update = await request.json()
            except ValueError:
                return web.Response(status=400, text="not JSON")
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return web.Response(status=400, text="not an update")
            await self.receive([update])
            return web.Response(text="ok")

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(path, endpoint)
        return app

    # -- handling ----------------------------------------------------------------------------------------------

    def fetches(self, event: QueuedEvent) -> bool:
        """A photo or a file sent in a private chat is fetched before it is handled (in a group it is not read)."""
        message = event.payload.get("message")
        return (
            isinstance(message, dict)
            and ("photo" in message or "document" in message)
            and (message.get("chat") or {}).get("type") == "private"
        )

    async def prepare(self, event: QueuedEvent) -> Incoming:
        """Read the update and fetch its photo, before the transaction (a download must not hold the store); a
        photo is fetched only when the person's dialog asks for one (see Conversations.wants)."""
        update = event.payload
        fetch = False
        if self.fetches(event):
            user = sender_of(update) or {}
            async with self.db.read() as session:
                kind = file_kind(update.get("message") or {})
                fetch = await self.conversations.wants(session, event, user_id=str(user.get("id", "")), kind=kind)
        return Incoming(update, await self.inbound_for(update, event.event_key, fetch=fetch))

    async def preload(self, session: AsyncSession, events: list[tuple[QueuedEvent, Incoming]]) -> None:
        answered = [
            (event, incoming.converted) for event, incoming in events if isinstance(incoming.converted, Inbound)
        ]
        await self.conversations.preload(session, answered)

    async def apply(self, session: AsyncSession, event: QueuedEvent, incoming: Incoming) -> list[NewMessage]:
        """Handle an update inside the dispatcher's transaction (the event is taken already): the router's
        answer, and every reply as a message to send."""
        update, converted = incoming.update, incoming.converted
        pressed = pressed_message_id(update)
        pressed_id = None if pressed is None else str(pressed)
        if isinstance(converted, Inbound):
            return await self.conversations.answer(session, event, converted, pressed=pressed_id)
        if isinstance(converted, Notice):
            user = sender_of(update) or {}
            return await self.conversations.notice(
                session,
                event,
                converted,
                user_id=str(user.get("id", "")),
                hint=user.get("language_code"),
                pressed=pressed_id,
            )
        if "my_chat_member" in update:
            await self._membership(session, update["my_chat_member"], self.clock())
        return []

    def applied(self, events: list[tuple[QueuedEvent, Incoming]]) -> None:
        """After the commit: wake the sender, and stop the spinners of the pressed buttons."""
        self.queued()
        for _event, incoming in events:
            query = incoming.update.get("callback_query")
            if isinstance(query, dict) and "id" in query:
                self._answer(str(query["id"]))

    def _answer(self, query_id: str) -> None:
        """Stop the pressed button's spinner. Not an outbox row: it is no message, it is worth nothing after a few
        seconds, and if it is lost the spinner stops by itself."""

        async def answer() -> None:
            try:
                await self.bot.answer_callback_query(query_id)
            except TelegramError as error:
                log.info("could not answer a button press (%s)", type(error).__name__)

        task = asyncio.create_task(answer())
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def inbound_for(
        self, update: dict[str, Any], event_key: str, *, fetch: bool = True
    ) -> Inbound | Notice | None:
        """The channel-neutral event for an update (the Bot API's JSON), a notice the channel answers itself, or
        None to ignore it. Read from the JSON directly: building PTB's objects for it cost more than the rest of
        the translation."""
        user = sender_of(update)
        chat = chat_of(update)
        if user is None or chat is None or user.get("is_bot"):
            return None
        if chat.get("type") != "private":
            return self._in_group(update)
        if chat.get("id") != user.get("id"):  # in a private chat only its owner can write or press: a forgery
            return None

        def event(**fields: Any) -> Inbound:
            return Inbound(
                channel=CHANNEL,
                chat_id=str(chat["id"]),
                user_id=str(user["id"]),
                event_id=event_key,
                language=user.get("language_code"),
                **fields,
            )

        query = update.get("callback_query")
        if query is not None:
            data = str(query.get("data") or "")
            if data.startswith("#") and data[1:].isdigit():  # a button whose data was too long to carry
                return event(kind="text", text=data[1:])
            return event(kind="button", data=data)
        message = update.get("message")
        if message is None:
            edited = update.get("edited_message")
            # A live location moves by edits of its message: those are no corrections.
            if edited is not None and "location" not in edited:
                return Notice("telegram.edited")
            return None  # the bot's membership of the chat: see _membership
        if message.get("text") is not None:
            return event(kind="text", text=str(message["text"]))
        if message.get("location") is not None:
            location = message["location"]
            return event(kind="location", latitude=float(location["latitude"]), longitude=float(location["longitude"]))
        if message.get("contact") is not None:
            return event(kind="contact", phone=str(message["contact"]["phone_number"]))
        caption = message.get("caption")
        if message.get("photo"):
            largest = message["photo"][-1]
            if not fetch:
                return event(kind="photo", text=caption or "")  # not asked for: answered without fetching it
            return await self._fetch(event, largest, ".jpg", caption)
        document = message.get("document")
        if document is not None:
            mime_type = str(document.get("mime_type") or "")
            if not mime_type.startswith("image/"):
                if not fetch:  # no step asks for a file: say what can be received
                    return Notice("telegram.not_a_photo")
                return await self._fetch(event, document, document_suffix(document), caption, kind="document")
            if not fetch:
                return event(kind="photo", text=caption or "")  # not asked for: answered without fetching it
            suffix = {"image/png": ".png", "image/webp": ".webp", "image/heic": ".heic"}.get(mime_type, ".jpg")
            return await self._fetch(event, document, suffix, caption)
        return Notice("telegram.unsupported")

    def _in_group(self, update: dict[str, Any]) -> Notice | None:
        """In a group or a channel the bot says one fixed line and does nothing else, whoever writes: any answer
        there (a household found, a progress, a dialog's step) would show one person's records to the whole group."""
        message = update.get("message")
        change = update.get("my_chat_member")
        if (
            "callback_query" in update
            or (message is not None and any(key in message for key in SAID))
            or (change is not None and added_to_group(change))
        ):
            return Notice("telegram.private_only", {"bot": self.settings.general.bot_username}, group=True)
        return None

    async def _fetch(
        self,
        event: Callable[..., Inbound],
        file: dict[str, Any],
        suffix: str,
        caption: str | None,
        *,
        kind: InputKind = "photo",
    ) -> Inbound | Notice:
        limit_mb = self.settings.telegram.max_file_mb
        size = file.get("file_size")
        if size is not None and size > self.max_bytes:
            return Notice("telegram.file_too_large", {"size": f"{size / 1024 / 1024:.1f}", "limit": limit_mb})
        target = self.files / f"{file['file_unique_id']}{suffix}"
        if not await asyncio.to_thread(target.exists):  # the same file again (a retry, a resend) is fetched once
            try:
                async with self._downloads:
                    found = await self.bot.get_file(str(file["file_id"]))
                    content = await found.download_as_bytearray()
            except BadRequest as error:
                if "too big" in error.message:
                    return Notice("telegram.file_too_large", {"size": f">{limit_mb}", "limit": limit_mb})
                raise
            if len(content) > self.max_bytes:
                return Notice(
                    "telegram.file_too_large", {"size": f"{len(content) / 1024 / 1024:.1f}", "limit": limit_mb}
                )
            await asyncio.to_thread(_write_atomically, target, bytes(content))
        reference = f"file:{target.resolve()}"
        if kind == "document":
            return event(kind="document", document=reference, text=caption or "")
        return event(kind="photo", photo=reference, text=caption or "")

    async def _membership(self, session: AsyncSession, change: dict[str, Any], now: datetime) -> None:
        """The person blocked the bot (kicked) or came back (member): keep the identity's flag true."""
        if change["chat"]["type"] != "private":
            return
        blocked = change["new_chat_member"]["status"] == "kicked"
        await people.mark_blocked(
            session, channel=CHANNEL, external_id=str(change["from"]["id"]), at=now if blocked else None
        )

    # -- when things go wrong ----------------------------------------------------------------------------------

    async def parked(self, session: AsyncSession, event: QueuedEvent) -> None:
        """An event failed every attempt: the person gets an apology, the ops chat a note (ids only)."""
        user = sender_of(event.payload) if isinstance(event.payload, dict) else None
        person = user is not None and not user.get("is_bot") and "id" in user
        await self.conversations.parked(
            session,
            event,
            user_id=str(user["id"]) if user is not None and person else None,
            hint=user.get("language_code") if user is not None else None,
        )
        self.queued()

    async def report_failure(self, session: AsyncSession, row: QueuedMessage, error: str) -> None:
        await self.conversations.report_failure(session, row, error)

    # -- command menus -----------------------------------------------------------------------------------------

    async def set_menus(self) -> None:
        """The residents' menu as the default (per language), and each other role's menu in its people's chats (a
        representative no longer in office gets the residents')."""
        for code, language in MENU_LANGUAGES.items():
            await self.bot.set_my_commands(
                bot_commands(Role.RESIDENT, language), scope=BotCommandScopeDefault(), language_code=code
            )
        await self.bot.set_my_commands(
            bot_commands(Role.RESIDENT, self.settings.general.default_language), scope=BotCommandScopeDefault()
        )
        async with self.db.read() as session:
            bound = await people.bound_chats(session, channel=CHANNEL)
        for chat in bound:
            chosen = chat.language if chat.language in LANGUAGES else self.settings.general.default_language
            try:
                await self.bot.set_my_commands(
                    bot_commands(chat.role, str(chosen)), scope=BotCommandScopeChat(int(chat.external_id))
                )
            except TelegramError as error:  # one chat's menu must not stop the bot from starting
                log.warning("could not set the menu of telegram identity (%s)", type(error).__name__)


def file_kind(message: dict[str, Any]) -> InputKind:
    """What a message's file is to a dialog: a photo (a picture, sent as one or as a file), or a document."""
    document = message.get("document")
    if isinstance(document, dict) and not str(document.get("mime_type") or "").startswith("image/"):
        return "document"
    return "photo"


def document_suffix(document: dict[str, Any]) -> str:
    """The stored file's suffix, from its type (the name it was sent with is not kept: it may name a person)."""
    suffix = mimetypes.guess_extension(str(document.get("mime_type") or "")) or ".bin"
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ".bin"
