"""The Telegram channel's fixtures: the small district, and a running bot against the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database
from storage.settings import Settings
from tests.bot.telegram_harness import Harness, running_bot
from tests.factories import District, build_district


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
async def telegram(db: Database, settings: Settings, district: District, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot keeping Telegram's flood limits, against a fake server that keeps them too."""
    async with running_bot(db, settings, tmp_path / "files") as harness:
        yield harness


@pytest.fixture
async def fast(db: Database, settings: Settings, district: District, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot without flood limits (neither the fake server's nor the sender's), for conversations at test speed."""
    async with running_bot(db, settings, tmp_path / "files", fast=True) as harness:
        yield harness
