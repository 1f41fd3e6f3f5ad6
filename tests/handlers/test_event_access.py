"""Who may do what with activities, events and commitments, cell by cell: every role against every command and
answer, on an event they are invited to and on one they are not. Each cell is one conversation through the
console channel and asserts what the person reads."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Representative
from storage.settings import Settings
from tests.factories import Chat, Clock, District, build_district, chat_as
from tests.storage.records.test_events import add_event

WHO = {
    "resident": "resident:amy",
    "member": "representative:T001",
    "group_leader": "representative:D001",
    "lapsed": "representative:D009",
    "department": "department:B01",
    "liaison_office": "liaison:O01",
    "staff_leader": "leader:L01",
}
REPRESENTATIVES_ONLY = {
    "resident": "这项功能只对党代表开放。如果您是党代表",
    "lapsed": "名册显示您已不在任",
    "department": "这项功能只对党代表开放。",
    "staff_leader": "这项功能只对党代表开放。",
}
LIAISON_ONLY = "这一步由联络办公室办理。"
NOT_INVITED = "您没有受邀参加这项活动。"

# command -> role -> what they read (the allowed read the flow's first words). {event} is the district-level
# training D001 is invited to and T001 is not.
CELLS: dict[str, dict[str, str]] = {
    "/activity": {
        "member": "今年五个一",
        "group_leader": "今年五个一",
        "liaison_office": "这项功能只对党代表开放。",
        **REPRESENTATIVES_ONLY,
    },
    "/events": {
        "member": "今年已参加培训",
        "group_leader": "今年已参加培训",
        "liaison_office": "活动安排：可以安排新的",
        **REPRESENTATIVES_ONLY,
    },
    "/events add": {
        "member": LIAISON_ONLY,
        "group_leader": LIAISON_ONLY,
        "liaison_office": "安排什么活动？",
        **REPRESENTATIVES_ONLY,
    },
    "/events {event}": {
        "member": NOT_INVITED,
        "group_leader": "您的回复：未回复",
        "liaison_office": "受邀代表（2人）",
        **REPRESENTATIVES_ONLY,
    },
    "/events {event} attend": {
        "member": NOT_INVITED,
        "group_leader": "✅ 已回复参加。",
        "liaison_office": NOT_INVITED,
        **REPRESENTATIVES_ONLY,
    },
    "/events {event} cancel": {
        "member": LIAISON_ONLY,
        "group_leader": LIAISON_ONLY,
        "liaison_office": "确定取消这项活动吗？",
        **REPRESENTATIVES_ONLY,
    },
    "/commitments": {
        "member": "2026年的公开承诺",
        "group_leader": "2026年的公开承诺",
        "liaison_office": "请在“承诺”后写上党代表编号",
        "resident": "请在“承诺”后写上党代表编号",
        "lapsed": "请在“承诺”后写上党代表编号",
        "department": "请在“承诺”后写上党代表编号",
        "staff_leader": "请在“承诺”后写上党代表编号",
    },
    "/commitments D001": {role: "王建国（D001）2026年的公开承诺" for role in WHO},
    "/commitments add": {
        "member": "请写下您今年的一条承诺",
        "group_leader": "请写下您今年的一条承诺",
        "liaison_office": "这项功能只对党代表开放。",
        **REPRESENTATIVES_ONLY,
    },
}


async def set_in_office(db: Database, code: str, active: bool) -> None:
    async with db.transaction() as session:
        rep = (await session.exec(select(Representative).where(Representative.code == code))).one()
        rep.active = active
        session.add(rep)


@pytest.fixture
async def district(db: Database, settings: Settings) -> District:
    """The small district, and D009, whose chat was bound while in office and whom the roster since says left."""
    built = await build_district(db)
    async with db.transaction() as session:
        session.add(Representative(code="D009", name="赵退", level="district", group_id=built.group_id))
    await chat_as(db, settings, "representative:D009")
    await set_in_office(db, "D009", False)
    return built


@pytest.mark.parametrize(
    ("command", "role"), [(command, role) for command, cells in CELLS.items() for role in cells], ids=str
)
async def test_cell(db: Database, settings: Settings, district: District, command: str, role: str) -> None:
    event_id = await add_event(db, settings, scope="level:district")
    chat = Chat(db, settings, WHO[role], Clock()) if role == "lapsed" else await chat_as(db, settings, WHO[role])
    answer = await chat.send(command.format(event=event_id))
    assert CELLS[command][role] in answer, answer
