"""Throughput and latency of the Telegram channel: simulated representatives log visits through the fake Bot API
against `lianxin run` (its own process, SQLite), and the same users write to a bare python-telegram-bot echo bot
on the same fake server, in the same run.

Latency is from the moment an update is available at the (fake) Bot API to the moment the bot's answer (a new
message or the edit of the pressed one) reaches it. Before each run WARM_UP_USERS of the users log one visit each,
unmeasured: a fresh process imports modules and compiles SQL on first use, which is start-up, not throughput.
Four runs:
  * saturation, Lianxin and bare PTB: users answer at once, no flood limits: updates/s, and the bot's CPU time
    per update;
  * paced, Lianxin only, 50 updates/s: p50 and p99, once without flood limits (the bot's own latency: the last
    line's figures) and once with Telegram's flood limits on both sides. The users start spread over one visit
    (a ramp of 7 steps x users/rate seconds), only the steps after the ramp count, and both paced runs have the
    same arrival pattern (--seed).

Three of a visit's seven steps answer with a new message (the others edit the pressed one), so at 50 updates/s
some 21 new messages a second meet Telegram's cap of 30 (the sender keeps it as "never 30 within 1.05 s"). When
more than that arrive within one second, the rest wait for the second to pass: with flood limits the p99 is
that wait, and depends on how the steps happen to bunch up (--seed), not on the bot.

    uv run python bench/throughput.py [--seconds 20] [--users 100] [--rate 50] [--seed 2026] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import col, delete, select

from storage.db import Database, sqlite_url
from storage.exchange.demo import build_demo
from storage.models import DialogState, Household, RepArea, Representative
from storage.records import people
from storage.settings import load_settings
from tests.fakes import bot_process
from tests.fakes.telegram_api import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
FIRST_CHAT = 100_001
WARM_UP_USERS = 20

# One visit as a representative logs it on the phone: the quick form, then the buttons, then the location step
# skipped by typing. Each step gets exactly one answer (a new message or the pressed message edited).
VISIT = [
    ("text", "走访 {address} 入户 看望"),
    ("button", "visit:cat:ok"),
    ("button", "visit:with:solo"),
    ("button", "visit:round:routine"),
    ("button", "visit:photos:done"),
    ("text", "跳过"),
    ("button", "visit:save"),
]

BARE_ECHO_BOT = """
import sys
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)

token, base_url = sys.argv[1], sys.argv[2]
application = ApplicationBuilder().token(token).base_url(base_url).build()
application.add_handler(MessageHandler(filters.TEXT, echo))
application.run_polling(timeout=1, poll_interval=0.0)
"""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    errors: int = 0
    cpu: float = float("nan")  # CPU seconds the bot used during the run

    @property
    def cpu_per_update(self) -> float:
        return self.cpu / max(len(self.latencies), 1) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / max(self.finished - self.started, 1e-9)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


class Users:
    """Simulated people: each pushes an update, waits for the bot's answer in their chat, and goes on."""

    def __init__(self, server: FakeTelegramServer, chats: dict[int, str]) -> None:
        self.server = server
        self.chats = chats  # chat id -> the address its representative visits
        self.waiting: dict[int, asyncio.Future[float]] = {}
        server.on_bot_message.append(self._answered)

    def _answered(self, chat_id: int, _message: dict[str, Any]) -> None:
        future = self.waiting.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def step(self, chat_id: int, kind: str, value: str, measured: Measured) -> None:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = future
        pushed = time.perf_counter()
        if kind == "text":
            self.server.user_sends_text(chat_id, value)
        else:
            sent = self.server.sent(chat_id)
            if not sent:
                self.waiting.pop(chat_id, None)
                measured.errors += 1
                return
            self.server.user_presses_button(chat_id, sent[-1]["message_id"], value, check=False)
        try:
            answered = await asyncio.wait_for(future, 10)
        except TimeoutError:
            self.waiting.pop(chat_id, None)
            measured.errors += 1
            return
        if pushed >= measured.started:  # steps of the ramp are not measured
            measured.latencies.append(answered - pushed)

    async def visits(
        self, chat_id: int, until: float, measured: Measured, *, echo: bool = False, pace: float = 0.0
    ) -> None:
        """Log visits one after another until the time is up; with pace, each step starts `pace` seconds after the
        previous one started (an open, steady load), else as soon as the answer is there (saturation)."""
        # Paced users start spread over one whole visit, so that the load is steady from the start of the
        # measurement: started together, all of them would begin with the quick form, the dearest step.
        await asyncio.sleep(random.uniform(0, len(VISIT) * pace if pace else 0.05))
        while time.perf_counter() < until:
            await self.visit(chat_id, until, measured, echo=echo, pace=pace)

    async def visit(self, chat_id: int, until: float, measured: Measured, *, echo: bool, pace: float) -> None:
        address = self.chats[chat_id]
        for kind, value in VISIT:
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            if echo:  # the echo bot has no buttons: the same number of steps, as text
                await self.step(chat_id, "text", value.format(address=address), measured)
            else:
                await self.step(chat_id, kind, value.format(address=address), measured)
            if pace:  # think, but not past the end of the run
                next_step = min(started + random.expovariate(1 / pace), until)
                await asyncio.sleep(max(0.0, next_step - time.perf_counter()))

    async def warm_up(self, *, echo: bool = False) -> None:
        """The first WARM_UP_USERS log one whole visit each, as fast as they can; nothing is measured."""
        until = time.perf_counter() + 60
        unmeasured = Measured()
        await asyncio.gather(
            *(self.visit(chat, until, unmeasured, echo=echo, pace=0) for chat in list(self.chats)[:WARM_UP_USERS])
        )


async def prepare(database: str, users: int) -> dict[int, str]:
    """The demo district, and `users` of its representatives bound to Telegram chats, each with an address of a
    household in their own area that no other household shares (so the quick form opens it directly)."""
    keys = [str(FIRST_CHAT + number) for number in range(users)]
    bound = await demo_with_representatives(database, channel="telegram", keys=keys)
    return {int(key): address for key, address in bound.items()}


async def demo_with_representatives(database: str, *, channel: str, keys: list[str]) -> dict[str, str]:
    """The demo district in an empty store, and its first representatives bound to the chats `keys` of `channel`,
    each with the address of the first household of their own area. Shared by the channels' benchmarks."""
    settings = load_settings()
    db = Database(database)
    if not db.is_sqlite:  # start from an empty PostgreSQL database
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await db.upgrade()
    await build_demo(db, settings=settings, today=date.today())
    bound: dict[str, str] = {}
    async with db.transaction() as session:
        representatives = (await session.exec(select(Representative).order_by(col(Representative.id)))).all()
        for key, representative in zip(keys, representatives, strict=False):
            identity = await people.identity_for(session, channel=channel, external_id=key)
            await people.assume_role(
                session, identity=identity, role="representative", code=representative.code, actor="bench"
            )
            household = (
                await session.exec(
                    select(Household)
                    .join(RepArea, col(RepArea.area_id) == col(Household.area_id))
                    .where(RepArea.representative_id == representative.id)
                    .order_by(col(Household.id))
                )
            ).first()
            assert household is not None
            bound[key] = household.address
    await db.dispose()
    return bound


def lianxin_environment(server: FakeTelegramServer, files: Path, *, flood_limits: bool) -> dict[str, str]:
    unlimited = {
        "delivery__private_per_second": "30",
        "delivery__private_burst": "30",
        "delivery__overall_per_second": "1000",
    }
    # A simulated representative writes far faster than a person (a step every two seconds at 50 updates/s, one
    # after another at saturation): the per-person flood limit is lifted, though every update still pays its count.
    return bot_process.environment(
        server,
        files,
        telegram__poll_timeout_seconds="1",
        limits__messages_per_minute="1000000",
        **({} if flood_limits else unlimited),
    )


async def started(server: FakeTelegramServer, process: asyncio.subprocess.Process) -> None:
    """Wait until the bot polls (its start-up is not part of the measurement)."""
    polls = len(server.calls_to("getUpdates"))
    deadline = time.perf_counter() + 60
    while len(server.calls_to("getUpdates")) <= polls + 1:
        if process.returncode is not None or time.perf_counter() > deadline:
            raise RuntimeError("the bot did not start")
        await asyncio.sleep(0.05)


async def forget_dialogs(database: str) -> None:
    """A run ends with users in the middle of a visit; the next run starts them afresh."""
    db = Database(database)
    async with db.transaction() as session:
        await session.exec(delete(DialogState))
    await db.dispose()


async def run_lianxin(
    chats: dict[int, str], database: str, work: Path, seconds: float, *, flood_limits: bool, pace: float = 0.0
) -> tuple[Measured, FakeTelegramServer]:
    await forget_dialogs(database)
    # The same bot as in the previous run: its update ids go on from where they were.
    # The server keeps the time of each call on the clock the users measure with.
    first_update = int(time.time() * 1000)
    async with FakeTelegramServer(
        flood_limits=flood_limits, first_update_id=first_update, clock=time.perf_counter
    ) as server:
        users = Users(server, chats)
        env = lianxin_environment(server, work / "files", flood_limits=flood_limits)
        process = await bot_process.start(database, env, work / "lianxin.log")
        try:
            await started(server, process)
            await users.warm_up()
            ramp = len(VISIT) * pace  # paced users all under way before anything is measured
            measured = Measured(started=time.perf_counter() + ramp)
            until = measured.started + seconds
            cpu = cpu_seconds(process.pid)
            await asyncio.gather(*(users.visits(chat, until, measured, pace=pace) for chat in chats))
            measured.finished = time.perf_counter()
            measured.cpu = cpu_seconds(process.pid) - cpu
        finally:
            await bot_process.stop(process)
        return measured, server


async def run_bare(chats: dict[int, str], work: Path, seconds: float) -> Measured:
    async with FakeTelegramServer(flood_limits=False) as server:
        users = Users(server, chats)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            BARE_ECHO_BOT,
            server.token,
            server.base_url,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await started(server, process)
            await users.warm_up(echo=True)
            measured = Measured(started=time.perf_counter())
            until = measured.started + seconds
            cpu = cpu_seconds(process.pid)
            await asyncio.gather(*(users.visits(chat, until, measured, echo=True) for chat in chats))
            measured.finished = time.perf_counter()
            measured.cpu = cpu_seconds(process.pid) - cpu
        finally:
            await bot_process.stop(process)
        return measured


def report(name: str, measured: Measured) -> None:
    print(
        f"{name}: {len(measured.latencies)} updates in {measured.finished - measured.started:.1f} s = "
        f"{measured.rate:.1f} upd/s, p50 {measured.percentile(0.5):.1f} ms, p99 {measured.percentile(0.99):.1f} ms, "
        f"mean {statistics.fmean(measured.latencies) * 1000 if measured.latencies else float('nan'):.1f} ms, "
        f"unanswered {measured.errors}, bot CPU {measured.cpu_per_update:.2f} ms per update"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--users", type=int, default=100, help="simulated representatives")
    parser.add_argument("--rate", type=float, default=50.0, help="updates per second of the paced runs")
    parser.add_argument("--seed", type=int, default=2026, help="the paced runs' pattern of arrivals")
    parser.add_argument(
        "--db", help="a PostgreSQL URL (its public schema is emptied); default: a temporary SQLite file"
    )
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        database = args.db or sqlite_url(work / "bench.db")
        print(f"store: {'SQLite' if database.startswith('sqlite') else 'PostgreSQL'}")
        chats = await prepare(database, args.users)
        # This process plays Telegram and the users, and takes the time: a pause of its own collector (80 ms once
        # the fake server has recorded a few thousand calls) would be counted as the bot's latency.
        gc.collect()
        gc.disable()
        saturated, _ = await run_lianxin(chats, database, work, args.seconds, flood_limits=False)
        report("lianxin, saturation", saturated)
        bare = await run_bare(chats, work, args.seconds)
        report("bare ptb echo, saturation", bare)
        # Each user takes a step every users/rate seconds on average: `rate` updates per second in all.
        pace = args.users / args.rate
        random.seed(args.seed)
        paced, _ = await run_lianxin(chats, database, work, args.seconds, flood_limits=False, pace=pace)
        report(f"lianxin, paced at {args.rate:.0f} upd/s", paced)
        random.seed(args.seed)
        limited, server = await run_lianxin(chats, database, work, args.seconds, flood_limits=True, pace=pace)
        report(f"lianxin, paced at {args.rate:.0f} upd/s with Telegram's flood limits", limited)
        sends = [call for call in server.calls_to("sendMessage") if limited.started <= call.at <= limited.finished]
        print(
            f"with flood limits: {len(sends) / (limited.finished - limited.started):.1f} new messages/s, "
            f"flood-limit refusals (429): {server.flood_refusals}"
        )
    print(
        f"throughput: lianxin {saturated.rate:.1f} upd/s, bare ptb {bare.rate:.1f} upd/s, "
        f"ratio {saturated.rate / bare.rate:.2f}, "
        f"p50 {paced.percentile(0.5):.1f} ms, p99 {paced.percentile(0.99):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
