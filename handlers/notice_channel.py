"""/channel (通知渠道): which of a person's bound chats receives their notices. By default the one they wrote from
last; they may fix one instead. `/channel` shows their chats with a button each ("只在微信接收") and one to follow
the chat used last again; `/channel N` picks their N-th chat, `/channel 微信` the one of that channel, and
`/channel auto` follows again. Residents have nothing to choose: each of their chats is a person of its own."""

from __future__ import annotations

from typing import ClassVar

from handlers.dialogs import COMMAND_BUTTON, Context, Flow, Step
from handlers.events import Button, Reply
from handlers.i18n import languages, t
from handlers.inputs import comparable
from storage.errors import NotFound
from storage.policy import Action
from storage.records import people
from storage.records.people import NoticeChat

AUTO = "auto"
AUTO_WORDS = frozenset({AUTO, "跟随", "自动"})


def chat_name(language: str, chat: NoticeChat) -> str:
    """The channel's name, numbered when the person has two chats on it ("Telegram (2)"); never the chat's id."""
    key = f"notices_channel.name.{chat.channel}"
    name = t(language, key)
    if name == key:  # a channel without a catalog name yet shows its own
        name = chat.channel
    if chat.of_channel > 1:
        name = t(language, "notices_channel.numbered", name=name, number=chat.ordinal)
    return name


def overview(ctx: Context, chats: list[NoticeChat]) -> Reply:
    """Where the notices go now and why, the chats, and what can be chosen."""
    receiving = next((chat for chat in chats if chat.notices), None)
    if len(chats) < 2:
        return Reply(ctx.t("notices_channel.only_one", name=chat_name(ctx.language, chats[0])))
    lines = []
    if receiving is not None:
        why = "chosen" if receiving.chosen else "last_used"
        name = chat_name(ctx.language, receiving)
        lines.append(ctx.t("notices_channel.now", name=name, why=ctx.t(f"notices_channel.why.{why}")))
    lines.append(ctx.t("notices_channel.list"))
    for chat in chats:
        marks = "".join(
            ctx.t(f"notices_channel.{mark}")
            for mark, shown in (("here", chat.current), ("receiving", chat.notices), ("blocked", chat.blocked))
            if shown
        )
        lines.append(ctx.t("notices_channel.line", name=chat_name(ctx.language, chat), marks=marks))
    lines.append(ctx.t("notices_channel.choose"))
    buttons = [
        Button(
            f"{COMMAND_BUTTON}/channel {number}",
            ctx.t("notices_channel.button.only", name=chat_name(ctx.language, chat)),
        )
        for number, chat in enumerate(chats, start=1)
    ]
    buttons.append(Button(f"{COMMAND_BUTTON}/channel {AUTO}", ctx.t("notices_channel.button.auto")))
    return Reply("\n".join(lines), tuple(buttons))


def picked_chat(chats: list[NoticeChat], typed: str) -> NoticeChat:
    """The chat a typed choice names: its number in the list, or its channel's name in any language."""
    if typed.isdigit() and typed.isascii():
        if 1 <= int(typed) <= len(chats):
            return chats[int(typed) - 1]
        raise NotFound("notices_channel.error.unknown")
    wanted = comparable(typed)
    for chat in chats:
        names = {chat.channel, *(chat_name(language, chat) for language in languages())}
        if wanted and any(wanted == comparable(name) for name in names):
            return chat
    raise NotFound("notices_channel.error.unknown")


class NoticeChannelFlow(Flow):
    """No question to answer: it shows, or applies what the command names, at once. As a flow, its buttons are
    numbered on channels without buttons and a typed number or label picks one (handlers.dialogs: OFFER)."""

    name = "notices_channel"
    action = Action.CHOOSE_CHANNEL
    steps: ClassVar[tuple[Step, ...]] = ()

    async def prefill(self, ctx: Context, arguments: str) -> None:
        ctx.draft["pick"] = arguments.strip()

    async def finish(self, ctx: Context) -> list[Reply]:
        chats = await people.notice_chats(ctx.session, identity=ctx.identity)
        typed = str(ctx.draft.get("pick", ""))
        if not typed:
            return [overview(ctx, chats)]
        if typed.casefold() in AUTO_WORDS or comparable(typed) == comparable(ctx.t("notices_channel.button.auto")):
            receiving = await people.choose_notice_channel(ctx.session, identity=ctx.identity, target_identity_id=None)
            chat = next(chat for chat in chats if chat.identity_id == receiving.id)
            return [Reply(ctx.t("notices_channel.auto_done", name=chat_name(ctx.language, chat)))]
        chat = picked_chat(chats, typed)
        await people.choose_notice_channel(ctx.session, identity=ctx.identity, target_identity_id=chat.identity_id)
        return [Reply(ctx.t("notices_channel.chosen_done", name=chat_name(ctx.language, chat)))]
