"""Dialog state rows: load, save and discard where a person is in a dialog."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import DialogState


async def load(session: AsyncSession, *, channel: str, chat_id: str, user_id: str) -> DialogState | None:
    """The person's dialog, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE
    already serialises writers), so that two messages at once (a double-tapped 保存) are handled one after the
    other and the second sees what the first did."""
    return await session.get(DialogState, (channel, chat_id, user_id), with_for_update=True, populate_existing=True)


async def save(session: AsyncSession, *, state: DialogState) -> None:
    """Insert or update; JSON columns are replaced whole so that changes inside them are never missed."""
    stored = await session.get(DialogState, (state.channel, state.chat_id, state.user_id))
    if stored is None:
        session.add(
            DialogState(
                channel=state.channel,
                chat_id=state.chat_id,
                user_id=state.user_id,
                flow=state.flow,
                step=state.step,
                draft=dict(state.draft),
                history=list(state.history),
                choices=[list(choice) for choice in state.choices],
                updated_at=state.updated_at,
            )
        )
    else:
        stored.flow = state.flow
        stored.step = state.step
        stored.draft = dict(state.draft)
        stored.history = list(state.history)
        stored.choices = [list(choice) for choice in state.choices]
        stored.updated_at = state.updated_at
        session.add(stored)
    await session.flush()


async def discard(session: AsyncSession, *, state: DialogState) -> None:
    stored = await session.get(DialogState, (state.channel, state.chat_id, state.user_id))
    if stored is not None:
        await session.delete(stored)
        await session.flush()
