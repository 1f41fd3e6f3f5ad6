"""The policy itself: deny by default, every action has a rule, and the refusals people are told."""

from __future__ import annotations

import pytest

from storage import policy
from storage.errors import NotAllowed
from storage.policy import Action, Colleague, GroupRole, Household, Role, Standing

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
]


@pytest.mark.parametrize(("action", "record", "allowed"), GRANTS, ids=[f"{a}-{r}" for a, r, _ in GRANTS])
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
    ],
)
def test_refusals_in_words_that_fit(standing: Standing, action: Action, key: str) -> None:
    with pytest.raises(NotAllowed) as refused:
        policy.require(standing, action, OTHER_GROUP if action is Action.PROGRESS_OF else ELSEWHERE)
    assert refused.value.key == key


def test_a_roles_typical_standing_is_what_its_menus_are_made_for() -> None:
    assert policy.typical(Role.REPRESENTATIVE).is_representative
    assert policy.may(policy.typical(Role.REPRESENTATIVE), Action.LOG_VISIT)
    assert not policy.may(policy.typical(Role.LEADER), Action.LOG_VISIT)
    assert policy.may(policy.typical(Role.RESIDENT), Action.BIND)
