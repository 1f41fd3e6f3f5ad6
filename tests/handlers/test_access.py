"""Who may do what, cell by cell: every role against every command and flow step, on their own record and on
another's. Each cell is one conversation through the console channel and asserts what the person reads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from handlers.notices import render
from storage.db import Database
from storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseRelay,
    ChatIdentity,
    DialogState,
    Household,
    RepArea,
    RepGroup,
    Representative,
)
from storage.records import cases, mailbox, people
from storage.settings import Settings
from storage.workdays import calendar_of
from tests.factories import NOW, Chat, District, build_district, chat_as

# Who is writing (console identities). D001 leads the group, D002 is its liaison officer, T001 a member; T009 is in
# another group; D009 is no longer in office but its chat is still bound (a roster edit made outside Lianxin). The
# writer lives in 东山村一组 and wrote the one case there is (CASE): unsorted, in D002's, T009's and D009's area.
WHO = {
    "resident": "resident:amy",
    "writer": "resident:zoe",
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
RESIDENTS = ("resident", "writer")
CASE = "LX-2026-000001"
CASE_TEXT = "东山村3组17号门前的排水沟堵了，一下雨就积水。"
NOT_YOURS = "这个案件不由您负责，不能查看或办理"
NOT_A_REPRESENTATIVE = {
    "resident": "这项功能只对党代表开放。如果您是党代表，请发送联络办公室给您的邀请码",
    "writer": "这项功能只对党代表开放。如果您是党代表，请发送联络办公室给您的邀请码",
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
async def district(db: Database, settings: Settings) -> District:
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
    await write_case(db, settings, WHO["writer"], area=district.areas["东山村一组"], category="other", text=CASE_TEXT)
    async with db.transaction() as session:  # the writer's area, remembered from that letter
        writer = await people.identity_for(session, channel="console", external_id=WHO["writer"])
        writer.area_id = district.areas["东山村一组"]
        session.add(writer)
    return district


async def write_case(
    db: Database, settings: Settings, who: str, *, area: int, category: str, text: str, anonymous: bool = False
) -> Case:
    """A resident's letter, stored as the mailbox flow stores it."""
    async with db.transaction() as session:
        writer = await people.identity_for(session, channel="console", external_id=who)
        return await cases.submit(
            session,
            intake=cases.Intake(
                source="mailbox",
                category=category,
                text=text,
                area_id=area,
                anonymous=anonymous,
                name="" if anonymous else "赵小云",
                phone="" if anonymous else "13700001111",
            ),
            writer=writer,
            actor=f"identity:{writer.id}",
            settings=settings,
            calendar=calendar_of(settings),
            now=NOW,
            render=render,
        )


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
    table += case_cells()
    table += reception_cells()
    table += digest_cells()
    table += activity_cells()
    table += proposal_cells()
    table += briefing_cells()
    table += channel_cells()
    return table


def channel_cells() -> list[Cell]:
    """/channel (通知渠道): representatives and staff see where their notices go (each has one chat here); residents
    are told it is for bound people (choosing between chats: tests/handlers/test_channel_choice.py)."""
    table: list[Cell] = []
    one_chat = "您只绑定了这一个聊天（控制台），通知都发到这里"
    for who in WHO:
        if who == "lapsed":
            refused = "名册显示您已不在任"
        elif who in RESIDENTS:
            refused = "通知渠道只用于绑定了身份的党代表和工作人员"
        else:
            table.append(Cell(who, ("/channel",), one_chat))
            table.append(Cell(who, ("接收渠道",), one_chat))
            continue
        table.append(Cell(who, ("/channel",), refused, absent=one_chat))
        table.append(Cell(who, ("通知渠道",), refused, absent=one_chat))
    return table


def digest_cells() -> list[Cell]:
    """/digest, /overdue and /behind: leaders, the liaison office and a group's leader, each within their scope."""
    table: list[Cell] = []
    readers = {"/digest": "【连心周报】", "/overdue": "逾期未办的诉求", "/behind": "落后于进度"}
    for who in WHO:
        for command, expected in readers.items():
            if who in ("staff_leader", "liaison_office", "group_leader"):
                table.append(Cell(who, (command,), expected))
            elif who == "lapsed":
                table.append(Cell(who, (command,), "名册显示您已不在任", absent=expected))
            else:
                refused = "周报、逾期诉求和落后名单只对领导、联络办公室和代表小组组长开放"
                table.append(Cell(who, (command,), refused, absent=expected))
    return table


def briefing_cells() -> list[Cell]:
    """/briefing and /opinion: the liaison office and leaders send; /briefings: what was sent to a representative or
    what a sender sent; /opinions: representatives answer (tests/handlers/test_briefing_access.py: on records)."""
    table: list[Cell] = []
    lapsed = "名册显示您已不在任"
    for who in WHO:
        senders = who in STAFF_READERS
        for command in ("/briefing", "/opinion", "征求意见"):
            if senders:
                table.append(Cell(who, (command,), "发给哪些党代表？"))
            else:
                refused = lapsed if who == "lapsed" else "只有联络办公室和领导可以发送通报和征求意见"
                table.append(Cell(who, (command,), refused, absent="发给哪些党代表"))
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/briefings",), "您还没有收到党内情况通报或征求意见"))
            table.append(Cell(who, ("/opinions",), "目前没有需要您答复的征求意见"))
        elif senders:
            table.append(Cell(who, ("通报列表",), "您还没有发送过通报或征求意见"))
            table.append(Cell(who, ("/opinions",), NOT_A_REPRESENTATIVE[who]))
        else:
            table.append(Cell(who, ("/briefings",), NOT_A_REPRESENTATIVE[who], absent="通报"))
            table.append(Cell(who, ("答复意见",), NOT_A_REPRESENTATIVE[who], absent="征求意见"))
    return table


def proposal_cells() -> list[Cell]:
    """/proposal: representatives draft; /proposals: representatives and staff follow theirs (none here yet; on
    records: tests/handlers/test_proposal_access.py)."""
    table: list[Cell] = []
    for who in WHO:
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/proposal",), "要写哪一类？"))
            table.append(Cell(who, ("写提案",), "要写哪一类？"))
        else:
            table.append(Cell(who, ("/proposal",), NOT_A_REPRESENTATIVE[who], absent="要写哪一类"))
            table.append(Cell(who, ("提案",), NOT_A_REPRESENTATIVE[who], absent="要写哪一类"))
        if who in (*REPRESENTATIVES, "department", *STAFF_READERS):
            table.append(Cell(who, ("/proposals",), "现在没有您可以查看的提案"))
            table.append(Cell(who, ("我的提案",), "现在没有您可以查看的提案"))
        else:
            table.append(Cell(who, ("/proposals",), NOT_A_REPRESENTATIVE[who], absent="提案"))
            table.append(Cell(who, ("议案",), NOT_A_REPRESENTATIVE[who], absent="提案"))
    return table


def activity_cells() -> list[Cell]:
    """/activity: representatives log; /events: representatives' invitations, the liaison office's events;
    /commitments: one's own for representatives, anyone's by code for everyone (on records:
    tests/handlers/test_event_access.py)."""
    table: list[Cell] = []
    for who in WHO:
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/activity",), "今年五个一"))
            table.append(Cell(who, ("五个一",), "今年五个一"))
            table.append(Cell(who, ("/events",), "今年已参加培训"))
            table.append(Cell(who, ("活动安排",), "今年已参加培训"))
            table.append(Cell(who, ("/commitments",), "2026年的公开承诺"))
            table.append(Cell(who, ("我的承诺",), "2026年的公开承诺"))
        else:
            table.append(Cell(who, ("/activity",), NOT_A_REPRESENTATIVE[who], absent="今年五个一"))
            table.append(Cell(who, ("记活动",), NOT_A_REPRESENTATIVE[who], absent="今年五个一"))
            if who == "liaison_office":
                table.append(Cell(who, ("/events",), "活动安排：可以安排新的", absent="今年已参加"))
                table.append(Cell(who, ("培训",), "活动安排：可以安排新的", absent="今年已参加"))
            else:
                table.append(Cell(who, ("/events",), NOT_A_REPRESENTATIVE[who], absent="活动安排"))
                table.append(Cell(who, ("会议",), NOT_A_REPRESENTATIVE[who], absent="活动安排"))
            table.append(Cell(who, ("/commitments",), "请在“承诺”后写上党代表编号", absent="公开承诺"))
        table.append(Cell(who, ("承诺 D001",), "王建国（D001）2026年的公开承诺"))
    return table


def reception_cells() -> list[Cell]:
    """/reception (接待日): everyone reads the days of their area's station (asked where they live until it is
    known); representatives see their duties first; only the liaison office runs the rota."""
    table: list[Cell] = []
    ask_place = "我帮您找到附近的党代表工作站"
    for who in WHO:
        if who in REPRESENTATIVES:
            expected = "您近期没有接待日值班"
        elif who == "liaison_office":
            expected = "接待日安排"
        elif who == "writer":  # the area is remembered from the letter
            expected = "东山村党代表工作站（东山村村委会）接下来的接待日"
        else:
            expected = ask_place
        table.append(Cell(who, ("/reception",), expected))
        table.append(Cell(who, ("接待日",), expected))
        if who == "liaison_office":
            table.append(Cell(who, ("/reception add",), "在哪个工作站"))
        else:
            refused = "名册显示您已不在任" if who == "lapsed" else "这一步由联络办公室办理"
            table.append(Cell(who, ("/reception add",), refused, absent="在哪个工作站"))
            table.append(Cell(who, ("/reception station",), refused, absent="在哪个工作站"))
    return table


def case_cells() -> list[Cell]:
    """The commands of cases: reporting a concern (representatives), following cases (representatives and staff),
    writing and following one's own (everyone)."""
    table: list[Cell] = []
    everyone = list(WHO)
    for who in everyone:
        # /help names what each may use.
        if who in REPRESENTATIVES:
            table.append(Cell(who, ("/help",), "/request（诉求、反映诉求）"))
        elif who in (*RESIDENTS, "lapsed"):
            table.append(Cell(who, ("/help",), "/mycases（我的诉求、我的来信）", absent="/cases"))
        else:
            table.append(Cell(who, ("/help",), "/cases（办件、案件）", absent="/request"))
        # /request and its words: representatives only. D001 serves two areas and is asked which one first.
        if who in REPRESENTATIVES:
            first = "这件事在哪个责任区？" if who == "group_leader" else "请选择问题的类别"
            table.append(Cell(who, ("/request",), first))
            table.append(Cell(who, ("反映诉求",), first))
            table.append(Cell(who, ("诉求",), first))
        else:  # a resident who types 诉求 is pointed to writing a letter
            refused = "群众反映问题请发送“写信”" if who in RESIDENTS else NOT_A_REPRESENTATIVE[who]
            table.append(Cell(who, ("/request",), refused, absent="类别"))
            table.append(Cell(who, ("诉求",), refused, absent="类别"))
        # /cases: representatives (their areas' cases) and staff; residents are sent to /mycases.
        if who in RESIDENTS:
            refused = "群众请发送 /mycases 查看自己反映的问题"
            for script in (("/cases",), ("办件",), (f"/cases {CASE}",), (f"案件 {CASE}",)):
                table.append(Cell(who, script, refused, absent=CASE_TEXT))
        elif who == "lapsed":
            for script in (("/cases",), (f"/cases {CASE}",)):
                table.append(Cell(who, script, "名册显示您已不在任", absent=CASE_TEXT))
        elif who in ("member", "group_leader", "department"):  # nothing in their areas, nothing assigned to them
            table.append(Cell(who, ("/cases",), "目前没有需要您办理或跟进的诉求案件", absent=CASE))
            table.append(Cell(who, ("办件",), "目前没有需要您办理或跟进的诉求案件", absent=CASE))
            table.append(Cell(who, (f"/cases {CASE}",), NOT_YOURS, absent=CASE_TEXT))
            table.append(Cell(who, (f"案件 {CASE}",), NOT_YOURS, absent=CASE_TEXT))
        else:  # the area's representative, the liaison office and leaders see it
            table.append(Cell(who, ("/cases",), f"{CASE}｜其他｜待分派"))
            table.append(Cell(who, ("办件",), f"{CASE}｜其他｜待分派"))
            table.append(Cell(who, (f"/cases {CASE}",), CASE_TEXT))
            table.append(Cell(who, (f"案件 {CASE}",), CASE_TEXT))
        # /mailbox and its words: everyone; the area is asked unless it is remembered.
        ask_place = "请告诉我您住在哪个社区、村或街道"
        if who == "writer":
            table.append(Cell(who, ("/mailbox",), "请选择问题的类别", absent=ask_place))
            table.append(Cell(who, ("写信",), "请选择问题的类别", absent=ask_place))
        else:
            table.append(Cell(who, ("/mailbox",), ask_place))
            table.append(Cell(who, ("信箱",), ask_place))
        # /mycases and its words: everyone; one's own cases only.
        if who == "writer":
            table.append(Cell(who, ("/mycases",), f"{CASE}｜其他｜待分派"))
            table.append(Cell(who, ("我的来信",), "您反映的问题（共 1 件）"))
            table.append(Cell(who, (f"我的诉求 {CASE}",), "1. 撤回"))
        else:
            table.append(Cell(who, ("/mycases",), "您还没有反映过问题", absent=CASE))
            table.append(Cell(who, ("我的诉求",), "您还没有反映过问题", absent=CASE))
        if who == "lapsed":
            table.append(Cell(who, (f"/mycases {CASE}",), "名册显示您已不在任", absent=CASE_TEXT))
        elif who in ("resident", "member", "group_leader", "department"):
            table.append(Cell(who, (f"/mycases {CASE}",), NOT_YOURS, absent=CASE_TEXT))
    # What each may do with the case: take it on (its area's representative), sort and assign it (the liaison
    # office), only read it (leaders); the writer may withdraw it or add to it.
    table.append(Cell("group_liaison", (f"/cases {CASE}",), "1. 我来办理", absent="交办"))
    table.append(Cell("liaison_office", (f"/cases {CASE}",), "1. 确认分类", absent="我来办理"))
    table.append(Cell("liaison_office", (f"/cases {CASE}",), "来信人：赵小云，电话：13700001111"))
    table.append(Cell("staff_leader", (f"/cases {CASE}",), "这个案件目前没有需要您办理的操作", absent="交办"))
    table.append(Cell("writer", (f"/mycases {CASE}",), "2. 补充情况", absent="评价"))
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
        first = await say(db, settings, district, Cell(who, (f"/start m_{token}",), ""))
        assert "请选择问题的类别" in first, (who, first)
        second = await say(db, settings, district, Cell(who, ("其他",), ""))
        assert "您正在给区级党代表王建国写信" in first + second, (who, first, second)


# --- forged presses ---------------------------------------------------------------------------------------------
# A console has no buttons to forge; a client that sends any callback data it likes is played by handing the router
# a press of that data directly (as tests/handlers/test_bad_input.py does).


async def press(chat: Chat, data: str) -> str:
    """Press a button with this data, whether or not it was ever shown."""
    inbound = chat.console.to_inbound("x")
    assert not isinstance(inbound, str)
    replies = await chat.router.handle(replace(inbound, kind="button", data=data, text=""))
    return "\n\n".join(chat.console.render(reply) for reply in replies)


STALE = "这个按钮已经过期了"


async def state_of_cases(db: Database) -> list[Any]:
    """Everything a step on a case changes: the cases, their events, who follows them, and who read them."""
    async with db.transaction() as session:
        rows: list[Any] = [case.model_dump() for case in (await session.exec(select(Case).order_by(col(Case.id))))]
        rows += [(event.case_id, event.action) for event in (await session.exec(select(CaseEvent)))]
        rows += [(relay.case_id, relay.identity_id) for relay in (await session.exec(select(CaseRelay)))]
        rows += [
            (entry.actor, entry.entity_id)
            for entry in (await session.exec(select(AuditEntry).where(AuditEntry.action == "case.read")))
        ]
    return rows


async def dialog_step(db: Database, who: str) -> tuple[str, str] | None:
    async with db.transaction() as session:
        state = (await session.exec(select(DialogState).where(DialogState.user_id == WHO[who]))).first()
    return None if state is None else (state.flow, state.step)


async def case_id(db: Database, number: str) -> int:
    async with db.transaction() as session:
        found = (await session.exec(select(Case.id).where(Case.number == number))).one()
    assert found is not None
    return found


async def test_forged_presses_in_the_case_flows_are_refused_and_change_nothing(
    db: Database, settings: Settings, district: District
) -> None:
    amys = await write_case(
        db,
        settings,
        WHO["resident"],
        area=district.areas["幸福社区一区"],
        category="housing",
        text="楼道灯坏了三个月。",
    )  # assigned to 区住建局 at once
    assert amys.id is not None and amys.department == "区住建局"
    zoes = await case_id(db, CASE)
    resident = await chat_as(db, settings, WHO["resident"])
    department = await chat_as(db, settings, WHO["department"])

    # A resident's list holds their own case: another's, pressed anyway, is not opened (nor is its reading logged).
    assert amys.number in await resident.send("/mycases")
    before = await state_of_cases(db)
    assert STALE in await press(resident, f"case:pick:{zoes}")
    assert await dialog_step(db, "resident") == ("mycases", "case_id")
    # A notice's button types its command: in a dialog it asks first, as a typed command would; outside one the
    # policy answers it as anything typed.
    assert "要放弃它，改为“/mycases LX-2026-000001”吗？" in await press(resident, f"cmd:/mycases {CASE}")
    await resident.talk([("继续填写「我的诉求」", "您反映的问题（共 1 件）"), ("/cancel", "已取消")])
    assert NOT_YOURS in await press(resident, f"cmd:/mycases {CASE}")
    assert "群众请发送 /mycases" in await press(resident, f"cmd:/cases {CASE}")
    assert await dialog_step(db, "resident") is None
    assert await state_of_cases(db) == before

    # A department's list holds what is assigned to it; its steps are a handler's, never the liaison office's.
    assert amys.number in await department.send("/cases")
    assert STALE in await press(department, f"case:pick:{zoes}")
    assert amys.number in await press(department, f"case:pick:{amys.id}")  # offered: opened
    before = await state_of_cases(db)
    for forged in ("case:do:assign", "case:do:sort", "case:do:take", "case:do:decide", "case:do:rate", "case:dept:0"):
        assert STALE in await press(department, forged), forged
        assert await dialog_step(db, "department") == ("cases", "step")
    assert await state_of_cases(db) == before

    # The department answers; the writer rates, but only with a rating that is offered.
    await department.talk([("答复", "请写下答复内容"), ("灯已修好", "问题解决了吗？"), ("是", "已答复")])
    await resident.talk([(f"/mycases {amys.number}", "1. 评价"), ("评价", "请对答复进行评价")])
    before = await state_of_cases(db)
    for forged in ("case:rating:excellent", "case:rating:", "case:do:withdraw", "case:fault:yes", f"case:pick:{zoes}"):
        assert STALE in await press(resident, forged), forged
        assert await dialog_step(db, "resident") == ("mycases", "rating")
    assert await state_of_cases(db) == before
    assert "感谢您的评价" in await resident.send("满意")


async def test_forged_presses_in_the_intake_flows_are_refused(
    db: Database, settings: Settings, district: District
) -> None:
    zoes = await case_id(db, CASE)
    resident = await chat_as(db, settings, WHO["resident"])
    await resident.talk([("/mailbox", "请告诉我您住在哪个社区"), ("幸福", "2. 幸福社区二区")])
    for forged in (f"case:place:{district.areas['东山村一组']}", "case:place:99999", "case:cat:housing"):
        assert STALE in await press(resident, forged), forged
        assert await dialog_step(db, "resident") == ("mailbox", "area_id")
    assert "请选择问题的类别" in await press(resident, f"case:place:{district.areas['幸福社区二区']}")
    for forged in ("case:cat:nonsense", "case:cat:", "mailbox:save", f"case:join:{zoes}"):
        assert STALE in await press(resident, forged), forged
    await resident.talk([("投诉", "请写下您想反映的问题"), ("东山村3组17号门前的排水沟堵了。", "跳过")])
    for forged in (f"case:join:{zoes}", "case:join:new", "mailbox:anon:yes", "case:consent:yes"):
        assert STALE in await press(resident, forged), forged
        assert await dialog_step(db, "resident") == ("mailbox", "extras_done")
    amy = await people_id(db, WHO["resident"])
    async with db.transaction() as session:
        assert (await session.exec(select(CaseRelay))).all() == []  # joined nothing
        identity = await session.get(ChatIdentity, amy)
    assert identity is not None and identity.area_id == district.areas["幸福社区二区"]  # the one pressed when offered

    # A representative reports for their own areas only.
    leader = await chat_as(db, settings, WHO["group_leader"])
    assert "这件事在哪个责任区？" in await leader.send("/request")
    assert STALE in await press(leader, f"case:area:{district.areas['东山村一组']}")
    assert await dialog_step(db, "group_leader") == ("request", "area_id")


async def people_id(db: Database, who: str) -> int:
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel="console", external_id=who)
    assert identity.id is not None
    return identity.id


@pytest.mark.parametrize("who", ["group_liaison", "liaison_office", "staff_leader"])
async def test_reading_a_case_through_mycases_is_not_an_unlogged_way_in(
    db: Database, settings: Settings, district: District, who: str
) -> None:
    """/mycases is for one's own cases: anyone else who opens a case there is refused (/cases is theirs, and logs
    the reading under their name)."""
    chat = await chat_as(db, settings, WHO[who])
    answer = await chat.send(f"/mycases {CASE}")
    async with db.transaction() as session:
        readers = (await session.exec(select(AuditEntry.actor).where(AuditEntry.action == "case.read"))).all()
    reader = await people_id(db, WHO[who])
    assert NOT_YOURS in answer, answer
    assert readers == []
    assert reader  # opening it through /cases instead is logged under their own name:
    await chat.send("/cancel")
    await chat.send(f"/cases {CASE}")
    async with db.transaction() as session:
        readers = (await session.exec(select(AuditEntry.actor).where(AuditEntry.action == "case.read"))).all()
    assert readers == [f"identity:{reader}"]
