"""The mailbox's store: card links (random, reused, renewed, revoked), the card's representative, and how many
letters a writer may send through one card a day (what they write is a case: tests/storage/records/test_cases.py)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from handlers import notices
from storage.db import Database
from storage.errors import Conflict, NotFound
from storage.models import AuditEntry, Case, CaseRelay, ChatIdentity, MailboxLink, Representative
from storage.records import cases, mailbox
from storage.settings import Settings
from storage.workdays import calendar_of
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


async def all_rows(db: Database, table: type[AuditEntry] | type[MailboxLink]) -> list[object]:
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


# --- the daily limit: letters are cases, counted per writer and card ----------------------------------------


async def resident(db: Database, external_id: str) -> int:
    async with db.transaction() as session:
        person = ChatIdentity(channel="telegram", external_id=external_id, role="resident")
        session.add(person)
        await session.flush()
        assert person.id is not None
        return person.id


async def write(
    db: Database,
    settings: Settings,
    district: District,
    *,
    writer_id: int,
    token: str,
    code: str = "D001",
    anonymous: bool = False,
    at: datetime = NOW,
) -> Case:
    """A letter through a contact card, as the intake dialog stores it once the limit let it through."""
    async with db.transaction() as session:
        writer = await session.get(ChatIdentity, writer_id)
        assert writer is not None
        return await cases.submit(
            session,
            intake=cases.Intake(
                source="card",
                link_token=token,
                representative_id=district.representatives[code],
                category="other",
                text="幸福路12号楼道灯坏了三个月，老人夜里出门不便。",
                anonymous=anonymous,
                name="" if anonymous else "陈小红",
                phone="" if anonymous else "13912345678",
            ),
            writer=writer,
            actor=f"identity:{writer_id}",
            settings=settings,
            calendar=calendar_of(settings),
            now=at,
            render=notices.render,
        )


async def check(db: Database, *, writer_id: int, token: str, per_day: int) -> None:
    async with db.transaction() as session:
        writer = await session.get(ChatIdentity, writer_id)
        assert writer is not None
        await mailbox.check_daily_limit(session, writer=writer, link_token=token, now=NOW, per_day=per_day)


async def refused(db: Database, *, writer_id: int, token: str, per_day: int) -> Conflict:
    with pytest.raises(Conflict) as refusal:
        await check(db, writer_id=writer_id, token=token, per_day=per_day)
    return refusal.value


async def test_a_writer_is_refused_after_the_days_letters_named_or_anonymous(
    db: Database, settings: Settings, district: District
) -> None:
    token = await issue(db)
    writer = await resident(db, "5001")
    await check(db, writer_id=writer, token=token, per_day=3)
    await write(db, settings, district, writer_id=writer, token=token, at=NOW - timedelta(hours=23))
    await write(db, settings, district, writer_id=writer, token=token, anonymous=True, at=NOW - timedelta(hours=1))
    await check(db, writer_id=writer, token=token, per_day=3)
    with pytest.raises(Conflict):
        await check(db, writer_id=writer, token=token, per_day=2)
    await write(db, settings, district, writer_id=writer, token=token, anonymous=True)
    refusal = await refused(db, writer_id=writer, token=token, per_day=3)
    assert (refusal.key, refusal.params) == ("mailbox.error.daily_limit", {"limit": 3})
    async with db.transaction() as session:  # the anonymous ones are counted through the relay alone
        stored = (await session.exec(select(Case).order_by(col(Case.id)))).all()
        relayed = (await session.exec(select(CaseRelay.identity_id))).all()
    assert [(case.identity_id, case.anonymous, case.link_token) for case in stored] == [
        (writer, False, token),
        (None, True, token),
        (None, True, token),
    ]
    assert relayed == [writer, writer]


async def test_the_limit_counts_neither_other_cards_nor_other_writers_nor_older_letters(
    db: Database, settings: Settings, district: District
) -> None:
    old = await issue(db)
    writer = await resident(db, "5001")
    neighbour = await resident(db, "5002")
    await write(db, settings, district, writer_id=writer, token=old)
    token = await issue(db, renew=True)  # a new card: the old one's letters are another link's
    other = await issue(db, "D002")
    for anonymous in (False, True):
        await write(db, settings, district, writer_id=writer, token=other, code="D002", anonymous=anonymous)
        await write(db, settings, district, writer_id=neighbour, token=token, anonymous=anonymous)
        # A day old or more: yesterday's letters no longer count.
        await write(
            db, settings, district, writer_id=writer, token=token, anonymous=anonymous, at=NOW - timedelta(days=1)
        )
        await write(
            db, settings, district, writer_id=writer, token=token, anonymous=anonymous, at=NOW - timedelta(days=3)
        )
    await check(db, writer_id=writer, token=token, per_day=1)
    await write(db, settings, district, writer_id=writer, token=token, anonymous=True)
    refusal = await refused(db, writer_id=writer, token=token, per_day=1)
    assert (refusal.key, refusal.params) == ("mailbox.error.daily_limit", {"limit": 1})
    # Each of the others is under the limit of its own card still.
    await check(db, writer_id=neighbour, token=other, per_day=1)
    await check(db, writer_id=writer, token=old, per_day=2)
    await refused(db, writer_id=writer, token=old, per_day=1)
    await refused(db, writer_id=neighbour, token=token, per_day=2)
    await check(db, writer_id=neighbour, token=token, per_day=3)
