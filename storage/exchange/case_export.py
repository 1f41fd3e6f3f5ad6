"""The cases as a spreadsheet for the liaison office: one row per case, its writer's name and phone masked.

The texts are included: they are the residents' own words and personal data too, but handling them is what the
export is for. Names and phones are masked (王**, 138****5678) unless the liaison office asks for them as stored,
which the audit log records. An anonymous case has no name or phone to show, and who wrote it is never read here:
CaseRelay is not touched.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import InvalidInput
from storage.exchange.case_figures import local_bounds
from storage.exchange.spreadsheets import SUFFIXES, write_table
from storage.models import Area, Case, Representative, Station
from storage.records.households import mask_phone
from storage.settings import Settings

# The export's columns are a file format that other tools read: they stay fixed, in Chinese.
CASE_HEADERS = [
    "诉求编号",
    "登记日期",
    "来源",
    "类别",
    "时限类别",
    "状态",
    "责任区",
    "工作站",
    "承办单位",
    "承办代表",
    "办理期限",
    "期限待定",
    "答复日期",
    "是否解决",
    "评价",
    "评价理由",
    "重办次数",
    "匿名",
    "姓名",
    "电话",
    "诉求内容",
]
SOURCES = {"mailbox": "信箱来信", "card": "联系卡来信", "report": "代表反映", "reception": "接待日记录"}
TIME_LIMITS = {"emergency": "紧急", "consultation": "咨询", "help": "求助", "complaint": "投诉"}
STATES = {
    "registered": "已登记",
    "sorted": "已分拣",
    "assigned": "已交办",
    "in_progress": "办理中",
    "answered": "已答复",
    "closed": "已办结",
    "withdrawn": "已撤回",
}
RATINGS = {"satisfied": "满意", "basic": "基本满意", "dissatisfied": "不满意"}


def mask_name(name: str) -> str:
    """王建国 -> 王**: the first character, then one * for each further one."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


async def case_table(
    session: AsyncSession, *, start: date, end: date, settings: Settings, unmasked: bool = False
) -> list[list[str]]:
    """The cases registered from `start` to `end` (local dates, inclusive) as the export's lines, the header first.
    Only reads; `unmasked` gives names and phones as stored (the caller records that in the audit log)."""
    begins, ends = local_bounds(start, end, settings)
    keeper = aliased(Representative)
    rows = (
        await session.exec(
            select(Case, col(Area.name), col(Station.name), col(keeper.code))
            .outerjoin(Area, col(Area.id) == Case.area_id)
            .outerjoin(Station, col(Station.id) == Area.station_id)
            .outerjoin(keeper, col(keeper.id) == Case.kept_by)
            .where(col(Case.registered_at) >= begins, col(Case.registered_at) < ends)
            .order_by(col(Case.registered_at), col(Case.id))
        )
    ).all()
    zone = settings.zone
    lines = [CASE_HEADERS]
    for case, area, station, kept_by in rows:
        category = settings.cases.category(case.category)
        # An anonymous case stores no name or phone; should one ever be there, it is not shown either.
        name = "" if case.anonymous else (case.name.strip() if unmasked else mask_name(case.name))
        phone = "" if case.anonymous else (case.phone.strip() if unmasked else mask_phone(case.phone))
        lines.append(
            [
                case.number,
                case.registered_at.astimezone(zone).date().isoformat(),
                SOURCES.get(case.source, case.source),
                category.zh if category else case.category,
                TIME_LIMITS.get(case.time_limit, case.time_limit),
                STATES.get(case.state, case.state),
                area or "",
                station or "",
                case.department,
                kept_by or "",
                case.due_on.isoformat(),
                "是" if case.due_provisional else "否",
                "" if case.answered_at is None else case.answered_at.astimezone(zone).date().isoformat(),
                _yes_no(case.resolved),
                RATINGS.get(case.rating, case.rating),
                case.rating_reason,
                str(case.reopened),
                "是" if case.anonymous else "否",
                name,
                phone,
                case.text,
            ]
        )
    return lines


def write_cases(path: Path, lines: list[list[str]]) -> None:
    """Write `case_table`'s lines to a .csv or .xlsx file (whole, or not at all)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("cli.bad_suffix", path=path.name)
    try:
        write_table(path, lines, sheet_title="诉求")
    except OSError as error:
        raise InvalidInput("cli.unwritable", path=path.name) from error


def record_case_export(
    session: AsyncSession, *, actor: str, count: int, start: date, end: date, unmasked: bool, asked_by: str = ""
) -> None:
    """The export's audit row. Unmasked, it is `case.export_unmasked`, with the login of who asked for it."""
    period = {"start": start.isoformat(), "end": end.isoformat()}
    if unmasked:
        audit.record(
            session,
            actor=actor,
            action="case.export_unmasked",
            entity="case",
            entity_id="",
            count=count,
            asked_by=asked_by,
            **period,
        )
    else:
        audit.record(session, actor=actor, action="case.export", entity="case", count=count, **period)
