"""What every chat channel shares once an event is read: the router's answer as outbox rows (the flood limit, replies
cut into messages, the buttons of superseded prompts retired, a new menu when role or language change), the replies
a channel gives by itself, the apology for an event that could not be handled, notes for the ops chat, and the
language bookkeeping. A channel (bot/telegram.py, later WeChat) only translates its platform to and from these."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.language import language_from_hint
from handlers.router import Router
from storage.delivery import inbox, outbox
from storage.delivery.inbox import QueuedEvent
from storage.delivery.outbox import LastReply, NewMessage, QueuedMessage
from storage.models import utcnow
from storage.records import people
from storage.settings import Settings

FLOOD_WINDOW = timedelta(minutes=1)
# session.info keys: what `Conversations.preload` read ahead for a batch (flood counts by event id; the reply still
# showing buttons, by chat).
RECENT, LIVE = "lianxin.recent_counts", "lianxin.live_buttons"


@dataclass(frozen=True)
class Notice:
    """A reply the channel gives by itself, without the router: a file too large, a sticker it cannot read."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    group: bool = False  # said in a group, in the language the platform hints, without looking anyone up


@dataclass(frozen=True)
class Shape:
    """What a channel's messages can be: how long (and how the platform counts), and whether buttons on a message
    can be taken off later (inline keyboards can; numbered menus in text cannot)."""

    chunk: int
    measure: Callable[[str], int] = len
    editable_buttons: bool = False


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut a long text at line breaks (or hard, for one enormous line) into pieces of at most `limit`, counted as
    the platform counts (Telegram: UTF-16 code units, an emoji outside the BMP counts two)."""
    if measure(text) <= limit:  # nearly every reply
        return [text.rstrip("\n") or "…"]
    pieces: list[str] = []
    current, used = "", 0
    for line in text.splitlines(keepends=True):
        size = measure(line)
        while size > limit:
            if current:
                pieces.append(current)
                current, used = "", 0
            cut = _fitting(line, limit, measure)
            pieces.append(line[:cut])
            line = line[cut:]
            size = measure(line)
        if used + size > limit:
            pieces.append(current)
            current, used = "", 0
        current += line
        used += size
    if current or not pieces:
        pieces.append(current)
    return [piece.rstrip("\n") or "…" for piece in pieces]


def _fitting(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many of the text's first characters fit in `limit`. A cut between Python characters never splits an
    emoji's surrogate pair (one Python character, two UTF-16 units)."""
    used = 0
    for count, char in enumerate(text):
        used += measure(char)
        if used > limit:
            return max(count, 1)
    return len(text)


class Conversations:
    """The channel-neutral half of handling a received event, inside the dispatcher's transaction."""

    def __init__(
        self,
        channel: str,
        router: Router,
        settings: Settings,
        shape: Shape,
        *,
        ops_chat: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.channel = channel
        self.router = router
        self.settings = settings
        self.shape = shape
        self.ops_chat = ops_chat
        self.clock = clock

    async def wants(self, session: AsyncSession, event: QueuedEvent, *, user_id: str, kind: InputKind) -> bool:
        """Whether a file this event carries is worth fetching: the person is within the flood limit, and their
        dialog is at a step that takes it. (Otherwise the answer says why, without the file.)"""
        if await self._recent(session, event) > self.settings.limits.messages_per_minute:
            return False
        return await self.router.expects(
            session, channel=self.channel, chat_id=event.chat_key, user_id=user_id, kind=kind
        )

    async def preload(self, session: AsyncSession, events: list[tuple[QueuedEvent, Inbound]]) -> None:
        """Read ahead, for a batch of events of different chats handled in one transaction, what each will ask
        for: who is writing and their dialogs (the router), their flood counts and the buttons still live in their
        chats, in a few statements instead of a few per event."""
        await self.router.preload(session, [inbound for _, inbound in events])
        queued = [event for event, _ in events]
        session.info[RECENT] = await inbox.counts_before(
            session, channel=self.channel, events=queued, window=FLOOD_WINDOW
        )
        if self.shape.editable_buttons:
            chats = [event.chat_key for event in queued]
            session.info[LIVE] = await outbox.last_replies(session, channel=self.channel, chat_keys=chats)

    async def answer(
        self, session: AsyncSession, event: QueuedEvent, inbound: Inbound, *, pressed: str | None = None
    ) -> list[NewMessage]:
        """The router's answer to an event, as outbox rows; `pressed` is the message whose button was pressed
        (edited into the first reply, so that a dialog stays one message). Past the flood limit nothing is handled:
        the first event over it gets one polite line, the others nothing."""
        flooded = await self._flooded(session, event, user_id=inbound.user_id, hint=inbound.language)
        if flooded is not None:
            return flooded
        # Read before the answer: answering may delete the chat's trail (an anonymous letter).
        previous = await self._live_buttons(session, event, pressed)
        answer = await self.router.answer(session, inbound)
        language = answer.after[1]
        messages = self.messages(event, answer.replies, language, pressed=pressed, retire=previous)
        # Residents start with the default menu; a new role or language brings this chat its own.
        if answer.after != answer.before:
            menu = {"role": answer.after[0].value, "language": language}
            messages.append(NewMessage(self.channel, inbound.user_id, menu, kind="commands", inbox_id=event.id))
        if any(reply.transient for reply in answer.replies):
            # The answer to an anonymous letter: its chat's trail is gone, and these go once they are sent.
            messages = [replace(message, inbox_id=None, scrub=True) for message in messages]
        return messages

    async def notice(
        self,
        session: AsyncSession,
        event: QueuedEvent,
        notice: Notice,
        *,
        user_id: str,
        hint: str | None,
        pressed: str | None = None,
    ) -> list[NewMessage]:
        """A reply the channel gives by itself, in the person's language (in a group: the platform's hint, and at
        most one a minute: a busy group is not answered line by line). The flood limit holds for these too."""
        if notice.group:
            if await self._recent(session, event) > 1:
                return []
            language = language_from_hint(hint) or self.settings.general.default_language
        else:
            flooded = await self._flooded(session, event, user_id=user_id, hint=hint)
            if flooded is not None:
                return flooded
            language = await self.language(session, user_id, hint)
        reply = Reply(t(language, notice.key, **notice.params))
        # The dialog's prompt keeps its buttons: a notice does not show the step again.
        return self.messages(event, [reply], language, pressed=pressed)

    def messages(
        self,
        event: QueuedEvent,
        replies: list[Reply],
        language: str,
        *,
        pressed: str | None,
        retire: LastReply | None = None,
    ) -> list[NewMessage]:
        """Replies as outbox rows, cut to the channel's length. The pressed message is edited into the first
        reply. `retire`, a message of the chat still showing buttons, loses them once the replies are sent: a
        person never sees two live [跳过], nor a cancelled summary with [保存]."""
        messages: list[NewMessage] = []
        for number, piece in enumerate(self._pieces(replies, language)):
            kind = "message"
            if number == 0 and pressed is not None:
                if piece.get("ask") or not self.shape.editable_buttons:
                    # A keyboard to share a location or contact cannot be edited in: the pressed message loses its
                    # buttons, and the reply comes anew.
                    messages.append(self._clear(event, {"message_id": pressed}))
                else:
                    kind = "edit"
                    piece["message_id"] = pressed
            messages.append(NewMessage(self.channel, event.chat_key, piece, kind, event.id))
        if retire is not None:
            # After the answer, not before: the person reads the answer a round trip sooner.
            messages.append(self._clear(event, retire.handle()))
        return messages

    async def _live_buttons(self, session: AsyncSession, event: QueuedEvent, pressed: str | None) -> LastReply | None:
        """The chat's message still showing buttons, unless it is the one pressed (its edit replaces them)."""
        if not self.shape.editable_buttons:
            return None
        replies: dict[str, LastReply | None] = session.info.get(LIVE, {})
        if event.chat_key not in replies:  # not read ahead: an event handled alone
            replies = await outbox.last_replies(session, channel=self.channel, chat_keys=[event.chat_key])
        previous = replies.pop(event.chat_key)
        if previous is None or not previous.has_buttons:
            return None
        if pressed is not None and previous.message_id == pressed:
            return None
        return previous

    def _clear(self, event: QueuedEvent, handle: dict[str, Any]) -> NewMessage:
        return NewMessage(self.channel, event.chat_key, handle, "clear_buttons", event.id)

    def _pieces(self, replies: list[Reply], language: str) -> Iterator[dict[str, Any]]:
        for reply in replies:
            texts = split_text(reply.text, self.shape.chunk, self.shape.measure)
            for index, text in enumerate(texts):
                last = index == len(texts) - 1
                piece = Reply(text, reply.buttons if last else (), reply.ask if last else None).to_payload()
                piece["language"] = language
                yield piece

    async def _flooded(
        self, session: AsyncSession, event: QueuedEvent, *, user_id: str, hint: str | None
    ) -> list[NewMessage] | None:
        """None when the event is within the person's flood limit; else what to send: one polite line for the
        first event over it, nothing for the others."""
        count = await self._recent(session, event)
        limit = self.settings.limits.messages_per_minute
        if count <= limit:
            return None
        if count > limit + 1:
            return []
        language = await self.language(session, user_id, hint)
        return self.messages(event, [Reply(t(language, "limits.flood"))], language, pressed=None)

    async def _recent(self, session: AsyncSession, event: QueuedEvent) -> int:
        """How many events the chat sent within the flood window, up to and including this one."""
        counts: dict[int, int] = session.info.get(RECENT, {})
        if event.id not in counts:  # not read ahead: an event handled alone
            counts = await inbox.counts_before(session, channel=self.channel, events=[event], window=FLOOD_WINDOW)
        return counts.get(event.id, 0)  # an event with no time of its own is not counted

    async def language(self, session: AsyncSession, user_id: str, hint: str | None) -> str:
        """The language a person chose, else the platform's hint, else the district's default."""
        chosen = await people.language_of(session, channel=self.channel, external_id=user_id) if user_id else None
        return chosen or language_from_hint(hint) or self.settings.general.default_language

    # -- when things go wrong ----------------------------------------------------------------------------------

    async def parked(self, session: AsyncSession, event: QueuedEvent, *, user_id: str | None, hint: str | None) -> None:
        """An event failed every attempt: apologise to the person (when there is one) and tell the ops chat, ids
        only."""
        messages: list[NewMessage] = []
        if user_id is not None:
            language = await self.language(session, user_id, hint)
            apology = {"text": t(language, "channel.apology"), "language": language}
            messages.append(NewMessage(self.channel, event.chat_key, apology, inbox_id=event.id))
        messages += self.ops(
            "ops.parked", channel=self.channel, event=event.event_key, id=event.id, attempts=event.attempts + 1
        )
        await outbox.enqueue(session, messages=messages, now=self.clock())

    async def report_failure(self, session: AsyncSession, row: QueuedMessage, error: str) -> None:
        """A message could not be sent: tell the ops chat (not about its own reports)."""
        if row.payload.get("ops"):
            return
        messages = self.ops("ops.send_failed", id=row.id, kind=row.kind, error=error[:100])
        await outbox.enqueue(session, messages=messages, now=self.clock())

    def ops(self, key: str, **params: Any) -> list[NewMessage]:
        """A note for the ops chat, if one is configured (ids and error types only)."""
        return ops_note(self.channel, self.ops_chat, self.settings.general.default_language, key, **params)


def ops_note(channel: str, chat: str | None, language: str, key: str, /, **params: Any) -> list[NewMessage]:
    """A note for a channel's ops chat, none when it has none: marked so that its own failure is not reported."""
    if not chat:
        return []
    payload = {"text": t(language, key, **params), "language": language, "ops": True}
    return [NewMessage(channel, chat, payload)]
