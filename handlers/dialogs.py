"""The dialog engine: declared steps, state saved at every input, and the parts every flow shares.

A flow is an ordered list of steps. The current step is always the first one that applies and is not yet
answered, so pre-filled answers (a quick form) skip their steps, and editing from the confirmation screen is
just forgetting one answer. The engine owns /cancel, /help, "back", time-outs, numbered choices, refusing input
a step does not take, and saving the draft after every input.
"""

from __future__ import annotations

import copy
import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, ClassVar

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Ask, Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import comparable
from storage import policy
from storage.delivery import dialog_state
from storage.delivery.dialog_state import Dialog
from storage.errors import Conflict, InvalidInput, NotAllowed, NotFound
from storage.models import ChatIdentity
from storage.policy import Action, Standing
from storage.settings import Settings

EDITING = "_editing"  # draft entry: the whole draft as it was when a change from the confirmation screen began
COMMAND_BUTTON = "cmd:"  # a button whose data is a command to run as if typed (open a case, report a request)
OFFER = "_offer"  # the state a finished flow leaves when its last reply offers commands: a typed number picks one
KIND_ORDER: tuple[InputKind, ...] = ("text", "photo", "document", "location", "contact", "button")


@dataclass(frozen=True)
class Words:
    """What the engine answers at every step, as typed (lower case; commands with their slash): the command
    table declares them."""

    cancel: frozenset[str]
    help: frozenset[str]
    back: frozenset[str]


def choices_of(buttons: tuple[Button, ...]) -> list[list[str]]:
    """Buttons as a dialog keeps them, for a typed number or label to pick one: [data, label, aliases...]."""
    return [[button.data, button.label, *button.aliases] for button in buttons]


class Outcome(enum.Enum):
    STAY = "stay"  # show the (possibly changed) prompt of the same step again
    NEXT = "next"  # the step is answered
    FINISH = "finish"  # commit the flow
    CANCEL = "cancel"


@dataclass
class Context:
    """What a step may use while handling one input; draft changes are saved by the engine."""

    session: AsyncSession
    settings: Settings
    identity: ChatIdentity
    standing: Standing  # who they are now, as the policy sees them
    language: str
    now: datetime
    today: date
    draft: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return self.standing.actor

    def t(self, key: str, /, **params: Any) -> str:
        return t(self.language, key, **params)

    @property
    def representative_id(self) -> int:
        """The representative this person is; anyone else is told, in words that fit who they are, that they
        cannot."""
        if self.standing.representative_id is None:
            raise policy.refusal(self.standing, Action.LOG_VISIT)
        return self.standing.representative_id


@dataclass(frozen=True)
class Prompt:
    text: str
    buttons: tuple[Button, ...] = ()
    ask: Ask | None = None
    transient: bool = False  # not kept once sent (see Reply)


class Step(ABC):
    """One question. `key` is the draft entry that marks it answered; `resets` are forgotten when it is edited.

    A `silent` step starts answered with a default (the visit date is today) and is asked only when edited.
    """

    key: ClassVar[str]
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})
    resets: ClassVar[tuple[str, ...]] = ()
    silent: ClassVar[bool] = False

    def applies(self, draft: dict[str, Any]) -> bool:
        return True

    def done(self, draft: dict[str, Any]) -> bool:
        return self.key in draft

    def forget(self, draft: dict[str, Any]) -> None:
        for key in (self.key, *self.resets):
            draft.pop(key, None)

    def help_params(self, ctx: Context) -> dict[str, Any]:
        """Values for the placeholders of this step's help text."""
        return {}

    @abstractmethod
    async def prompt(self, ctx: Context) -> Prompt: ...

    @abstractmethod
    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        """Take the input or raise InvalidInput with a message key; change the draft only for valid input."""


class YesNoStep(Step):
    """A question answered with one of two buttons (`<data>:yes`, `<data>:no`): its answer is True or False."""

    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    question: ClassVar[str]  # catalog keys
    yes: ClassVar[str] = "button.yes"
    no: ClassVar[str] = "button.no"
    no_first: ClassVar[bool] = False
    data: ClassVar[str] = ""  # the buttons' prefix; the step's key when empty

    async def prompt(self, ctx: Context) -> Prompt:
        prefix = self.data or self.key
        yes, no = Button(f"{prefix}:yes", ctx.t(self.yes)), Button(f"{prefix}:no", ctx.t(self.no))
        return Prompt(ctx.t(self.question), (no, yes) if self.no_first else (yes, no))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        prefix = self.data or self.key
        if inbound.data not in (f"{prefix}:yes", f"{prefix}:no"):
            raise InvalidInput("dialog.stale_button")
        ctx.draft[self.key] = inbound.data == f"{prefix}:yes"
        return Outcome.NEXT


class ConfirmStep(Step):
    """The last step of a record flow: the summary, Save, one button per answer that can be changed, Cancel.

    Changing an answer forgets it; the engine then asks that question again and comes back here, because the
    confirmation is the first unanswered step once more. Only answers whose step applies can be changed.
    """

    key = "confirmed"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def __init__(self, flow: str, *, summary: Callable[[Context], str], editable: tuple[Step, ...]) -> None:
        self.flow = flow
        self.summary = summary
        self.editable = {step.key: step for step in editable}

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = [Button(f"{self.flow}:save", ctx.t("button.save"))]
        buttons += [
            Button(f"{self.flow}:edit:{key}", ctx.t(f"{self.flow}.edit.{key}"))
            for key, step in self.editable.items()
            if step.applies(ctx.draft)
        ]
        buttons.append(Button(f"{self.flow}:cancel", ctx.t("button.cancel")))
        return Prompt(ctx.t(f"{self.flow}.ask.confirm", summary=self.summary(ctx)), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == f"{self.flow}:save":
            return Outcome.FINISH
        if inbound.data == f"{self.flow}:cancel":
            return Outcome.CANCEL
        step = self.editable.get(inbound.data.removeprefix(f"{self.flow}:edit:"))
        if step is None:
            raise InvalidInput("dialog.stale_button")
        # Every answer as it stands, for "back" to restore if the change is abandoned half-way.
        ctx.draft[EDITING] = copy.deepcopy(ctx.draft)
        step.forget(ctx.draft)
        return Outcome.STAY


class Flow(ABC):
    name: ClassVar[str]
    action: ClassVar[Action]  # what the policy must allow, at the start and at every step
    steps: ClassVar[tuple[Step, ...]]

    @abstractmethod
    async def prefill(self, ctx: Context, arguments: str) -> None:
        """Fill `ctx.draft` with defaults and whatever the command's arguments already answer."""

    @abstractmethod
    async def finish(self, ctx: Context) -> list[Reply]:
        """Commit the record (with its audit rows) in the context's transaction and say what was saved."""

    @classmethod
    def step(cls, key: str) -> Step:
        return next(step for step in cls.steps if step.key == key)

    def current(self, draft: dict[str, Any]) -> Step | None:
        return next((step for step in self.steps if step.applies(draft) and not step.done(draft)), None)


def answered(step: Step, draft: dict[str, Any]) -> bool:
    return step.applies(draft) and step.done(draft)


class Engine:
    """Runs flows for one person: starts them, feeds them input, and keeps their state in the database."""

    def __init__(self, flows: list[Flow], words: Words) -> None:
        self.flows = {flow.name: flow for flow in flows}
        self.words = words

    async def start(self, ctx: Context, state_key: tuple[str, str, str], flow_name: str, arguments: str) -> list[Reply]:
        flow = self.flows[flow_name]
        policy.require(ctx.standing, flow.action)
        ctx.draft = {}
        await flow.prefill(ctx, arguments)
        state = Dialog(channel=state_key[0], chat_id=state_key[1], user_id=state_key[2], flow=flow_name)
        # What the arguments answered counts as answered by the person: /back can return to it.
        state.history = [step.key for step in flow.steps if not step.silent and answered(step, ctx.draft)]
        return await self._advance(ctx, flow, state)

    async def handle(self, ctx: Context, state: Dialog, inbound: Inbound) -> list[Reply]:
        resumed = await self._resume(ctx, state)
        if isinstance(resumed, list):
            return resumed
        flow, step = resumed

        word = inbound.text.strip().lower() if inbound.kind == "text" else ""
        if word in self.words.cancel:
            await dialog_state.discard(ctx.session, state=state)
            return [Reply(ctx.t("dialog.cancelled", flow=ctx.t(f"flow.{flow.name}")))]
        if word in self.words.help:
            notes = [
                Reply(ctx.t(f"{flow.name}.help.{step.key}", **step.help_params(ctx)) + "\n\n" + ctx.t("dialog.help"))
            ]
            return notes + await self._show(ctx, flow, state, step)
        if word in self.words.back:
            return await self._back(ctx, flow, state)

        try:
            inbound = self._as_choice(inbound, state, step)
            if inbound.kind == "text" and inbound.text.strip().startswith("/"):
                command = inbound.text.strip().split()[0].lower()
                raise InvalidInput("dialog.unknown_command", command=command[:32], flow=ctx.t(f"flow.{flow.name}"))
            if inbound.kind == "text" and not inbound.text.strip():
                raise InvalidInput("input.empty")
            if inbound.kind != "button" and inbound.kind not in step.accepts:
                accepted = set(step.accepts) | ({"button"} if state.choices else set())
                raise InvalidInput(
                    "dialog.wrong_kind",
                    got=ctx.t(f"kind.{inbound.kind}"),
                    expected=ctx.t("dialog.or").join(ctx.t(f"kind.{kind}") for kind in KIND_ORDER if kind in accepted),
                )
            outcome = await step.receive(ctx, inbound)
            if outcome is Outcome.CANCEL:
                await dialog_state.discard(ctx.session, state=state)
                return [Reply(ctx.t("dialog.cancelled", flow=ctx.t(f"flow.{flow.name}")))]
            if outcome is Outcome.FINISH:
                return await self._finish(ctx, flow, state)
        except (InvalidInput, NotAllowed, NotFound, Conflict) as problem:
            # Said, and the step asked again: a refusal at the last moment (the household's area left the
            # representative since it was chosen) must not leave the person pressing 保存 for ever.
            return [Reply(ctx.t(problem.key, **problem.params))] + await self._show(ctx, flow, state, step)

        if outcome is Outcome.NEXT and step.key not in state.history:
            state.history = [*state.history, step.key]
        return await self._advance(ctx, flow, state)

    def is_word(self, text: str) -> bool:
        """Whether the engine answers this text itself at any step (cancel, help, back)."""
        word = text.strip().lower()
        return word in self.words.cancel or word in self.words.help or word in self.words.back

    def chosen(self, state: Dialog, text: str) -> str | None:
        """The data of the choice shown last that a typed number or label picks, if it picks one."""
        typed = text.strip()
        if typed.isdigit() and typed.isascii() and 1 <= int(typed) <= len(state.choices):
            return state.choices[int(typed) - 1][0]
        wanted = comparable(typed)
        for data, *names in state.choices:
            if wanted and any(wanted == comparable(name) for name in names):
                return data
        return None

    def picked(self, state: Dialog, inbound: Inbound) -> str | None:
        """The data of the choice shown last that this input picks: its button, or a typed number or label."""
        if inbound.kind == "button":
            return inbound.data if any(data == inbound.data for data, *_ in state.choices) else None
        if inbound.kind == "text":
            return self.chosen(state, inbound.text)
        return None

    def accepts(self, state: Dialog, kind: InputKind) -> bool:
        """Whether the step the dialog is at takes this kind of input."""
        flow = self.flows.get(state.flow)
        step = flow.current(dict(state.draft)) if flow is not None else None
        return step is not None and kind in step.accepts

    async def ask(self, ctx: Context, state: Dialog, text: str, buttons: tuple[Button, ...]) -> list[Reply]:
        """A question beside the flow's own (leave this dialog for another?): its choices are what a typed number
        picks until it is answered; the dialog stays at its step."""
        state.choices = choices_of(buttons)
        state.updated_at = ctx.now
        await dialog_state.save(ctx.session, state=state)
        return [Reply(text, buttons)]

    async def show(self, ctx: Context, state: Dialog) -> list[Reply]:
        """The current step's prompt again (after a command answered beside the dialog), if the person may still
        go on with it."""
        resumed = await self._resume(ctx, state)
        if isinstance(resumed, list):
            return resumed
        flow, step = resumed
        return await self._show(ctx, flow, state, step)

    async def _resume(self, ctx: Context, state: Dialog) -> tuple[Flow, Step] | list[Reply]:
        """The dialog's flow and current step, its draft in `ctx`; or, when it cannot go on, what the person is
        told, the dialog dropped: its flow is gone (an upgrade removed it), or their rights ended since it began
        (out of office, unbound)."""
        flow = self.flows.get(state.flow)
        if flow is not None and not policy.may(ctx.standing, flow.action):
            await dialog_state.discard(ctx.session, state=state)
            refusal = policy.refusal(ctx.standing, flow.action)
            return [Reply(ctx.t(refusal.key, **refusal.params)), Reply(ctx.t("dialog.dropped"))]
        ctx.draft = dict(state.draft)
        step = flow.current(ctx.draft) if flow is not None else None
        if flow is None or step is None:
            await dialog_state.discard(ctx.session, state=state)
            return [Reply(ctx.t("dialog.gone"))]
        return flow, step

    def _as_choice(self, inbound: Inbound, state: Dialog, step: Step) -> Inbound:
        """A typed number or label picks from the choices shown last; a stale button is refused."""
        data = self.picked(state, inbound)
        if inbound.kind == "button":
            if data is None:
                raise InvalidInput("dialog.stale_button")
            return inbound
        if inbound.kind != "text" or not state.choices:
            return inbound
        if data is not None:
            return replace(inbound, kind="button", data=data)
        typed = inbound.text.strip()
        if typed.isdigit() and typed.isascii() and "text" not in step.accepts:
            raise InvalidInput("dialog.out_of_range", count=len(state.choices))
        return inbound

    async def _back(self, ctx: Context, flow: Flow, state: Dialog) -> list[Reply]:
        """Reopen the nearest earlier question the person answered, in the flow's order. In the middle of a
        change started from the confirmation screen, "back" abandons the change and restores every answer."""
        if EDITING in ctx.draft:
            ctx.draft = ctx.draft[EDITING]
            return [Reply(ctx.t("dialog.edit_abandoned")), *await self._advance(ctx, flow, state)]
        current = flow.current(ctx.draft)
        assert current is not None
        earlier = flow.steps[: flow.steps.index(current)]
        previous = next(
            (step for step in reversed(earlier) if step.key in state.history and step.applies(ctx.draft)), None
        )
        if previous is None:
            return [Reply(ctx.t("dialog.at_first_step")), *await self._show(ctx, flow, state, current)]
        state.history = [key for key in state.history if key != previous.key]
        previous.forget(ctx.draft)
        return await self._advance(ctx, flow, state)

    async def _advance(self, ctx: Context, flow: Flow, state: Dialog) -> list[Reply]:
        step = flow.current(ctx.draft)
        if step is None:  # every step answered: flows without a confirmation step end here
            return await self._finish(ctx, flow, state)
        if isinstance(step, ConfirmStep):
            ctx.draft.pop(EDITING, None)  # back on the confirmation screen: the change is complete
        return await self._show(ctx, flow, state, step)

    async def _finish(self, ctx: Context, flow: Flow, state: Dialog) -> list[Reply]:
        # A savepoint: when the flow refuses at the last moment (InvalidInput), what it already wrote is undone
        # while the dialog itself stays, so the person can correct the answer.
        async with ctx.session.begin_nested():
            replies = await flow.finish(ctx)
        offered = replies[-1].buttons if replies else ()
        if offered and all(button.data.startswith(COMMAND_BUTTON) for button in offered):
            # Commands offered as buttons (report the household's request): on a channel without buttons they are
            # numbered, and the number is read against this state (handlers.router).
            offer = Dialog(state.channel, state.chat_id, state.user_id, flow=OFFER, step=OFFER, updated_at=ctx.now)
            offer.choices = choices_of(offered)
            await dialog_state.save(ctx.session, state=offer)
        else:
            await dialog_state.discard(ctx.session, state=state)
        return replies

    async def _show(self, ctx: Context, flow: Flow, state: Dialog, step: Step) -> list[Reply]:
        prompt = await step.prompt(ctx)
        state.step = step.key
        state.draft = dict(ctx.draft)
        state.choices = choices_of(prompt.buttons)
        state.updated_at = ctx.now
        await dialog_state.save(ctx.session, state=state)
        return [Reply(prompt.text, prompt.buttons, prompt.ask, transient=prompt.transient)]
