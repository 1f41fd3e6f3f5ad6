"""Who may do what, cell by cell: every role against every command and flow step, on their own record and on
another's. Each cell is one conversation through the console channel and asserts what the person reads."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from storage.db import Database
from storage.models import AuditEntry, ChatIdentity, DialogState, Household, RepArea, RepGroup, Representative
from storage.records import mailbox
from storage.settings import Settings
from tests.factories import NOW, District, build_district, chat_as

# Who is writing (console identities). D001 leads the group, D002 is its liaison officer, T001 a member; T009 is in
# another group; D009 is no longer in office but its chat is still bound (a roster edit made outside Lianxin).
WHO = {
    "resident": "resident:amy",
    "member": "representative:T001",
    "group_leader": "representative:D001",
    "group_liaison": "representative:D002",
    "lapsed": "representative:D009",
    "department": "department:B01",
    "liaison_office": "liaison:O01",
    "staff_leader": "leader:L01",
}
REPRESENTATIVES = ("member", "group_leader", "group_liaison")
STAFF_READERS = ("liaison_office", "staff_leader")
NOT_A_REPRESENTATIVE = {
    "resident": "这项功能只对党代表开放。如果您是党代表，请发送联络办公室给您的邀请码",
    "lapsed": "名册显示您已不在任，党代表功能已停用",
    "department": "这项功能只对党代表开放。",
    "liaison_office": "这项功能只对党代表开放。",
    "staff_leader": "这项功能只对党代表开放。",
}


@dataclass(frozen=True)
class Cell:
    who: str
    script: tuple[str, ...]  # what they send; the last answer is checked
    expected: str  # a fragment the last answer must contain
    absent: str = ""  # a fragment it must not contain


@pytest.fixture
async def district(db: Database) -> District:
    district = await build_district(db)
    async with db.transaction() as session:
        other = RepGroup(name="东山村代表小组")
        session.add(other)
        await session.flush()
        assert other.id is not None
        east = district.areas["东山村一组"]
        for code, name, active, group_id in (
            ("T009", "钱多多", True, other.id),
            ("D009", "孙退休", True, district.group_id),
        ):
            rep = Representative(code=code, name=name, level="district", group_id=group_id, active=active)
            session.add(rep)
            await session.flush()
            assert rep.id is not None
            district.representatives[code] = rep.id
            session.add(RepArea(representative_id=rep.id, area_id=east))
    return district


async def say(db: Database, settings: Settings, district: District, cell: Cell) -> str:
    chat = await chat_as(db, settings, WHO[cell.who])
    if cell.who == "lapsed":  # bound while in office, then the roster says otherwise
        async with db.transaction() as session:
            await session.exec(sa.update(Representative).where(col(Representative.code) == "D009").values(active=False))
    answer = ""
    for line in cell.script:
        answer = await chat.send(line)
    return answer


def cells() -> list[Cell]:
    table: list[Cell] = []
    everyone = list(WHO)
    # Commands everyone may use, with what each reads.
    for who in everyone:
        table.append(Cell(who, ("/help",), "/help", absent="/visit" if who not in REPRESENTATIVES else ""))
        table.append(Cell(who, ("/lang en",), "Language set to English"))
        table.append(Cell(who, ("/cancel",), "现在没有正在填写的内容，不需要取消"))
        table.append(Cell(who, ("返回",), "没有上一步可以返回"))
        table.append(Cell(who, ("/nonsense",), "不认识命令 /nonsense"))
    # /visit and its quick form: active representatives only.
    for who in everyone:
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/visit",), "走访哪一户"))
            table.append(Cell(who, ("走访 幸福路",), "幸福路"))
        else:
            table.append(Cell(who, ("/visit",), NOT_A_REPRESENTATIVE[who], absent="走访哪一户"))
            table.append(Cell(who, ("走访 幸福路12号",), NOT_A_REPRESENTATIVE[who], absent="陈"))
    # /progress without a code: a representative's own; the liaison office and leaders are asked whose.
    for who in everyone:
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/progress",), "2026年走访进度"))
        elif who in STAFF_READERS:
            table.append(Cell(who, ("/progress",), "请在命令后写代表编号"))
        else:
            refusal = NOT_A_REPRESENTATIVE[who] if who != "department" else "您没有使用这项功能的权限"
            table.append(Cell(who, ("/progress",), refusal, absent="走访进度"))
    # /progress CODE: own record, a group member's, another group's.
    own = {"member": "T001", "group_leader": "D001", "group_liaison": "D002"}
    for who in everyone:
        for target, whose in (("T001", "group member"), ("T009", "other group")):
            if who in STAFF_READERS:
                table.append(Cell(who, (f"/progress {target}",), f"（{target}）"))
            elif who in ("group_leader", "group_liaison") and whose == "group member":
                table.append(Cell(who, (f"/progress {target}",), f"（{target}）", absent="建议优先走访"))
            elif who in REPRESENTATIVES:
                if own[who] == target:
                    continue
                table.append(
                    Cell(who, (f"/progress {target}",), "只能查看本代表小组成员的进度", absent=f"（{target}）")
                )
            else:
                refusal = NOT_A_REPRESENTATIVE[who] if who != "department" else "您没有使用这项功能的权限"
                table.append(Cell(who, (f"/progress {target}",), refusal, absent=f"（{target}）"))
        if who in REPRESENTATIVES:
            table.append(Cell(who, (f"/progress {own[who]}",), f"（{own[who]}）"))
    # The household step, own area and another: 幸福路14号 (赵强; hardship, special hardship) lies in D001's area
    # 幸福社区二区, not in T001's (幸福社区一区) nor D002's (东山村一组).
    table.append(Cell("group_leader", ("/visit", "赵强"), "1. 幸福路14号 赵*"))  # a name finds it in own areas
    for who in ("member", "group_liaison"):
        table.append(Cell(who, ("/visit", "赵强"), "没有找到", absent="幸福路14号"))  # ... and nowhere else
        table.append(Cell(who, ("/visit", "幸福路14号"), "1. 幸福路14号（非本责任区）", absent="赵*"))  # no name
        table.append(Cell(who, ("走访 幸福路14号", "入户"), "这户不在您的责任区，可以看到的类别：无", absent="困难"))
    table.append(Cell("group_leader", ("走访 幸福路14号", "入户"), "这户的类别：困难群体、特殊困难群众"))
    # Changing a category of a household elsewhere: there is no such choice, and typing one is no answer.
    table.append(Cell("member", ("走访 幸福路14号", "入户", "青年"), "这一步需要选项，收到的是文字"))
    # Redeeming an invitation: staff accounts may not become representatives.
    for who in ("department", "liaison_office", "staff_leader"):
        table.append(Cell(who, ("/start ABCDEFGHJK",), "这个账号是工作人员账号"))
    table.append(Cell("resident", ("/start ABCDEFGHJK",), "邀请码不正确"))
    return table


CELLS = cells()


@pytest.mark.parametrize("cell", CELLS, ids=[f"{cell.who}:{'|'.join(cell.script)}" for cell in CELLS])
async def test_access(db: Database, settings: Settings, district: District, cell: Cell) -> None:
    answer = await say(db, settings, district, cell)
    assert cell.expected in answer, f"{cell.who} sent {cell.script}; expected {cell.expected!r} in:\n{answer}"
    if cell.absent:
        assert cell.absent not in answer, f"{cell.who} sent {cell.script}; {cell.absent!r} must not be in:\n{answer}"


async def test_every_role_and_command_has_a_cell() -> None:
    """Guards the table above: a role or a command left out would pass without being checked."""
    from handlers.commands import COMMANDS

    covered = {(cell.who, cell.script[0].split()[0]) for cell in CELLS}
    for who in WHO:
        for command in COMMANDS:
            if command.name in ("start",):
                continue  # /start is checked with codes for the roles whose answer differs
            spelled = {f"/{command.name}", *command.words}
            assert any((who, word) in covered for word in spelled), (who, command.name)


async def test_a_representative_who_leaves_office_mid_visit_cannot_save_it(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:D001")
    for line in ["走访 幸福路14号 入户 看望", "确认", "个人走访", "日常走访", "跳过", "跳过"]:
        await chat.send(line)
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(col(Representative.code) == "D001").values(active=False))
    answer = await chat.send("保存")
    assert "名册显示您已不在任" in answer and "没有保存的内容已放弃" in answer
    assert "走访已保存" not in answer
    async with db.transaction() as session:
        assert (await session.exec(select(DialogState))).all() == []
    assert "名册显示您已不在任" in await chat.send("/progress")


async def test_a_name_search_elsewhere_is_not_even_audited_as_finding_anyone(
    db: Database, settings: Settings, district: District
) -> None:
    """T001 types the name of a household head outside their areas: nothing is found, and the audit row of the
    search lists no household (a name is not a way to find where someone lives)."""
    chat = await chat_as(db, settings, "representative:T001")
    await chat.send("走访 赵强")
    async with db.transaction() as session:
        [search] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "household.search"))).all()
        identity = (await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == WHO["member"]))).one()
    assert search.detail == {"households": []}
    assert search.actor == f"identity:{identity.id}"


async def test_a_household_elsewhere_keeps_its_categories_when_visited(
    db: Database, settings: Settings, district: District
) -> None:
    chat = await chat_as(db, settings, "representative:T001")
    for line in ["走访 幸福路14号 入户 看望", "确认", "个人走访", "日常走访", "跳过", "跳过"]:
        await chat.send(line)
    answer = await chat.send("保存")
    assert "走访已保存" in answer and "类别：无（非本责任区，不能更正）" in answer
    async with db.transaction() as session:
        household = await session.get(Household, district.households["幸福路14号"])
        categories = (await session.exec(select(AuditEntry).where(AuditEntry.action == "household.categories"))).all()
    assert household is not None and categories == []


async def test_everyone_may_write_to_a_representatives_mailbox(
    db: Database, settings: Settings, district: District
) -> None:
    async with db.transaction() as session:
        token = await mailbox.issue_link(session, representative_code="D001", now=NOW, actor="test")
    for who in WHO:
        if who == "lapsed":
            continue
        answer = await say(db, settings, district, Cell(who, (f"/start m_{token}",), ""))
        assert "您正在给区级党代表王建国写信" in answer, who
