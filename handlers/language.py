"""Choosing the language (/lang, 语言): a one-question flow, so numbers and labels answer it like any other."""

from __future__ import annotations

from typing import ClassVar

from handlers.dialogs import Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import comparable
from storage.errors import InvalidInput
from storage.policy import Action
from storage.records import people
from storage.settings import LANGUAGES

NAMES = {"zh": "zh-CN", "zhcn": "zh-CN", "中文": "zh-CN", "汉语": "zh-CN", "chinese": "zh-CN",
         "en": "en", "english": "en", "英文": "en", "英语": "en"}  # fmt: skip


def language_from_hint(hint: str | None) -> str | None:
    """zh, zh-Hans, zh_TW, 中文 -> zh-CN; en, en-GB, English, 英文 -> en; anything else -> None."""
    if not hint:
        return None
    word = comparable(hint)
    if word in NAMES:
        return NAMES[word]
    if word.startswith("zh"):
        return "zh-CN"
    if word.startswith("en"):
        return "en"
    return None


class LanguageStep(Step):
    key = "language"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(Button(f"lang:{code}", t(code, "language.name")) for code in LANGUAGES)
        return Prompt(ctx.t("language.ask"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        chosen = inbound.data.removeprefix("lang:") if inbound.kind == "button" else language_from_hint(inbound.text)
        if chosen not in LANGUAGES:
            raise InvalidInput("language.unknown")
        ctx.draft["language"] = chosen
        return Outcome.NEXT


class LanguageFlow(Flow):
    name = "language"
    action = Action.LANGUAGE
    steps = (LanguageStep(),)

    async def prefill(self, ctx: Context, arguments: str) -> None:
        if not arguments.strip():
            return
        chosen = language_from_hint(arguments.strip())
        if chosen is None:
            raise InvalidInput("language.unknown")
        ctx.draft["language"] = chosen

    async def finish(self, ctx: Context) -> list[Reply]:
        await people.set_language(ctx.session, identity=ctx.identity, language=ctx.draft["language"])
        ctx.language = ctx.draft["language"]
        return [Reply(ctx.t("language.set"))]
