"""A proposal's whole life through the real Telegram channel against the fake Bot API server: D001 drafts it with a
photo and invites D002, who accepts from the invitation's button; D001 submits from the notice's button, the liaison
office establishes and assigns it, the department answers, D001 evaluates from the notice's button; a forged press
by someone not invited changes nothing."""

from __future__ import annotations

from sqlmodel import col, select

from storage.db import Database
from storage.models import Proposal, ProposalFile, ProposalSigner
from tests.bot.telegram_harness import JPEG, REP_CHAT, Harness, bound_representative, invitation

COSIGNER_CHAT = 7011
STRANGER_CHAT = 7012
OFFICE_CHAT = 7013
DEPARTMENT_CHAT = 7014
NUMBER = "TA-2026-0001"
TITLE = "幸福路口增设信号灯"
BODY = (
    "幸福路与和平街交叉口早晚高峰拥堵严重，学生上学放学穿行危险，"
    "建议增设信号灯并在路口两侧划设人行横道，同时安排交警高峰时段值守。"
)


async def the_proposal(db: Database) -> Proposal:
    async with db.read() as session:
        return (await session.exec(select(Proposal).order_by(col(Proposal.id)))).one()


def everything(harness: Harness, chat_id: int) -> str:
    return "\n\n".join(message.get("plain_text") or "" for message in harness.server.sent(chat_id))


async def test_a_proposal_with_a_co_signer_from_draft_to_evaluation(fast: Harness, db: Database) -> None:
    await bound_representative(fast)
    for chat_id, code in (
        (COSIGNER_CHAT, "D002"),
        (STRANGER_CHAT, "T001"),
        (OFFICE_CHAT, "O01"),
        (DEPARTMENT_CHAT, "B01"),
    ):
        assert "绑定成功" in await fast.say(chat_id, f"/start {await invitation(db, code)}")

    # D001 drafts it with buttons, a photo and a co-signer found by name.
    assert "要写哪一类？" in await fast.say(REP_CHAT, "写提案")
    assert "请输入标题" in await fast.press(REP_CHAT, "提案")
    assert "请输入正文" in await fast.say(REP_CHAT, TITLE)
    assert "可以发照片或文件作为附件" in await fast.say(REP_CHAT, BODY)
    fast.server.user_sends_photo(REP_CHAT, JPEG)
    await fast.settle()
    assert "已收到1个附件" in fast.screen(REP_CHAT)
    assert "至少1位代表同意联名" in await fast.press(REP_CHAT, "完成")
    assert "李红梅（D002）" in await fast.say(REP_CHAT, "李红梅")
    assert "已选1位：李红梅" in await fast.press(REP_CHAT, "李红梅（D002）")
    assert "请核对提案" in await fast.press(REP_CHAT, "完成")
    assert f"已保存{NUMBER}《{TITLE}》" in await fast.press(REP_CHAT, "保存")

    # Someone not invited forges a press of the invitation's button: refused, nothing changes.
    await fast.say(STRANGER_CHAT, "/help")
    shown = fast.server.sent(STRANGER_CHAT)[-1]["message_id"]
    fast.server.user_presses_button(STRANGER_CHAT, shown, f"cmd:/proposals {NUMBER} cosign", check=False)
    await fast.settle()
    assert "这件提案不是您的" in everything(fast, STRANGER_CHAT)

    # D002 accepts from the invitation's button; D001 hears it may be submitted and submits from that notice.
    assert "邀请您联名" in everything(fast, COSIGNER_CHAT)
    assert f"您已同意联名{NUMBER}" in await fast.press(COSIGNER_CHAT, "同意联名")
    assert "联名人数已够，可以提交了" in everything(fast, REP_CHAT)
    assert f"{NUMBER}已提交" in await fast.press(REP_CHAT, "提交")

    # The liaison office establishes it from the review notice, then assigns it to 区住建局.
    assert f"新提交的提案待审查：{NUMBER}" in everything(fast, OFFICE_CHAT)
    assert "提案人：王建国" in await fast.press(OFFICE_CHAT, "查看提案")
    assert fast.buttons(OFFICE_CHAT)[:3] == ["确立", "不予确立", "合并到其他提案"]
    assert f"{NUMBER}已确立" in await fast.press(OFFICE_CHAT, "确立")
    assert "已确立，待交办" in await fast.press(OFFICE_CHAT, "查看提案")
    assert "交给哪个承办单位办理？" in await fast.press(OFFICE_CHAT, "交办")
    assert f"{NUMBER}已交办" in await fast.press(OFFICE_CHAT, "区住建局")

    # The department answers from the assignment notice.
    assert f"交办提案：{NUMBER}《{TITLE}》" in everything(fast, DEPARTMENT_CHAT)
    await fast.press(DEPARTMENT_CHAT, "查看提案")
    assert "请写下答复内容" in await fast.press(DEPARTMENT_CHAT, "答复")
    assert f"{NUMBER}已答复" in await fast.say(DEPARTMENT_CHAT, "已于路口增设信号灯并划设人行横道")

    # D001 evaluates from the answer's notice.
    assert "区住建局已答复您的" in everything(fast, REP_CHAT)
    assert "您对答复满意吗？" in await fast.press(REP_CHAT, "评价答复")
    assert "已办结" in await fast.press(REP_CHAT, "满意")

    proposal = await the_proposal(db)
    assert (proposal.state, proposal.department, proposal.answers, proposal.evaluation) == (
        "closed",
        "区住建局",
        1,
        "satisfied",
    )
    async with db.read() as session:
        [photo] = (await session.exec(select(ProposalFile))).all()
        [signer] = (await session.exec(select(ProposalSigner))).all()
    assert photo.kind == "photo" and photo.file_ref.startswith("file:")
    assert signer.status == "accepted"
    assert "已办结" in everything(fast, COSIGNER_CHAT)
    assert {row.status for row in await fast.outbox()} == {"sent"}
