"""Opinion requests (征求意见): a leader or the liaison office sends a draft decision with questions (free text or
one of some options) and a deadline; representatives answer in the chat, and may change their answers until the
deadline; the sender gets the summary (counts per option, the texts with who wrote them, who has not answered) at
the deadline, and whenever they ask.

Sending is one transaction, like a briefing's (storage.records.briefings), and plans two due items: the reminder to
those who have not answered, `briefings.opinion_remind_days_before` days before the deadline, and the summary at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import execute
from storage.delivery import outbox
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import (
    ChatIdentity,
    OpinionAnswer,
    OpinionQuestion,
    OpinionRecipient,
    OpinionRequest,
    Representative,
)
from storage.policy import Action, Standing
from storage.records import audience, schedule
from storage.records.briefings import (
    LISTED,
    MAX_TITLE,
    Attachment,
    chats_of_representatives,
    messages_to,
    sent_record,
)
from storage.records.cases import Render
from storage.records.schedule import Planned
from storage.settings import Settings

REMIND, SUMMARY = "opinion-remind", "opinion-summary"  # the due items' kinds
MAX_QUESTION = 500
MAX_OPTION = 60
RECIPIENTS: sa.Table = OpinionRecipient.__table__  # type: ignore[attr-defined]
QUESTIONS: sa.Table = OpinionQuestion.__table__  # type: ignore[attr-defined]
ANSWERS: sa.Table = OpinionAnswer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Question:
    """A question as the sender wrote it: its text and its options (none: answered in free text)."""

    text: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """One answer: the option chosen (its index from 0), or the free text."""

    choice: int | None = None
    text: str = ""


def deadline_day(request: OpinionRequest, settings: Settings) -> date:
    """The last day answers are taken: a request closes at the end of it (local midnight)."""
    return (request.closes_at.astimezone(settings.zone) - timedelta(seconds=1)).date()


def closing_at(day: date, settings: Settings) -> datetime:
    """When a request whose last day is `day` closes: the local midnight after it."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=settings.zone).astimezone(UTC)


def check_question(question: Question, settings: Settings) -> None:
    """An options question needs two options at least and at most `max_options`, each said in a few words."""
    if question.options and not 2 <= len(question.options) <= settings.briefings.max_options:
        raise InvalidInput("opinion.error.option_count", most=settings.briefings.max_options)
    if len(set(question.options)) != len(question.options):
        raise InvalidInput("opinion.error.option_twice")


# --- sending ----------------------------------------------------------------------------------------------


def items_for(request: OpinionRequest, settings: Settings, now: datetime) -> list[Planned]:
    """The reminder (when it still falls after now) and the summary. The summary keeps no expiry: late after a
    downtime, it is still what the sender waits for."""
    payload = {"request_id": request.id}
    items = [Planned(key=f"{SUMMARY}:{request.id}", kind=SUMMARY, due_at=request.closes_at, payload=payload)]
    remind_at = request.closes_at - timedelta(days=settings.briefings.opinion_remind_days_before)
    if settings.briefings.opinion_remind_days_before and remind_at > now:
        latest = remind_at + timedelta(hours=settings.scheduler.lateness_hours("opinions"))
        items.append(
            Planned(
                key=f"{REMIND}:{request.id}",
                kind=REMIND,
                due_at=remind_at,
                expires_at=min(latest, request.closes_at),
                payload=payload,
            )
        )
    return items


async def send(
    session: AsyncSession,
    *,
    standing: Standing,
    scope: str,
    title: str,
    body: str,
    attachment: Attachment | None,
    questions: Sequence[Question],
    closes_at: datetime,
    settings: Settings,
    now: datetime,
    render: Render,
) -> OpinionRequest:
    """Send an opinion request to every representative in office in the scope, as one transaction."""
    policy.require(standing, Action.SEND_BRIEFING)
    assert standing.staff_id is not None
    if not 1 <= len(questions) <= settings.briefings.max_questions:
        raise InvalidInput("opinion.error.question_count", most=settings.briefings.max_questions)
    for question in questions:
        check_question(question, settings)
    if closes_at <= now:
        raise InvalidInput("opinion.error.deadline_past")
    recipients = await audience.recipients(session, scope)
    request = OpinionRequest(
        sender_id=standing.staff_id,
        title=title[:MAX_TITLE],
        body=body,
        file_ref=attachment.file_ref if attachment else "",
        file_name=attachment.file_name if attachment else "",
        scope=scope,
        closes_at=closes_at,
        sent_at=now,
    )
    session.add(request)
    await session.flush()
    assert request.id is not None
    for position, question in enumerate(questions, start=1):
        session.add(
            OpinionQuestion(
                request_id=request.id,
                position=position,
                text=question.text[:MAX_QUESTION],
                options=list(question.options),
            )
        )
    await execute(
        session, sa.insert(RECIPIENTS), [{"request_id": request.id, "representative_id": rep} for rep in recipients]
    )
    audit.record(
        session,
        actor=standing.actor,
        action="opinion.sent",
        entity="opinion_request",
        entity_id=request.id,
        recipients=len(recipients),
        questions=len(questions),
    )
    values = {
        "id": request.id,
        "title": request.title,
        "body": request.body,
        "closes": deadline_day(request, settings).isoformat(),
    }
    messages = messages_to(
        await chats_of_representatives(session, recipients),
        render=render,
        default_language=settings.general.default_language,
        key="opinion.notify.new",
        values=values,
        attachment=attachment,
    )
    await outbox.enqueue(session, messages=messages, now=now)
    await schedule.plan(session, items=items_for(request, settings, now), now=now)
    return request


# --- what representatives see and answer ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """An opinion request as one representative has it: whether they answered."""

    request: OpinionRequest
    answered_at: datetime | None


async def received(
    session: AsyncSession, *, representative_id: int, now: datetime, open_only: bool = False, limit: int = LISTED
) -> list[Received]:
    """The opinion requests sent to a representative: open and unanswered first, then open, then closed; the
    nearest deadline first within each."""
    query = (
        select(OpinionRequest, OpinionRecipient.answered_at)
        .join(OpinionRecipient, col(OpinionRecipient.request_id) == OpinionRequest.id)
        .where(OpinionRecipient.representative_id == representative_id)
    )
    if open_only:
        query = query.where(col(OpinionRequest.closes_at) > now)
    closed = col(OpinionRequest.closes_at) <= now
    query = query.order_by(
        closed, col(OpinionRecipient.answered_at).is_not(None), col(OpinionRequest.closes_at), col(OpinionRequest.id)
    )
    found = await session.exec(query.limit(limit))
    return [Received(request, answered_at) for request, answered_at in found.all()]


async def get(session: AsyncSession, request_id: int) -> OpinionRequest:
    found = await session.get(OpinionRequest, request_id)
    if found is None:
        raise NotFound("opinion.error.unknown", number=request_id)
    return found


async def questions_of(session: AsyncSession, *, request_id: int) -> list[OpinionQuestion]:
    found = await session.exec(
        select(OpinionQuestion).where(OpinionQuestion.request_id == request_id).order_by(col(OpinionQuestion.position))
    )
    return list(found.all())


async def open_received(
    session: AsyncSession, *, standing: Standing, request_id: int, lock: bool = False
) -> tuple[OpinionRequest, OpinionRecipient]:
    """A request sent to this representative; one sent to others is unknown to them. `lock` holds their row until
    the transaction ends (answering: two quick presses of Save take turns instead of colliding)."""
    policy.require(standing, Action.READ_BRIEFING)
    request = await get(session, request_id)
    mine = await session.get(OpinionRecipient, (request_id, standing.representative_id), with_for_update=lock)
    if mine is None:
        raise NotFound("opinion.error.unknown", number=request_id)
    return request, mine


def ensure_open(request: OpinionRequest, now: datetime) -> None:
    if request.closes_at <= now:
        raise Conflict("opinion.error.closed", title=request.title)


async def answers_of(session: AsyncSession, *, request_id: int, representative_id: int) -> dict[int, Answer]:
    """A representative's answers to a request, by question position."""
    found = await session.exec(
        select(OpinionQuestion.position, OpinionAnswer)
        .join(OpinionAnswer, col(OpinionAnswer.question_id) == OpinionQuestion.id)
        .where(OpinionQuestion.request_id == request_id, OpinionAnswer.representative_id == representative_id)
    )
    return {position: Answer(answer.choice, answer.text) for position, answer in found.all()}


async def answer(
    session: AsyncSession,
    *,
    standing: Standing,
    request_id: int,
    answers: dict[int, Answer],
    settings: Settings,
    now: datetime,
) -> bool:
    """Save a representative's answers (by question position), replacing those they gave before; refused once the
    deadline has passed. Returns whether they had answered before (a change)."""
    request, mine = await open_received(session, standing=standing, request_id=request_id, lock=True)
    ensure_open(request, now)
    questions = await questions_of(session, request_id=request_id)
    rows = []
    for question in questions:
        given = answers.get(question.position)
        if given is None:
            raise InvalidInput("opinion.error.unanswered", position=question.position)
        if question.options:
            if given.choice is None or not 0 <= given.choice < len(question.options):
                raise InvalidInput("opinion.error.bad_choice", count=len(question.options))
            rows.append({"question_id": question.id, "choice": given.choice, "text": ""})
        else:
            text = given.text.strip()
            if not text:
                raise InvalidInput("opinion.error.unanswered", position=question.position)
            if len(text) > settings.briefings.max_answer_length:
                raise InvalidInput("input.too_long", limit=settings.briefings.max_answer_length, length=len(text))
            rows.append({"question_id": question.id, "choice": None, "text": text})
    representative_id = standing.representative_id
    ids = [question.id for question in questions]
    await execute(
        session,
        sa.delete(ANSWERS).where(ANSWERS.c.question_id.in_(ids), ANSWERS.c.representative_id == representative_id),
    )
    await execute(
        session,
        sa.insert(ANSWERS),
        [{**row, "representative_id": representative_id, "answered_at": now} for row in rows],
    )
    changed = mine.answered_at is not None
    mine.answered_at = now
    session.add(mine)
    audit.record(
        session,
        actor=standing.actor,
        action="opinion.changed" if changed else "opinion.answered",
        entity="opinion_request",
        entity_id=request_id,
    )
    return changed


# --- what the sender sees -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """An opinion request as its sender follows it: how many answered."""

    request: OpinionRequest
    answered: int
    recipients: int


async def sent_by(session: AsyncSession, *, staff_id: int, limit: int = LISTED) -> list[Sent]:
    """What a staff member asked, newest first, with how many answered."""
    found = await session.exec(
        select(OpinionRequest)
        .where(OpinionRequest.sender_id == staff_id)
        .order_by(col(OpinionRequest.sent_at).desc(), col(OpinionRequest.id).desc())
        .limit(limit)
    )
    requests = list(found.all())
    counts = await session.exec(
        select(
            OpinionRecipient.request_id,
            sa.func.count(col(OpinionRecipient.answered_at)),
            sa.func.count(),
        )
        .where(col(OpinionRecipient.request_id).in_([request.id for request in requests]))
        .group_by(col(OpinionRecipient.request_id))
    )
    shares = {row[0]: (int(row[1]), int(row[2])) for row in counts.all()}
    return [Sent(request, *shares.get(request.id or 0, (0, 0))) for request in requests]


async def open_sent(session: AsyncSession, *, standing: Standing, request_id: int) -> OpinionRequest:
    """A request as its sender follows it; anyone else is refused (briefing.error.not_sender)."""
    request = await get(session, request_id)
    policy.require(standing, Action.BRIEFING_READERS, sent_record(standing, request.sender_id))
    return request


@dataclass(frozen=True)
class QuestionSummary:
    """One question's answers: counts per option, or the texts with who wrote them."""

    position: int
    text: str
    options: tuple[str, ...]
    counts: tuple[int, ...]  # per option
    texts: tuple[tuple[str, str, str], ...]  # (name, code, text) of a free-text question

    @property
    def answered(self) -> int:
        return sum(self.counts) if self.options else len(self.texts)


@dataclass(frozen=True)
class Summary:
    request: OpinionRequest
    recipients: int
    answered: int
    questions: list[QuestionSummary] = field(default_factory=list)
    silent: list[tuple[str, str]] = field(default_factory=list)  # (name, code) of those who did not answer


async def summary(session: AsyncSession, *, request: OpinionRequest) -> Summary:
    """The answers so far: counts per option, the free texts with their writers, who has not answered."""
    assert request.id is not None
    questions = await questions_of(session, request_id=request.id)
    found = await session.exec(
        select(OpinionAnswer, Representative.name, Representative.code)
        .join(Representative, col(Representative.id) == OpinionAnswer.representative_id)
        .where(col(OpinionAnswer.question_id).in_([question.id for question in questions]))
        .order_by(col(Representative.code))
    )
    by_question: dict[int, list[tuple[OpinionAnswer, str, str]]] = {}
    for row, name, code in found.all():
        by_question.setdefault(row.question_id, []).append((row, name, code))
    shown = []
    for question in questions:
        given = by_question.get(question.id or 0, [])
        counts = [0] * len(question.options)
        for row, _, _ in given:
            if row.choice is not None and 0 <= row.choice < len(counts):
                counts[row.choice] += 1
        texts = tuple((name, code, row.text) for row, name, code in given if not question.options and row.text)
        shown.append(QuestionSummary(question.position, question.text, tuple(question.options), tuple(counts), texts))
    people = await session.exec(
        select(Representative.name, Representative.code, OpinionRecipient.answered_at)
        .join(OpinionRecipient, col(OpinionRecipient.representative_id) == Representative.id)
        .where(OpinionRecipient.request_id == request.id)
        .order_by(col(Representative.code))
    )
    rows = people.all()
    silent = [(name, code) for name, code, answered_at in rows if answered_at is None]
    return Summary(request, len(rows), len(rows) - len(silent), shown, silent)


async def unanswered(session: AsyncSession, *, request_id: int) -> list[int]:
    """The representatives (still in office) who have not answered."""
    found = await session.exec(
        select(OpinionRecipient.representative_id)
        .join(Representative, col(Representative.id) == OpinionRecipient.representative_id)
        .where(
            OpinionRecipient.request_id == request_id,
            col(OpinionRecipient.answered_at).is_(None),
            col(Representative.active).is_(True),
        )
    )
    return list(found.all())


async def remind_unanswered(session: AsyncSession, *, request: OpinionRequest, now: datetime) -> list[ChatIdentity]:
    """Mark those who have not answered as reminded now (the scheduler's item, once), and give their chats."""
    assert request.id is not None
    ids = await unanswered(session, request_id=request.id)
    if not ids:
        return []
    await execute(
        session,
        sa.update(RECIPIENTS)
        .where(RECIPIENTS.c.request_id == request.id, RECIPIENTS.c.representative_id.in_(ids))
        .values(reminded_at=now),
    )
    return await chats_of_representatives(session, ids)


def reminder_values(request: OpinionRequest, settings: Settings) -> dict[str, Any]:
    return {"id": request.id, "title": request.title, "closes": deadline_day(request, settings).isoformat()}
