"""Dialog state: saved whole, read back as it was, and read ahead for a batch of events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from storage.db import Database
from storage.delivery import dialog_state
from storage.delivery.dialog_state import Dialog
from tests.factories import NOW


def dialog(user: str, **fields: Any) -> Dialog:
    return Dialog(channel="telegram", chat_id=user, user_id=user, flow="visit", **{"updated_at": NOW, **fields})


async def test_a_dialog_is_saved_whole_and_read_back_as_it_was(db: Database) -> None:
    state = dialog("1", step="mode", draft={"household": {"id": 7, "label": "幸福路12号"}}, history=["household"])
    state.choices = [["visit:mode:home", "入户", "上门"]]
    async with db.transaction() as session:
        await dialog_state.save(session, state=state)
    async with db.transaction() as session:
        assert await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1") == state
        state.step, state.draft = "confirmed", {"mode": "home"}
        await dialog_state.save(session, state=state)  # the same key again: updated, not duplicated
    async with db.transaction() as session:
        assert await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1") == state
        await dialog_state.discard(session, state=state)
        assert await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1") is None


async def test_dialogs_read_ahead_are_handed_out_once(db: Database) -> None:
    async with db.transaction() as session:
        await dialog_state.save(session, state=dialog("1", step="mode"))
    seen: list[str] = []
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    async with db.transaction() as session:
        await dialog_state.preload(session, keys=[("telegram", "1", "1"), ("telegram", "2", "2")])
        read_ahead = len(seen)
        found = await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1")
        absent = await dialog_state.load(session, channel="telegram", chat_id="2", user_id="2")
        assert len(seen) == read_ahead  # both answered from what was read ahead, "none" included
        assert found is not None and found.step == "mode" and absent is None
        found.step = "round"
        await dialog_state.save(session, state=found)
        # Handed out once: asked again, the dialog is read, as the step just saved it.
        again = await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1")
        assert len(seen) > read_ahead and again is not None and again.step == "round"


async def test_dialogs_left_alone_are_purged_and_the_others_kept(db: Database) -> None:
    old, recent = dialog("1", updated_at=NOW - timedelta(days=2)), dialog("2", updated_at=NOW - timedelta(hours=1))
    async with db.transaction() as session:
        for state in (old, recent):
            await dialog_state.save(session, state=state)
    async with db.transaction() as session:
        assert await dialog_state.purge(session, before=NOW - timedelta(days=1)) == 1
    async with db.transaction() as session:
        assert await dialog_state.load(session, channel="telegram", chat_id="1", user_id="1") is None
        assert await dialog_state.load(session, channel="telegram", chat_id="2", user_id="2") == recent
