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


Record = Colleague | Household | None
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
}


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
    if action is Action.PROGRESS_OF:
        return NotAllowed("error.not_your_group" if standing.is_representative else "error.not_allowed")
    if action is Action.READ_PROGRESS and standing.role is Role.DEPARTMENT:
        return NotAllowed("error.not_allowed")
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
