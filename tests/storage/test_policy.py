"""The policy itself: deny by default, every action has a rule, and the refusals people are told."""

from __future__ import annotations

from dataclasses import fields

import pytest

from storage import policy
from storage.errors import NotAllowed
from storage.policy import (
    Action,
    CaseRecord,
    Colleague,
    EventRecord,
    GroupRole,
    Household,
    ProposalRecord,
    Role,
    SentRecord,
    Standing,
)

RESIDENT = Standing(Role.RESIDENT, identity_id=1)
LAPSED = Standing(Role.RESIDENT, identity_id=2, lapsed=True)
MEMBER = Standing(Role.REPRESENTATIVE, identity_id=3, representative_id=10, group_id=1)
GROUP_LEADER = Standing(
    Role.REPRESENTATIVE, identity_id=4, representative_id=11, group_id=1, group_role=GroupRole.LEADER
)
GROUP_LIAISON = Standing(
    Role.REPRESENTATIVE, identity_id=5, representative_id=12, group_id=1, group_role=GroupRole.LIAISON
)
DEPARTMENT = Standing(Role.DEPARTMENT, identity_id=6, staff_id=1)
LIAISON = Standing(Role.LIAISON, identity_id=7, staff_id=2)
LEADER = Standing(Role.LEADER, identity_id=8, staff_id=3)
EVERYONE = {
    "resident": RESIDENT,
    "lapsed": LAPSED,
    "member": MEMBER,
    "group_leader": GROUP_LEADER,
    "group_liaison": GROUP_LIAISON,
    "department": DEPARTMENT,
    "liaison": LIAISON,
    "leader": LEADER,
}
IN_GROUP = Colleague(representative_id=10, group_id=1)
OTHER_GROUP = Colleague(representative_id=20, group_id=2)
OWN = Household(own_area=True)
ELSEWHERE = Household(own_area=False)
REPRESENTATIVES = {"member", "group_leader", "group_liaison"}
# How the asker stands to a case (storage.records.cases.record_for works it out per person). Each row puts the same
# record to everyone, so the rows show what each tie grants to whom, and that no one gains by a tie not theirs.
NO_TIES = CaseRecord()
IN_AREA = CaseRecord(in_own_area=True)
THEIRS = CaseRecord(theirs=True)  # written to them through their card, or reported by them
KEPT = CaseRecord(kept=True)
UNOWNED = CaseRecord(unowned=True)  # nobody's yet, in an area not the asker's
UNOWNED_IN_AREA = CaseRecord(in_own_area=True, unowned=True)
UNOWNED_THEIRS = CaseRecord(theirs=True, unowned=True)
OF_DEPARTMENT = CaseRecord(of_department=True)
JOINED = CaseRecord(resident=True)
WRITTEN = CaseRecord(resident=True, writer=True)
# How the asker stands to a proposal, a briefing or opinion request, an event.
AUTHOR = ProposalRecord(author=True)
COSIGNER = ProposalRecord(cosigner=True)
INVITED = ProposalRecord(invited=True)
ASSIGNED = ProposalRecord(of_department=True)
STRANGER = ProposalRecord()
DRAFT = ProposalRecord(draft=True)  # still collecting co-signers, not the asker's
OWN_DRAFT = ProposalRecord(author=True, draft=True)
DRAFT_INVITED = ProposalRecord(invited=True, draft=True)
SENDER = SentRecord(sender=True)
NOT_SENDER = SentRecord()
GUEST = EventRecord(invited=True)
UNINVITED = EventRecord()

# action, record -> the people who may (everyone else may not).
GRANTS: list[tuple[Action, policy.Record, set[str]]] = [
    (Action.HELP, None, set(EVERYONE)),
    (Action.START, None, set(EVERYONE)),
    (Action.LANGUAGE, None, set(EVERYONE)),
    (Action.CANCEL, None, set(EVERYONE)),
    (Action.WRITE_MAILBOX, None, set(EVERYONE)),
    (Action.BIND, None, {"resident", "lapsed"}),
    (Action.REDEEM_INVITATION, None, {"resident", "lapsed", "member", "group_leader", "group_liaison"}),
    (Action.LOG_VISIT, None, {"member", "group_leader", "group_liaison"}),
    (Action.READ_PROGRESS, None, {"member", "group_leader", "group_liaison", "liaison", "leader"}),
    (Action.OWN_PROGRESS, None, {"member", "group_leader", "group_liaison"}),
    (Action.PROGRESS_OF, IN_GROUP, {"member", "group_leader", "group_liaison", "liaison", "leader"}),  # 10 is member
    (Action.PROGRESS_OF, OTHER_GROUP, {"liaison", "leader"}),
    (Action.PROGRESS_OF, None, {"liaison", "leader"}),
    (Action.FIND_HOUSEHOLD, None, {"member", "group_leader", "group_liaison"}),
    (Action.REGISTER_HOUSEHOLD, None, {"member", "group_leader", "group_liaison"}),
    (Action.READ_HOUSEHOLD, OWN, {"member", "group_leader", "group_liaison", "liaison"}),
    (Action.READ_HOUSEHOLD, ELSEWHERE, {"liaison"}),
    (Action.READ_SENSITIVE, OWN, {"member", "group_leader", "group_liaison", "liaison"}),
    (Action.READ_SENSITIVE, ELSEWHERE, {"liaison"}),
    (Action.CORRECT_HOUSEHOLD, OWN, {"member", "group_leader", "group_liaison", "liaison"}),
    (Action.CORRECT_HOUSEHOLD, ELSEWHERE, {"liaison"}),
    (Action.REPORT_CASE, None, REPRESENTATIVES),
    (Action.CASE_QUEUE, None, REPRESENTATIVES | {"department", "liaison", "leader"}),
    (Action.MY_CASES, None, set(EVERYONE)),
    (Action.SORT_CASE, None, {"liaison"}),
    (Action.SORT_CASE, NO_TIES, {"liaison"}),
    # Reading: the liaison office and leaders every case, a department what is assigned to it, a representative
    # their areas', their own and what they keep, anyone what they wrote or joined (as a resident would).
    (Action.READ_CASE, None, set()),  # no case, nothing to read: not even for the liaison office
    (Action.READ_CASE, NO_TIES, {"liaison", "leader"}),
    (Action.READ_CASE, IN_AREA, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_CASE, THEIRS, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_CASE, KEPT, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_CASE, UNOWNED, {"liaison", "leader"}),
    (Action.READ_CASE, OF_DEPARTMENT, {"department", "liaison", "leader"}),
    (Action.READ_CASE, JOINED, set(EVERYONE)),
    (Action.READ_CASE, WRITTEN, set(EVERYONE)),
    # Taking on (首接负责制): a representative, a case nobody owns yet, in their areas or written to them.
    (Action.TAKE_CASE, None, set()),
    (Action.TAKE_CASE, NO_TIES, set()),
    (Action.TAKE_CASE, UNOWNED, set()),
    (Action.TAKE_CASE, UNOWNED_IN_AREA, REPRESENTATIVES),
    (Action.TAKE_CASE, UNOWNED_THEIRS, REPRESENTATIVES),
    (Action.TAKE_CASE, IN_AREA, set()),  # owned already: assigned or kept
    (Action.TAKE_CASE, THEIRS, set()),
    (Action.TAKE_CASE, KEPT, set()),
    (Action.TAKE_CASE, OF_DEPARTMENT, set()),
    (Action.TAKE_CASE, WRITTEN, set()),
    # Handling: the liaison office any case, a department what is assigned to it, a representative what they keep.
    (Action.HANDLE_CASE, None, set()),
    (Action.HANDLE_CASE, NO_TIES, {"liaison"}),
    (Action.HANDLE_CASE, KEPT, REPRESENTATIVES | {"liaison"}),
    (Action.HANDLE_CASE, IN_AREA, {"liaison"}),
    (Action.HANDLE_CASE, THEIRS, {"liaison"}),
    (Action.HANDLE_CASE, UNOWNED_IN_AREA, {"liaison"}),
    (Action.HANDLE_CASE, OF_DEPARTMENT, {"department", "liaison"}),
    (Action.HANDLE_CASE, WRITTEN, {"liaison"}),
    # Rating and withdrawing: whoever wrote it, whatever their role; adding to it: whoever wrote or joined it.
    (Action.RATE_CASE, None, set()),
    (Action.RATE_CASE, WRITTEN, set(EVERYONE)),
    (Action.RATE_CASE, JOINED, set()),
    (Action.RATE_CASE, NO_TIES, set()),
    (Action.RATE_CASE, KEPT, set()),
    (Action.RATE_CASE, OF_DEPARTMENT, set()),
    (Action.ADD_TO_CASE, None, set()),
    (Action.ADD_TO_CASE, WRITTEN, set(EVERYONE)),
    (Action.ADD_TO_CASE, JOINED, set(EVERYONE)),
    (Action.ADD_TO_CASE, NO_TIES, set()),
    (Action.ADD_TO_CASE, THEIRS, set()),
    (Action.ADD_TO_CASE, KEPT, set()),
    (Action.ADD_TO_CASE, OF_DEPARTMENT, set()),
    # Reception days: anyone reads them; the liaison office runs the rota; representatives answer their duty and,
    # with the office, note what they heard there; digests for leaders, the office and a group's leader.
    (Action.READ_RECEPTION, None, set(EVERYONE)),
    (Action.MANAGE_RECEPTION, None, {"liaison"}),
    (Action.ANSWER_DUTY, None, REPRESENTATIVES),
    (Action.NOTE_RECEPTION, None, REPRESENTATIVES | {"liaison"}),
    (Action.READ_DIGEST, None, {"group_leader", "liaison", "leader"}),
    # Proposals: representatives file them; the author submits and evaluates, invited co-signers answer, the liaison
    # office reviews and assigns, the department it is assigned to answers; leaders and the office read them all.
    (Action.FILE_PROPOSAL, None, REPRESENTATIVES),
    (Action.PROPOSAL_LIST, None, REPRESENTATIVES | {"department", "liaison", "leader"}),
    (Action.READ_PROPOSAL, None, set()),
    (Action.READ_PROPOSAL, STRANGER, {"liaison", "leader"}),
    (Action.READ_PROPOSAL, AUTHOR, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_PROPOSAL, COSIGNER, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_PROPOSAL, INVITED, REPRESENTATIVES | {"liaison", "leader"}),
    (Action.READ_PROPOSAL, ASSIGNED, {"department", "liaison", "leader"}),
    (Action.READ_PROPOSAL, DRAFT, set()),  # a draft is its author's and its invitees' until it is submitted
    (Action.READ_PROPOSAL, OWN_DRAFT, REPRESENTATIVES),
    (Action.READ_PROPOSAL, DRAFT_INVITED, REPRESENTATIVES),
    (Action.COSIGN_PROPOSAL, INVITED, REPRESENTATIVES),
    (Action.COSIGN_PROPOSAL, COSIGNER, set()),
    (Action.COSIGN_PROPOSAL, AUTHOR, set()),
    (Action.REVIEW_PROPOSAL, None, {"liaison"}),
    (Action.ANSWER_PROPOSAL, ASSIGNED, {"department"}),
    (Action.ANSWER_PROPOSAL, STRANGER, set()),
    (Action.ANSWER_PROPOSAL, AUTHOR, set()),
    (Action.EVALUATE_PROPOSAL, AUTHOR, REPRESENTATIVES),
    (Action.EVALUATE_PROPOSAL, COSIGNER, set()),
    (Action.EVALUATE_PROPOSAL, ASSIGNED, set()),
    (Action.EVALUATE_PROPOSAL, None, set()),
    # Briefings and opinion requests: sent by the office and leaders to representatives; only the sender reads
    # who has read or answered (and the answers).
    (Action.SEND_BRIEFING, None, {"liaison", "leader"}),
    (Action.READ_BRIEFING, None, REPRESENTATIVES),
    (Action.BRIEFING_READERS, SENDER, {"liaison", "leader"}),
    (Action.BRIEFING_READERS, NOT_SENDER, set()),
    (Action.BRIEFING_READERS, None, set()),
    (Action.BRIEFING_LIST, None, REPRESENTATIVES | {"liaison", "leader"}),
    # Activities, events, commitments: representatives log and publish; the office runs events; the invited answer.
    (Action.LOG_ACTIVITY, None, REPRESENTATIVES),
    (Action.MANAGE_EVENTS, None, {"liaison"}),
    (Action.ANSWER_EVENT, GUEST, REPRESENTATIVES),
    (Action.ANSWER_EVENT, UNINVITED, set()),
    (Action.ANSWER_EVENT, None, set()),
    (Action.EVENTS, None, REPRESENTATIVES | {"liaison"}),
    (Action.COMMITMENTS, None, REPRESENTATIVES),
    (Action.READ_COMMITMENTS, None, set(EVERYONE)),
    (Action.CHOOSE_CHANNEL, None, REPRESENTATIVES | {"department", "liaison", "leader"}),
]


def label(record: policy.Record) -> str:
    """A row's id: a case record by its ties (case[in_own_area+unowned], case[] for none)."""
    if isinstance(record, CaseRecord | ProposalRecord | SentRecord | EventRecord):
        kind = type(record).__name__.removesuffix("Record").lower()
        return f"{kind}[" + "+".join(tie.name for tie in fields(record) if getattr(record, tie.name)) + "]"
    return str(record)


@pytest.mark.parametrize(("action", "record", "allowed"), GRANTS, ids=[f"{a}-{label(r)}" for a, r, _ in GRANTS])
def test_who_may(action: Action, record: policy.Record, allowed: set[str]) -> None:
    for name, standing in EVERYONE.items():
        assert policy.may(standing, action, record) == (name in allowed), (name, action, record)


def test_every_action_has_a_rule_and_a_row_above() -> None:
    assert set(policy.RULES) == set(Action)
    assert {action for action, _, _ in GRANTS} == set(Action)


def test_what_no_rule_grants_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(policy.RULES, Action.LOG_VISIT)
    assert not policy.may(MEMBER, Action.LOG_VISIT)
    with pytest.raises(NotAllowed):
        policy.require(MEMBER, Action.LOG_VISIT)


@pytest.mark.parametrize(
    ("standing", "action", "key"),
    [
        (RESIDENT, Action.LOG_VISIT, "error.representatives_only"),
        (LAPSED, Action.LOG_VISIT, "error.no_longer_in_office"),
        (LAPSED, Action.PROGRESS_OF, "error.no_longer_in_office"),
        (DEPARTMENT, Action.LOG_VISIT, "error.representatives_only_staff"),
        (DEPARTMENT, Action.READ_PROGRESS, "error.not_allowed"),
        (MEMBER, Action.PROGRESS_OF, "error.not_your_group"),
        (MEMBER, Action.CORRECT_HOUSEHOLD, "error.not_your_area"),
        (LEADER, Action.READ_HOUSEHOLD, "error.not_allowed"),
        (LIAISON, Action.REDEEM_INVITATION, "invite.staff_account"),
        (RESIDENT, Action.REPORT_CASE, "case.error.residents_write"),  # pointed to writing a letter
        (LAPSED, Action.REPORT_CASE, "error.no_longer_in_office"),
        (DEPARTMENT, Action.REPORT_CASE, "error.representatives_only_staff"),
        (LEADER, Action.REPORT_CASE, "error.representatives_only_staff"),
        (RESIDENT, Action.CASE_QUEUE, "case.error.queue_residents"),
        (LAPSED, Action.CASE_QUEUE, "error.no_longer_in_office"),
        (MEMBER, Action.SORT_CASE, "error.liaison_only"),
        (DEPARTMENT, Action.SORT_CASE, "error.liaison_only"),
        (LEADER, Action.SORT_CASE, "error.liaison_only"),
        (RESIDENT, Action.SORT_CASE, "error.liaison_only"),
        (LAPSED, Action.SORT_CASE, "error.no_longer_in_office"),
        # Whatever the case and whoever asks, another's case is "not yours": a refusal that tells nothing more.
        (RESIDENT, Action.READ_CASE, "case.error.not_yours"),
        (MEMBER, Action.READ_CASE, "case.error.not_yours"),
        (DEPARTMENT, Action.READ_CASE, "case.error.not_yours"),
        (MEMBER, Action.TAKE_CASE, "case.error.not_yours"),
        (LEADER, Action.TAKE_CASE, "case.error.not_yours"),
        (GROUP_LEADER, Action.HANDLE_CASE, "case.error.not_yours"),
        (DEPARTMENT, Action.HANDLE_CASE, "case.error.not_yours"),
        (LEADER, Action.HANDLE_CASE, "case.error.not_yours"),
        (RESIDENT, Action.RATE_CASE, "case.error.not_yours"),
        (LIAISON, Action.RATE_CASE, "case.error.not_yours"),
        (RESIDENT, Action.ADD_TO_CASE, "case.error.not_yours"),
        (MEMBER, Action.ADD_TO_CASE, "case.error.not_yours"),
        (LAPSED, Action.READ_CASE, "error.no_longer_in_office"),
        (LAPSED, Action.RATE_CASE, "error.no_longer_in_office"),
    ],
)
def test_refusals_in_words_that_fit(standing: Standing, action: Action, key: str) -> None:
    refused_for: dict[Action, policy.Record] = {Action.PROGRESS_OF: OTHER_GROUP}
    refused_for.update(dict.fromkeys(policy.CASE_ACTIONS | {Action.SORT_CASE}, NO_TIES))
    with pytest.raises(NotAllowed) as refused:
        policy.require(standing, action, refused_for.get(action, ELSEWHERE))
    assert refused.value.key == key


def test_a_roles_typical_standing_is_what_its_menus_are_made_for() -> None:
    assert policy.typical(Role.REPRESENTATIVE).is_representative
    assert policy.may(policy.typical(Role.REPRESENTATIVE), Action.LOG_VISIT)
    assert not policy.may(policy.typical(Role.LEADER), Action.LOG_VISIT)
    assert policy.may(policy.typical(Role.RESIDENT), Action.BIND)
    assert policy.may(policy.typical(Role.LIAISON), Action.SEND_BRIEFING)
