"""Reading the Bot API's update JSON: who sent it, in which chat, which message a button was on, and the part of it
the inbox keeps (what handling reads, never names, usernames or what others wrote)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Edited messages are asked for only to say that an edit changes nothing (the answer was given to the original).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")


def _content(update: dict[str, Any]) -> dict[str, Any] | None:
    for kind in ALLOWED_UPDATES:
        content = update.get(kind)
        if isinstance(content, dict):
            return content
    return None


def sender_of(update: dict[str, Any]) -> dict[str, Any] | None:
    """Who sent an update (its `from`), as the Bot API's JSON gives it."""
    content = _content(update)
    user = content.get("from") if content is not None else None
    return user if isinstance(user, dict) else None


def chat_of(update: dict[str, Any]) -> dict[str, Any] | None:
    """The chat an update happened in; a button on a message of an inline query has none."""
    content = _content(update)
    if content is None:
        return None
    chat = content.get("chat") or (content.get("message") or {}).get("chat")
    return chat if isinstance(chat, dict) else None


def chat_key_of(update: dict[str, Any]) -> str:
    """The chat an update belongs to, read from the raw JSON, or its sender where it has no chat (a button on a
    message of an inline query): the key that keeps one chat's updates in order."""
    chat = chat_of(update) or sender_of(update)
    return str(chat["id"]) if chat is not None and "id" in chat else "-"


def sent_at(update: dict[str, Any]) -> datetime | None:
    """When the person sent it, as Telegram stamps messages (a button press carries no time of its own)."""
    content = None if "callback_query" in update else _content(update)
    stamp = content.get("date") if content is not None else None
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) and stamp > 0 else None


def pressed_message_id(update: dict[str, Any]) -> int | None:
    """The message whose button was pressed, if the bot can still edit it (Telegram sends an old message as
    "inaccessible", with date 0)."""
    message = (update.get("callback_query") or {}).get("message")
    if isinstance(message, dict) and message.get("date") and "message_id" in message:
        return int(message["message_id"])
    return None


# What the inbox keeps of an update (for `delivery.keep_days`) is what handling reads of it: ids, the chat's type,
# what was written or sent, a shared contact's number. Never names, usernames or titles, a contact's card, quoted
# or forwarded messages, nor the text of the message whose button was pressed (the bot's own, which may quote names
# and addresses).
PERSON = ("id", "is_bot", "language_code")
CHAT = ("id", "type")
FILE = ("file_id", "file_unique_id", "file_size")


def _only(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return {key: value[key] for key in keys if key in value} if isinstance(value, dict) else None


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _message_essentials(message: dict[str, Any]) -> dict[str, Any]:
    photo = message.get("photo")
    largest = _only(photo[-1], FILE) if isinstance(photo, list) and photo else None  # the one that is fetched
    return _present(
        {
            "message_id": message.get("message_id"),
            "from": _only(message.get("from"), PERSON),
            "chat": _only(message.get("chat"), CHAT),
            "text": message.get("text"),
            "caption": message.get("caption"),
            "photo": [largest] if largest is not None else None,
            "document": _only(message.get("document"), (*FILE, "mime_type")),
            "location": _only(message.get("location"), ("latitude", "longitude")),
            "contact": _only(message.get("contact"), ("phone_number",)),
        }
    )


def essentials(update: dict[str, Any]) -> dict[str, Any]:
    """The update as the inbox keeps it: what `inbound_for`, `chat_key_of`, `pressed_message_id`, `_membership`,
    `parked` and the language bookkeeping read, and nothing else."""
    kept: dict[str, Any] = {"update_id": update["update_id"]}
    message = update.get("message")
    if isinstance(message, dict):
        kept["message"] = _message_essentials(message)
    edited = update.get("edited_message")
    if isinstance(edited, dict):
        # An edit is only answered ("send it again"): what it now says is not kept. A live location moves by edits,
        # which are not answered at all: that it is one is all that is kept of it.
        kept["edited_message"] = _present(
            {
                "message_id": edited.get("message_id"),
                "from": _only(edited.get("from"), PERSON),
                "chat": _only(edited.get("chat"), CHAT),
                "location": {} if "location" in edited else None,
            }
        )
    query = update.get("callback_query")
    if isinstance(query, dict):
        pressed = query.get("message")
        kept["callback_query"] = _present(
            {
                "id": query.get("id"),
                "from": _only(query.get("from"), PERSON),
                "data": query.get("data"),
                "message": _present(
                    {
                        "message_id": pressed.get("message_id"),
                        "date": pressed.get("date"),  # 0: too old to edit
                        "chat": _only(pressed.get("chat"), CHAT),
                    }
                )
                if isinstance(pressed, dict)
                else None,
            }
        )
    change = update.get("my_chat_member")
    if isinstance(change, dict):
        kept["my_chat_member"] = _present(
            {
                "chat": _only(change.get("chat"), CHAT),
                "from": _only(change.get("from"), PERSON),
                "old_chat_member": _only(change.get("old_chat_member"), ("status",)),
                "new_chat_member": _only(change.get("new_chat_member"), ("status",)),
            }
        )
    return kept


def added_to_group(change: dict[str, Any]) -> bool:
    """The bot became a member of a group (not a channel: a line there would go out to every subscriber)."""
    chat = change.get("chat") or {}
    before = (change.get("old_chat_member") or {}).get("status")
    after = (change.get("new_chat_member") or {}).get("status")
    return (
        chat.get("type") in ("group", "supergroup")
        and before in ("left", "kicked")
        and after in ("member", "administrator")
    )
