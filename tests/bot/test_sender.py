"""The sender's rate limiter keeps what it knows of each chat bounded, without weakening any limit.

(The limits themselves are tested in tests/bot/test_telegram.py, with and without the running bot.)"""

from __future__ import annotations

import random

import pytest

from bot.sender import PRUNE_FROM, RateLimiter
from storage.settings import Settings


def limiter_at(now: list[float]) -> RateLimiter:
    """A limiter on a fake clock; the overall limit out of the way, so that `acquire` never sleeps here."""
    delivery = Settings().delivery.model_copy(
        update={"private_per_second": 1.0, "private_burst": 3, "group_per_minute": 20, "overall_per_second": 1000.0}
    )
    return RateLimiter(delivery, clock=lambda: now[0])


def is_group(key: str) -> bool:
    return key.startswith("-")


async def test_a_hundred_thousand_chats_leave_a_bounded_number_of_budgets() -> None:
    now = [1000.0]
    limiter = limiter_at(now)
    largest = 0
    for chat in range(100_000):
        now[0] += 0.01  # a hundred chats a second, each sent one message: a broadcast to a city district
        key = f"-{chat}" if chat % 10 == 0 else str(chat)
        await limiter.acquire(key, group=is_group(key))
        largest = max(largest, len(limiter._chats))
    # A private chat says something for a second after its message (its bucket refills), a group for a minute:
    # about 90 + 600 chats at any moment, and pruning keeps the dict under twice what the last pruning left.
    assert largest < 2_000, largest


async def test_a_group_whose_minute_is_full_is_not_forgotten() -> None:
    now = [1000.0]
    limiter = limiter_at(now)
    for _ in range(20):
        now[0] += 1.0
        await limiter.acquire("-7", group=True)
    for chat in range(3 * PRUNE_FROM):  # other chats come and go: the limiter prunes twice meanwhile
        now[0] += 0.01
        await limiter.acquire(str(chat), group=False)
    assert len(limiter._chats) < 2 * PRUNE_FROM
    assert limiter.chat_wait("-7", group=True) == pytest.approx(1001.0 + 60.0 - now[0])  # its first leaves at 1061


async def test_pruning_changes_no_answer_of_the_limiter() -> None:
    """The same sends through a limiter that prunes and one that never does: every wait is the same."""
    rng = random.Random(2026)
    now = [1000.0]
    pruning, keeping = limiter_at(now), limiter_at(now)
    keeping._prune_at = 10**9
    busy = ["-1", "-2", "3", "4", "5"]  # chats that write all the time, among thousands that write now and then
    sent = 0
    for _ in range(30_000):
        now[0] += rng.expovariate(100.0)
        key = rng.choice(busy) if rng.random() < 0.3 else str(rng.randrange(-2_000, 8_000))
        wait = pruning.chat_wait(key, group=is_group(key))
        assert wait == keeping.chat_wait(key, group=is_group(key)), key
        if wait == 0.0:  # as the sender does: a chat that must wait goes back to the outbox meanwhile
            await pruning.acquire(key, group=is_group(key))
            await keeping.acquire(key, group=is_group(key))
            sent += 1
    assert sent > 20_000
    assert len(pruning._chats) < len(keeping._chats) / 2  # it did forget chats
