"""Message catalogs: every key in every language, matching placeholders, and every key the code uses exists."""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import handlers.i18n as i18n
from handlers.activity import EDITABLE as ACTIVITY_EDITABLE
from handlers.activity import ActivityFlow
from handlers.briefings import BriefingFlow, BriefingsFlow
from handlers.case_intake import MailboxFlow, RequestFlow
from handlers.cases import CasesFlow, MyCasesFlow
from handlers.commands import COMMANDS
from handlers.commitments import CommitmentsFlow
from handlers.dialogs import ConfirmStep, Flow
from handlers.events import Ask, InputKind
from handlers.opinions import OpinionFlow, OpinionsFlow
from handlers.programme_events import ADD_EDITABLE, EventAddFlow, EventsFlow
from handlers.proposals import ProposalFlow, ProposalsFlow
from handlers.reception import NoteFlow, ReceptionFlow
from handlers.reception_office import RotaDayFlow, RotaFlow
from handlers.visit import EDITABLE, VisitFlow
from storage.delivery import outbox
from storage.exchange.digest_figures import PROPOSAL_STATES
from storage.policy import Role
from storage.records import cases, commitments, events, proposals, schedule

ROLE_KEYS = [role.value for role in Role] + ["lapsed"]  # handlers.commands.role_key

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bot", "handlers", "storage", "scheduler")
LANGUAGES = i18n.languages()

# Callables whose first text argument (or `key=`) is a catalog key; the key may follow one other argument,
# as in t(language, key), setup.say(key), problem(column, key), RowProblem(row, column, key, params).
KEY_TAKERS = frozenset(
    {
        "t", "both", "say", "fail", "problem",
        "LianxinError", "InvalidInput", "NotFound", "NotAllowed", "Conflict", "StoreError", "RowProblem",
    }
)  # fmt: skip


def all_keys() -> set[str]:
    return {key for language in LANGUAGES for key in i18n.catalog(language)}


def texts(node: ast.expr) -> Iterator[str]:
    """The plain string literals an argument can evaluate to (through `a if c else b`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from texts(node.body)
        yield from texts(node.orelse)


def callee(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def looks_like_key(text: str) -> bool:
    parts = text.split(".")
    return len(parts) >= 2 and all(part and part.replace("_", "").isalnum() and part.isascii() for part in parts)


def used_keys(root: Path = ROOT) -> dict[str, list[str]]:
    """Every literal key the code passes to a message function or an error, with where it is used."""
    found: dict[str, list[str]] = {}
    for package in SCANNED:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                candidates: list[ast.expr] = []
                if isinstance(node, ast.Call) and callee(node) in KEY_TAKERS:
                    candidates.extend(node.args[:3])
                    candidates.extend(keyword.value for keyword in node.keywords if keyword.arg == "key")
                elif isinstance(node, ast.Assign) and any(
                    isinstance(target, ast.Name) and target.id == "key" for target in node.targets
                ):
                    candidates.append(node.value)  # key = "invite.welcome" if ... else "invite.welcome_staff"
                for candidate in candidates:
                    for text in texts(candidate):
                        if looks_like_key(text):
                            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
                            found.setdefault(text, []).append(where)
    return found


def expanded_keys() -> list[str]:
    """Keys the code builds with f-strings, expanded from the values those f-strings can take."""
    keys = [f"kind.{kind}" for kind in typing.get_args(InputKind)]
    keys += [f"flow.{VisitFlow.name}"]
    keys += [f"start.{role}" for role in ROLE_KEYS]
    keys += [f"help.{role}.{size}" for role in ROLE_KEYS for size in ("intro", "hint")]
    keys += [f"command.{command.name}.help" for command in COMMANDS]
    keys += [f"command.{command.name}.menu" for command in COMMANDS if command.menu is not None]
    keys += [f"flow.{command.flow}" for command in COMMANDS if command.flow is not None]
    keys += [f"{VisitFlow.name}.help.{step.key}" for step in VisitFlow.steps]
    keys += [f"visit.edit.{step.key}" for step in EDITABLE]
    keys += [f"visit.half.{half}" for half in ("H1", "H2")]
    case_flows: list[Flow] = [MailboxFlow(), RequestFlow(), CasesFlow(), MyCasesFlow()]
    keys += [f"flow.{flow.name}" for flow in case_flows]
    keys += [f"{flow.name}.help.{step.key}" for flow in case_flows for step in flow.steps]
    keys += [
        f"{step.flow}.edit.{key}"
        for flow in case_flows
        for step in flow.steps
        if isinstance(step, ConfirmStep)
        for key in step.editable
    ]
    keys += [f"digest.proposal_state.{state}" for state in PROPOSAL_STATES]
    keys += [f"digest.event_kind.{kind}" for kind in ("training", "collective", "round")]
    # proposals
    proposal_flows: list[Flow] = [ProposalFlow(), ProposalsFlow()]
    keys += [f"flow.{flow.name}" for flow in proposal_flows]
    keys += [f"{flow.name}.help.{step.key}" for flow in proposal_flows for step in flow.steps]
    keys += [
        f"{step.flow}.edit.{key}"
        for step in ProposalFlow.steps
        if isinstance(step, ConfirmStep)
        for key in step.editable
    ]
    keys += [f"proposal.state.{state}" for state in proposals.STATES]
    keys += [f"proposal.evaluation.{evaluation}" for evaluation in proposals.EVALUATIONS]
    keys += [f"proposal.signer.{status}" for status in ("invited", "accepted", "declined")]
    keys += [f"proposal.event.{action}" for action in proposals.EVENTS]
    keys += [f"proposal.{kind}.{step}" for kind in ("button", "done") for step in proposals.ALLOWED]
    keys += [f"proposal.ask.note_{step}" for step in ("progress", "answer")]
    # briefings and opinion requests
    briefing_flows: list[Flow] = [BriefingFlow(), BriefingsFlow(), OpinionFlow(), OpinionsFlow()]
    keys += [f"flow.{flow.name}" for flow in briefing_flows]
    keys += [f"{flow.name}.help.{step.key}" for flow in briefing_flows for step in flow.steps]
    keys += [
        f"{step.flow}.edit.{key}"
        for flow in briefing_flows
        for step in flow.steps
        if isinstance(step, ConfirmStep)
        for key in step.editable
    ]
    keys += [f"{flow}.ask.{step}" for flow in ("briefing", "opinion") for step in ("title", "body", "file", "confirm")]
    keys += [f"briefing.line.opinion_{state}" for state in ("open", "answered", "closed")]
    keys += [f"schedule.reason.{code}" for code in ("everyone_read", "everyone_answered", "summary_sent")]
    # activities, events, commitments
    activity_flows: list[Flow] = [ActivityFlow(), EventsFlow(), EventAddFlow(), CommitmentsFlow()]
    keys += [f"flow.{flow.name}" for flow in activity_flows]
    keys += [f"{flow.name}.help.{step.key}" for flow in activity_flows for step in flow.steps]
    keys += [f"activity.edit.{step.key}" for step in ACTIVITY_EDITABLE]
    keys += [f"event_add.edit.{step.key}" for step in ADD_EDITABLE]
    keys += [f"event.kind.{kind}" for kind in events.KINDS]
    keys += [f"event.answer.{answer}" for answer in (events.PENDING, events.ATTEND)]
    keys += [f"commitment.status.{status}" for status in commitments.STATUSES]
    keys += [f"case.state.{state}" for state in cases.STATES]
    keys += [f"case.rating.{rating}" for rating in cases.RATINGS]
    keys += [f"case.{kind}.{step}" for kind in ("button", "done") for step in cases.ALLOWED]
    keys += [f"case.ask.note_{step}" for step in ("progress", "answer", "add")]
    keys += [f"case.ask.reason_{step}" for step in ("extend", "return", "rate")]
    keys += [f"case.event.{action}" for action in cases.EVENTS]
    keys += [f"mailbox.level.{level}" for level in ("district", "township")]
    keys += [f"console.ask_{ask}" for ask in typing.get_args(Ask)]
    keys += [f"roster.error.{column}" for column in ("level", "group_role", "active")]  # roster.choice()
    reception_flows: list[Flow] = [ReceptionFlow(), NoteFlow(), RotaFlow(), RotaDayFlow()]
    keys += [f"flow.{flow.name}" for flow in reception_flows]
    keys += [f"{flow.name}.help.{step.key}" for flow in reception_flows for step in flow.steps]
    keys += [f"console.sent_{kind}" for kind in outbox.FILE_KINDS]
    keys += [f"cli.schedule.state.{state}" for state in schedule.STATES]
    # the notice channel (handlers/notice_channel.py)
    keys += [f"notices_channel.name.{channel}" for channel in ("telegram", "wechat", "console")]
    keys += [f"notices_channel.why.{why}" for why in ("chosen", "last_used")]
    keys += [f"notices_channel.{mark}" for mark in ("here", "receiving", "blocked")]
    return keys


def test_there_are_two_languages_chinese_first() -> None:
    assert set(LANGUAGES) == {"zh-CN", "en"}
    assert i18n.FALLBACK == "zh-CN"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_every_language(language: str) -> None:
    missing = sorted(all_keys() - set(i18n.catalog(language)))
    assert not missing, f"{language} lacks {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_empty_messages(language: str) -> None:
    empty = sorted(key for key, text in i18n.catalog(language).items() if not text.strip())
    assert not empty


def test_placeholders_match_across_languages() -> None:
    mismatched = {}
    for key in sorted(all_keys()):
        names = {language: i18n.placeholders(i18n.catalog(language).get(key, "")) for language in LANGUAGES}
        if len({frozenset(found) for found in names.values()}) > 1:
            mismatched[key] = names
    assert not mismatched


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_formats_with_its_own_placeholders(language: str) -> None:
    """A stray brace ({ without a name, {0}, {name!x}) would only fail when the message is first shown."""
    for key, text in i18n.catalog(language).items():
        params = {name: "x" for name in i18n.placeholders(text)}
        assert isinstance(text.format(**params), str), key


def test_scanner_finds_the_keys_used_in_code() -> None:
    """Guards the scan itself: if these are not found, the test below would pass while checking nothing."""
    used = used_keys()
    for key in (
        "error.store",  # StoreError("error.store") in storage/db.py
        "invite.used",  # Conflict(...) in storage/records/people.py
        "invite.welcome_staff",  # key = ... if ... else ... in handlers/commands.py
        "progress.round_done",  # t("a" if done else "b")
        "roster.error.required",  # problem(name, key) in storage/exchange/roster.py
        "roster.error.duplicate_column",  # RowProblem(row, column, key, params)
        "cli.demo.ready",  # setup.say(...)
        "cli.group.app",  # both(...)
        "console.intro",  # t(self.language, key)
    ):
        assert key in used, key
    assert len(used) > 100
    assert "invite.redeem" not in used  # audit actions (action=...) are not messages


def test_scanner_reads_each_call_form(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "sample.py").write_text(
        "raise Conflict('invite.a')\n"
        "ctx.t('visit.b', name=1)\n"
        "t(language, 'visit.c')\n"
        "InvalidInput(key='input.d')\n"
        "problem(name, 'roster.error.e', value=1)\n"
        "key = 'dialog.f' if busy else 'dialog.g'\n"
        "audit.record(session, action='invite.redeem')\n"
        "Field(foreign_key='station.id')\n"
        "t(f'kind.{kind}')\n"
        "print('not.a.call.we.read')\n",
        encoding="utf-8",
    )
    found = used_keys(tmp_path)
    assert set(found) == {"invite.a", "visit.b", "visit.c", "input.d", "roster.error.e", "dialog.f", "dialog.g"}
    assert found["visit.c"] == ["storage/sample.py:3"]


def test_every_key_used_in_code_exists() -> None:
    known = set(i18n.catalog(i18n.FALLBACK))
    missing = {key: places for key, places in used_keys().items() if key not in known}
    assert not missing


@pytest.mark.parametrize("key", expanded_keys())
def test_every_built_key_exists(key: str) -> None:
    for language in LANGUAGES:
        assert key in i18n.catalog(language), f"{language} lacks {key}"


@pytest.mark.parametrize(
    ("language", "key", "params", "expected"),
    [
        ("zh-CN", "invite.welcome", {"name": "王建国"}, "绑定成功！欢迎您，王建国代表。"),
        ("en", "button.save", {}, "Save"),
        ("fr", "button.save", {}, "保存"),  # no French catalog: Chinese
        ("", "button.save", {}, "保存"),
        ("en", "no.such.key", {}, "no.such.key"),  # an unknown key shows itself rather than crashing
    ],
)
def test_t(language: str, key: str, params: dict[str, str], expected: str) -> None:
    assert i18n.t(language, key, **params) == expected


def test_both_gives_chinese_then_english() -> None:
    assert i18n.both("button.save") == "保存\n\nSave"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("no placeholders", set()),
        ("{name} and {count}", {"name", "count"}),
        ("{name:>4} {name}", {"name"}),
        ("{{literal}} {real}", {"real"}),
    ],
)
def test_placeholders(template: str, expected: set[str]) -> None:
    assert i18n.placeholders(template) == expected


@pytest.fixture
def temp_catalogs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty catalogs folder in place of the real one; the cache is cleared before and after."""
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path)
    i18n.catalog.cache_clear()
    i18n.languages.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    i18n.catalog.cache_clear()
    i18n.languages.cache_clear()


def test_duplicate_key_across_files_raises(temp_catalogs: Path) -> None:
    folder = temp_catalogs / "zh-CN"
    folder.mkdir()
    (folder / "a.toml").write_text('[invite]\nused = "已使用"\n', encoding="utf-8")
    (folder / "b.toml").write_text('invite.used = "又一次"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"'invite\.used' is defined twice"):
        i18n.catalog("zh-CN")


def test_non_text_message_raises(temp_catalogs: Path) -> None:
    folder = temp_catalogs / "en"
    folder.mkdir()
    (folder / "a.toml").write_text("[quota]\nlimit = 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'quota\.limit' must be text"):
        i18n.catalog("en")


def test_missing_language_folder_raises(temp_catalogs: Path) -> None:
    with pytest.raises(LookupError):
        i18n.catalog("zh-CN")


def test_english_falls_back_to_chinese_per_key(temp_catalogs: Path) -> None:
    for language, text in (("zh-CN", '[a]\nonly_zh = "只有中文"\nboth = "中文"\n'), ("en", '[a]\nboth = "English"\n')):
        (temp_catalogs / language).mkdir()
        (temp_catalogs / language / "a.toml").write_text(text, encoding="utf-8")
    assert i18n.t("en", "a.both") == "English"
    assert i18n.t("en", "a.only_zh") == "只有中文"


def test_real_catalogs_are_back_after_the_temporary_ones() -> None:
    assert i18n.CATALOGS.name == "catalogs"
    assert "invite.used" in i18n.catalog("zh-CN")
