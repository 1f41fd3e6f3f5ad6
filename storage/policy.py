"""Who may do what: the roles, a person's current standing, and the one policy every flow and command asks.

Deny by default: an action is allowed only where a rule below grants it. Nothing else in the code compares role
strings; it asks `may` (or `require`, which raises the refusal the person is told).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from storage.errors import NotAllowed


class Role(enum.StrEnum):
    """What a chat identity is bound to."""

    RESIDENT = "resident"
    REPRESENTATIVE = "representative"
    DEPARTMENT = "department"  # a handling department (承办单位)
    LIAISON = "liaison"  # the liaison office (联络办公室)
    LEADER = "leader"  # a district or township leader (区委 / 街道 leaders), staff


STAFF_ROLES = frozenset({Role.DEPARTMENT, Role.LIAISON, Role.LEADER})


class GroupRole(enum.StrEnum):
    """A representative's place in their representative group (代表小组); its leader is not a staff leader."""

    MEMBER = "member"
    LEADER = "leader"  # 组长
    LIAISON = "liaison"  # 联络员


class Action(enum.StrEnum):
    """Everything a person can ask of Lianxin that someone might not be allowed to do."""

    HELP = "help"
    START = "start"
    LANGUAGE = "language"
    CANCEL = "cancel"
    BIND = "bind"  # be offered binding the chat (/start with an invitation code): residents
    REDEEM_INVITATION = "invitation.redeem"
    WRITE_MAILBOX = "mailbox.write"
    LOG_VISIT = "visit.log"
    READ_PROGRESS = "progress"  # ask about progress at all: one's own, or (naming them) others'
    OWN_PROGRESS = "progress.own"
    PROGRESS_OF = "progress.of"  # record: a Colleague
    FIND_HOUSEHOLD = "household.find"  # by address, anywhere in the district
    READ_HOUSEHOLD = "household.read"  # record: a Household; the head's name and phone, search by name
    READ_SENSITIVE = "household.sensitive"  # record: a Household; hardship, petitioner ... categories
    CORRECT_HOUSEHOLD = "household.correct"  # record: a Household; its categories and party membership
    REGISTER_HOUSEHOLD = "household.register"  # in one's own areas
    REPORT_CASE = "case.report"  # a representative reports what a resident asked (/request)
    CASE_QUEUE = "case.queue"  # /cases: the cases one is entitled to follow
    MY_CASES = "case.mine"  # /mycases: the cases one wrote or joined
    READ_CASE = "case.read"  # record: a CaseRecord
    SORT_CASE = "case.sort"  # confirm category and urgency, assign, approve extensions: the liaison office
    TAKE_CASE = "case.take"  # record: a CaseRecord; keep it as the representative who takes it on (首接负责制)
    HANDLE_CASE = "case.handle"  # record: a CaseRecord; progress, answer, extension, return: whoever owns it
    RATE_CASE = "case.rate"  # record: a CaseRecord; rate, withdraw: the resident who wrote it
    ADD_TO_CASE = "case.add"  # record: a CaseRecord; more information: a resident who wrote or joined it
    READ_RECEPTION = "reception.read"  # /reception: the coming reception days of an area, and subscribing to them
    MANAGE_RECEPTION = "reception.manage"  # set, change and cancel reception days, import the rota: liaison office
    ANSWER_DUTY = "reception.duty"  # confirm one's reception-day duty or ask for a swap: representatives
    NOTE_RECEPTION = "reception.note"  # notes taken at a reception open cases: representatives, liaison office
    READ_DIGEST = "digest.read"  # /digest, /overdue, /behind within one's scope: leaders, group leaders, office
    FILE_PROPOSAL = "proposal.file"  # /proposal: draft a proposal, motion or inquiry and invite co-signers
    PROPOSAL_LIST = "proposal.list"  # /proposals: one's own and co-signed; the office, leaders, departments theirs
    READ_PROPOSAL = "proposal.read"  # record: a ProposalRecord
    COSIGN_PROPOSAL = "proposal.cosign"  # record: a ProposalRecord; accept or decline: the invited co-signer
    REVIEW_PROPOSAL = "proposal.review"  # establish, refuse (with a reason), merge, assign: the liaison office
    ANSWER_PROPOSAL = "proposal.answer"  # record: a ProposalRecord; the department it is assigned to
    EVALUATE_PROPOSAL = "proposal.evaluate"  # record: a ProposalRecord; submit, withdraw, evaluate: the author
    SEND_BRIEFING = "briefing.send"  # briefings and opinion requests: the liaison office and leaders
    READ_BRIEFING = "briefing.read"  # /briefings: the briefings and opinion requests sent to one: representatives
    BRIEFING_READERS = "briefing.readers"  # record: a SentRecord; who has (not) read or answered: the sender
    BRIEFING_LIST = "briefing.list"  # /briefings: what was sent to one (representatives) or what one sent (senders)
    LOG_ACTIVITY = "activity.log"  # /activity: representatives
    MANAGE_EVENTS = "event.manage"  # schedule, change and cancel events, read attendance: the liaison office
    ANSWER_EVENT = "event.answer"  # record: an EventRecord; attend, excused, check in: the invited
    EVENTS = "event.list"  # /events: one's invitations (representatives) or the events (the liaison office)
    COMMITMENTS = "commitment.own"  # /commitments: publish one's commitments and mark progress: representatives
    READ_COMMITMENTS = "commitment.read"  # /commitments D001: a representative's public commitments: everyone
    CHOOSE_CHANNEL = "notices.channel"  # /channel: which of one's bound chats receives one's notices: the bound


@dataclass(frozen=True)
class Standing:
    """Who a person is at this moment: their chat identity's binding as the roster has it now. A representative no
    longer in office (`active` false) stands as a resident, with `lapsed` set so that they can be told why."""

    role: Role
    identity_id: int | None = None
    representative_id: int | None = None
    group_id: int | None = None
    group_role: GroupRole = GroupRole.MEMBER
    staff_id: int | None = None
    lapsed: bool = False

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"identity:{self.identity_id}"

    @property
    def is_representative(self) -> bool:
        return self.role is Role.REPRESENTATIVE and self.representative_id is not None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


RESIDENT = Standing(Role.RESIDENT)


@dataclass(frozen=True)
class Colleague:
    """A representative as the record of an action (whose progress is asked for)."""

    representative_id: int
    group_id: int | None


@dataclass(frozen=True)
class Household:
    """A household of the ledger as the record of an action: whether it lies in the asker's own areas."""

    own_area: bool


@dataclass(frozen=True)
class CaseRecord:
    """A case as the record of an action: how the asker stands to it."""

    in_own_area: bool = False  # in a responsibility area the representative serves
    theirs: bool = False  # written to this representative (a contact card) or reported by them
    kept: bool = False  # kept by this representative
    unowned: bool = False  # neither assigned to a department nor kept by anyone yet
    of_department: bool = False  # assigned to this person's department
    resident: bool = False  # this person wrote it or joined it
    writer: bool = False  # this person wrote it (named or anonymous)


@dataclass(frozen=True)
class ProposalRecord:
    """A proposal as the record of an action: how the asker stands to it."""

    author: bool = False  # this representative wrote it
    cosigner: bool = False  # this representative accepted to co-sign it
    invited: bool = False  # this representative is invited to co-sign it and has not answered
    of_department: bool = False  # assigned to this person's department
    draft: bool = False  # never submitted: its author's, and theirs who are asked to co-sign it, alone


@dataclass(frozen=True)
class SentRecord:
    """A briefing or opinion request as the record of an action: whether the asker sent it."""

    sender: bool = False


@dataclass(frozen=True)
class EventRecord:
    """An event as the record of an action: whether the asker is invited to it."""

    invited: bool = False


Record = Colleague | Household | CaseRecord | ProposalRecord | SentRecord | EventRecord | None
Rule = Callable[[Standing, Record], bool]


def _everyone(standing: Standing, record: Record) -> bool:
    return True


def _representative(standing: Standing, record: Record) -> bool:
    return standing.is_representative


def _not_staff(standing: Standing, record: Record) -> bool:
    return not standing.is_staff


def _resident(standing: Standing, record: Record) -> bool:
    return standing.role is Role.RESIDENT


def _reads_progress(standing: Standing, record: Record) -> bool:
    return standing.is_representative or standing.role in (Role.LIAISON, Role.LEADER)


def _progress_of(standing: Standing, record: Record) -> bool:
    """The liaison office and leaders: anyone's figures. A group's leader and liaison officers: their group's."""
    if standing.role in (Role.LIAISON, Role.LEADER):
        return True
    if not standing.is_representative or not isinstance(record, Colleague):
        return False
    if record.representative_id == standing.representative_id:
        return True
    in_group = standing.group_id is not None and record.group_id == standing.group_id
    return in_group and standing.group_role in (GroupRole.LEADER, GroupRole.LIAISON)


def _own_household(standing: Standing, record: Record) -> bool:
    """Residents' personal data: the representatives of the household's own area, and the liaison office."""
    if standing.role is Role.LIAISON:
        return True
    return standing.is_representative and isinstance(record, Household) and record.own_area


def _follows_cases(standing: Standing, record: Record) -> bool:
    return standing.is_representative or standing.is_staff


def _liaison(standing: Standing, record: Record) -> bool:
    return standing.role is Role.LIAISON


def _reads_case(standing: Standing, record: Record) -> bool:
    """The liaison office and leaders: every case. A department: what is assigned to it. A representative: their
    areas' cases and what was written to them or kept by them. A resident: what they wrote or joined."""
    if not isinstance(record, CaseRecord):
        return False
    if standing.role in (Role.LIAISON, Role.LEADER) or record.resident:
        return True
    if standing.role is Role.DEPARTMENT:
        return record.of_department
    return standing.is_representative and (record.in_own_area or record.theirs or record.kept)


def _takes_case(standing: Standing, record: Record) -> bool:
    return (
        standing.is_representative
        and isinstance(record, CaseRecord)
        and record.unowned
        and (record.in_own_area or record.theirs)
    )


def _handles_case(standing: Standing, record: Record) -> bool:
    if not isinstance(record, CaseRecord):
        return False
    if standing.role is Role.LIAISON:
        return True
    if standing.role is Role.DEPARTMENT:
        return record.of_department
    return standing.is_representative and record.kept


def _writer(standing: Standing, record: Record) -> bool:
    return isinstance(record, CaseRecord) and record.writer


def _resident_of_case(standing: Standing, record: Record) -> bool:
    return isinstance(record, CaseRecord) and record.resident


def _notes_reception(standing: Standing, record: Record) -> bool:
    return standing.is_representative or standing.role is Role.LIAISON


def _reads_digest(standing: Standing, record: Record) -> bool:
    """Leaders (their district or township), the liaison office (the district), a group's leader (the group)."""
    if standing.role in (Role.LEADER, Role.LIAISON):
        return True
    return standing.is_representative and standing.group_role is GroupRole.LEADER


def _follows_proposals(standing: Standing, record: Record) -> bool:
    return standing.is_representative or standing.is_staff


def _reads_proposal(standing: Standing, record: Record) -> bool:
    """The liaison office and leaders: every proposal once submitted. A department: what is assigned to it. A
    representative: what they wrote, co-signed or are invited to co-sign."""
    if not isinstance(record, ProposalRecord):
        return False
    if standing.role in (Role.LIAISON, Role.LEADER):
        return not record.draft
    if standing.role is Role.DEPARTMENT:
        return record.of_department
    return standing.is_representative and (record.author or record.cosigner or record.invited)


def _invited_signer(standing: Standing, record: Record) -> bool:
    return standing.is_representative and isinstance(record, ProposalRecord) and record.invited


def _answers_proposal(standing: Standing, record: Record) -> bool:
    return standing.role is Role.DEPARTMENT and isinstance(record, ProposalRecord) and record.of_department


def _author(standing: Standing, record: Record) -> bool:
    return standing.is_representative and isinstance(record, ProposalRecord) and record.author


def _sends_briefings(standing: Standing, record: Record) -> bool:
    return standing.role in (Role.LIAISON, Role.LEADER) and standing.staff_id is not None


def _sender(standing: Standing, record: Record) -> bool:
    return _sends_briefings(standing, record) and isinstance(record, SentRecord) and record.sender


def _follows_briefings(standing: Standing, record: Record) -> bool:
    return standing.is_representative or _sends_briefings(standing, record)


def _invited_to_event(standing: Standing, record: Record) -> bool:
    return standing.is_representative and isinstance(record, EventRecord) and record.invited


def _sees_events(standing: Standing, record: Record) -> bool:
    return standing.is_representative or standing.role is Role.LIAISON


def _bound(standing: Standing, record: Record) -> bool:
    """Representatives and staff: a person behind chats bound with an invitation (a resident's chat is a person of
    its own)."""
    return standing.is_representative or (standing.is_staff and standing.staff_id is not None)


RULES: dict[Action, Rule] = {
    Action.HELP: _everyone,
    Action.START: _everyone,
    Action.LANGUAGE: _everyone,
    Action.CANCEL: _everyone,
    Action.WRITE_MAILBOX: _everyone,
    Action.BIND: _resident,
    Action.REDEEM_INVITATION: _not_staff,
    Action.READ_PROGRESS: _reads_progress,
    Action.LOG_VISIT: _representative,
    Action.OWN_PROGRESS: _representative,
    Action.PROGRESS_OF: _progress_of,
    Action.FIND_HOUSEHOLD: _representative,
    Action.READ_HOUSEHOLD: _own_household,
    Action.READ_SENSITIVE: _own_household,
    Action.CORRECT_HOUSEHOLD: _own_household,
    Action.REGISTER_HOUSEHOLD: _representative,
    Action.REPORT_CASE: _representative,
    Action.CASE_QUEUE: _follows_cases,
    Action.MY_CASES: _everyone,
    Action.READ_CASE: _reads_case,
    Action.SORT_CASE: _liaison,
    Action.TAKE_CASE: _takes_case,
    Action.HANDLE_CASE: _handles_case,
    Action.RATE_CASE: _writer,
    Action.ADD_TO_CASE: _resident_of_case,
    Action.READ_RECEPTION: _everyone,
    Action.MANAGE_RECEPTION: _liaison,
    Action.ANSWER_DUTY: _representative,
    Action.NOTE_RECEPTION: _notes_reception,
    Action.READ_DIGEST: _reads_digest,
    Action.FILE_PROPOSAL: _representative,
    Action.PROPOSAL_LIST: _follows_proposals,
    Action.READ_PROPOSAL: _reads_proposal,
    Action.COSIGN_PROPOSAL: _invited_signer,
    Action.REVIEW_PROPOSAL: _liaison,
    Action.ANSWER_PROPOSAL: _answers_proposal,
    Action.EVALUATE_PROPOSAL: _author,
    Action.SEND_BRIEFING: _sends_briefings,
    Action.READ_BRIEFING: _representative,
    Action.BRIEFING_READERS: _sender,
    Action.BRIEFING_LIST: _follows_briefings,
    Action.LOG_ACTIVITY: _representative,
    Action.MANAGE_EVENTS: _liaison,
    Action.ANSWER_EVENT: _invited_to_event,
    Action.EVENTS: _sees_events,
    Action.COMMITMENTS: _representative,
    Action.READ_COMMITMENTS: _everyone,
    Action.CHOOSE_CHANNEL: _bound,
}


CASE_ACTIONS = frozenset({Action.READ_CASE, Action.TAKE_CASE, Action.HANDLE_CASE, Action.RATE_CASE, Action.ADD_TO_CASE})
PROPOSAL_ACTIONS = frozenset(
    {Action.READ_PROPOSAL, Action.COSIGN_PROPOSAL, Action.ANSWER_PROPOSAL, Action.EVALUATE_PROPOSAL}
)


def may(standing: Standing, action: Action, record: Record = None) -> bool:
    """Whether this person may do this (to this record). What no rule grants is refused."""
    rule = RULES.get(action)
    return rule is not None and rule(standing, record)


def require(standing: Standing, action: Action, record: Record = None) -> None:
    """Raise the refusal the person is told, unless they may."""
    if not may(standing, action, record):
        raise refusal(standing, action)


def refusal(standing: Standing, action: Action) -> NotAllowed:
    """The refusal in words that fit who is asking and what they asked."""
    if action is Action.REDEEM_INVITATION:
        return NotAllowed("invite.staff_account")
    if standing.lapsed:
        return NotAllowed("error.no_longer_in_office")
    if action is Action.READ_DIGEST:
        return NotAllowed("digest.error.leaders_only")
    if action is Action.PROGRESS_OF:
        return NotAllowed("error.not_your_group" if standing.is_representative else "error.not_allowed")
    if action is Action.READ_PROGRESS and standing.role is Role.DEPARTMENT:
        return NotAllowed("error.not_allowed")
    if action is Action.REPORT_CASE and standing.role is Role.RESIDENT:
        return NotAllowed("case.error.residents_write")
    if action in CASE_ACTIONS:
        return NotAllowed("case.error.not_yours")
    if action in (Action.SORT_CASE, Action.MANAGE_RECEPTION, Action.REVIEW_PROPOSAL, Action.MANAGE_EVENTS):
        return NotAllowed("error.liaison_only")
    if action in PROPOSAL_ACTIONS:
        return NotAllowed("proposal.error.not_yours")
    if action is Action.SEND_BRIEFING:
        return NotAllowed("briefing.error.senders_only")
    if action is Action.BRIEFING_READERS:
        return NotAllowed("briefing.error.not_sender")
    if action is Action.ANSWER_EVENT:
        return NotAllowed("event.error.not_invited")
    if action is Action.CHOOSE_CHANNEL:
        return NotAllowed("notices_channel.error.bound_only")
    if action is Action.CASE_QUEUE and standing.role is Role.RESIDENT:
        return NotAllowed("case.error.queue_residents")
    if action in (Action.READ_HOUSEHOLD, Action.READ_SENSITIVE, Action.CORRECT_HOUSEHOLD):
        return NotAllowed("error.not_your_area" if standing.is_representative else "error.not_allowed")
    if standing.is_staff:
        return NotAllowed("error.representatives_only_staff")
    if standing.role is Role.RESIDENT:
        return NotAllowed("error.representatives_only")
    return NotAllowed("error.not_allowed")


def typical(role: Role) -> Standing:
    """A person of this role in general, for what is the same for all of them (the command menu of a role)."""
    if role is Role.REPRESENTATIVE:
        return Standing(role, representative_id=0)
    if role in STAFF_ROLES:  # a member of staff has their row (a briefing's sender is one)
        return Standing(role, staff_id=0)
    return Standing(role)
