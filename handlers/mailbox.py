"""The representative's details as the mailbox (党代表信箱) and the contact card show them; the letter itself is
written in handlers.case_intake."""

from __future__ import annotations

from handlers.i18n import t
from storage.records.mailbox import CardData


def level_name(language: str, level: str) -> str:
    """区级 / 镇级; a level the catalog does not know is shown as it is stored."""
    key = f"mailbox.level.{level}"
    name = t(language, key)
    return level if name == key else name


def card_lines(language: str, card: CardData) -> dict[str, str]:
    """The representative's details as every mailbox message shows them, with words for what is not set."""
    return {
        "name": card.name,
        "level": level_name(language, card.level),
        "station": card.station or t(language, "mailbox.no_station"),
        "reception_day": card.reception_day or t(language, "mailbox.no_reception_day"),
    }
