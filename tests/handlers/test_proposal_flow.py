"""Proposals as conversations through the console channel: a representative drafts one and invites a co-signer,
the co-signer accepts, the author submits, the liaison office reviews and assigns, the department answers and the
author evaluates; by numbers and by the buttons' words, with the bad input each step must refuse politely."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import DialogState, Proposal, ProposalEvent, ProposalFile, ProposalSigner
from storage.settings import Settings
from tests.factories import Chat, Clock, District, build_district, chat_as

TITLE = "幸福路口增设信号灯"
BODY = (
    "幸福路与和平街交叉口早晚高峰拥堵严重，学生上学放学穿行危险，"
    "建议增设信号灯并在路口两侧划设人行横道，同时安排交警高峰时段值守。"
)
NUMBER = "TA-2026-0001"


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def photo(tmp_path: Path) -> str:
    """What the console sends as a photo (`/photo PATH`)."""
    path = tmp_path / "crossing.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    return f"/photo {path}"


async def people(db: Database, settings: Settings, clock: Clock) -> dict[str, Chat]:
    who = ("representative:D001", "representative:D002", "representative:T001", "liaison:O01", "department:B01")
    return {name.split(":")[1]: await chat_as(db, settings, name, clock) for name in who}


async def waiting(chat: Chat) -> str:
    """What reached this person while they were away."""
    return "\n\n".join(reply.text for reply in await chat.console.waiting())


async def the_proposal(db: Database) -> Proposal:
    async with db.read() as session:
        found = (await session.exec(select(Proposal).order_by(col(Proposal.id).desc()))).first()
        assert found is not None
        return found


async def history(db: Database) -> list[str]:
    async with db.read() as session:
        events = await session.exec(select(ProposalEvent).order_by(col(ProposalEvent.id)))
        return [event.action for event in events.all()]


async def draft_by_numbers(rep: Chat, photo: str) -> None:
    """D001 drafts a proposal answering every choice with its number, and invites D002."""
    await rep.talk(
        [
            ("/proposal", ["要写哪一类？", "1. 提案", "2. 提议", "3. 质询案"]),
            ("1", "请输入标题"),
            (TITLE, ["请输入正文", "至少50字"]),
            (BODY, ["可以发照片或文件作为附件", "1. 跳过"]),
            (photo, ["已收到1个附件", "1. 完成"]),
            ("1", ["至少1位代表同意联名", "1. 跳过"]),
            ("李", ["找到以下代表", "1. 李红梅（D002）", "2. 跳过"]),
            ("1", ["已选1位：李红梅", "还可以输入", "1. 完成"]),
            ("1", ["请核对提案", "类别：提案", f"标题：{TITLE}", "附件：1个", "邀请联名：李红梅", "1. 保存"]),
            ("1", [f"已保存{NUMBER}《{TITLE}》，已邀请1位代表联名", "还需要1位代表同意联名", "1. 查看提案"]),
        ]
    )


async def test_a_proposal_from_draft_to_evaluation_by_numbers(
    db: Database, settings: Settings, district: District, clock: Clock, photo: str
) -> None:
    chats = await people(db, settings, clock)
    rep, cosigner, office, dept = chats["D001"], chats["D002"], chats["O01"], chats["B01"]
    await draft_by_numbers(rep, photo)
    proposal = await the_proposal(db)
    assert (proposal.number, proposal.state, proposal.title, proposal.body) == (NUMBER, "signing", TITLE, BODY)
    assert f"提案《{TITLE}》（{NUMBER}）邀请您联名" in await waiting(cosigner)

    # Too early: one reply naming what is missing, and nothing changes.
    await rep.talk(
        [
            (f"/proposals {NUMBER}", ["征集联名中", "李红梅（待回复）", "1. 提交", "2. 邀请联名", "3. 撤回"]),
            ("1", [f"{NUMBER}还不能提交，还需要：", "· 还需要1位代表同意联名", "1. 提交"]),
        ]
    )
    await rep.send("/cancel")
    assert (await the_proposal(db)).state == "signing"

    # The invitation's button types `/proposals NUMBER cosign`.
    await cosigner.talk([(f"/proposals {NUMBER} cosign", f"您已同意联名{NUMBER}")])
    told = await waiting(rep)
    assert "李红梅同意联名" in told and "联名人数已够，可以提交了" in told
    await rep.talk([(f"/proposals {NUMBER}", "李红梅（已同意）"), ("1", f"{NUMBER}已提交，等待联络办公室审查")])
    assert f"新提交的提案待审查：{NUMBER}《{TITLE}》" in await waiting(office)
    assert f"{NUMBER}《{TITLE}》已提交" in await waiting(cosigner)

    await office.talk(
        [
            ("/proposals", ["共1件提案", f"{NUMBER} 提案《{TITLE}》：已提交，待审查", f"1. {NUMBER}"]),
            ("1", ["提案人：王建国", "1. 确立", "2. 不予确立", "3. 合并到其他提案", "4. 返回列表"]),
            ("1", f"{NUMBER}已确立"),
            (f"/proposals {NUMBER}", ["已确立，待交办", "1. 交办"]),
            ("1", ["交给哪个承办单位办理？", "1. 区住建局"]),
            ("1", f"{NUMBER}已交办"),
        ]
    )
    proposal = await the_proposal(db)
    assert (proposal.state, proposal.department) == ("assigned", "区住建局")
    assert proposal.due_on is not None
    assert f"交办提案：{NUMBER}《{TITLE}》，请于{proposal.due_on.isoformat()}前答复" in await waiting(dept)
    assert f"已交区住建局办理，{proposal.due_on.isoformat()}前答复" in await waiting(rep)

    await dept.talk(
        [
            ("/proposals", ["共1件提案", "已交办"]),
            ("1", ["1. 办理进展", "2. 答复"]),
            ("1", "请写下办理进展"),
            ("已与交警部门会商", f"{NUMBER}的办理进展已发给提案人和联名代表"),
            (f"/proposals {NUMBER}", "答复"),
            ("2", "请写下答复内容"),
            ("已于路口增设信号灯并划设人行横道", f"{NUMBER}已答复"),
        ]
    )
    told = await waiting(rep)
    assert "办理进展：已与交警部门会商" in told
    assert "区住建局已答复您的" in told and "请评价答复" in told

    # Dissatisfied with the first answer: a second one is asked, once.
    await rep.talk(
        [
            (
                f"/proposals {NUMBER} evaluate",
                ["答复内容：", "已于路口增设信号灯", "1. 满意", "2. 基本满意", "3. 不满意"],
            ),
            ("3", "请写明不满意的地方"),
            ("人行横道还没有划", ["已评价", "已交办"]),
        ]
    )
    assert "不满意（人行横道还没有划）" in await waiting(dept)
    await dept.talk([(f"/proposals {NUMBER}", "答复"), ("2", "请写下答复内容"), ("人行横道已划设完毕", "已答复")])
    await rep.talk(
        [
            (f"/proposals {NUMBER} evaluate", ["第二次答复内容", "这是最后一次评价"]),
            ("2", ["已评价", "已办结"]),
        ]
    )
    proposal = await the_proposal(db)
    assert (proposal.state, proposal.answers, proposal.evaluation) == ("closed", 2, "basic")
    assert await history(db) == [
        "drafted",
        "invited",
        "cosigned",
        "submitted",
        "established",
        "assigned",
        "progress",
        "answered",
        "evaluated",
        "reassigned",
        "answered",
        "evaluated",
        "closed",
    ]
    async with db.read() as session:
        files = (await session.exec(select(ProposalFile))).all()
        dialogs = (await session.exec(select(DialogState).where(DialogState.flow != "_offer"))).all()
    assert [file.kind for file in files] == ["photo"]
    assert dialogs == []


async def test_the_same_by_the_buttons_words(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    rep, cosigner, office = chats["D001"], chats["D002"], chats["O01"]
    await rep.talk(
        [
            ("写提案", "要写哪一类？"),
            ("提案", "请输入标题"),
            (TITLE, "请输入正文"),
            (BODY, "附件"),
            ("跳过", "联名"),
            ("D002", "李红梅（D002）"),
            ("李红梅（D002）", "已选1位：李红梅"),
            ("完成", "请核对提案"),
            ("保存", f"已保存{NUMBER}"),
        ]
    )
    await cosigner.talk(
        [
            ("我的提案", [f"{NUMBER} 提案《{TITLE}》：征集联名中"]),
            (NUMBER, ["1. 同意联名", "2. 谢绝联名"]),
            ("同意联名", f"您已同意联名{NUMBER}"),
        ]
    )
    await rep.talk([("我的提案", NUMBER), (NUMBER, "提交"), ("提交", "已提交")])
    await office.talk(
        [
            ("提案列表", NUMBER),
            (NUMBER, "不予确立"),
            ("不予确立", "请写明不予确立的理由"),
            ("属于人大代表建议范围，请向区人大提出", f"{NUMBER}不予确立，理由已发给提案人"),
        ]
    )
    told = await waiting(rep)
    assert f"{NUMBER}《{TITLE}》不予确立。理由：属于人大代表建议范围，请向区人大提出" in told
    assert (await the_proposal(db)).reason == "属于人大代表建议范围，请向区人大提出"


async def test_a_kind_without_co_signers_is_submitted_when_saved_and_merged_by_the_office(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    chats = await people(db, settings, clock)
    rep, other, office = chats["D001"], chats["T001"], chats["O01"]
    for chat, title in ((rep, TITLE), (other, "和平街口加装红绿灯")):
        await chat.talk(
            [
                ("/proposal", "要写哪一类？"),
                ("提议", "请输入标题"),
                (title, "至少20字"),
                (BODY, "附件"),
                ("跳过", "可以邀请其他代表联名"),
                ("跳过", ["邀请联名：无"]),
                ("保存", "等待联络办公室审查"),
            ]
        )
    await office.talk(
        [
            ("/proposals TA-2026-0002", "合并到其他提案"),
            ("合并到其他提案", "要并入哪件提案？"),
            ("TA-2026-0002", ["不能把提案合并到它自己", "要并入哪件提案？"]),
            ("1", "TA-2026-0002已合并"),  # this year's first
        ]
    )
    assert f"TA-2026-0002《和平街口加装红绿灯》已并入{NUMBER}" in await waiting(other)
    assert f"TA-2026-0002已并入您的{NUMBER}《{TITLE}》" in await waiting(rep)


async def test_bad_input_is_refused_politely_and_nothing_is_lost(
    db: Database, settings: Settings, district: District, clock: Clock
) -> None:
    rep = await chat_as(db, settings, "representative:D001", clock)
    await rep.talk(
        [
            ("/proposal", "要写哪一类？"),
            ("9", "请回复 1 到 3 之间的编号"),
            ("质询案", "请输入标题"),
            ("长" * 61, "内容太长了：最多60字"),
            (TITLE, "至少50字"),
            ("路口太堵", "附件"),
            ("跳过", "这一类需要至少4位代表同意联名"),
            ("张伟", "没有找到与您同级的代表“张伟”"),  # T001 is a township representative
            ("王建国", "不能邀请自己联名"),
            ("跳过", "请核对提案"),
            ("保存", ["还不能保存，这一类提案要求：", "· 还需要4位代表同意联名", "· 正文至少要50字", "1. 保存"]),
            ("改正文", "请输入正文"),
            (BODY, "请核对提案"),
            ("改类别", "要写哪一类？"),
            ("提议", "请核对提案"),
            ("保存", ["已提交", NUMBER]),
        ]
    )
    proposal = await the_proposal(db)
    assert (proposal.kind, proposal.body, proposal.state) == ("motion", BODY, "submitted")
    async with db.read() as session:
        assert (await session.exec(select(ProposalSigner))).all() == []


async def test_the_author_withdraws_after_confirming(
    db: Database, settings: Settings, district: District, clock: Clock, photo: str
) -> None:
    chats = await people(db, settings, clock)
    rep, cosigner = chats["D001"], chats["D002"]
    await draft_by_numbers(rep, photo)
    await waiting(cosigner)
    await rep.talk(
        [
            (f"/proposals {NUMBER}", "3. 撤回"),
            ("撤回", "确定要撤回这件提案吗？"),
            ("否", "1. 提交"),
            ("撤回", "确定要撤回"),
            ("是", f"{NUMBER}已撤回"),
        ]
    )
    assert f"{NUMBER}《{TITLE}》已被提案人撤回" in await waiting(cosigner)
    await cosigner.talk([(f"/proposals {NUMBER} cosign", ["这一步现在已经不能办理了", "已撤回"])])
