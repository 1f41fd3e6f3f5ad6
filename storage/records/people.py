"""Who is talking: chat identities, their standing, the invitations and revocations that bind and unbind them, and
which of a person's chats their notices go to."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.db import dialect_insert
from storage.delivery import dialog_state, outbox
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import ChatIdentity, Invitation, Representative, Staff, utcnow
from storage.policy import STAFF_ROLES, Action, GroupRole, Role, Standing, may
from storage.text import contains_pattern, normalise

ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# No 0/O, 1/I/L: codes are read aloud and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


# Who is writing is looked up for every message: the statements are built once, with bound parameters.
# ... with the representative each is bound to, whom `standing_of` then finds in the session without a query (the
# roster's `active` is read at every message); only the identity is locked (FOR UPDATE OF chat_identity).
_WITH_REPRESENTATIVE = select(ChatIdentity, Representative).outerjoin(
    Representative, col(Representative.id) == ChatIdentity.representative_id
)
_IDENTITY = (
    _WITH_REPRESENTATIVE.where(
        ChatIdentity.channel == sa.bindparam("channel"), ChatIdentity.external_id == sa.bindparam("external_id")
    )
    .with_for_update(of=ChatIdentity)
    .execution_options(populate_existing=True)
)
_IDENTITIES = (
    _WITH_REPRESENTATIVE.where(
        ChatIdentity.channel == sa.bindparam("channel"),
        col(ChatIdentity.external_id).in_(sa.bindparam("external_ids", expanding=True)),
    )
    .order_by(col(ChatIdentity.id))  # PostgreSQL locks them in this order: two batches cannot lock crosswise
    .with_for_update(of=ChatIdentity)
    .execution_options(populate_existing=True)
)
PRELOADED = "lianxin.preloaded_identities"  # session.info key: identities read ahead for this transaction
REPRESENTATIVES = "lianxin.representatives"  # session.info key: the representatives read with them, by id
_LANGUAGE = select(ChatIdentity.language).where(
    ChatIdentity.channel == sa.bindparam("channel"), ChatIdentity.external_id == sa.bindparam("external_id")
)


def looks_like_invitation(text: str) -> bool:
    candidate = text.strip().upper()
    return len(candidate) == CODE_LENGTH and all(char in CODE_ALPHABET for char in candidate)


async def preload_identities(session: AsyncSession, *, channel: str, external_ids: Collection[str]) -> None:
    """Read (and lock) the identities of several people, and their representatives, in one statement, for the
    `identity_for` and `standing_of` calls that follow in this transaction: a batch of events from many chats asks
    for them one after the other."""
    if not external_ids:
        return
    parameters = {"channel": channel, "external_ids": sorted(set(external_ids))}
    preloaded = session.info.setdefault(PRELOADED, {})
    for identity, representative in (await session.exec(_IDENTITIES, params=parameters)).all():
        preloaded[(identity.channel, identity.external_id)] = identity
        _keep(session, representative)


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
    row = (await session.exec(_IDENTITY, params={"channel": channel, "external_id": external_id})).first()
    if row is None:
        return None
    identity, representative = row
    _keep(session, representative)
    return identity


def _keep(session: AsyncSession, representative: Representative | None) -> None:
    """Hold the representative read with an identity for `standing_of` (the session's identity map holds objects
    weakly: unheld, it would be gone and read again)."""
    if representative is not None:
        session.info.setdefault(REPRESENTATIVES, {})[representative.id] = representative


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


async def standing_of(session: AsyncSession, *, identity: ChatIdentity) -> Standing:
    """Who the person is now. A representative's binding counts only while the roster has them in office: from the
    moment they are not, they stand as a resident (lapsed), whatever their chats were bound to."""
    try:
        role = Role(identity.role)
    except ValueError:
        role = Role.RESIDENT
    if role is Role.REPRESENTATIVE:
        representative = session.info.get(REPRESENTATIVES, {}).get(identity.representative_id)
        if representative is not None and sa.inspect(representative).expired_attributes:
            representative = None  # a rolled-back savepoint expired it: read it again
        if representative is None and identity.representative_id is not None:
            representative = await session.get(Representative, identity.representative_id)
        if representative is None or not representative.active:
            return Standing(Role.RESIDENT, identity_id=identity.id, lapsed=True)
        try:
            group_role = GroupRole(representative.group_role)
        except ValueError:
            group_role = GroupRole.MEMBER
        return Standing(
            role,
            identity_id=identity.id,
            representative_id=representative.id,
            group_id=representative.group_id,
            group_role=group_role,
        )
    if role in STAFF_ROLES:
        if identity.staff_id is None:
            return Standing(Role.RESIDENT, identity_id=identity.id, lapsed=True)
        return Standing(role, identity_id=identity.id, staff_id=identity.staff_id)
    return Standing(Role.RESIDENT, identity_id=identity.id)


async def assume_role(
    session: AsyncSession, *, identity: ChatIdentity, role: str, code: str, actor: str
) -> ChatIdentity:
    """Give an identity a role directly. Only for trusted local operators (the console on the server)."""
    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput("error.unknown_role", role=role, roles=", ".join(ROLES)) from None
    was = (identity.role, identity.representative_id, identity.staff_id)
    identity.role = wanted.value
    identity.representative_id = None
    identity.staff_id = None
    if wanted is Role.REPRESENTATIVE:
        identity.representative_id = (await representative_by_code(session, code=code)).id
    elif wanted in STAFF_ROLES:
        staff = await staff_by_code(session, code=code)
        if staff.role != wanted:
            raise InvalidInput("error.staff_role_mismatch", code=staff.code, role=role, actual=staff.role)
        identity.staff_id = staff.id
    session.add(identity)
    if (identity.role, identity.representative_id, identity.staff_id) != was:
        await _take_notices_on_binding(session, identity)
    audit.record(session, actor=actor, action="identity.role", entity="chat_identity", entity_id=identity.id, role=role)
    return identity


@dataclass(frozen=True)
class Person:
    """A representative or a member of staff, found by their roster code."""

    code: str
    name: str
    role: Role
    representative_id: int | None = None
    staff_id: int | None = None

    @classmethod
    def of_representative(cls, representative: Representative) -> Person:
        return cls(representative.code, representative.name, Role.REPRESENTATIVE, representative_id=representative.id)

    @classmethod
    def of_staff(cls, staff: Staff) -> Person:
        return cls(staff.code, staff.name, Role(staff.role), staff_id=staff.id)

    @property
    def audit_entity(self) -> dict[str, Any]:
        """The roster row an audit entry about this person names."""
        if self.representative_id is not None:
            return {"entity": "representative", "entity_id": self.representative_id}
        return {"entity": "staff", "entity_id": self.staff_id}

    def whose(self, representative_column: Any, staff_column: Any) -> sa.ColumnElement[bool]:
        """The condition for rows (chats, invitations) that belong to this person."""
        if self.representative_id is not None:
            return col(representative_column) == self.representative_id
        return col(staff_column) == self.staff_id


async def person_by_code(session: AsyncSession, *, code: str) -> Person:
    """The representative with this code, else the member of staff; refused when there is neither."""
    wanted = code.strip().upper()
    representative = (await session.exec(select(Representative).where(Representative.code == wanted))).first()
    if representative is not None:
        return Person.of_representative(representative)
    staff = (await session.exec(select(Staff).where(Staff.code == wanted))).first()
    if staff is not None:
        return Person.of_staff(staff)
    raise NotFound("error.person_not_found", code=code)


async def _refuse_out_of_office(session: AsyncSession, person: Person) -> None:
    """A representative the roster no longer has in office is given no code and binds no chat."""
    if person.representative_id is not None:
        representative = await session.get(Representative, person.representative_id)
        if representative is None or not representative.active:
            raise Conflict("invite.inactive", code=person.code)


@dataclass(frozen=True)
class IssuedInvitation:
    code: str
    person_code: str
    expires_at: datetime


async def create_invitation(
    session: AsyncSession, *, person_code: str, now: datetime, valid_for: timedelta, actor: str
) -> IssuedInvitation:
    """A fresh single-use code for a representative in office or a member of staff; their earlier unused codes stop
    working."""
    person = await person_by_code(session, code=person_code)
    await _refuse_out_of_office(session, person)
    await _expire_invitations(session, person=person, now=now)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    invitation = Invitation(
        code=code,
        representative_id=person.representative_id,
        staff_id=person.staff_id,
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(invitation)
    audit.record(session, actor=actor, action="invite.create", **person.audit_entity)
    return IssuedInvitation(code=code, person_code=person.code, expires_at=invitation.expires_at)


async def _expire_invitations(session: AsyncSession, *, person: Person, now: datetime) -> None:
    whose = person.whose(Invitation.representative_id, Invitation.staff_id)
    await session.exec(
        sa.update(Invitation)
        .where(whose, col(Invitation.used_at).is_(None), col(Invitation.expires_at) > now)
        .values(expires_at=now)
    )


async def redeem_invitation(session: AsyncSession, *, identity: ChatIdentity, code: str, now: datetime) -> Person:
    """Bind the identity to the invitation's representative or member of staff. Raises with a clear reason when
    it cannot."""
    code = code.strip().upper()
    invitation = await session.get(Invitation, code)
    if invitation is None:
        raise NotFound("invite.unknown")
    person = await _invited(session, invitation)
    if invitation.used_at is not None:
        if invitation.used_by == identity.id:
            raise Conflict("invite.already_yours", name=person.name)
        raise Conflict("invite.used")
    if invitation.expires_at <= now:
        raise Conflict("invite.expired")
    await _refuse_out_of_office(session, person)  # they may have left office after the code was issued
    standing = await standing_of(session, identity=identity)
    if person.role is Role.REPRESENTATIVE and not may(standing, Action.REDEEM_INVITATION):
        raise Conflict("invite.staff_account")  # a leader's or department's account does not quietly change
    bound_to = (identity.representative_id, identity.staff_id)
    if bound_to != (None, None) and bound_to != (person.representative_id, person.staff_id):
        raise Conflict("invite.bound_elsewhere")
    # The conditional update is what makes the code single-use when two chats race for it.
    claimed = await session.exec(
        sa.update(Invitation)
        .where(col(Invitation.code) == code, col(Invitation.used_at).is_(None))
        .values(used_at=now, used_by=identity.id)
    )
    if claimed.rowcount != 1:
        raise Conflict("invite.used")
    identity.role = person.role.value
    identity.representative_id = person.representative_id
    identity.staff_id = person.staff_id
    session.add(identity)
    if bound_to == (None, None):  # a chat already theirs keeps its place among their chats
        await _take_notices_on_binding(session, identity)
    audit.record(session, actor=f"identity:{identity.id}", action="invite.redeem", **person.audit_entity)
    return person


async def _invited(session: AsyncSession, invitation: Invitation) -> Person:
    if invitation.representative_id is not None:
        representative = await session.get(Representative, invitation.representative_id)
        assert representative is not None
        return Person.of_representative(representative)
    staff = await session.get(Staff, invitation.staff_id)
    assert staff is not None
    return Person.of_staff(staff)


# What a person whose chat is unbound is told, built by the caller in their language (storage does not hold the
# words): the language -> an outbox payload.
Farewell = Callable[[str], dict[str, Any]]


async def identity_by_external_id(session: AsyncSession, *, channel: str, external_id: str) -> ChatIdentity:
    found = await _locked_identity(session, channel=channel, external_id=external_id)
    if found is None:
        raise NotFound("error.identity_not_found", channel=channel, external_id=external_id)
    return found


async def unbind(
    session: AsyncSession,
    *,
    identity: ChatIdentity,
    now: datetime,
    actor: str,
    farewell: Farewell | None,
    default_language: str,
) -> bool:
    """Make a chat a resident's again: its representative or staff rights end now, its open dialogs are dropped
    (a half-logged visit must not be saved later), and it is told so and given the residents' menu. False when it
    was bound to nobody."""
    if identity.representative_id is None and identity.staff_id is None and identity.role == Role.RESIDENT:
        return False
    was = identity.role
    theirs = _chats_of_same_person(identity)
    held_notices = identity.notices
    identity.role = Role.RESIDENT.value
    identity.representative_id = None
    identity.staff_id = None
    identity.notices = True  # a resident's chat is its own person's
    identity.notices_chosen = False
    session.add(identity)
    if theirs is not None and held_notices:
        await _hand_over_notices(session, theirs, leaving=identity, unblocked_only=False)
    await dialog_state.discard_person(session, channel=identity.channel, user_id=identity.external_id)
    language = identity.language or default_language
    messages = [outbox.to_identity(identity, {"role": Role.RESIDENT.value, "language": language}, kind="commands")]
    if farewell is not None and identity.blocked_at is None:
        messages.insert(0, outbox.to_identity(identity, farewell(language)))
    await outbox.enqueue(session, messages=messages, now=now)
    audit.record(
        session, actor=actor, action="identity.unbind", entity="chat_identity", entity_id=identity.id, role=was
    )
    return True


async def revoke(
    session: AsyncSession,
    *,
    person: Person,
    now: datetime,
    actor: str,
    farewell: Farewell | None,
    default_language: str,
) -> int:
    """Unbind every chat of a representative or member of staff (a lost phone, someone who left) and withdraw their
    unused invitations; returns how many chats were unbound. A representative stays on the roster: a new
    invitation binds a new phone."""
    whose = person.whose(ChatIdentity.representative_id, ChatIdentity.staff_id)
    chats = await session.exec(select(ChatIdentity).where(whose).order_by(col(ChatIdentity.id)).with_for_update())
    count = 0
    for identity in chats.all():
        unbound = await unbind(
            session, identity=identity, now=now, actor=actor, farewell=farewell, default_language=default_language
        )
        count += int(unbound)
    await _expire_invitations(session, person=person, now=now)
    return count


@dataclass(frozen=True)
class BoundChat:
    external_id: str
    role: Role  # as the policy sees it now: a representative no longer in office is a resident
    language: str | None


async def bound_chats(session: AsyncSession, *, channel: str) -> list[BoundChat]:
    """The chats of a channel bound to a representative or staff (not those who blocked the bot), for their menus."""
    # The representatives come along into the session, where standing_of finds them without a query each.
    rows = await session.exec(
        select(ChatIdentity, Representative)
        .outerjoin(Representative, col(Representative.id) == ChatIdentity.representative_id)
        .where(
            ChatIdentity.channel == channel,
            ChatIdentity.role != Role.RESIDENT,
            col(ChatIdentity.blocked_at).is_(None),
        )
        .order_by(col(ChatIdentity.id))
    )
    chats = []
    for identity, representative in rows.all():
        _keep(session, representative)
        standing = await standing_of(session, identity=identity)
        chats.append(BoundChat(identity.external_id, standing.role, identity.language))
    return chats


async def mark_blocked(session: AsyncSession, *, channel: str, external_id: str, at: datetime | None) -> None:
    """The person blocked the bot (`at`) or came back (None); nobody counts on them reading what is sent meanwhile.
    A chat that never wrote has no identity to mark. A blocked chat that held its person's notices hands them to
    their newest other chat that can still be reached (kept chosen if they were); coming back moves nothing, the
    next message they write there does (`note_channel_used`)."""
    identity = (
        await session.exec(
            select(ChatIdentity)
            .where(col(ChatIdentity.channel) == channel, col(ChatIdentity.external_id) == external_id)
            .with_for_update()
        )
    ).first()
    if identity is None:
        return
    identity.blocked_at = at
    session.add(identity)
    theirs = _chats_of_same_person(identity)
    if at is not None and identity.notices and theirs is not None:
        await _hand_over_notices(session, theirs, leaving=identity, unblocked_only=True)


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


# --- where a person's notices go ------------------------------------------------------------------------------
# A representative or member of staff may have bound several chats (Telegram, WeChat, ...): one of them, `notices`,
# receives what is sent to the person outside a conversation. It follows the chat they used last, unless they
# chose one with /channel (`notices_chosen`, kept equal on all their chats). Each resident's chat is a person of its
# own and always receives.


# The console is an operator's tool on the server (`lianxin chat --as rep:D001`), not where a person reads: it takes
# a person's notices only when they have no other chat that can, or choose it with /channel.
OPERATOR_CHANNELS = ("console",)


def reachable() -> sa.ColumnElement[bool]:
    """The chats a notice goes to: not blocked, and their person's notice chat."""
    return sa.and_(col(ChatIdentity.blocked_at).is_(None), col(ChatIdentity.notices).is_(True))


async def reachable_chats(session: AsyncSession, *, where: sa.ColumnElement[bool]) -> list[ChatIdentity]:
    """The chats the people `where` names are told in: each one's notice chat, when it is not blocked."""
    found = await session.exec(select(ChatIdentity).where(where, reachable()).order_by(col(ChatIdentity.id)))
    return list(found.all())


def _chats_of_same_person(identity: ChatIdentity) -> sa.ColumnElement[bool] | None:
    """The condition for every chat of the representative or member of staff this chat is bound to; None for a
    resident's chat."""
    if identity.role == Role.REPRESENTATIVE and identity.representative_id is not None:
        return sa.and_(
            col(ChatIdentity.role) == Role.REPRESENTATIVE,
            col(ChatIdentity.representative_id) == identity.representative_id,
        )
    if identity.staff_id is not None:
        return col(ChatIdentity.staff_id) == identity.staff_id
    return None


async def _make_notice_chat(
    session: AsyncSession, theirs: sa.ColumnElement[bool], notice_chat_id: int, *, chosen: bool | None = None
) -> None:
    """One statement over all the person's chats: this one receives their notices, the others do not."""
    values: dict[Any, Any] = {ChatIdentity.notices: col(ChatIdentity.id) == notice_chat_id}
    if chosen is not None:
        values[ChatIdentity.notices_chosen] = chosen
    await session.exec(sa.update(ChatIdentity).where(theirs).values(values))


async def _take_notices_on_binding(session: AsyncSession, identity: ChatIdentity) -> None:
    """A chat just bound receives its person's notices (their newest chat), unless they chose another: then it
    joins the choice as one more chat that does not."""
    theirs = _chats_of_same_person(identity)
    if theirs is None:  # made a resident's (a console operator's assume_role)
        identity.notices = True
        identity.notices_chosen = False
        session.add(identity)
        return
    await session.flush()  # the binding itself, so that the statements below see this chat as the person's
    assert identity.id is not None
    chosen = (
        await session.exec(
            select(ChatIdentity.id)
            .where(theirs, col(ChatIdentity.id) != identity.id, col(ChatIdentity.notices_chosen).is_(True))
            .limit(1)
        )
    ).first()
    if identity.channel in OPERATOR_CHANNELS and chosen is None:
        readers = select(ChatIdentity.id).where(
            theirs,
            col(ChatIdentity.id) != identity.id,
            col(ChatIdentity.blocked_at).is_(None),
            col(ChatIdentity.channel).not_in(OPERATOR_CHANNELS),
        )
        if (await session.exec(readers.limit(1))).first() is not None:
            identity.notices = False  # the person reads elsewhere
            session.add(identity)
            return
    if chosen is not None:
        identity.notices = False
        identity.notices_chosen = True
        session.add(identity)
    else:
        await _make_notice_chat(session, theirs, identity.id, chosen=False)


async def _hand_over_notices(
    session: AsyncSession, theirs: sa.ColumnElement[bool], *, leaving: ChatIdentity, unblocked_only: bool
) -> None:
    """Give the notices a chat can no longer take to the person's newest other chat (one not blocked first);
    whether they were chosen stays as it was."""
    others = select(ChatIdentity.id).where(theirs, col(ChatIdentity.id) != leaving.id)
    if unblocked_only:
        others = others.where(col(ChatIdentity.blocked_at).is_(None))
    successor = (
        await session.exec(
            others.order_by(
                col(ChatIdentity.blocked_at).is_(None).desc(),
                col(ChatIdentity.channel).not_in(OPERATOR_CHANNELS).desc(),
                col(ChatIdentity.id).desc(),
            ).limit(1)
        )
    ).first()
    if successor is not None:
        await _make_notice_chat(session, theirs, successor)


async def note_channel_used(session: AsyncSession, *, identity: ChatIdentity) -> None:
    """The person wrote from this chat: unless they chose where their notices go, they go here from now on. Writes
    nothing when they already do (every message passes here; the identity is already loaded)."""
    if identity.notices or identity.notices_chosen or identity.channel in OPERATOR_CHANNELS:
        return
    theirs = _chats_of_same_person(identity)
    if theirs is None:
        return
    assert identity.id is not None
    await _make_notice_chat(session, theirs, identity.id)


async def choose_notice_channel(
    session: AsyncSession, *, identity: ChatIdentity, target_identity_id: int | None
) -> ChatIdentity:
    """The person's choice, asked from `identity`: their notices go to the chat `target_identity_id` (one of their
    own) from now on, whatever chat they write from; None: they follow the chat used last again, this one for now.
    Returns the chat that receives them."""
    theirs = _chats_of_same_person(identity)
    if theirs is None:
        raise InvalidInput("notices_channel.error.bound_only")
    if target_identity_id is None:
        target: ChatIdentity | None = identity
    else:
        target = (
            await session.exec(select(ChatIdentity).where(theirs, col(ChatIdentity.id) == target_identity_id))
        ).first()
    if target is None or target.id is None:
        raise NotFound("notices_channel.error.unknown")
    await _make_notice_chat(session, theirs, target.id, chosen=target_identity_id is not None)
    audit.record(
        session,
        actor=f"identity:{identity.id}",
        action="notices.channel",
        entity="chat_identity",
        entity_id=target.id,
        chosen=target_identity_id is not None,
    )
    return target


@dataclass(frozen=True)
class NoticeChat:
    """One of a person's bound chats as /channel shows it: which channel, never its external id."""

    identity_id: int
    channel: str
    ordinal: int  # 1 for the person's first chat on this channel, 2 for their second ...
    of_channel: int  # how many chats the person has on this channel
    notices: bool  # it receives the person's notices
    chosen: bool  # the person chose where their notices go
    blocked: bool
    current: bool  # the chat asking


async def notice_chats(session: AsyncSession, *, identity: ChatIdentity) -> list[NoticeChat]:
    """The chats of the person writing from `identity`, oldest first (a resident's: this one alone)."""
    theirs = _chats_of_same_person(identity)
    chats = [identity]
    if theirs is not None:
        chats = list((await session.exec(select(ChatIdentity).where(theirs).order_by(col(ChatIdentity.id)))).all())
    per_channel: dict[str, int] = {}
    for chat in chats:
        per_channel[chat.channel] = per_channel.get(chat.channel, 0) + 1
    seen: dict[str, int] = {}
    listed = []
    for chat in chats:
        assert chat.id is not None
        seen[chat.channel] = seen.get(chat.channel, 0) + 1
        listed.append(
            NoticeChat(
                identity_id=chat.id,
                channel=chat.channel,
                ordinal=seen[chat.channel],
                of_channel=per_channel[chat.channel],
                notices=chat.notices,
                chosen=chat.notices_chosen,
                blocked=chat.blocked_at is not None,
                current=chat.id == identity.id,
            )
        )
    return listed
