"""A case's whole life through the real Telegram channel against the fake Bot API server: a resident writes with
buttons and a photo, the liaison office assigns, the department answers, the resident rates from the notice's
button; a forged press on someone else's case changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from storage.db import Database
from storage.models import Case, CaseFile
from tests.bot.telegram_harness import JPEG, REP_CHAT, RESIDENT_CHAT, Harness, bound_representative, invitation

OFFICE_CHAT = 7003
DEPARTMENT_CHAT = 7004
OTHER_RESIDENT = 7005
NUMBER = "LX-2026-000001"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


async def cases_of(db: Database) -> list[Case]:
    async with db.transaction() as session:
        return list((await session.exec(select(Case).order_by(col(Case.id)))).all())


def everything(harness: Harness, chat_id: int) -> str:
    return "\n\n".join(message.get("plain_text") or "" for message in harness.server.sent(chat_id))


async def test_a_case_from_letter_to_rating_with_buttons(fast: Harness, db: Database) -> None:
    await bound_representative(fast)
    for chat_id, code in ((OFFICE_CHAT, "O01"), (DEPARTMENT_CHAT, "B01")):
        assert "绑定成功" in await fast.say(chat_id, f"/start {await invitation(db, code)}")

    # The resident writes with buttons, a photo and a shared location.
    assert "住在哪个社区" in await fast.say(RESIDENT_CHAT, "写信")
    assert "找到以下片区" in await fast.say(RESIDENT_CHAT, "幸福")
    assert "请选择问题的类别" in await fast.press(RESIDENT_CHAT, "幸福社区一区（幸福社区党代表工作站）")
    assert "请写下您想反映的问题" in await fast.press(RESIDENT_CHAT, "其他")
    assert "可以发照片" in await fast.say(RESIDENT_CHAT, "幸福路12号楼道灯坏了三个月，老人夜里出门不便。")
    fast.server.user_sends_photo(RESIDENT_CHAT, JPEG, caption="楼道")
    await fast.settle()
    assert "已收到 1 张照片" in fast.screen(RESIDENT_CHAT)
    fast.server.user_sends_location(RESIDENT_CHAT, 30.7, 111.29)
    await fast.settle()
    assert "已记下位置" in fast.screen(RESIDENT_CHAT)
    assert "要署名吗" in await fast.say(RESIDENT_CHAT, "完成")  # the reply keyboard that also shares a location
    assert "请输入您的姓名" in await fast.press(RESIDENT_CHAT, "署名")
    assert "请留一个联系电话" in await fast.say(RESIDENT_CHAT, "陈小红")
    fast.server.user_sends_contact(RESIDENT_CHAT, "8613912345678")
    await fast.settle()
    assert "是否同意承办单位打电话" in fast.screen(RESIDENT_CHAT)
    assert "请核对您的来信" in await fast.press(RESIDENT_CHAT, "是")
    await fast.press(RESIDENT_CHAT, "保存")
    assert f"✅ 已受理，编号 {NUMBER}" in everything(fast, RESIDENT_CHAT)
    [case] = await cases_of(db)
    assert (case.phone, case.latitude, case.state) == ("13912345678", 30.7, "registered")
    async with db.transaction() as session:
        [photo] = (await session.exec(select(CaseFile))).all()
    assert photo.file_ref.startswith("file:")

    # The representative of the area and the liaison office were told, with a button that opens the case.
    assert f"您的片区有新的诉求 {NUMBER}" in everything(fast, REP_CHAT)
    assert "内容：幸福路12号楼道灯坏了三个月" in await fast.press(OFFICE_CHAT, "查看案件")
    assert "交给哪个承办单位" in await fast.press(OFFICE_CHAT, "交办")
    assert f"✅ {NUMBER} 已交办" in await fast.press(OFFICE_CHAT, "区住建局")

    # A forged press: another resident names amy's case in a button never shown to them.
    await fast.say(OTHER_RESIDENT, "/help")
    shown = fast.server.sent(OTHER_RESIDENT)[-1]["message_id"]
    fast.server.user_presses_button(OTHER_RESIDENT, shown, "cmd:/mycases " + NUMBER, check=False)
    await fast.settle()
    assert "这个案件不由您负责" in everything(fast, OTHER_RESIDENT)
    fast.server.user_presses_button(OTHER_RESIDENT, shown, f"case:pick:{case.id}", check=False)
    await fast.settle()
    assert "这个按钮不再有效" in everything(fast, OTHER_RESIDENT)

    # The department answers from the assignment notice.
    assert "写进展" in await fast.press(DEPARTMENT_CHAT, "查看案件")
    assert "请写下答复内容" in await fast.press(DEPARTMENT_CHAT, "答复")
    # The answer comes with the work order as a PDF; what it is is said in words next.
    fast.server.user_sends_document(DEPARTMENT_CHAT, PDF, "维修单.pdf", mime_type="application/pdf")
    await fast.settle()
    assert "已收到附件" in fast.screen(DEPARTMENT_CHAT)
    assert "问题解决了吗" in await fast.say(DEPARTMENT_CHAT, "楼道灯已更换")
    await fast.press(DEPARTMENT_CHAT, "是")
    async with db.transaction() as session:
        files = (await session.exec(select(CaseFile).order_by(col(CaseFile.id)))).all()
    assert [file.kind for file in files] == ["photo", "document"]
    stored = Path(files[1].file_ref.removeprefix("file:"))
    assert stored.suffix == ".pdf" and "维修单" not in stored.name
    assert await asyncio.to_thread(stored.read_bytes) == PDF
    assert f"✅ {NUMBER} 已答复" in everything(fast, DEPARTMENT_CHAT)

    # The resident rates from the answer's button.
    assert "楼道灯已更换" in everything(fast, RESIDENT_CHAT)
    assert "答复：楼道灯已更换" in await fast.press(RESIDENT_CHAT, "评价")
    assert "请对答复进行评价" in await fast.press(RESIDENT_CHAT, "评价")
    await fast.press(RESIDENT_CHAT, "基本满意")
    assert "当前状态：已办结" in everything(fast, RESIDENT_CHAT)
    [case] = await cases_of(db)
    assert (case.state, case.rating) == ("closed", "basic")
    assert "评价：基本满意" in everything(fast, DEPARTMENT_CHAT)
    rows = await fast.outbox()
    assert {row.status for row in rows} == {"sent"}
