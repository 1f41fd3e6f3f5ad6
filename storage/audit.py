"""The audit log: every read and change of personal data, by whom, without the data itself."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry


def record(
    session: AsyncSession, *, actor: str, action: str, entity: str, entity_id: object = "", **detail: Any
) -> None:
    """Add an audit row to the caller's transaction; it commits or rolls back with the change it describes."""
    session.add(AuditEntry(actor=actor, action=action, entity=entity, entity_id=str(entity_id), detail=detail))
