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


Record = Colleague | Household | CaseRecord | None
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
}


CASE_ACTIONS = frozenset({Action.READ_CASE, Action.TAKE_CASE, Action.HANDLE_CASE, Action.RATE_CASE, Action.ADD_TO_CASE})


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
    if action in (Action.SORT_CASE, Action.MANAGE_RECEPTION):
        return NotAllowed("error.liaison_only")
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
    return Standing(role)
