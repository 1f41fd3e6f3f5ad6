"""The channel-neutral contract: what a channel hands in (Inbound) and what it must show (Reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

InputKind = Literal["text", "button", "photo", "document", "location", "contact"]
Ask = Literal["location", "contact"]


@dataclass(frozen=True)
class Inbound:
    """One thing a person sent: text, a pressed button, a photo, a file, a location or a shared contact."""

    channel: str
    chat_id: str
    user_id: str
    kind: InputKind
    text: str = ""
    data: str = ""  # the pressed button's data, such as visit:mode:home
    photo: str = ""  # the channel's reference to the photo file
    document: str = ""  # the channel's reference to a file that is not a picture (a PDF, a spreadsheet)
    latitude: float | None = None
    longitude: float | None = None
    phone: str = ""  # a shared contact's phone number
    event_id: str = ""  # the channel's id of this event, for idempotent handling
    language: str | None = None  # the platform's language hint, used until the person chooses one


@dataclass(frozen=True)
class Button:
    data: str
    label: str
    aliases: tuple[str, ...] = ()  # other words that pick it when typed ("四老对象" for "五必访·四老对象")


@dataclass(frozen=True)
class Reply:
    """A message to show. Channels without buttons render them as a numbered list; the number works as input."""

    text: str
    buttons: tuple[Button, ...] = field(default=())
    ask: Ask | None = None  # ask the person to share their location or contact, where the channel can
    transient: bool = False  # not kept once sent: it ties an anonymous writer's chat to what they wrote

    def to_payload(self) -> dict[str, Any]:
        """The reply as an outbox payload (JSON), from which any channel renders it when it sends."""
        payload: dict[str, Any] = {"text": self.text}
        if self.buttons:
            payload["buttons"] = [[button.data, button.label] for button in self.buttons]
        if self.ask is not None:
            payload["ask"] = self.ask
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reply:
        buttons = tuple(Button(data, label) for data, label in payload.get("buttons", ()))
        ask = payload.get("ask")
        return cls(
            str(payload.get("text", "")), buttons, cast(Ask | None, ask if ask in ("location", "contact") else None)
        )
