"""The inbox dispatcher on a real store with a handler of the test's own: a batch is one transaction, each event
in it all or nothing, a failing one given back and parked in the end, a batch whose transaction fails handled
again one event at a time, and an event with something to fetch prepared apart, holding up its own chat only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.dispatcher import Dispatcher
from storage.db import Database
from storage.delivery import inbox
from storage.delivery.inbox import QueuedEvent, Received
from storage.delivery.outbox import NewMessage
from storage.models import Area, InboxEvent, OutboxMessage, Station
from storage.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.factories import NOW


@dataclass
class Recorder:
    """Handles an event by adding a station named after it and answering it; "bad" events raise after writing."""

    fail_preload: int = 0  # this many preloads raise (the whole batch's transaction fails)
    batches: list[list[str]] = field(default_factory=list)
    applied_events: list[str] = field(default_factory=list)
    parked_events: list[str] = field(default_factory=list)

    def fetches(self, event: QueuedEvent) -> bool:
        return False

    async def prepare(self, event: QueuedEvent) -> str:
        return str(event.payload["text"])

    async def preload(self, session: AsyncSession, events: list[tuple[QueuedEvent, str]]) -> None:
        self.batches.append([text for _, text in events])
        if self.fail_preload:
            self.fail_preload -= 1
            raise RuntimeError("the store went away")

    async def apply(self, session: AsyncSession, event: QueuedEvent, text: str) -> list[NewMessage]:
        session.add(Station(name=f"站{text}"))
        await session.flush()
        if text.startswith("bad"):
            raise KeyError(text)
        if text.startswith("full"):
            await fill_the_disk(session)
        return [NewMessage("test", event.chat_key, {"text": f"re:{text}"}, inbox_id=event.id)]

    def applied(self, events: list[tuple[QueuedEvent, str]]) -> None:
        self.applied_events += [text for _, text in events]

    async def parked(self, session: AsyncSession, event: QueuedEvent) -> None:
        self.parked_events.append(str(event.payload["text"]))


async def fill_the_disk(session: AsyncSession) -> None:
    """Write until SQLite's file may grow no more (SQLite then rolls the whole transaction back by itself), and
    give the room back afterwards: the next transaction finds a disk with space again."""
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    pages = driver.execute("PRAGMA page_count").fetchone()[0]
    driver.execute(f"PRAGMA max_page_count = {pages + 1}")
    try:
        for _ in range(100):
            session.add(Area(name="x" * 5000, station_id=1))
            await session.flush()
    finally:
        driver.execute("PRAGMA max_page_count = 1073741823")


async def receive(db: Database, *texts: str) -> None:
    events = [Received(f"k{index}:{text}", f"chat-{text}", {"text": text}) for index, text in enumerate(texts)]
    async with db.transaction() as session:
        await inbox.receive(session, channel="test", events=events, now=NOW)


async def run_until_settled(dispatcher: Dispatcher[str], db: Database) -> None:
    task = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            async with db.read() as session:
                if not await inbox.pending_count(session, channel="test"):
                    return
        raise AssertionError("events are still pending")
    finally:
        dispatcher.stop()
        await task


async def stored(db: Database) -> tuple[list[str], list[str], dict[str, tuple[str, int, str]]]:
    async with db.read() as session:
        stations = (await session.exec(select(Station.name).order_by(Station.name))).all()
        replies = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        events = (await session.exec(select(InboxEvent))).all()
    return (
        list(stations),
        [reply.payload["text"] for reply in replies],
        {event.payload["text"]: (event.status, event.attempts, event.error) for event in events},
    )


@pytest.fixture
def dispatcher_settings(settings: Settings) -> Settings:
    delivery = settings.delivery.model_copy(update={"inbox_attempts": 2, "handler_batch": 16})
    return settings.model_copy(update={"delivery": delivery})


async def test_a_batch_is_one_transaction_and_a_failing_event_is_undone_alone(
    db: Database, dispatcher_settings: Settings
) -> None:
    handler = Recorder()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler, retry_seconds=0.05)
    await receive(db, "a", "bad1", "b")
    await run_until_settled(dispatcher, db)
    stations, replies, events = await stored(db)
    assert handler.batches[0] == ["a", "bad1", "b"]  # one batch, one transaction
    assert stations == ["站a", "站b"]  # what the bad event wrote before it raised is gone
    assert sorted(replies) == ["re:a", "re:b"]
    assert handler.applied_events == ["a", "b"]
    assert events["a"] == ("done", 0, "") and events["b"] == ("done", 0, "")
    # Given back, tried again (alone), and parked after the second attempt, with the error's type only.
    assert events["bad1"] == ("parked", 2, "KeyError")
    assert handler.parked_events == ["bad1"]


async def test_a_batch_whose_transaction_fails_is_handled_one_by_one(
    db: Database, dispatcher_settings: Settings
) -> None:
    handler = Recorder(fail_preload=1)
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler, retry_seconds=0.05)
    await receive(db, "a", "b", "c")
    await run_until_settled(dispatcher, db)
    stations, replies, events = await stored(db)
    assert handler.batches == [["a", "b", "c"]]  # alone, an event is not preloaded: nothing to share
    assert stations == ["站a", "站b", "站c"]  # each exactly once, the failed batch left nothing behind
    assert sorted(replies) == ["re:a", "re:b", "re:c"]
    assert {status for status, _, _ in events.values()} == {"done"}
    assert all(attempts == 0 for _, attempts, _ in events.values())  # the batch's failure is nobody's attempt


@pytest.mark.skipif(bool(POSTGRES_URL), reason="a full disk is simulated with SQLite's max_page_count")
async def test_a_full_disk_in_the_middle_of_a_batch_leaves_no_event_half_handled(
    db: Database, dispatcher_settings: Settings
) -> None:
    """SQLite rolls the batch's transaction back by itself: the events before the full one must not stay done
    while their changes are gone (or their changes stay while they are pending, to be handled twice)."""
    handler = Recorder()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler, retry_seconds=0.05)
    await receive(db, "a", "full", "b")
    await run_until_settled(dispatcher, db)
    stations, replies, events = await stored(db)
    assert stations == ["站a", "站b"]
    assert sorted(replies) == ["re:a", "re:b"]  # each answered once
    assert events["a"][0] == events["b"][0] == "done"
    assert events["full"][:2] == ("parked", 2)


async def test_an_event_handled_already_changes_nothing(db: Database, dispatcher_settings: Settings) -> None:
    """Another worker (or the process before a crash) took it: the batch's take leaves it out."""
    handler = Recorder()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler)
    await receive(db, "a", "b")
    async with db.read() as session:
        rows = await inbox.due(session, channel="test", now=NOW, limit=10, skip=[])
    async with db.transaction() as session:
        await inbox.take(session, event_ids=[rows[0].id], now=NOW)
    await dispatcher.work(rows)
    stations, replies, _ = await stored(db)
    assert stations == ["站b"] and replies == ["re:b"]
    assert handler.applied_events == ["b"]


@dataclass
class Fetcher(Recorder):
    """Events named photo… are fetched apart; each fetch waits until the test lets them finish, and photo-bad…
    fails then."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    fetching: list[str] = field(default_factory=list)

    def fetches(self, event: QueuedEvent) -> bool:
        return str(event.payload["text"]).startswith("photo")

    async def prepare(self, event: QueuedEvent) -> str:
        text = str(event.payload["text"])
        if self.fetches(event):
            self.fetching.append(text)
            await self.release.wait()
            if text.startswith("photo-bad"):
                raise OSError("the download broke off")
        return text


async def receive_in_chats(db: Database, *events: tuple[str, str]) -> None:
    received = [Received(f"k{index}:{text}", chat, {"text": text}) for index, (chat, text) in enumerate(events)]
    async with db.transaction() as session:
        await inbox.receive(session, channel="test", events=received, now=NOW)


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true")


async def test_an_event_being_fetched_holds_up_its_own_chat_only(db: Database, dispatcher_settings: Settings) -> None:
    handler = Fetcher()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler, retry_seconds=0.05)
    await receive_in_chats(db, ("A", "photo1"), ("A", "a-after"), ("B", "photo2"), ("C", "c"))
    task = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: "c" in handler.applied_events)
        await asyncio.sleep(0.1)
        assert sorted(handler.fetching) == ["photo1", "photo2"]  # fetched side by side
        assert handler.applied_events == ["c"]  # A's next event waits for A's photo
        handler.release.set()
        await until(lambda: len(handler.applied_events) == 4)
    finally:
        dispatcher.stop()
        await task
    assert handler.applied_events.index("photo1") < handler.applied_events.index("a-after")
    stations, replies, events = await stored(db)
    assert stations == ["站a-after", "站c", "站photo1", "站photo2"]  # each exactly once
    assert sorted(replies) == ["re:a-after", "re:c", "re:photo1", "re:photo2"]
    assert set(events.values()) == {("done", 0, "")}
    assert handler.fetching.count("photo1") == 1  # prepared once, not again when it was handled


async def test_a_fetch_that_fails_is_retried_then_parked_and_its_chat_goes_on(
    db: Database, dispatcher_settings: Settings
) -> None:
    handler = Fetcher()
    handler.release.set()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler, retry_seconds=0.05)
    await receive_in_chats(db, ("A", "photo-bad"), ("A", "a-after"))
    await run_until_settled(dispatcher, db)
    stations, replies, events = await stored(db)
    assert stations == ["站a-after"] and replies == ["re:a-after"]
    assert events["photo-bad"] == ("parked", 2, "OSError")
    assert handler.fetching == ["photo-bad", "photo-bad"]
    assert handler.parked_events == ["photo-bad"]
    assert events["a-after"] == ("done", 0, "")


async def test_a_stop_lets_the_fetches_under_way_finish_and_handles_them(
    db: Database, dispatcher_settings: Settings
) -> None:
    handler = Fetcher()
    dispatcher = Dispatcher(db, dispatcher_settings, channel="test", handler=handler)
    await receive_in_chats(db, ("A", "photo1"), ("B", "b"))
    task = asyncio.create_task(dispatcher.run())
    await until(lambda: handler.fetching == ["photo1"] and "b" in handler.applied_events)
    dispatcher.stop()
    await asyncio.sleep(0.1)
    assert not task.done()  # the fetch is under way
    handler.release.set()
    await asyncio.wait_for(task, 2)
    _, replies, events = await stored(db)
    assert events["photo1"] == ("done", 0, "") and sorted(replies) == ["re:b", "re:photo1"]
