"""A fake Wechaty puppet service for tests: real gRPC (grpclib) on 127.0.0.1, driven by the real ``PuppetStub``.

Start it with ``async with FakePuppet() as fake:`` and point the WeChat channel at ``127.0.0.1:<fake.port>`` with
the metadata ``authorization: Wechaty <fake.token>``. Tests play the people in WeChat with ``say``,
``send_image`` and friends (each emits a message event and returns the message's id), play the account with
``login``, ``logout`` and ``scan``, play the network and the service with ``cut_stream``, ``stop`` and ``restart``,
and read what the bot did from ``sent`` / ``wait_sent``.

It answers the way the Node puppet service (wechaty-puppet-service 1.x, src/server/puppet-implementation.ts) does:
- every call must carry ``authorization: Wechaty <token>``, or it is refused with UNAUTHENTICATED;
- one Event stream at a time: a second one gets ALREADY_EXISTS;
- no history and no redelivery: an event emitted while no stream is open is lost (counted in ``dropped``); a stream
  that opens while the account is logged in gets only login and ready replayed;
- a message event carries only ``{"messageId": ...}``; the client asks MessagePayload, then MessageImage,
  MessageFile, MessageLocation or MessageContact for what the type needs;
- MessagePayloadResponse.type carries wechaty-puppet's MessageType numbers (``PUPPET_TYPES``), not the .proto's:
  the server copies the puppet's enum into the field unconverted. Tests name types with the .proto's enum;
  ``type_numbers="proto"`` puts those numbers on the wire instead;
- files travel as FileBox JSON the way file-box 1.x writes it: ``metadata``, ``name``, ``size``, the type under both
  ``type`` and ``boxType`` (the key before 1.0), then ``base64``, ``uuid`` or ``url`` (+ ``headers``). Base64 boxes
  up to ``large_file_bytes``, uuid boxes above it, whose bytes go through Download (and come in through Upload);
  url boxes (``as_url=True``) point at a small HTTP server the fake runs on 127.0.0.1, which can require the box's
  headers. A box the bot sends may use either type key, and ``url`` or the older ``remoteUrl``;
- a send answers with the message id twice, in ``id`` and in the deprecated ``id_string_value_deprecated`` wrapper,
  and a payload carries ``timestamp_deprecated`` (milliseconds) beside ``receive_time``;
- every failure of the puppet (an unknown id, a message of another type, a bad FileBox, a send to someone who is not
  a friend, see ``strangers``) answers UNKNOWN: since 1.0.8 grpc-error.ts turns the puppet's Error into a GError,
  whose code is UNKNOWN. Before it (0.x) the answer was INTERNAL: ``error_status=Status.INTERNAL``;
- a message above 4 MiB is refused with RESOURCE_EXHAUSTED, as grpc-js (the Node service and its clients) refuses
  it by default. grpclib 0.4.9 has no such limit on either side, so without this check a channel that sends a
  large file as one base64 box would pass here and fail against the real service.

Deliberate differences from the real service:
- messages arrive whether or not the account is logged in (the real one sends none before login);
- a system message's talker is ``weixin`` unless a test names one; its type is wechaty-puppet's System (18, since
  wechaty-puppet 1.21.3), or Unknown (0) with ``as_unknown=True``, as older puppets send it;
- the real service passes base64 boxes through only up to 20 KB (file-box-helper's PASS_THROUGH_THRESHOLD_BYTES);
  the fake's ``large_file_bytes`` is 1 MiB unless a test sets it;
- ``fail_next_sends`` fails sends with UNAVAILABLE, as grpc itself does when the connection breaks;
- ``stop`` ends the Event stream cleanly before it drops the connections (a killed service only drops them; use
  ``cut_stream`` for a stream that breaks off).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import itertools
import json
import ssl as ssl_module
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import betterproto
from aiohttp import web
from grpclib.const import Cardinality, Handler, Status
from grpclib.events import RecvMessage, RecvRequest, listen
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream
from wechaty_grpc.wechaty import PuppetBase, puppet
from wechaty_grpc.wechaty.puppet import EventType, MessageType

__all__ = [
    "BOX_BASE64",
    "BOX_QRCODE",
    "BOX_URL",
    "BOX_UUID",
    "DOWNLOAD_CHUNK_BYTES",
    "MAX_MESSAGE_BYTES",
    "PUPPET_TYPES",
    "SCAN_CANCEL",
    "SCAN_CONFIRMED",
    "SCAN_SCANNED",
    "SCAN_TIMEOUT",
    "SCAN_UNKNOWN",
    "SCAN_WAITING",
    "SYSTEM_TALKER",
    "VERSION",
    "FakePuppet",
    "Sent",
]

# grpc-js refuses to receive a message above 4 MiB unless configured otherwise ("Received message larger than max").
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 256 * 1024

# FileBox JSON "type" (and "boxType") values: file-box's FileBoxType.
BOX_BASE64 = 1
BOX_URL = 2
BOX_QRCODE = 3
BOX_UUID = 7

# wechaty-puppet's MessageType (src/schemas/message.ts) for each of the .proto's: what the Node service puts in
# MessagePayloadResponse.type. Keys are the .proto's MessageType (mypy reads its members as ints).
PUPPET_TYPES: dict[int, int] = {
    MessageType.MESSAGE_TYPE_UNSPECIFIED: 0,  # Unknown
    MessageType.MESSAGE_TYPE_ATTACHMENT: 1,
    MessageType.MESSAGE_TYPE_AUDIO: 2,
    MessageType.MESSAGE_TYPE_CONTACT: 3,
    MessageType.MESSAGE_TYPE_CHAT_HISTORY: 4,
    MessageType.MESSAGE_TYPE_EMOTICON: 5,
    MessageType.MESSAGE_TYPE_IMAGE: 6,
    MessageType.MESSAGE_TYPE_TEXT: 7,
    MessageType.MESSAGE_TYPE_LOCATION: 8,
    MessageType.MESSAGE_TYPE_MINI_PROGRAM: 9,
    MessageType.MESSAGE_TYPE_GROUP_NOTE: 10,
    MessageType.MESSAGE_TYPE_TRANSFER: 11,
    MessageType.MESSAGE_TYPE_RED_ENVELOPE: 12,
    MessageType.MESSAGE_TYPE_RECALLED: 13,
    MessageType.MESSAGE_TYPE_URL: 14,
    MessageType.MESSAGE_TYPE_VIDEO: 15,
    MessageType.MESSAGE_TYPE_POST: 16,
    MessageType.MESSAGE_TYPE_SYSTEM: 18,  # added in wechaty-puppet 1.21.3; before it a system line was Unknown
}

# ScanStatus of a scan event.
SCAN_UNKNOWN, SCAN_CANCEL, SCAN_WAITING, SCAN_SCANNED, SCAN_CONFIRMED, SCAN_TIMEOUT = range(6)

# WeChat's own account ("微信团队"), the talker of system messages here.
SYSTEM_TALKER = "weixin"
VERSION = "0.0.0-lianxin-fake"

_Response = TypeVar("_Response", bound=betterproto.Message)


@dataclass(frozen=True)
class Sent:
    """One message the bot sent: a text, or a file with its bytes (``None`` for a URL box) and the box it came in."""

    conversation_id: str
    kind: Literal["text", "file"]
    text: str
    file_name: str
    content: bytes | None
    message_id: str
    box: Literal["", "base64", "uuid", "url"] = ""


@dataclass
class _Message:
    id: str
    # A MessageType: mypy reads betterproto's enum members as plain ints (its Enum's base is chosen at run time), so
    # the fake takes ints and calls the enum class where a message field wants the enum itself.
    type: int
    talker: str
    room: str
    listener: str
    text: str
    received: datetime
    mentions: list[str] = field(default_factory=list)
    file_name: str = ""
    content: bytes | None = None
    location: puppet.LocationPayload | None = None
    card: str = ""
    url_file: str = ""  # served over HTTP as a url box, see FakePuppet.url_files


@dataclass(frozen=True)
class _UrlFile:
    """A file the fake's HTTP server serves, and the headers a request must carry to get it."""

    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Contact:
    id: str
    name: str
    phones: list[str] = field(default_factory=list)


@dataclass
class _Room:
    id: str
    topic: str
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Outgoing:
    response: puppet.EventResponse
    message_id: str = ""


class _Signal(enum.Enum):
    END = "end"  # the stream ends cleanly (status OK)
    CUT = "cut"  # the stream is reset, as a broken connection would leave it


class _PuppetServer(Server):
    """grpclib's Server, keeping its connections so that a stop drops them as a stopped service does.

    ``Server.close`` only cancels the running handlers: the client's connection stays open, its next call is still
    accepted, and a cancelled handler sends no trailers, so a client waiting on a stream would wait forever.
    ``_protocol_factory`` is private API of grpclib, pinned at 0.4.9.
    """

    def __init__(self, handlers: Sequence[Any]) -> None:
        super().__init__(handlers)
        self.connections: weakref.WeakSet[H2Protocol] = weakref.WeakSet()

    def _protocol_factory(self) -> H2Protocol:
        protocol = super()._protocol_factory()
        self.connections.add(protocol)
        return protocol

    def drop_connections(self) -> None:
        for protocol in list(self.connections):
            if hasattr(protocol, "processor"):  # set once the connection is made
                protocol.processor.close("Puppet service stopped")


class FakePuppet:
    """The fake puppet service: the account and its contacts, the people's messages, and what the bot sent.

    The gRPC methods themselves are in ``_PuppetService``; this class keeps the state and is what tests drive
    (its ``start``, ``stop`` and ``logout`` would otherwise collide with the Start, Stop and Logout RPCs).
    """

    def __init__(
        self,
        *,
        token: str = "test-token",
        self_id: str = "wxid_lianxin_bot",
        large_file_bytes: int = 1 << 20,
        heartbeat_seconds: float | None = None,
        echo_sends: bool = False,
        type_numbers: Literal["puppet", "proto"] = "puppet",
        error_status: Status = Status.UNKNOWN,
    ) -> None:
        self.token = token
        self.self_id = self_id
        self.self_name = "连心"
        self.large_file_bytes = large_file_bytes
        self.heartbeat_seconds = heartbeat_seconds
        # Many puppets also emit the bot's own sends as message events (talker == self_id); a channel must ignore them.
        self.echo_sends = echo_sends
        self.type_numbers = type_numbers
        self.error_status = error_status

        self.port = 0
        self.host = "127.0.0.1"
        self.ssl: ssl_module.SSLContext | None = None
        self.logged_in = False
        self.started = False  # the Start RPC, not the server

        # What the bot did.
        self.sent: list[Sent] = []
        self.stream_open = False
        self.streams_opened = 0
        self.dropped = 0
        self.delivered: list[str] = []
        self.payload_requests: list[str] = []
        self.dings = 0
        self.unauthenticated = 0
        self.fail_next_sends = 0
        self.url_fetches: list[str] = []  # url files the HTTP server gave out
        self.url_refused = 0  # requests without the headers the box named

        self.contacts: dict[str, _Contact] = {self_id: _Contact(self_id, self.self_name)}
        self.rooms: dict[str, _Room] = {}
        self.messages: dict[str, _Message] = {}
        self.files: dict[str, bytes] = {}  # uuid -> bytes, for Download and uuid boxes the bot sends
        self.url_files: dict[str, _UrlFile] = {}  # path id -> file, for url boxes
        self.strangers: set[str] = set()  # not (or no longer) friends: sends to them fail, ContactPayload says so
        self.http_port = 0

        self._ids = itertools.count(1)
        self._server: _PuppetServer | None = None
        self._http: web.AppRunner | None = None
        self._queue: asyncio.Queue[_Outgoing | _Signal] | None = None
        self._stream_task: asyncio.Task[Any] | None = None  # grpclib's task for the Event call
        self._waiters: list[asyncio.Future[None]] = []

    # -- server life ------------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl: ssl_module.SSLContext | None = None) -> int:
        """Serve on ``host:port`` and return the port; port 0 means the previous port if there was one, else any."""
        if self._server is not None:
            raise RuntimeError("the fake puppet service is already running")
        await self._start_http()
        server = _PuppetServer([_PuppetService(self)])
        listen(server, RecvRequest, self._check_token)
        listen(server, RecvMessage, _refuse_large_message)
        try:
            await server.start(host, port or self.port, ssl=ssl)
        except BaseException:
            await self._stop_http()
            raise
        assert isinstance(server._server, asyncio.Server)  # grpclib keeps asyncio's server, and has no port getter
        self.host, self.ssl, self._server = host, ssl, server
        self.port = server._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop serving: the open Event stream ends, the connections drop, calls in progress fail."""
        server, self._server = self._server, None
        if server is None:
            return
        await self._end_stream(_Signal.END)
        server.close()
        server.drop_connections()
        await server.wait_closed()
        await self._stop_http()

    async def restart(self) -> None:
        """A service restart: stop, then serve again on the same port with the same TLS context."""
        await self.stop()
        await self.start(self.host, self.port, self.ssl)

    async def _start_http(self) -> None:
        """The HTTP server behind url boxes, on the port it had before if it ran (a box's URL stays good)."""
        app = web.Application()
        app.router.add_get("/files/{file_id}", self._serve_url_file)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.http_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._http = runner
        self.http_port = runner.addresses[0][1]

    async def _stop_http(self) -> None:
        runner, self._http = self._http, None
        if runner is not None:
            await runner.cleanup()

    async def _serve_url_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        url_file = self.url_files.get(file_id)
        if url_file is None:
            raise web.HTTPNotFound()
        if any(request.headers.get(name) != value for name, value in url_file.headers.items()):
            self.url_refused += 1
            raise web.HTTPForbidden()
        self.url_fetches.append(file_id)
        return web.Response(body=url_file.content, content_type="application/octet-stream")

    async def __aenter__(self) -> FakePuppet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def cut_stream(self) -> None:
        """Break the current Event stream off (an HTTP/2 reset): the client sees it fail, not end."""
        await self._end_stream(_Signal.CUT)

    async def wait_stream(self, within: float = 5.0) -> None:
        """Wait until the bot has an Event stream open."""
        await self._wait_until(lambda: self.stream_open, within, "an open Event stream")

    # -- what a person does in WeChat -------------------------------------------------------------------------------

    def say(self, talker: str, text: str, *, room: str = "", mentions: Sequence[str] = ()) -> str:
        return self._receive(MessageType.MESSAGE_TYPE_TEXT, talker, text, room=room, mentions=list(mentions))

    def send_image(
        self,
        talker: str,
        content: bytes,
        *,
        name: str = "photo.jpg",
        as_url: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """A photo; ``as_url`` hands it out as a url box, whose HTTP request must carry ``headers`` (named in it)."""
        url_file = self._url_file(content, headers) if as_url else ""
        return self._receive(
            MessageType.MESSAGE_TYPE_IMAGE, talker, "", file_name=name, content=content, url_file=url_file
        )

    def send_file(
        self,
        talker: str,
        content: bytes,
        *,
        name: str,
        as_url: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        url_file = self._url_file(content, headers) if as_url else ""
        return self._receive(
            MessageType.MESSAGE_TYPE_ATTACHMENT, talker, name, file_name=name, content=content, url_file=url_file
        )

    def send_location(
        self, talker: str, latitude: float, longitude: float, *, name: str = "", address: str = ""
    ) -> str:
        location = puppet.LocationPayload(
            accuracy=15.0, address=address, latitude=latitude, longitude=longitude, name=name
        )
        return self._receive(MessageType.MESSAGE_TYPE_LOCATION, talker, address or name, location=location)

    def send_contact_card(self, talker: str, contact_id: str) -> str:
        card = self.contacts.setdefault(contact_id, _Contact(contact_id, contact_id))
        return self._receive(MessageType.MESSAGE_TYPE_CONTACT, talker, card.name, card=contact_id)

    def system_message(
        self, text: str, *, room: str = "", talker: str = SYSTEM_TALKER, as_unknown: bool = False
    ) -> str:
        """WeChat's own line ("你撤回了一条消息"); ``as_unknown``: typed Unknown, as puppets before System sent it."""
        message_type = MessageType.MESSAGE_TYPE_UNSPECIFIED if as_unknown else MessageType.MESSAGE_TYPE_SYSTEM
        return self._receive(message_type, talker, text, room=room)

    def from_self(self, to: str, text: str) -> str:
        """A message the bot's account sent from the phone: it comes back as a message event like any other."""
        room = to if _is_room(to) else ""
        return self._receive(MessageType.MESSAGE_TYPE_TEXT, self.self_id, text, room=room, listener=to)

    def add_contact(self, contact_id: str, *, name: str, phones: Sequence[str] = ()) -> None:
        self.contacts[contact_id] = _Contact(contact_id, name, list(phones))

    def add_room(self, room_id: str, *, topic: str, members: Sequence[str] = ()) -> None:
        self.rooms[room_id] = _Room(room_id, topic, list(members))

    def redeliver(self, message_id: str) -> None:
        """Emit a message event again for a message already emitted: a duplicate, as puppets sometimes send."""
        if message_id not in self.messages:
            raise KeyError(message_id)
        self.emit(EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})

    def emit(self, event_type: int, payload: dict[str, Any]) -> bool:
        """Queue one event for the open stream; without one it is lost, as the real service loses it."""
        if self._queue is None:
            self.dropped += 1
            return False
        response = puppet.EventResponse(type=EventType(event_type), payload=json.dumps(payload, ensure_ascii=False))
        message_id = payload.get("messageId", "") if event_type == EventType.EVENT_TYPE_MESSAGE else ""
        self._queue.put_nowait(_Outgoing(response, message_id))
        return True

    def login(self) -> None:
        self.logged_in = True
        self.emit(EventType.EVENT_TYPE_LOGIN, {"contactId": self.self_id})
        self.emit(EventType.EVENT_TYPE_READY, {"data": "ready"})

    def logout(self, reason: str = "") -> None:
        self.logged_in = False
        self.emit(EventType.EVENT_TYPE_LOGOUT, {"contactId": self.self_id, "data": reason})

    def scan(self, qrcode: str = "https://login.weixin.qq.com/l/test", status: int = SCAN_WAITING) -> None:
        self.emit(EventType.EVENT_TYPE_SCAN, {"qrcode": qrcode, "status": status})

    # -- what the bot did -------------------------------------------------------------------------------------------

    def sent_to(self, conversation_id: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.conversation_id == conversation_id]

    async def wait_sent(self, conversation_id: str, count: int, within: float = 10.0) -> list[Sent]:
        """Wait until at least ``count`` messages went to the conversation, and return all that did."""
        await self._wait_until(
            lambda: len(self.sent_to(conversation_id)) >= count, within, f"{count} message(s) to {conversation_id}"
        )
        return self.sent_to(conversation_id)

    # -- inside -----------------------------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def _receive(
        self,
        message_type: int,
        talker: str,
        text: str,
        *,
        room: str = "",
        listener: str = "",
        mentions: list[str] | None = None,
        file_name: str = "",
        content: bytes | None = None,
        location: puppet.LocationPayload | None = None,
        card: str = "",
        url_file: str = "",
    ) -> str:
        self.contacts.setdefault(talker, _Contact(talker, talker))
        if room:
            self.rooms.setdefault(room, _Room(room, room))
        message = _Message(
            id=self.new_id("msg"),
            type=message_type,
            talker=talker,
            room=room,
            listener=listener if listener else ("" if room else self.self_id),
            text=text,
            received=datetime.now(UTC),
            mentions=mentions or [],
            file_name=file_name,
            content=content,
            location=location,
            card=card,
            url_file=url_file,
        )
        self.messages[message.id] = message
        self.emit(EventType.EVENT_TYPE_MESSAGE, {"messageId": message.id})
        return message.id

    def record_send(self, sent: Sent) -> None:
        self.sent.append(sent)
        self.messages[sent.message_id] = _Message(
            id=sent.message_id,
            type=MessageType.MESSAGE_TYPE_TEXT if sent.kind == "text" else MessageType.MESSAGE_TYPE_ATTACHMENT,
            talker=self.self_id,
            room=sent.conversation_id if _is_room(sent.conversation_id) else "",
            listener="" if _is_room(sent.conversation_id) else sent.conversation_id,
            text=sent.text or sent.file_name,
            received=datetime.now(UTC),
            file_name=sent.file_name,
            content=sent.content,
        )
        if self.echo_sends:
            self.emit(EventType.EVENT_TYPE_MESSAGE, {"messageId": sent.message_id})
        self._notify()

    def file_box(self, name: str, content: bytes, *, url_file: str = "") -> str:
        """A file as the service hands it out: a url box if it has a url file, else inline base64 when small, else
        a uuid box for Download. Keys in file-box 1.x's order; ``boxType`` is its copy of ``type`` for older readers.
        """
        common: dict[str, Any] = {"metadata": {}, "name": name}
        if url_file:
            # FileBox.fromUrl() knows no size until fetched: SIZE_UNKNOWN.
            box: dict[str, Any] = {**common, "size": -1}
            headers = self.url_files[url_file].headers
            if headers:
                box["headers"] = dict(headers)
            box |= {"type": BOX_URL, "url": f"http://127.0.0.1:{self.http_port}/files/{url_file}"}
        elif len(content) > self.large_file_bytes:
            file_id = str(uuid.uuid4())
            self.files[file_id] = content
            box = {**common, "size": len(content), "type": BOX_UUID, "uuid": file_id}
        else:
            encoded = base64.b64encode(content).decode("ascii")
            box = {**common, "size": len(content), "base64": encoded, "type": BOX_BASE64}
        box["boxType"] = box["type"]
        return json.dumps(box, ensure_ascii=False)

    def wire_type(self, message_type: int) -> MessageType:
        """A message's type as MessagePayloadResponse carries it: the puppet's number, or the .proto's if asked."""
        return MessageType(PUPPET_TYPES[message_type] if self.type_numbers == "puppet" else message_type)

    def failure(self, what: str) -> GRPCError:
        """A failure of the puppet, as grpc-error.ts answers it (an Error's stack as details begins "Error: ")."""
        return GRPCError(self.error_status, f"Error: {what}")

    def message_of_type(self, message_id: str, *types: int) -> _Message:
        message = self.messages.get(message_id)
        if message is None:
            raise self.failure(f"no payload for message {message_id}")
        if message.type not in types:
            raise self.failure(f"message {message_id} is of type {MessageType(message.type).name}")
        return message

    def check_friend(self, conversation_id: str) -> None:
        if conversation_id in self.strangers:
            raise self.failure(f"{conversation_id} is not friend, the message can not be sent")

    def _url_file(self, content: bytes, headers: Mapping[str, str] | None) -> str:
        file_id = uuid.uuid4().hex
        self.url_files[file_id] = _UrlFile(content, dict(headers or {}))
        return file_id

    def take_failure(self) -> None:
        if self.fail_next_sends > 0:
            self.fail_next_sends -= 1
            raise GRPCError(Status.UNAVAILABLE, "fake: send failed as the test asked")

    async def serve_events(self, stream: Stream[puppet.EventRequest, puppet.EventResponse]) -> None:
        """One Event stream: replay login and ready if logged in, then write what is emitted until it ends."""
        await stream.recv_message()
        if self._queue is not None:
            raise GRPCError(Status.ALREADY_EXISTS, "Event() stream is already open")
        queue: asyncio.Queue[_Outgoing | _Signal] = asyncio.Queue()
        self._queue, self._stream_task = queue, asyncio.current_task()
        self.stream_open = True
        self.streams_opened += 1
        if self.logged_in:
            self.login()
        heartbeats = asyncio.create_task(self._heartbeats()) if self.heartbeat_seconds else None
        self._notify()
        try:
            await stream.send_initial_metadata()
            while True:
                item = await queue.get()
                if item is _Signal.END:
                    return
                if item is _Signal.CUT:
                    await stream.cancel()
                    return
                assert isinstance(item, _Outgoing)
                await stream.send_message(item.response)
                if item.message_id:
                    self.delivered.append(item.message_id)
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
            self.dropped += sum(1 for item in _drain(queue) if isinstance(item, _Outgoing))
            self._queue = None
            self.stream_open = False
            self._notify()

    async def _end_stream(self, signal: _Signal) -> None:
        if self._queue is None or self._stream_task is None:
            return
        self._queue.put_nowait(signal)
        # The call's task, not just the loop above: the trailers that end the stream are sent after it returns.
        # Bounded: a client that stopped reading must not hang the test; a stop then drops the connection anyway.
        await asyncio.wait({self._stream_task}, timeout=2.0)

    async def _heartbeats(self) -> None:
        assert self.heartbeat_seconds is not None
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            self.emit(EventType.EVENT_TYPE_HEARTBEAT, {"data": "heartbeat"})

    async def _check_token(self, event: RecvRequest) -> None:
        if event.metadata.get("authorization") != f"Wechaty {self.token}":
            self.unauthenticated += 1
            raise GRPCError(Status.UNAUTHENTICATED, "wrong or missing token")

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _wait_until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"fake puppet: waited {within}s for {what}; sent so far: {self.sent!r}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout=remaining)


class _PuppetService(PuppetBase):
    """The gRPC methods of the puppet service, over a FakePuppet's state; methods not here answer UNIMPLEMENTED."""

    def __init__(self, fake: FakePuppet) -> None:
        self.fake = fake

    def __mapping__(self) -> dict[str, Handler]:
        mapping = super().__mapping__()
        # The Event stream needs grpclib's Stream itself, to reset it the way a broken connection does (cut_stream).
        mapping["/wechaty.Puppet/Event"] = Handler(
            self.fake.serve_events, Cardinality.UNARY_STREAM, puppet.EventRequest, puppet.EventResponse
        )
        return mapping

    async def start(self, request: puppet.StartRequest) -> puppet.StartResponse:
        self.fake.started = True
        return puppet.StartResponse()

    async def stop(self, request: puppet.StopRequest) -> puppet.StopResponse:
        self.fake.started = False
        return puppet.StopResponse()

    async def logout(self, request: puppet.LogoutRequest) -> puppet.LogoutResponse:
        self.fake.logout("logout by client")
        return puppet.LogoutResponse()

    async def version(self, request: puppet.VersionRequest) -> puppet.VersionResponse:
        return puppet.VersionResponse(version=VERSION)

    async def ding(self, request: puppet.DingRequest) -> puppet.DingResponse:
        self.fake.dings += 1
        self.fake.emit(EventType.EVENT_TYPE_DONG, {"data": request.data})
        return puppet.DingResponse()

    async def contact_self_name(self, request: puppet.ContactSelfNameRequest) -> puppet.ContactSelfNameResponse:
        self.fake.self_name = request.name
        self.fake.contacts[self.fake.self_id].name = request.name
        return puppet.ContactSelfNameResponse()

    async def contact_list(self, request: puppet.ContactListRequest) -> puppet.ContactListResponse:
        return puppet.ContactListResponse(ids=list(self.fake.contacts))

    async def contact_payload(self, request: puppet.ContactPayloadRequest) -> puppet.ContactPayloadResponse:
        contact = self.fake.contacts.get(request.id)
        if contact is None and request.id in self.fake.strangers:
            contact = _Contact(request.id, request.id)
        if contact is None:
            raise self.fake.failure(f"no payload for contact {request.id}")
        return puppet.ContactPayloadResponse(
            id=contact.id,
            name=contact.name,
            type=puppet.ContactType(puppet.ContactType.CONTACT_TYPE_PERSONAL),
            friend=contact.id != self.fake.self_id and contact.id not in self.fake.strangers,
            phones=list(contact.phones),
        )

    async def room_payload(self, request: puppet.RoomPayloadRequest) -> puppet.RoomPayloadResponse:
        room = self.fake.rooms.get(request.id)
        if room is None:
            raise self.fake.failure(f"no payload for room {request.id}")
        return puppet.RoomPayloadResponse(id=room.id, topic=room.topic, member_ids=list(room.members))

    async def message_payload(self, request: puppet.MessagePayloadRequest) -> puppet.MessagePayloadResponse:
        self.fake.payload_requests.append(request.id)
        message = self.fake.messages.get(request.id)
        if message is None:
            raise self.fake.failure(f"no payload for message {request.id}")
        return _with_deprecated(
            puppet.MessagePayloadResponse,
            id=message.id,
            filename=message.file_name,
            text=message.text,
            timestamp_deprecated=int(message.received.timestamp() * 1000),
            type=self.fake.wire_type(message.type),
            talker_id=message.talker,
            room_id=message.room,
            listener_id=message.listener,
            mention_ids=list(message.mentions),
            receive_time=message.received,
        )

    async def message_image(self, request: puppet.MessageImageRequest) -> puppet.MessageImageResponse:
        message = self.fake.message_of_type(request.id, MessageType.MESSAGE_TYPE_IMAGE)
        return _checked(puppet.MessageImageResponse(file_box=self._box_of(message)))

    async def message_file(self, request: puppet.MessageFileRequest) -> puppet.MessageFileResponse:
        message = self.fake.message_of_type(
            request.id, MessageType.MESSAGE_TYPE_ATTACHMENT, MessageType.MESSAGE_TYPE_IMAGE
        )
        return _checked(puppet.MessageFileResponse(file_box=self._box_of(message)))

    async def message_location(self, request: puppet.MessageLocationRequest) -> puppet.MessageLocationResponse:
        message = self.fake.message_of_type(request.id, MessageType.MESSAGE_TYPE_LOCATION)
        return puppet.MessageLocationResponse(location=message.location or puppet.LocationPayload())

    async def message_contact(self, request: puppet.MessageContactRequest) -> puppet.MessageContactResponse:
        message = self.fake.message_of_type(request.id, MessageType.MESSAGE_TYPE_CONTACT)
        return puppet.MessageContactResponse(id=message.card)

    async def message_send_text(self, request: puppet.MessageSendTextRequest) -> puppet.MessageSendTextResponse:
        self.fake.take_failure()
        self.fake.check_friend(request.conversation_id)
        message_id = self.fake.new_id("sent")
        self.fake.record_send(Sent(request.conversation_id, "text", request.text, "", None, message_id))
        return _with_deprecated(puppet.MessageSendTextResponse, id=message_id, id_string_value_deprecated=message_id)

    async def message_send_file(self, request: puppet.MessageSendFileRequest) -> puppet.MessageSendFileResponse:
        self.fake.take_failure()
        name, content, box = self._open_box(request.file_box)
        self.fake.check_friend(request.conversation_id)
        message_id = self.fake.new_id("sent")
        self.fake.record_send(Sent(request.conversation_id, "file", "", name, content, message_id, box))
        return _with_deprecated(puppet.MessageSendFileResponse, id=message_id, id_string_value_deprecated=message_id)

    async def upload(self, requests: AsyncIterator[puppet.UploadRequest]) -> puppet.UploadResponse:
        chunks = [request.chunk async for request in requests]
        file_id = str(uuid.uuid4())
        self.fake.files[file_id] = b"".join(chunks)
        return puppet.UploadResponse(id=file_id)

    async def download(self, request: puppet.DownloadRequest) -> AsyncIterator[puppet.DownloadResponse]:
        content = self.fake.files.get(request.id)
        if content is None:
            raise self.fake.failure(f"no file for uuid {request.id}")
        for start in range(0, len(content), DOWNLOAD_CHUNK_BYTES):
            yield puppet.DownloadResponse(chunk=content[start : start + DOWNLOAD_CHUNK_BYTES])

    def _box_of(self, message: _Message) -> str:
        return self.fake.file_box(message.file_name, message.content or b"", url_file=message.url_file)

    def _open_box(self, file_box: str) -> tuple[str, bytes | None, Literal["base64", "uuid", "url"]]:
        """Read a box the bot sent as FileBox.fromJSON does, of either era: ``type`` or ``boxType``, ``url`` or
        ``remoteUrl``."""
        try:
            box = json.loads(file_box)
            name = str(box.get("name", ""))
            box_type = box.get("type") or box.get("boxType")
        except (ValueError, AttributeError) as error:
            raise self.fake.failure("file_box is not FileBox JSON") from error
        if box_type == BOX_BASE64:
            try:
                return name, base64.b64decode(box["base64"], validate=True), "base64"
            except (KeyError, ValueError) as error:
                raise self.fake.failure("no Base64 data") from error
        if box_type == BOX_UUID:
            content = self.fake.files.get(str(box.get("uuid", "")))
            if content is None:
                raise self.fake.failure("uuid box of a file never uploaded")
            return name, content, "uuid"
        if box_type == BOX_URL:
            if not (box.get("url") or box.get("remoteUrl")):
                raise self.fake.failure("no url")
            return name, None, "url"
        raise self.fake.failure(f"unknown filebox json object{{type}}: {box_type!r}")


def _with_deprecated(response_type: type[_Response], **fields: Any) -> _Response:
    """A response with deprecated fields set, as the Node service still sets them: betterproto warns when one is
    set on a message it builds (not when it reads one), which says nothing about the bot."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return response_type(**fields)


def _checked(response: _Response) -> _Response:
    """Refuse a response grpc-js would refuse to receive (grpclib itself would send it)."""
    size = len(bytes(response))
    if size > MAX_MESSAGE_BYTES:
        raise GRPCError(Status.RESOURCE_EXHAUSTED, f"Sent message larger than max ({size} vs. {MAX_MESSAGE_BYTES})")
    return response


async def _refuse_large_message(event: RecvMessage) -> None:
    size = len(bytes(event.message))
    if size > MAX_MESSAGE_BYTES:
        raise GRPCError(Status.RESOURCE_EXHAUSTED, f"Received message larger than max ({size} vs. {MAX_MESSAGE_BYTES})")


def _is_room(conversation_id: str) -> bool:
    return conversation_id.endswith("@chatroom")


def _drain(queue: asyncio.Queue[_Outgoing | _Signal]) -> list[_Outgoing | _Signal]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
