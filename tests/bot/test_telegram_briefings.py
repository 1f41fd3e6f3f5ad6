"""A briefing through the real Telegram channel against the fake Bot API server: the liaison office sends one with a
document by pressing buttons, the representative receives it and its file and presses 已阅, and the office sees the
read share and who has not read it."""

from __future__ import annotations

from sqlmodel import select

from storage.db import Database
from storage.models import BriefingRecipient
from tests.bot.telegram_harness import REP_CHAT, Harness, bound_representative, invitation
from tests.factories import District

OFFICE_CHAT = 7003
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


async def test_a_briefing_sent_by_the_office_is_read_by_a_representative_with_its_button(
    fast: Harness, db: Database, district: District
) -> None:
    await bound_representative(fast)  # D001
    assert "绑定成功" in await fast.say(OFFICE_CHAT, f"/start {await invitation(db, 'O01')}")

    assert "发给哪些党代表" in await fast.say(OFFICE_CHAT, "发通报")
    assert "通报的标题是什么" in await fast.press(OFFICE_CHAT, "全体党代表")
    assert "请发送通报正文" in await fast.say(OFFICE_CHAT, "关于年度述职评议的通报")
    assert "需要附上文件吗" in await fast.say(OFFICE_CHAT, "年度述职评议将于12月举行，请提前准备述职报告。")
    fast.server.user_sends_document(OFFICE_CHAT, PDF, "述职安排.pdf", mime_type="application/pdf")
    await fast.settle()
    confirmation = fast.screen(OFFICE_CHAT)
    assert "范围：全体党代表（3位党代表）" in confirmation and "附件：" in confirmation
    assert "✅ 第1号通报已发给3位党代表" in await fast.press(OFFICE_CHAT, "保存")

    received = fast.server.sent(REP_CHAT)[-2:]
    assert "📢 党内情况通报（第1号）：关于年度述职评议的通报" in str(received[0].get("plain_text"))
    assert "document" in received[1] and received[1]["plain_caption"] == "关于年度述职评议的通报"
    await fast.press(REP_CHAT, "✅ 已阅")
    # The pressed notice becomes the confirmation, the briefing still under it.
    edited = str(fast.server.sent(REP_CHAT)[-2].get("plain_text"))
    assert (
        edited.startswith("✅ 已确认阅读第1号通报《关于年度述职评议的通报》，谢谢！")
        and "年度述职评议将于12月举行" in edited
    )
    async with db.transaction() as session:
        read = [row for row in (await session.exec(select(BriefingRecipient))).all() if row.read_at is not None]
    assert [row.representative_id for row in read] == [district.representatives["D001"]]

    listed = await fast.say(OFFICE_CHAT, "通报列表")
    assert "📢 第1号 关于年度述职评议的通报" in listed and "已阅 1/3" in listed
    opened = await fast.press(OFFICE_CHAT, "📢 关于年度述职评议的通报")
    assert "还没有确认阅读的（2位）：李红梅（D002）、张伟（T001）" in opened
    assert fast.buttons(OFFICE_CHAT) == ["🔔 提醒未读的代表", "通报列表"]
    rows = await fast.outbox()
    assert {row.status for row in rows} == {"sent"}
