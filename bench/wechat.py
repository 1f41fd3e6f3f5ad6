"""Throughput and latency of the WeChat channel: simulated representatives log visits by numbered replies (the quick
form, then numbers) through a fake puppet service in this process (real gRPC on 127.0.0.1), against `lianxin run`
with WeChat alone in its own process.

Latency is from the moment the fake emits a message event to the moment the bot's answer to it (the message that
step must bring) reaches the fake. Before the runs WARM_UP_USERS of the users log one visit each, unmeasured (a
fresh process imports modules and compiles SQL on first use). Two runs, in the same process:
  * saturation: users answer at once: steps answered per second;
  * paced, `--rate` steps a second in all: p50 and p99. The users start spread over one step's interval and
    step at random (exponential) intervals around users/rate seconds.

Both run without WeChat's anti-spam pace (per_minute 20: a deployment setting that keeps a personal account from
being blocked): the sends are paced at per_minute 600000 (10,000 a second), far above what the bot sends, so the
figures are the bot's own.
With --pace a third run keeps the default pace and times 60 notices to 60 people (about three minutes).

    uv run python bench/wechat.py [--seconds 15] [--users 50] [--rate 20] [--seed 2026] [--db URL] [--pace]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from bench.throughput import demo_with_representatives, forget_dialogs
from storage.db import Database, sqlite_url
from storage.delivery import outbox
from storage.models import OutboxMessage, utcnow
from tests.fakes import bot_process, wechat_process
from tests.fakes.wechat_puppet import FakePuppet, Sent

WARM_UP_USERS = 20
NOTICES = 60
SEND_CAP = 600_000 / 60  # messages a second: the highest wechat.per_minute the settings accept
ANSWER_WITHIN = 10.0  # seconds; a step unanswered by then counts as an error

# One visit as a representative logs it in WeChat, and what the answer to each step says: the quick form, the
# household's categories confirmed (by the number of "确认" in the menu it got), alone, routine, no photo, no
# location, saved.
VISIT: list[tuple[str, str]] = [
    ("走访 {address} 入户 看望", "这户的类别"),
    ("#确认", "个人走访还是集体走访"),
    ("1", "日常走访还是集中走访"),
    ("1", "需要附照片吗"),
    ("1", "需要记录走访位置吗"),
    ("1", "请核对这次走访"),
    ("1", "走访已保存"),
]


class TimedPuppet(FakePuppet):
    """The fake service, telling who listens the moment each of the bot's messages arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[Callable[[Sent, float], None]] = []
        self.sent_at: list[float] = []

    def record_send(self, sent: Sent) -> None:
        arrived = time.perf_counter()
        self.sent_at.append(arrived)
        super().record_send(sent)
        for listener in self.listeners:
            listener(sent, arrived)


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / max(self.finished - self.started, 1e-9)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


@dataclass
class Waiting:
    marker: str
    future: asyncio.Future[tuple[str, float]]


class Users:
    """Simulated representatives: each writes a step, waits for the answer that step must bring, and goes on."""

    def __init__(self, fake: TimedPuppet, talkers: dict[str, str]) -> None:
        self.fake = fake
        self.talkers = talkers  # WeChat id -> the address its representative visits
        self.waiting: dict[str, Waiting] = {}
        fake.listeners.append(self._answered)

    def _answered(self, sent: Sent, arrived: float) -> None:
        waiting = self.waiting.get(sent.conversation_id)
        if waiting is not None and waiting.marker in sent.text and not waiting.future.done():
            del self.waiting[sent.conversation_id]
            waiting.future.set_result((sent.text, arrived))

    async def step(self, talker: str, words: str, marker: str, measured: Measured) -> str | None:
        """The answer's text, or None when it did not come."""
        future: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self.waiting[talker] = Waiting(marker, future)
        pushed = time.perf_counter()
        self.fake.say(talker, words)
        try:
            answer, arrived = await asyncio.wait_for(future, ANSWER_WITHIN)
        except TimeoutError:
            self.waiting.pop(talker, None)
            measured.errors += 1
            return None
        if pushed >= measured.started:  # steps of the ramp are not measured
            measured.latencies.append(arrived - pushed)
        return answer

    async def visit(self, talker: str, until: float, measured: Measured, *, pace: float) -> None:
        answer = ""
        for words, marker in VISIT:
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            if words.startswith("#"):  # pick the label by its number in the menu just received
                found = re.search(rf"^(\d+)\. {re.escape(words[1:])}$", answer, re.MULTILINE)
                words = found.group(1) if found else words[1:]
            got = await self.step(talker, words.format(address=self.talkers[talker]), marker, measured)
            if got is None:
                await self.fake.wait_stream(within=ANSWER_WITHIN)
                self.fake.say(talker, "/cancel")  # start the next visit afresh
                return
            answer = got
            if pace:  # think, but not past the end of the run
                next_step = min(started + random.expovariate(1 / pace), until)
                await asyncio.sleep(max(0.0, next_step - time.perf_counter()))

    async def visits(self, talker: str, until: float, measured: Measured, *, pace: float = 0.0) -> None:
        await asyncio.sleep(random.uniform(0, pace if pace else 0.05))
        while time.perf_counter() < until:
            await self.visit(talker, until, measured, pace=pace)

    async def warm_up(self) -> None:
        until = time.perf_counter() + 60
        unmeasured = Measured()
        await asyncio.gather(
            *(self.visit(talker, until, unmeasured, pace=0) for talker in list(self.talkers)[:WARM_UP_USERS])
        )


async def prepare(database: str, users: int) -> dict[str, str]:
    """The demo district, and `users` of its representatives bound to WeChat ids, each with the address of the first
    household of their own area."""
    keys = [f"wxid_bench_{number:03d}" for number in range(users)]
    return await demo_with_representatives(database, channel="wechat", keys=keys)


async def running(fake: TimedPuppet, database: str, work: Path, **settings: str) -> asyncio.subprocess.Process:
    """`lianxin run` with WeChat alone, once its event stream is open and the login replayed to it."""
    env = wechat_process.environment(fake, work / "files", limits__messages_per_minute="1000000", **settings)
    process = await bot_process.start(database, env, work / "lianxin.log")
    deadline = time.perf_counter() + 60
    while not fake.stream_open:
        if process.returncode is not None or time.perf_counter() > deadline:
            raise RuntimeError(f"lianxin run did not open the event stream (log: {work / 'lianxin.log'})")
        await asyncio.sleep(0.05)
    return process


async def run_visits(
    talkers: dict[str, str], database: str, work: Path, seconds: float, rate: float
) -> tuple[Measured, Measured]:
    fake = TimedPuppet()
    async with fake:
        fake.login()
        process = await running(fake, database, work, wechat__per_chat_per_second="30", wechat__per_minute="600000")
        try:
            users = Users(fake, talkers)
            await users.warm_up()
            saturated = Measured(started=time.perf_counter())
            until = saturated.started + seconds
            await asyncio.gather(*(users.visits(talker, until, saturated) for talker in talkers))
            saturated.finished = time.perf_counter()

            await forget_dialogs(database)
            pace = len(talkers) / rate  # each user steps every users/rate seconds: `rate` steps a second in all
            paced = Measured(started=time.perf_counter() + pace)
            until = paced.started + seconds
            await asyncio.gather(*(users.visits(talker, until, paced, pace=pace) for talker in talkers))
            paced.finished = time.perf_counter()
        finally:
            await bot_process.stop(process)
    return saturated, paced


async def run_notices(database: str, work: Path) -> None:
    """The default anti-spam pace: NOTICES notices to as many people, timed from queued to the last one received."""
    fake = TimedPuppet()
    async with fake:
        fake.login()
        process = await running(fake, database, work)
        try:
            people_ = [f"wxid_notice_{number:03d}" for number in range(NOTICES)]
            db = Database(database)
            first = len(fake.sent)
            all_sent = asyncio.Event()
            fake.listeners.append(lambda _sent, _at: all_sent.set() if len(fake.sent) - first >= NOTICES else None)
            queued = time.perf_counter()
            async with db.transaction() as session:
                ids = await outbox.enqueue(
                    session,
                    messages=[outbox.NewMessage("wechat", chat, {"text": "接待日通知"}, bulk=True) for chat in people_],
                    now=utcnow(),
                )
            with contextlib.suppress(TimeoutError):  # what is still waiting then is reported
                await asyncio.wait_for(all_sent.wait(), NOTICES * 6)
            took = time.perf_counter() - queued
            times = fake.sent_at[first:]
            busiest = max((sum(1 for other in times if at <= other < at + 60) for at in times), default=0)
            async with db.read() as session:
                statuses = (
                    await session.exec(select(OutboxMessage.status).where(col(OutboxMessage.id).in_(ids)))
                ).all()
            await db.dispose()
        finally:
            await bot_process.stop(process)
    refused = sum(1 for status in statuses if status == "failed")
    print(
        f"wechat with the anti-spam pace (per_minute 20): {len(times)}/{NOTICES} notices to {NOTICES} people in "
        f"{took:.0f} s, at most {busiest} in any minute, refused {refused}, still waiting "
        f"{sum(1 for status in statuses if status == 'pending')}"
    )


def report(name: str, measured: Measured) -> None:
    print(
        f"{name}: {len(measured.latencies)} steps in {measured.finished - measured.started:.1f} s = "
        f"{measured.rate:.1f} msgs/s, p50 {measured.percentile(0.5):.1f} ms, p99 {measured.percentile(0.99):.1f} ms, "
        f"unanswered {measured.errors}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run")
    parser.add_argument("--users", type=int, default=50, help="simulated representatives")
    parser.add_argument("--rate", type=float, default=20.0, help="steps per second of the paced run")
    parser.add_argument("--seed", type=int, default=2026, help="the paced run's pattern of arrivals")
    parser.add_argument(
        "--db", help="a PostgreSQL URL (its public schema is emptied); default: a temporary SQLite file"
    )
    parser.add_argument(
        "--pace", action="store_true", help=f"also time {NOTICES} notices at the default anti-spam pace (~3 minutes)"
    )
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        database = args.db or sqlite_url(work / "bench.db")
        print(f"store: {'SQLite' if database.startswith('sqlite') else 'PostgreSQL'}")
        print("runs without WeChat's anti-spam pace (wechat.per_minute 600000, per_chat_per_second 30)")
        talkers = await prepare(database, args.users)
        # This process plays the service and the users, and takes the time: a pause of its own collector would be
        # counted as the bot's latency.
        gc.collect()
        gc.disable()
        saturated, paced = await run_visits(talkers, database, work, args.seconds, args.rate)
        report("wechat, saturation", saturated)
        if saturated.rate > 0.9 * SEND_CAP:
            print(f"  (near the cap on sends: wechat.per_minute at most 600000, {SEND_CAP:.0f} a second)")
        report(f"wechat, paced at {args.rate:.0f} steps/s", paced)
        if args.pace:
            gc.enable()
            await run_notices(database, work)
    print(
        f"wechat: {saturated.rate:.1f} msgs/s at saturation; paced {args.rate:.0f}/s: "
        f"p50 {paced.percentile(0.5):.1f} ms, p99 {paced.percentile(0.99):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
