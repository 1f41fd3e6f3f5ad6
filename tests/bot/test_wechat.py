"""The WeChat channel end to end: the real gRPC protocol (grpclib, wechaty-grpc's PuppetStub) against the fake puppet
service on 127.0.0.1, with the inbox and the outbox in the real database. WeChat has no buttons: every choice is a
numbered line, and the number or the label picks it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from wechaty_grpc.wechaty.puppet import MessageType

from bot.channel import split_text
from bot.sender import RateLimiter, overall_window
from bot.wechat import render
from bot.wechat_puppet import server_name_of
from storage.db import Database
from storage.models import Case, ChatIdentity, OutboxMessage, VisitPhoto, utcnow
from storage.records import channel_status, people
from storage.settings import Settings
from tests.bot.telegram_harness import JPEG, REP_CHAT, invitation, running_bot, visits
from tests.bot.wechat_harness import OPS, REP, RESIDENT, WeChatHarness, running_wechat, wait_for
from tests.factories import District
from tests.fakes.tls import SERVER_NAME, puppet_tls
from tests.fakes.wechat_puppet import FakePuppet

DEPARTMENT = "wxid_dept_zhujian"


@pytest.fixture
async def wechat(db: Database, settings: Settings, district: District, tmp_path: Path) -> AsyncIterator[WeChatHarness]:
    async with running_wechat(db, settings, tmp_path / "files") as harness:
        yield harness


async def send_image(wechat: WeChatHarness, talker: str, content: bytes) -> str:
    before = len(wechat.fake.sent_to(talker))
    return await wechat.read_new(talker, before, wechat.fake.send_image(talker, content))


# --- the whole programme by numbered replies ----------------------------------------------------------------------


async def test_invitation_then_a_whole_visit_by_numbers_with_a_photo_and_a_location(
    wechat: WeChatHarness, db: Database
) -> None:
    welcome = await wechat.say(REP, await invitation(db))
    assert "绑定成功" in welcome and "王建国" in welcome
    assert "1. ➕ 登记新住户" in await wechat.say(REP, "/visit")
    found = await wechat.say(REP, "幸福路12号")
    assert "1. 幸福路12号1栋1单元101 陈*明" in found and "2. 幸福路12号1栋1单元102 刘*" in found
    assert "走访方式是？\n1. 入户" in await wechat.say(REP, "1")
    assert "这户的类别" in await wechat.say(REP, "1")
    assert "个人走访还是集体走访？\n1. 个人走访\n2. 集体走访" in await wechat.say(REP, "确认")  # a label works too
    assert "日常走访还是集中走访" in await wechat.say(REP, "1")
    assert "请简要记录" in await wechat.say(REP, "1")
    assert "需要附照片吗" in await wechat.say(REP, "楼道灯坏了")
    assert "已收到1张照片" in await send_image(wechat, REP, JPEG)
    location_step = await wechat.say(REP, "1")
    # No share button on WeChat: the step says how to send a location.
    assert "需要记录走访位置吗" in location_step and "选“位置”发送" in location_step
    before = len(wechat.fake.sent_to(REP))
    confirmation = await wechat.read_new(REP, before, wechat.fake.send_location(REP, 30.7, 111.29))
    assert "请核对这次走访" in confirmation and "1. 保存" in confirmation
    saved = await wechat.say(REP, "1")
    assert "✅ 走访已保存" in saved and "1. 📝 反映诉求" in saved

    [visit] = await visits(db)
    assert (visit.mode, visit.notes, visit.latitude, visit.longitude) == ("home", "楼道灯坏了", 30.7, 111.29)
    async with db.transaction() as session:
        [photo] = (await session.exec(select(VisitPhoto))).all()
    stored = Path(photo.file_ref.removeprefix("file:"))
    assert await asyncio.to_thread(stored.read_bytes) == JPEG
    # Every reply went out once, each with the service's message id; nothing an edit would need.
    rows = await wechat.outbox()
    assert rows and all(row.status == "sent" for row in rows)
    assert all(row.external_id for row in rows if row.kind == "message")
    # The inbox keeps ids, types and texts: no file content, no names of the talker.
    assert all(set(event.payload) <= {"id", "type", "talker", "text", "suffix"} for event in await wechat.inbox())


async def test_a_residents_letter_reaches_the_department_and_the_answer_reaches_the_resident(
    wechat: WeChatHarness, db: Database
) -> None:
    await wechat.say(DEPARTMENT, await invitation(db, "B01"))
    assert "负责的党代表" in await wechat.say(RESIDENT, "写信")
    assert "1. 幸福社区一区" in await wechat.say(RESIDENT, "幸福社区")
    assert "2. 住房物业" in await wechat.say(RESIDENT, "1")
    assert "请写下您想反映的问题" in await wechat.say(RESIDENT, "住房物业")
    assert "可以发照片" in await wechat.say(RESIDENT, "楼上漏水到我家天花板，物业不管。")
    assert "要署名吗" in await wechat.say(RESIDENT, "跳过")
    assert "请核对您的来信" in await wechat.say(RESIDENT, "2")  # anonymous
    accepted = await wechat.say(RESIDENT, "1")
    assert "✅ 已受理，编号 LX-2026-000001" in accepted and "区住建局" in accepted

    # The department's notice offers its case as a numbered line; the number opens it.
    notice = wechat.screen(DEPARTMENT)
    assert "交办案件 LX-2026-000001" in notice and notice.endswith("1. 查看案件")
    steps = await wechat.say(DEPARTMENT, "1")
    assert "来信人：匿名" in steps and "2. 答复" in steps
    assert "请写下答复内容" in await wechat.say(DEPARTMENT, "2")
    assert "问题解决了吗" in await wechat.say(DEPARTMENT, "漏水点已修好，天花板下周重新粉刷。")
    assert "✅ LX-2026-000001 已答复" in await wechat.say(DEPARTMENT, "1")

    answer = wechat.screen(RESIDENT)
    assert "已答复（已解决）" in answer and "漏水点已修好" in answer and answer.endswith("1. 评价")
    assert "2. 返回列表" in await wechat.say(RESIDENT, "1")
    assert "1. 满意" in await wechat.say(RESIDENT, "评价")
    assert "当前状态：已办结" in await wechat.say(RESIDENT, "1")
    async with db.transaction() as session:
        [case] = (await session.exec(select(Case))).all()
    assert (case.state, case.rating) == ("closed", "satisfied")


async def test_a_shared_contact_card_gives_the_phone_and_a_card_without_one_is_refused(
    wechat: WeChatHarness, db: Database
) -> None:
    for line in ("写信", "幸福社区", "1", "1", "楼道里的灯坏了三个月，晚上看不见路。", "跳过", "1"):
        await wechat.say(RESIDENT, line)
    assert "联系电话" in await wechat.say(RESIDENT, "陈小红")
    wechat.fake.add_contact("wxid_card_nophone", name="某人")
    before = len(wechat.fake.sent_to(RESIDENT))
    refused = await wechat.read_new(RESIDENT, before, wechat.fake.send_contact_card(RESIDENT, "wxid_card_nophone"))
    assert "没有手机号" in refused
    wechat.fake.add_contact("wxid_card_chen", name="陈小红", phones=["13912345678"])
    before = len(wechat.fake.sent_to(RESIDENT))
    taken = await wechat.read_new(RESIDENT, before, wechat.fake.send_contact_card(RESIDENT, "wxid_card_chen"))
    assert "是否同意承办单位打电话" in taken
    assert "电话：13912345678" in await wechat.say(RESIDENT, "2")


# --- what the channel reads and what it leaves alone ----------------------------------------------------------


async def test_own_system_and_group_talk_are_left_alone_and_a_mention_gets_the_private_only_line(
    wechat: WeChatHarness,
) -> None:
    fake = wechat.fake
    fake.from_self(RESIDENT, "我自己发的")
    fake.system_message("你撤回了一条消息")
    fake.say("wxid_neighbour", "大家好", room="900@chatroom")
    mentioned = fake.say("wxid_neighbour", "@连心 怎么走访", room="900@chatroom", mentions=[fake.self_id])
    await wait_for(lambda: mentioned in fake.payload_requests, "the mention to be read")
    await wechat.settle()
    [stored] = await wechat.inbox()
    assert stored.event_key == mentioned and stored.chat_key == "900@chatroom"
    # In a group the bot says only that it works in private chats, and at most once a minute.
    assert [sent.text for sent in fake.sent_to("900@chatroom")] == [
        "为保护个人信息，我只在私聊中办理事务。请加我为好友后私聊。"
    ]
    again = fake.say("wxid_other", "@连心 你好", room="900@chatroom", mentions=[fake.self_id])
    await wait_for(lambda: again in fake.payload_requests, "the second mention to be read")
    await wechat.settle()
    assert len(fake.sent_to("900@chatroom")) == 1
    assert fake.sent_to(RESIDENT) == [] and fake.sent_to("wxid_neighbour") == []


async def test_a_configured_group_is_kept_without_a_mention_and_a_mention_is_answered(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_wechat(db, settings, tmp_path / "files", groups=["901@chatroom"]) as wechat:
        wechat.fake.say("wxid_neighbour", "@连心 在吗", room="901@chatroom", mentions=[wechat.fake.self_id])
        await wechat.fake.wait_sent("901@chatroom", 1)
        assert "只在私聊中办理事务" in wechat.screen("901@chatroom")
        said = wechat.fake.say("wxid_neighbour", "请问接待日是哪天", room="901@chatroom")
        await wait_for(lambda: said in wechat.fake.payload_requests, "the group's message to be read")
        await wechat.settle()
        # Kept, but only what is said to the bot is answered: a busy group does not hear the line every minute.
        kept = [event for event in await wechat.inbox() if event.event_key == said]
        assert [(event.chat_key, event.status) for event in kept] == [("901@chatroom", "done")]
        assert len(wechat.fake.sent_to("901@chatroom")) == 1


async def test_official_accounts_and_untyped_system_lines_are_not_kept(wechat: WeChatHarness) -> None:
    fake = wechat.fake
    ignored = [
        fake.say("gh_3f2a1b0c9d8e", "本周热点"),  # an official account's post
        fake.system_message("你已添加了陈小红", as_unknown=True),  # a system line as puppets before System typed it
        fake.say("filehelper", "备忘"),
    ]
    kept = fake.say(RESIDENT, "你好")
    await wait_for(lambda: all(one in fake.payload_requests for one in [*ignored, kept]), "all to be read")
    await wechat.settle()
    assert [event.event_key for event in await wechat.inbox()] == [kept]
    assert fake.sent_to("gh_3f2a1b0c9d8e") == [] and fake.sent_to("filehelper") == []


async def test_a_message_the_gateway_cannot_give_yet_is_asked_for_again(
    wechat: WeChatHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its id is stored as it arrives; the content is asked for again a few seconds later, and then handled."""
    from tests.fakes import wechat_puppet

    real = wechat_puppet._PuppetService.message_payload
    refusals = [1]

    async def hiccup(service: Any, request: Any) -> Any:
        if refusals:
            refusals.pop()
            service.fake.payload_requests.append(request.id)
            raise service.fake.failure("the puppet is busy")
        return await real(service, request)

    monkeypatch.setattr(wechat_puppet._PuppetService, "message_payload", hiccup)
    message_id = wechat.fake.say(RESIDENT, "你好")
    await wait_for(lambda: message_id in wechat.fake.payload_requests, "the first try")
    await asyncio.sleep(0.1)
    [waiting] = await wechat.inbox()
    assert (waiting.event_key, waiting.status, waiting.chat_key) == (message_id, "arrived", "")
    await wechat.fake.wait_sent(RESIDENT, 1, within=15)
    assert wechat.fake.payload_requests.count(message_id) == 2
    [handled] = await wechat.inbox()
    assert (handled.status, handled.chat_key) == ("done", RESIDENT)


async def test_a_person_who_is_no_longer_a_friend_counts_as_blocking_the_bot(
    wechat: WeChatHarness, db: Database
) -> None:
    from storage.delivery import outbox

    await wechat.say(REP, await invitation(db))
    wechat.fake.strangers.add(REP)
    async with db.transaction() as session:
        await outbox.enqueue(session, messages=[outbox.NewMessage("wechat", REP, {"text": "提醒"})], now=utcnow())
    wechat.bot.sender.wake()
    for _ in range(100):
        async with db.read() as session:
            identity = await people.identity_by_external_id(session, channel="wechat", external_id=REP)
        if identity.blocked_at is not None:
            break
        await asyncio.sleep(0.05)
    assert identity.blocked_at is not None
    [row] = [row for row in await wechat.outbox() if row.payload.get("text") == "提醒"]
    assert (row.status, row.error) == ("failed", "Blocked")  # at once, not after every attempt


async def test_a_duplicate_message_event_is_handled_once(wechat: WeChatHarness) -> None:
    first = await wechat.say(RESIDENT, "你好")
    assert first
    message_id = wechat.fake.delivered[-1]
    wechat.fake.redeliver(message_id)
    wechat.fake.redeliver(message_id)
    await wait_for(lambda: wechat.fake.delivered.count(message_id) == 3, "the duplicates to be delivered")
    await asyncio.sleep(0.2)
    await wechat.settle()
    # Stored once by its id, and not even read again.
    assert wechat.fake.payload_requests.count(message_id) == 1
    assert len(await wechat.inbox()) == 1
    assert "\n\n".join(sent.text for sent in wechat.fake.sent_to(RESIDENT)) == first


async def test_voice_and_video_get_a_polite_line_and_photos_nobody_asked_for_are_not_fetched(
    wechat: WeChatHarness,
) -> None:
    before = len(wechat.fake.sent_to(RESIDENT))
    voice = wechat.fake._receive(MessageType.MESSAGE_TYPE_AUDIO, RESIDENT, "")
    assert "语音、表情、视频和链接暂时读不懂" in await wechat.read_new(RESIDENT, before, voice)
    answer = await send_image(wechat, RESIDENT, JPEG)
    assert answer  # answered (the resident is in no dialog that takes a photo), and no file was stored
    assert not (wechat.bot.channel.files).exists() or not any(wechat.bot.channel.files.iterdir())


async def test_a_large_photo_comes_by_download_and_one_over_the_limit_is_refused(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    big = JPEG + bytes(1_500_000)
    async with running_wechat(
        db, settings, tmp_path / "files", fake=FakePuppet(large_file_bytes=64 * 1024), max_file_mb=1
    ) as wechat:
        await wechat.say(REP, await invitation(db))
        for line in ("/visit", "幸福路12号", "1", "1", "确认", "1", "1"):
            await wechat.say(REP, line)
        assert "需要附照片吗" in await wechat.say(REP, "楼道灯坏了")
        assert "1 MB 的上限" in await send_image(wechat, REP, big)
        middling = JPEG + bytes(200_000)  # above the service's inline size: a uuid box, fetched by Download
        assert "已收到1张照片" in await send_image(wechat, REP, middling)
        [stored] = list(wechat.bot.channel.files.iterdir())
        assert await asyncio.to_thread(stored.read_bytes) == middling
        # A puppet that hands out photos by URL: fetched over HTTP with the box's headers.
        by_url = JPEG + bytes(5_000)
        before = len(wechat.fake.sent_to(REP))
        message = wechat.fake.send_image(REP, by_url, as_url=True, headers={"X-Token": "t"})
        assert "已收到2张照片" in await wechat.read_new(REP, before, message)
        assert by_url in [path.read_bytes() for path in wechat.bot.channel.files.iterdir()]


async def test_long_replies_are_cut_under_the_chunk_and_menus_stay_whole(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    async with running_wechat(db, settings, tmp_path / "files", chunk=300) as wechat:
        await wechat.say(REP, await invitation(db))
        before = len(wechat.fake.sent_to(REP))
        await wechat.say(REP, "/help")
        pieces = [sent.text for sent in wechat.fake.sent_to(REP)[before:]]
        assert len(pieces) >= 4 and all(len(piece) <= 300 for piece in pieces)
        assert "\n".join(pieces).count("/visit（走访）") == 1


def test_buttons_become_numbered_lines_with_how_to_share_a_location() -> None:
    payload = {"text": "位置？", "buttons": [["visit:skip", "跳过"]], "ask": "location", "language": "en"}
    assert render(payload) == "位置？\n1. 跳过\n(tap + beside the input box and choose Location to send where you are)"
    assert split_text("a\n" * 10, 6) == ["a\na\na", "a\na\na", "a\na\na", "a"]


# --- files Lianxin sends -------------------------------------------------------------------------------------


async def test_a_spreadsheet_goes_inline_and_a_large_one_by_upload_with_its_caption_first(
    wechat: WeChatHarness, db: Database, tmp_path: Path
) -> None:
    from storage.delivery import outbox

    small, large = tmp_path / "week.xlsx", tmp_path / "year.xlsx"
    small.write_bytes(b"PK\x03\x04" + bytes(1000))
    large.write_bytes(b"PK\x03\x04" + bytes(3 * 1024 * 1024))  # a base64 box of it would pass gRPC's 4 MB
    async with db.transaction() as session:
        await outbox.enqueue(
            session,
            messages=[
                outbox.NewMessage(
                    "wechat", REP, {"path": str(small), "caption": "本周周报", "filename": "周报.xlsx"}, "document"
                ),
                outbox.NewMessage("wechat", REP, {"path": str(large), "filename": "全年.xlsx"}, "document"),
            ],
            now=utcnow(),
        )
    wechat.bot.sender.wake()
    sent = await wechat.fake.wait_sent(REP, 3)
    assert [(one.kind, one.text or one.file_name, one.box) for one in sent] == [
        ("text", "本周周报", ""),
        ("file", "周报.xlsx", "base64"),
        ("file", "全年.xlsx", "uuid"),
    ]
    assert sent[2].content == large.read_bytes()


# --- one person on two channels ------------------------------------------------------------------------------


async def test_notices_go_to_the_channel_used_last_or_the_one_chosen(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    """D001 bound on Telegram and on WeChat: a resident's letters reach only the chat D001 wrote from last, until
    D001 chooses one with /channel."""
    async with (
        running_bot(db, settings, tmp_path / "tg", fast=True) as telegram,
        running_wechat(db, settings, tmp_path / "wx", alone=False) as wechat,
    ):
        assert "绑定成功" in await telegram.say(REP_CHAT, f"/start {await invitation(db)}")
        assert "绑定成功" in await wechat.say(REP, await invitation(db))

        async def letter(text: str) -> str:
            for line in ("写信", "幸福社区", "1", "1", text, "跳过", "2"):
                await wechat.say(RESIDENT, line)
            accepted = await wechat.say(RESIDENT, "1")
            await telegram.settle()
            return accepted.split("编号 ")[1].split("，")[0]

        def told(number: str) -> tuple[bool, bool]:
            on_telegram = any(number in (m.get("plain_text") or "") for m in telegram.server.sent(REP_CHAT))
            on_wechat = any(number in sent.text for sent in wechat.fake.sent_to(REP))
            return on_telegram, on_wechat

        first = await letter("楼道里的灯坏了三个月，晚上看不见路。")
        assert told(first) == (False, True)  # WeChat was used last (the binding)
        await telegram.say(REP_CHAT, "/progress")
        second = await letter("小区门口的路灯也坏了，晚上很黑。")
        assert told(second) == (True, False)
        # Chosen on Telegram by its button: WeChat, whatever is used later.
        assert "通知现在发到：Telegram（最近使用的渠道）" in await telegram.say(REP_CHAT, "/channel")
        assert "通知以后只发到微信" in await telegram.press(REP_CHAT, "只在微信接收")
        await telegram.say(REP_CHAT, "/progress")
        third = await letter("垃圾桶满了没人清运，气味很大。")
        assert told(third) == (False, True)
        # Back to following the chat used last, by number on WeChat; then Telegram is used.
        choice = await wechat.say(REP, "/channel")
        number = next(line.split(".")[0] for line in choice.splitlines() if "跟随最近使用" in line)
        assert "通知以后发到您最近使用的渠道" in await wechat.say(REP, number)
        await telegram.say(REP_CHAT, "/progress")
        fourth = await letter("健身器材坏了，孩子容易受伤。")
        assert told(fourth) == (True, False)


# --- the connection ------------------------------------------------------------------------------------------


async def test_tls_with_the_districts_ca_and_server_name(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    """The gateway's certificate names puppet.test, not 127.0.0.1: the channel verifies it against the district's CA
    file under the configured server name."""
    with puppet_tls() as (server_context, ca_file):
        fake = TlsPuppet(server_context)
        tls: dict[str, Any] = {"tls": True, "ca_file": str(ca_file), "server_name": SERVER_NAME}
        async with running_wechat(db, settings, tmp_path / "files", fake=fake, **tls) as wechat:
            assert "您可以使用" in await wechat.say(RESIDENT, "帮助")


class TlsPuppet(FakePuppet):
    """The fake serving TLS whatever port `running_wechat` starts it on."""

    def __init__(self, context: object) -> None:
        super().__init__()
        self._context = context

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl: object = None) -> int:
        return await super().start(host, port, ssl=self._context)  # type: ignore[arg-type]


async def test_a_client_without_the_ca_never_opens_the_stream(
    db: Database, settings: Settings, district: District, tmp_path: Path
) -> None:
    from bot.wechat_runtime import WeChatBot
    from tests.bot.wechat_harness import wechat_settings

    with puppet_tls() as (server_context, _ca_file):
        async with TlsPuppet(server_context) as fake:
            configured = wechat_settings(settings, fake, tmp_path, tls=True, server_name=SERVER_NAME)
            bot = WeChatBot(configured, db, fake.token, scheduler=False)
            await bot.start()
            try:
                await asyncio.sleep(0.5)
                assert not fake.stream_open and fake.streams_opened == 0
                async with db.read() as session:
                    status = await channel_status.read(session, channel="wechat")
                assert status is not None and status.state in ("starting", "down")
            finally:
                await bot.stop()


def test_the_server_name_is_the_tokens_prefix() -> None:
    assert server_name_of("puppet_paimon_3d8b1c2e-1234") == "puppet_paimon"
    assert server_name_of("insecure_abcdef") == "insecure"
    assert server_name_of("plain") == ""


async def test_a_logout_holds_messages_and_tells_the_ops_chats_with_the_qr_link(
    wechat: WeChatHarness, db: Database
) -> None:
    fake = wechat.fake
    fake.logout("kicked")
    await wait_for(lambda: not wechat.bot.channel.self_id, "the logout")
    fake.scan("https://login.weixin.qq.com/l/abc123")

    async def ops_notes() -> list[str]:
        async with db.read() as session:
            notes = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_key == OPS))).all()
        return [note.payload["text"] for note in notes]

    for _ in range(100):
        if len(await ops_notes()) >= 2:
            break
        await asyncio.sleep(0.05)
    logged_out, scan = await ops_notes()
    assert "退出登录" in logged_out and "login.weixin.qq.com%2Fl%2Fabc123" in scan
    async with db.read() as session:
        status = await channel_status.read(session, channel="wechat")
    assert status is not None and status.state == "logged_out" and "abc123" in status.qr_url
    # Meanwhile answers wait in the outbox with their attempts unspent (the ops notes too); the login sends them.
    fake.say(RESIDENT, "你好")
    await asyncio.sleep(0.5)
    assert fake.sent_to(RESIDENT) == [] and fake.sent_to(OPS) == []
    assert all(row.attempts == 0 for row in await wechat.outbox())
    fake.login()
    await fake.wait_sent(RESIDENT, 1)
    told = [sent.text for sent in await fake.wait_sent(OPS, 3)]
    assert told[:2] == [logged_out, scan] and "已重新登录" in told[2]
    async with db.read() as session:
        status = await channel_status.read(session, channel="wechat")
    assert status is not None and (status.state, status.self_id, status.qr_url) == ("logged_in", fake.self_id, "")


async def test_the_pace_of_a_personal_account_is_a_sliding_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    assert overall_window(30.0) == (1.0, 30)
    assert overall_window(20 / 60) == (60.0, 20)
    now = [0.0]
    limits = Settings().delivery.model_copy(update={"overall_per_second": 20 / 60, "private_per_second": 1.0})
    limiter = RateLimiter(limits, clock=lambda: now[0])
    sleep = asyncio.sleep

    async def clock_sleep(seconds: float) -> None:  # the limiter waits on its own clock, not the wall's
        now[0] += seconds
        await sleep(0)

    monkeypatch.setattr("bot.sender.asyncio.sleep", clock_sleep)
    starts = []
    for number in range(21):
        await limiter.acquire(f"wxid_{number}", group=False)
        starts.append(now[0])
    assert starts[19] == 0.0  # twenty at once, to twenty people
    assert starts[20] >= 60.0  # the twenty-first waits for the minute to pass
    await limiter.acquire("wxid_0", group=False)
    assert now[0] >= 60.0  # one person: a message a second at most (long since, here)


async def test_bound_people_on_wechat_are_people_like_on_telegram(wechat: WeChatHarness, db: Database) -> None:
    await wechat.say(REP, await invitation(db))
    async with db.read() as session:
        identity = (await session.exec(select(ChatIdentity).where(col(ChatIdentity.external_id) == REP))).one()
        standing = await people.standing_of(session, identity=identity)
    assert (identity.channel, standing.role.value) == ("wechat", "representative")
    # No command menus on WeChat: the menu row an invitation queues is done without a call.
    rows = await wechat.outbox()
    assert [row.status for row in rows if row.kind == "commands"] == ["sent"]
