"""Opinion requests (征求意见): /opinion for leaders and the liaison office (scope, title, the draft decision, an
optional document, questions one by one with their options or free text, a deadline, confirmation), /opinion N for
the summary of one's own request, and /opinions for representatives: the open requests, and answering one question
by question, with a confirmation that can change any answer; answers can be changed until the deadline."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any, ClassVar

from handlers.audience import ScopeStep
from handlers.briefings import (
    BodyStep,
    FileStep,
    SendConfirmStep,
    TitleStep,
    attachment,
    common_summary,
    notice,
    open_button,
    short,
    summary_replies,
)
from handlers.dialogs import EDITING, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import coming_date, text_answer
from storage.errors import Conflict, InvalidInput
from storage.models import OpinionQuestion, OpinionRequest
from storage.policy import Action
from storage.records import opinions
from storage.records.opinions import Answer, Question

SEPARATORS = re.compile(r"[、,，;；\n]+")
MAX_DAYS = 90
SUMMARY_OF = "summary_of"  # draft entry of /opinion N: the request whose summary is shown, nothing asked


def split_options(text: str) -> tuple[str, ...]:
    """Options typed in one message: separated by 、 , ; or new lines."""
    return tuple(part.strip() for part in SEPARATORS.split(text) if part.strip())


def last_day(text: str, *, today: date) -> date:
    """The last day to answer: a number of days from today (7), or a date (2026-12-02, 12-2, 12月2日: the next
    such day); today at the earliest, within MAX_DAYS."""
    typed = unicodedata.normalize("NFKC", text).strip().removesuffix("天").strip()
    if typed.isdigit() and len(typed) <= 3:
        day = today + timedelta(days=int(typed))
    else:
        found = coming_date(typed, today=today)
        if found is None:
            raise InvalidInput("opinion.error.bad_deadline")
        day = found
    if day < today:
        raise InvalidInput("opinion.error.deadline_past")
    if day > today + timedelta(days=MAX_DAYS):
        raise InvalidInput("opinion.error.deadline_far", days=MAX_DAYS)
    return day


# --- /opinion: ask -----------------------------------------------------------------------------------------


class QuestionsStep(Step):
    """Questions one by one: its text, then its options (or the free-text button); a button ends the list."""

    key = "questions_done"
    resets = ("questions", "pending")

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"most": ctx.settings.briefings.max_questions, "options": ctx.settings.briefings.max_options}

    async def prompt(self, ctx: Context) -> Prompt:
        questions = ctx.draft.get("questions", [])
        pending = ctx.draft.get("pending")
        if pending is not None:
            text = ctx.t("opinion.ask.options", question=pending, most=ctx.settings.briefings.max_options)
            return Prompt(text, (Button("opinion:options:free", ctx.t("opinion.button.free_text")),))
        text = ctx.t("opinion.ask.question", position=len(questions) + 1, most=ctx.settings.briefings.max_questions)
        if not questions:
            return Prompt(text)
        listed = "\n".join(question_line(ctx, n, q) for n, q in enumerate(questions, start=1))
        finish = Button("opinion:questions:done", ctx.t("opinion.button.questions_done"))
        return Prompt(ctx.t("opinion.ask.more", questions=listed) + "\n\n" + text, (finish,))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        questions = list(ctx.draft.get("questions", []))
        pending = ctx.draft.get("pending")
        if inbound.kind == "button" and pending is None:
            if inbound.data != "opinion:questions:done" or not questions:
                raise InvalidInput("dialog.stale_button")
            ctx.draft["questions_done"] = True
            return Outcome.NEXT
        if pending is None:
            ctx.draft["pending"] = text_answer(inbound.text, limit=opinions.MAX_QUESTION)
            return Outcome.STAY
        if inbound.kind == "button":
            if inbound.data != "opinion:options:free":
                raise InvalidInput("dialog.stale_button")
            options: tuple[str, ...] = ()
        else:
            options = split_options(text_answer(inbound.text, limit=opinions.MAX_OPTION * 10))
            if any(len(option) > opinions.MAX_OPTION for option in options):
                raise InvalidInput("opinion.error.option_long", limit=opinions.MAX_OPTION)
            if len(options) < 2:
                raise InvalidInput("opinion.error.option_count", most=ctx.settings.briefings.max_options)
            opinions.check_question(Question(str(pending), options), ctx.settings)
        questions.append([pending, list(options)])
        ctx.draft["questions"] = questions
        ctx.draft.pop("pending")
        if len(questions) >= ctx.settings.briefings.max_questions:
            ctx.draft["questions_done"] = True
            return Outcome.NEXT
        return Outcome.STAY


def question_line(ctx: Context, position: int, question: list[Any]) -> str:
    text, options = question
    shown = ctx.t("list.separator").join(options) if options else ctx.t("opinion.free_text")
    return ctx.t("opinion.summary.asked", position=position, text=text, options=shown)


class DeadlineStep(Step):
    """The last day to answer: a date or a number of days; the default as a button."""

    key = "last_day"

    async def prompt(self, ctx: Context) -> Prompt:
        days = ctx.settings.briefings.opinion_days
        default = (ctx.today + timedelta(days=days)).isoformat()
        button = Button(f"opinion:days:{days}", ctx.t("opinion.button.default_deadline", days=days, day=default))
        return Prompt(ctx.t("opinion.ask.deadline", most=MAX_DAYS), (button,))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        typed = inbound.data.removeprefix("opinion:days:") if inbound.kind == "button" else inbound.text
        ctx.draft["last_day"] = last_day(typed, today=ctx.today).isoformat()
        return Outcome.NEXT


def ask_summary(ctx: Context) -> str:
    lines = common_summary(ctx)
    lines.append(ctx.t("opinion.summary.deadline", day=ctx.draft["last_day"]))
    lines += [question_line(ctx, n, q) for n, q in enumerate(ctx.draft.get("questions", []), start=1)]
    return "\n".join(lines)


SCOPE, TITLE, BODY, FILE = ScopeStep("opinion"), TitleStep("opinion"), BodyStep("opinion"), FileStep("opinion")
QUESTIONS, DEADLINE = QuestionsStep(), DeadlineStep()


class OpinionFlow(Flow):
    """/opinion: a draft decision with questions, to everyone, a level or a group, until a deadline."""

    name = "opinion"
    action = Action.SEND_BRIEFING
    steps = (
        SCOPE,
        TITLE,
        BODY,
        FILE,
        QUESTIONS,
        DEADLINE,
        SendConfirmStep("opinion", summary=ask_summary, editable=(SCOPE, TITLE, BODY, FILE, QUESTIONS, DEADLINE)),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        """`/opinion N`: the summary of one's own request N so far, at once (no question is asked)."""
        typed = arguments.strip()
        if not typed:
            return
        if not typed.isdigit():
            raise InvalidInput("opinion.error.number")
        request = await opinions.open_sent(ctx.session, standing=ctx.standing, request_id=int(typed))
        ctx.draft[SUMMARY_OF] = request.id

    def current(self, draft: dict[str, Any]) -> Step | None:
        return None if SUMMARY_OF in draft else super().current(draft)

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        if SUMMARY_OF in draft:
            request = await opinions.open_sent(ctx.session, standing=ctx.standing, request_id=int(draft[SUMMARY_OF]))
            return await summary_replies(ctx, request)
        day = date.fromisoformat(str(draft["last_day"]))
        if day < ctx.today:  # the confirmation waited past the chosen day: 修改截止日期 is on the screen
            raise InvalidInput("opinion.error.deadline_past")
        request = await opinions.send(
            ctx.session,
            standing=ctx.standing,
            scope=str(draft["scope"]),
            title=str(draft["title"]),
            body=str(draft["body"]),
            attachment=attachment(draft),
            questions=[Question(text, tuple(options)) for text, options in draft["questions"]],
            closes_at=opinions.closing_at(day, ctx.settings),
            settings=ctx.settings,
            now=ctx.now,
            render=notice,
        )
        summary = await opinions.summary(ctx.session, request=request)
        text = ctx.t("opinion.done.sent", id=request.id, count=summary.recipients, day=day.isoformat())
        return [Reply(text, (open_button(ctx.language, f"opinion {request.id}", "opinion.button.summary"),))]


# --- /opinions: answer --------------------------------------------------------------------------------------


def load(ctx: Context, request: OpinionRequest, questions: list[OpinionQuestion], given: dict[int, Answer]) -> None:
    """The request's questions into the draft, and the answers given before (a change starts at the
    confirmation). Its head and text come before the first question: on a channel that edits the pressed message,
    the first question takes the place of the request's notice."""
    request_id = request.id
    closes = opinions.deadline_day(request, ctx.settings).isoformat()
    ctx.draft["_intro"] = (
        ctx.t("opinion.view.head", id=request_id, title=request.title, closes=closes) + "\n" + request.body
    )
    ctx.draft["request_id"] = request_id
    ctx.draft["questions"] = [[q.position, q.text, list(q.options)] for q in questions]
    ctx.draft["answers"] = {str(position): [one.choice, one.text] for position, one in given.items()}
    if given and len(given) == len(questions):
        ctx.draft["answered"] = True
        ctx.draft["changing"] = True


async def open_request(ctx: Context, request_id: int) -> None:
    request, _ = await opinions.open_received(ctx.session, standing=ctx.standing, request_id=request_id)
    opinions.ensure_open(request, ctx.now)
    questions = await opinions.questions_of(ctx.session, request_id=request_id)
    given = await opinions.answers_of(ctx.session, request_id=request_id, representative_id=ctx.representative_id)
    load(ctx, request, questions, given)


class PickRequestStep(Step):
    """The open requests, a button for each."""

    key = "request_id"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = ("questions", "answers", "answered", "changing", "_intro")

    async def prompt(self, ctx: Context) -> Prompt:
        found = await opinions.received(
            ctx.session, representative_id=ctx.representative_id, now=ctx.now, open_only=True
        )
        lines, buttons = [], []
        for one in found:
            closes = opinions.deadline_day(one.request, ctx.settings).isoformat()
            key = "briefing.line.opinion_answered" if one.answered_at else "briefing.line.opinion_open"
            lines.append(ctx.t(key, id=one.request.id, title=one.request.title, closes=closes))
            buttons.append(Button(f"opinions:pick:{one.request.id}", "📝 " + short(one.request.title)))
        return Prompt("\n".join([ctx.t("opinion.ask.pick"), *lines]), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        typed = inbound.data.removeprefix("opinions:pick:")
        if not typed.isdigit():
            raise InvalidInput("dialog.stale_button")
        await open_request(ctx, int(typed))
        return Outcome.NEXT


def current_question(draft: dict[str, Any]) -> list[Any] | None:
    answers = draft.get("answers", {})
    return next((q for q in draft.get("questions", []) if str(q[0]) not in answers), None)


class AnswerStep(Step):
    """Each question not yet answered, in turn: its options as buttons (numbers work), or free text."""

    key = "answered"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.briefings.max_answer_length}

    async def prompt(self, ctx: Context) -> Prompt:
        question = current_question(ctx.draft)
        assert question is not None
        position, text, options = question
        total = len(ctx.draft["questions"])
        intro = "" if ctx.draft.get("answers") else str(ctx.draft.get("_intro", "")) + "\n\n"
        if options:
            buttons = tuple(Button(f"opinions:choice:{n}", option) for n, option in enumerate(options))
            return Prompt(intro + ctx.t("opinion.ask.choice", position=position, total=total, text=text), buttons)
        limit = ctx.settings.briefings.max_answer_length
        return Prompt(intro + ctx.t("opinion.ask.text", position=position, total=total, text=text, limit=limit))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        question = current_question(ctx.draft)
        if question is None:
            raise InvalidInput("dialog.stale_button")
        position, _, options = question
        if options:
            chosen = inbound.data.removeprefix("opinions:choice:") if inbound.kind == "button" else ""
            if not chosen.isdigit() or int(chosen) >= len(options):
                raise InvalidInput("opinion.error.pick_option", count=len(options))
            given = [int(chosen), ""]
        else:
            if inbound.kind == "button":
                raise InvalidInput("dialog.stale_button")
            given = [None, text_answer(inbound.text, limit=ctx.settings.briefings.max_answer_length)]
        ctx.draft["answers"] = {**ctx.draft.get("answers", {}), str(position): given}
        if current_question(ctx.draft) is None:
            ctx.draft["answered"] = True
            return Outcome.NEXT
        return Outcome.STAY


def answer_line(ctx: Context, question: list[Any], given: list[Any]) -> str:
    position, text, options = question
    choice, typed = given
    said = options[choice] if options and choice is not None and choice < len(options) else typed
    return ctx.t("opinion.summary.given", position=position, text=text, answer=said)


class AnswersConfirmStep(Step):
    """The answers, Submit, a button to change each one, Cancel."""

    key = "confirmed"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        answers = ctx.draft.get("answers", {})
        lines = [answer_line(ctx, q, answers[str(q[0])]) for q in ctx.draft["questions"]]
        key = "opinion.ask.confirm_change" if ctx.draft.get("changing") else "opinion.ask.confirm_answers"
        buttons = [Button("opinions:save", ctx.t("opinion.button.submit"))]
        buttons += [
            Button(f"opinions:edit:{q[0]}", ctx.t("opinion.button.change_one", position=q[0]))
            for q in ctx.draft["questions"]
        ]
        buttons.append(Button("opinions:cancel", ctx.t("button.cancel")))
        return Prompt(ctx.t(key, answers="\n".join(lines)), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "opinions:save":
            return Outcome.FINISH
        if inbound.data == "opinions:cancel":
            return Outcome.CANCEL
        position = inbound.data.removeprefix("opinions:edit:")
        answers = dict(ctx.draft.get("answers", {}))
        if position not in answers:
            raise InvalidInput("dialog.stale_button")
        ctx.draft[EDITING] = {key: value for key, value in ctx.draft.items() if key != EDITING}
        answers.pop(position)
        ctx.draft["answers"] = answers
        ctx.draft.pop("answered", None)
        return Outcome.STAY


class OpinionsFlow(Flow):
    """/opinions [N]: the open requests, or answering request N."""

    name = "opinions"
    action = Action.READ_BRIEFING
    steps = (PickRequestStep(), AnswerStep(), AnswersConfirmStep())

    async def prefill(self, ctx: Context, arguments: str) -> None:
        typed = arguments.strip()
        if typed:
            if not typed.isdigit():
                raise InvalidInput("opinion.error.number")
            await open_request(ctx, int(typed))
            return
        found = await opinions.received(
            ctx.session, representative_id=ctx.representative_id, now=ctx.now, open_only=True
        )
        if not found:
            raise Conflict("opinion.none_open")

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        answers = {int(position): Answer(choice, text or "") for position, (choice, text) in draft["answers"].items()}
        request_id = int(draft["request_id"])
        changed = await opinions.answer(
            ctx.session,
            standing=ctx.standing,
            request_id=request_id,
            answers=answers,
            settings=ctx.settings,
            now=ctx.now,
        )
        request = await opinions.get(ctx.session, request_id)
        day = opinions.deadline_day(request, ctx.settings).isoformat()
        key = "opinion.done.changed" if changed else "opinion.done.answered"
        return [Reply(ctx.t(key, title=request.title, day=day))]
