"""Cases: a resident's concern from intake to rating (登记、整理、反馈、处置), as the 12345 hotline runs it.

Every transition is one function here: it checks that the person may make it (storage.policy) and that the case is
in a state that allows it, records who and when (a case event and an audit row), and writes the notices to everyone
concerned into the outbox, in the caller's transaction. Storage holds no words: a notice is a catalog key and its
values, which the caller's `Render` turns into a message in each recipient's language.

An anonymous case names nobody here: its writer, and everyone who joined a case, are reached through
storage.records.relay, and what is sent to them is forgotten once sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, policy
from storage.db import dialect_insert, execute
from storage.delivery import outbox
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import (
    Area,
    AuditEntry,
    Case,
    CaseCounter,
    CaseEvent,
    CaseFile,
    ChatIdentity,
    Household,
    RepArea,
    Representative,
    Staff,
    Station,
)
from storage.policy import Action, CaseRecord, Role, Standing
from storage.records import people, relay
from storage.settings import Settings
from storage.workdays import WorkCalendar

# (language, catalog key, values) -> an outbox payload: the caller's words for a notice.
Render = Callable[[str, str, dict[str, Any]], dict[str, Any]]

REGISTERED, SORTED, ASSIGNED, IN_PROGRESS, ANSWERED, CLOSED, WITHDRAWN = (
    "registered",
    "sorted",
    "assigned",
    "in_progress",
    "answered",
    "closed",
    "withdrawn",
)
STATES = (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS, ANSWERED, CLOSED, WITHDRAWN)
OPEN_STATES = (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS, ANSWERED)
HANDLED_STATES = (ASSIGNED, IN_PROGRESS)  # someone owns it and works on it
RATINGS = ("satisfied", "basic", "dissatisfied")
SOURCES = ("mailbox", "card", "report", "reception")
# Raised by a representative (a report, a note taken at a reception): no resident of theirs is in the chat.
REPORTED_SOURCES = ("report", "reception")
NUMBER = re.compile(r"^(?:[A-Z]{1,6}-)?(?:(?P<year>\d{4})-)?(?P<seq>\d{1,6})$")
QUEUE_SIZE = 8
SIMILAR_SHOWN = 3
SYSTEM = "system"
MAX_EXTENSION_DAYS = 30  # working days one extension may ask
# What a case event can record (CaseEvent.action).
EVENTS = (
    "registered",
    "sorted",
    "assigned",
    "taken",
    "progress",
    "answered",
    "extension_asked",
    "extension_approved",
    "extension_refused",
    "returned",
    "rated",
    "reopened",
    "closed",
    "withdrawn",
    "information",
    "joined",
    "chased",
    "escalated",
)


@dataclass(frozen=True)
class Intake:
    """What the intake dialog collected."""

    source: str  # mailbox | card | report | reception
    category: str
    text: str
    area_id: int | None = None
    representative_id: int | None = None  # written to (card) or reported by
    household_id: int | None = None
    visit_id: int | None = None
    link_token: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    photos: tuple[str, ...] = ()
    anonymous: bool = False
    name: str = ""
    phone: str = ""
    consent: bool = False
    reception_id: int | None = None  # noted at this reception day


@dataclass
class Notices:
    """The notices of one transition, rendered and queued at the end of it."""

    render: Render
    default_language: str
    messages: list[outbox.NewMessage] = field(default_factory=list)
    told: set[int] = field(default_factory=set)

    def tell(self, people: Iterable[ChatIdentity], key: str, *, scrub: bool = False, **values: Any) -> None:
        """Tell each person once per transition (a department's handler who is also on the liaison office's list
        hears the first notice that concerns them); not the one who took the step (`told` from the start): their
        own chat answers them."""
        for person in people:
            if person.id in self.told:
                continue
            self.told.add(person.id or 0)
            payload = self.render(person.language or self.default_language, key, values)
            message = outbox.to_identity(person, payload, bulk=True)
            if scrub:
                message = outbox.NewMessage(**{**message.__dict__, "scrub": True})
            self.messages.append(message)

    async def send(self, session: AsyncSession, now: datetime) -> None:
        await outbox.enqueue(session, messages=self.messages, now=now)


# --- who a case concerns ----------------------------------------------------------------------------------


async def representatives_of_area(session: AsyncSession, area_id: int | None) -> list[ChatIdentity]:
    if area_id is None:
        return []
    serving = (
        select(RepArea.representative_id)
        .join(Representative, col(Representative.id) == RepArea.representative_id)
        .where(RepArea.area_id == area_id, col(Representative.active).is_(True))
    )
    where = sa.and_(col(ChatIdentity.role) == Role.REPRESENTATIVE, col(ChatIdentity.representative_id).in_(serving))
    return await people.reachable_chats(session, where=where)


async def chats_of_representative(session: AsyncSession, representative_id: int | None) -> list[ChatIdentity]:
    if representative_id is None:
        return []
    where = sa.and_(
        col(ChatIdentity.role) == Role.REPRESENTATIVE, col(ChatIdentity.representative_id) == representative_id
    )
    return await people.reachable_chats(session, where=where)


async def chats_of_staff(session: AsyncSession, role: Role, unit: str | None = None) -> list[ChatIdentity]:
    staff = select(Staff.id).where(Staff.role == role)
    if unit is not None:
        staff = staff.where(Staff.unit == unit)
    where = sa.and_(col(ChatIdentity.role) == role, col(ChatIdentity.staff_id).in_(staff))
    return await people.reachable_chats(session, where=where)


async def _owners(session: AsyncSession, case: Case) -> list[ChatIdentity]:
    """Who handles the case now: its department's handlers, or the representative who keeps it."""
    if case.kept_by is not None:
        return await chats_of_representative(session, case.kept_by)
    if case.department:
        return await chats_of_staff(session, Role.DEPARTMENT, case.department)
    return []


async def _representatives(session: AsyncSession, case: Case) -> list[ChatIdentity]:
    """The representatives a case concerns: the one it was written to or who reported it, else its area's."""
    if case.representative_id is not None:
        return await chats_of_representative(session, case.representative_id)
    return await representatives_of_area(session, case.area_id)


async def _tell_residents(session: AsyncSession, notices: Notices, case: Case, key: str, **values: Any) -> None:
    """The residents of a case (`<key>_resident`); what is sent to a relayed one (anonymous, or joined) is forgotten
    once sent. A case a representative reported has no resident in the chat: its reporter hears (`<key>_reporter`)."""
    for resident, _writer in await relay.residents_of(session, case=case):
        scrub = case.anonymous or resident.id != case.identity_id
        notices.tell([resident], f"{key}_resident", scrub=scrub, number=case.number, **values)
    if case.reported:
        reporters = await chats_of_representative(session, case.representative_id)
        notices.tell(reporters, f"{key}_reporter", number=case.number, **values)


async def record_for(session: AsyncSession, *, standing: Standing, identity: ChatIdentity, case: Case) -> CaseRecord:
    """How this person stands to the case, for the policy."""
    in_own_area = theirs = kept = of_department = False
    if standing.is_representative:
        rep = standing.representative_id
        theirs = case.representative_id == rep
        kept = case.kept_by == rep
        if case.area_id is not None:
            found = await session.get(RepArea, (rep, case.area_id))
            in_own_area = found is not None
    if standing.role is Role.DEPARTMENT and standing.staff_id is not None and case.department:
        staff = await session.get(Staff, standing.staff_id)
        of_department = staff is not None and staff.unit == case.department
    resident, writer = await relay.standing_in(session, case=case, resident=identity)
    if case.reported and theirs:
        writer = True  # the household has no chat: its representative records its rating on a return visit (回访)
    return CaseRecord(
        in_own_area=in_own_area,
        theirs=theirs,
        kept=kept,
        unowned=case.kept_by is None and not case.department,
        of_department=of_department,
        resident=resident,
        writer=writer,
    )


async def case_by_number(session: AsyncSession, *, number: str, today: date) -> Case:
    """A case by its number, whole (LX-2026-000123), without the prefix (2026-123) or as this year's (123)."""
    typed = unicodedata.normalize("NFKC", number).strip().upper()
    match = NUMBER.match(typed)
    if match is None:
        raise NotFound("case.error.unknown", number=number.strip()[:24])
    year = int(match["year"] or today.year)
    seq = int(match["seq"])
    found = (await session.exec(select(Case).where(col(Case.number).endswith(f"-{year}-{seq:06d}")))).first()
    if found is None:
        raise NotFound("case.error.unknown", number=number.strip()[:24])
    return found


async def open_case(
    session: AsyncSession, *, standing: Standing, identity: ChatIdentity, number: str, today: date, own: bool = False
) -> tuple[Case, CaseRecord]:
    """A case this person may read; another's is refused as not theirs (refused as unknown would tell that it
    exists). `own`: only as one who wrote or joined it (/mycases), which is reading one's own concern and is not
    audited (an audit row would name an anonymous writer); any other reading is audited under the reader's name."""
    case = await case_by_number(session, number=number, today=today)
    record = await record_for(session, standing=standing, identity=identity, case=case)
    policy.require(standing, Action.READ_CASE, record)
    if own and not record.resident:
        raise policy.refusal(standing, Action.READ_CASE)
    if not own:
        audit.record(session, actor=standing.actor, action="case.read", entity="case", entity_id=case.id)
    return case, record


# --- intake -----------------------------------------------------------------------------------------------


async def _next_number(session: AsyncSession, *, prefix: str, year: int) -> str:
    """The year's next number, counted in one statement that serialises concurrent writers on the year's row."""
    insert = dialect_insert(session)
    statement = (
        insert(CaseCounter.__table__)  # type: ignore[attr-defined]
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": CaseCounter.__table__.c.last + 1})  # type: ignore[attr-defined]
        .returning(CaseCounter.__table__.c.last)  # type: ignore[attr-defined]
    )
    last = (await execute(session, statement)).scalar_one()
    return f"{prefix}-{year}-{int(last):06d}"


async def deadline(
    session: AsyncSession, *, settings: Settings, calendar: WorkCalendar, start: date, days: int, now: datetime
) -> tuple[date, bool]:
    """The day an answer is due, and whether the calendar only guessed it (a year it does not know: weekends
    alone). The liaison office is told once per year it should add that year's dates to config.toml."""
    due = calendar.add_working_days(start, days)
    if due.provisional:
        year = due.day.year if not calendar.is_known(due.day.year) else start.year
        told = await session.exec(
            select(AuditEntry.id).where(AuditEntry.action == "calendar.unknown_year", AuditEntry.entity_id == str(year))
        )
        if told.first() is None:
            audit.record(session, actor=SYSTEM, action="calendar.unknown_year", entity="calendar", entity_id=year)
            session.info.setdefault(UNKNOWN_YEARS, set()).add(year)
    return due.day, due.provisional


UNKNOWN_YEARS = "lianxin.unknown_calendar_years"  # session.info: years to tell the liaison office about


async def _tell_unknown_years(session: AsyncSession, notices: Notices) -> None:
    years = session.info.pop(UNKNOWN_YEARS, set())
    for year in sorted(years):
        notices.tell(await chats_of_staff(session, Role.LIAISON), "case.notify.unknown_year", year=year)


def _event(
    session: AsyncSession, case: Case, *, actor: str, action: str, now: datetime, note: str = "", **detail: Any
) -> CaseEvent:
    assert case.id is not None
    event = CaseEvent(case_id=case.id, at=now, actor=actor, action=action, note=note, detail=detail)
    session.add(event)
    audit.record(session, actor=actor, action=f"case.{action}", entity="case", entity_id=case.id, **detail)
    return event


async def submit(
    session: AsyncSession,
    *,
    intake: Intake,
    writer: ChatIdentity,
    actor: str,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Case:
    """Register a concern: a number, a deadline by its category's time limit, and everyone concerned told. With
    `cases.auto_sort`, a category that names a department is sorted and assigned to it at once.

    An anonymous case keeps no name, phone or writer: how to reach the writer goes to the relay, its events and
    audit rows name no actor, and the trail of the writer's chat is emptied (storage.records.relay)."""
    category = settings.cases.category(intake.category)
    if category is None:
        raise InvalidInput("case.error.unknown_category")
    if intake.source not in SOURCES:
        raise ValueError(f"unknown case source {intake.source!r}")
    if intake.representative_id is not None:
        representative = await session.get(Representative, intake.representative_id)
        if representative is None or not representative.active:
            raise NotFound("mailbox.error.left_office")
    today = now.astimezone(settings.zone).date()
    due_on, provisional = await deadline(
        session,
        settings=settings,
        calendar=calendar,
        start=today,
        days=settings.cases.days_for(category.time_limit),
        now=now,
    )
    reported = intake.source in REPORTED_SOURCES
    anonymous = intake.anonymous and not reported
    case = Case(
        number=await _next_number(session, prefix=settings.cases.number_prefix, year=today.year),
        source=intake.source,
        category=category.code,
        time_limit=category.time_limit,
        text=intake.text,
        latitude=intake.latitude,
        longitude=intake.longitude,
        area_id=intake.area_id,
        household_id=intake.household_id,
        visit_id=intake.visit_id,
        representative_id=intake.representative_id,
        reported=reported,
        link_token=intake.link_token,
        identity_id=None if anonymous or reported else writer.id,
        anonymous=anonymous,
        name="" if anonymous else intake.name,
        phone="" if anonymous else intake.phone,
        consent=intake.consent and not anonymous,
        registered_at=now,
        due_on=due_on,
        due_provisional=provisional,
        updated_at=now,
        reception_id=intake.reception_id,
    )
    session.add(case)
    await session.flush()
    assert case.id is not None
    who = "anonymous" if anonymous else actor
    event = _event(session, case, actor=who, action="registered", now=now, source=intake.source)
    await session.flush()
    for photo in intake.photos:
        session.add(CaseFile(case_id=case.id, event_id=event.id, kind="photo", file_ref=photo))
    if anonymous:
        relay.remember(session, case_id=case.id, resident=writer, writer=True)
        await relay.conceal(session, writer=writer)

    notices = Notices(render, settings.general.default_language, told={writer.id or 0})  # answered in their chat
    values = case_values(case, settings)
    notices.tell(await _representatives(session, case), "case.notify.new_for_representative", **values)
    if settings.cases.auto_sort and category.department:
        await _assign(session, notices, case, actor=SYSTEM, department=category.department, now=now, settings=settings)
        if not await chats_of_staff(session, Role.DEPARTMENT, category.department):
            # Nobody would hear of it (an emergency is due today): the office does, as when it assigns by hand.
            office = await chats_of_staff(session, Role.LIAISON)
            notices.tell(office, "case.notify.department_unbound", **case_values(case, settings))
    else:
        notices.tell(await chats_of_staff(session, Role.LIAISON), "case.notify.new_for_office", **values)
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return case


def case_values(case: Case, settings: Settings) -> dict[str, Any]:
    """What every notice may quote: never a name or a phone (a notice goes to several people)."""
    category = settings.cases.category(case.category)
    return {
        "number": case.number,
        "category_zh": category.zh if category else case.category,
        "category_en": category.en if category else case.category,
        "due": case.due_on.isoformat(),
        "text": case.text if len(case.text) <= 200 else case.text[:199] + "…",
        "department": case.department,
    }


# --- joining a similar case -------------------------------------------------------------------------------


def _bigrams(text: str) -> set[str]:
    """Pairs of letters or digits in a row: Chinese has no spaces, and two characters carry most of a word."""
    kept = "".join(char for char in unicodedata.normalize("NFKC", text).casefold() if char.isalnum())
    return {kept[index : index + 2] for index in range(len(kept) - 1)}


def likeness(first: str, second: str) -> float:
    """How alike two descriptions are: the share of their two-character pieces in common (Dice), 0 to 1."""
    a, b = _bigrams(first), _bigrams(second)
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


SIMILAR = 0.35  # the likeness above which a new concern is offered to join an open case


async def similar_open(
    session: AsyncSession, *, area_id: int | None, category: str, text: str, now: datetime
) -> list[Case]:
    """Open cases of the same area and category, written in the last 90 days, that read like this concern."""
    if area_id is None:
        return []
    candidates = await session.exec(
        select(Case)
        .where(
            Case.area_id == area_id,
            Case.category == category,
            col(Case.state).in_((REGISTERED, SORTED, ASSIGNED, IN_PROGRESS)),
            col(Case.registered_at) > now - timedelta(days=90),
        )
        .order_by(col(Case.id).desc())
        .limit(200)
    )
    scored = [(likeness(text, case.text), case) for case in candidates.all()]
    return [case for score, case in sorted(scored, key=lambda pair: -pair[0]) if score >= SIMILAR][:SIMILAR_SHOWN]


async def join(
    session: AsyncSession, *, case_id: int, resident: ChatIdentity, now: datetime, settings: Settings, render: Render
) -> Case:
    """ "This affects me too": the resident hears the answer of the case, without anyone reading who they are."""
    case = await session.get(Case, case_id, with_for_update=True)
    if case is None or case.state not in (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS):
        raise Conflict("case.error.not_joinable")
    member, _ = await relay.standing_in(session, case=case, resident=resident)
    if member:
        raise Conflict("case.error.already_joined", number=case.number)
    relay.remember(session, case_id=case_id, resident=resident, writer=False)
    await relay.conceal(session, writer=resident)  # what they typed, and when, would tell who joined
    _event(session, case, actor="anonymous", action="joined", now=now)
    joined = await session.exec(
        select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "joined")
    )
    notices = Notices(render, settings.general.default_language)
    notices.tell(await _owners(session, case), "case.notify.joined", number=case.number, count=int(joined.one()) + 1)
    await notices.send(session, now)
    return case


# --- the lifecycle ----------------------------------------------------------------------------------------

# Which states each step may start from; anything else is refused with the state the case is in.
ALLOWED: dict[str, tuple[str, ...]] = {
    "sort": (REGISTERED, SORTED),
    "assign": (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS),
    "take": (REGISTERED, SORTED),
    "progress": (ASSIGNED, IN_PROGRESS),
    "answer": (ASSIGNED, IN_PROGRESS),
    "extend": (ASSIGNED, IN_PROGRESS),
    "decide": (ASSIGNED, IN_PROGRESS),
    "return": (ASSIGNED, IN_PROGRESS),
    "rate": (ANSWERED,),
    "withdraw": (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS),
    "add": (REGISTERED, SORTED, ASSIGNED, IN_PROGRESS),
}


def check_state(case: Case, step: str) -> None:
    if case.state not in ALLOWED[step]:
        raise Conflict("case.error.not_now", number=case.number, state=case.state, step=step)


def allowed_steps(standing: Standing, record: CaseRecord, case: Case) -> list[str]:
    """The steps this person may take on the case now, in the order they are offered."""
    by_action = {
        "sort": Action.SORT_CASE,
        "assign": Action.SORT_CASE,
        "take": Action.TAKE_CASE,
        "progress": Action.HANDLE_CASE,
        "answer": Action.HANDLE_CASE,
        "extend": Action.HANDLE_CASE,
        "decide": Action.SORT_CASE,
        "return": Action.HANDLE_CASE,
        "rate": Action.RATE_CASE,
        "withdraw": Action.RATE_CASE,
        "add": Action.ADD_TO_CASE,
    }
    steps = []
    for step, action in by_action.items():
        if case.state not in ALLOWED[step] or not policy.may(standing, action, record):
            continue
        if step == "decide" and not case.extension_days:
            continue
        if step == "extend" and case.extension_days:
            continue  # one request at a time
        if step == "return" and case.kept_by is not None:
            continue  # a representative who took it on hands it to the liaison office by answering
        if step in ("extend", "return") and standing.role is Role.LIAISON and not record.of_department:
            continue  # the office decides these, it does not ask them
        steps.append(step)
    return steps


@dataclass(frozen=True)
class Actor:
    """Who takes a step: their standing, their chat identity, and how the log names them."""

    standing: Standing
    identity: ChatIdentity

    @property
    def name(self) -> str:
        return self.standing.actor


async def _locked(session: AsyncSession, case_id: int) -> Case:
    case = await session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound("case.error.unknown", number=str(case_id))
    return case


async def _require(session: AsyncSession, who: Actor, case: Case, action: Action, step: str) -> CaseRecord:
    record = await record_for(session, standing=who.standing, identity=who.identity, case=case)
    policy.require(who.standing, action, record)
    check_state(case, step)
    return record


def _first_action(case: Case, now: datetime) -> None:
    if case.first_action_at is None:
        case.first_action_at = now


async def sort(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    category: str,
    urgent: bool,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Case:
    """The liaison office confirms the category and the urgency; the deadline follows them."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.SORT_CASE, "sort")
    chosen = settings.cases.category(category)
    if chosen is None:
        raise InvalidInput("case.error.unknown_category")
    case.category = chosen.code
    case.time_limit = "emergency" if urgent else chosen.time_limit
    start = case.registered_at.astimezone(settings.zone).date()
    days = settings.cases.days_for(case.time_limit)
    case.due_on, case.due_provisional = await deadline(
        session, settings=settings, calendar=calendar, start=start, days=days, now=now
    )
    case.chased_at = case.escalated_at = None  # a new deadline is chased anew
    case.state = SORTED
    case.updated_at = now
    session.add(case)
    _event(session, case, actor=who.name, action="sorted", now=now, category=case.category, urgent=urgent)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return case


async def _assign(
    session: AsyncSession,
    notices: Notices,
    case: Case,
    *,
    actor: str,
    department: str,
    now: datetime,
    settings: Settings,
) -> None:
    case.department = department
    case.kept_by = None
    case.state = ASSIGNED
    case.updated_at = now
    session.add(case)
    _event(session, case, actor=actor, action="assigned", now=now, department=department)
    values = case_values(case, settings)
    notices.tell(
        await chats_of_staff(session, Role.DEPARTMENT, department), "case.notify.assigned_department", **values
    )
    await _tell_residents(session, notices, case, "case.notify.assigned", department=department)


async def assign(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    department: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Case:
    """The liaison office hands the case to a department (交办); a department that has no handler bound yet still
    gets it, and the office is told so."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.SORT_CASE, "assign")
    units = await departments(session)
    if department not in units:
        raise InvalidInput("case.error.unknown_department")
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    await _assign(session, notices, case, actor=who.name, department=department, now=now, settings=settings)
    if not await chats_of_staff(session, Role.DEPARTMENT, department):
        notices.told.discard(who.identity.id or 0)  # told in their own chat, as a notice
        notices.tell([who.identity], "case.notify.department_unbound", number=case.number, department=department)
    await notices.send(session, now)
    return case


async def departments(session: AsyncSession) -> list[str]:
    """The handling departments (承办单位) of the roster, by name."""
    units = await session.exec(select(Staff.unit).where(Staff.role == Role.DEPARTMENT, Staff.unit != "").distinct())
    return sorted(units.all())


async def take(
    session: AsyncSession, *, who: Actor, case_id: int, settings: Settings, now: datetime, render: Render
) -> Case:
    """A representative keeps the case and handles it themselves (首接负责制)."""
    case = await _locked(session, case_id)
    record = await record_for(session, standing=who.standing, identity=who.identity, case=case)
    if record.in_own_area or record.theirs:
        check_state(case, "take")  # someone handles it already: not now, rather than not theirs
    policy.require(who.standing, Action.TAKE_CASE, record)
    check_state(case, "take")
    case.kept_by = who.standing.representative_id
    case.department = ""
    case.state = IN_PROGRESS
    case.updated_at = now
    _first_action(case, now)
    session.add(case)
    _event(session, case, actor=who.name, action="taken", now=now)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    await _tell_residents(session, notices, case, "case.notify.taken")
    notices.tell(await chats_of_staff(session, Role.LIAISON), "case.notify.taken_office", **case_values(case, settings))
    await notices.send(session, now)
    return case


async def progress(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    note: str,
    to_resident: bool,
    attachment: str | None,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Case:
    """A progress note (办理进展); sent to the resident when the handler says so."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.HANDLE_CASE, "progress")
    case.state = IN_PROGRESS
    case.updated_at = now
    _first_action(case, now)
    session.add(case)
    event = _event(session, case, actor=who.name, action="progress", now=now, note=note, to_resident=to_resident)
    event.to_resident = to_resident
    await _attach(session, case, event, attachment)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    if to_resident:
        await _tell_residents(session, notices, case, "case.notify.progress", note=note)
    await notices.send(session, now)
    return case


async def _attach(session: AsyncSession, case: Case, event: CaseEvent, attachment: str | None) -> None:
    if attachment:
        await session.flush()
        assert case.id is not None
        kind, _, ref = attachment.partition(":")
        if kind not in ("photo", "document"):
            raise ValueError(f"an attachment is photo:REF or document:REF, not {attachment[:20]!r}")
        session.add(CaseFile(case_id=case.id, event_id=event.id, kind=kind, file_ref=ref))


async def answer(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    text: str,
    resolved: bool,
    attachment: str | None,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Case:
    """The answer (办理结果): the residents hear it, the writer is asked to rate it."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.HANDLE_CASE, "answer")
    case.state = ANSWERED
    case.answer = text
    case.resolved = resolved
    case.answered_at = now
    case.extension_days = 0
    case.extension_reason = ""
    case.updated_at = now
    _first_action(case, now)
    session.add(case)
    event = _event(session, case, actor=who.name, action="answered", now=now, note=text, resolved=resolved)
    await _attach(session, case, event, attachment)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    for resident, writer in await relay.residents_of(session, case=case):
        scrub = case.anonymous or resident.id != case.identity_id
        key = "case.notify.answered_writer" if writer else "case.notify.answered_joined"
        notices.tell([resident], key, scrub=scrub, number=case.number, answer=text, resolved=resolved)
    notices.tell(
        await _representatives(session, case), "case.notify.answered_representative", **case_values(case, settings)
    )
    await notices.send(session, now)
    return case


async def ask_extension(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    days: int,
    reason: str,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Case:
    """The handler asks for more working days, with a reason; the liaison office decides."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.HANDLE_CASE, "extend")
    if case.extension_days:
        raise Conflict("case.error.extension_pending", number=case.number)
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InvalidInput("case.error.days", limit=MAX_EXTENSION_DAYS)
    case.extension_days = days
    case.extension_reason = reason
    case.updated_at = now
    _first_action(case, now)
    session.add(case)
    _event(session, case, actor=who.name, action="extension_asked", now=now, note=reason, days=days)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await chats_of_staff(session, Role.LIAISON),
        "case.notify.extension_asked",
        days=days,
        reason=reason,
        **case_values(case, settings),
    )
    await notices.send(session, now)
    return case


async def decide_extension(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    approve: bool,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Case:
    """The liaison office approves an extension (the deadline moves by the working days asked) or refuses it."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.SORT_CASE, "decide")
    if not case.extension_days:
        raise Conflict("case.error.no_extension", number=case.number)
    days = case.extension_days
    if approve:
        case.due_on, case.due_provisional = await deadline(
            session, settings=settings, calendar=calendar, start=case.due_on, days=days, now=now
        )
        case.chased_at = case.escalated_at = None  # a new deadline is chased anew
    case.extension_days = 0
    case.extension_reason = ""
    case.updated_at = now
    session.add(case)
    action = "extension_approved" if approve else "extension_refused"
    _event(session, case, actor=who.name, action=action, now=now, days=days)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    key = "case.notify.extension_approved" if approve else "case.notify.extension_refused"
    notices.tell(await _owners(session, case), key, **case_values(case, settings))
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return case


async def return_case(
    session: AsyncSession, *, who: Actor, case_id: int, reason: str, settings: Settings, now: datetime, render: Render
) -> Case:
    """A department hands a case back as not theirs (退回), with a reason; the liaison office assigns it anew."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.HANDLE_CASE, "return")
    department = case.department
    case.department = ""
    case.kept_by = None  # unowned again, as SORTED means
    case.state = SORTED
    case.extension_days = 0
    case.extension_reason = ""
    case.updated_at = now
    session.add(case)
    _event(session, case, actor=who.name, action="returned", now=now, note=reason, department=department)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    notices.tell(
        await chats_of_staff(session, Role.LIAISON),
        "case.notify.returned",
        reason=reason,
        **{**case_values(case, settings), "department": department},
    )
    await notices.send(session, now)
    return case


async def rate(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    rating: str,
    reason: str,
    handler_at_fault: bool,
    settings: Settings,
    calendar: WorkCalendar,
    now: datetime,
    render: Render,
) -> Case:
    """The writer rates the answer. Dissatisfied because of the handler: the case opens again for its owner (as
    often as `cases.reopen_limit` allows), with a new deadline; otherwise it closes."""
    if rating not in RATINGS:
        raise InvalidInput("case.error.unknown_rating")
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.RATE_CASE, "rate")
    case.rating = rating
    case.rating_reason = reason
    case.updated_at = now
    reopen = rating == "dissatisfied" and handler_at_fault and case.reopened < settings.cases.reopen_limit
    actor = "anonymous" if case.anonymous else who.name
    _event(session, case, actor=actor, action="rated", now=now, note=reason, rating=rating, handler=handler_at_fault)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    values = {**case_values(case, settings), "rating": rating, "reason": reason}
    if reopen:
        case.reopened += 1
        case.state = ASSIGNED if (case.department or case.kept_by) else SORTED
        if case.kept_by is not None:
            case.state = IN_PROGRESS
        case.answered_at = None
        case.resolved = None
        case.answer = ""  # the answer found wanting stays in the case's history
        today = now.astimezone(settings.zone).date()
        days = settings.cases.days_for(case.time_limit)
        case.due_on, case.due_provisional = await deadline(
            session, settings=settings, calendar=calendar, start=today, days=days, now=now
        )
        case.chased_at = case.escalated_at = None
        _event(session, case, actor=SYSTEM, action="reopened", now=now)
        values["due"] = case.due_on.isoformat()
        notices.tell(await _owners(session, case), "case.notify.reopened", **values)
    else:
        case.state = CLOSED
        case.closed_at = now
        _event(session, case, actor=SYSTEM, action="closed", now=now)
    if rating == "dissatisfied":
        notices.tell(await chats_of_staff(session, Role.LIAISON), "case.notify.dissatisfied", **values)
    if not reopen:
        notices.tell(await _owners(session, case), "case.notify.rated", **values)
    session.add(case)
    if case.anonymous:
        await relay.conceal(session, writer=who.identity)
    await _tell_unknown_years(session, notices)
    await notices.send(session, now)
    return case


async def withdraw(
    session: AsyncSession, *, who: Actor, case_id: int, settings: Settings, now: datetime, render: Render
) -> Case:
    """The writer takes the concern back; whoever handles it is told."""
    case = await _locked(session, case_id)
    await _require(session, who, case, Action.RATE_CASE, "withdraw")
    case.state = WITHDRAWN
    case.closed_at = now
    case.updated_at = now
    session.add(case)
    _event(session, case, actor="anonymous" if case.anonymous else who.name, action="withdrawn", now=now)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    values = case_values(case, settings)
    notices.tell(await _owners(session, case), "case.notify.withdrawn", **values)
    notices.tell(await _representatives(session, case), "case.notify.withdrawn", **values)
    if case.anonymous:
        await relay.conceal(session, writer=who.identity)
    await notices.send(session, now)
    return case


async def add_information(
    session: AsyncSession,
    *,
    who: Actor,
    case_id: int,
    text: str,
    attachment: str | None,
    settings: Settings,
    now: datetime,
    render: Render,
) -> Case:
    """A resident adds to an open case (more details, a photo or a file: "photo:REF", "document:REF"); its handler
    hears of it."""
    case = await _locked(session, case_id)
    record = await _require(session, who, case, Action.ADD_TO_CASE, "add")
    hidden = case.anonymous or not record.writer or case.identity_id != who.identity.id
    event = _event(session, case, actor="anonymous" if hidden else who.name, action="information", now=now, note=text)
    await _attach(session, case, event, attachment)
    case.updated_at = now
    session.add(case)
    notices = Notices(render, settings.general.default_language, told={who.identity.id or 0})
    values = {**case_values(case, settings), "note": text}
    notices.tell(
        await _owners(session, case) or await chats_of_staff(session, Role.LIAISON), "case.notify.information", **values
    )
    if hidden:
        await relay.conceal(session, writer=who.identity)
    await notices.send(session, now)
    return case


async def close_unrated(session: AsyncSession, *, settings: Settings, now: datetime) -> list[str]:
    """Close the answers their writers have not rated within `cases.auto_close_days`; returns their numbers."""
    before = now - timedelta(days=settings.cases.auto_close_days)
    stale = await session.exec(
        select(Case)
        .where(Case.state == ANSWERED, col(Case.answered_at) < before)
        .order_by(col(Case.id))
        .with_for_update()
    )
    closed = []
    for case in stale.all():
        case.state = CLOSED
        case.closed_at = now
        case.updated_at = now
        session.add(case)
        _event(session, case, actor=SYSTEM, action="closed", now=now, unrated=True)
        closed.append(case.number)
    return closed


# --- queues and overdue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    cases: list[Case]
    total: int


async def queue(
    session: AsyncSession, *, standing: Standing, today: date, limit: int = QUEUE_SIZE, offset: int = 0
) -> Queue:
    """The open cases this person follows, most urgent first: for the liaison office and leaders every case,
    unsorted and overdue first; for a department its assignments; for a representative their areas' cases and
    those written to, reported or kept by them."""
    policy.require(standing, Action.CASE_QUEUE)
    where: list[Any] = [col(Case.state).in_(OPEN_STATES)]
    if standing.role is Role.DEPARTMENT:
        staff = await session.get(Staff, standing.staff_id) if standing.staff_id else None
        where.append(Case.department == (staff.unit if staff else "\x00"))
        where.append(Case.state != ANSWERED)
    elif standing.is_representative:
        rep = standing.representative_id
        own_areas = select(RepArea.area_id).where(RepArea.representative_id == rep)
        where.append(
            sa.or_(col(Case.area_id).in_(own_areas), col(Case.representative_id) == rep, col(Case.kept_by) == rep)
        )
    order = [
        sa.case((col(Case.state) == REGISTERED, 0), else_=1),
        sa.case((sa.and_(col(Case.due_on) < today, col(Case.state) != ANSWERED), 0), else_=1),
        sa.case((col(Case.extension_days) > 0, 0), else_=1),
        col(Case.due_on),
        col(Case.id),
    ]
    total = (await session.exec(select(sa.func.count()).select_from(Case).where(*where))).one()
    found = await session.exec(select(Case).where(*where).order_by(*order).offset(offset).limit(limit))
    return Queue(list(found.all()), int(total))


async def cases_of_resident(session: AsyncSession, *, resident: ChatIdentity, limit: int = QUEUE_SIZE) -> list[Case]:
    ids = (await relay.cases_of(session, resident=resident))[:limit]
    if not ids:
        return []
    found = await session.exec(select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id).desc()))
    return list(found.all())


async def history(session: AsyncSession, *, case_id: int) -> list[CaseEvent]:
    found = await session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id)))
    return list(found.all())


async def attachments(session: AsyncSession, *, case_id: int) -> list[CaseFile]:
    found = await session.exec(select(CaseFile).where(CaseFile.case_id == case_id).order_by(col(CaseFile.id)))
    return list(found.all())


@dataclass(frozen=True)
class Overdue:
    """A case past its deadline, and what is due for it: chasing the handler, or escalation to leaders."""

    case: Case
    working_days_late: int
    due: str  # chase | escalate


async def overdue(session: AsyncSession, *, settings: Settings, calendar: WorkCalendar, today: date) -> list[Overdue]:
    """Cases still unanswered after their deadline: chased from the next working day, escalated to leaders
    `cases.escalate_after_working_days` working days after the deadline. Already sent ones are not due again."""
    late = await session.exec(
        select(Case)
        .where(col(Case.state).in_((REGISTERED, SORTED, ASSIGNED, IN_PROGRESS)), col(Case.due_on) < today)
        .order_by(col(Case.due_on), col(Case.id))
    )
    found = []
    for case in late.all():
        days = calendar.working_days_between(case.due_on, today)
        if days < 1:
            continue
        if days >= settings.cases.escalate_after_working_days and case.escalated_at is None:
            found.append(Overdue(case, days, "escalate"))
        elif case.chased_at is None and case.escalated_at is None:
            found.append(Overdue(case, days, "chase"))
    return found


async def chased_open(session: AsyncSession) -> list[Case]:
    """Cases still unanswered that were chased or escalated already (by the scheduler, or by hand), the oldest
    deadline first."""
    found = await session.exec(
        select(Case)
        .where(
            col(Case.state).in_((REGISTERED, SORTED, ASSIGNED, IN_PROGRESS)),
            sa.or_(col(Case.chased_at).is_not(None), col(Case.escalated_at).is_not(None)),
        )
        .order_by(col(Case.due_on), col(Case.id))
    )
    return list(found.all())


async def send_overdue(
    session: AsyncSession, *, items: Sequence[Overdue], settings: Settings, now: datetime, render: Render
) -> None:
    """Chase the handlers (the liaison office for an unowned case) and escalate to leaders; marks them sent."""
    notices = Notices(render, settings.general.default_language)
    leaders = await chats_of_staff(session, Role.LEADER)
    office = await chats_of_staff(session, Role.LIAISON)
    for item in items:
        case = item.case
        values = {**case_values(case, settings), "late": item.working_days_late}
        if item.due == "escalate":
            notices.told.clear()
            notices.tell(leaders + office, "case.notify.escalated", **values)
            if case.chased_at is None:  # never chased (no run while it was less late): its handler hears too
                notices.tell(await _owners(session, case), "case.notify.chased", **values)
                case.chased_at = now
            case.escalated_at = now
            _event(session, case, actor=SYSTEM, action="escalated", now=now, late=item.working_days_late)
        else:
            notices.told.clear()
            notices.tell(await _owners(session, case) or office, "case.notify.chased", **values)
            case.chased_at = now
            _event(session, case, actor=SYSTEM, action="chased", now=now, late=item.working_days_late)
        session.add(case)
    await notices.send(session, now)


# --- where residents live ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    area_id: int
    area: str
    station: str


async def find_places(session: AsyncSession, *, text: str, limit: int = 6) -> list[Place]:
    """Responsibility areas whose name, or whose work station's name or address, contains what the resident
    typed (a community, a village, a street)."""
    typed = unicodedata.normalize("NFKC", text).strip()
    if not typed:
        return []
    pattern = f"%{typed}%"
    found = await session.exec(
        select(Area.id, Area.name, Station.name)
        .join(Station, col(Station.id) == Area.station_id)
        .where(
            sa.or_(col(Area.name).like(pattern), col(Station.name).like(pattern), col(Station.address).like(pattern))
        )
        .order_by(col(Station.name), col(Area.name))
        .limit(limit)
    )
    places = [Place(area_id or 0, area, station) for area_id, area, station in found.all()]
    if places or typed.isdigit() or len(typed) < 3:  # a number or a syllable is no address
        return places
    via_address = await session.exec(
        select(Area.id, Area.name, Station.name)
        .join(Station, col(Station.id) == Area.station_id)
        .where(col(Area.id).in_(select(Household.area_id).where(col(Household.address).like(pattern)).limit(200)))
        .order_by(col(Station.name), col(Area.name))
        .limit(limit)
    )
    return [Place(area_id or 0, area, station) for area_id, area, station in via_address.all()]


async def place_of(session: AsyncSession, *, area_id: int) -> Place | None:
    found = (
        await session.exec(
            select(Area.id, Area.name, Station.name)
            .join(Station, col(Station.id) == Area.station_id)
            .where(Area.id == area_id)
        )
    ).first()
    return None if found is None else Place(found[0] or 0, found[1], found[2])
