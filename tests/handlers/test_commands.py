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

    assert names(Role.REPRESENTATIVE) == ["visit", "request", "cases", "progress", "help", "lang", "cancel"]
    assert names(Role.RESIDENT) == ["mailbox", "mycases", "start", "help", "lang", "cancel"]
    assert names(Role.LIAISON) == names(Role.LEADER) == ["cases", "progress", "help", "lang", "cancel"]
    assert names(Role.DEPARTMENT) == ["cases", "help", "lang", "cancel"]
    for language in LANGUAGES:
        for role in Role:
            assert all(description and len(description) <= 256 for _, description in menu(role, language))
