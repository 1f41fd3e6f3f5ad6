"""The mailbox's store: card links (random, reused, renewed, revoked), items, their audit rows and notices."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.mailbox import notice
from storage.db import Database
from storage.errors import Conflict, LianxinError, NotFound
from storage.models import (
    AuditEntry,
    ChatIdentity,
    MailboxItem,
    MailboxLink,
    MailboxRelay,
    OutboxMessage,
    Representative,
)
from storage.records import mailbox, relay
from tests.factories import NOW, District, build_district

START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what Telegram accepts after /start


@pytest.fixture
async def district(db: Database) -> District:
    return await build_district(db)


async def issue(db: Database, code: str = "D001", *, renew: bool = False) -> str:
    async with db.transaction() as session:
        return await mailbox.issue_link(session, representative_code=code, now=NOW, actor="test", renew=renew)


async def lookup(db: Database, token: str) -> Representative:
    async with db.transaction() as session:
        return await mailbox.representative_for_token(session, token=token)


async def refusal(db: Database, token: str) -> str:
    with pytest.raises(NotFound) as refused:
        await lookup(db, token)
    return refused.value.key


async def all_rows(db: Database, table: type[AuditEntry] | type[MailboxLink] | type[OutboxMessage]) -> list[object]:
    async with db.transaction() as session:
        return list((await session.exec(select(table))).all())


def test_tokens_are_random_and_fit_a_telegram_start_parameter() -> None:
    tokens = {mailbox.new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{16,24}", token), token
        assert START_PARAMETER.match(mailbox.start_parameter(token))
        assert mailbox.start_parameter(token) == "m_" + token
    # 16 random bytes: every character position takes many values (no counter, no representative code inside).
    assert all(len({token[index] for token in tokens}) > 40 for index in range(21))


async def test_the_active_link_is_reused_and_renewing_replaces_it(db: Database, district: District) -> None:
    first = await issue(db)
    assert await issue(db) == first
    assert (await lookup(db, first)).code == "D001"
    renewed = await issue(db, renew=True)
    assert renewed != first
    assert await refusal(db, first) == "mailbox.error.revoked_link"
    assert (await lookup(db, renewed)).code == "D001"
    assert await issue(db) == renewed
    links = await all_rows(db, MailboxLink)
    assert sorted((link.token, link.revoked_at is None) for link in links if isinstance(link, MailboxLink)) == sorted(
        [(first, False), (renewed, True)]
    )
    other = await issue(db, "D002")
    assert other not in (first, renewed) and (await lookup(db, other)).code == "D002"
    entries = [entry for entry in await all_rows(db, AuditEntry) if isinstance(entry, AuditEntry)]
    issued = [entry for entry in entries if entry.action == "mailbox.link_issue"]
    assert [entry.entity_id for entry in issued] == [
        str(district.representatives["D001"]),
        str(district.representatives["D001"]),
        str(district.representatives["D002"]),
    ]
    assert not any(token in json.dumps(entry.detail) for entry in entries for token in (first, renewed, other))


async def test_revoking_refuses_the_old_link(db: Database, district: District) -> None:
    token = await issue(db)
    other = await issue(db, "D002")
    async with db.transaction() as session:
        count = await mailbox.revoke_links(session, representative_code="d001", now=NOW, actor="test")
    assert count == 1
    assert await refusal(db, token) == "mailbox.error.revoked_link"
    assert (await lookup(db, other)).code == "D002"  # another representative's card is untouched
    async with db.transaction() as session:
        again = await mailbox.revoke_links(session, representative_code="D001", now=NOW, actor="test")
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "mailbox.link_revoke"))).first()
    assert again == 0
    assert entry is not None and entry.detail == {"count": 1}
    fresh = await issue(db)
    assert fresh != token and (await lookup(db, fresh)).code == "D001"


@pytest.mark.parametrize("token", ["", "   ", "nope", "x" * 100, "a b", "../../etc", "'; DROP TABLE x; --", "令牌"])
async def test_unknown_tokens_are_refused(db: Database, district: District, token: str) -> None:
    await issue(db)
    assert await refusal(db, token) == "mailbox.error.unknown_link"


async def test_a_token_differing_only_in_case_is_unknown(db: Database, district: District) -> None:
    token = await issue(db)
    changed = token.swapcase()
    if changed != token:
        assert await refusal(db, changed) == "mailbox.error.unknown_link"


async def set_active(db: Database, code: str, active: bool) -> None:
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(col(Representative.code) == code).values(active=active))


async def test_a_representative_who_left_office_is_refused(db: Database, district: District) -> None:
    token = await issue(db)
    await set_active(db, "D001", False)
    assert await refusal(db, token) == "mailbox.error.left_office"
    with pytest.raises(Conflict) as inactive:
        await issue(db)
    assert (inactive.value.key, inactive.value.params) == ("mailbox.error.inactive", {"code": "D001"})
    with pytest.raises(NotFound) as unknown:
        await issue(db, "D999")
    assert unknown.value.key == "error.rep_not_found"
    async with db.transaction() as session:  # a departed representative's cards can still be withdrawn
        assert await mailbox.revoke_links(session, representative_code="D001", now=NOW, actor="test") == 1


async def test_card_data(db: Database, district: District) -> None:
    async with db.transaction() as session:
        card = await mailbox.card_by_code(session, representative_code="D001")
        other = await mailbox.card_by_code(session, representative_code="T001")
    assert card == mailbox.CardData(
        representative_id=district.representatives["D001"],
        code="D001",
        name="王建国",
        level="district",
        station="幸福社区党代表工作站",
        station_address="幸福路1号",
        reception_day="每周三上午 9:00-11:30",
    )
    assert (other.level, other.station) == ("township", "幸福社区党代表工作站")


async def identity(
    session: AsyncSession,
    external_id: str,
    *,
    role: str = "resident",
    representative_id: int | None = None,
    language: str | None = None,
    blocked: bool = False,
    channel: str = "telegram",
) -> ChatIdentity:
    person = ChatIdentity(
        channel=channel,
        external_id=external_id,
        role=role,
        representative_id=representative_id,
        language=language,
        blocked_at=NOW - timedelta(days=1) if blocked else None,
    )
    session.add(person)
    await session.flush()
    return person


async def submit(db: Database, district: District, *, anonymous: bool) -> tuple[MailboxItem, int]:
    """A resident writes to D001, whose chats are: Telegram in English, the console in the default language,
    and one Telegram account that blocked the bot. D002's chat must hear nothing."""
    d001, d002 = district.representatives["D001"], district.representatives["D002"]
    async with db.transaction() as session:
        writer = await identity(session, "5001")
        await identity(session, "7001", role="representative", representative_id=d001, language="en")
        await identity(session, "rep-d001", role="representative", representative_id=d001, channel="console")
        await identity(session, "7002", role="representative", representative_id=d001, blocked=True)
        await identity(session, "7003", role="representative", representative_id=d002)
        await identity(session, "7004", role="resident", representative_id=None)
        item = await mailbox.submit(
            session,
            representative_id=d001,
            writer=writer,
            link_token=None,
            text="幸福路12号楼道灯坏了三个月，老人夜里出门不便。",
            anonymous=anonymous,
            name="陈小红",
            phone="13912345678",
            now=NOW,
            notice=notice,
            default_language="zh-CN",
            per_day=5,
        )
        assert writer.id is not None
        return item, writer.id


async def test_submit_stores_audits_and_notifies_each_bound_chat_in_its_language(
    db: Database, district: District
) -> None:
    item, writer_id = await submit(db, district, anonymous=False)
    async with db.transaction() as session:
        [stored] = (await session.exec(select(MailboxItem))).all()
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "mailbox.submit"))).all()
        messages = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert stored.id == item.id
    assert (stored.representative_id, stored.identity_id, stored.anonymous) == (
        district.representatives["D001"],
        writer_id,
        False,
    )
    assert (stored.name, stored.phone, stored.status, stored.created_at) == ("陈小红", "13912345678", "new", NOW)
    assert (entry.actor, entry.entity, entry.entity_id) == (f"identity:{writer_id}", "mailbox_item", str(item.id))
    assert entry.detail == {"representative_id": district.representatives["D001"], "anonymous": False}
    assert "陈小红" not in json.dumps(entry.detail, ensure_ascii=False)

    assert [(message.channel, message.chat_key, message.status) for message in messages] == [
        ("telegram", "7001", "pending"),
        ("console", "rep-d001", "pending"),
    ]
    english, chinese = (message.payload["text"] for message in messages)
    assert f"New item #{item.id}" in english and "From: 陈小红, phone: 13912345678" in english
    assert f"收到新来信 #{item.id}" in chinese and "来信人：陈小红，电话：13912345678" in chinese
    assert "幸福路12号楼道灯坏了三个月" in english and "幸福路12号楼道灯坏了三个月" in chinese


async def test_an_anonymous_item_keeps_and_sends_no_name_or_phone(db: Database, district: District) -> None:
    item, writer_id = await submit(db, district, anonymous=True)
    async with db.transaction() as session:
        [stored] = (await session.exec(select(MailboxItem))).all()
        messages = (await session.exec(select(OutboxMessage))).all()
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "mailbox.submit"))).all()
        [relayed] = (await session.exec(select(MailboxRelay))).all()
        assert stored.id is not None
        writer = await relay.writer_of(session, item_id=stored.id)
    assert (stored.anonymous, stored.name, stored.phone, stored.identity_id) == (True, "", "", None)
    # Only the relay knows who wrote it; the audit names no actor that leads back to the chat.
    assert (relayed.item_id, relayed.identity_id) == (item.id, writer_id)
    assert writer is not None and writer.id == writer_id
    assert entry.actor == "anonymous"
    assert len(messages) == 2
    for message in messages:
        text = json.dumps(message.payload, ensure_ascii=False)
        assert "陈小红" not in text and "13912345678" not in text and "5678" not in text
        assert f"#{item.id}" in text and ("匿名" in text or "anonymous" in text)


async def test_nothing_is_stored_for_a_representative_who_left_office(db: Database, district: District) -> None:
    await set_active(db, "D001", False)
    with pytest.raises(LianxinError) as refused:
        await submit(db, district, anonymous=False)
    assert refused.value.key == "mailbox.error.left_office"
    assert await all_rows(db, OutboxMessage) == []
    async with db.transaction() as session:
        assert (await session.exec(select(MailboxItem))).all() == []
