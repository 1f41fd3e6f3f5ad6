"""Notices that storage queues for people outside any conversation, as outbox payloads in the person's language."""

from __future__ import annotations

from typing import Any

from handlers.dialogs import COMMAND_BUTTON
from handlers.events import Button, Reply
from handlers.i18n import t


def unbound(language: str) -> dict[str, Any]:
    """Told to a chat whose representative or staff rights were withdrawn (a lost phone, someone who left)."""
    return Reply(t(language, "access.unbound")).to_payload()


def render(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """A case notice (storage.records.cases names its key and values) in the recipient's language. A category is
    handed over in both languages; the recipient's is shown."""
    shown = dict(values)
    if "category_zh" in shown:
        shown["category"] = shown["category_en"] if language == "en" else shown["category_zh"]
    if "resolved" in shown:
        shown["resolved"] = t(language, "case.resolved.yes" if shown["resolved"] else "case.resolved.no")
    if "rating" in shown:
        shown["rating"] = t(language, f"case.rating.{shown['rating']}")
    if "department" in shown and not shown["department"]:
        shown["department"] = t(language, "case.no_department")
    buttons: tuple[Button, ...] = ()
    number = shown.get("number")
    if key == "case.notify.answered_writer" and number:
        buttons = (Button(f"{COMMAND_BUTTON}/mycases {number}", t(language, "case.button.rate")),)
    elif key.startswith("case.notify.") and number and not key.endswith("_resident") and "joined" not in key:
        buttons = (Button(f"{COMMAND_BUTTON}/cases {number}", t(language, "case.button.open")),)
    return Reply(t(language, key, **shown), buttons).to_payload()
