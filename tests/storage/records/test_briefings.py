"""Briefings as storage keeps them: sent to everyone in office in a scope in one transaction (recipient rows, the
briefing and its document in each recipient's chats, the sender's not-read look planned), read confirmed once,
who has not read it and the reminder (once a day), only for the sender; read shares for the digest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from handlers.briefings import notice
from storage.db import Database, execute
from storage.errors import Conflict, NotAllowed, NotFound
from storage.models import (
    AuditEntry,
    Briefing,
    BriefingRecipient,
    ChatIdentity,
    DueItem,
    OutboxMessage,
    Representative,
)
from storage.policy import Standing
from storage.records import briefings, people
from storage.records.briefings import Attachment
from storage.settings import Settings
from tests.factories import NOW, District, build_district
from tests.storage.records.test_reception import bind


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def standing(db: Database, who: str) -> Standing:
    identity = await bind(db, who)
    async with db.transaction() as session:
        return await people.standing_of(session, identity=identity)


async def send(
    db: Database,
    settings: Settings,
    who: str = "liaison:O01",
    *,
    scope: str = "all",
    attachment: Attachment | None = None,
    now: datetime = NOW,
) -> int:
    sender = await standing(db, who)
    async with db.transaction() as session:
        briefing = await briefings.send(
            session,
            standing=sender,
            scope=scope,
            title="关于年度述职的通报",
            body="各位代表：年度述职评议将于十二月举行。",
            attachment=attachment,
            settings=settings,
            now=now,
            render=notice,
        )
        assert briefing.id is not None
        return briefing.id


async def outbox_of(db: Database, who: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.transaction() as session:
        rows = await session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_key == who).order_by(col(OutboxMessage.id))
        )
        return [(row.kind, row.payload) for row in rows.all()]


async def test_a_briefing_reaches_everyone_in_office_in_its_scope_with_its_document_and_a_read_button(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:D001")
    await bind(db, "representative:T001")
    async with db.transaction() as session:  # D002 left office: not a recipient
        d002 = await session.get(Representative, district.representatives["D002"])
        assert d002 is not None
        d002.active = False
        session.add(d002)
    document = Attachment("file:/srv/lianxin/files/述职安排.pdf", "述职安排.pdf")
    briefing_id = await send(db, settings, attachment=document)

    async with db.transaction() as session:
        recipients = await session.exec(select(BriefingRecipient.representative_id))
        assert sorted(recipients.all()) == sorted([district.representatives["D001"], district.representatives["T001"]])
        [item] = (await session.exec(select(DueItem).where(DueItem.key == f"briefing-unread:{briefing_id}"))).all()
        assert item.due_at == NOW + timedelta(days=settings.briefings.not_read_days)
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "briefing.sent"))).all()
        assert entry.entity_id == str(briefing_id) and entry.detail == {"recipients": 2}
        assert "述职" not in str(entry.detail)  # ids and counts, never the text
    [(kind, message), (file_kind, file)] = await outbox_of(db, "representative:D001")
    assert kind == "message" and "关于年度述职的通报" in message["text"] and "年度述职评议" in message["text"]
    assert message["buttons"] == [[f"cmd:/briefings {briefing_id} read", "✅ 已阅"]]
    assert file_kind == "document"
    assert file == {
        "path": "/srv/lianxin/files/述职安排.pdf",
        "caption": "关于年度述职的通报",
        "filename": "述职安排.pdf",
    }
    assert len(await outbox_of(db, "representative:T001")) == 2


async def test_a_level_or_a_group_narrows_the_recipients(db: Database, settings: Settings, district: District) -> None:
    township = await send(db, settings, scope="level:township")
    group = await send(db, settings, scope=f"group:{district.group_id}")
    async with db.transaction() as session:
        assert await briefings.share(session, briefing_id=township) == (0, 1)
        assert await briefings.share(session, briefing_id=group) == (0, 3)


async def test_a_photo_goes_as_a_photo(db: Database, settings: Settings, district: District) -> None:
    await bind(db, "representative:D001")
    await send(db, settings, attachment=briefings.attachment_of("file:/tmp/会议照片.JPG", ""))
    kinds = [kind for kind, _ in await outbox_of(db, "representative:D001")]
    assert kinds == ["message", "photo"]


async def test_only_the_office_and_leaders_send_and_a_scope_without_anyone_sends_nothing(
    db: Database, settings: Settings, district: District
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await send(db, settings, "representative:D001")
    assert refused.value.key == "briefing.error.senders_only"
    with pytest.raises(NotAllowed):
        await send(db, settings, "department:B01")
    async with db.transaction() as session:
        await execute(
            session, sa.update(Representative).where(col(Representative.level) == "township").values(active=False)
        )
    with pytest.raises(Conflict) as nobody:
        await send(db, settings, "leader:L01", scope="level:township")
    assert nobody.value.key == "audience.error.nobody"
    async with db.transaction() as session:
        assert (await session.exec(select(Briefing))).all() == []


async def test_reading_is_confirmed_once_and_only_by_a_recipient(
    db: Database, settings: Settings, district: District
) -> None:
    briefing_id = await send(db, settings, scope="level:township")
    t001 = await standing(db, "representative:T001")
    d001 = await standing(db, "representative:D001")
    later = NOW + timedelta(hours=5)
    async with db.transaction() as session:
        assert await briefings.confirm_read(session, standing=t001, briefing_id=briefing_id, now=NOW) is True
    async with db.transaction() as session:
        assert await briefings.confirm_read(session, standing=t001, briefing_id=briefing_id, now=later) is False
        mine = await session.get(BriefingRecipient, (briefing_id, district.representatives["T001"]))
        assert mine is not None and mine.read_at == NOW  # the first confirmation stands
        reads = await session.exec(select(AuditEntry).where(AuditEntry.action == "briefing.read"))
        assert len(reads.all()) == 1
    async with db.transaction() as session:
        with pytest.raises(NotFound):  # sent to township representatives only
            await briefings.confirm_read(session, standing=d001, briefing_id=briefing_id, now=NOW)
        with pytest.raises(NotFound):
            await briefings.confirm_read(session, standing=t001, briefing_id=briefing_id + 99, now=NOW)


async def test_the_sender_alone_sees_who_has_not_read_and_reminds_them_once_a_day(
    db: Database, settings: Settings, district: District
) -> None:
    for code in ("D001", "D002", "T001"):
        await bind(db, f"representative:{code}")
    briefing_id = await send(db, settings)
    d001 = await standing(db, "representative:D001")
    o01 = await standing(db, "liaison:O01")
    l01 = await standing(db, "leader:L01")
    async with db.transaction() as session:
        await briefings.confirm_read(session, standing=d001, briefing_id=briefing_id, now=NOW)
    async with db.transaction() as session:
        assert await briefings.share(session, briefing_id=briefing_id) == (1, 3)
        assert [rep.code for rep in await briefings.not_read(session, briefing_id=briefing_id)] == ["D002", "T001"]
        with pytest.raises(NotAllowed) as refused:
            await briefings.open_sent(session, standing=l01, briefing_id=briefing_id)
        assert refused.value.key == "briefing.error.not_sender"
        with pytest.raises(NotAllowed):
            await briefings.open_sent(session, standing=d001, briefing_id=briefing_id)

    async def remind(at: datetime) -> int:
        async with db.transaction() as session:
            return await briefings.remind(
                session, standing=o01, briefing_id=briefing_id, settings=settings, now=at, render=notice
            )

    before = {code: len(await outbox_of(db, f"representative:{code}")) for code in ("D001", "D002", "T001")}
    assert await remind(NOW) == 2
    assert await remind(NOW + timedelta(hours=6)) == 0  # 16:00 the same day in Shanghai: nothing again
    after = {code: len(await outbox_of(db, f"representative:{code}")) for code in ("D001", "D002", "T001")}
    assert after == {"D001": before["D001"], "D002": before["D002"] + 1, "T001": before["T001"] + 1}
    [(_, reminder)] = (await outbox_of(db, "representative:T001"))[-1:]
    assert reminder["text"].startswith("🔔 提醒：您还没有确认阅读第")
    assert reminder["buttons"] == [[f"cmd:/briefings {briefing_id} read", "✅ 已阅"]]
    assert await remind(NOW + timedelta(days=1)) == 2  # the next day, again
    async with db.transaction() as session:
        mine = await session.get(BriefingRecipient, (briefing_id, district.representatives["T001"]))
        assert mine is not None and mine.reminded_at == NOW + timedelta(days=1)


async def test_read_shares_of_a_period_for_the_digest(db: Database, settings: Settings, district: District) -> None:
    old = await send(db, settings, now=NOW - timedelta(days=10))
    this_week = await send(db, settings, now=NOW)
    d001 = await standing(db, "representative:D001")
    async with db.transaction() as session:
        await briefings.confirm_read(session, standing=d001, briefing_id=this_week, now=NOW)
        shares = await briefings.read_shares(session, since=NOW - timedelta(days=2), until=NOW + timedelta(days=1))
        assert [(briefing.id, read, total) for briefing, read, total in shares] == [(this_week, 1, 3)]
        everything = await briefings.read_shares(session, since=NOW - timedelta(days=30), until=NOW + timedelta(days=1))
        assert [briefing.id for briefing, _, _ in everything] == [old, this_week]


async def test_a_scope_of_three_hundred_is_sent_in_a_few_statements(
    db: Database, settings: Settings, district: District
) -> None:
    async with db.transaction() as session:
        for n in range(300):
            session.add(Representative(code=f"X{n:03d}", name=f"代表{n}", level="district", group_id=district.group_id))
        await session.flush()
        reps = (await session.exec(select(Representative).where(col(Representative.code).startswith("X")))).all()
        for rep in reps:
            session.add(
                ChatIdentity(
                    channel="console", external_id=f"rep-{rep.code}", role="representative", representative_id=rep.id
                )
            )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:40])

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        briefing_id = await send(db, settings)
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) < 30, statements
    async with db.transaction() as session:
        assert await briefings.share(session, briefing_id=briefing_id) == (0, 303)
        sent = await session.exec(
            select(sa.func.count()).select_from(OutboxMessage).where(col(OutboxMessage.chat_key).startswith("rep-X"))
        )
        assert sent.one() == 300


async def test_a_long_briefing_is_quoted_in_part_with_a_button_to_read_it_all(
    db: Database, settings: Settings, district: District
) -> None:
    await bind(db, "representative:T001")
    sender = await standing(db, "liaison:O01")
    body = "\n".join(f"第{n}条：" + "各位代表要认真履职，密切联系群众。" * 10 for n in range(1, 25))
    assert len(body) > 4096  # more than one Telegram message can hold
    async with db.transaction() as session:
        briefing = await briefings.send(
            session,
            standing=sender,
            scope="level:township",
            title="履职规范",
            body=body,
            attachment=None,
            settings=settings,
            now=NOW,
            render=notice,
        )
    [(_, message)] = await outbox_of(db, "representative:T001")
    assert len(message["text"]) < 1200 and message["text"].endswith(
        "……（未完，点“阅读全文”查看）\n\n阅读后请点“已阅”确认。"
    )
    assert message["buttons"] == [
        [f"cmd:/briefings {briefing.id} read", "✅ 已阅"],
        [f"cmd:/briefings {briefing.id}", "阅读全文"],
    ]
    async with db.transaction() as session:
        stored = await briefings.get(session, briefing.id or 0)
        assert stored.body == body  # the briefing itself is whole
