"""People: chat identities, roles, and single-use invitations that bind a chat to a representative."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from storage.db import Database
from storage.errors import Conflict, InvalidInput, LianxinError, NotFound, StoreError
from storage.models import (
    Area,
    AuditEntry,
    ChatIdentity,
    DialogState,
    Invitation,
    OutboxMessage,
    RepArea,
    RepGroup,
    Representative,
    Staff,
    Station,
)
from storage.policy import Standing
from storage.records import people

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
VALID = timedelta(days=14)
CHANNEL = "telegram"
# name, phone: the personal data that must never reach the audit log
REPRESENTATIVES = {
    "D001": ("王建国", "13900000001", True),
    "D002": ("李红梅", "13900000002", True),
    "D003": ("张伟", "13900000003", False),  # no longer in office
}
STAFF = {"L001": ("赵书记", "leader"), "C001": ("钱主任", "liaison"), "B001": ("孙科长", "department")}


@dataclass
class Org:
    representatives: dict[str, int]
    staff: dict[str, int]


@pytest.fixture
async def org(db: Database) -> Org:
    """One station, one area, one group, three representatives (D003 inactive) and three staff."""
    async with db.transaction() as session:
        station = Station(name="幸福社区党代表工作站", address="幸福路1号")
        group = RepGroup(name="幸福街道代表小组")
        session.add_all([station, group])
        await session.flush()
        assert station.id is not None and group.id is not None
        area = Area(name="幸福社区一区", station_id=station.id)
        session.add(area)
        await session.flush()
        assert area.id is not None
        representatives: dict[str, int] = {}
        for code, (name, phone, active) in REPRESENTATIVES.items():
            rep = Representative(
                code=code,
                name=name,
                level="district",
                group_id=group.id,
                station_id=station.id,
                phone=phone,
                active=active,
            )
            session.add(rep)
            await session.flush()
            assert rep.id is not None
            session.add(RepArea(representative_id=rep.id, area_id=area.id))
            representatives[code] = rep.id
        staff: dict[str, int] = {}
        for code, (name, role) in STAFF.items():
            person = Staff(code=code, name=name, role=role)
            session.add(person)
            await session.flush()
            assert person.id is not None
            staff[code] = person.id
    return Org(representatives, staff)


async def issue(db: Database, rep_code: str, *, now: datetime = NOW) -> people.IssuedInvitation:
    async with db.transaction() as session:
        return await people.create_invitation(session, person_code=rep_code, now=now, valid_for=VALID, actor="cli")


async def redeem(db: Database, who: str, code: str, *, now: datetime = NOW) -> str:
    """`who` sends `code` in the chat; returns the code of the representative they are now bound to."""
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel=CHANNEL, external_id=who)
        representative = await people.redeem_invitation(session, identity=identity, code=code, now=now)
        return representative.code


async def identity_of(db: Database, who: str) -> ChatIdentity | None:
    async with db.transaction() as session:
        query = select(ChatIdentity).where(ChatIdentity.channel == CHANNEL, ChatIdentity.external_id == who)
        return (await session.exec(query)).first()


async def invitation(db: Database, code: str) -> Invitation:
    async with db.transaction() as session:
        found = await session.get(Invitation, code)
        assert found is not None
        return found


async def audit_rows(db: Database) -> list[AuditEntry]:
    async with db.transaction() as session:
        return list((await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all())  # type: ignore[arg-type]


# --- issuing and redeeming ----------------------------------------------------------------------------------


async def test_create_invitation(db: Database, org: Org) -> None:
    issued = await issue(db, "D001")
    assert len(issued.code) == people.CODE_LENGTH == 10
    assert set(issued.code) <= set(people.CODE_ALPHABET)
    assert issued.person_code == "D001"
    assert issued.expires_at == NOW + VALID
    stored = await invitation(db, issued.code)
    assert stored.representative_id == org.representatives["D001"]
    assert (stored.created_at, stored.expires_at, stored.used_at, stored.used_by) == (NOW, NOW + VALID, None, None)


async def test_codes_are_random(db: Database, org: Org) -> None:
    codes = {(await issue(db, "D002")).code for _ in range(20)}
    assert len(codes) == 20


@pytest.mark.parametrize(
    ("rep_code", "error", "key"),
    [
        ("D999", NotFound, "error.person_not_found"),
        ("D003", Conflict, "invite.inactive"),
    ],
)
async def test_create_invitation_refused(
    db: Database, org: Org, rep_code: str, error: type[LianxinError], key: str
) -> None:
    with pytest.raises(error) as raised:
        await issue(db, rep_code)
    assert type(raised.value) is error
    assert raised.value.key == key
    assert raised.value.params["code"] == rep_code
    async with db.transaction() as session:
        assert (await session.exec(select(Invitation))).all() == []


@pytest.mark.parametrize(
    "typed",
    [lambda code: code, lambda code: code.lower(), lambda code: f"  {code}\n", lambda code: f" {code.lower()} "],
    ids=["exact", "lowercase", "padded", "lowercase-padded"],
)
async def test_redeem_binds_the_identity(db: Database, org: Org, typed: object) -> None:
    issued = await issue(db, "D001")
    assert callable(typed)
    assert await redeem(db, "alice", typed(issued.code), now=NOW + timedelta(hours=1)) == "D001"
    identity = await identity_of(db, "alice")
    assert identity is not None
    assert (identity.role, identity.representative_id, identity.staff_id) == (
        "representative",
        org.representatives["D001"],
        None,
    )
    stored = await invitation(db, issued.code)
    assert (stored.used_at, stored.used_by) == (NOW + timedelta(hours=1), identity.id)


# Each row: what happened before (issue a code for a representative; redeem the n-th issued code as someone;
# deactivate a representative), then who sends which code (n-th issued, or a literal) when, and what follows.
Step = tuple[str, ...]
LATER = NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("before", "who", "code", "when", "error", "key"),
    [
        pytest.param([("issue", "D001"), ("redeem", "alice", "0")], "alice", "0", LATER, Conflict,
                     "invite.already_yours", id="same-code-again"),
        pytest.param([("issue", "D001"), ("redeem", "alice", "0")], "bob", "0", LATER, Conflict,
                     "invite.used", id="used-by-another"),
        pytest.param([("issue", "D001"), ("redeem", "alice", "0")], "bob", "0", NOW + 2 * VALID, Conflict,
                     "invite.used", id="used-and-expired"),
        pytest.param([("issue", "D001")], "alice", "0", NOW + VALID, Conflict, "invite.expired",
                     id="expired-at-the-second"),
        pytest.param([("issue", "D001")], "alice", "0", NOW + 2 * VALID, Conflict, "invite.expired",
                     id="expired"),
        pytest.param([("issue", "D001")], "alice", "ABCDEFGHJK", NOW, NotFound, "invite.unknown",
                     id="unknown-code"),
        pytest.param([("issue", "D001")], "alice", "", NOW, NotFound, "invite.unknown", id="empty"),
        pytest.param([("issue", "D001"), ("issue", "D001")], "alice", "0", NOW, Conflict, "invite.expired",
                     id="replaced-by-a-newer-code"),
        pytest.param([("issue", "D001"), ("issue", "D002"), ("redeem", "alice", "0")], "alice", "1", NOW,
                     Conflict, "invite.bound_elsewhere", id="bound-to-another-representative"),
        pytest.param(
            [("issue", "D002"), ("deactivate", "D002")], "alice", "0", NOW, Conflict, "invite.inactive",
            id="representative-left-office-after-issue",
        ),
    ],
)  # fmt: skip
async def test_redeem_refused(
    db: Database,
    org: Org,
    before: list[Step],
    who: str,
    code: str,
    when: datetime,
    error: type[LianxinError],
    key: str,
) -> None:
    codes: list[str] = []
    for action, *args in before:
        if action == "issue":
            codes.append((await issue(db, args[0])).code)
        elif action == "redeem":
            await redeem(db, args[0], codes[int(args[1])])
        elif action == "deactivate":
            async with db.transaction() as session:
                rep = await session.get(Representative, org.representatives[args[0]])
                assert rep is not None
                rep.active = False
                session.add(rep)
    sent = codes[int(code)] if code.isdigit() else code
    identity_before = await identity_of(db, who)
    invitations_before = await invitation(db, sent) if sent in codes else None
    audit_before = len(await audit_rows(db))

    with pytest.raises(error) as raised:
        await redeem(db, who, sent, now=when)

    assert type(raised.value) is error
    assert raised.value.key == key
    # nothing of the refused attempt is kept: identity, invitation and audit log are as they were
    after = await identity_of(db, who)
    assert (after and (after.role, after.representative_id)) == (
        identity_before and (identity_before.role, identity_before.representative_id)
    )
    if invitations_before is not None:
        assert await invitation(db, sent) == invitations_before
    assert len(await audit_rows(db)) == audit_before


async def test_already_yours_names_the_representative(db: Database, org: Org) -> None:
    issued = await issue(db, "D001")
    await redeem(db, "alice", issued.code)
    with pytest.raises(Conflict) as raised:
        await redeem(db, "alice", issued.code)
    assert raised.value.params == {"name": "王建国"}


@pytest.mark.parametrize(
    ("before", "code", "when", "bound_to"),
    [
        pytest.param([("issue", "D001")], "0", NOW + VALID - timedelta(seconds=1), "D001", id="last-second"),
        pytest.param([("issue", "D001"), ("redeem", "alice", "0"), ("issue", "D001")], "1", NOW, "D001",
                     id="fresh-code-for-the-same-representative"),
        pytest.param([("issue", "D001"), ("issue", "D002")], "0", NOW, "D001",
                     id="a-code-for-someone-else-leaves-it-alone"),
    ],
)  # fmt: skip
async def test_redeem_accepted(
    db: Database, org: Org, before: list[Step], code: str, when: datetime, bound_to: str
) -> None:
    codes: list[str] = []
    for action, *args in before:
        if action == "issue":
            codes.append((await issue(db, args[0])).code)
        elif action == "redeem":
            await redeem(db, args[0], codes[int(args[1])])
    assert await redeem(db, "alice", codes[int(code)], now=when) == bound_to


async def test_redeem_writes_an_audit_row_without_personal_data(db: Database, org: Org) -> None:
    for who, rep_code in (("alice", "D001"), ("bob", "D002")):
        await redeem(db, who, (await issue(db, rep_code)).code)
    rows = await audit_rows(db)
    assert [row.action for row in rows] == ["invite.create", "invite.redeem", "invite.create", "invite.redeem"]
    for who, rep_code, row in (("alice", "D001", rows[1]), ("bob", "D002", rows[3])):
        identity = await identity_of(db, who)
        assert identity is not None
        assert (row.actor, row.entity, row.entity_id) == (
            f"identity:{identity.id}",
            "representative",
            str(org.representatives[rep_code]),
        )
    stored = json.dumps([[row.actor, row.entity_id, row.detail] for row in rows], ensure_ascii=False)
    for name, phone, _ in REPRESENTATIVES.values():
        assert name not in stored
        assert phone not in stored


@pytest.mark.parametrize("pre_read", [False, True], ids=["plain", "both-read-before-either-claims"])
async def test_concurrent_redeem_of_one_code(db: Database, org: Org, pre_read: bool) -> None:
    issued = await issue(db, "D001")
    for who in ("alice", "bob"):
        async with db.transaction() as session:
            await people.identity_for(session, channel=CHANNEL, external_id=who)

    async def attempt(who: str) -> str:
        async with db.transaction() as session:
            if pre_read:
                # Load the unused invitation into this session first and yield, so that both transactions
                # decide on what they read before either claims: only the conditional UPDATE can stop the second.
                await session.get(Invitation, issued.code)
                await asyncio.sleep(0.05)
            identity = await people.identity_for(session, channel=CHANNEL, external_id=who)
            return (await people.redeem_invitation(session, identity=identity, code=issued.code, now=NOW)).code

    results = await asyncio.gather(attempt("alice"), attempt("bob"), return_exceptions=True)

    winners = [result for result in results if result == "D001"]
    losers = [result for result in results if isinstance(result, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].key == "invite.used"
    winner = "alice" if results[0] == "D001" else "bob"
    loser = "bob" if winner == "alice" else "alice"
    won, lost = await identity_of(db, winner), await identity_of(db, loser)
    assert won is not None and lost is not None
    assert (won.role, won.representative_id) == ("representative", org.representatives["D001"])
    assert (lost.role, lost.representative_id) == ("resident", None)
    assert (await invitation(db, issued.code)).used_by == won.id
    assert [row.action for row in await audit_rows(db)].count("invite.redeem") == 1


@pytest.mark.parametrize(
    ("column", "values"),
    [
        pytest.param(ChatIdentity.__table__.c.role, people.ROLES, id="chat_identity.role"),  # type: ignore[attr-defined]
        pytest.param(Staff.__table__.c.role, people.STAFF_ROLES, id="staff.role"),  # type: ignore[attr-defined]
    ],
)  # fmt: skip
def test_every_role_fits_its_column(column: Any, values: tuple[str, ...]) -> None:
    """SQLite does not enforce VARCHAR lengths, so this is the only check a SQLite-only run has."""
    too_long = [value for value in values if len(value) > column.type.length]
    assert not too_long, f"{column} is VARCHAR({column.type.length})"


# --- recognising a code --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABCDEFGHJK", True),
        ("abcdefghjk", True),
        ("  XYZ2345678 \n", True),
        ("ABCDEFGHJ", False),  # 9 characters
        ("ABCDEFGHJKM", False),  # 11 characters
        ("ABCDEFGHJO", False),  # O is not in the alphabet (looks like 0)
        ("ABCDEFGHJ0", False),
        ("ABCDEFGHJ1", False),
        ("ABCDEFGHJI", False),
        ("ABCDEFGHJL", False),
        ("ABCDE FGHJ", False),
        ("幸福路12号1栋1单元", False),
        ("/visit", False),
        ("", False),
    ],
)
def test_looks_like_invitation(text: str, expected: bool) -> None:
    assert people.looks_like_invitation(text) is expected


# --- identities ----------------------------------------------------------------------------------------------


async def test_identity_is_created_once_as_a_resident(db: Database) -> None:
    async with db.transaction() as session:
        first = await people.identity_for(session, channel="telegram", external_id="42")
    async with db.transaction() as session:
        again = await people.identity_for(session, channel="telegram", external_id="42")
        elsewhere = await people.identity_for(session, channel="wechat", external_id="42")
        everyone = (await session.exec(select(ChatIdentity))).all()
    # No language until the person chooses one: the platform's hint is used meanwhile, never stored.
    assert (first.role, first.representative_id, first.staff_id, first.language) == ("resident", None, None, None)
    assert again.id == first.id
    assert elsewhere.id != first.id
    assert sorted((row.channel, row.external_id) for row in everyone) == [("telegram", "42"), ("wechat", "42")]


class Statements:
    """Counts the statements a database runs."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


async def test_identities_read_ahead_for_a_batch_are_handed_out_without_a_statement(db: Database) -> None:
    async with db.transaction() as session:
        known = await people.identity_for(session, channel="telegram", external_id="1")
        await people.identity_for(session, channel="telegram", external_id="2")
    statements = Statements(db)
    async with db.transaction() as session:
        await people.preload_identities(session, channel="telegram", external_ids=["1", "2", "3"])
        after_preload = statements.count
        first = await people.identity_for(session, channel="telegram", external_id="1")
        await people.identity_for(session, channel="telegram", external_id="2")
        assert statements.count == after_preload  # both were read ahead
        new = await people.identity_for(session, channel="telegram", external_id="3")  # unknown: created
        assert statements.count > after_preload
        assert first.id == known.id and new.role == "resident"
        # A savepoint that rolls back a change to a preloaded identity leaves it expired: it is read again.
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                first.language = "en"
                await session.flush()
                raise RuntimeError("the step failed")
        again = await people.identity_for(session, channel="telegram", external_id="1")
        assert again.language is None


async def test_two_first_messages_at_once_make_one_identity(db: Database) -> None:
    async def first_message() -> int | None:
        async with db.transaction() as session:
            return (await people.identity_for(session, channel="telegram", external_id="77")).id

    ids = await asyncio.gather(*(first_message() for _ in range(5)))
    assert len(set(ids)) == 1


async def test_identity_is_unique_per_channel_and_external_id(db: Database) -> None:
    async with db.transaction() as session:
        await people.identity_for(session, channel="telegram", external_id="42")
    with pytest.raises(StoreError):
        async with db.transaction() as session:
            session.add(ChatIdentity(channel="telegram", external_id="42"))


@pytest.mark.parametrize(
    ("role", "code", "representative", "staff"),
    [
        ("representative", "D001", "D001", None),
        ("representative", " d002 ", "D002", None),
        ("leader", "L001", None, "L001"),
        ("liaison", "c001", None, "C001"),
        ("department", "B001", None, "B001"),
        ("resident", "", None, None),
    ],
)
async def test_assume_role(
    db: Database, org: Org, role: str, code: str, representative: str | None, staff: str | None
) -> None:
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel="console", external_id="operator")
        # start from another role, so that the one given must also clear what was there
        await people.assume_role(session, identity=identity, role="representative", code="D003", actor="console")
        await people.assume_role(session, identity=identity, role=role, code=code, actor="console")
    async with db.transaction() as session:
        stored = await session.get(ChatIdentity, identity.id)
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity.role"))).all()
    assert stored is not None
    assert stored.role == role
    assert stored.representative_id == (org.representatives[representative] if representative else None)
    assert stored.staff_id == (org.staff[staff] if staff else None)
    assert [(row.entity_id, row.detail) for row in audit] == [
        (str(identity.id), {"role": "representative"}),
        (str(identity.id), {"role": role}),
    ]


@pytest.mark.parametrize(
    ("role", "code", "error", "key", "params"),
    [
        ("leader", "C001", InvalidInput, "error.staff_role_mismatch",
         {"code": "C001", "role": "leader", "actual": "liaison"}),
        ("department", "L001", InvalidInput, "error.staff_role_mismatch",
         {"code": "L001", "role": "department", "actual": "leader"}),
        pytest.param("representative", "D999", NotFound, "error.rep_not_found", {"code": "D999"}),
        pytest.param("representative", "L001", NotFound, "error.rep_not_found", {"code": "L001"}),
        ("leader", "X999", NotFound, "error.staff_not_found", {"code": "X999"}),
        ("admin", "L001", InvalidInput, "error.unknown_role", {"role": "admin", "roles": ", ".join(people.ROLES)}),
    ],
)  # fmt: skip
async def test_assume_role_refused(
    db: Database, org: Org, role: str, code: str, error: type[LianxinError], key: str, params: dict[str, str]
) -> None:
    async with db.transaction() as session:
        identity_id = (await people.identity_for(session, channel="console", external_id="operator")).id
    with pytest.raises(error) as raised:
        async with db.transaction() as session:
            identity = await people.identity_for(session, channel="console", external_id="operator")
            await people.assume_role(session, identity=identity, role=role, code=code, actor="console")
    assert type(raised.value) is error
    assert (raised.value.key, raised.value.params) == (key, params)
    async with db.transaction() as session:
        stored = await session.get(ChatIdentity, identity_id)
        audit = (await session.exec(select(AuditEntry))).all()
    assert stored is not None
    assert (stored.role, stored.representative_id, stored.staff_id) == ("resident", None, None)
    assert audit == []


# --- standing, staff invitations, unbinding ---------------------------------------------------------------------


async def standing(db: Database, who: str) -> Standing:
    async with db.transaction() as session:
        identity = await people.identity_for(session, channel=CHANNEL, external_id=who)
        return await people.standing_of(session, identity=identity)


async def test_standing_follows_the_roster_at_every_request(db: Database, org: Org) -> None:
    await redeem(db, "alice", (await issue(db, "D001")).code)
    now = await standing(db, "alice")
    assert (now.role, now.representative_id, now.lapsed) == ("representative", org.representatives["D001"], False)
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(Representative.code == "D001").values(active=False))  # type: ignore[arg-type]
    lapsed = await standing(db, "alice")
    assert (lapsed.role, lapsed.representative_id, lapsed.lapsed) == ("resident", None, True)
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(Representative.code == "D001").values(active=True))  # type: ignore[arg-type]
    assert (await standing(db, "alice")).is_representative  # back in office: the binding counts again


async def test_a_group_role_comes_from_the_roster(db: Database, org: Org) -> None:
    async with db.transaction() as session:
        await session.exec(
            sa.update(Representative).where(Representative.code == "D002").values(group_role="liaison")  # type: ignore[arg-type]
        )
    await redeem(db, "bob", (await issue(db, "D002")).code)
    assert (await standing(db, "bob")).group_role == "liaison"


@pytest.mark.parametrize("code", ["L001", "C001", "B001"])
async def test_staff_bind_with_an_invitation_too(db: Database, org: Org, code: str) -> None:
    issued = await issue(db, code)
    assert issued.person_code == code
    assert await redeem(db, "carol", issued.code) == code
    bound = await standing(db, "carol")
    assert (bound.role, bound.staff_id) == (STAFF[code][1], org.staff[code])
    stored = await invitation(db, issued.code)
    assert (stored.representative_id, stored.staff_id) == (None, org.staff[code])


async def test_a_staff_account_cannot_take_a_representatives_code_nor_a_representative_a_staff_code(
    db: Database, org: Org
) -> None:
    await redeem(db, "carol", (await issue(db, "C001")).code)
    with pytest.raises(Conflict) as refused:
        await redeem(db, "carol", (await issue(db, "D001")).code)
    assert refused.value.key == "invite.staff_account"
    await redeem(db, "alice", (await issue(db, "D001")).code)
    with pytest.raises(Conflict) as elsewhere:
        await redeem(db, "alice", (await issue(db, "B001")).code)
    assert elsewhere.value.key == "invite.bound_elsewhere"


def farewell(language: str) -> dict[str, Any]:
    return {"text": f"unbound ({language})"}


async def test_unbind_makes_a_chat_a_residents_and_tells_it(db: Database, org: Org) -> None:
    await redeem(db, "alice", (await issue(db, "D001")).code)
    async with db.transaction() as session:
        identity = await people.identity_by_external_id(session, channel=CHANNEL, external_id="alice")
        session.add(DialogState(channel=CHANNEL, chat_id="alice", user_id="alice", flow="visit", step="mode"))
        await session.flush()
        assert await people.unbind(
            session, identity=identity, now=NOW, actor="cli", farewell=farewell, default_language="zh-CN"
        )
    async with db.transaction() as session:
        assert not await people.unbind(
            session,
            identity=await people.identity_by_external_id(session, channel=CHANNEL, external_id="alice"),
            now=NOW,
            actor="cli",
            farewell=farewell,
            default_language="zh-CN",
        )  # nobody to unbind the second time
        messages = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
        dialogs = (await session.exec(select(DialogState))).all()
    stored = await identity_of(db, "alice")
    assert stored is not None and (stored.role, stored.representative_id) == ("resident", None)
    assert [(row.chat_key, row.kind, row.payload) for row in messages] == [
        ("alice", "message", {"text": "unbound (zh-CN)"}),
        ("alice", "commands", {"role": "resident", "language": "zh-CN"}),
    ]
    assert dialogs == []  # a half-logged visit is not saved later
    assert [row.action for row in await audit_rows(db)].count("identity.unbind") == 1


async def test_revoke_unbinds_every_chat_of_a_person_and_their_unused_codes(db: Database, org: Org) -> None:
    await redeem(db, "alice", (await issue(db, "D001")).code)
    await redeem(db, "alice-tablet", (await issue(db, "D001")).code)
    await redeem(db, "bob", (await issue(db, "D002")).code)
    unused = await issue(db, "D001")
    async with db.transaction() as session:
        person = await people.person_by_code(session, code="d001")
        count = await people.revoke(
            session, person=person, now=NOW, actor="cli", farewell=farewell, default_language="en"
        )
    assert count == 2
    for who in ("alice", "alice-tablet"):
        assert not (await standing(db, who)).is_representative
    assert (await standing(db, "bob")).is_representative  # another representative's chat stays
    with pytest.raises(Conflict) as expired:
        await redeem(db, "mallory", unused.code)
    assert expired.value.key == "invite.expired"


async def test_bound_chats_have_their_roles_as_the_policy_sees_them(db: Database, org: Org) -> None:
    """The menus set at start: a representative out of office gets the residents' menu, staff their own."""
    await redeem(db, "alice", (await issue(db, "D001")).code)
    await redeem(db, "carol", (await issue(db, "C001")).code)
    async with db.transaction() as session:
        await session.exec(sa.update(Representative).where(Representative.code == "D001").values(active=False))  # type: ignore[arg-type]
    async with db.read() as session:
        chats = await people.bound_chats(session, channel=CHANNEL)
    assert [(chat.external_id, chat.role) for chat in chats] == [("alice", "resident"), ("carol", "liaison")]
