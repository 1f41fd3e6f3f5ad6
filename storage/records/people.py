"""Who is talking: chat identities, their roles, and single-use invitations that bind a chat to a representative."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.db import dialect_insert
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import ChatIdentity, Invitation, Representative, Staff, utcnow
from storage.text import contains_pattern, normalise

ROLES = ("resident", "representative", "liaison", "leader", "department")
STAFF_ROLES = ("liaison", "leader", "department")
# No 0/O, 1/I/L: codes are read aloud and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


# Who is writing is looked up for every message: the statements are built once, with bound parameters.
_IDENTITY = (
    select(ChatIdentity)
    .where(ChatIdentity.channel == sa.bindparam("channel"), ChatIdentity.external_id == sa.bindparam("external_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_IDENTITIES = (
    select(ChatIdentity)
    .where(
        ChatIdentity.channel == sa.bindparam("channel"),
        col(ChatIdentity.external_id).in_(sa.bindparam("external_ids", expanding=True)),
    )
    .order_by(col(ChatIdentity.id))  # PostgreSQL locks them in this order: two batches cannot lock crosswise
    .with_for_update()
    .execution_options(populate_existing=True)
)
PRELOADED = "lianxin.preloaded_identities"  # session.info key: identities read ahead for this transaction
_LANGUAGE = select(ChatIdentity.language).where(
    ChatIdentity.channel == sa.bindparam("channel"), ChatIdentity.external_id == sa.bindparam("external_id")
)


def looks_like_invitation(text: str) -> bool:
    candidate = text.strip().upper()
    return len(candidate) == CODE_LENGTH and all(char in CODE_ALPHABET for char in candidate)


async def preload_identities(session: AsyncSession, *, channel: str, external_ids: Collection[str]) -> None:
    """Read (and lock) the identities of several people in one statement, for the `identity_for` calls that follow
    in this transaction: a batch of events from many chats asks for them one after the other."""
    if not external_ids:
        return
    parameters = {"channel": channel, "external_ids": sorted(set(external_ids))}
    preloaded = session.info.setdefault(PRELOADED, {})
    for identity in (await session.exec(_IDENTITIES, params=parameters)).all():
        preloaded[(identity.channel, identity.external_id)] = identity


async def identity_for(session: AsyncSession, *, channel: str, external_id: str) -> ChatIdentity:
    """The identity of a chat user, created as a resident the first time they write, and locked until the
    transaction ends (PostgreSQL: FOR UPDATE), so that one person's messages are handled one at a time even
    before any dialog exists. (SQLite's BEGIN IMMEDIATE already lets one writer in at a time.)"""
    preloaded: ChatIdentity | None = session.info.get(PRELOADED, {}).get((channel, external_id))
    if preloaded is not None:
        state = sa.inspect(preloaded)
        # Read and locked by this transaction and kept up to date by the session, unless a savepoint rolled back
        # changes to it (then it is expired, and read again below).
        if state.persistent and not state.expired_attributes:
            return preloaded
    found = await _locked_identity(session, channel=channel, external_id=external_id)
    if found is not None:
        return found
    # Two first messages at once both get here; ON CONFLICT DO NOTHING lets the second find the first's row
    # instead of failing its whole transaction.
    insert = dialect_insert(session)
    await session.exec(
        insert(ChatIdentity)
        .values(channel=channel, external_id=external_id, role="resident", created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )
    created = await _locked_identity(session, channel=channel, external_id=external_id)
    assert created is not None
    return created


async def _locked_identity(session: AsyncSession, *, channel: str, external_id: str) -> ChatIdentity | None:
    return (await session.exec(_IDENTITY, params={"channel": channel, "external_id": external_id})).first()


async def language_of(session: AsyncSession, *, channel: str, external_id: str) -> str | None:
    """The language a person chose, if any (a read: it creates nothing)."""
    return (await session.exec(_LANGUAGE, params={"channel": channel, "external_id": external_id})).first()


async def representative_by_code(session: AsyncSession, *, code: str) -> Representative:
    found = (await session.exec(select(Representative).where(Representative.code == code.strip().upper()))).first()
    if found is None:
        raise NotFound("error.rep_not_found", code=code)
    return found


async def staff_by_code(session: AsyncSession, *, code: str) -> Staff:
    found = (await session.exec(select(Staff).where(Staff.code == code.strip().upper()))).first()
    if found is None:
        raise NotFound("error.staff_not_found", code=code)
    return found


async def assume_role(
    session: AsyncSession, *, identity: ChatIdentity, role: str, code: str, actor: str
) -> ChatIdentity:
    """Give an identity a role directly. Only for trusted local operators (the console on the server)."""
    if role not in ROLES:
        raise InvalidInput("error.unknown_role", role=role, roles=", ".join(ROLES))
    identity.role = role
    identity.representative_id = None
    identity.staff_id = None
    if role == "representative":
        identity.representative_id = (await representative_by_code(session, code=code)).id
    elif role in STAFF_ROLES:
        staff = await staff_by_code(session, code=code)
        if staff.role != role:
            raise InvalidInput("error.staff_role_mismatch", code=staff.code, role=role, actual=staff.role)
        identity.staff_id = staff.id
    session.add(identity)
    audit.record(session, actor=actor, action="identity.role", entity="chat_identity", entity_id=identity.id, role=role)
    return identity


@dataclass(frozen=True)
class IssuedInvitation:
    code: str
    representative_code: str
    expires_at: datetime


async def create_invitation(
    session: AsyncSession, *, representative_code: str, now: datetime, valid_for: timedelta, actor: str
) -> IssuedInvitation:
    """A fresh single-use code for a representative; their earlier unused codes stop working."""
    representative = await representative_by_code(session, code=representative_code)
    if not representative.active:
        raise Conflict("invite.inactive", code=representative.code)
    await session.exec(
        sa.update(Invitation)
        .where(col(Invitation.representative_id) == representative.id, col(Invitation.used_at).is_(None))
        .where(col(Invitation.expires_at) > now)
        .values(expires_at=now)
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    assert representative.id is not None
    invitation = Invitation(code=code, representative_id=representative.id, created_at=now, expires_at=now + valid_for)
    session.add(invitation)
    audit.record(session, actor=actor, action="invite.create", entity="representative", entity_id=representative.id)
    return IssuedInvitation(code=code, representative_code=representative.code, expires_at=invitation.expires_at)


async def redeem_invitation(
    session: AsyncSession, *, identity: ChatIdentity, code: str, now: datetime
) -> Representative:
    """Bind the identity to the invitation's representative. Raises with a clear reason when it cannot."""
    code = code.strip().upper()
    invitation = await session.get(Invitation, code)
    if invitation is None:
        raise NotFound("invite.unknown")
    representative = await session.get(Representative, invitation.representative_id)
    assert representative is not None
    if invitation.used_at is not None:
        if invitation.used_by == identity.id:
            raise Conflict("invite.already_yours", name=representative.name)
        raise Conflict("invite.used")
    if invitation.expires_at <= now:
        raise Conflict("invite.expired")
    if not representative.active:  # left office after the code was issued
        raise Conflict("invite.inactive", code=representative.code)
    if identity.role == "representative" and identity.representative_id not in (None, representative.id):
        raise Conflict("invite.bound_elsewhere")
    if identity.role in STAFF_ROLES:  # a leader's or department's account does not quietly become a representative
        raise Conflict("invite.staff_account")
    # The conditional update is what makes the code single-use when two chats race for it.
    claimed = await session.exec(
        sa.update(Invitation)
        .where(col(Invitation.code) == code, col(Invitation.used_at).is_(None))
        .values(used_at=now, used_by=identity.id)
    )
    if claimed.rowcount != 1:
        raise Conflict("invite.used")
    identity.role = "representative"
    identity.representative_id = representative.id
    identity.staff_id = None
    session.add(identity)
    audit.record(
        session,
        actor=f"identity:{identity.id}",
        action="invite.redeem",
        entity="representative",
        entity_id=representative.id,
    )
    return representative


async def set_language(session: AsyncSession, *, identity: ChatIdentity, language: str) -> None:
    identity.language = language
    session.add(identity)


async def find_representatives(
    session: AsyncSession, *, fragment: str, exclude_id: int, limit: int
) -> list[Representative]:
    """Active representatives by a fragment of their name, or by their exact code."""
    fragment = normalise(fragment)
    if not fragment:
        return []
    rows = await session.exec(
        select(Representative)
        .where(
            col(Representative.active).is_(True),
            col(Representative.id) != exclude_id,
            sa.or_(
                col(Representative.name).like(contains_pattern(fragment), escape="\\"),
                col(Representative.code) == fragment.upper(),
            ),
        )
        .order_by(col(Representative.code))
        .limit(limit)
    )
    return list(rows.all())
