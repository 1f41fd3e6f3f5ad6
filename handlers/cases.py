"""Following cases: /cases for those who handle them (the queue each is entitled to, and a case's steps as buttons)
and /mycases for residents (their cases, rating the answer, withdrawing, adding information)."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.case_intake import CategoryStep
from handlers.dialogs import Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import text_answer
from handlers.notices import render
from storage import policy
from storage.errors import Conflict, InvalidInput
from storage.models import Case
from storage.policy import Action
from storage.records import cases, relay
from storage.records.cases import Actor
from storage.workdays import calendar_of

MAX_NOTE = 1000
MAX_REASON = 300
HISTORY_SHOWN = 6


def category_label(ctx: Context, code: str) -> str:
    category = ctx.settings.cases.category(code)
    return code if category is None else category.label(ctx.language)


def state_label(ctx: Context, case: Case) -> str:
    return ctx.t(f"case.state.{case.state}")


def case_line(ctx: Context, case: Case) -> str:
    """One case in a list: number, category, state, due date, and whether it is late."""
    late = case.state in cases.OPEN_STATES and case.state != cases.ANSWERED and case.due_on < ctx.today
    return ctx.t(
        "case.line",
        number=case.number,
        category=category_label(ctx, case.category),
        state=state_label(ctx, case),
        due=case.due_on.isoformat(),
        late=ctx.t("case.late") if late else "",
    )


async def details(ctx: Context, case: Case, *, for_resident: bool) -> str:
    """The case as this person may read it. An anonymous case has no writer to show; a named one shows its writer
    to the representatives and the liaison office, and the phone to a department only with the writer's consent."""
    assert case.id is not None
    lines = [case_line(ctx, case), ctx.t("case.detail.text", text=case.text)]
    place = await cases.place_of(ctx.session, area_id=case.area_id) if case.area_id else None
    if place is not None:
        lines.append(ctx.t("case.detail.place", area=place.area, station=place.station))
    if not for_resident:
        if case.anonymous:
            lines.append(ctx.t("case.detail.anonymous"))
        elif case.reported:
            lines.append(ctx.t("case.detail.reported"))
        elif case.name or case.phone:
            shows_phone = case.consent or ctx.standing.role is not policy.Role.DEPARTMENT
            phone = case.phone if shows_phone and case.phone else ctx.t("case.detail.no_phone")
            lines.append(ctx.t("case.detail.writer", name=case.name or "—", phone=phone))
    owner = case.department or (ctx.t("case.detail.kept") if case.kept_by else ctx.t("case.no_department"))
    lines.append(ctx.t("case.detail.owner", owner=owner))
    if case.due_provisional:
        lines.append(ctx.t("case.detail.provisional"))
    if case.extension_days:
        lines.append(ctx.t("case.detail.extension", days=case.extension_days, reason=case.extension_reason))
    if case.answer:
        lines.append(ctx.t("case.detail.answer", answer=case.answer))
    if case.rating:
        lines.append(ctx.t("case.detail.rating", rating=ctx.t(f"case.rating.{case.rating}")))
    files = await cases.attachments(ctx.session, case_id=case.id)
    if files:
        lines.append(ctx.t("case.detail.files", count=len(files)))
    events = await cases.history(ctx.session, case_id=case.id)
    shown = [event for event in events if not for_resident or event.to_resident or event.action != "progress"]
    for event in shown[-HISTORY_SHOWN:]:
        local = event.at.astimezone(ctx.settings.zone)
        note = f"：{event.note[:80]}" if event.note and (not for_resident or event.to_resident) else ""
        lines.append(
            ctx.t(
                "case.detail.event",
                at=local.strftime("%m-%d %H:%M"),
                action=ctx.t(f"case.event.{event.action}"),
                note=note,
            )
        )
    return "\n".join(lines)


# --- steps shared by both flows ---------------------------------------------------------------------------


class CaseFlow(Flow):
    """Choose a case, then one of the steps the policy allows on it now, then what that step needs."""

    mine: ClassVar[bool] = False

    async def prefill(self, ctx: Context, arguments: str) -> None:
        number = arguments.strip()
        if number:
            case = await self.open(ctx, number)
            ctx.draft["case_id"] = case.id
        elif not await self.listing(ctx, offset=0):
            raise Conflict("case.none_mine" if self.mine else "case.none_open")

    async def open(self, ctx: Context, number: str) -> Case:
        case, _ = await cases.open_case(
            ctx.session, standing=ctx.standing, identity=ctx.identity, number=number, today=ctx.today, own=self.mine
        )
        return case

    async def listing(self, ctx: Context, *, offset: int) -> list[Case]:
        if self.mine:
            return await cases.cases_of_resident(ctx.session, resident=ctx.identity)
        found = await cases.queue(ctx.session, standing=ctx.standing, today=ctx.today, offset=offset)
        ctx.draft["total"] = found.total
        return found.cases

    async def finish(self, ctx: Context) -> list[Reply]:
        case = await ctx.session.get(Case, int(ctx.draft["case_id"]))
        assert case is not None
        who = Actor(ctx.standing, ctx.identity)
        step = ctx.draft["step"]
        case = await perform(ctx, who, case, step)
        return [
            Reply(
                ctx.t(f"case.done.{step}", number=case.number, state=state_label(ctx, case)),
                transient=hidden(ctx, case),
            )
        ]


def hidden(ctx: Context, case: Case) -> bool:
    """Whether what is said about the case to this person must not be kept once sent: they are a resident the
    relay alone links to it (an anonymous writer, or one who joined)."""
    return case.anonymous or (
        case.identity_id != ctx.identity.id and not ctx.standing.is_staff and not ctx.standing.is_representative
    )


async def perform(ctx: Context, who: Actor, case: Case, step: str) -> Case:
    """The storage function of a step, with what the dialog collected."""
    draft, settings, now = ctx.draft, ctx.settings, ctx.now
    assert case.id is not None
    calendar = calendar_of(ctx.settings)
    if step == "sort":
        return await cases.sort(
            ctx.session,
            who=who,
            case_id=case.id,
            category=draft["category"],
            urgent=bool(draft["urgent"]),
            calendar=calendar,
            settings=settings,
            now=now,
            render=render,
        )
    if step == "assign":
        return await cases.assign(
            ctx.session,
            who=who,
            case_id=case.id,
            department=draft["department"],
            settings=settings,
            now=now,
            render=render,
        )
    if step == "take":
        return await cases.take(ctx.session, who=who, case_id=case.id, settings=settings, now=now, render=render)
    if step == "progress":
        return await cases.progress(
            ctx.session,
            who=who,
            case_id=case.id,
            note=draft["note"],
            to_resident=bool(draft["to_resident"]),
            attachment=None,
            settings=settings,
            now=now,
            render=render,
        )
    if step == "answer":
        return await cases.answer(
            ctx.session,
            who=who,
            case_id=case.id,
            text=draft["note"],
            resolved=bool(draft["resolved"]),
            attachment=draft.get("attachment"),
            settings=settings,
            now=now,
            render=render,
        )
    if step == "extend":
        return await cases.ask_extension(
            ctx.session,
            who=who,
            case_id=case.id,
            days=int(draft["days"]),
            reason=draft["reason"],
            settings=settings,
            now=now,
            render=render,
        )
    if step == "decide":
        return await cases.decide_extension(
            ctx.session,
            who=who,
            case_id=case.id,
            approve=bool(draft["approve"]),
            calendar=calendar,
            settings=settings,
            now=now,
            render=render,
        )
    if step == "return":
        return await cases.return_case(
            ctx.session, who=who, case_id=case.id, reason=draft["reason"], settings=settings, now=now, render=render
        )
    if step == "rate":
        return await cases.rate(
            ctx.session,
            who=who,
            case_id=case.id,
            rating=draft["rating"],
            reason=draft.get("reason", ""),
            handler_at_fault=bool(draft.get("fault")),
            calendar=calendar,
            settings=settings,
            now=now,
            render=render,
        )
    if step == "withdraw":
        return await cases.withdraw(ctx.session, who=who, case_id=case.id, settings=settings, now=now, render=render)
    if step == "add":
        return await cases.add_information(
            ctx.session,
            who=who,
            case_id=case.id,
            text=draft.get("note", ""),
            attachment=draft.get("attachment"),
            settings=settings,
            now=now,
            render=render,
        )
    raise InvalidInput("dialog.stale_button")


class PickStep(Step):
    """The list of cases, as buttons; a case number typed opens that case."""

    key = "case_id"
    resets = ("step",)

    def __init__(self, flow: CaseFlow) -> None:
        self.flow = flow

    async def prompt(self, ctx: Context) -> Prompt:
        offset = int(ctx.draft.get("offset", 0))
        found = await self.flow.listing(ctx, offset=offset)
        buttons = [Button(f"case:pick:{case.id}", case.number) for case in found]
        total = int(ctx.draft.get("total", len(found)))
        if offset + len(found) < total:
            buttons.append(Button("case:more", ctx.t("case.button.more")))
        lines = [case_line(ctx, case) for case in found]
        key = "case.ask.pick_mine" if self.flow.mine else "case.ask.pick"
        header = ctx.t(key, total=total, first=offset + 1 if found else 0, last=offset + len(found))
        # A resident's list that names a case only the relay links them to is not kept once sent.
        transient = self.flow.mine and any(hidden(ctx, case) for case in found)
        return Prompt(header + "\n" + "\n".join(lines), tuple(buttons), transient=transient)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "case:more":
            ctx.draft["offset"] = int(ctx.draft.get("offset", 0)) + cases.QUEUE_SIZE
            return Outcome.STAY
        if inbound.kind == "button":
            case_id = int(inbound.data.removeprefix("case:pick:"))
            case = await ctx.session.get(Case, case_id)
            if case is None:
                raise InvalidInput("dialog.stale_button")
            case = await self.flow.open(ctx, case.number)
        else:
            case = await self.flow.open(ctx, text_answer(inbound.text, limit=24))
        ctx.draft["case_id"] = case.id
        ctx.draft.pop("offset", None)
        return Outcome.NEXT


class ActionStep(Step):
    """The case in full and the steps this person may take on it now."""

    key = "step"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = (
        "category",
        "urgent",
        "department",
        "note",
        "to_resident",
        "resolved",
        "attachment",
        "days",
        "reason",
        "approve",
        "rating",
        "fault",
        "sure",
    )

    def __init__(self, flow: CaseFlow) -> None:
        self.flow = flow

    async def prompt(self, ctx: Context) -> Prompt:
        case = await ctx.session.get(Case, int(ctx.draft["case_id"]), populate_existing=True)
        assert case is not None
        record = await cases.record_for(ctx.session, standing=ctx.standing, identity=ctx.identity, case=case)
        steps = cases.allowed_steps(ctx.standing, record, case)
        if self.flow.mine:
            steps = [step for step in steps if step in ("rate", "withdraw", "add")]
            if hidden(ctx, case):
                await relay.conceal(ctx.session, writer=ctx.identity)
        else:  # a representative rates and withdraws what they reported; residents' own steps are in /mycases
            steps = [step for step in steps if step not in ("withdraw", "add") and (step != "rate" or case.reported)]
        buttons = [Button(f"case:do:{step}", ctx.t(f"case.button.{step}")) for step in steps]
        buttons.append(Button("case:do:list", ctx.t("case.button.list")))
        text = await details(ctx, case, for_resident=self.flow.mine)
        if not steps:
            text += "\n\n" + ctx.t("case.nothing_to_do")
        return Prompt(text, tuple(buttons), transient=self.flow.mine and hidden(ctx, case))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        step = inbound.data.removeprefix("case:do:")
        if step == "list":
            ctx.draft.pop("case_id", None)
            return Outcome.STAY
        case = await ctx.session.get(Case, int(ctx.draft["case_id"]), populate_existing=True)
        assert case is not None
        record = await cases.record_for(ctx.session, standing=ctx.standing, identity=ctx.identity, case=case)
        if step not in cases.allowed_steps(ctx.standing, record, case):
            raise InvalidInput("case.error.step_gone")
        ctx.draft["step"] = step
        return Outcome.FINISH if step == "take" else Outcome.NEXT


class ForStep(Step):
    """A question asked for some steps only."""

    steps: ClassVar[tuple[str, ...]]

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("step") in self.steps


class CaseQuestion(ForStep, YesNoStep):
    """A yes-or-no question of some steps (case:<key>:yes / no)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.data = f"case:{cls.key}"


class SortCategoryStep(ForStep, CategoryStep):
    """The liaison office confirms the category: the intake's question, asked again."""

    steps = ("sort",)

    async def prompt(self, ctx: Context) -> Prompt:
        asked = await super().prompt(ctx)
        return Prompt(ctx.t("case.ask.sort_category"), asked.buttons)


class UrgentStep(CaseQuestion):
    key = "urgent"
    steps = ("sort",)
    question = "case.ask.urgent"


class DepartmentStep(ForStep):
    key = "department"
    steps = ("assign",)
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        units = await cases.departments(ctx.session)
        return Prompt(
            ctx.t("case.ask.department"), tuple(Button(f"case:dept:{index}", unit) for index, unit in enumerate(units))
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        units = await cases.departments(ctx.session)
        index = inbound.data.removeprefix("case:dept:")
        if not index.isdigit() or int(index) >= len(units):
            raise InvalidInput("dialog.stale_button")
        ctx.draft["department"] = units[int(index)]
        return Outcome.NEXT


class NoteStep(ForStep):
    """A progress note (words only), the answer, or information a resident adds: words, and for the last two a
    photo or a file as well (its caption, or the words sent next, say what it is)."""

    key = "note"
    steps = ("progress", "answer", "add")
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text", "photo", "document"})

    async def prompt(self, ctx: Context) -> Prompt:
        if "attachment" in ctx.draft:
            return Prompt(ctx.t("case.ask.note_attached", limit=MAX_NOTE))
        return Prompt(ctx.t(f"case.ask.note_{ctx.draft['step']}", limit=MAX_NOTE))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind in ("photo", "document"):
            if ctx.draft["step"] == "progress":
                raise InvalidInput("case.error.note_text")
            reference = inbound.photo if inbound.kind == "photo" else inbound.document
            ctx.draft["attachment"] = f"{inbound.kind}:{reference}"
            caption = inbound.text.strip()
            if caption:
                ctx.draft["note"] = text_answer(caption, limit=MAX_NOTE)
                return Outcome.NEXT
            if ctx.draft["step"] == "add":
                ctx.draft["note"] = ""  # a photo alone says enough
                return Outcome.NEXT
            return Outcome.STAY  # the file is kept; the answer's words are still needed
        ctx.draft["note"] = text_answer(inbound.text, limit=MAX_NOTE)
        return Outcome.NEXT


class ToResidentStep(CaseQuestion):
    key = "to_resident"
    steps = ("progress",)
    question = "case.ask.to_resident"


class ResolvedStep(CaseQuestion):
    key = "resolved"
    steps = ("answer",)
    question = "case.ask.resolved"


class DaysStep(ForStep):
    key = "days"
    steps = ("extend",)

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("case.ask.days", limit=cases.MAX_EXTENSION_DAYS))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        typed = inbound.text.strip()
        if not typed.isdigit() or not typed.isascii() or not 1 <= int(typed) <= cases.MAX_EXTENSION_DAYS:
            raise InvalidInput("case.error.days", limit=cases.MAX_EXTENSION_DAYS)
        ctx.draft["days"] = int(typed)
        return Outcome.NEXT


class ReasonStep(ForStep):
    key = "reason"
    steps = ("extend", "return", "rate")

    def applies(self, draft: dict[str, Any]) -> bool:
        if draft.get("step") == "rate":
            return draft.get("rating") == "dissatisfied"
        return super().applies(draft)

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t(f"case.ask.reason_{ctx.draft['step']}", limit=MAX_REASON))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["reason"] = text_answer(inbound.text, limit=MAX_REASON)
        return Outcome.NEXT


class ApproveStep(CaseQuestion):
    key = "approve"
    steps = ("decide",)
    question = "case.ask.approve"
    yes, no = "case.button.approve", "case.button.refuse"


class RatingStep(ForStep):
    key = "rating"
    steps = ("rate",)
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(Button(f"case:rating:{rating}", ctx.t(f"case.rating.{rating}")) for rating in cases.RATINGS)
        return Prompt(ctx.t("case.ask.rating"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        rating = inbound.data.removeprefix("case:rating:")
        if rating not in cases.RATINGS:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["rating"] = rating
        return Outcome.NEXT


class FaultStep(CaseQuestion):
    key = "fault"
    steps = ("rate",)
    question = "case.ask.fault"

    def applies(self, draft: dict[str, Any]) -> bool:
        return super().applies(draft) and draft.get("rating") == "dissatisfied"


class SureStep(CaseQuestion):
    key = "sure"
    steps = ("withdraw",)
    question = "case.ask.withdraw"

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        await super().receive(ctx, inbound)
        if not ctx.draft["sure"]:
            ctx.draft.pop("sure")
            ctx.draft.pop("step")
            return Outcome.STAY
        return Outcome.FINISH


class CasesFlow(CaseFlow):
    """/cases: the queue a representative, a department or the liaison office is entitled to, and acting on it."""

    name = "cases"
    action = Action.CASE_QUEUE


class MyCasesFlow(CaseFlow):
    """/mycases: a resident's own cases: their state, rating the answer, withdrawing, adding information."""

    name = "mycases"
    action = Action.MY_CASES
    mine = True


def _steps(flow: CaseFlow) -> tuple[Step, ...]:
    return (
        PickStep(flow),
        ActionStep(flow),
        SortCategoryStep(),
        UrgentStep(),
        DepartmentStep(),
        RatingStep(),
        NoteStep(),
        ToResidentStep(),
        ResolvedStep(),
        DaysStep(),
        ReasonStep(),
        FaultStep(),
        ApproveStep(),
        SureStep(),
    )


CasesFlow.steps = _steps(CasesFlow())
MyCasesFlow.steps = _steps(MyCasesFlow())
