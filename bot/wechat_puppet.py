"""The Wechaty puppet service's gRPC protocol, as Lianxin speaks it: the connection (TLS by default, the token in
each call's metadata), files as FileBox JSON (base64 when small, Upload/Download when large), and the event stream
kept open: the service keeps no history and does not redeliver, allows one stream at a time, and grpclib does not
reopen a stream by itself, so a broken stream is reopened with a jittered, capped backoff, and a watchdog pings
(Ding) a stream that has gone quiet and reopens it when the ping is not answered.

Nothing here knows Lianxin's records: the channel (bot/wechat.py) is told of messages, logins and logouts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError, StreamTerminatedError
from wechaty_grpc.wechaty import PuppetStub
from wechaty_grpc.wechaty import puppet as pb

from storage.settings import WeChat

log = logging.getLogger(__name__)
MAX_MESSAGE = 4 * 1024 * 1024  # gRPC's default message limit, the service's too
# A file sent inline travels as base64 (4/3 of its size) inside a JSON string inside a message: above this it goes
# by Upload and a uuid box instead.
INLINE_BYTES = 2 * 1024 * 1024
CHUNK = 256 * 1024  # bytes per Upload message
BOX_BASE64, BOX_URL, BOX_QRCODE, BOX_UUID = 1, 2, 3, 7  # FileBoxType numbers (huan/file-box), stable by design
CONNECTION_ERRORS = (GRPCError, StreamTerminatedError, OSError, asyncio.TimeoutError, ConnectionError)


class FileTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def endpoint_of(endpoint: str) -> tuple[str, int]:
    """ "host:port" (an IPv6 host in brackets) as (host, port)."""
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def server_name_of(token: str) -> str:
    """The TLS server name the Node puppet service's certificate carries: the token's prefix before its last "_"
    (the token "puppet_paimon_1234" names "puppet_paimon"); a token without one names nothing."""
    prefix, _, _rest = token.rpartition("_")
    return prefix


def qr_link(qrcode: str, prefix: str) -> str:
    """The login QR code as a link to a page that draws it (`wechat.qr_link`), or its text when there is none."""
    from urllib.parse import quote

    return prefix + quote(qrcode, safe="") if prefix else qrcode


def ssl_context(ca_file: str) -> ssl.SSLContext:
    """Verify the service against `ca_file` (or the system's CAs), HTTP/2 by ALPN as gRPC needs."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    return context


def box_json(name: str, *, content: bytes | None = None, uuid_: str | None = None, size: int = -1) -> str:
    """A FileBox as the service reads it: inline base64, or a uuid the service was given by Upload. Its type under
    both keys: file-box 1.x writes `type` and still reads the older `boxType`, which services before it need."""
    if uuid_ is not None:
        box: dict[str, Any] = {"type": BOX_UUID, "boxType": BOX_UUID, "uuid": uuid_}
    else:
        box = {"type": BOX_BASE64, "boxType": BOX_BASE64, "base64": base64.b64encode(content or b"").decode()}
    box.update(name=name, metadata={}, size=size if size >= 0 else len(content or b""))
    return json.dumps(box, ensure_ascii=False)


class Puppet:
    """One connection to the puppet service and the calls Lianxin makes over it."""

    def __init__(self, settings: WeChat, token: str) -> None:
        self.settings = settings
        host, port = endpoint_of(settings.endpoint)
        context = ssl_context(settings.ca_file) if settings.tls else None
        config = Configuration(ssl_target_name_override=(settings.server_name or server_name_of(token) or None))
        self.channel = Channel(host, port, ssl=context, config=config)
        self.stub = PuppetStub(self.channel, metadata={"authorization": f"Wechaty {token}"})
        self.timeout = settings.request_timeout_seconds

    def close(self) -> None:
        self.channel.close()

    def reconnect(self) -> None:
        """Drop the connection: the next call opens a new one (calls in flight on the old one fail)."""
        protocol = self.channel._protocol  # grpclib 0.4.9 (pinned): its channel reconnects when this is gone
        if protocol is not None:
            protocol.processor.close("reconnecting")
            self.channel._protocol = None

    # -- life and health ---------------------------------------------------------------------------------------

    async def version(self) -> str:
        return (await self.stub.version(pb.VersionRequest(), timeout=self.timeout)).version

    async def ding(self, data: str) -> None:
        await self.stub.ding(pb.DingRequest(data=data), timeout=self.timeout)

    def events(self) -> AsyncIterator[pb.EventResponse]:
        return self.stub.event(pb.EventRequest())

    # -- what arrived ------------------------------------------------------------------------------------------

    async def message(self, message_id: str) -> pb.MessagePayloadResponse:
        return await self.stub.message_payload(pb.MessagePayloadRequest(id=message_id), timeout=self.timeout)

    async def location(self, message_id: str) -> pb.LocationPayload:
        found = await self.stub.message_location(pb.MessageLocationRequest(id=message_id), timeout=self.timeout)
        return found.location

    async def shared_contact_phone(self, message_id: str) -> str:
        """The phone number of a contact card someone shared ("" when the card shows none)."""
        card = await self.stub.message_contact(pb.MessageContactRequest(id=message_id), timeout=self.timeout)
        contact = await self.stub.contact_payload(pb.ContactPayloadRequest(id=card.id), timeout=self.timeout)
        return next((phone for phone in contact.phones if phone), "")

    async def contact_name(self, contact_id: str) -> str:
        contact = await self.stub.contact_payload(pb.ContactPayloadRequest(id=contact_id), timeout=self.timeout)
        return contact.name

    async def image(self, message_id: str, limit: int) -> tuple[bytes, str]:
        request = pb.MessageImageRequest(id=message_id, type=pb.ImageType(pb.ImageType.IMAGE_TYPE_HD))
        box = (await self.stub.message_image(request, timeout=self.timeout)).file_box
        return await self._unbox(box, limit)

    async def file(self, message_id: str, limit: int) -> tuple[bytes, str]:
        box = (await self.stub.message_file(pb.MessageFileRequest(id=message_id), timeout=self.timeout)).file_box
        return await self._unbox(box, limit)

    async def _unbox(self, box_text: str, limit: int) -> tuple[bytes, str]:
        """A received FileBox's bytes and name: inline base64, a uuid to Download in chunks, or a URL to fetch (the
        service passes a puppet's URL boxes on as they are)."""
        box = json.loads(box_text)
        name = str(box.get("name") or "")
        kind = box.get("type", box.get("boxType"))
        if kind == BOX_BASE64:
            content = base64.b64decode(box.get("base64") or "")
            if len(content) > limit:
                raise FileTooLarge(len(content))
            return content, name
        if kind == BOX_UUID:
            size = int(box.get("size") or 0)
            if size > limit:
                raise FileTooLarge(size)
            received = bytearray()
            async for part in self.stub.download(pb.DownloadRequest(id=str(box["uuid"])), timeout=self.timeout * 4):
                received += part.chunk
                if len(received) > limit:
                    raise FileTooLarge(len(received))
            return bytes(received), name
        if kind == BOX_URL:
            return await self._fetch_url(
                str(box.get("url") or box.get("remoteUrl") or ""), box.get("headers"), limit
            ), name
        raise ValueError(f"file box of type {kind} is not supported")

    async def _fetch_url(self, url: str, headers: Any, limit: int) -> bytes:
        import aiohttp  # only for the puppets that hand out files by URL

        if not url.startswith(("http://", "https://")):
            raise ValueError("a file box's URL that is not http(s)")
        timeout = aiohttp.ClientTimeout(total=self.timeout * 4)
        sent = {str(key): str(value) for key, value in headers.items()} if isinstance(headers, dict) else None
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, headers=sent) as response:
            if response.status >= 500:
                raise ConnectionError(f"HTTP {response.status}")
            response.raise_for_status()
            received = bytearray()
            async for part in response.content.iter_chunked(CHUNK):
                received += part
                if len(received) > limit:
                    raise FileTooLarge(len(received))
            return bytes(received)

    # -- what Lianxin sends ------------------------------------------------------------------------------------

    async def is_friend(self, contact_id: str) -> bool:
        contact = await self.stub.contact_payload(pb.ContactPayloadRequest(id=contact_id), timeout=self.timeout)
        return contact.friend

    async def send_text(self, conversation_id: str, text: str) -> str:
        request = pb.MessageSendTextRequest(conversation_id=conversation_id, text=text)
        return sent_id(await self.stub.message_send_text(request, timeout=self.timeout))

    async def send_file(self, conversation_id: str, name: str, content: bytes) -> str:
        if len(content) <= INLINE_BYTES:
            box = box_json(name, content=content)
        else:
            box = box_json(name, uuid_=await self._upload(content), size=len(content))
        request = pb.MessageSendFileRequest(conversation_id=conversation_id, file_box=box)
        return sent_id(await self.stub.message_send_file(request, timeout=self.timeout * 4))

    async def _upload(self, content: bytes) -> str:
        async def chunks() -> AsyncIterator[pb.UploadRequest]:
            for start in range(0, len(content), CHUNK):
                yield pb.UploadRequest(chunk=content[start : start + CHUNK])

        return (await self.stub.upload(chunks(), timeout=self.timeout * 4)).id


def sent_id(response: pb.MessageSendTextResponse | pb.MessageSendFileResponse) -> str:
    """The sent message's id: services before 2021-10 give it only in the older wrapper field."""
    return response.id or response.id_string_value_deprecated or ""


# -- the event stream ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event of the stream, its JSON payload read (camelCase keys, as the service writes them)."""

    type: pb.EventType
    payload: dict[str, Any]


Listener = Callable[[Event], Awaitable[None]]


def backoff(attempt: int, low: float, high: float) -> float:
    """Full jitter: a random wait up to low·2^attempt, capped at `high`, so that many bots do not reconnect in step."""
    ceiling = min(high, low * 2 ** min(attempt, 20))
    return random.uniform(low, max(low, ceiling))


class EventStream:
    """Keeps the one event stream open and hands each event to `listener`. `connected` is set while a stream is
    open. Stops with `stop()`."""

    def __init__(
        self,
        puppet: Puppet,
        settings: WeChat,
        listener: Listener,
        *,
        on_open: Callable[[], Awaitable[None]] = lambda: asyncio.sleep(0),
        on_lost: Callable[[str], Awaitable[None]] = lambda reason: asyncio.sleep(0),
    ) -> None:
        self.puppet = puppet
        self.settings = settings
        self.listener = listener
        self.on_open = on_open
        self.on_lost = on_lost
        self.connected = asyncio.Event()
        self.last_event = time.monotonic()  # anything at all arrived: an event, a dong, a heartbeat
        self.reconnects = 0
        self._stopping = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None
        self._reopen = False  # the watchdog cancelled the stream to have it opened anew

    def stop(self) -> None:
        self._stopping.set()
        if self._stream is not None:
            self._stream.cancel()

    async def run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            self._stream = asyncio.create_task(self._read(), name="wechat-events")
            watchdog = asyncio.create_task(self._watch(self._stream), name="wechat-watchdog")
            reason = "closed"
            self._reopen = False
            try:
                await self._stream
            except asyncio.CancelledError:
                if self._stopping.is_set() or not self._reopen:
                    watchdog.cancel()
                    raise  # stopped, or this task itself was cancelled
                reason = "watchdog"
            except GRPCError as error:
                reason = error.status.name
            except CONNECTION_ERRORS as error:
                reason = type(error).__name__
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
                was_open = self.connected.is_set()
                self.connected.clear()
            if self._stopping.is_set():
                return
            if was_open:
                attempt = 0
            if was_open or self.reconnects == 0:  # lost, or never had: either way WeChat is down now
                await self.on_lost(reason)
            wait = backoff(attempt, self.settings.reconnect_min_seconds, self.settings.reconnect_max_seconds)
            attempt += 1
            self.reconnects += 1
            log.warning("wechat: the event stream ended (%s); opening it again in %.1f s", reason, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)

    async def _read(self) -> None:
        async with self.puppet.stub.channel.request(
            "/wechaty.Puppet/Event",
            Cardinality.UNARY_STREAM,
            pb.EventRequest,
            pb.EventResponse,
            metadata=self.puppet.stub.metadata,
        ) as stream:
            await stream.send_message(pb.EventRequest(), end=True)
            while True:
                # A refusal (a wrong token, a second stream) comes as the first answer: it raises here.
                response = await stream.recv_message()
                if response is None:
                    await stream.recv_trailing_metadata()  # a status other than OK raises
                    return
                self.last_event = time.monotonic()
                if not self.connected.is_set():
                    # Open once something came: the service replays the login at once to a new stream, and the
                    # watchdog's Ding brings an answer where there is none.
                    self.connected.set()
                    await self.on_open()
                try:
                    payload = json.loads(response.payload) if response.payload else {}
                except ValueError:
                    payload = {}
                await self.listener(Event(response.type, payload if isinstance(payload, dict) else {}))

    async def _watch(self, stream: asyncio.Task[None]) -> None:
        """Ping a quiet stream; reopen one whose ping went unanswered (a half-open connection looks quiet too)."""
        quiet = self.settings.watchdog_seconds
        pinged_at: float | None = None
        while not stream.done():
            await asyncio.sleep(min(quiet / 4, 5.0))
            now = time.monotonic()
            if pinged_at is not None and self.last_event > pinged_at:
                pinged_at = None
            if pinged_at is None and now - self.last_event > quiet:
                pinged_at = now
                try:
                    await self.puppet.ding(uuid.uuid4().hex[:8])
                except CONNECTION_ERRORS as error:
                    log.warning("wechat: Ding failed (%s)", type(error).__name__)
            elif pinged_at is not None and now - pinged_at > quiet:
                log.warning("wechat: no answer to Ding in %.0f s; opening the event stream again", quiet)
                self._reopen = True
                stream.cancel()
                # On a new connection: grpclib would send the new stream down the same one, which may be half-open
                # (nothing arrives, nothing is refused) until the system gives up on it, minutes later.
                self.puppet.reconnect()
                return
