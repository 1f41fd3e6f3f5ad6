"""Choosing who something goes to (everyone, a level, a representative group), as one step any flow can use,
and the scope in words."""

from __future__ import annotations

from typing import ClassVar

from handlers.dialogs import Context, Outcome, Prompt, Step
from handlers.events import Button, Inbound
from handlers.inputs import text_answer
from storage.errors import InvalidInput
from storage.records import audience

GROUPS_FOUND = "scope_groups"  # draft entry: the groups a typed name found, to pick from


def scope_label(ctx: Context, scope: audience.Scope) -> str:
    """The scope as people read it: 全体党代表, 区级党代表, 东山街道第一代表小组."""
    if scope.kind == "level":
        return ctx.t(f"audience.level.{scope.level}")
    if scope.kind == "group":
        return ctx.t("audience.group", name=scope.group_name)
    return ctx.t("audience.all")


class ScopeStep(Step):
    """Everyone, a level or a group: buttons for the first three, a group found by part of its name. The answer is
    the scope's key (`all`, `level:district`, `group:7`) in draft["scope"]."""

    key = "scope"
    resets: ClassVar[tuple[str, ...]] = (GROUPS_FOUND,)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # the flow's button prefix: briefing, opinion, event

    async def prompt(self, ctx: Context) -> Prompt:
        found = ctx.draft.get(GROUPS_FOUND, [])
        if found:
            buttons = tuple(Button(f"{self.prefix}:scope:group:{group_id}", name) for group_id, name in found)
            return Prompt(ctx.t("audience.ask.group_pick"), buttons)
        buttons = (
            Button(f"{self.prefix}:scope:all", ctx.t("audience.all")),
            Button(f"{self.prefix}:scope:level:district", ctx.t("audience.level.district")),
            Button(f"{self.prefix}:scope:level:township", ctx.t("audience.level.township")),
        )
        return Prompt(ctx.t("audience.ask.scope"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            key = inbound.data.removeprefix(f"{self.prefix}:scope:")
            try:
                await audience.resolve(ctx.session, key)
            except ValueError:
                raise InvalidInput("dialog.stale_button") from None
            ctx.draft.pop(GROUPS_FOUND, None)
            ctx.draft[self.key] = key
            return Outcome.NEXT
        typed = text_answer(inbound.text, limit=100)
        groups = await audience.find_groups(ctx.session, text=typed)
        if not groups:
            ctx.draft.pop(GROUPS_FOUND, None)
            raise InvalidInput("audience.error.no_group_found", text=typed)
        if len(groups) == 1:
            ctx.draft.pop(GROUPS_FOUND, None)
            ctx.draft[self.key] = f"group:{groups[0].id}"
            return Outcome.NEXT
        ctx.draft[GROUPS_FOUND] = [[group.id, group.name] for group in groups]
        return Outcome.STAY
