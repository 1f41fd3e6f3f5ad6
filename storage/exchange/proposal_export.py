"""The proposals as a spreadsheet for the liaison office: one row per proposal drafted in a period, with its
author, co-signers, review, department, answers and evaluation.

A proposal's title, body and answer are a representative's and a department's public work, not residents'
personal data, and are exported whole; representatives are named with their roster codes; no phone is ever read
here. Each export is recorded in the audit log.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import InvalidInput
from storage.exchange.case_figures import local_bounds
from storage.exchange.spreadsheets import SUFFIXES, write_table
from storage.models import Proposal, ProposalSigner, Representative
from storage.records import proposals
from storage.settings import Settings

# The export's columns are a file format that other tools read: they stay fixed, in Chinese.
PROPOSAL_HEADERS = [
    "提案编号",
    "类别",
    "标题",
    "状态",
    "提案人编号",
    "提案人",
    "联名代表",
    "起草日期",
    "提交日期",
    "审查日期",
    "不予确立理由",
    "并入提案",
    "承办单位",
    "答复期限",
    "期限待定",
    "答复次数",
    "答复日期",
    "评价",
    "评价意见",
    "办结日期",
    "正文",
    "答复",
]
STATES = {
    "signing": "征集联名中",
    "submitted": "待审查",
    "established": "已确立",
    "not_established": "不予确立",
    "merged": "已合并",
    "assigned": "已交办",
    "answered": "已答复",
    "closed": "已办结",
    "withdrawn": "已撤回",
}
EVALUATIONS = {"satisfied": "满意", "basic": "基本满意", "dissatisfied": "不满意"}


async def proposal_table(session: AsyncSession, *, start: date, end: date, settings: Settings) -> list[list[str]]:
    """The proposals drafted from `start` to `end` (local dates, inclusive) as the export's lines, the header
    first; co-signers are those who accepted. Only reads."""
    begins, ends = local_bounds(start, end, settings)
    target = aliased(Proposal)
    found = (
        await session.exec(
            select(Proposal, Representative, col(target.number))
            .join(Representative, col(Representative.id) == Proposal.author_id)
            .outerjoin(target, col(target.id) == Proposal.merged_into)
            .where(col(Proposal.created_at) >= begins, col(Proposal.created_at) < ends)
            .order_by(col(Proposal.created_at), col(Proposal.id))
        )
    ).all()
    ids = [proposal.id for proposal, _, _ in found]
    signed: dict[int, list[str]] = {}
    if ids:
        links = await session.exec(
            select(ProposalSigner.proposal_id, Representative.name, Representative.code)
            .join(Representative, col(Representative.id) == ProposalSigner.representative_id)
            .where(col(ProposalSigner.proposal_id).in_(ids), ProposalSigner.status == proposals.ACCEPTED)
            .order_by(col(ProposalSigner.proposal_id), col(Representative.code))
        )
        for proposal_id, name, code in links.all():
            signed.setdefault(proposal_id, []).append(f"{name}（{code}）")
    zone = settings.zone

    def day(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).date().isoformat()

    lines = [PROPOSAL_HEADERS]
    for proposal, author, merged_into in found:
        kind = settings.proposals.kind(proposal.kind)
        lines.append(
            [
                proposal.number,
                kind.zh if kind else proposal.kind,
                proposal.title,
                STATES.get(proposal.state, proposal.state),
                author.code,
                author.name,
                "、".join(signed.get(proposal.id or 0, [])),
                day(proposal.created_at),
                day(proposal.submitted_at),
                day(proposal.reviewed_at),
                proposal.reason,
                merged_into or "",
                proposal.department,
                proposal.due_on.isoformat() if proposal.due_on else "",
                "是" if proposal.due_provisional else "否",
                str(proposal.answers),
                day(proposal.answered_at),
                EVALUATIONS.get(proposal.evaluation, proposal.evaluation),
                proposal.evaluation_note,
                day(proposal.closed_at),
                proposal.body,
                proposal.answer,
            ]
        )
    return lines


def write_proposals(path: Path, lines: list[list[str]]) -> None:
    """Write `proposal_table`'s lines to a .csv or .xlsx file (whole, or not at all)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("cli.bad_suffix", path=path.name)
    try:
        write_table(path, lines, sheet_title="提案")
    except OSError as error:
        raise InvalidInput("cli.unwritable", path=path.name) from error


def record_proposal_export(session: AsyncSession, *, actor: str, count: int, start: date, end: date) -> None:
    """The export's audit row."""
    audit.record(
        session,
        actor=actor,
        action="proposal.export",
        entity="proposal",
        count=count,
        start=start.isoformat(),
        end=end.isoformat(),
    )
