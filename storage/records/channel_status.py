"""A running channel's state (starting, connected, logged in or out, down), kept in one row per channel so that
another process (`lianxin wechat status`) can read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import dialect_insert
from storage.models import ChannelStatus

STATES = ("starting", "connected", "logged_in", "logged_out", "down", "stopped")
FIELDS = frozenset({"state", "self_id", "login_at", "last_event_at", "down_since", "qr_url"})


async def record(session: AsyncSession, *, channel: str, now: datetime, **changes: Any) -> None:
    """Change the given fields of the channel's row (and `updated_at`), creating the row the first time; fields
    not given keep their value. One statement: the channel reports from whichever process runs it."""
    unknown = set(changes) - FIELDS
    if unknown:
        raise ValueError(f"not a field of channel_status: {sorted(unknown)}")
    if "state" in changes and changes["state"] not in STATES:
        raise ValueError(f"not a channel state: {changes['state']!r}")
    first = {"state": "starting", "self_id": "", "qr_url": "", **changes}
    insert = dialect_insert(session)
    statement = insert(ChannelStatus).values(channel=channel, updated_at=now, **first)
    await session.exec(statement.on_conflict_do_update(index_elements=["channel"], set_={**changes, "updated_at": now}))


async def read(session: AsyncSession, *, channel: str) -> ChannelStatus | None:
    """The channel's row as last recorded, read anew (not a copy this session held); None before it ever ran."""
    return await session.get(ChannelStatus, channel, populate_existing=True)
