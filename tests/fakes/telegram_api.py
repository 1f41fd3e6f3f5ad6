"""A fake Telegram Bot API server for tests: real HTTP on 127.0.0.1, driven by the real python-telegram-bot.

Start it with ``async with FakeTelegramServer() as server:`` and point PTB at it::

    Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url)
    ApplicationBuilder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url)

The server keeps the state a bot can observe on Telegram (queued updates, the messages it sent per chat, files,
the command menu, the webhook) and answers the way Telegram does, including its errors: missing parameters, text
over 4096 UTF-16 code units, callback data over 64 bytes, HTML it would not parse, edits that change nothing,
blocked users (403) and flood limits (429 with ``retry_after``); updates of a kind the bot did not ask for
(``allowed_updates``) are dropped, as Telegram drops them.  Tests play the users with ``user_sends_text`` and
friends, read what the bot did with ``sent(chat_id)`` and ``calls``, and queue faults per method with ``fail_next``.

Deliberate differences from Telegram, so that tests catch more:
- a bare ``&`` that does not start an entity is rejected in HTML (Telegram's documentation asks for ``&amp;``;
  the real server is more lenient);
- ``text`` in ``sent(chat_id)`` is the text exactly as the bot sent it (with its HTML); the Message returned to the
  bot carries the plain text with tags removed, as Telegram's does (without ``entities``).
- webhook deliveries are sequential (Telegram may use up to ``max_connections`` in parallel).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

__all__ = [
    "BOT_USER",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_DOWNLOAD_BYTES",
    "MAX_TEXT_LENGTH",
    "ApiError",
    "Call",
    "FakeTelegramServer",
    "Fault",
    "HtmlError",
    "StoredFile",
    "fake_telegram",
    "parse_html",
]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

BOT_USER: dict[str, Any] = {
    "id": 1000,
    "is_bot": True,
    "first_name": "连心 Lianxin",
    "username": "lianxin_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

# Methods that send a new message and therefore count against the flood limits.
_SENDING_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}
# Update types Telegram leaves out until a bot asks for them by name in allowed_updates.
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def _too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


# ---------------------------------------------------------------------------------------------------------------
# HTML as Telegram parses it
# ---------------------------------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
    "blockquote",
    "tg-emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z][a-zA-Z0-9]{0,31});")
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


class HtmlError(ValueError):
    """HTML that Telegram would refuse; the message is what follows "can't parse entities: "."""


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, index: int) -> tuple[str, int]:
    match = _ENTITY_RE.match(text, index)
    if match is None:
        raise HtmlError(f'unescaped "&" at byte offset {_byte_offset(text, index)}; use &amp;')
    name = match.group(1)
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise HtmlError(f"Invalid numeric HTML entity at byte offset {_byte_offset(text, index)}")
        return chr(code), match.end()
    if name not in _NAMED_ENTITIES:
        raise HtmlError(f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(text, index)}')
    return _NAMED_ENTITIES[name], match.end()


def _parse_attributes(text: str, start: int, end: int) -> dict[str, str]:
    attributes: dict[str, str] = {}
    position = start
    while position < end:
        match = _ATTR_RE.match(text, position, end)
        if match is None or match.end() == position:
            if text[position:end].strip():
                raise HtmlError(f"Expected equal sign in declaration of an attribute at byte offset {position}")
            break
        value = next((group for group in match.groups()[1:] if group is not None), "")
        attributes[match.group(1).lower()] = value
        position = match.end()
    return attributes


def _find_tag_end(text: str, index: int) -> int:
    """The index of the '>' closing the tag that starts at index, skipping quoted attribute values; -1 if none."""
    quote: str | None = None
    for position in range(index + 1, len(text)):
        char = text[position]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == ">":
            return position
    return -1


def parse_html(text: str) -> str:
    """Validate text as Telegram's HTML parse mode does and return the plain text it would show."""
    out: list[str] = []
    stack: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "&":
            decoded, index = _decode_entity(text, index)
            out.append(decoded)
            continue
        if char != "<":
            out.append(char)
            index += 1
            continue
        offset = _byte_offset(text, index)
        end = _find_tag_end(text, index)
        if text.startswith("</", index):
            if end < 0:
                raise HtmlError(f"Unclosed end tag at byte offset {offset}")
            name = text[index + 2 : end].strip().lower()
            if not stack:
                raise HtmlError(f"Unexpected end tag at byte offset {offset}")
            if name != stack[-1]:
                raise HtmlError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
            index = end + 1
            continue
        name_match = _TAG_NAME_RE.match(text, index + 1)
        if name_match is None:
            raise HtmlError(f"Unexpected end of name token at byte offset {offset}")
        name = name_match.group(0).lower()
        if name not in _ALLOWED_TAGS:
            raise HtmlError(f'Unsupported start tag "{name}" at byte offset {offset}')
        if end < 0:
            raise HtmlError(f"Unclosed start tag at byte offset {offset}")
        attributes = _parse_attributes(text, name_match.end(), end)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise HtmlError('Tag "span" must have class "tg-spoiler"')
        if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
            raise HtmlError('Tag "tg-emoji" must have attribute "emoji-id"')
        stack.append(name)
        index = end + 1
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------------------------
# Server state
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request the bot made: method name (as Telegram spells it), parameters, server clock time."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Fault:
    """A fault to inject into the next request to a method (see FakeTelegramServer.fail_next)."""

    status: int | None = None
    retry_after: int | None = None
    description: str | None = None
    delay: float = 0.0
    drop: bool | Literal["after"] = False


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_size: int

    def as_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass
class _Chat:
    chat: dict[str, Any]
    user: dict[str, Any] | None
    blocked: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = 1
    tokens: float = 0.0
    tokens_at: float = 0.0
    recent: deque[float] = field(default_factory=deque)


class FakeTelegramServer:
    """The fake Bot API. Use as ``async with FakeTelegramServer() as server``; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-token_for-fake-telegram",
        *,
        clock: Callable[[], float] = time.monotonic,
        flood_limits: bool = True,
        private_rate: float = 1.0,
        private_burst: int = 3,
        global_per_second: int = 30,
        group_per_minute: int = 20,
        webhook_attempts: int = 4,
        webhook_retry_delay: float = 0.05,
        host: str = "127.0.0.1",
        first_update_id: int = 1,
    ) -> None:
        self.token = token
        self.clock = clock
        self.flood_limits = flood_limits
        self.private_rate = private_rate
        self.private_burst = private_burst
        self.global_per_second = global_per_second
        self.group_per_minute = group_per_minute
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.host = host
        self.port = 0

        self.bot_user: dict[str, Any] = dict(BOT_USER)
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # pending, in update_id order
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_attempts_log: list[dict[str, Any]] = []  # every delivery attempt: update_id, status/error
        self.webhook_failed: list[dict[str, Any]] = []  # updates given up after webhook_attempts tries
        # The update types the bot asked for (getUpdates or setWebhook; kept until asked again); None: the default.
        # Telegram drops the others.
        self.allowed_updates: list[str] | None = None

        self._chats: dict[int, _Chat] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._open_callback_queries: set[str] = set()
        self._global_recent: deque[float] = deque()
        self.flood_refusals = 0  # 429s the flood limits gave (injected faults not counted)
        # Called with (chat_id, message) whenever the bot sends or edits a message: for latency measurements.
        self.on_bot_message: list[Callable[[int, dict[str, Any]], None]] = []
        self._last_update_id = first_update_id - 1  # Telegram's ids go on growing for as long as the bot exists
        self._stopping = False
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._methods: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "deleteMessage": self._delete_message,
            }.items()
        }

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        self._stopping = True
        self._notify()  # wake long polls so that they answer before the server goes away
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For Bot(base_url=...) / ApplicationBuilder().base_url(...): PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # -- chats and users ---------------------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        user: dict[str, Any] | None = None,
        title: str | None = None,
        chat_type: str | None = None,
        language_code: str = "zh-hans",
    ) -> dict[str, Any]:
        """Make a chat known to the bot (a private chat with a user who pressed Start, or a group it is in)."""
        if chat_id in self._chats:
            return self._chats[chat_id].chat
        if chat_id > 0:
            user = user or {
                "id": chat_id,
                "is_bot": False,
                "first_name": f"User{chat_id}",
                "language_code": language_code,
            }
            chat = {"id": chat_id, "type": chat_type or "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        else:
            chat = {"id": chat_id, "type": chat_type or "supergroup", "title": title or f"Group {chat_id}"}
        self._chats[chat_id] = _Chat(chat=chat, user=user, tokens=self.private_burst, tokens_at=self.clock())
        return chat

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: every send to the chat answers 403."""
        self.add_chat(chat_id)
        self._chats[chat_id].blocked = True

    def unblock(self, chat_id: int) -> None:
        self._chats[chat_id].blocked = False

    def _user_for(self, chat_id: int, user: dict[str, Any] | None) -> dict[str, Any]:
        self.add_chat(chat_id, user=user)
        if user is not None:
            return user
        known = self._chats[chat_id].user
        if known is not None:
            return known
        return {"id": 4242, "is_bot": False, "first_name": "Member", "language_code": "zh-hans"}

    # -- updates -----------------------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (an update_id is assigned when missing). Returns it.

        Pushing the same update (same update_id) again before the bot confirmed it delivers it again, which is how
        Telegram redelivers after a crash; once confirmed with an offset past it, it is dropped like the rest."""
        if "update_id" not in update:
            update = {"update_id": self._last_update_id + 1, **update}
        self._last_update_id = max(self._last_update_id, update["update_id"])
        self.updates.append(update)
        self._notify()
        return update

    def _next_message_id(self, chat_id: int) -> int:
        chat = self._chats[chat_id]
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _user_message(self, chat_id: int, user: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
        sender = self._user_for(chat_id, user)
        message = {
            "message_id": self._next_message_id(chat_id),
            "from": sender,
            "chat": self._chats[chat_id].chat,
            "date": int(time.time()),
            **content,
        }
        return self.push_update({"message": message})

    def user_sends_text(self, chat_id: int, text: str, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """A user writes text; a leading /command gets its bot_command entity like Telegram adds."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self._user_message(chat_id, user, **content)

    def user_sends_photo(
        self,
        chat_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        file_size: int | None = None,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user sends a photo; its bytes can be fetched with getFile. file_size overrides the reported size."""
        thumbnail = self.add_file(data[:1024], "photos")
        full = self.add_file(data, "photos", file_size=file_size)
        content: dict[str, Any] = {
            "photo": [
                {**self._file_ref(thumbnail), "width": 90, "height": 67},
                {**self._file_ref(full), "width": 1280, "height": 960},
            ]
        }
        if caption is not None:
            content["caption"] = caption
        return self._user_message(chat_id, user, **content)

    def user_sends_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        *,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        file_size: int | None = None,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user sends a file (for instance a photo sent "as file", uncompressed)."""
        stored = self.add_file(data, "documents", file_size=file_size, file_name=file_name)
        content: dict[str, Any] = {
            "document": {**self._file_ref(stored), "file_name": file_name, "mime_type": mime_type}
        }
        if caption is not None:
            content["caption"] = caption
        return self._user_message(chat_id, user, **content)

    def user_sends_location(
        self, chat_id: int, latitude: float, longitude: float, *, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._user_message(chat_id, user, location={"latitude": latitude, "longitude": longitude})

    def user_sends_contact(
        self,
        chat_id: int,
        phone_number: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        vcard: str | None = None,
        own: bool = True,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user shares a contact; own=True is the "share my number" reply-keyboard button (contact.user_id set)."""
        sender = self._user_for(chat_id, user)
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name or sender["first_name"]}
        if last_name is not None:
            contact["last_name"] = last_name
        if vcard is not None:
            contact["vcard"] = vcard
        if own:
            contact["user_id"] = sender["id"]
        return self._user_message(chat_id, user, contact=contact)

    def user_presses_button(
        self, chat_id: int, message_id: int, data: str, *, user: dict[str, Any] | None = None, check: bool = True
    ) -> dict[str, Any]:
        """A user presses an inline button with callback data on a message the bot sent.

        With check (the default) the message must currently show a button with that data; check=False forges a
        press (a stale client, a malicious one)."""
        record = self._find_message(chat_id, message_id)
        if record is None:
            raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
        if check:
            rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
            offered = [button.get("callback_data") for button in itertools.chain.from_iterable(rows)]
            if data not in offered:
                raise ValueError(f"message {message_id} in chat {chat_id} has no button {data!r}; it offers {offered}")
        query_id = str(next(self._callback_ids))
        self._open_callback_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user_for(chat_id, user),
            "message": self._message_json(record),
            "chat_instance": str(-chat_id * 7919),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def user_edits_message(self, sent: dict[str, Any], text: str) -> dict[str, Any]:
        """A user edits a text message they sent (`sent`: the update user_sends_text returned) into `text`."""
        message = {**sent["message"], "text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self.push_update({"edited_message": message})

    def user_adds_bot(self, chat_id: int, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """A user adds the bot to a group: the group becomes known and the bot hears of its new membership."""
        chat = self.add_chat(chat_id)
        member = {"user": self.bot_user}
        change = {
            "chat": chat,
            "from": self._user_for(chat_id, user),
            "date": int(time.time()),
            "old_chat_member": {**member, "status": "left"},
            "new_chat_member": {**member, "status": "member"},
        }
        return self.push_update({"my_chat_member": change})

    def _wanted(self, update: dict[str, Any]) -> bool:
        """Whether the bot asked for this kind of update (Telegram drops the others without delivering them)."""
        kinds = set(update) - {"update_id"}
        if self.allowed_updates is None:
            return not kinds & _NOT_BY_DEFAULT
        return bool(kinds & set(self.allowed_updates))

    def _ask_for(self, params: dict[str, Any]) -> None:
        """Remember the update types asked for; without the parameter the earlier choice stays, [] is the default."""
        allowed = _json(params, "allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed] or None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- what the bot did --------------------------------------------------------------------------------------

    def sent(self, chat_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Messages the bot sent to a chat, in order, as edited: message_id, text/caption (as sent, with HTML),
        parse_mode, reply_markup (parsed), photo/document, edit_date, deleted."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [message for message in chat.messages if include_deleted or not message.get("deleted")]

    async def wait_sent(self, chat_id: int, count: int = 1, within: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least count messages to the chat; returns sent(chat_id)."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.sent(chat_id)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"chat {chat_id} got {len(self.sent(chat_id))} messages, expected {count}")
            await asyncio.sleep(0.01)
        return self.sent(chat_id)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def my_commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]] | None:
        """The command list set for a scope (default scope when None) and language, or None if never set."""
        return self.commands.get((_scope_key(scope), language_code))

    # -- faults ------------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float = 0.0,
        drop: bool | Literal["after"] = False,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next request(s) to method; faults are consumed in order.

        status: answer with this HTTP status instead of handling (429 gets parameters.retry_after, default 1).
        delay: wait this many seconds first; without status or drop the request is then handled normally
            (like Telegram: a late answer does not mean nothing happened).
        drop: close the connection without an answer; True before handling, "after" once the request was handled
            (the message is sent but the bot never hears of it).
        """
        if status is None and not delay and not drop:
            raise ValueError("a fault needs a status, a delay or drop")
        fault = Fault(status=status, retry_after=retry_after, description=description, delay=delay, drop=drop)
        self._faults.setdefault(method.lower(), deque()).extend(fault for _ in range(times))

    @staticmethod
    def _fault_error(fault: Fault) -> ApiError:
        status = fault.status or 500
        if status == 429:
            return _too_many_requests(fault.retry_after or 1)
        default = {
            400: "Bad Request: injected fault",
            403: "Forbidden: bot was blocked by the user",
            409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(status, f"Error {status}")
        return ApiError(status, fault.description or default)

    # -- HTTP --------------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        entry = self._methods.get(request.match_info["method"].lower())
        if entry is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        name, handler = entry
        params = await _read_params(request)
        self.calls.append(Call(name, _printable(params), self.clock()))
        faults = self._faults.get(name.lower())
        fault = faults.popleft() if faults else None
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop is True:
                return _drop(request)
            if fault.status is not None:
                error = self._fault_error(fault)
                return web.json_response(error.payload(), status=error.status)
        try:
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            return web.json_response(error.payload(), status=error.status)
        if fault is not None and fault.drop == "after":
            return _drop(request)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    # -- methods -----------------------------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._check_no_webhook()
        offset = _int(params, "offset")
        limit = min(max(_int(params, "limit") or 100, 1), 100)
        timeout = max(_float(params, "timeout") or 0.0, 0.0)
        self._ask_for(params)
        if offset is not None:
            if offset < 0:
                self.updates = self.updates[offset:]
            else:
                self.updates = [update for update in self.updates if update["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a getUpdates already waiting is answered with 409
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self._check_no_webhook()
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            self.updates = [update for update in self.updates if self._wanted(update)]
            if self.updates or self._stopping:
                return self.updates[:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _check_no_webhook(self) -> None:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = _str(params, "url")
        if not url:
            return self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = _str(params, "secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad_request("secret token contains unallowed characters")
        if _bool(params, "drop_pending_updates"):
            self.updates.clear()
        self._ask_for(params)
        self.webhook_url = url
        self.webhook_secret = secret
        self._notify()  # a waiting getUpdates is answered with 409
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if _bool(params, "drop_pending_updates"):
            self.updates.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self._notify()
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def _deliver_webhook(self) -> None:
        """Post queued updates to the webhook in order, retrying non-2xx answers and connection errors."""
        attempts = 0
        while True:
            url, secret = self.webhook_url, self.webhook_secret
            if url is None:
                return
            if not self.updates:
                await self._changed.wait()
                continue
            update = self.updates[0]
            if not self._wanted(update):
                self.updates.pop(0)
                continue
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            outcome: dict[str, Any] = {"update_id": update["update_id"], "url": url}
            assert self._session is not None
            try:
                async with self._session.post(
                    url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    outcome["status"] = response.status
                    ok = 200 <= response.status < 300
            except (aiohttp.ClientError, TimeoutError) as error:
                outcome["error"] = repr(error)
                ok = False
            self.webhook_attempts_log.append(outcome)
            attempts += 1
            if ok or attempts >= self.webhook_attempts:
                if self.updates and self.updates[0] is update:
                    self.updates.pop(0)
                if not ok:
                    self.webhook_failed.append(update)
                attempts = 0
            else:
                await asyncio.sleep(self.webhook_retry_delay)

    def _message_text(self, params: dict[str, Any]) -> tuple[str, str | None, str]:
        """The text, its parse mode and its plain form, checked as Telegram checks a message's text."""
        text = _str(params, "text")
        if not text:
            raise _bad_request("message text is empty")
        parse_mode = _str(params, "parse_mode")
        plain = self._render(text, parse_mode, "message text is empty")
        if _utf16_length(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        return text, parse_mode, plain

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text, parse_mode, plain = self._message_text(params)
        markup = _reply_markup(params)
        chat = self._chat_for_sending(chat_id, "sendMessage")
        record = {"text": text, "plain_text": plain, "parse_mode": parse_mode, "reply_markup": markup}
        return self._message_json(self._record(chat, record))

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(params, "photo")

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(params, "document")

    def _send_media(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        source = params.get(kind)
        if source is None or source == "":
            raise _bad_request(f"there is no {kind} in the request")
        caption = _str(params, "caption")
        parse_mode = _str(params, "parse_mode")
        plain_caption = self._render(caption, parse_mode, None) if caption else None
        if plain_caption is not None and _utf16_length(plain_caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        markup = _reply_markup(params)
        if isinstance(source, web.FileField):
            stored = self.add_file(source.file.read(), f"{kind}s", file_name=source.filename)
        elif isinstance(source, str) and source.startswith(("http://", "https://")):
            stored = self.add_file(source.encode(), f"{kind}s")
        elif isinstance(source, str) and source in self.files:
            stored = self.files[source]
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        chat = self._chat_for_sending(chat_id, "sendPhoto" if kind == "photo" else "sendDocument")
        ref: Any = self._file_ref(stored)
        if kind == "photo":
            ref = [{**ref, "width": 1280, "height": 960}]
        else:
            ref = {**ref, "file_name": stored.file_path.rsplit("/", 1)[-1]}
        record = {kind: ref, "caption": caption, "plain_caption": plain_caption, "parse_mode": parse_mode}
        record["reply_markup"] = markup
        return self._message_json(self._record(chat, record))

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._message_to_edit(params)
        text, parse_mode, plain = self._message_text(params)
        if "text" not in record:
            raise _bad_request("there is no text in the message to edit")
        markup = _reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if (text, parse_mode, markup) == (record["text"], record["parse_mode"], record["reply_markup"]):
            raise _not_modified()
        record.update(text=text, plain_text=plain, parse_mode=parse_mode, reply_markup=markup)
        record["edit_date"] = int(time.time())
        self._observed(record["chat_id"], record)
        return self._message_json(record)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._message_to_edit(params)
        markup = _reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if markup == record["reply_markup"] or (markup is None and not record["reply_markup"]):
            raise _not_modified()
        record["reply_markup"] = markup
        record["edit_date"] = int(time.time())
        return self._message_json(record)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        record = self._find_message(chat_id, message_id)
        if record is None or record.get("deleted"):
            raise _bad_request("message to delete not found")
        record["deleted"] = True
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = _str(params, "callback_query_id")
        if not query_id:
            raise _bad_request("QUERY_ID_INVALID")
        if query_id not in self._open_callback_queries:
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        text = _str(params, "text")
        if text is not None and _utf16_length(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._open_callback_queries.discard(query_id)
        self.callback_answers.append(
            {"callback_query_id": query_id, "text": text, "show_alert": _bool(params, "show_alert")}
        )
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = _str(params, "file_id")
        if not file_id:
            raise _bad_request("file_id not specified")
        stored = self.files.get(file_id)
        if stored is None:
            raise _bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.file_size > MAX_DOWNLOAD_BYTES:
            raise _bad_request("file is too big")
        return stored.as_json()

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _json(params, "commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[(_scope_key(_json(params, "scope")), _str(params, "language_code") or "")] = commands
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = (_scope_key(_json(params, "scope")), _str(params, "language_code") or "")
        return self.commands.get(key, [])

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop((_scope_key(_json(params, "scope")), _str(params, "language_code") or ""), None)
        return True

    # -- helpers -----------------------------------------------------------------------------------------------

    def add_file(
        self, data: bytes, folder: str = "documents", *, file_size: int | None = None, file_name: str | None = None
    ) -> StoredFile:
        """Store a file the bot can getFile and download. file_size overrides the size Telegram reports."""
        number = next(self._file_ids)
        suffix = {"photos": "jpg"}.get(folder, "bin")
        name = file_name or f"file_{number}.{suffix}"
        stored = StoredFile(
            file_id=f"AgAC-fake-{number:06d}",
            file_unique_id=f"AQAD{number:06d}",
            file_path=f"{folder}/{number}_{name}",
            data=data,
            file_size=len(data) if file_size is None else file_size,
        )
        self.files[stored.file_id] = stored
        return stored

    @staticmethod
    def _file_ref(stored: StoredFile) -> dict[str, Any]:
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.file_size}

    def _render(self, text: str, parse_mode: str | None, empty_error: str | None) -> str:
        plain = text
        if parse_mode is not None and parse_mode.upper() == "HTML":
            try:
                plain = parse_html(text)
            except HtmlError as error:
                raise _bad_request(f"can't parse entities: {error}") from None
        if empty_error and not plain.strip():
            raise _bad_request(empty_error)
        return plain

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int:
        raw = _str(params, "chat_id")
        if not raw:
            raise _bad_request("chat_id is empty")
        try:
            return int(raw)
        except ValueError:
            raise _bad_request("chat not found") from None

    def _chat_for_sending(self, chat_id: int, method: str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.flood_limits and method in _SENDING_METHODS:
            self._check_flood(chat_id, chat)
        return chat

    def _check_flood(self, chat_id: int, chat: _Chat) -> None:
        try:
            self._take_flood_budget(chat_id, chat)
        except ApiError:
            self.flood_refusals += 1
            raise

    def _take_flood_budget(self, chat_id: int, chat: _Chat) -> None:
        now = self.clock()
        while self._global_recent and self._global_recent[0] <= now - 1.0:
            self._global_recent.popleft()
        if len(self._global_recent) >= self.global_per_second:
            raise _too_many_requests(max(1, math.ceil(self._global_recent[0] + 1.0 - now)))
        if chat_id < 0:
            while chat.recent and chat.recent[0] <= now - 60.0:
                chat.recent.popleft()
            if len(chat.recent) >= self.group_per_minute:
                raise _too_many_requests(max(1, math.ceil(chat.recent[0] + 60.0 - now)))
            chat.recent.append(now)
        else:
            elapsed = max(0.0, now - chat.tokens_at)
            chat.tokens = min(float(self.private_burst), chat.tokens + elapsed * self.private_rate)
            chat.tokens_at = now
            if chat.tokens < 1.0:
                raise _too_many_requests(max(1, math.ceil((1.0 - chat.tokens) / self.private_rate)))
            chat.tokens -= 1.0
        self._global_recent.append(now)

    def _record(self, chat: _Chat, content: dict[str, Any]) -> dict[str, Any]:
        chat_id = chat.chat["id"]
        record = {
            "message_id": self._next_message_id(chat_id),
            "chat_id": chat_id,
            "date": int(time.time()),
            **content,
        }
        chat.messages.append(record)
        self._observed(chat_id, record)
        return record

    def _observed(self, chat_id: int, record: dict[str, Any]) -> None:
        for observer in self.on_bot_message:
            observer(chat_id, record)

    def _find_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        chat = self._chats.get(chat_id)
        if chat is None:
            return None
        return next((message for message in chat.messages if message["message_id"] == message_id), None)

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any]:
        if _str(params, "inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake server")
        chat_id = self._chat_id(params)
        message_id = _int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        record = self._find_message(chat_id, message_id)
        if record is None or record.get("deleted"):
            raise _bad_request("message to edit not found")
        if self._chats[chat_id].blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return record

    def _message_json(self, record: dict[str, Any]) -> dict[str, Any]:
        """The Message object Telegram returns for a message the bot sent."""
        message: dict[str, Any] = {
            "message_id": record["message_id"],
            "from": self.bot_user,
            "chat": self._chats[record["chat_id"]].chat,
            "date": record["date"],
        }
        if "text" in record:
            message["text"] = record["plain_text"]
        for kind in ("photo", "document"):
            if kind in record:
                message[kind] = record[kind]
        if record.get("plain_caption"):
            message["caption"] = record["plain_caption"]
        if record.get("edit_date"):
            message["edit_date"] = record["edit_date"]
        markup = record.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message


def _not_modified() -> ApiError:
    return _bad_request(
        "message is not modified: specified new message content and reply markup are exactly the same as a "
        "current content and reply markup of the message"
    )


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer (the client sees a dropped connection)."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


# -- parameters ------------------------------------------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query string and a form, multipart or JSON body, as Telegram accepts them."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update(form.items())
    return params


def _printable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"filename": value.filename, "content_type": value.content_type}
        if isinstance(value, web.FileField)
        else value
        for key, value in params.items()
    }


def _str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or isinstance(value, web.FileField):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request(f'field "{name}" must be of type Integer') from None


def _float(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad_request(f'field "{name}" must be a Number') from None


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _json(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _bad_request(f"can't parse {name} JSON object") from None


def _reply_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """Parse and check reply_markup like Telegram: inline buttons need one action and callback data of 1-64 bytes."""
    value = params.get("reply_markup")
    if value is None or value == "":
        return None
    try:
        markup = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise _bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
            elif not set(button) & {
                "url",
                "login_url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "web_app",
                "pay",
                "callback_game",
                "copy_text",
            }:
                raise _bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
    elif not markup.get("remove_keyboard") and not markup.get("force_reply"):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    return markup


@contextlib.asynccontextmanager
async def fake_telegram(**options: Any) -> AsyncIterator[FakeTelegramServer]:
    """``async with fake_telegram() as server:`` - a started server, stopped on exit."""
    server = FakeTelegramServer(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
