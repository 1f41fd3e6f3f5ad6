"""Who may do what with briefings and opinion requests, cell by cell through the console channel: only the liaison
office and leaders send; representatives read and answer what was sent to them (and only that); only the sender
sees who has (not) read or answered, reminds, and reads the summary."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from storage.db import Database
from storage.models import Representative
from storage.settings import Settings
from tests.factories import District, build_district, chat_as

SENDERS_ONLY = "只有联络办公室和领导可以发送通报和征求意见。"
NOT_SENDER = "只有发送人可以查看谁已阅读、谁已答复。"
RESIDENTS_REFUSED = "这项功能只对党代表开放。如果您是党代表"
STAFF_REFUSED = "这项功能只对党代表开放。"
LAPSED = "名册显示您已不在任"


@dataclass(frozen=True)
class Cell:
    who: str
    typed: str
    expected: str
    absent: str = ""


CELLS = [
    # Sending: the office and leaders.
    *(Cell(who, "/briefing", SENDERS_ONLY) for who in ("resident:amy", "representative:D001", "department:B01")),
    *(Cell(who, "/opinion", SENDERS_ONLY) for who in ("resident:amy", "representative:D001", "department:B01")),
    Cell("representative:D009", "/briefing", LAPSED),
    *(Cell(who, "/briefing", "发给哪些党代表？") for who in ("liaison:O01", "leader:L01")),
    *(Cell(who, "/opinion", "发给哪些党代表？") for who in ("liaison:O01", "leader:L01")),
    # The lists: representatives see what was sent to them; senders what they sent.
    Cell("resident:amy", "/briefings", RESIDENTS_REFUSED),
    Cell("department:B01", "/briefings", STAFF_REFUSED),
    Cell("representative:D009", "/briefings", LAPSED),
    Cell("representative:D001", "/briefings", "📢 🔴 第1号 述职通报"),
    Cell("representative:T001", "/briefings", "您还没有收到党内情况通报或征求意见。"),
    Cell("liaison:O01", "/briefings", "📢 第1号 述职通报（2026-11-25）已阅 0/2"),
    Cell("leader:L01", "/briefings", "您还没有发送过通报或征求意见。"),
    # One briefing: its recipients read it; its sender alone sees who has not.
    Cell("representative:D001", "/briefings 1", "1. ✅ 已阅", absent="还没有确认阅读的"),
    Cell("representative:T001", "/briefings 1", "没有找到第1号通报。"),
    Cell("representative:T001", "/briefings 1 read", "没有找到第1号通报。"),
    Cell("liaison:O01", "/briefings 1", "还没有确认阅读的（2位）：王建国（D001）、李红梅（D002）"),
    Cell("leader:L01", "/briefings 1", NOT_SENDER, absent="王建国"),
    Cell("leader:L01", "/briefings 1 remind", NOT_SENDER),
    Cell("liaison:O01", "/briefings 1 read", "还没有确认阅读的"),  # a sender does not read: they follow
    # Answering: representatives asked; the summary: the sender.
    Cell("resident:amy", "/opinions", RESIDENTS_REFUSED),
    Cell("liaison:O01", "/opinions", STAFF_REFUSED),
    Cell("representative:D001", "/opinions", "📝 🔴 第1号征求意见 社区食堂方案"),
    Cell("representative:D001", "/opinions 1", "问题 1/1：您赞成吗？"),
    Cell("representative:T001", "/opinions 1", "没有找到第1号征求意见。"),
    Cell("liaison:O01", "/opinion 1", "已答复 0/2"),
    Cell("leader:L01", "/opinion 1", NOT_SENDER, absent="0/2"),
    Cell("representative:D001", "/opinion 1", SENDERS_ONLY),
]


@pytest.fixture
async def district(db: Database, settings: Settings) -> District:
    """A briefing (no. 1) and an opinion request (no. 1), both by O01 to the district level (D001, D002); D009 left
    office with their chat still bound."""
    district = await build_district(db)
    async with db.transaction() as session:
        session.add(Representative(code="D009", name="赵退休", level="district", active=False))
    office = await chat_as(db, settings, "liaison:O01")
    await office.talk(
        [
            ("/briefing", "发给哪些党代表？"),
            ("区级党代表", "标题"),
            ("述职通报", "正文"),
            ("请准备述职。", "文件"),
            ("不附文件", "2位党代表"),
            ("保存", "✅ 第1号通报"),
            ("/opinion", "发给哪些党代表？"),
            ("区级党代表", "标题"),
            ("社区食堂方案", "内容"),
            ("方案见正文。", "文件"),
            ("不附文件", "第1个问题"),
            ("您赞成吗？", "选项"),
            ("赞成、不赞成", "问题已添加完"),
            ("问题已添加完", "截止日期"),
            ("7", "2位党代表"),
            ("保存", "✅ 第1号征求意见"),
        ]
    )
    return district


@pytest.mark.parametrize("cell", CELLS, ids=[f"{cell.who}-{cell.typed}" for cell in CELLS])
async def test_cell(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    chat = await chat_as(db, settings, cell.who)
    answer = await chat.send(cell.typed)
    assert cell.expected in answer
    if cell.absent:
        assert cell.absent not in answer
