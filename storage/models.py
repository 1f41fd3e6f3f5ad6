"""SQLModel tables: the organisation, the household ledger, visits, chat identities, dialogs, cases, reception days,
proposals, briefings and opinion requests, activities, events and commitments, the schedule and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones and PostgreSQL's are not needed."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def timestamp(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


# --- the organisation -------------------------------------------------------------------------------------


class Station(SQLModel, table=True):
    """A representatives' work station (党代表工作站) at a community, village, school, hospital or enterprise."""

    __tablename__ = "station"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(default="community", max_length=20)
    address: str = Field(default="", max_length=200)
    reception_day: str = Field(
        default="", max_length=100, sa_column_kwargs={"server_default": sa.text("''")}
    )  # 接待日 as residents are told it: 每周三上午 9:00-11:30
    # The street (街道) or town (镇) it belongs to, for a township leader's digest; empty: the district's own (a
    # school, a hospital, an enterprise).
    township: str = Field(default="", max_length=50, sa_column_kwargs={"server_default": sa.text("''")})


class Area(SQLModel, table=True):
    """A responsibility area (责任区) belonging to one work station."""

    __tablename__ = "area"
    __table_args__ = (sa.UniqueConstraint("station_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    station_id: int = Field(foreign_key="station.id", index=True)


class RepGroup(SQLModel, table=True):
    """A representative group (代表小组): one leader, one or two liaison officers, the members."""

    __tablename__ = "rep_group"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)


class Representative(SQLModel, table=True):
    """A district or township party representative; `code` is the stable roster key (D001, T042)."""

    __tablename__ = "representative"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=50)
    level: str = Field(max_length=10)  # district | township
    group_id: int | None = Field(default=None, foreign_key="rep_group.id", index=True)
    group_role: str = Field(default="member", max_length=10)  # member | leader | liaison
    station_id: int | None = Field(default=None, foreign_key="station.id", index=True)
    phone: str = Field(default="", max_length=20)
    unit: str = Field(default="", max_length=100)
    active: bool = True
    updated_at: datetime = timestamp(default_factory=utcnow)


class RepArea(SQLModel, table=True):
    """Which responsibility areas a representative serves."""

    __tablename__ = "rep_area"
    representative_id: int = Field(foreign_key="representative.id", primary_key=True)
    area_id: int = Field(foreign_key="area.id", primary_key=True, index=True)


class Staff(SQLModel, table=True):
    """A person of the liaison office, a leader, or a department handler."""

    __tablename__ = "staff"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=50)
    role: str = Field(max_length=12)  # liaison | leader | department
    unit: str = Field(default="", max_length=100)
    # A leader of one street or town reads its digest; empty: the whole district.
    township: str = Field(default="", max_length=50, sa_column_kwargs={"server_default": sa.text("''")})


# --- the household ledger ---------------------------------------------------------------------------------


class Household(SQLModel, table=True):
    """One household of the ledger (群众家庭信息台帐)."""

    __tablename__ = "household"
    id: int | None = Field(default=None, primary_key=True)
    area_id: int = Field(foreign_key="area.id", index=True)
    address: str = Field(max_length=200, index=True)
    head_name: str = Field(max_length=50, index=True)
    phone: str = Field(default="", max_length=20)
    party_member: bool = False  # the head of household is a party member; the programme weighs non-party ones
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


# The trigram index of addresses and head names (an FTS5 table and its shadow tables, migration 0003, SQLite only).
# It has no model: storage.records.households queries it, and the migrations' comparison with the models leaves it out.
HOUSEHOLD_SEARCH = "household_search"


def modelled(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's include_name: every table except the search index's."""
    return not (type_ == "table" and name is not None and name.startswith(HOUSEHOLD_SEARCH))


class HouseholdCategory(SQLModel, table=True):
    """A focus group or must-visit category a household belongs to (codes from config.toml)."""

    __tablename__ = "household_category"
    household_id: int = Field(foreign_key="household.id", primary_key=True)
    code: str = Field(max_length=32, primary_key=True, index=True)


# --- visits -----------------------------------------------------------------------------------------------


class Visit(SQLModel, table=True):
    """A contact with a household: who, when, how, and what was heard."""

    __tablename__ = "visit"
    __table_args__ = (sa.Index("ix_visit_rep_date", "representative_id", "visited_on"),)
    id: int | None = Field(default=None, primary_key=True)
    representative_id: int = Field(foreign_key="representative.id")
    household_id: int = Field(foreign_key="household.id", index=True)
    visited_on: date = Field(index=True)
    mode: str = Field(max_length=32)
    round: str = Field(default="routine", max_length=16)  # routine | centralized round id such as 2026-H2
    collective: bool = False
    notes: str = Field(default="", sa_type=sa.Text)
    latitude: float | None = None
    longitude: float | None = None
    created_at: datetime = timestamp(default_factory=utcnow)


class VisitCompanion(SQLModel, table=True):
    """A representative who took part in a collective visit besides the one who logged it."""

    __tablename__ = "visit_companion"
    visit_id: int = Field(foreign_key="visit.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)


class VisitPhoto(SQLModel, table=True):
    """A photo attached to a visit: the channel's file reference (downloaded later by the channel)."""

    __tablename__ = "visit_photo"
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    file_ref: str = Field(max_length=300)


# --- chat identities, invitations, dialogs ----------------------------------------------------------------


class ChatIdentity(SQLModel, table=True):
    """A person on a channel: (channel, external user id) -> role and the person behind it."""

    __tablename__ = "chat_identity"
    __table_args__ = (sa.UniqueConstraint("channel", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    role: str = Field(default="resident", max_length=16)  # resident | representative | liaison | leader | department
    representative_id: int | None = Field(default=None, foreign_key="representative.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    language: str | None = Field(default=None, max_length=8)
    created_at: datetime = timestamp(default_factory=utcnow)
    blocked_at: datetime | None = timestamp(default=None)  # the person blocked the bot; cleared when they write again
    area_id: int | None = Field(default=None, foreign_key="area.id")  # a resident's area, remembered for /mailbox
    # Where a person's notices go: one chat of a representative or member of staff (the one they used last, or the
    # one they chose with /channel); each resident's chat is its own person's and always receives.
    notices: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    notices_chosen: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})  # same on all theirs


class ChannelStatus(SQLModel, table=True):
    """A running channel's state as it last reported it, for `lianxin wechat status` in another process."""

    __tablename__ = "channel_status"
    channel: str = Field(primary_key=True, max_length=16)
    state: str = Field(max_length=16)  # starting | connected | logged_in | logged_out | down
    self_id: str = Field(default="", max_length=64)  # the logged-in account; "" when none
    login_at: datetime | None = timestamp(default=None)
    last_event_at: datetime | None = timestamp(default=None)
    down_since: datetime | None = timestamp(default=None)
    qr_url: str = Field(default="", max_length=500)  # the login QR code's address while one is waiting to be scanned
    updated_at: datetime = timestamp()


class Invitation(SQLModel, table=True):
    """A single-use code that binds a chat to a representative or to a member of staff (one of the two)."""

    __tablename__ = "invitation"
    code: str = Field(primary_key=True, max_length=32)
    representative_id: int | None = Field(default=None, foreign_key="representative.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    expires_at: datetime = timestamp()
    used_at: datetime | None = timestamp(default=None)
    used_by: int | None = Field(default=None, foreign_key="chat_identity.id")


class DialogState(SQLModel, table=True):
    """Where a person is in a dialog; written at every step so any process can continue it."""

    __tablename__ = "dialog_state"
    channel: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=64)
    flow: str = Field(max_length=32)
    step: str = Field(max_length=32)
    draft: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    history: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    choices: list[list[str]] = Field(default_factory=list, sa_type=sa.JSON)  # [[data, label], ...] last shown
    updated_at: datetime = timestamp(default_factory=utcnow)


# --- the mailbox ------------------------------------------------------------------------------------------


class MailboxLink(SQLModel, table=True):
    """The token behind a representative's contact-card deep link (start=m_<token>): random, so it reveals
    nothing, and revocable, so a lost or misprinted card can be withdrawn."""

    __tablename__ = "mailbox_link"
    token: str = Field(primary_key=True, max_length=32)
    representative_id: int = Field(foreign_key="representative.id", index=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    revoked_at: datetime | None = timestamp(default=None)


# --- cases: residents' concerns, from intake to rating -------------------------------------------------------


class CaseCounter(SQLModel, table=True):
    """The last case number given in a year: LX-2026-000123 is the 123rd of 2026."""

    __tablename__ = "case_counter"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class Case(SQLModel, table=True):
    """A resident's concern (诉求) as it travels: registered, sorted, assigned to a department or kept by the
    representative who took it on, handled, answered, rated, closed (or withdrawn).

    A named case keeps its writer's chat identity, name and phone; an anonymous one keeps none of them: how to
    reach its writer is in CaseRelay, which representatives, departments, exports and reports never read."""

    __tablename__ = "case_file"
    __table_args__ = (
        sa.Index("ix_case_state_due", "state", "due_on"),
        sa.Index("ix_case_area_state", "area_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=24, unique=True)  # LX-2026-000123
    source: str = Field(max_length=12)  # mailbox | card | report (a representative's, after a visit or not)
    category: str = Field(max_length=32)  # a code of config.toml's [[cases.categories]]
    time_limit: str = Field(max_length=16)  # emergency | consultation | help | complaint
    text: str = Field(sa_type=sa.Text)
    latitude: float | None = None
    longitude: float | None = None
    area_id: int | None = Field(default=None, foreign_key="area.id")
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    # The representative it was written to (a contact card) or who reported it.
    representative_id: int | None = Field(default=None, foreign_key="representative.id", index=True)
    reported: bool = False  # raised by the representative (reported by them), not written by a resident
    link_token: str | None = Field(default=None, max_length=32, foreign_key="mailbox_link.token", index=True)
    identity_id: int | None = Field(default=None, foreign_key="chat_identity.id", index=True)  # a named writer
    anonymous: bool = False
    name: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=20)
    consent: bool = False  # the writer agreed to be contacted by the handler
    state: str = Field(default="registered", max_length=12)
    department: str = Field(default="", max_length=100, index=True)  # the unit it is assigned to
    kept_by: int | None = Field(default=None, foreign_key="representative.id", index=True)  # 首接负责制
    registered_at: datetime = timestamp(default_factory=utcnow)
    due_on: date
    due_provisional: bool = False  # counted on weekends alone: the calendar does not know the year yet
    first_action_at: datetime | None = timestamp(default=None)  # the handler's first step, for the response rate
    answered_at: datetime | None = timestamp(default=None)
    answer: str = Field(default="", sa_type=sa.Text)
    resolved: bool | None = None  # the answer says the problem is solved
    rating: str = Field(default="", max_length=12)  # satisfied | basic | dissatisfied
    rating_reason: str = Field(default="", max_length=500)
    reopened: int = 0
    closed_at: datetime | None = timestamp(default=None)
    extension_days: int = 0  # asked and waiting for the liaison office; 0: none asked
    extension_reason: str = Field(default="", max_length=500)
    chased_at: datetime | None = timestamp(default=None)
    escalated_at: datetime | None = timestamp(default=None)
    updated_at: datetime = timestamp(default_factory=utcnow)
    reception_id: int | None = Field(default=None, foreign_key="reception_day.id", index=True)  # noted there


class CaseEvent(SQLModel, table=True):
    """One step in a case's life: who (an actor as the audit log names them; none for an anonymous writer), when,
    what, and the note that went with it."""

    __tablename__ = "case_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    at: datetime = timestamp(default_factory=utcnow)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=24)
    note: str = Field(default="", sa_type=sa.Text)
    to_resident: bool = False  # a progress note the resident was sent
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class CaseFile(SQLModel, table=True):
    """A photo or document attached to a case, by its writer or by the handler (with the answer)."""

    __tablename__ = "case_attachment"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="case_event.id")
    kind: str = Field(default="photo", max_length=12)  # photo | document
    file_ref: str = Field(max_length=300)


class CaseRelay(SQLModel, table=True):
    """Residents who hear a case's answer without anyone reading who they are: the writer of an anonymous case and
    everyone who joined a case ("this affects me too"). Only storage.records.relay reads it."""

    __tablename__ = "case_relay"
    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    identity_id: int = Field(foreign_key="chat_identity.id", primary_key=True, index=True)
    writer: bool = False  # the anonymous writer (rates the answer); else one who joined


# --- reception days -----------------------------------------------------------------------------------------


class ReceptionDay(SQLModel, table=True):
    """One reception day (接待日) of a work station's rota: when, where, and (ReceptionDuty) who is on duty."""

    __tablename__ = "reception_day"
    __table_args__ = (sa.UniqueConstraint("station_id", "day", "starts"),)
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    day: date = Field(index=True)
    starts: time
    ends: time
    place: str = Field(default="", max_length=200)  # empty: the station's own address
    cancelled: bool = False
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class ReceptionDuty(SQLModel, table=True):
    """A representative on duty at a reception day, and their answer: confirmed, or a swap asked (with why)."""

    __tablename__ = "reception_duty"
    reception_id: int = Field(foreign_key="reception_day.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    status: str = Field(default="assigned", max_length=12)  # assigned | confirmed | swap_asked
    note: str = Field(default="", max_length=200)
    answered_at: datetime | None = timestamp(default=None)


class ReceptionSubscription(SQLModel, table=True):
    """A resident who asked to hear of a station's reception days."""

    __tablename__ = "reception_subscription"
    identity_id: int = Field(foreign_key="chat_identity.id", primary_key=True)
    station_id: int = Field(foreign_key="station.id", primary_key=True, index=True)
    created_at: datetime = timestamp(default_factory=utcnow)


# --- proposals, motions and inquiries (提案 / 提议 / 质询案) ------------------------------------------------------


class ProposalCounter(SQLModel, table=True):
    """The last proposal number given in a year: TA-2026-0012 is the 12th of 2026 (every kind counts together)."""

    __tablename__ = "proposal_counter"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class Proposal(SQLModel, table=True):
    """A representative's proposal, motion or inquiry: drafted with co-signers, submitted, reviewed by the liaison
    office (established, not established with a reason, or merged into another), assigned to a department with a
    deadline, answered, evaluated by its author (dissatisfied sends it back for a second answer, once), closed."""

    __tablename__ = "proposal"
    __table_args__ = (sa.Index("ix_proposal_state_due", "state", "due_on"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=24, unique=True)  # TA-2026-0012, given when it is drafted
    kind: str = Field(max_length=12)  # a code of config.toml's [[proposals.kinds]]: proposal | motion | inquiry
    title: str = Field(max_length=100)
    body: str = Field(sa_type=sa.Text)
    author_id: int = Field(foreign_key="representative.id", index=True)
    state: str = Field(default="signing", max_length=16)
    reason: str = Field(default="", max_length=500)  # why it was not established (sent to the author)
    merged_into: int | None = Field(default=None, foreign_key="proposal.id")
    department: str = Field(default="", max_length=100, index=True)
    due_on: date | None = None
    due_provisional: bool = False  # counted on weekends alone: the calendar does not know the year yet
    answer: str = Field(default="", sa_type=sa.Text)
    answers: int = 0  # how many answers were given: a dissatisfied author may ask for a second, once
    evaluation: str = Field(default="", max_length=12)  # satisfied | basic | dissatisfied
    evaluation_note: str = Field(default="", max_length=500)
    created_at: datetime = timestamp(default_factory=utcnow)
    submitted_at: datetime | None = timestamp(default=None)
    reviewed_at: datetime | None = timestamp(default=None)
    assigned_at: datetime | None = timestamp(default=None)
    answered_at: datetime | None = timestamp(default=None)
    closed_at: datetime | None = timestamp(default=None)
    chased_at: datetime | None = timestamp(default=None)
    escalated_at: datetime | None = timestamp(default=None)
    updated_at: datetime = timestamp(default_factory=utcnow)


class ProposalSigner(SQLModel, table=True):
    """A representative invited to co-sign a proposal, and their answer."""

    __tablename__ = "proposal_signer"
    proposal_id: int = Field(foreign_key="proposal.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    status: str = Field(default="invited", max_length=10)  # invited | accepted | declined
    invited_at: datetime = timestamp(default_factory=utcnow)
    answered_at: datetime | None = timestamp(default=None)


class ProposalEvent(SQLModel, table=True):
    """One step in a proposal's life: who (as the audit log names them), when, what, and the note with it."""

    __tablename__ = "proposal_event"
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    at: datetime = timestamp(default_factory=utcnow)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=24)
    note: str = Field(default="", sa_type=sa.Text)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class ProposalFile(SQLModel, table=True):
    """A photo or document attached to a proposal by its author, or to its answer by the department."""

    __tablename__ = "proposal_attachment"
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="proposal_event.id")
    kind: str = Field(default="document", max_length=12)  # photo | document
    file_ref: str = Field(max_length=300)
    name: str = Field(default="", max_length=200)


# --- briefings and opinion requests (党内情况通报 / 征求意见) ------------------------------------------------------


class Briefing(SQLModel, table=True):
    """An intra-party briefing sent by the liaison office or a leader to everyone, a level or a group."""

    __tablename__ = "briefing"
    id: int | None = Field(default=None, primary_key=True)
    sender_id: int = Field(foreign_key="staff.id", index=True)
    title: str = Field(max_length=100)
    body: str = Field(sa_type=sa.Text)
    file_ref: str = Field(default="", max_length=300)  # an optional document
    file_name: str = Field(default="", max_length=200)
    scope: str = Field(default="all", max_length=40)  # all | level:district | level:township | group:<id>
    sent_at: datetime = timestamp(default_factory=utcnow, index=True)


class BriefingRecipient(SQLModel, table=True):
    """A representative a briefing went to, when they confirmed reading it, and when they were reminded."""

    __tablename__ = "briefing_recipient"
    briefing_id: int = Field(foreign_key="briefing.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    read_at: datetime | None = timestamp(default=None)
    reminded_at: datetime | None = timestamp(default=None)


class OpinionRequest(SQLModel, table=True):
    """A draft decision sent for representatives' opinions (征求意见), with questions and a deadline."""

    __tablename__ = "opinion_request"
    id: int | None = Field(default=None, primary_key=True)
    sender_id: int = Field(foreign_key="staff.id", index=True)
    title: str = Field(max_length=100)
    body: str = Field(sa_type=sa.Text)  # the draft decision, or what it is about
    file_ref: str = Field(default="", max_length=300)
    file_name: str = Field(default="", max_length=200)
    scope: str = Field(default="all", max_length=40)  # as a briefing's
    closes_at: datetime = timestamp()
    sent_at: datetime = timestamp(default_factory=utcnow)
    summary_sent_at: datetime | None = timestamp(default=None)


class OpinionQuestion(SQLModel, table=True):
    """One question of an opinion request: free text, or one of its options."""

    __tablename__ = "opinion_question"
    __table_args__ = (sa.UniqueConstraint("request_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="opinion_request.id", index=True)
    position: int  # 1, 2, ...
    text: str = Field(max_length=500)
    options: list[str] = Field(default_factory=list, sa_type=sa.JSON)  # empty: answered in free text


class OpinionRecipient(SQLModel, table=True):
    """A representative asked for an opinion, and when they answered and were reminded."""

    __tablename__ = "opinion_recipient"
    request_id: int = Field(foreign_key="opinion_request.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    answered_at: datetime | None = timestamp(default=None)
    reminded_at: datetime | None = timestamp(default=None)


class OpinionAnswer(SQLModel, table=True):
    """One representative's answer to one question: the option chosen (its index from 0), or the text."""

    __tablename__ = "opinion_answer"
    question_id: int = Field(foreign_key="opinion_question.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    choice: int | None = None
    text: str = Field(default="", sa_type=sa.Text)
    answered_at: datetime = timestamp(default_factory=utcnow)


# --- activities, events and commitments (五个一, 培训 / 集体活动, 承诺制) --------------------------------------------


class Activity(SQLModel, table=True):
    """Something a representative did and logged: one of the "five ones" or another activity form, with evidence."""

    __tablename__ = "activity"
    __table_args__ = (sa.Index("ix_activity_rep_date", "representative_id", "done_on"),)
    id: int | None = Field(default=None, primary_key=True)
    representative_id: int = Field(foreign_key="representative.id")
    kind: str = Field(max_length=32, index=True)  # a code of config.toml's [[activities.kinds]]
    done_on: date = Field(index=True)
    summary: str = Field(sa_type=sa.Text)
    created_at: datetime = timestamp(default_factory=utcnow)


class ActivityEvidence(SQLModel, table=True):
    """A photo or document logged with an activity (its text is the activity's summary)."""

    __tablename__ = "activity_evidence"
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    kind: str = Field(default="photo", max_length=12)  # photo | document
    file_ref: str = Field(max_length=300)
    name: str = Field(default="", max_length=200)


class ProgrammeEvent(SQLModel, table=True):
    """A training, collective activity or centralized visit round the liaison office schedules for groups or
    everyone; invited representatives answer and check in on the day."""

    __tablename__ = "programme_event"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # training | collective | round
    title: str = Field(max_length=100)
    starts_at: datetime = timestamp(index=True)
    ends_at: datetime = timestamp()
    place: str = Field(default="", max_length=200)
    latitude: float | None = None  # where check-in by location is measured from; none: by button only
    longitude: float | None = None
    radius_m: int | None = None  # none: events.check_in_radius_m
    scope: str = Field(default="all", max_length=40)  # all | level:district | level:township | group:<id>
    created_by: int | None = Field(default=None, foreign_key="staff.id")
    cancelled: bool = False
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class EventInvitation(SQLModel, table=True):
    """A representative invited to an event: their answer (attend, or excused with a reason) and their check-in."""

    __tablename__ = "event_invitation"
    event_id: int = Field(foreign_key="programme_event.id", primary_key=True)
    representative_id: int = Field(foreign_key="representative.id", primary_key=True, index=True)
    answer: str = Field(default="pending", max_length=10)  # pending | attend | excused
    reason: str = Field(default="", max_length=300)
    answered_at: datetime | None = timestamp(default=None)
    checked_in_at: datetime | None = timestamp(default=None)
    check_in_by: str = Field(default="", max_length=10)  # button | location
    distance_m: int | None = None  # how far from the place a location check-in was


class Commitment(SQLModel, table=True):
    """One of a representative's public commitments (承诺) for a year, and how far it has come."""

    __tablename__ = "commitment"
    __table_args__ = (sa.Index("ix_commitment_rep_year", "representative_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    representative_id: int = Field(foreign_key="representative.id")
    year: int
    text: str = Field(max_length=500)
    status: str = Field(default="planned", max_length=12)  # planned | in_progress | done
    progress_note: str = Field(default="", max_length=500)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


# --- the schedule ---------------------------------------------------------------------------------------------


class DueItem(SQLModel, table=True):
    """Something the scheduler must do at a time: a reminder, a notice, a digest, a chase, an escalation. The key
    names one occurrence (quota:2026-11:rep-17), so it is planned once and done once; a tick claims due rows and
    writes their messages to the outbox in the transaction that marks them done."""

    __tablename__ = "due_item"
    __table_args__ = (sa.Index("ix_due_item_queue", "state", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120, unique=True)
    kind: str = Field(max_length=24)
    due_at: datetime = timestamp()
    expires_at: datetime | None = timestamp(default=None)  # after it the item is useless: skipped, with the reason
    urgent: bool = False  # sent in quiet hours too
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    state: str = Field(default="pending", max_length=8)  # pending | sent | skipped | failed
    reason: str = Field(default="", max_length=200)  # why skipped or failed; no personal data
    attempts: int = 0
    created_at: datetime = timestamp(default_factory=utcnow)
    done_at: datetime | None = timestamp(default=None)


# --- the inbox and the outbox -----------------------------------------------------------------------------


class InboxEvent(SQLModel, table=True):
    """An event a channel received, committed before it is acknowledged; unique per channel and event key, so a
    redelivered event changes nothing. Handled from here, in order per chat."""

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("channel", "event_key"),
        sa.Index("ix_inbox_queue", "status", "channel", "chat_key", "id"),
        sa.Index("ix_inbox_chat", "channel", "chat_key", "received_at"),  # a person's recent events (flood limit)
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    event_key: str = Field(max_length=64)  # Telegram: the update_id
    chat_key: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default="pending", max_length=8)  # pending | done | parked
    attempts: int = 0
    error: str = Field(default="", max_length=200)  # the error's type only: its message may quote personal data
    received_at: datetime = timestamp(default_factory=utcnow)
    next_attempt_at: datetime = timestamp(default_factory=utcnow)
    claimed_until: datetime | None = timestamp(default=None)
    handled_at: datetime | None = timestamp(default=None)


class OutboxMessage(SQLModel, table=True):
    """Something the bot must send, written in the same transaction as the change that caused it; sent in order
    per chat by the sender, which records the platform's message id or why it failed."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_queue", "status", "channel", "chat_key", "id"),
        sa.Index("ix_outbox_chat", "channel", "chat_key", "id"),  # a chat's latest messages (buttons to retire)
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_key: str = Field(max_length=64)
    kind: str = Field(default="message", max_length=16)  # message | edit | clear_buttons | commands
    priority: int = 0  # 0: an answer someone is waiting for; 1: bulk (notices, broadcasts), sent after answers
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default="pending", max_length=8)  # pending | sent | failed
    attempts: int = 0
    error: str = Field(default="", max_length=200)
    external_id: str = Field(default="", max_length=64)  # the platform's message id once sent
    inbox_id: int | None = Field(default=None, foreign_key="inbox.id", index=True)
    # Emptied once sent: it ties an anonymous writer's chat to what they wrote (storage.records.relay).
    scrub: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = timestamp(default_factory=utcnow)
    next_attempt_at: datetime = timestamp(default_factory=utcnow)
    claimed_until: datetime | None = timestamp(default=None)
    sent_at: datetime | None = timestamp(default=None)


class AuditEntry(SQLModel, table=True):
    """Who read or changed what. Details hold ids and field names, never the personal data itself."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = timestamp(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)  # identity:17, cli, roster-import
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    entity_id: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
