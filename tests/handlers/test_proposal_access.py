"""Who may do what with proposals, cell by cell: every role against /proposal, /proposals and each step of a
proposal, on their own and on another's. Each cell is one conversation through the console and asserts the words
the person reads (a refusal says why, in words that fit them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.console import CHANNEL
from handlers.proposals import render
from storage.db import Database
from storage.models import Proposal
from storage.records import cases, people, proposals
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.factories import NOW, Chat, District, build_district, chat_as

WHO = {
    "resident": "resident:amy",
    "author": "representative:D001",
    "cosigner": "representative:D002",
    "stranger": "representative:T001",
    "department": "department:B01",
    "liaison_office": "liaison:O01",
    "staff_leader": "leader:L01",
}
BODY = "幸福路与和平街交叉口早晚高峰拥堵严重，学生上学放学穿行危险，建议增设信号灯并在路口两侧划设人行横道。"
NOT_YOURS = "这件提案不是您的，或不需要您办理。"
STEP_GONE = "这一步现在已经不能办理了"


@dataclass(frozen=True)
class Cell:
    who: str
    script: tuple[str, ...]  # what they send; the last answer is checked
    expected: str
    absent: str = ""


async def build(db: Database, settings: Settings, state: str) -> dict[str, Chat]:
    """Everyone's chat, and proposal TA-2026-0001 by D001 co-signed by D002, brought to `state` (signing: not yet
    submitted; submitted, assigned to 区住建局, or answered)."""
    chats = {name: await chat_as(db, settings, who) for name, who in WHO.items()}
    calendar = calendar_of(settings)

    async def by(who: str, step: str, **arguments: Any) -> Proposal:
        async with db.transaction() as session:
            identity = await people.identity_for(session, channel=CHANNEL, external_id=WHO[who])
            actor = cases.Actor(await people.standing_of(session, identity=identity), identity)
            function = getattr(proposals, step)
            result: Proposal = await function(
                session, who=actor, settings=settings, now=NOW, render=render, **arguments
            )
            return result

    async with db.read() as session:
        cosigner = await people.representative_by_code(session, code="D002")
    assert cosigner.id is not None
    draft = proposals.Draft(kind="proposal", title="幸福路口增设信号灯", body=BODY, cosigners=(cosigner.id,))
    proposal = await by("author", "file", draft=draft)
    await by("cosigner", "cosign", proposal_id=proposal.id, accept=True)
    if state != "signing":
        await by("author", "submit", proposal_id=proposal.id)
    if state in ("assigned", "answered"):
        await by("liaison_office", "establish", proposal_id=proposal.id)
        await by("liaison_office", "assign", proposal_id=proposal.id, department="区住建局", calendar=calendar)
    if state == "answered":
        await by("department", "answer", proposal_id=proposal.id, text="已增设信号灯", attachment=None)
    return chats


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


COMMANDS = [
    Cell("author", ("/proposal",), "要写哪一类？"),
    Cell("stranger", ("提案",), "要写哪一类？"),
    Cell("resident", ("/proposal",), "这项功能只对党代表开放。如果您是党代表"),
    Cell("department", ("/proposal",), "这项功能只对党代表开放。"),
    Cell("liaison_office", ("/proposal",), "这项功能只对党代表开放。"),
    Cell("staff_leader", ("/proposal",), "这项功能只对党代表开放。"),
    Cell("resident", ("/proposals",), "这项功能只对党代表开放。如果您是党代表"),
    Cell("author", ("/proposals",), "TA-2026-0001"),
    Cell("cosigner", ("我的提案",), "TA-2026-0001"),
    Cell("stranger", ("/proposals",), "现在没有您可以查看的提案"),
    Cell("liaison_office", ("/proposals",), "已提交，待审查"),
    Cell("staff_leader", ("/proposals",), "TA-2026-0001"),
    Cell("department", ("/proposals",), "现在没有您可以查看的提案"),  # nothing assigned to it yet
]

SUBMITTED = [
    # Only the liaison office reviews: the others see no review step, and a typed one is refused.
    Cell("liaison_office", ("/proposals TA-2026-0001",), "1. 确立"),
    Cell("author", ("/proposals TA-2026-0001",), "2. 撤回", absent="确立"),
    Cell("author", ("/proposals TA-2026-0001 establish",), STEP_GONE),
    Cell("staff_leader", ("/proposals TA-2026-0001",), "现在没有您可以办理的操作", absent="确立"),
    Cell("staff_leader", ("/proposals TA-2026-0001 refuse",), STEP_GONE),
    Cell("cosigner", ("/proposals TA-2026-0001",), "现在没有您可以办理的操作", absent="撤回"),
    Cell("stranger", ("/proposals TA-2026-0001",), NOT_YOURS),
    Cell("stranger", ("/proposals TA-2026-0001 cosign",), NOT_YOURS),
    Cell("department", ("/proposals TA-2026-0001",), NOT_YOURS),
    Cell("resident", ("/proposals TA-2026-0001",), "这项功能只对党代表开放。如果您是党代表"),
]

ASSIGNED = [
    Cell("department", ("/proposals TA-2026-0001",), "2. 答复"),
    Cell("author", ("/proposals TA-2026-0001 evaluate",), STEP_GONE),
    Cell("liaison_office", ("/proposals TA-2026-0001",), "现在没有您可以办理的操作", absent=". 答复"),
    Cell("staff_leader", ("/proposals TA-2026-0001",), "承办单位：区住建局"),
]

ANSWERED = [
    # Only the author evaluates.
    Cell("author", ("/proposals TA-2026-0001",), "1. 评价答复"),
    Cell("cosigner", ("/proposals TA-2026-0001 evaluate",), STEP_GONE),
    Cell("department", ("/proposals TA-2026-0001 evaluate",), STEP_GONE),
    Cell("liaison_office", ("/proposals TA-2026-0001",), "现在没有您可以办理的操作", absent="评价答复"),
]


async def check(chats: dict[str, Chat], cell: Cell) -> None:
    chat = chats[cell.who]
    answer = ""
    for line in cell.script:
        answer = await chat.send(line)
    assert cell.expected in answer, f"{cell.who} {cell.script}: expected {cell.expected!r} in:\n{answer}"
    if cell.absent:
        assert cell.absent not in answer, f"{cell.who} {cell.script}: {cell.absent!r} must not be in:\n{answer}"


@pytest.mark.parametrize("cell", COMMANDS, ids=lambda cell: f"{cell.who}-{cell.script[0]}")
async def test_commands(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    await check(await build(db, settings, "submitted"), cell)


@pytest.mark.parametrize("cell", SUBMITTED, ids=lambda cell: f"{cell.who}-{cell.script[0]}")
async def test_a_submitted_proposal(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    await check(await build(db, settings, "submitted"), cell)


@pytest.mark.parametrize("cell", ASSIGNED, ids=lambda cell: f"{cell.who}-{cell.script[0]}")
async def test_an_assigned_proposal(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    await check(await build(db, settings, "assigned"), cell)


@pytest.mark.parametrize("cell", ANSWERED, ids=lambda cell: f"{cell.who}-{cell.script[0]}")
async def test_an_answered_proposal(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    await check(await build(db, settings, "answered"), cell)


# A draft still collecting co-signers is its author's and its co-signers' alone: not yet the office's or leaders'.
DRAFT = [
    Cell("author", ("/proposals TA-2026-0001",), "幸福路口增设信号灯"),
    Cell("cosigner", ("/proposals TA-2026-0001",), "幸福路口增设信号灯"),
    Cell("stranger", ("/proposals TA-2026-0001",), NOT_YOURS, absent="幸福路口增设信号灯"),
    Cell("liaison_office", ("/proposals TA-2026-0001",), NOT_YOURS, absent="幸福路口增设信号灯"),
    Cell("staff_leader", ("/proposals TA-2026-0001",), NOT_YOURS, absent="幸福路口增设信号灯"),
    Cell("department", ("/proposals TA-2026-0001",), NOT_YOURS, absent="幸福路口增设信号灯"),
]


@pytest.mark.parametrize("cell", DRAFT, ids=lambda cell: f"{cell.who}-{cell.script[0]}")
async def test_a_draft(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    await check(await build(db, settings, "signing"), cell)
