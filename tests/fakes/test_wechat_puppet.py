"""The fake Wechaty puppet service, driven by the real PuppetStub over real gRPC on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from wechaty_grpc.wechaty import PuppetStub
from wechaty_grpc.wechaty.puppet import (
    ContactPayloadRequest,
    DingRequest,
    DownloadRequest,
    EventRequest,
    EventType,
    ImageType,
    LogoutRequest,
    MessageContactRequest,
    MessageFileRequest,
    MessageImageRequest,
    MessageLocationRequest,
    MessagePayloadRequest,
    MessageSendFileRequest,
    MessageSendTextRequest,
    MessageType,
    UploadRequest,
    VersionRequest,
)

from tests.fakes.tls import SERVER_NAME, client_ssl_context, puppet_tls
from tests.fakes.wechat_puppet import (
    BOX_BASE64,
    BOX_URL,
    BOX_UUID,
    DOWNLOAD_CHUNK_BYTES,
    MAX_MESSAGE_BYTES,
    PUPPET_TYPES,
    SCAN_WAITING,
    VERSION,
    FakePuppet,
)

ALICE = "wxid_alice"
ROOM = "20001@chatroom"
HD = ImageType(ImageType.IMAGE_TYPE_HD)  # the enum member itself: mypy reads ImageType.IMAGE_TYPE_HD as an int
SMALL = 64 * 1024  # the tests' large_file_bytes: files above it come as uuid boxes
# wechaty-puppet's numbers, as the client reads them: through the .proto's enum, whose names do not match them
# (puppet Text 7 reads as MESSAGE_TYPE_VIDEO), which is why a client must convert.
TEXT, IMAGE = PUPPET_TYPES[MessageType.MESSAGE_TYPE_TEXT], PUPPET_TYPES[MessageType.MESSAGE_TYPE_IMAGE]


@pytest.fixture
async def fake() -> AsyncIterator[FakePuppet]:
    async with FakePuppet(large_file_bytes=SMALL) as puppet:
        yield puppet


@pytest.fixture
async def channel(fake: FakePuppet) -> AsyncIterator[Channel]:
    client = Channel("127.0.0.1", fake.port)
    yield client
    client.close()


@pytest.fixture
def stub(channel: Channel, fake: FakePuppet) -> PuppetStub:
    return PuppetStub(channel, metadata={"authorization": f"Wechaty {fake.token}"}, timeout=5.0)


@dataclass
class Reader:
    """The bot's side of one Event stream: events as (type, payload), and how the stream ended."""

    task: asyncio.Task[None] | None = None
    events: asyncio.Queue[tuple[EventType, dict[str, Any]]] = field(default_factory=asyncio.Queue)

    async def next(self, within: float = 1.0) -> tuple[EventType, dict[str, Any]]:
        return await asyncio.wait_for(self.events.get(), timeout=within)


@contextlib.asynccontextmanager
async def event_stream(stub: PuppetStub, fake: FakePuppet) -> AsyncIterator[Reader]:
    reader = Reader()

    async def read() -> None:
        async for response in stub.event(EventRequest()):
            reader.events.put_nowait((response.type, json.loads(response.payload)))

    reader.task = asyncio.create_task(read())
    await fake.wait_stream(within=2.0)
    try:
        yield reader
    finally:
        reader.task.cancel()
        with contextlib.suppress(BaseException):
            await reader.task


async def until(condition: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the fake's state has no event to wait on
            await asyncio.sleep(0.005)


async def download(stub: PuppetStub, file_box: str) -> tuple[bytes, int]:
    box = json.loads(file_box)
    chunks = [response.chunk async for response in stub.download(DownloadRequest(id=box["uuid"]))]
    return b"".join(chunks), len(chunks)


# -- authentication and the one stream -------------------------------------------------------------------------------


async def test_a_call_without_the_right_token_is_refused(fake: FakePuppet, channel: Channel, stub: PuppetStub) -> None:
    for metadata in (None, {"authorization": "Wechaty wrong-token"}, {"authorization": fake.token}):
        with pytest.raises(GRPCError) as refused:
            await PuppetStub(channel, metadata=metadata).version(VersionRequest())
        assert refused.value.status is Status.UNAUTHENTICATED
    assert fake.unauthenticated == 3

    assert (await stub.version(VersionRequest())).version == VERSION
    assert fake.unauthenticated == 3


async def test_a_second_event_stream_is_refused_and_the_first_goes_on(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as first:
        with pytest.raises(GRPCError) as refused:
            async for _ in stub.event(EventRequest()):
                pass
        assert refused.value.status is Status.ALREADY_EXISTS

        message_id = fake.say(ALICE, "还在吗")
        assert await first.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
    assert fake.streams_opened == 1


# -- messages in -------------------------------------------------------------------------------------------------------


async def test_a_message_event_names_the_message_and_its_payload_follows(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as reader:
        direct = fake.say(ALICE, "我家楼道的灯坏了")
        in_room = fake.say(ALICE, "@连心 请看一下", room=ROOM, mentions=[fake.self_id])
        assert await reader.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": direct})
        assert await reader.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": in_room})

    payload = await stub.message_payload(MessagePayloadRequest(id=direct))
    assert (payload.id, payload.type, payload.text) == (direct, TEXT, "我家楼道的灯坏了")
    assert (payload.talker_id, payload.listener_id, payload.room_id) == (ALICE, fake.self_id, "")
    assert isinstance(payload.receive_time, datetime)
    assert payload.timestamp_deprecated == int(payload.receive_time.timestamp() * 1000)  # still sent, in ms

    payload = await stub.message_payload(MessagePayloadRequest(id=in_room))
    assert (payload.room_id, payload.listener_id, payload.mention_ids) == (ROOM, "", [fake.self_id])

    assert fake.delivered == [direct, in_room]
    assert fake.payload_requests == [direct, in_room]
    with pytest.raises(GRPCError) as missing:
        await stub.message_payload(MessagePayloadRequest(id="msg-unknown"))
    assert missing.value.status is Status.UNKNOWN  # a failure of the puppet, as GError reports it


async def test_a_small_image_comes_inline_as_a_base64_box(fake: FakePuppet, stub: PuppetStub) -> None:
    photo = b"\xff\xd8small jpeg" * 100
    message_id = fake.send_image(ALICE, photo, name="lamp.jpg")

    payload = await stub.message_payload(MessagePayloadRequest(id=message_id))
    assert payload.type == IMAGE
    response = await stub.message_image(MessageImageRequest(id=message_id, type=HD))
    box = json.loads(response.file_box)
    assert box == {
        "metadata": {},
        "name": "lamp.jpg",
        "size": len(photo),
        "base64": base64.b64encode(photo).decode(),
        "type": BOX_BASE64,
        "boxType": BOX_BASE64,
    }


async def test_a_large_image_comes_as_a_uuid_box_whose_bytes_are_downloaded(fake: FakePuppet, stub: PuppetStub) -> None:
    photo = bytes(range(256)) * (2 * DOWNLOAD_CHUNK_BYTES // 256 + 10)  # three chunks, the last one short
    message_id = fake.send_image(ALICE, photo)

    response = await stub.message_image(MessageImageRequest(id=message_id, type=HD))
    box = json.loads(response.file_box)
    assert (box["type"], box["boxType"], box["name"], box["size"]) == (BOX_UUID, BOX_UUID, "photo.jpg", len(photo))
    assert "base64" not in box
    assert await download(stub, response.file_box) == (photo, 3)

    with pytest.raises(GRPCError) as missing:
        await download(stub, json.dumps({"uuid": "no-such-file"}))
    assert missing.value.status is Status.UNKNOWN


async def test_an_attachment_a_location_and_a_contact_card(fake: FakePuppet, stub: PuppetStub) -> None:
    document = b"%PDF-1.7 minutes of the council meeting"
    attachment = fake.send_file(ALICE, document, name="议事会纪要.pdf")
    location = fake.send_location(ALICE, 30.2741, 120.1551, name="幸福里社区", address="杭州市西湖区幸福路1号")
    fake.add_contact("wxid_neighbour", name="王阿姨", phones=["13800000000"])
    card = fake.send_contact_card(ALICE, "wxid_neighbour")

    payload = await stub.message_payload(MessagePayloadRequest(id=attachment))
    assert (payload.type, payload.filename) == (PUPPET_TYPES[MessageType.MESSAGE_TYPE_ATTACHMENT], "议事会纪要.pdf")
    box = json.loads((await stub.message_file(MessageFileRequest(id=attachment))).file_box)
    assert base64.b64decode(box["base64"]) == document

    place = (await stub.message_location(MessageLocationRequest(id=location))).location
    assert (place.latitude, place.longitude, place.name) == (30.2741, 120.1551, "幸福里社区")
    assert place.address == "杭州市西湖区幸福路1号"

    assert (await stub.message_payload(MessagePayloadRequest(id=card))).type == PUPPET_TYPES[
        MessageType.MESSAGE_TYPE_CONTACT
    ]
    shared = await stub.message_contact(MessageContactRequest(id=card))
    contact = await stub.contact_payload(ContactPayloadRequest(id=shared.id))
    assert (contact.id, contact.name, contact.phones) == ("wxid_neighbour", "王阿姨", ["13800000000"])

    with pytest.raises(GRPCError) as wrong_type:
        await stub.message_location(MessageLocationRequest(id=attachment))
    assert wrong_type.value.status is Status.UNKNOWN


async def test_system_messages_and_the_accounts_own_messages_say_who_wrote_them(
    fake: FakePuppet, stub: PuppetStub
) -> None:
    system = fake.system_message("你已添加了王阿姨，现在可以开始聊天了。")
    older = fake.system_message("你撤回了一条消息", as_unknown=True)
    own = fake.from_self(ALICE, "我是您的党代表")
    system_payload = await stub.message_payload(MessagePayloadRequest(id=system))
    older_payload = await stub.message_payload(MessagePayloadRequest(id=older))
    own_payload = await stub.message_payload(MessagePayloadRequest(id=own))
    assert (system_payload.type, system_payload.talker_id) == (18, "weixin")  # puppet System, as in the .proto
    assert (older_payload.type, older_payload.talker_id) == (0, "weixin")  # puppet Unknown
    assert (own_payload.talker_id, own_payload.listener_id) == (fake.self_id, ALICE)


async def test_message_types_go_out_as_the_puppets_numbers_unless_asked_for_the_protos(
    fake: FakePuppet, stub: PuppetStub
) -> None:
    sent = {
        fake.say(ALICE, "你好"): 7,
        fake.send_image(ALICE, b"jpeg"): 6,
        fake.send_file(ALICE, b"pdf", name="a.pdf"): 1,
        fake.send_location(ALICE, 30.0, 120.0): 8,
        fake.send_contact_card(ALICE, "wxid_neighbour"): 3,
        fake._receive(MessageType.MESSAGE_TYPE_VIDEO, ALICE, ""): 15,
        fake._receive(MessageType.MESSAGE_TYPE_EMOTICON, ALICE, ""): 5,
    }
    for message_id, number in sent.items():
        payload = await stub.message_payload(MessagePayloadRequest(id=message_id))
        assert payload.type == number, message_id

    async with FakePuppet(type_numbers="proto") as proto:
        proto_stub = PuppetStub(Channel("127.0.0.1", proto.port), metadata={"authorization": f"Wechaty {proto.token}"})
        try:
            text = proto.say(ALICE, "你好")
            image = proto.send_image(ALICE, b"jpeg")
            payloads = [await proto_stub.message_payload(MessagePayloadRequest(id=id_)) for id_ in (text, image)]
        finally:
            proto_stub.channel.close()
    assert [payload.type for payload in payloads] == [MessageType.MESSAGE_TYPE_TEXT, MessageType.MESSAGE_TYPE_IMAGE]


# -- messages out ------------------------------------------------------------------------------------------------------


async def test_sent_texts_are_recorded_and_a_test_can_make_sends_fail(fake: FakePuppet, stub: PuppetStub) -> None:
    fake.fail_next_sends = 1
    with pytest.raises(GRPCError) as unavailable:
        await stub.message_send_text(MessageSendTextRequest(conversation_id=ALICE, text="收到"))
    assert unavailable.value.status is Status.UNAVAILABLE
    assert fake.sent == []

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # reading the deprecated wrapper does not warn
        response = await stub.message_send_text(MessageSendTextRequest(conversation_id=ALICE, text="收到，已登记"))
    assert response.id_string_value_deprecated == response.id != ""  # both, as the Node service fills them
    sent = await fake.wait_sent(ALICE, 1, within=1.0)
    assert [(item.kind, item.text, item.message_id) for item in sent] == [("text", "收到，已登记", response.id)]
    assert fake.sent_to(ROOM) == []
    with pytest.raises(AssertionError):
        await fake.wait_sent(ALICE, 2, within=0.05)


async def test_echoed_sends_come_back_as_the_accounts_own_messages(fake: FakePuppet, stub: PuppetStub) -> None:
    fake.echo_sends = True
    async with event_stream(stub, fake) as reader:
        sent = await stub.message_send_text(MessageSendTextRequest(conversation_id=ROOM, text="本周接待日：周三"))
        assert await reader.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": sent.id})
    payload = await stub.message_payload(MessagePayloadRequest(id=sent.id))
    assert (payload.talker_id, payload.room_id, payload.text) == (fake.self_id, ROOM, "本周接待日：周三")


async def test_a_large_file_is_uploaded_then_sent_as_a_uuid_box(fake: FakePuppet, stub: PuppetStub) -> None:
    content = b"x" * (300 * 1024)
    upload = await stub.upload(
        [UploadRequest(chunk=content[start : start + 100 * 1024]) for start in range(0, len(content), 100 * 1024)]
    )
    box = {"name": "digest.xlsx", "metadata": {}, "boxType": BOX_UUID, "uuid": upload.id}
    response = await stub.message_send_file(MessageSendFileRequest(conversation_id=ROOM, file_box=json.dumps(box)))
    assert response.id_string_value_deprecated == response.id != ""

    [sent] = fake.sent_to(ROOM)
    assert (sent.kind, sent.file_name, sent.content, sent.box, sent.message_id) == (
        "file",
        "digest.xlsx",
        content,
        "uuid",
        response.id,
    )
    never_uploaded = json.dumps({**box, "uuid": "not-uploaded"})
    with pytest.raises(GRPCError) as missing:
        await stub.message_send_file(MessageSendFileRequest(conversation_id=ROOM, file_box=never_uploaded))
    assert missing.value.status is Status.UNKNOWN


async def test_a_box_the_bot_sends_may_use_either_eras_keys(fake: FakePuppet, stub: PuppetStub) -> None:
    encoded = base64.b64encode(b"chart").decode()
    boxes = {
        "1.x": {"name": "a.png", "type": BOX_BASE64, "base64": encoded},
        "0.x": {"name": "b.png", "boxType": BOX_BASE64, "base64": encoded},
        "both": {"name": "c.png", "type": BOX_BASE64, "boxType": BOX_BASE64, "base64": encoded},
        "url": {"name": "d.png", "type": BOX_URL, "url": "https://example.org/d.png"},
        "remoteUrl": {"name": "e.png", "boxType": BOX_URL, "remoteUrl": "https://example.org/e.png"},
    }
    for box in boxes.values():
        await stub.message_send_file(MessageSendFileRequest(conversation_id=ALICE, file_box=json.dumps(box)))
    assert [(sent.file_name, sent.box, sent.content) for sent in fake.sent] == [
        ("a.png", "base64", b"chart"),
        ("b.png", "base64", b"chart"),
        ("c.png", "base64", b"chart"),
        ("d.png", "url", None),
        ("e.png", "url", None),
    ]
    for broken in ({"name": "f.png", "base64": encoded}, {"name": "g.png", "type": BOX_URL}, "not json"):
        file_box = broken if isinstance(broken, str) else json.dumps(broken)
        with pytest.raises(GRPCError) as refused:
            await stub.message_send_file(MessageSendFileRequest(conversation_id=ALICE, file_box=file_box))
        assert refused.value.status is Status.UNKNOWN
    assert len(fake.sent) == len(boxes)


async def test_a_url_box_is_fetched_over_http_with_the_headers_it_names(fake: FakePuppet, stub: PuppetStub) -> None:
    photo = b"\xff\xd8photo behind a url"
    message_id = fake.send_image(ALICE, photo, name="lamp.jpg", as_url=True, headers={"X-Token": "t-1"})
    plain = fake.send_file(ALICE, b"%PDF", name="a.pdf", as_url=True)

    box = json.loads((await stub.message_image(MessageImageRequest(id=message_id, type=HD))).file_box)
    assert {key: box[key] for key in ("name", "size", "headers", "type", "boxType")} == {
        "name": "lamp.jpg",
        "size": -1,  # FileBox.fromUrl() does not know it
        "headers": {"X-Token": "t-1"},
        "type": BOX_URL,
        "boxType": BOX_URL,
    }
    assert box["url"].startswith(f"http://127.0.0.1:{fake.http_port}/")
    plain_box = json.loads((await stub.message_file(MessageFileRequest(id=plain))).file_box)
    assert "headers" not in plain_box

    async with aiohttp.ClientSession() as session:
        async with session.get(box["url"]) as refused:
            assert refused.status == 403
        async with session.get(box["url"], headers=box["headers"]) as response:
            assert (response.status, await response.read()) == (200, photo)
        await fake.restart()  # the URL outlives a restart of the service
        async with session.get(plain_box["url"]) as response:
            assert (response.status, await response.read()) == (200, b"%PDF")
    assert fake.url_refused == 1
    assert len(fake.url_fetches) == 2
    await fake.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(plain_box["url"])  # stopped with the fake


async def test_a_send_to_a_stranger_fails_as_a_failure_of_the_puppet(fake: FakePuppet, stub: PuppetStub) -> None:
    fake.add_contact("wxid_bob", name="老王")
    fake.strangers.add(ALICE)
    box = json.dumps({"name": "a.png", "type": BOX_BASE64, "base64": base64.b64encode(b"png").decode()})
    for send in (
        stub.message_send_text(MessageSendTextRequest(conversation_id=ALICE, text="您好")),
        stub.message_send_file(MessageSendFileRequest(conversation_id=ALICE, file_box=box)),
    ):
        with pytest.raises(GRPCError) as refused:
            await send
        assert refused.value.status is Status.UNKNOWN
        assert "not friend" in (refused.value.message or "")
    assert fake.sent == []

    stranger = await stub.contact_payload(ContactPayloadRequest(id=ALICE))  # known to the puppet or not
    friend = await stub.contact_payload(ContactPayloadRequest(id="wxid_bob"))
    assert (stranger.id, stranger.friend, friend.friend) == (ALICE, False, True)
    await stub.message_send_text(MessageSendTextRequest(conversation_id="wxid_bob", text="您好"))
    assert [sent.conversation_id for sent in fake.sent] == ["wxid_bob"]


async def test_a_service_before_gerror_answers_failures_with_internal() -> None:
    async with FakePuppet(error_status=Status.INTERNAL) as fake:
        fake.strangers.add(ALICE)
        stub = PuppetStub(Channel("127.0.0.1", fake.port), metadata={"authorization": f"Wechaty {fake.token}"})
        try:
            for call in (
                stub.message_send_text(MessageSendTextRequest(conversation_id=ALICE, text="您好")),
                stub.message_payload(MessagePayloadRequest(id="msg-unknown")),
            ):
                with pytest.raises(GRPCError) as refused:
                    await call
                assert refused.value.status is Status.INTERNAL
        finally:
            stub.channel.close()


async def test_a_base64_box_is_taken_up_to_the_grpc_message_limit(fake: FakePuppet, stub: PuppetStub) -> None:
    def base64_box(size: int) -> str:
        encoded = base64.b64encode(b"c" * size).decode()
        return json.dumps({"name": "chart.png", "metadata": {}, "boxType": BOX_BASE64, "base64": encoded})

    await stub.message_send_file(MessageSendFileRequest(conversation_id=ALICE, file_box=base64_box(1000)))
    assert [(sent.file_name, sent.content, sent.box) for sent in fake.sent] == [("chart.png", b"c" * 1000, "base64")]

    too_large = MAX_MESSAGE_BYTES * 3 // 4 + 1024  # above 4 MiB once in base64
    with pytest.raises(GRPCError) as refused:
        await stub.message_send_file(MessageSendFileRequest(conversation_id=ALICE, file_box=base64_box(too_large)))
    assert refused.value.status is Status.RESOURCE_EXHAUSTED
    assert len(fake.sent) == 1


async def test_a_file_the_service_would_send_above_the_limit_is_refused(stub: PuppetStub, fake: FakePuppet) -> None:
    fake.large_file_bytes = 8 * MAX_MESSAGE_BYTES  # a misconfiguration: everything inline
    message_id = fake.send_image(ALICE, b"p" * (MAX_MESSAGE_BYTES * 3 // 4 + 1024))
    with pytest.raises(GRPCError) as refused:
        await stub.message_image(MessageImageRequest(id=message_id, type=HD))
    assert refused.value.status is Status.RESOURCE_EXHAUSTED


# -- the event stream's life -------------------------------------------------------------------------------------------


async def test_ding_is_answered_by_a_dong_with_the_same_data(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as reader:
        await stub.ding(DingRequest(data="probe-1"))
        assert await reader.next() == (EventType.EVENT_TYPE_DONG, {"data": "probe-1"})
    assert fake.dings == 1


async def test_events_without_a_stream_are_lost_and_only_login_is_replayed(fake: FakePuppet, stub: PuppetStub) -> None:
    fake.scan(status=SCAN_WAITING)
    fake.login()
    lost = fake.say(ALICE, "没人在听")
    assert fake.dropped == 4  # scan, login, ready, the message

    async with event_stream(stub, fake) as reader:
        assert await reader.next() == (EventType.EVENT_TYPE_LOGIN, {"contactId": fake.self_id})
        assert await reader.next() == (EventType.EVENT_TYPE_READY, {"data": "ready"})
        await stub.ding(DingRequest(data="barrier"))
        assert await reader.next() == (EventType.EVENT_TYPE_DONG, {"data": "barrier"})
    assert lost not in fake.delivered


async def test_scan_login_and_logout_reach_the_stream(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as reader:
        fake.scan("https://login.weixin.qq.com/l/abc", status=SCAN_WAITING)
        assert await reader.next() == (
            EventType.EVENT_TYPE_SCAN,
            {"qrcode": "https://login.weixin.qq.com/l/abc", "status": SCAN_WAITING},
        )
        fake.login()
        assert [(await reader.next())[0] for _ in range(2)] == [EventType.EVENT_TYPE_LOGIN, EventType.EVENT_TYPE_READY]
        await stub.logout(LogoutRequest())
        assert await reader.next() == (
            EventType.EVENT_TYPE_LOGOUT,
            {"contactId": fake.self_id, "data": "logout by client"},
        )
    assert not fake.logged_in


async def test_a_redelivered_message_comes_twice_with_the_same_id(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as reader:
        message_id = fake.say(ALICE, "重复")
        fake.redeliver(message_id)
        assert [await reader.next() for _ in range(2)] == [
            (EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        ] * 2
    assert fake.delivered == [message_id, message_id]


async def test_heartbeats_come_every_so_often_when_asked_for() -> None:
    async with FakePuppet(heartbeat_seconds=0.02) as fake:
        channel = Channel("127.0.0.1", fake.port)
        stub = PuppetStub(channel, metadata={"authorization": f"Wechaty {fake.token}"})
        try:
            async with event_stream(stub, fake) as reader:
                assert [(await reader.next())[0] for _ in range(2)] == [EventType.EVENT_TYPE_HEARTBEAT] * 2
        finally:
            channel.close()


async def test_a_cut_stream_fails_on_the_client_and_a_new_one_can_open(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake) as reader:
        await fake.cut_stream()
        assert reader.task is not None
        with pytest.raises(StreamTerminatedError):
            await asyncio.wait_for(reader.task, timeout=1.0)
        assert not fake.stream_open

    async with event_stream(stub, fake) as again:
        message_id = fake.say(ALICE, "又连上了")
        assert await again.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
    assert fake.streams_opened == 2


async def test_a_stopped_service_ends_the_stream_and_a_restart_serves_the_same_port(
    fake: FakePuppet, stub: PuppetStub
) -> None:
    port = fake.port
    async with event_stream(stub, fake) as reader:
        await fake.stop()
        assert reader.task is not None
        await asyncio.wait_for(reader.task, timeout=1.0)  # ended cleanly: no exception
        assert not fake.stream_open
        with pytest.raises(OSError):
            await stub.version(VersionRequest())

    await fake.restart()
    assert fake.port == port
    assert (await stub.version(VersionRequest())).version == VERSION  # the same channel connects again
    fake.login()
    async with event_stream(stub, fake) as reader:
        assert (await reader.next())[0] == EventType.EVENT_TYPE_LOGIN


async def test_a_client_that_goes_away_frees_the_stream(fake: FakePuppet, stub: PuppetStub) -> None:
    async with event_stream(stub, fake):
        pass
    await until(lambda: not fake.stream_open)
    assert fake.emit(EventType.EVENT_TYPE_HEARTBEAT, {"data": "nobody"}) is False


# -- TLS ---------------------------------------------------------------------------------------------------------------


async def test_tls_clients_verify_with_the_test_ca_and_the_server_name() -> None:
    def client(ca_pem: Path | None, *, override: bool = True) -> PuppetStub:
        config = Configuration(ssl_target_name_override=SERVER_NAME if override else None)
        channel = Channel("127.0.0.1", fake.port, ssl=client_ssl_context(ca_pem), config=config)
        channels.append(channel)
        return PuppetStub(channel, metadata={"authorization": f"Wechaty {fake.token}"}, timeout=2.0)

    channels: list[Channel] = []
    fake = FakePuppet()
    with puppet_tls() as (server_context, ca_pem):
        await fake.start(ssl=server_context)
        try:
            trusted = client(ca_pem)
            assert (await trusted.version(VersionRequest())).version == VERSION
            with pytest.raises(ssl.SSLCertVerificationError):
                await client(None).version(VersionRequest())  # only the system's CAs
            with pytest.raises(ssl.SSLCertVerificationError):
                await client(ca_pem, override=False).version(VersionRequest())  # checks "127.0.0.1"

            await fake.restart()
            assert (await trusted.version(VersionRequest())).version == VERSION  # still TLS after a restart
        finally:
            for channel in channels:
                channel.close()
            await fake.stop()
