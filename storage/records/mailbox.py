"""The representatives' mailbox (党代表信箱): contact-card links and the card's representative; what residents write
through it becomes a case (storage.records.cases)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.errors import Conflict, NotFound
from storage.models import ChatIdentity, MailboxLink, Representative, Station
from storage.records import people, relay

# A Telegram start parameter is at most 64 characters of A-Za-z0-9_-; `m_` marks a mailbox link.
START_PREFIX = "m_"
TOKEN_BYTES = 16  # 22 characters of token_urlsafe: unguessable, and short enough for a small QR code
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def start_parameter(token: str) -> str:
    """What follows /start in the card's deep link."""
    return START_PREFIX + token


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class CardData:
    """What the contact card (连心卡) and the mailbox's first message say about a representative."""

    representative_id: int
    code: str
    name: str
    level: str  # district | township
    station: str
    station_address: str
    reception_day: str


async def _active_representative(session: AsyncSession, *, code: str) -> Representative:
    representative = await people.representative_by_code(session, code=code)
    if not representative.active:
        raise Conflict("mailbox.error.inactive", code=representative.code)
    return representative


async def issue_link(
    session: AsyncSession, *, representative_code: str, now: datetime, actor: str, renew: bool = False
) -> str:
    """The token of the representative's card link: the active one, or a new one when there is none or when
    `renew` (then every older link stops working, as for a lost or misprinted card)."""
    representative = await _active_representative(session, code=representative_code)
    assert representative.id is not None
    # Serialises two issuers of the same representative (PostgreSQL), so that one active link remains.
    await session.exec(select(Representative.id).where(Representative.id == representative.id).with_for_update())
    if renew:
        await _revoke(session, representative_id=representative.id, now=now)
    else:
        current = (
            await session.exec(
                select(MailboxLink)
                .where(MailboxLink.representative_id == representative.id, col(MailboxLink.revoked_at).is_(None))
                .order_by(col(MailboxLink.created_at).desc())
            )
        ).first()
        if current is not None:
            return current.token
    link = MailboxLink(token=new_token(), representative_id=representative.id, created_at=now)
    session.add(link)
    audit.record(
        session, actor=actor, action="mailbox.link_issue", entity="representative", entity_id=representative.id
    )
    return link.token


async def revoke_links(session: AsyncSession, *, representative_code: str, now: datetime, actor: str) -> int:
    """Withdraw every card link of the representative (in office or not); returns how many were active."""
    representative = await people.representative_by_code(session, code=representative_code)
    assert representative.id is not None
    count = await _revoke(session, representative_id=representative.id, now=now)
    audit.record(
        session,
        actor=actor,
        action="mailbox.link_revoke",
        entity="representative",
        entity_id=representative.id,
        count=count,
    )
    return count


async def _revoke(session: AsyncSession, *, representative_id: int, now: datetime) -> int:
    result = await session.exec(
        sa.update(MailboxLink)
        .where(col(MailboxLink.representative_id) == representative_id, col(MailboxLink.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


async def representative_for_token(session: AsyncSession, *, token: str) -> Representative:
    """The representative a card link leads to; refused when the link is unknown, withdrawn, or the
    representative has left office."""
    token = token.strip()
    if not TOKEN_PATTERN.match(token):
        raise NotFound("mailbox.error.unknown_link")
    link = await session.get(MailboxLink, token)
    if link is None:
        raise NotFound("mailbox.error.unknown_link")
    if link.revoked_at is not None:
        raise NotFound("mailbox.error.revoked_link")
    representative = await session.get(Representative, link.representative_id)
    if representative is None or not representative.active:
        raise NotFound("mailbox.error.left_office")
    return representative


async def card_data(session: AsyncSession, *, representative_id: int) -> CardData:
    representative = await session.get(Representative, representative_id)
    if representative is None:
        raise NotFound("mailbox.error.left_office")
    station = await session.get(Station, representative.station_id) if representative.station_id else None
    return CardData(
        representative_id=representative_id,
        code=representative.code,
        name=representative.name,
        level=representative.level,
        station=station.name if station else "",
        station_address=station.address if station else "",
        reception_day=station.reception_day if station else "",
    )


async def card_by_code(session: AsyncSession, *, representative_code: str) -> CardData:
    representative = await people.representative_by_code(session, code=representative_code)
    assert representative.id is not None
    return await card_data(session, representative_id=representative.id)


async def check_daily_limit(
    session: AsyncSession, *, writer: ChatIdentity, link_token: str | None, now: datetime, per_day: int
) -> None:
    """Refuse a writer who has sent `per_day` letters in the last 24 hours through this card's link (a card's QR
    code is public), or in all (None: /mailbox is open to anyone): a flood of letters would bury everyone else's."""
    sent = await relay.letters_since(session, writer=writer, link_token=link_token, since=now - timedelta(days=1))
    if sent >= per_day:
        raise Conflict("mailbox.error.daily_limit" if link_token else "mailbox.error.daily_limit_all", limit=per_day)
