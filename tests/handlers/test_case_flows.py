"""Cases as conversations through the console channel: a resident, representatives, a department and the liaison
office each in their own chat, a concern travelling from the letter to the rating."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import AuditEntry, Case, CaseEvent, DialogState, OutboxMessage, Visit
from storage.settings import Settings
from tests.factories import NOW, Chat, Clock, District, build_district, chat_as

CONCERN = "幸福路12号楼道灯坏了三个月，老人夜里出门不便。"
NUMBER = "LX-2026-000001"


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def photo(tmp_path: Path) -> None:
    """The photo and the file the console sends with `/photo PATH` and `/file PATH`."""
    global PHOTO, FILE
    path = tmp_path / "lamp.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    PHOTO = f"/photo {path}"
    order = tmp_path / "work-order.pdf"
    order.write_bytes(b"%PDF-1.4\n")
    FILE = f"/file {order}"


PHOTO = "/photo"
FILE = "/file"


async def people(db: Database, settings: Settings, clock: Clock) -> dict[str, Chat]:
    chats = {}
    for who in ("resident:amy", "representative:D001", "representative:D002", "liaison:O01", "department:B01"):
        chats[who.split(":")[1]] = await chat_as(db, settings, who, clock)
    return chats


async def the_case(db: Database) -> Case:
    async with db.transaction() as session:
        return (await session.exec(select(Case).order_by(col(Case.id).desc()))).first()  # type: ignore[return-value]


async def events_of(db: Database, case_id: int | None) -> list[tuple[str, str]]:
    async with db.transaction() as session:
        rows = await session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id)))
        return [(event.action, event.actor) for event in rows.all()]


async def waiting(chat: Chat) -> str:
    """What reached this person while they were away (the console shows it when they come back)."""
    return "\n\n".join(reply.text for reply in await chat.console.waiting())


async def write_named_letter(amy: Chat, *, category: str = "其他", text: str = CONCERN) -> None:
    await amy.talk(
        [
            ("写信", "请告诉我您住在哪个社区、村或街道"),
            ("幸福", ["找到以下片区", "1. 幸福社区一区（幸福社区党代表工作站）", "2. 幸福社区二区"]),
            ("1", ["请选择问题的类别", "11. 其他"]),
            (category, "请写下您想反映的问题"),
            (text, "可以发照片"),
            (PHOTO, "已收到 1 张照片"),
            ("完成", "要署名吗？"),
            ("署名", "请输入您的姓名"),
            ("陈小红", "请留一个联系电话"),
            ("13912345678", "是否同意承办单位打电话向您了解情况？"),
            ("是", ["请核对您的来信", f"类别：{category}", f"内容：{text}", "附件：照片1张", "署名：陈小红"]),
            ("保存", [f"✅ 已受理，编号 {NUMBER}，应在 2026-11-30 前答复。", "发送“我的诉求”可以随时查看办理进度"]),
        ]
    )


async def test_the_whole_lifecycle_in_one_conversation(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    amy, rep, other_rep, office, dept = (chats[key] for key in ("amy", "D001", "D002", "O01", "B01"))

    await write_named_letter(amy)
    case = await the_case(db)
    assert (case.state, case.area_id, case.name, case.phone, case.consent) == (
        "registered",
        district.areas["幸福社区一区"],
        "陈小红",
        "13912345678",
        True,
    )
    assert case.due_on == date(2026, 11, 30)  # "other" is a help request: 3 working days from Wednesday
    told = await waiting(rep)
    assert f"您的片区有新的诉求 {NUMBER}（其他）" in told and "陈小红" not in told and "139" not in told
    assert await waiting(other_rep) == ""  # 东山村一组 is not where amy lives
    assert f"新诉求 {NUMBER}（其他）待分派" in await waiting(office)

    # The representative of the area follows it; the liaison office sorts and assigns it.
    await rep.talk([("/cases", [f"{NUMBER}｜其他｜待分派｜2026-11-30前"]), ("1", ["来信人：陈小红", "我来办理"])])
    await rep.send("/cancel")
    await office.talk(
        [
            ("办件", ["共 1 件", NUMBER]),
            (NUMBER, ["内容：" + CONCERN, "附件：1个", "1. 确认分类", "2. 交办", "3. 返回列表"]),
            ("确认分类", "请确认类别"),
            ("环境卫生", "是否紧急"),
            ("否", f"✅ {NUMBER} 已分类"),
            (f"/cases {NUMBER}", ["环境卫生", "交办"]),
            ("交办", ["交给哪个承办单位？", "区住建局"]),
            ("区住建局", f"✅ {NUMBER} 已交办"),
        ]
    )
    assert f"交办案件 {NUMBER}（环境卫生）" in await waiting(dept)

    # The department writes progress for the resident, then answers.
    await dept.talk(
        [
            ("/cases", NUMBER),
            ("1", ["来信人：陈小红，电话：13912345678", "写进展", "答复", "申请延期", "退回"]),
            ("写进展", "请写下办理进展"),
            ("已派电工查看", "把这条进展发给反映问题的群众吗？"),
            ("是", "进展已记录，当前状态：办理中"),
            (f"/cases {NUMBER}", "答复"),
            ("答复", "请写下答复内容"),
            (FILE, "已收到附件"),
            ("楼道灯已更换", "问题解决了吗？"),
            ("是", f"✅ {NUMBER} 已答复"),
        ]
    )
    news = await waiting(amy)
    assert f"您反映的问题 {NUMBER} 已交给区住建局办理" in news
    assert "有新进展：已派电工查看" in news
    assert "已答复（已解决）：\n楼道灯已更换" in news and "请对答复进行评价" in news

    # Dissatisfied because of the handler: the case opens again, once.
    clock.advance(days=1)
    await amy.talk(
        [
            (f"我的诉求 {NUMBER}", ["已答复", "答复：楼道灯已更换", "1. 评价", "2. 返回列表"]),
            ("评价", ["1. 满意", "2. 基本满意", "3. 不满意"]),
            ("不满意", "请说说不满意的原因"),
            ("只换了一楼的灯", "是承办单位处理不当造成的吗？"),
            ("是", "当前状态：已交办"),
        ]
    )
    case = await the_case(db)
    assert (case.state, case.reopened, case.rating, case.answer) == ("assigned", 1, "dissatisfied", "")
    assert case.due_on == date(2026, 12, 1)  # three working days from Thursday
    assert "群众不满意，需要重新办理：只换了一楼的灯" in await waiting(dept)
    assert "群众评价不满意：只换了一楼的灯" in await waiting(office)

    await dept.talk(
        [(f"/cases {NUMBER}", "答复"), ("答复", "请写下"), ("各楼层的灯都已更换", "问题解决了吗？"), ("是", "已答复")]
    )
    await amy.talk([("我的诉求", [NUMBER, "已答复"]), ("1", "评价"), ("评价", "满意"), ("满意", "当前状态：已办结")])
    case = await the_case(db)
    assert (case.state, case.rating, case.resolved) == ("closed", "satisfied", True)
    assert case.closed_at == clock.now

    actions = [action for action, _ in await events_of(db, case.id)]
    assert actions == [
        "registered",
        "sorted",
        "assigned",
        "progress",
        "answered",
        "rated",
        "reopened",
        "answered",
        "rated",
        "closed",
    ]
    actors = dict(await events_of(db, case.id))
    assert actors["sorted"].startswith("identity:") and actors["reopened"] == "system"
    async with db.transaction() as session:
        dialogs = (await session.exec(select(DialogState))).all()
    assert [dialog.flow for dialog in dialogs] == []


async def test_a_representative_reports_what_a_household_asked_right_after_the_visit(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    rep = await chat_as(db, settings, "representative:D001", clock)
    dept = await chat_as(db, settings, "department:B01", clock)
    await rep.talk(
        [
            ("走访 幸福路12号1栋1单元101 入户 反映楼道灯坏了", "确认"),
            ("确认", "个人走访还是集体走访"),
            ("1", "日常走访"),
            ("1", "照片"),
            ("跳过", "位置"),
            ("跳过", "请核对这次走访"),
            ("保存", ["✅ 走访已保存", "这户群众有诉求吗？", "1. 📝 反映诉求"]),
            ("1", ["是刚走访的 幸福路12号1栋1单元101 反映的问题吗？", "1. 是这户居民反映的", "2. 其他问题"]),
            ("1", "请选择问题的类别"),
            ("住房物业", "请写下群众反映的问题和诉求"),
            ("屋顶漏水，雨天家里滴水", "可以发照片"),
            ("跳过", "居民是否同意承办单位打电话联系？"),
            ("否", ["走访户：幸福路12号1栋1单元101", "类别：住房物业", "不同意电话联系"]),
            ("保存", [f"✅ 诉求已登记，编号 {NUMBER}", "已交给区住建局办理。"]),
        ]
    )
    case = await the_case(db)
    async with db.transaction() as session:
        visit = (await session.exec(select(Visit))).one()
    assert (case.source, case.reported, case.visit_id, case.household_id, case.representative_id) == (
        "report",
        True,
        visit.id,
        district.households["幸福路12号1栋1单元101"],
        district.representatives["D001"],
    )
    assert (case.state, case.department, case.identity_id) == ("assigned", "区住建局", None)  # sorted by the rules
    assert f"交办案件 {NUMBER}（住房物业）" in await waiting(dept)
    await dept.talk([(f"/cases {NUMBER}", "答复"), ("答复", "请写下"), ("已修补屋顶", "解决了吗"), ("是", "已答复")])
    told = await waiting(rep)
    assert "回访后请点“查看案件”记录群众的评价" in told and "您的片区有新的诉求" not in told  # not of their own report
    # The household has no chat: its representative records its rating on a return visit.
    await rep.talk([(f"/cases {NUMBER}", ["答复：已修补屋顶", "评价"]), ("评价", "满意"), ("基本满意", "已办结")])
    assert ((await the_case(db)).state, (await the_case(db)).rating) == ("closed", "basic")
    # Later the same day, "诉求" typed for another matter: the visit is offered again, and declined.
    clock.advance(minutes=45)
    answer = await rep.send("诉求")
    assert "这件事在哪个责任区？" in answer and "幸福路12号" not in answer  # the visit is no longer recent


async def test_the_representative_of_first_contact_keeps_a_case_and_an_extension_is_decided(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    amy, rep, office, dept = (chats[key] for key in ("amy", "D001", "O01", "B01"))
    await write_named_letter(amy)
    await rep.talk(
        [
            (f"/cases {NUMBER}", "我来办理"),
            ("我来办理", f"✅ {NUMBER} 由您办理（首接负责）"),
        ]
    )
    case = await the_case(db)
    assert (case.state, case.kept_by, case.department) == ("in_progress", district.representatives["D001"], "")
    assert "由党代表亲自负责办理" in await waiting(amy)
    assert f"{NUMBER}（其他）已由党代表首接办理" in await waiting(office)
    # Another representative of the same area can no longer take it; D002 does not even see it.
    other = await chat_as(db, settings, "representative:T001", clock)
    assert "我来办理" not in await other.send(f"/cases {NUMBER}")
    d002 = await chat_as(db, settings, "representative:D002", clock)
    assert "这个案件不由您负责" in await d002.send(f"/cases {NUMBER}")
    assert "这个案件不由您负责" in await dept.send(f"/cases {NUMBER}")

    await rep.talk(
        [
            (f"/cases {NUMBER}", ["写进展", "答复", "申请延期"]),
            ("申请延期", "需要延长几个工作日"),
            ("0", "请输入1到30之间的整数"),
            ("三天", "请输入1到30之间的整数"),
            ("3", "请写明延期原因"),
            ("🙂", "请写"),
            ("需要协调物业公司", "延期申请已提交联络办公室"),
            (f"/cases {NUMBER}", "延期申请：3个工作日，原因：需要协调物业公司"),
        ]
    )
    assert "申请延期3个工作日，原因：需要协调物业公司" in await waiting(office)
    await office.talk([(f"/cases {NUMBER}", "审批延期"), ("审批延期", "是否批准延期"), ("批准", "延期申请已处理")])
    case = await the_case(db)
    assert (case.due_on, case.extension_days) == (date(2026, 12, 3), 0)  # 2026-11-30 + 3 working days
    assert "延期已批准，新的期限是 2026-12-03" in await waiting(rep)


async def test_a_department_returns_a_case_that_is_not_its_own(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    amy, office, dept = chats["amy"], chats["O01"], chats["B01"]
    await write_named_letter(amy, category="住房物业", text="小区门口的路面塌陷了一个大坑")
    assert (await the_case(db)).department == "区住建局"
    await dept.talk(
        [
            (f"/cases {NUMBER}", "退回"),
            ("退回", "请写明退回原因"),
            ("属于市政道路，不归住建局", f"✅ {NUMBER} 已退回联络办公室"),
        ]
    )
    case = await the_case(db)
    assert (case.state, case.department) == ("sorted", "")
    assert "区住建局退回了" in await waiting(office)
    assert "这个案件不由您负责" in await dept.send(f"/cases {NUMBER}")


async def test_a_resident_adds_information_then_withdraws(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    amy, dept = chats["amy"], chats["B01"]
    await write_named_letter(amy, category="住房物业", text="楼上漏水到我家厨房")
    await amy.talk(
        [
            ("我的诉求", [NUMBER, "已交办"]),
            ("1", ["1. 撤回", "2. 补充情况"]),
            ("补充情况", "请写下要补充的情况"),
            (PHOTO, "已转给办理人员"),
            (f"/mycases {NUMBER}", "补充情况"),
            ("补充情况", "请写下"),
            ("楼上住户电话打不通", "已转给办理人员"),
            (f"/mycases {NUMBER}", "撤回"),
            ("撤回", "确定撤回这个诉求吗？"),
            ("否", "补充情况"),  # changed their mind: back to the case
            ("撤回", "确定撤回"),
            ("是", f"✅ {NUMBER} 已撤回"),
        ]
    )
    told = await waiting(dept)
    assert "群众补充了情况：楼上住户电话打不通" in told and "已由群众撤回" in told
    case = await the_case(db)
    assert case.state == "withdrawn"
    shown = await amy.send(f"/mycases {NUMBER}")
    assert "已撤回" in shown and "评价" not in shown and "这个案件目前没有需要您办理的操作" in shown


async def test_residents_and_staff_see_only_what_is_theirs(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    await write_named_letter(chats["amy"])
    bob = await chat_as(db, settings, "resident:bob", clock)
    assert "这个案件不由您负责" in await bob.send(f"我的诉求 {NUMBER}")
    assert "您还没有反映过问题" in await bob.send("我的诉求")
    assert "群众请发送 /mycases" in await bob.send("/cases")
    assert "没有找到案件 LX-2026-000099" in await chats["amy"].send("/mycases LX-2026-000099")
    # Not yet assigned: the department has nothing; the liaison office and leaders see everything.
    assert "目前没有需要您办理或跟进的诉求案件" in await chats["B01"].send("/cases")
    leader = await chat_as(db, settings, "leader:L01", clock)
    shown = await leader.send(f"/cases {NUMBER}")
    assert CONCERN in shown and "交办" not in shown  # leaders read; the office acts
    async with db.transaction() as session:
        reads = (await session.exec(select(AuditEntry).where(AuditEntry.action == "case.read"))).all()
    assert reads and all(entry.entity == "case" for entry in reads)


async def test_bad_input_at_the_new_steps_keeps_everything(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    amy, office = chats["amy"], chats["O01"]
    await amy.talk(
        [
            ("写信", "住在哪个社区"),
            ("火星", "没有找到“火星”"),
            ("🙂", "请"),
            ("幸福社区二区", "请选择问题的类别"),  # one match: chosen at once
            ("12", "请回复 1 到 11"),
            ("交通", "请选择问题的类别"),
            ("3", "请写下您想反映的问题"),
            ("灯坏", "内容太短了"),
            ("/location 30.5 114.3", "这一步需要文字"),
            ("幸福路14号门口的红绿灯不亮", "可以发照片"),
            ("/location 30.5 114.3", "已记下位置"),
            ("完成", "要署名吗？"),
            ("匿名", "请核对您的来信"),
            ("保存", "已受理"),
        ]
    )
    case = await the_case(db)
    assert (case.area_id, case.category, case.latitude, case.anonymous) == (
        district.areas["幸福社区二区"],
        "roads",
        30.5,
        True,
    )
    await office.talk(
        [
            ("/cases", NUMBER),
            ("LX-2026-999999", "没有找到案件 LX-2026-999999"),
            ("7", "没有找到案件 7"),  # a number beyond the list is read as a case number
            ("1", "交办"),
            (PHOTO, "这一步需要选项"),
            ("9", "请回复"),
        ]
    )
    assert (await the_case(db)).state == "assigned"  # roads → 区交通运输局 by the rules; nothing changed since


async def test_an_outbox_row_for_every_notice_in_the_recipients_language(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    await chats["D001"].send("/lang")
    await chats["D001"].send("English")
    await write_named_letter(chats["amy"])
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_key == "representative:D001"))).all()
    assert any(f"A new concern in your area: {NUMBER} (Other)" in row.payload["text"] for row in rows)
    assert clock.now >= NOW


async def test_the_area_is_confirmed_and_can_be_changed_and_letters_have_a_daily_limit(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    one_a_day = settings.model_copy(update={"limits": settings.limits.model_copy(update={"mailbox_items_per_day": 1})})
    amy = await chat_as(db, one_a_day, "resident:amy", clock)
    await amy.talk(
        [
            ("写信", "住在哪个社区"),
            ("东山村", "请选择问题的类别"),
            ("其他", "请写下"),
            ("村口的路灯不亮了，晚上看不清路", "可以发照片"),
            ("/location 30.5 114.3", ["已记下位置。", "还可以发照片"]),
            ("完成", "要署名吗"),
            ("匿名", ["片区：东山村一组（东山村党代表工作站）", "改片区"]),
            ("改片区", "住在哪个社区"),
            ("幸福社区二区", "片区：幸福社区二区（幸福社区党代表工作站）"),
            ("保存", "已受理"),
        ]
    )
    case = await the_case(db)
    assert (case.area_id, case.latitude) == (district.areas["幸福社区二区"], 30.5)
    refused = await amy.send("写信")
    assert "您今天已经写了1封信，请明天再写" in refused and "请选择问题的类别" not in refused
    clock.advance(days=1, minutes=1)
    again = await amy.send("写信")  # the area is remembered: the category comes first
    assert "请选择问题的类别" in again and "住在哪个社区" not in again
