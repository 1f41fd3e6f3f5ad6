"""The router: who is writing, invitations, roles, languages, and what happens when something breaks."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from handlers.commands import parse
from handlers.events import Inbound, InputKind, Reply
from handlers.router import Router
from storage.db import Database
from storage.models import ChatIdentity, Visit
from storage.records import people, visits
from storage.settings import Settings
from tests.factories import NOW, Clock, build_district, chat_as


def telegram(
    user: str, text: str = "", *, kind: InputKind = "text", data: str = "", photo: str = "", language: str | None = None
) -> Inbound:
    return Inbound(
        channel="telegram",
        chat_id=user,
        user_id=user,
        kind=kind,
        text=text,
        data=data,
        photo=photo,
        language=language,
        event_id=f"tg-{user}-{text}",
    )


def joined(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


async def invite(db: Database, code: str = "D001") -> str:
    async with db.transaction() as session:
        issued = await people.create_invitation(
            session, person_code=code, now=NOW, valid_for=timedelta(days=14), actor="test"
        )
    return issued.code


@pytest.fixture
async def router(db: Database, settings: Settings) -> Router:
    await build_district(db)
    return Router(db, settings, clock=Clock())


@pytest.mark.parametrize(
    ("text", "command", "arguments"),
    [
        ("/visit", "visit", ""),
        ("/visit@lianxin_demo_bot 幸福路", "visit", "幸福路"),
        ("走访 幸福路12号 入户 路灯坏了", "visit", "幸福路12号 入户 路灯坏了"),
        ("/START abc", "start", "abc"),
        ("进度", "progress", ""),
        ("路灯坏了", None, None),
        ("", None, None),
    ],
)
def test_parse_command(text: str, command: str | None, arguments: str | None) -> None:
    parsed = parse(text)
    assert (parsed.name if parsed else None, parsed.arguments if parsed else None) == (command, arguments)


async def test_a_stranger_is_a_resident(router: Router, db: Database) -> None:
    assert "党代表和工作人员请发送邀请码完成绑定" in joined(await router.handle(telegram("7", "你好")))
    assert "欢迎使用连心" in joined(await router.handle(telegram("7", "/start")))
    async with db.transaction() as session:
        identity = (await session.exec(select(ChatIdentity).where(ChatIdentity.external_id == "7"))).one()
    assert (identity.channel, identity.role, identity.representative_id) == ("telegram", "resident", None)


async def test_invitation_binds_and_opens_the_visit_flow(router: Router, db: Database) -> None:
    code = await invite(db)
    assert "这项功能只对党代表开放" in joined(await router.handle(telegram("7", "/visit")))
    assert "绑定成功！欢迎您，王建国代表" in joined(await router.handle(telegram("7", f"/start {code}")))
    assert "走访哪一户" in joined(await router.handle(telegram("7", "/visit")))


async def test_bare_code_binds_too(router: Router, db: Database) -> None:
    code = await invite(db)
    assert "绑定成功" in joined(await router.handle(telegram("8", f"  {code.lower()} ")))


@pytest.mark.parametrize(
    ("first_user", "second_user", "advance_days", "expected"),
    [
        ("7", "8", 0, "这个邀请码已经被使用过了"),
        ("7", "7", 0, "您已经用这个邀请码绑定为党代表 王建国"),
        (None, "8", 15, "这个邀请码已过期"),
    ],
)
async def test_invitation_misuse(
    db: Database, settings: Settings, first_user: str | None, second_user: str, advance_days: int, expected: str
) -> None:
    await build_district(db)
    clock = Clock()
    router = Router(db, settings, clock=clock)
    code = await invite(db)
    if first_user:
        assert "绑定成功" in joined(await router.handle(telegram(first_user, f"/start {code}")))
    clock.advance(days=advance_days)
    assert expected in joined(await router.handle(telegram(second_user, f"/start {code}")))


async def test_unknown_code(router: Router) -> None:
    assert "邀请码不正确" in joined(await router.handle(telegram("7", "/start ABCDEFGHJK")))
    assert "邀请码不正确" in joined(await router.handle(telegram("7", "ABCDEFGHJK")))


async def test_leader_reads_a_representatives_progress(db: Database, settings: Settings) -> None:
    await build_district(db)
    leader = await chat_as(db, settings, "leader:L01")
    await leader.talk(
        [
            ("/progress", "请在命令后写代表编号"),
            ("/progress D001", ["党代表 王建国（D001）", "已联系 0/100 户", "五必访尚缺"]),
            ("/progress D999", "找不到编号为 D999 的党代表"),
            ("/visit", "这项功能只对党代表开放"),
        ]
    )
    resident = await chat_as(db, settings, "resident:someone")
    assert "这项功能只对党代表开放" in await resident.send("/progress D001")


async def test_language_choice_by_button(router: Router) -> None:
    replies = await router.handle(telegram("7", "/lang"))
    assert [button.data for button in replies[0].buttons] == ["lang:zh-CN", "lang:en"]
    replies = await router.handle(telegram("7", kind="button", data="lang:en"))
    assert "Language set to English" in joined(replies)
    assert "This is Lianxin" in joined(await router.handle(telegram("7", "/help")))
    assert "已切换为中文" in joined(await router.handle(telegram("7", "/lang zh")))


async def test_platform_language_hint_is_used_until_chosen(router: Router) -> None:
    replies = await router.handle(telegram("9", "/help", language="en-GB"))
    assert "This is Lianxin" in joined(replies)


async def test_inputs_outside_a_dialog(router: Router) -> None:
    await router.handle(telegram("7", "/start"))
    assert "收到了您的图片，但现在没有进行中的记录" in joined(
        await router.handle(telegram("7", kind="photo", photo="f1"))
    )
    assert "不认识命令 /foo" in joined(await router.handle(telegram("7", "/foo")))
    assert "这段对话已经结束了" in joined(await router.handle(telegram("7", kind="button", data="visit:mode:home")))
    assert "现在没有正在填写的内容，不需要取消" in joined(await router.handle(telegram("7", "/cancel")))
    assert "现在没有正在填写的内容，不需要取消" in joined(await router.handle(telegram("7", "取消")))
    assert "没有上一步可以返回" in joined(await router.handle(telegram("7", "/back")))
    assert "没有上一步可以返回" in joined(await router.handle(telegram("7", "返回")))


async def test_unexpected_failure_apologises_commits_nothing_and_logs_no_text(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await build_district(db)
    chat = await chat_as(db, settings, "representative:D001")
    for line in ["走访 幸福路14号 入户 私密的诉求内容", "确认", "个人走访", "日常走访", "跳过", "跳过"]:
        await chat.send(line)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(" ".join(["disk", "on", "fire"]))  # the message exists only at run time

    monkeypatch.setattr(visits, "progress", broken)
    with caplog.at_level(logging.ERROR):
        answer = await chat.send("保存")
    assert "抱歉，系统出了点问题，刚才的操作没有生效" in answer
    assert "私密的诉求内容" not in caplog.text and "赵强" not in caplog.text
    assert "RuntimeError" in caplog.text and "in broken" in caplog.text  # type and traceback for the operator
    assert "disk on fire" not in caplog.text  # but not the message, which may quote personal data
    async with db.transaction() as session:
        assert (await session.exec(select(Visit))).all() == []  # the visit and the progress fail together
    monkeypatch.undo()
    assert "走访已保存" in await chat.send("保存")  # the dialog survived and can be finished


async def test_leaders_see_figures_in_neutral_words_and_no_households(db: Database, settings: Settings) -> None:
    await build_district(db)
    leader = await chat_as(db, settings, "leader:L01")
    answer = await leader.send("/progress D001")
    assert "落后 90 户" in answer and "请加快节奏" not in answer
    assert "建议走访" not in answer and "幸福路14号" not in answer
    assert "邀请码" not in await leader.send("/visit")  # staff are not told to bind as a representative


async def test_language_menu_answers_to_numbers_and_names(router: Router) -> None:
    assert "请选择语言" in joined(await router.handle(telegram("7", "/lang")))
    assert "Language set to English" in joined(await router.handle(telegram("7", "2")))
    assert "已切换为中文" in joined(await router.handle(telegram("7", "/lang 中文")))
    assert "Language set to English" in joined(await router.handle(telegram("7", "语言 English")))
    assert "Please choose 中文 or English" in joined(await router.handle(telegram("7", "/lang fr")))


async def test_a_staff_account_cannot_redeem_a_representatives_code(db: Database, settings: Settings) -> None:
    await build_district(db)
    code = await invite(db)
    leader = await chat_as(db, settings, "leader:L01")
    assert "工作人员账号，不能绑定为党代表" in await leader.send(f"/start {code}")
    representative = await chat_as(db, settings, "representative:T001")
    assert "走访哪一户" in await representative.send("/visit")
