"""The command table against the catalogs and the policy: every command's words, help and menu entries exist, the
texts name no command that is not declared (nor one the reader may not use), and each role's menu is what the
policy allows it."""

from __future__ import annotations

import re

import pytest

import handlers.i18n as i18n
from handlers.commands import BY_NAME, BY_WORD, COMMANDS, menu, parse
from storage import policy
from storage.policy import Role

LANGUAGES = i18n.languages()
CONSOLE_ONLY = {"photo", "location", "contact", "quit", "exit"}  # the console's own stand-ins for a phone's buttons
SLASHED = re.compile(r"(?<![\w/])/([a-z]+)")  # a command, not "individual/collective"


def test_names_and_words_are_unique_and_parse_to_their_command() -> None:
    assert len(BY_NAME) == len(COMMANDS)
    words = [word.lower() for command in COMMANDS for word in (*command.words, *command.english)]
    assert len(words) == len(set(words)), "a word names two commands"
    for command in COMMANDS:
        for typed in (f"/{command.name}", f"/{command.name}@lianxin_demo_bot x", *command.words, *command.english):
            parsed = parse(typed)
            assert parsed is not None and parsed.command is command, typed
        assert (command.flow is None) != (command.answer is None), f"{command.name} must start or answer"
    assert parse("/nonsense") is not None and parse("/nonsense").command is None  # type: ignore[union-attr]
    assert parse("路灯坏了") is None and parse("   ") is None
    assert BY_WORD["走访"].name == "visit"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_named_in_the_catalogs_is_declared(language: str) -> None:
    named = {
        (key, name)
        for key, text in i18n.catalog(language).items()
        for name in SLASHED.findall(text)
        if not key.startswith(("cli.", "console."))  # the command line's and the console's own words
    }
    undeclared = sorted((key, name) for key, name in named if name not in BY_NAME and name not in CONSOLE_ONLY)
    assert not undeclared


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", [*Role, "lapsed"])
def test_a_roles_hint_names_only_commands_it_may_use(language: str, role: Role | str) -> None:
    standing = policy.Standing(Role.RESIDENT, lapsed=True) if role == "lapsed" else policy.typical(Role(role))
    key = f"help.{role if isinstance(role, str) and role == 'lapsed' else Role(role).value}"
    for part in ("hint", "intro"):
        for name in SLASHED.findall(i18n.t(language, f"{key}.{part}")):
            if name == "progress" and role in (Role.LIAISON, Role.LEADER):
                continue  # "/progress CODE" is theirs: PROGRESS_OF with a code
            assert policy.may(standing, BY_NAME[name].action), (role, part, name)


def test_each_roles_menu_is_what_the_policy_allows() -> None:
    def names(role: Role) -> list[str]:
        return [name for name, _ in menu(role, "zh-CN")]

    assert names(Role.REPRESENTATIVE) == [
        *("visit", "request", "cases", "progress", "reception"),
        *("proposal", "proposals"),
        *("briefings", "opinions"),
        *("activity", "events", "commitments"),
        *("help", "lang", "cancel"),
    ]
    assert names(Role.RESIDENT) == ["mailbox", "mycases", "reception", "start", "help", "lang", "cancel"]
    assert names(Role.LIAISON) == [
        *("cases", "progress", "digest", "overdue", "behind", "reception"),
        "proposals",
        *("briefing", "briefings", "opinion"),
        "events",
        *("help", "lang", "cancel"),
    ]
    assert names(Role.LEADER) == [
        *("cases", "progress", "digest", "overdue", "behind", "reception"),
        "proposals",
        *("briefing", "briefings", "opinion"),
        *("help", "lang", "cancel"),
    ]
    assert names(Role.DEPARTMENT) == ["cases", "reception", "proposals", "help", "lang", "cancel"]
    for language in LANGUAGES:
        for role in Role:
            assert all(description and len(description) <= 256 for _, description in menu(role, language))


@pytest.mark.parametrize("role", list(Role))
def test_a_menu_offers_only_commands_the_role_may_use(role: Role) -> None:
    """Whatever a menu shows, using it is allowed: a menu entry is never a refusal waiting to happen. And the case
    commands each role is meant to reach from its menu are there: residents write and follow their letters,
    representatives report requests and follow their areas' cases, staff follow the cases they are entitled to."""
    standing = policy.typical(role)
    shown = {name for name, _ in menu(role, "zh-CN")}
    for name in shown:
        assert policy.may(standing, BY_NAME[name].action), (role, name)
    meant = {
        "request": standing.is_representative,
        "cases": standing.is_representative or standing.is_staff,
        "mailbox": role is Role.RESIDENT,
        "mycases": role is Role.RESIDENT,
    }
    assert {name for name, wanted in meant.items() if wanted} <= shown, role
    assert not {name for name, wanted in meant.items() if not wanted} & shown, role
    # Out of the menu is not out of reach: everyone may still write a letter and follow their own.
    assert policy.may(standing, BY_NAME["mailbox"].action) and policy.may(standing, BY_NAME["mycases"].action)


def test_the_case_commands_and_their_words() -> None:
    for typed, name, arguments in (
        ("诉求", "request", ""),
        ("反映诉求", "request", ""),
        ("办件", "cases", ""),
        ("案件 LX-2026-000123", "cases", "LX-2026-000123"),
        ("/cases@lianxin_demo_bot 123", "cases", "123"),
        ("写信", "mailbox", ""),
        ("信箱", "mailbox", ""),
        ("Write", "mailbox", ""),
        ("我的诉求 123", "mycases", "123"),
        ("我的来信", "mycases", ""),
    ):
        parsed = parse(typed)
        assert parsed is not None and parsed.command is BY_NAME[name], typed
        assert parsed.arguments == arguments, typed
    for name, action in (
        ("request", policy.Action.REPORT_CASE),
        ("cases", policy.Action.CASE_QUEUE),
        ("mailbox", policy.Action.WRITE_MAILBOX),
        ("mycases", policy.Action.MY_CASES),
    ):
        assert BY_NAME[name].action is action and BY_NAME[name].flow == name, name
