"""Notices that storage queues for people outside any conversation, as outbox payloads in the person's language."""

from __future__ import annotations

from typing import Any

from handlers.events import Reply
from handlers.i18n import t


def unbound(language: str) -> dict[str, Any]:
    """Told to a chat whose representative or staff rights were withdrawn (a lost phone, someone who left)."""
    return Reply(t(language, "access.unbound")).to_payload()
