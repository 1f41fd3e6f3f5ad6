"""Nothing the puppet service delivered is lost or handled twice: the event stream cut off, the service restarted,
an event delivered twice, `lianxin run` killed with SIGKILL while messages flow in; and the channel's own guards:
the watchdog that reopens a silent stream, the backoff against a service that refuses it, the ops chat told."""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from wechaty_grpc.wechaty import puppet as pb

from bot.wechat import CHANNEL
from bot.wechat_runtime import WeChatBot
from storage.db import Database
from storage.delivery import outbox
from storage.models import InboxEvent, OutboxMessage, utcnow
from storage.records import channel_status
from storage.settings import Settings
from tests.bot.telegram_harness import invitation, visits
from tests.bot.test_reliability import settled
from tests.bot.wechat_harness import OPS, REP, RESIDENT, WeChatHarness, running_wechat, wait_for, wechat_settings
from tests.factories import District
from tests.fakes import bot_process, wechat_process
from tests.fakes.wechat_puppet import FakePuppet, _PuppetService

QUICK_VISIT = "走访 幸福路12号1栋1单元101 入户 看望"
RESIDENT_GREETING = "发送“写信”给党代表反映问题"  # the one answer a resident's "你好" gets
RECEIVE_BATCH = 64  # bot/wechat.RECEIVE_BATCH: what can be read off the stream and not yet committed


def number_of(menu: str, label: str) -> str:
    """The number a person replies to pick `label` from a numbered menu."""
    found = re.search(rf"^(\d+)\. {re.escape(label)}$", menu, re.MULTILINE)
    assert found is not None, f"no {label!r} in:\n{menu}"
    return found.group(1)


async def bound_representative(wechat: WeChatHarness, db: Database) -> None:
    assert "绑定成功" in await wechat.say(REP, await invitation(db))


async def visit_to_the_second_question(wechat: WeChatHarness) -> None:
    """The quick form, the household's categories confirmed, alone: the visit waits for its kind (routine or not)."""
    categories = await wechat.say(REP, QUICK_VISIT)
    assert "这户的类别" in categories
    assert "个人走访还是集体走访" in await wechat.say(REP, number_of(categories, "确认"))
    assert "日常走访还是集中走访" in await wechat.say(REP, "1")


async def visit_finished(wechat: WeChatHarness) -> None:
    """From the kind of visit on: routine, no photo, no location, saved."""
    assert "需要附照片吗" in await wechat.say(REP, "1")
    assert "需要记录走访位置吗" in await wechat.say(REP, "1")
    assert "请核对这次走访" in await wechat.say(REP, "1")
    assert "走访已保存" in await wechat.say(REP, "1")


async def all_handled_once(wechat: WeChatHarness) -> None:
    """Every message event the fake delivered is one inbox row, handled, without a failed attempt."""
    events = await wechat.inbox()
    assert sorted(event.event_key for event in events) == sorted(set(wechat.fake.delivered))
    assert {(event.status, event.attempts) for event in events} == {("done", 0)}


@pytest.fixture
async def wechat(db: Database, settings: Settings, district: District, tmp_path: Path) -> AsyncIterator[WeChatHarness]:
    async with running_wechat(db, settings, tmp_path / "files") as harness:
        yield harness


async def test_a_stream_cut_mid_visit_is_reopened_and_the_visit_goes_on(wechat: WeChatHarness, db: Database) -> None:
    await bound_representative(wechat, db)
    await visit_to_the_second_question(wechat)
    assert wechat.fake.streams_opened == 1

    await wechat.fake.cut_stream()
    await wechat.fake.wait_stream()

    assert wechat.fake.streams_opened == 2
    await visit_finished(wechat)  # the dialog answers from the step it was at
    assert len(await visits(db)) == 1
    await all_handled_once(wechat)


async def test_a_service_restart_sends_the_replies_queued_meanwhile_once(wechat: WeChatHarness, db: Database) -> None:
    await bound_representative(wechat, db)
    await visit_to_the_second_question(wechat)
    fake = wechat.fake

    # The service is down for a second (a restart takes longer than that), and the bot queues notices meanwhile.
    await fake.stop()
    async with db.transaction() as session:
        queued = await outbox.enqueue(
            session,
            messages=[outbox.NewMessage(CHANNEL, REP, {"text": f"通知 {number}"}, bulk=True) for number in range(3)],
            now=utcnow(),
        )
    wechat.bot.sender.wake()
    await asyncio.sleep(1.0)
    await fake.start(fake.host, fake.port)
    await fake.wait_stream()

    notices = [
        sent for sent in await fake.wait_sent(REP, len(fake.sent_to(REP)) + 3, within=3) if sent.text.startswith("通知")
    ]
    assert [sent.text for sent in notices] == ["通知 0", "通知 1", "通知 2"]
    # The login was replayed to the new stream and taken: the account is logged in again.
    assert fake.streams_opened == 2
    assert wechat.bot.channel.self_id == fake.self_id
    async with db.read() as session:
        status = await channel_status.read(session, channel=CHANNEL)
    assert status is not None and status.state == "logged_in"

    await visit_finished(wechat)
    assert len(await visits(db)) == 1
    await all_handled_once(wechat)
    rows = await wechat.outbox()
    assert {row.id for row in rows} >= set(queued)
    assert {row.status for row in rows} == {"sent"}
    # Each row sent exactly once: what the fake received is what the outbox says was sent, no more.
    texts = [row for row in rows if row.kind == "message"]
    assert sorted(row.external_id for row in texts) == sorted(sent.message_id for sent in fake.sent_to(REP))


async def test_a_message_event_delivered_twice_is_handled_once(wechat: WeChatHarness) -> None:
    message_id = wechat.fake.say(RESIDENT, "你好")
    await wait_for(lambda: message_id in wechat.fake.payload_requests, "the first delivery")
    await wechat.settle()
    wechat.fake.redeliver(message_id)
    await wait_for(lambda: wechat.fake.delivered.count(message_id) == 2, "the second delivery")
    await asyncio.sleep(0.2)
    await wechat.settle()
    assert wechat.fake.payload_requests.count(message_id) == 1  # its id was known: not even read again

    assert [event.event_key for event in await wechat.inbox()] == [message_id]
    answers = wechat.fake.sent_to(RESIDENT)
    assert len(answers) == 1 and RESIDENT_GREETING in answers[0].text
    assert len(await wechat.outbox()) == 1


# -- `lianxin run` killed ------------------------------------------------------------------------------------------

TALKERS = 50
MESSAGES_EACH = 10
KILL_AFTER = 150  # messages delivered on a stream
CONCURRENCY = 8


class WeChatProcess:
    """`lianxin run` with WeChat alone, against the fake in this process; killed and started again as the test likes."""

    def __init__(self, fake: FakePuppet, database_url: str, files: Path) -> None:
        self.fake = fake
        self.database_url = database_url
        self.files = files
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        env = wechat_process.environment(
            self.fake,
            self.files,
            # The anti-spam pace and flood limits are the subject of other tests; here they would only make it slow.
            wechat__per_chat_per_second="30",
            wechat__per_minute="6000",
            wechat__reconnect_min_seconds="0.05",
            wechat__reconnect_max_seconds="0.3",
            delivery__sender_concurrency=str(CONCURRENCY),
            delivery__retry_seconds="0.1",
            # A killed worker's leases (PostgreSQL) run out quickly; on SQLite they live in the dead process only.
            delivery__lease_seconds="2",
        )
        log = self.files.parent / f"wechat-{self.kills}.log"
        self.process = await bot_process.start(self.database_url, env, log)

    async def wait_stream(self) -> None:
        """Wait until the process has the Event stream open; fail at once if it exited."""
        deadline = asyncio.get_running_loop().time() + 30
        while not self.fake.stream_open:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"lianxin run exited with {self.process.returncode} (log: {self.files.parent})")
            assert asyncio.get_running_loop().time() < deadline, "lianxin run opened no Event stream in 30 s"
            await asyncio.sleep(0.02)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        if self.process is not None:
            await bot_process.stop(self.process)


async def test_sigkill_while_messages_flow_in_loses_at_most_what_was_in_flight(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    fake = FakePuppet()
    async with fake:
        fake.login()
        bot = WeChatProcess(fake, database_url, tmp_path / "files")
        await bot.start()
        emitted: list[str] = []
        delivered_before_restart = 0
        for number in range(TALKERS * MESSAGES_EACH):
            if not fake.stream_open:  # the service drops what is emitted with no stream open: wait for one
                await bot.wait_stream()
            emitted.append(fake.say(f"wxid_talker_{number % TALKERS:02d}", f"你好 {number}"))
            await asyncio.sleep(0.01)
            if bot.kills == 0 and len(fake.delivered) >= KILL_AFTER:
                await bot.kill()
                delivered_before_restart = len(fake.delivered)
                await bot.start()
        try:
            await bot.wait_stream()
            # What was delivered to the new process is read by it (what the killed one read off the stream and
            # had not stored is gone: the service cannot give it again).
            after_restart = set(fake.delivered[delivered_before_restart:])
            await wait_for(lambda: set(fake.payload_requests) >= after_restart, "the last reads", within=30)
            # Ids the killed process stored but did not read are read by the new one (every few seconds).
            for _ in range(300):
                async with db.read() as session:
                    statuses = (await session.exec(select(InboxEvent.status))).all()
                if "arrived" not in statuses:
                    break
                await asyncio.sleep(0.1)
            await settled(db, len(statuses), within=60)
        finally:
            await bot.stop()

    async with db.read() as session:
        events = (await session.exec(select(InboxEvent))).all()
        replies = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    delivered = set(fake.delivered)
    stored = {event.event_key for event in events}
    not_delivered = set(emitted) - delivered  # emitted while the stream was going down: dropped by the service
    lost = delivered - stored  # read off the stream by the killed process, not yet stored as arrived
    print(
        f"emitted {len(emitted)}, dropped by the service {len(not_delivered)}, delivered {len(delivered)}, "
        f"stored {len(stored)}, lost at the kill {len(lost)}, sent {len(fake.sent)} for {len(replies)} replies"
    )
    assert bot.kills == 1 and fake.streams_opened == 2
    assert len(fake.delivered) == len(delivered)  # the service itself delivered nothing twice
    assert stored <= delivered  # nothing in the inbox that the service did not deliver
    assert len(lost) <= RECEIVE_BATCH
    assert len(stored) >= len(emitted) - len(not_delivered) - RECEIVE_BATCH
    # Every event stored was handled once: done at the first attempt, one answer each, none queued twice.
    assert len(events) == len(stored) and {(event.status, event.attempts) for event in events} == {("done", 0)}
    per_event = collections.Counter(reply.inbox_id for reply in replies)
    assert set(per_event) == {event.id for event in events} and set(per_event.values()) == {1}
    assert {reply.status for reply in replies} == {"sent"}
    assert all(RESIDENT_GREETING in reply.payload["text"] for reply in replies)
    # Each reply reached its person; one being sent at the kill may have gone twice (its mark was not committed).
    assert {sent.message_id for sent in fake.sent} >= {reply.external_id for reply in replies}
    assert len(replies) <= len(fake.sent) <= len(replies) + bot.kills * CONCURRENCY


# -- the channel's guards ------------------------------------------------------------------------------------------


async def no_dong(self: _PuppetService, request: pb.DingRequest) -> pb.DingResponse:
    """Ding answered, but no dong on the stream: a service whose stream is stuck (a half-open connection)."""
    self.fake.dings += 1
    return pb.DingResponse()


async def test_the_watchdog_reopens_a_stream_whose_ping_goes_unanswered(
    db: Database, settings: Settings, district: District, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_PuppetService, "ding", no_dong)
    async with running_wechat(db, settings, tmp_path / "files", watchdog_seconds=0.4) as wechat:
        await wait_for(lambda: wechat.fake.streams_opened >= 3, "two reopened streams", within=5)
        assert wechat.fake.dings >= 2  # it pinged before each
        # Once the service answers again, the stream stays and works: a message gets its answer.
        monkeypatch.undo()
        await asyncio.sleep(1.0)  # a ping that went unanswered before may still reopen it once
        await wechat.fake.wait_stream()
        opened = wechat.fake.streams_opened
        assert RESIDENT_GREETING in await wechat.say(RESIDENT, "你好")
        assert wechat.fake.streams_opened == opened


class StallingProxy:
    """A TCP relay between the channel and the service that can stall: its connections stop carrying bytes either
    way without closing, as a half-open connection does (a NAT that forgot it, a dead link). A side that closes is
    passed on to the other, so a connection the channel gives up ends at the service too."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections = 0
        self._stalled: list[asyncio.Event] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def stall(self) -> None:
        """The connections open now carry nothing more; new ones work."""
        for stalled in self._stalled:
            stalled.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        stalled = asyncio.Event()
        self._stalled.append(stalled)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while chunk := await source.read(65536):
                    if stalled.is_set():
                        continue  # swallowed: neither delivered nor refused
                    sink.write(chunk)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))


async def test_the_watchdog_reopens_a_half_open_connection_on_a_new_one(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    """The connection goes silent without closing: the ping goes unanswered too (its time-out), the stream is
    reopened, and on a new connection (grpclib would otherwise send it down the dead one). Messages flow again."""
    from tests.bot.telegram_harness import free_port

    fake = FakePuppet()
    fake.port = free_port()
    async with StallingProxy(fake.port) as proxy:
        endpoint = f"127.0.0.1:{proxy.port}"
        options: dict[str, Any] = {"endpoint": endpoint, "watchdog_seconds": 0.5, "request_timeout_seconds": 0.5}
        async with running_wechat(db, settings, tmp_path / "files", fake=fake, **options) as wechat:
            assert RESIDENT_GREETING in await wechat.say(RESIDENT, "你好")
            assert proxy.connections == 1
            proxy.stall()
            await wait_for(lambda: fake.streams_opened >= 2, "the stream reopened", within=10)
            assert proxy.connections >= 2  # a new connection, not the stalled one
            await fake.wait_stream()
            await asyncio.sleep(0.3)
            before = len(fake.sent_to(RESIDENT))
            assert RESIDENT_GREETING in await wechat.read_new(RESIDENT, before, fake.say(RESIDENT, "在吗"))


async def test_the_watchdog_keeps_a_stream_that_answers_its_ping(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_wechat(db, settings, tmp_path / "files", watchdog_seconds=0.4) as wechat:
        await asyncio.sleep(2.0)
        assert wechat.fake.dings >= 2
        assert wechat.fake.streams_opened == 1


async def test_a_refused_stream_is_tried_again_with_growing_waits_and_the_ops_chats_told_once(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    telegram = settings.telegram.model_copy(update={"ops_chat_id": 4242})  # a Telegram bot runs beside (a token)
    async with FakePuppet() as fake:
        fake.login()
        chosen = wechat_settings(
            settings.model_copy(update={"telegram": telegram, "telegram_token": "1:x"}),
            fake,
            tmp_path / "files",
            reconnect_min_seconds=0.05,
            reconnect_max_seconds=0.4,
            down_alert_minutes=0.01,
        )
        bot = WeChatBot(chosen, db, "not-the-token", scheduler=False)
        await bot.start()
        try:
            await wait_for(lambda: fake.unauthenticated >= 1, "the first refusal")
            first = fake.unauthenticated
            started = time.monotonic()
            await asyncio.sleep(1.0)
            tries = fake.unauthenticated - first
            # The waits grow from 0.05 s to 0.4 s: some 5 to 8 tries a second. A tight loop would make hundreds,
            # and even a constant 0.05 s wait twenty.
            assert 2 <= tries <= 14, tries
            await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - started)))  # the alert is due after 0.6 s
            async with db.read() as session:  # before stop() records "stopped"
                status = await channel_status.read(session, channel=CHANNEL)
        finally:
            await bot.stop()
    assert not fake.streams_opened

    async with db.read() as session:
        notes = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert status is not None and status.down_since is not None
    assert [(note.channel, note.chat_key) for note in notes] == [("telegram", "4242"), (CHANNEL, OPS)]
    assert all(note.payload.get("ops") for note in notes)


async def test_a_channel_that_never_got_a_stream_is_recorded_down(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with FakePuppet() as fake:
        bot = WeChatBot(wechat_settings(settings, fake, tmp_path / "files"), db, "not-the-token", scheduler=False)
        await bot.start()
        try:
            await wait_for(lambda: fake.unauthenticated >= 3, "three refusals")
            async with db.read() as session:  # before stop() records "stopped"
                status = await channel_status.read(session, channel=CHANNEL)
        finally:
            await bot.stop()
    assert status is not None and status.state == "down"
