"""Proposals, motions and inquiries (提案 / 提议 / 质询案): from the draft and its co-signers to its evaluation.

A proposal is drafted with a number (TA-2026-0001) and the co-signers its author invites; they accept or decline.
Its kind's filing conditions (config.toml's [[proposals.kinds]]) are checked before it is submitted; the liaison
office reviews it (established, not established with a reason, or merged into another), assigns it to a department
with a deadline in working days, the department answers, and the author evaluates the answer: dissatisfied sends it
back for a second answer, once. No step closes an established proposal without an answer: inquiries must be
answered, and so is everything else once established.

Every transition is one function here, as in storage.records.cases: it locks the proposal, asks the policy, checks
the state (`ALLOWED`), records a proposal event and an audit row (ids, never the text), and queues the notices of
the author, the co-signers who accepted and the department it is assigned to, in the caller's transaction. Storage
holds no words: a notice is a catalog key and values, which the caller's `Render` words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import dialect_insert, execute
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import (
    ChatIdentity,
    Proposal,
    ProposalCounter,
    ProposalEvent,
    ProposalFile,
    ProposalSigner,
    Representative,
    Staff,
)
from storage.policy import Action, ProposalRecord, Role, Standing
from storage.records import schedule
from storage.records.cases import (
    UNKNOWN_YEARS,
    Actor,
    Notices,
    Render,
    chats_of_representative,
    chats_of_staff,
    deadline,
    departments,
)
from storage.records.schedule import Planned
from storage.settings import ProposalKind, Settings
from storage.workdays import WorkCalendar

SIGNING, SUBMITTED, ESTABLISHED, NOT_ESTABLISHED, MERGED = (
    "signing",
    "submitted",
    "established",
    "not_established",
    "merged",
)
ASSIGNED, ANSWERED, CLOSED, WITHDRAWN = "assigned", "answered", "closed", "withdrawn"
STATES = (SIGNING, SUBMITTED, ESTABLISHED, NOT_ESTABLISHED, MERGED, ASSIGNED, ANSWERED, CLOSED, WITHDRAWN)
OPEN_STATES = (SIGNING, SUBMITTED, ESTABLISHED, ASSIGNED, ANSWERED)
FINAL_STATES = (NOT_ESTABLISHED, MERGED, CLOSED, WITHDRAWN)
EVALUATIONS = ("satisfied", "basic", "dissatisfied")
INVITED, ACCEPTED, DECLINED = "invited", "accepted", "declined"
NUMBER = re.compile(r"^(?:[A-Z]{1,6}-)?(?:(?P<year>\d{4})-)?(?P<seq>\d{1,6})$")
QUEUE_SIZE = 8
MAX_REASON = 500  # Proposal.reason and evaluation_note
SYSTEM = "system"
INVITE_REMINDER_DAYS = 3  # an invitation not answered in this many days: the invitee is reminded, once
INVITE_REMINDER = "proposal-invite"  # the due item's kind (scheduler/proposals.py)
# What a proposal event can record (ProposalEvent.action).
EVENTS = (
    "drafted",
    "invited",
    "cosigned",
    "declined",
    "submitted",
    "withdrawn",
    "established",
    "not_established",
    "merged",
    "assigned",
    "progress",
    "answered",
    "evaluated",
    "reassigned",
    "closed",
    "chased",
    "escalated",
)

# Which states each step may start from; anything else is refused with the state the proposal is in.
ALLOWED: dict[str, tuple[str, ...]] = {
    "cosign": (SIGNING, SUBMITTED),
    "decline": (SIGNING, SUBMITTED),
    "submit": (SIGNING,),
    "invite": (SIGNING, SUBMITTED),
    "withdraw": (SIGNING, SUBMITTED),
    "establish": (SUBMITTED,),
    "refuse": (SUBMITTED,),
    "merge": (SUBMITTED,),
    "assign": (ESTABLISHED,),
    "progress": (ASSIGNED,),
    "answer": (ASSIGNED,),
    "evaluate": (ANSWERED,),
}
BY_ACTION: dict[str, Action] = {
    "cosign": Action.COSIGN_PROPOSAL,
    "decline": Action.COSIGN_PROPOSAL,
    "submit": Action.EVALUATE_PROPOSAL,
    "invite": Action.EVALUATE_PROPOSAL,
    "withdraw": Action.EVALUATE_PROPOSAL,
    "establish": Action.REVIEW_PROPOSAL,
    "refuse": Action.REVIEW_PROPOSAL,
    "merge": Action.REVIEW_PROPOSAL,
    "assign": Action.REVIEW_PROPOSAL,
    "progress": Action.ANSWER_PROPOSAL,
    "answer": Action.ANSWER_PROPOSAL,
    "evaluate": Action.EVALUATE_PROPOSAL,
}


@dataclass(frozen=True)
class Draft:
    """What the /proposal dialog collected."""

    kind: str
    title: str
    body: str
    files: tuple[str, ...] = ()  # "photo:REF" or "document:REF"
    cosigners: tuple[int, ...] = ()  # representatives invited to co-sign


@dataclass(frozen=True)
class Shortfall:
    """What a proposal still lacks before it may be submitted: co-signers who accepted, characters of its body, a
    file. Empty when it may be submitted."""

    cosigners: int = 0  # how many more must accept
    body: int = 0  # the body's least length, when it is shorter
    attachment: bool = False

    def __bool__(self) -> bool:
        return bool(self.cosigners or self.body or self.attachment)


# --- reading ----------------------------------------------------------------------------------------------


def kind_of(settings: Settings, code: str) -> ProposalKind:
    kind = settings.proposals.kind(code)
    if kind is None:
        raise InvalidInput("proposal.error.unknown_kind")
    return kind


def values(proposal: Proposal, settings: Settings) -> dict[str, Any]:
    """What every notice may quote: the number, the kind in both languages, the title, the department, the due
    day. Never the body (it may be long) and never a phone."""
    kind = settings.proposals.kind(proposal.kind)
    return {
        "number": proposal.number,
        "kind_zh": kind.zh if kind else proposal.kind,
        "kind_en": kind.en if kind else proposal.kind,
        "title": proposal.title,
        "department": proposal.department,
        "due": proposal.due_on.isoformat() if proposal.due_on else "",
    }


async def signers(session: AsyncSession, *, proposal_id: int) -> list[tuple[ProposalSigner, Representative]]:
    found = await session.exec(
        select(ProposalSigner, Representative)
        .join(Representative, col(Representative.id) == ProposalSigner.representative_id)
        .where(ProposalSigner.proposal_id == proposal_id)
        .order_by(col(ProposalSigner.invited_at), col(Representative.code))
    )
    return list(found.all())


async def attachments(session: AsyncSession, *, proposal_id: int) -> list[ProposalFile]:
    found = await session.exec(
        select(ProposalFile).where(ProposalFile.proposal_id == proposal_id).order_by(col(ProposalFile.id))
    )
    return list(found.all())


async def history(session: AsyncSession, *, proposal_id: int) -> list[ProposalEvent]:
    found = await session.exec(
        select(ProposalEvent).where(ProposalEvent.proposal_id == proposal_id).order_by(col(ProposalEvent.id))
    )
    return list(found.all())


def missing(kind: ProposalKind, *, body: str, files: int, accepted: int) -> Shortfall:
    """What a proposal of this kind, body, number of files and co-signers who accepted lacks before submission."""
    return Shortfall(
        cosigners=max(kind.min_cosigners - accepted, 0),
        body=kind.min_body_length if len(body) < kind.min_body_length else 0,
        attachment=kind.needs_attachment and files == 0,
    )


class NotReady(Conflict):
    """The proposal may not be submitted (or, for what no co-signer can mend, saved) yet: `shortfall` says why."""

    def __init__(self, number: str, shortfall: Shortfall) -> None:
        super().__init__("proposal.error.not_ready", number=number)
        self.shortfall = shortfall


async def shortfall(session: AsyncSession, *, proposal: Proposal, settings: Settings) -> Shortfall:
    """What the proposal lacks before its kind's filing conditions hold."""
    assert proposal.id is not None
    accepted = (
        await session.exec(
            select(sa.func.count())
            .select_from(ProposalSigner)
            .where(ProposalSigner.proposal_id == proposal.id, ProposalSigner.status == ACCEPTED)
        )
    ).one()
    files = await attachments(session, proposal_id=proposal.id)
    kind = kind_of(settings, proposal.kind)
    return missing(kind, body=proposal.body, files=len(files), accepted=int(accepted))


async def record_for(session: AsyncSession, *, standing: Standing, proposal: Proposal) -> ProposalRecord:
    """How this person stands to the proposal, for the policy."""
    author = cosigner = invited = of_department = False
    if standing.is_representative and proposal.id is not None:
        author = proposal.author_id == standing.representative_id
        link = await session.get(ProposalSigner, (proposal.id, standing.representative_id))
        cosigner = link is not None and link.status == ACCEPTED
        invited = link is not None and link.status == INVITED
    if standing.role is Role.DEPARTMENT and standing.staff_id is not None and proposal.department:
        staff = await session.get(Staff, standing.staff_id)
        of_department = staff is not None and staff.unit == proposal.department
    draft = proposal.submitted_at is None  # never submitted: collecting co-signers, or withdrawn while it was
    return ProposalRecord(author=author, cosigner=cosigner, invited=invited, of_department=of_department, draft=draft)


async def by_number(session: AsyncSession, *, number: str, today: date, prefix: str) -> Proposal:
    """A proposal by its number, whole (TA-2026-0003), without the prefix (2026-3) or as this year's (3)."""
    typed = unicodedata.normalize("NFKC", number).strip().upper()
    match = NUMBER.match(typed)
    if match is None:
        raise NotFound("proposal.error.unknown", number=number.strip()[:24])
    year = int(match["year"] or today.year)
    found = (
        await session.exec(select(Proposal).where(Proposal.number == f"{prefix}-{year}-{int(match['seq']):04d}"))
    ).first()
    if found is None:
        raise NotFound("proposal.error.unknown", number=number.strip()[:24])
    return found


async def open_proposal(
    session: AsyncSession, *, standing: Standing, number: str, today: date, settings: Settings
) -> tuple[Proposal, ProposalRecord]:
    """A proposal this person may read; another's is refused as not theirs."""
    proposal = await by_number(session, number=number, today=today, prefix=settings.proposals.number_prefix)
    record = await record_for(session, standing=standing, proposal=proposal)
    policy.require(standing, Action.READ_PROPOSAL, record)
    return proposal, record


def allowed_steps(standing: Standing, record: ProposalRecord, proposal: Proposal) -> list[str]:
    """The steps this person may take on the proposal now, in the order they are offered."""
    return [
        step
        for step, action in BY_ACTION.items()
        if proposal.state in ALLOWED[step] and policy.may(standing, action, record)
    ]


async def find_cosigners(
    session: AsyncSession, *, text: str, author_id: int, level: str | None, limit: int = 6
) -> list[Representative]:
    """Representatives in office a typed code (D002) or part of a name finds, the author left out; only those of
    `level` when the kind wants co-signers of the author's level."""
    typed = unicodedata.normalize("NFKC", text).strip()
    if not typed:
        return []
    query = select(Representative).where(
        col(Representative.active).is_(True),
        Representative.id != author_id,
        sa.or_(sa.func.upper(Representative.code) == typed.upper(), col(Representative.name).contains(typed)),
    )
    if level is not None:
        query = query.where(Representative.level == level)
    found = await session.exec(query.order_by(col(Representative.code)).limit(limit))
    return list(found.all())


@dataclass(frozen=True)
class Queue:
    proposals: list[Proposal]
    total: int


async def queue(session: AsyncSession, *, standing: Standing, limit: int = QUEUE_SIZE, offset: int = 0) -> Queue:
    """The proposals this person follows: a representative what they wrote, co-signed or are invited to; the
    liaison office the review queue (submitted first, then the rest still open); a leader every proposal past its
    draft, open first; a department what is assigned to it, open first."""
    policy.require(standing, Action.PROPOSAL_LIST)
    where: list[Any] = []
    first: Any = sa.case((col(Proposal.state).in_(OPEN_STATES), 0), else_=1)
    if standing.is_representative:
        rep = standing.representative_id
        signed = select(ProposalSigner.proposal_id).where(
            ProposalSigner.representative_id == rep, ProposalSigner.status != DECLINED
        )
        where.append(sa.or_(col(Proposal.author_id) == rep, col(Proposal.id).in_(signed)))
    elif standing.role is Role.DEPARTMENT:
        staff = await session.get(Staff, standing.staff_id) if standing.staff_id else None
        where.append(Proposal.department == (staff.unit if staff else "\x00"))
        where.append(col(Proposal.state).in_((ASSIGNED, ANSWERED, CLOSED)))
        first = sa.case((col(Proposal.state) == ASSIGNED, 0), else_=1)
    elif standing.role is Role.LIAISON:
        where.append(col(Proposal.state).in_((SUBMITTED, ESTABLISHED, ASSIGNED, ANSWERED)))
        first = sa.case((col(Proposal.state) == SUBMITTED, 0), (col(Proposal.state) == ESTABLISHED, 1), else_=2)
    else:
        where.append(Proposal.state != SIGNING)
    order = [first, col(Proposal.due_on), col(Proposal.id).desc()]
    total = (await session.exec(select(sa.func.count()).select_from(Proposal).where(*where))).one()
    found = await session.exec(select(Proposal).where(*where).order_by(*order).offset(offset).limit(limit))
    return Queue(list(found.all()), int(total))


async def counts_by_state(session: AsyncSession, *, since: datetime | None = None) -> dict[str, int]:
    """How many proposals are in each state now, every state named (0 when none): for the digest. `since`: only
    those drafted from then on (this year's: the year's first moment)."""
    query = select(Proposal.state, sa.func.count()).group_by(col(Proposal.state))
    if since is not None:
        query = query.where(col(Proposal.created_at) >= since)
    found = await session.exec(query)
    return {state: 0 for state in STATES} | {str(state): int(count) for state, count in found.all()}


async def filed_between(session: AsyncSession, *, start: datetime, end: datetime) -> int:
    """Proposals submitted in [start, end): the digest's "proposals filed in the period" (Y counts them). A
    proposal withdrawn or refused later still counts: it was filed."""
    found = await session.exec(
        select(sa.func.count())
        .select_from(Proposal)
        .where(col(Proposal.submitted_at) >= start, col(Proposal.submitted_at) < end)
    )
    return int(found.one())


# --- drafting and co-signing ------------------------------------------------------------------------------


async def _next_number(session: AsyncSession, *, prefix: str, year: int) -> str:
    """The year's next number, counted in one statement that serialises concurrent writers on the year's row."""
    insert = dialect_insert(session)
    table = ProposalCounter.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    last = (await execute(session, statement)).scalar_one()
    return f"{prefix}-{year}-{int(last):04d}"


def _event(
    session: AsyncSession, proposal: Proposal, *, actor: str, action: str, now: datetime, note: str = "", **detail: Any
) -> ProposalEvent:
    """The step in the proposal's history (with its note) and in the audit log (ids only, never the text)."""
    assert proposal.id is not None
    event = ProposalEvent(proposal_id=proposal.id, at=now, actor=actor, action=action, note=note, detail=detail)
    session.add(event)
    audit.record(session, actor=actor, action=f"proposal.{action}", entity="proposal", entity_id=proposal.id, **detail)
    return event


async def _attach(session: AsyncSession, proposal: Proposal, event: ProposalEvent, files: Sequence[str]) -> None:
    if not files:
        return
    await session.flush()
    assert proposal.id is not None
    for attachment in files:
        kind, _, ref = attachment.partition(":")
        if kind not in ("photo", "document") or not ref:
            raise ValueError(f"an attachment is photo:REF or document:REF, not {attachment[:20]!r}")
        session.add(ProposalFile(proposal_id=proposal.id, event_id=event.id, kind=kind, file_ref=ref))


async def _locked(session: AsyncSession, proposal_id: int) -> Proposal:
    proposal = await session.get(Proposal, proposal_id, with_for_update=True, populate_existing=True)
    if proposal is None:
        raise NotFound("proposal.error.unknown", number=str(proposal_id))
    return proposal


def check_state(proposal: Proposal, step: str) -> None:
    if proposal.state not in ALLOWED[step]:
        raise Conflict("proposal.error.not_now", number=proposal.number, state=proposal.state)


async def _require(session: AsyncSession, who: Actor, proposal: Proposal, step: str) -> ProposalRecord:
    record = await record_for(session, standing=who.standing, proposal=proposal)
    policy.require(who.standing, BY_ACTION[step], record)
    check_state(proposal, step)
    return record


async def concerned(session: AsyncSession, proposal: Proposal) -> list[ChatIdentity]:
    """Who hears of every step: the author and the co-signers who accepted."""
    assert proposal.id is not None
    people = await chats_of_representative(session, proposal.author_id)
    for link, _ in await signers(session, proposal_id=proposal.id):
        if link.status == ACCEPTED:
            people += await chats_of_representative(session, link.representative_id)
    return people


async def _department(session: AsyncSession, proposal: Proposal) -> list[ChatIdentity]:
    return await chats_of_staff(session, Role.DEPARTMENT, proposal.department) if proposal.department else []


async def _check_cosigners(
    session: AsyncSession, *, author: Representative, kind: ProposalKind, cosigners: Sequence[int], settings: Settings
) -> list[Representative]:
    if len(set(cosigners)) > settings.proposals.max_cosigners:
        raise InvalidInput("proposal.error.too_many_cosigners", limit=settings.proposals.max_cosigners)
    found = []
    for rep_id in dict.fromkeys(cosigners):
        if rep_id == author.id:
            raise InvalidInput("proposal.error.own_cosigner")
        rep = await session.get(Representative, rep_id)
        if rep is None or not rep.active:
            raise NotFound("proposal.error.cosigner_gone")
        if kind.same_level and rep.level != author.level:
            raise InvalidInput("proposal.error.other_level", name=rep.name)
        found.append(rep)
    return found


async def _invite(
    session: AsyncSession,
    notices: Notices,
    proposal: Proposal,
    people: Sequence[Representative],
    *,
    actor: str,
    settings: Settings,
    now: datetime,
) -> int:
    """Invite these representatives (those already asked are left as they are, except that one who declined may be
    asked again); each hears of it, and is reminded once if they have not answered in INVITE_REMINDER_DAYS days.
    Returns how many were (newly) invited."""
    assert proposal.id is not None
    new = 0
    reminders = []
    for rep in people:
        assert rep.id is not None
        link = await session.get(ProposalSigner, (proposal.id, rep.id), with_for_update=True)
        if link is not None and link.status != DECLINED:
            continue
        link = link or ProposalSigner(proposal_id=proposal.id, representative_id=rep.id)
        link.status, link.invited_at, link.answered_at = INVITED, now, None
        session.add(link)
        new += 1
        _event(session, proposal, actor=actor, action="invited", now=now, representative=rep.id)
        notices.tell(
            await chats_of_representative(session, rep.id), "proposal.notify.invited", **values(proposal, settings)
        )
        due = now + timedelta(days=INVITE_REMINDER_DAYS)
        reminders.append(
            Planned(
                # Named by the moment of the invitation: one renewed the same day has its own reminder.
                key=f"{INVITE_REMINDER}:{proposal.number}:{rep.id}:{now.astimezone(UTC):%Y%m%dT%H%M%S}",
                kind=INVITE_REMINDER,
                due_at=due,
                expires_at=due + timedelta(hours=settings.scheduler.lateness_hours("proposals")),
                payload={"proposal_id": proposal.id, "representative_id": rep.id},
            )
        )
    await session.flush()
    await schedule.plan(session, items=reminders, now=now)
    return new


async def file(
    session: AsyncSession, *, who: Actor, draft: Draft, settings: Settings, now: datetime, render: Render
) -> Proposal:
    """Draft a proposal: its number, its files, its co-signers invited. A kind that needs no co-signer is submitted
    at once when its other conditions hold; otherwise it waits, signing, for its author to submit it."""
    policy.require(who.standing, Action.FILE_PROPOSAL)
    kind = kind_of(settings, draft.kind)
    limits = settings.proposals
    if not draft.title.strip() or len(draft.title) > limits.max_title_length:
        raise InvalidInput("proposal.error.title", limit=limits.max_title_length)
    if not draft.body.strip() or len(draft.body) > limits.max_body_length:
        raise InvalidInput("proposal.error.body_length", limit=limits.max_body_length)
    if len(draft.files) > limits.max_attachments:
        raise InvalidInput("proposal.error.too_many_files", limit=limits.max_attachments)
    author = await session.get(Representative, who.standing.representative_id)
    if author is None or not author.active:
        raise policy.refusal(who.standing, Action.FILE_PROPOSAL)
    invited = await _check_cosigners(session, author=author, kind=kind, cosigners=draft.cosigners, settings=settings)
    lacking = missing(kind, body=draft.body.strip(), files=len(draft.files), accepted=0)
    if lacking.body or lacking.attachment:  # nothing done later mends these: said before anything is saved
        raise NotReady("", lacking)
    today = now.astimezone(settings.zone).date()
    assert author.id is not None
    proposal = Proposal(
        number=await _next_number(session, prefix=limits.number_prefix, year=today.year),
        kind=kind.code,
        title=draft.title.strip(),
        body=draft.body.strip(),
        author_id=author.id,
        state=SIGNING,
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    await session.flush()
    event = _event(session, proposal, actor=who.name, action="drafted", now=now, kind=kind.code)
    await _attach(session, proposal, event, draft.files)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    await _invite(session, notices, proposal, invited, actor=who.name, settings=settings, now=now)
    if kind.min_cosigners == 0 and not await shortfall(session, proposal=proposal, settings=settings):
        await _submit(session, notices, proposal, actor=who.name, settings=settings, now=now)
    await notices.send(session, now)
    return proposal


async def invite(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    cosigners: Sequence[int],
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """The author invites more co-signers, before the review."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "invite")
    author = await session.get(Representative, proposal.author_id)
    assert author is not None and proposal.id is not None
    kind = kind_of(settings, proposal.kind)
    asked = {link.representative_id for link, _ in await signers(session, proposal_id=proposal.id)}
    if len(asked | set(cosigners)) > settings.proposals.max_cosigners:  # the limit counts those asked before
        raise InvalidInput("proposal.error.too_many_cosigners", limit=settings.proposals.max_cosigners)
    invited = await _check_cosigners(session, author=author, kind=kind, cosigners=cosigners, settings=settings)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    new = await _invite(session, notices, proposal, invited, actor=who.name, settings=settings, now=now)
    if not new:
        raise Conflict("proposal.error.already_invited")
    proposal.updated_at = now
    session.add(proposal)
    await notices.send(session, now)
    return proposal


async def cosign(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    accept: bool,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """An invited representative accepts or declines to co-sign; the author hears of it, and when the last
    co-signer the kind needs accepts, that it may be submitted."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "cosign" if accept else "decline")
    assert proposal.id is not None
    link = await session.get(ProposalSigner, (proposal.id, who.standing.representative_id), with_for_update=True)
    assert link is not None  # the policy found them invited
    before = await shortfall(session, proposal=proposal, settings=settings)
    link.status = ACCEPTED if accept else DECLINED
    link.answered_at = now
    session.add(link)
    await session.flush()
    _event(
        session,
        proposal,
        actor=who.name,
        action="cosigned" if accept else "declined",
        now=now,
        representative=link.representative_id,
    )
    signer = await session.get(Representative, link.representative_id)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    authors = await chats_of_representative(session, proposal.author_id)
    key = "proposal.notify.cosigned" if accept else "proposal.notify.declined"
    notices.tell(authors, key, name=signer.name if signer else "", **values(proposal, settings))
    after = await shortfall(session, proposal=proposal, settings=settings)
    if proposal.state == SIGNING and before and not after:
        notices.told.clear()
        notices.tell(authors, "proposal.notify.ready", **values(proposal, settings))
    await notices.send(session, now)
    return proposal


async def _submit(
    session: AsyncSession, notices: Notices, proposal: Proposal, *, actor: str, settings: Settings, now: datetime
) -> None:
    proposal.state = SUBMITTED
    proposal.submitted_at = now
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=actor, action="submitted", now=now)
    notices.tell(await concerned(session, proposal), "proposal.notify.submitted", **values(proposal, settings))
    notices.tell(await chats_of_staff(session, Role.LIAISON), "proposal.notify.to_review", **values(proposal, settings))


async def submit(
    session: AsyncSession, *, who: Actor, proposal_id: int, settings: Settings, now: datetime, render: Render
) -> Proposal:
    """The author submits the proposal once its kind's conditions hold (the caller says what is missing first:
    `shortfall`); the liaison office is told it waits for review."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "submit")
    lacking = await shortfall(session, proposal=proposal, settings=settings)
    if lacking:
        raise NotReady(proposal.number, lacking)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    await _submit(session, notices, proposal, actor=who.name, settings=settings, now=now)
    await notices.send(session, now)
    return proposal


async def withdraw(
    session: AsyncSession, *, who: Actor, proposal_id: int, settings: Settings, now: datetime, render: Render
) -> Proposal:
    """The author takes the proposal back before it is reviewed; co-signers (and the office, if submitted) hear."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "withdraw")
    assert proposal.id is not None
    was_submitted = proposal.state == SUBMITTED
    proposal.state = WITHDRAWN
    proposal.closed_at = now
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="withdrawn", now=now)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    asked = [
        chat
        for link, _ in await signers(session, proposal_id=proposal.id)
        if link.status != DECLINED
        for chat in await chats_of_representative(session, link.representative_id)
    ]
    notices.tell(asked, "proposal.notify.withdrawn", **values(proposal, settings))
    if was_submitted:
        notices.tell(
            await chats_of_staff(session, Role.LIAISON), "proposal.notify.withdrawn", **values(proposal, settings)
        )
    await notices.send(session, now)
    return proposal


# --- review, assignment, answer, evaluation ---------------------------------------------------------------


async def establish(
    session: AsyncSession, *, who: Actor, proposal_id: int, settings: Settings, now: datetime, render: Render
) -> Proposal:
    """The liaison office establishes the proposal (确立); it is then assigned to a department."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "establish")
    proposal.state = ESTABLISHED
    proposal.reviewed_at = now
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="established", now=now)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(await concerned(session, proposal), "proposal.notify.established", **values(proposal, settings))
    await notices.send(session, now)
    return proposal


async def refuse(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    reason: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """The liaison office does not establish the proposal: a reason is required, and sent to the author."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "refuse")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("proposal.error.reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput("input.too_long", limit=MAX_REASON, length=len(reason))
    proposal.state = NOT_ESTABLISHED
    proposal.reason = reason
    proposal.reviewed_at = now
    proposal.closed_at = now
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="not_established", now=now, note=reason)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await concerned(session, proposal),
        "proposal.notify.not_established",
        reason=reason,
        **values(proposal, settings),
    )
    await notices.send(session, now)
    return proposal


async def merge(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    into: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """The liaison office merges the proposal into another (by number), submitted or established, not itself; the
    authors of both hear of it."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "merge")
    today = now.astimezone(settings.zone).date()
    target = await by_number(session, number=into, today=today, prefix=settings.proposals.number_prefix)
    if target.id == proposal.id:
        raise InvalidInput("proposal.error.merge_itself")
    if target.state not in (SUBMITTED, ESTABLISHED):
        raise Conflict("proposal.error.merge_target", number=target.number, state=target.state)
    proposal.state = MERGED
    proposal.merged_into = target.id
    proposal.reviewed_at = now
    proposal.closed_at = now
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="merged", now=now, into=target.id)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await concerned(session, proposal), "proposal.notify.merged", into=target.number, **values(proposal, settings)
    )
    notices.tell(
        await chats_of_representative(session, target.author_id),
        "proposal.notify.merged_target",
        merged=proposal.number,
        **values(target, settings),
    )
    await notices.send(session, now)
    return proposal


async def _tell_unknown_years(session: AsyncSession, notices: Notices) -> None:
    """cases.deadline noted a year the calendar does not know: the liaison office hears it once (its own words)."""
    for year in sorted(session.info.pop(UNKNOWN_YEARS, set())):
        notices.tell(await chats_of_staff(session, Role.LIAISON), "case.notify.unknown_year", year=year)


async def assign(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    department: str,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Proposal:
    """The liaison office assigns the established proposal to a department (交办); its deadline is the kind's
    answer_working_days on the working-day calendar."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "assign")
    if department not in await departments(session):
        raise InvalidInput("case.error.unknown_department")
    kind = kind_of(settings, proposal.kind)
    today = now.astimezone(settings.zone).date()
    proposal.due_on, proposal.due_provisional = await deadline(
        session, settings=settings, calendar=calendar, start=today, days=kind.answer_working_days, now=now
    )
    proposal.department = department
    proposal.state = ASSIGNED
    proposal.assigned_at = now
    proposal.chased_at = proposal.escalated_at = None
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="assigned", now=now, department=department)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await _department(session, proposal), "proposal.notify.assigned_department", **values(proposal, settings)
    )
    notices.tell(await concerned(session, proposal), "proposal.notify.assigned", **values(proposal, settings))
    if not await _department(session, proposal):
        notices.told.discard(who.identity.id or 0)  # nobody of the department would hear: the office is told
        notices.tell([who.identity], "proposal.notify.department_unbound", **values(proposal, settings))
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return proposal


async def progress(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    note: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """The department notes how the work goes (办理进展); the author and co-signers hear it."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "progress")
    proposal.updated_at = now
    session.add(proposal)
    _event(session, proposal, actor=who.name, action="progress", now=now, note=note)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await concerned(session, proposal), "proposal.notify.progress", note=note, **values(proposal, settings)
    )
    await notices.send(session, now)
    return proposal


async def answer(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    text: str,
    attachment: str | None,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Proposal:
    """The department answers (答复), with an optional file; the author is asked to evaluate the answer."""
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "answer")
    if not text.strip():
        raise InvalidInput("input.empty")
    proposal.state = ANSWERED
    proposal.answer = text.strip()
    proposal.answers += 1
    proposal.answered_at = now
    proposal.updated_at = now
    session.add(proposal)
    event = _event(session, proposal, actor=who.name, action="answered", now=now, note=text, answer=proposal.answers)
    await _attach(session, proposal, event, [attachment] if attachment else [])
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    shown = {**values(proposal, settings), "answer": _quoted(proposal.answer)}
    notices.tell(await chats_of_representative(session, proposal.author_id), "proposal.notify.answered_author", **shown)
    notices.tell(await concerned(session, proposal), "proposal.notify.answered", **shown)
    notices.tell(
        await chats_of_staff(session, Role.LIAISON), "proposal.notify.answered_office", **values(proposal, settings)
    )
    await notices.send(session, now)
    return proposal


def _quoted(text: str) -> str:
    return text if len(text) <= 300 else text[:299] + "…"


async def evaluate(
    session: AsyncSession,
    *,
    who: Actor,
    proposal_id: int,
    evaluation: str,
    note: str,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Proposal:
    """The author evaluates the answer. Satisfied or basically satisfied: it closes. Dissatisfied with the first
    answer: it goes back to the department for a second answer within `second_answer_working_days`; the second
    answer's evaluation closes it, whatever it is."""
    if evaluation not in EVALUATIONS:
        raise InvalidInput("proposal.error.unknown_evaluation")
    proposal = await _locked(session, proposal_id)
    await _require(session, who, proposal, "evaluate")
    proposal.evaluation = evaluation
    proposal.evaluation_note = note.strip()[:MAX_REASON]
    proposal.updated_at = now
    _event(session, proposal, actor=who.name, action="evaluated", now=now, note=note, evaluation=evaluation)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    again = evaluation == "dissatisfied" and proposal.answers < 2
    if again:
        today = now.astimezone(settings.zone).date()
        proposal.due_on, proposal.due_provisional = await deadline(
            session,
            settings=settings,
            calendar=calendar,
            start=today,
            days=settings.proposals.second_answer_working_days,
            now=now,
        )
        proposal.state = ASSIGNED
        proposal.answered_at = None
        proposal.chased_at = proposal.escalated_at = None
        _event(session, proposal, actor=SYSTEM, action="reassigned", now=now)
        key = "proposal.notify.second_answer"
    else:
        proposal.state = CLOSED
        proposal.closed_at = now
        _event(session, proposal, actor=SYSTEM, action="closed", now=now)
        key = "proposal.notify.evaluated"
    session.add(proposal)
    shown = {**values(proposal, settings), "evaluation": evaluation, "note": proposal.evaluation_note}
    notices.tell(await _department(session, proposal), key, **shown)
    notices.tell(await chats_of_staff(session, Role.LIAISON), key, **shown)
    # The co-signers read of it as those who wait for the answer, not as those who must give it.
    notices.tell(await concerned(session, proposal), f"{key}_concerned" if again else key, **shown)
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return proposal


async def close_unevaluated(session: AsyncSession, *, settings: Settings, now: datetime, render: Render) -> list[str]:
    """Close the answers their authors have not evaluated within `proposals.auto_close_days`, telling the author,
    the co-signers and the department; returns their numbers."""
    before = now - timedelta(days=settings.proposals.auto_close_days)
    stale = await session.exec(
        select(Proposal)
        .where(Proposal.state == ANSWERED, col(Proposal.answered_at) < before)
        .order_by(col(Proposal.id))
        .with_for_update()
    )
    closed = []
    for proposal in stale.all():
        proposal.state = CLOSED
        proposal.closed_at = now
        proposal.updated_at = now
        session.add(proposal)
        _event(session, proposal, actor=SYSTEM, action="closed", now=now, unevaluated=True)
        closed.append(proposal.number)
        notices = Notices(render, settings.general.default_language)
        shown = {**values(proposal, settings), "days": settings.proposals.auto_close_days}
        notices.tell(await concerned(session, proposal), "proposal.notify.closed_unevaluated", **shown)
        notices.tell(await _department(session, proposal), "proposal.notify.closed_unevaluated", **shown)
        await notices.send(session, now)
    return closed


# --- overdue ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    """An assigned proposal past its deadline, and what is due for it: chasing the department, or escalation."""

    proposal: Proposal
    working_days_late: int
    due: str  # chase | escalate


async def overdue(session: AsyncSession, *, settings: Settings, calendar: WorkCalendar, today: date) -> list[Overdue]:
    """Assigned proposals (inquiries as every other kind) still unanswered after their deadline: chased from the
    next working day, escalated to leaders `proposals.escalate_after_working_days` working days after it."""
    late = await session.exec(
        select(Proposal)
        .where(Proposal.state == ASSIGNED, col(Proposal.due_on) < today)
        .order_by(col(Proposal.due_on), col(Proposal.id))
    )
    found = []
    for proposal in late.all():
        assert proposal.due_on is not None
        days = calendar.working_days_between(proposal.due_on, today)
        if days < 1:
            continue
        if days >= settings.proposals.escalate_after_working_days and proposal.escalated_at is None:
            found.append(Overdue(proposal, days, "escalate"))
        elif proposal.chased_at is None and proposal.escalated_at is None:
            found.append(Overdue(proposal, days, "chase"))
    return found


async def send_overdue(
    session: AsyncSession, *, item: Overdue, settings: Settings, now: datetime, render: Render
) -> None:
    """Chase the department and the liaison office, or escalate to leaders (and the office); marks it sent."""
    proposal = item.proposal
    notices = Notices(render, settings.general.default_language)
    office = await chats_of_staff(session, Role.LIAISON)
    shown = {**values(proposal, settings), "late": item.working_days_late}
    if item.due == "escalate":
        notices.tell(await chats_of_staff(session, Role.LEADER) + office, "proposal.notify.escalated", **shown)
        if proposal.chased_at is None:  # never chased (no run while it was less late): its department hears too
            notices.tell(await _department(session, proposal), "proposal.notify.chased", **shown)
            proposal.chased_at = now
        proposal.escalated_at = now
        _event(session, proposal, actor=SYSTEM, action="escalated", now=now, late=item.working_days_late)
    else:
        notices.tell(await _department(session, proposal) + office, "proposal.notify.chased", **shown)
        proposal.chased_at = now
        _event(session, proposal, actor=SYSTEM, action="chased", now=now, late=item.working_days_late)
    session.add(proposal)
    await notices.send(session, now)


async def pending_invitation(
    session: AsyncSession, *, proposal_id: int, representative_id: int, invited_before: datetime
) -> tuple[Proposal, list[ChatIdentity]] | None:
    """An invitation still unanswered on a proposal still open to co-signers, and the invitee's chats; None when
    it was answered, or the proposal moved on, meanwhile, or the invitation was renewed after `invited_before`
    (one who declined and was asked again: the renewed invitation has its own reminder)."""
    proposal = await session.get(Proposal, proposal_id)
    link = await session.get(ProposalSigner, (proposal_id, representative_id))
    if proposal is None or link is None or link.status != INVITED or proposal.state not in ALLOWED["cosign"]:
        return None
    if link.invited_at > invited_before:
        return None
    return proposal, await chats_of_representative(session, representative_id)
