"""The proposal store: numbers, co-signing and the filing conditions, review (established, not established only with
a reason, merged), assignment with a working-day deadline, answers and the author's evaluation (one second answer),
who may take which step, who hears of each, the overdue ones, and what the digest reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import proposals as words
from storage.db import Database
from storage.errors import Conflict, InvalidInput, NotAllowed, NotFound
from storage.models import (
    AuditEntry,
    ChatIdentity,
    DueItem,
    OutboxMessage,
    Proposal,
    ProposalEvent,
    ProposalFile,
    Representative,
)
from storage.policy import Role
from storage.records import cases, people, proposals
from storage.settings import Settings
from tests.factories import NOW
from tests.storage.records.test_cases import CHANNEL, Told, World, at, build_world, outbox_mark, told

BODY = (
    "幸福路与和平街交叉口早晚高峰拥堵严重，学生上学放学穿行危险，"
    "建议增设信号灯并在路口两侧划设人行横道，同时安排交警高峰时段值守。"
)
MORE = {  # district representatives beside D001 and D002, for inquiries (four co-signers of the author's level)
    "D003": ("9104", "赵敏"),
    "D004": ("9105", "钱进"),
    "D005": ("9106", "孙宁"),
}


def render(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """handlers.proposals.render with the catalog key kept beside the words: the tests tell notices apart by it."""
    return {**words.render(language, key, values), "key": key}


@pytest.fixture
async def world(db: Database, settings: Settings) -> World:
    return await build_proposal_world(db, settings)


async def build_proposal_world(db: Database, settings: Settings) -> World:
    """The cases' world (a liaison office, a leader, 区城管局 and 区住建局, D001 D002 T001) and three more district
    representatives with chats."""
    world = await build_world(db, settings)
    async with db.transaction() as session:
        for code, (chat, name) in MORE.items():
            rep = Representative(code=code, name=name, level="district", group_id=world.district.group_id)
            session.add(rep)
            await session.flush()
            assert rep.id is not None
            world.district.representatives[code] = rep.id
            identity = ChatIdentity(channel=CHANNEL, external_id=chat)
            session.add(identity)
            await session.flush()
            await people.assume_role(session, identity=identity, role=Role.REPRESENTATIVE, code=code, actor="test")
            assert identity.id is not None
            world.ids[code] = identity.id
    return ProposalWorld(world.db, world.settings, world.calendar, world.district, world.ids)


class ProposalWorld(World):
    def who_is(self, chat_key: str) -> str:
        return next((code for code, (chat, _) in MORE.items() if chat == chat_key), super().who_is(chat_key))


async def actor(session: AsyncSession, world: World, person: str) -> cases.Actor:
    identity = await session.get(ChatIdentity, world.ids[person])
    assert identity is not None
    return cases.Actor(await people.standing_of(session, identity=identity), identity)


async def draft(
    world: World,
    *,
    author: str = "D001",
    kind: str = "proposal",
    cosigners: tuple[str, ...] = ("D002",),
    body: str = BODY,
    files: tuple[str, ...] = (),
    now: datetime = NOW,
    settings: Settings | None = None,
) -> Proposal:
    async with world.db.transaction() as session:
        return await proposals.file(
            session,
            who=await actor(session, world, author),
            draft=proposals.Draft(
                kind=kind,
                title="幸福路口增设信号灯",
                body=body,
                files=files,
                cosigners=tuple(world.rep(code) for code in cosigners),
            ),
            settings=settings or world.settings,
            now=now,
            render=render,
        )


async def step(
    world: World, person: str, function: Any, proposal: Proposal, *, now: datetime = NOW, **arguments: Any
) -> Proposal:
    """One transition, in its own transaction, by one person of PEOPLE."""
    async with world.db.transaction() as session:
        result: Proposal = await function(
            session,
            who=await actor(session, world, person),
            proposal_id=proposal.id,
            settings=arguments.pop("settings", world.settings),
            now=now,
            render=render,
            **arguments,
        )
        return result


async def accept(world: World, proposal: Proposal, *codes: str) -> Proposal:
    for code in codes:
        proposal = await step(world, code, proposals.cosign, proposal, accept=True)
    return proposal


async def submitted(world: World) -> Proposal:
    """A proposal with its co-signer, submitted."""
    proposal = await accept(world, await draft(world), "D002")
    return await step(world, "D001", proposals.submit, proposal)


async def assigned(world: World, department: str = "区城管局", *, now: datetime = NOW) -> Proposal:
    proposal = await step(world, "office", proposals.establish, await submitted(world), now=now)
    return await step(
        world, "office", proposals.assign, proposal, department=department, calendar=world.calendar, now=now
    )


async def answer(world: World, proposal: Proposal, *, person: str = "城管", now: datetime = NOW) -> Proposal:
    return await step(world, person, proposals.answer, proposal, text="已增设信号灯。", attachment=None, now=now)


async def evaluate(world: World, proposal: Proposal, evaluation: str, *, now: datetime = NOW) -> Proposal:
    return await step(
        world,
        "D001",
        proposals.evaluate,
        proposal,
        evaluation=evaluation,
        note="灯还没装" if evaluation == "dissatisfied" else "",
        calendar=world.calendar,
        now=now,
    )


async def load(world: World, proposal: Proposal) -> Proposal:
    async with world.db.read() as session:
        found = await session.get(Proposal, proposal.id)
        assert found is not None
        return found


async def actions(world: World, proposal: Proposal) -> list[str]:
    async with world.db.read() as session:
        assert proposal.id is not None
        return [event.action for event in await proposals.history(session, proposal_id=proposal.id)]


# --- numbers and drafting -----------------------------------------------------------------------------------


async def test_numbers_count_up_per_local_year(world: World) -> None:
    first = await draft(world)
    second = await draft(world, kind="motion", cosigners=())
    new_year = await draft(world, now=datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 00:30 on 1 January in Shanghai
    assert [p.number for p in (first, second, new_year)] == ["TA-2026-0001", "TA-2026-0002", "TA-2027-0001"]


async def test_a_draft_invites_its_co_signers_and_plans_one_reminder_each(world: World) -> None:
    mark = await outbox_mark(world)
    proposal = await draft(world, cosigners=("D002", "T001"), files=("photo:p-1", "document:d-1"))
    assert proposal.state == proposals.SIGNING and proposal.submitted_at is None
    assert await told(world, mark) == [Told("D002", "proposal.notify.invited"), Told("T001", "proposal.notify.invited")]
    async with world.db.read() as session:
        invitation = (await session.exec(select(DueItem).where(col(DueItem.kind) == proposals.INVITE_REMINDER))).all()
        files = (await session.exec(select(ProposalFile).where(ProposalFile.proposal_id == proposal.id))).all()
    assert sorted(item.key for item in invitation) == [
        f"proposal-invite:TA-2026-0001:{world.rep('D002')}:20261125T020000",
        f"proposal-invite:TA-2026-0001:{world.rep('T001')}:20261125T020000",
    ]
    assert {item.due_at for item in invitation} == {NOW + timedelta(days=3)}
    assert sorted((file.kind, file.file_ref) for file in files) == [("document", "d-1"), ("photo", "p-1")]
    assert await actions(world, proposal) == ["drafted", "invited", "invited"]


async def test_an_invitation_offers_to_co_sign_or_decline_by_button(world: World) -> None:
    mark = await outbox_mark(world)
    await draft(world)
    async with world.db.read() as session:
        row = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > mark))).one()
    assert [data for data, _ in row.payload["buttons"]] == [
        "cmd:/proposals TA-2026-0001 cosign",
        "cmd:/proposals TA-2026-0001 decline",
        "cmd:/proposals TA-2026-0001",
    ]


async def test_a_kind_without_co_signers_is_submitted_at_once(world: World) -> None:
    mark = await outbox_mark(world)
    motion = await draft(world, kind="motion", cosigners=())
    assert (motion.state, motion.submitted_at) == (proposals.SUBMITTED, NOW)
    assert await told(world, mark) == [Told("office", "proposal.notify.to_review")]


@pytest.mark.parametrize(
    ("cosigners", "problem"),
    [
        (("D001",), "proposal.error.own_cosigner"),
        (("T001",), "proposal.error.other_level"),  # an inquiry takes co-signers of the author's level
    ],
)
async def test_co_signers_the_kind_does_not_take_are_refused(
    world: World, cosigners: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await draft(world, kind="inquiry", cosigners=cosigners)
    assert refused.value.key == problem
    async with world.db.read() as session:
        assert (await session.exec(select(Proposal))).all() == []


async def test_what_no_co_signer_can_mend_is_refused_before_anything_is_saved(world: World) -> None:
    needs_file = world.settings.model_copy(
        update={
            "proposals": world.settings.proposals.model_copy(
                update={
                    "kinds": [
                        kind.model_copy(update={"needs_attachment": True}) for kind in world.settings.proposals.kinds
                    ]
                }
            )
        }
    )
    with pytest.raises(proposals.NotReady) as refused:
        await draft(world, body="太短了", settings=needs_file)
    assert refused.value.shortfall == proposals.Shortfall(cosigners=1, body=50, attachment=True)
    async with world.db.read() as session:
        assert (await session.exec(select(Proposal))).all() == []


# --- co-signing thresholds ----------------------------------------------------------------------------------


async def test_submission_waits_for_the_co_signers_the_kind_needs(world: World) -> None:
    proposal = await draft(world, cosigners=("D002", "T001"))
    with pytest.raises(proposals.NotReady) as early:
        await step(world, "D001", proposals.submit, proposal)
    assert early.value.shortfall == proposals.Shortfall(cosigners=1)

    mark = await outbox_mark(world)
    await step(world, "T001", proposals.cosign, proposal, accept=False)  # a decline counts for nothing
    assert await told(world, mark) == [Told("D001", "proposal.notify.declined")]
    with pytest.raises(proposals.NotReady):
        await step(world, "D001", proposals.submit, proposal)

    mark = await outbox_mark(world)
    await accept(world, proposal, "D002")  # the last one needed: the author hears it can be submitted
    assert await told(world, mark) == [Told("D001", "proposal.notify.cosigned"), Told("D001", "proposal.notify.ready")]
    mark = await outbox_mark(world)
    done = await step(world, "D001", proposals.submit, proposal)
    assert done.state == proposals.SUBMITTED
    assert await told(world, mark) == [
        Told("D002", "proposal.notify.submitted"),
        Told("office", "proposal.notify.to_review"),
    ]


async def test_an_inquiry_needs_four_co_signers_of_the_authors_level(world: World) -> None:
    inquiry = await draft(world, kind="inquiry", cosigners=("D002", "D003", "D004", "D005"))
    await accept(world, inquiry, "D002", "D003", "D004")
    async with world.db.read() as session:
        assert await proposals.shortfall(session, proposal=inquiry, settings=world.settings) == proposals.Shortfall(
            cosigners=1
        )
    await accept(world, inquiry, "D005")
    assert (await step(world, "D001", proposals.submit, inquiry)).state == proposals.SUBMITTED


async def test_more_co_signers_can_be_invited_before_review(world: World) -> None:
    proposal = await draft(world, cosigners=("D002",))
    await step(world, "D001", proposals.invite, proposal, cosigners=[world.rep("D003")])
    with pytest.raises(Conflict) as again:
        await step(world, "D001", proposals.invite, proposal, cosigners=[world.rep("D003")])
    assert again.value.key == "proposal.error.already_invited"
    async with world.db.read() as session:
        assert proposal.id is not None
        invited = [rep.code for _, rep in await proposals.signers(session, proposal_id=proposal.id)]
    assert sorted(invited) == ["D002", "D003"]


async def test_one_who_declined_may_be_asked_again(world: World) -> None:
    proposal = await draft(world, cosigners=("D002",))
    await step(world, "D002", proposals.cosign, proposal, accept=False)
    mark = await outbox_mark(world)
    await step(world, "D001", proposals.invite, proposal, cosigners=[world.rep("D002")])
    assert await told(world, mark) == [Told("D002", "proposal.notify.invited")]
    await accept(world, proposal, "D002")  # invited again, they may now accept
    async with world.db.read() as session:
        assert proposal.id is not None
        statuses = [(rep.code, link.status) for link, rep in await proposals.signers(session, proposal_id=proposal.id)]
    assert statuses == [("D002", proposals.ACCEPTED)]


# --- review -------------------------------------------------------------------------------------------------


async def test_not_established_needs_a_reason_which_reaches_the_author(world: World) -> None:
    proposal = await submitted(world)
    with pytest.raises(InvalidInput) as bare:
        await step(world, "office", proposals.refuse, proposal, reason="  ")
    assert bare.value.key == "proposal.error.reason_required"
    assert (await load(world, proposal)).state == proposals.SUBMITTED

    mark = await outbox_mark(world)
    refused = await step(world, "office", proposals.refuse, proposal, reason="属于人大代表建议范围")
    assert (refused.state, refused.reason) == (proposals.NOT_ESTABLISHED, "属于人大代表建议范围")
    assert await told(world, mark) == [
        Told("D001", "proposal.notify.not_established"),
        Told("D002", "proposal.notify.not_established"),
    ]
    async with world.db.read() as session:
        rows = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > mark))).all()
    assert all("属于人大代表建议范围" in row.payload["text"] for row in rows)


async def test_merged_into_another_both_authors_are_told(world: World) -> None:
    target = await draft(world, author="D003", kind="motion", cosigners=())
    proposal = await submitted(world)
    with pytest.raises(InvalidInput):
        await step(world, "office", proposals.merge, proposal, into=proposal.number)
    signing = await draft(world, author="D004", cosigners=("D005",))
    with pytest.raises(Conflict) as not_reviewable:
        await step(world, "office", proposals.merge, proposal, into=signing.number)
    assert not_reviewable.value.key == "proposal.error.merge_target"
    with pytest.raises(NotFound):
        await step(world, "office", proposals.merge, proposal, into="TA-2026-0999")

    mark = await outbox_mark(world)
    merged = await step(world, "office", proposals.merge, proposal, into="1")  # this year's first, by its sequence
    assert (merged.state, merged.merged_into) == (proposals.MERGED, target.id)
    assert await told(world, mark) == [
        Told("D001", "proposal.notify.merged"),
        Told("D002", "proposal.notify.merged"),
        Told("D003", "proposal.notify.merged_target"),
    ]


async def test_assignment_counts_the_kinds_working_days_and_tells_the_department(world: World) -> None:
    proposal = await step(world, "office", proposals.establish, await submitted(world))
    with pytest.raises(InvalidInput):
        await step(world, "office", proposals.assign, proposal, department="区外单位", calendar=world.calendar)
    mark = await outbox_mark(world)
    proposal = await step(world, "office", proposals.assign, proposal, department="区城管局", calendar=world.calendar)
    # 40 working days from Wednesday 25 November 2026, over the New Year's holiday (1-3 January 2027 is not known to
    # the calendar package the tests pin, so it may be provisional: the count is what the calendar says).
    expected = world.calendar.add_working_days(date(2026, 11, 25), 40)
    assert (proposal.state, proposal.department, proposal.due_on) == (proposals.ASSIGNED, "区城管局", expected.day)
    assert proposal.due_provisional == expected.provisional
    assert Told("城管", "proposal.notify.assigned_department") in await told(world, mark)
    assert Told("D001", "proposal.notify.assigned") in await told(world, mark)


# --- answers and evaluation ---------------------------------------------------------------------------------


async def test_a_dissatisfied_author_gets_one_second_answer_then_it_closes(world: World) -> None:
    proposal = await assigned(world)
    mark = await outbox_mark(world)
    proposal = await answer(world, proposal)
    assert (proposal.state, proposal.answers) == (proposals.ANSWERED, 1)
    assert Told("D001", "proposal.notify.answered_author") in await told(world, mark)

    later = NOW + timedelta(days=2)
    mark = await outbox_mark(world)
    proposal = await evaluate(world, proposal, "dissatisfied", now=later)
    assert proposal.state == proposals.ASSIGNED
    # The department is asked for the second answer; the co-signer hears that it was asked.
    assert sorted(await told(world, mark)) == sorted(
        [
            Told("城管", "proposal.notify.second_answer"),
            Told("office", "proposal.notify.second_answer"),
            Told("D002", "proposal.notify.second_answer_concerned"),
        ]
    )
    assert proposal.due_on == world.calendar.add_working_days(date(2026, 11, 27), 15).day
    proposal = await answer(world, proposal)
    closed = await evaluate(world, proposal, "dissatisfied")  # the second answer's evaluation closes it
    assert (closed.state, closed.answers, closed.evaluation) == (proposals.CLOSED, 2, "dissatisfied")
    assert (await actions(world, closed))[-5:] == ["evaluated", "reassigned", "answered", "evaluated", "closed"]


@pytest.mark.parametrize("evaluation", ["satisfied", "basic"])
async def test_a_satisfied_author_closes_it(world: World, evaluation: str) -> None:
    proposal = await answer(world, await assigned(world))
    mark = await outbox_mark(world)
    closed = await evaluate(world, proposal, evaluation)
    assert (closed.state, closed.closed_at) == (proposals.CLOSED, NOW)
    assert sorted(await told(world, mark)) == sorted(
        [
            Told("城管", "proposal.notify.evaluated"),
            Told("office", "proposal.notify.evaluated"),
            Told("D002", "proposal.notify.evaluated"),
        ]
    )


async def test_answers_left_unevaluated_close_after_the_configured_days(world: World) -> None:
    proposal = await answer(world, await assigned(world))
    days = world.settings.proposals.auto_close_days
    mark = await outbox_mark(world)
    async with world.db.transaction() as session:
        early = await proposals.close_unevaluated(
            session, settings=world.settings, now=NOW + timedelta(days=days - 1), render=render
        )
        late = await proposals.close_unevaluated(
            session, settings=world.settings, now=NOW + timedelta(days=days, hours=1), render=render
        )
    assert (early, late) == ([], [proposal.number])
    assert (await load(world, proposal)).state == proposals.CLOSED
    # The author, the co-signer and the department hear that it closed as it stands.
    assert sorted(await told(world, mark)) == sorted(
        [
            Told("D001", "proposal.notify.closed_unevaluated"),
            Told("D002", "proposal.notify.closed_unevaluated"),
            Told("城管", "proposal.notify.closed_unevaluated"),
        ]
    )


async def test_the_author_withdraws_before_review_and_not_after(world: World) -> None:
    proposal = await draft(world, cosigners=("D002", "T001"))
    await accept(world, proposal, "D002")
    await step(world, "T001", proposals.cosign, proposal, accept=False)
    mark = await outbox_mark(world)
    withdrawn = await step(world, "D001", proposals.withdraw, proposal)
    assert withdrawn.state == proposals.WITHDRAWN
    assert await told(world, mark) == [Told("D002", "proposal.notify.withdrawn")]  # not the one who declined
    established = await step(world, "office", proposals.establish, await submitted(world))
    with pytest.raises(Conflict) as late:
        await step(world, "D001", proposals.withdraw, established)
    assert late.value.key == "proposal.error.not_now"


# --- who may -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "function", "arguments", "refusal"),
    [
        ("D001", proposals.establish, {}, "error.liaison_only"),  # only the liaison office reviews
        ("leader", proposals.establish, {}, "error.liaison_only"),
        ("D001", proposals.refuse, {"reason": "不行"}, "error.liaison_only"),
        ("D002", proposals.withdraw, {}, "proposal.error.not_yours"),  # only the author withdraws
        ("office", proposals.withdraw, {}, "proposal.error.not_yours"),
    ],
)
async def test_review_steps_by_others_are_refused(
    world: World, person: str, function: Any, arguments: dict[str, Any], refusal: str
) -> None:
    proposal = await submitted(world)
    with pytest.raises(NotAllowed) as refused:
        await step(world, person, function, proposal, **arguments)
    assert refused.value.key == refusal
    assert (await load(world, proposal)).state == proposals.SUBMITTED


async def test_only_the_invited_co_sign_and_only_the_author_submits(world: World) -> None:
    proposal = await draft(world, cosigners=("D002",))
    for stranger in ("D003", "T001", "office"):
        with pytest.raises(NotAllowed) as refused:
            await step(world, stranger, proposals.cosign, proposal, accept=True)
        assert refused.value.key == "proposal.error.not_yours"
    await accept(world, proposal, "D002")
    with pytest.raises(NotAllowed):  # accepted once: not invited any more
        await accept(world, proposal, "D002")
    with pytest.raises(NotAllowed) as cosigner:
        await step(world, "D002", proposals.submit, proposal)
    assert cosigner.value.key == "proposal.error.not_yours"


async def test_only_the_department_answers_and_only_the_author_evaluates(world: World) -> None:
    proposal = await assigned(world)
    for other in ("住建", "office", "D001"):
        with pytest.raises(NotAllowed) as refused:
            await answer(world, proposal, person=other)
        assert refused.value.key == "proposal.error.not_yours"
    proposal = await answer(world, proposal)
    for other in ("D002", "城管", "office"):
        with pytest.raises(NotAllowed):
            await step(
                world, other, proposals.evaluate, proposal, evaluation="satisfied", note="", calendar=world.calendar
            )


async def test_who_reads_a_proposal(world: World) -> None:
    proposal = await assigned(world)
    async with world.db.read() as session:
        for person, may in [
            ("D001", True),
            ("D002", True),
            ("office", True),
            ("leader", True),
            ("城管", True),
            ("住建", False),
            ("T001", False),
        ]:
            who = await actor(session, world, person)
            if may:
                found, _ = await proposals.open_proposal(
                    session, standing=who.standing, number=proposal.number, today=NOW.date(), settings=world.settings
                )
                assert found.id == proposal.id
            else:
                with pytest.raises(NotAllowed):
                    await proposals.open_proposal(
                        session,
                        standing=who.standing,
                        number=proposal.number,
                        today=NOW.date(),
                        settings=world.settings,
                    )


async def test_each_sees_the_list_they_follow(world: World) -> None:
    signing = await draft(world, author="D003", cosigners=("D001",))
    mine = await submitted(world)
    established = await step(world, "office", proposals.establish, await submitted(world))
    async with world.db.read() as session:

        async def listed(person: str) -> list[str]:
            who = await actor(session, world, person)
            return [p.number for p in (await proposals.queue(session, standing=who.standing)).proposals]

        assert sorted(await listed("D001")) == sorted([signing.number, mine.number, established.number])
        assert await listed("office") == [mine.number, established.number]  # submitted first
        assert sorted(await listed("leader")) == sorted([mine.number, established.number])  # drafts are the author's
        assert await listed("城管") == []
        assert await listed("T001") == []


# --- overdue, the digest, the audit ----------------------------------------------------------------------------


async def test_an_assigned_proposal_is_chased_then_escalated(world: World) -> None:
    proposal = await assigned(world)
    assert proposal.due_on is not None
    day_after = world.calendar.next_working_day(proposal.due_on)
    async with world.db.read() as session:
        on_the_day = await proposals.overdue(
            session, settings=world.settings, calendar=world.calendar, today=proposal.due_on
        )
        [chase] = await proposals.overdue(session, settings=world.settings, calendar=world.calendar, today=day_after)
    assert on_the_day == []
    assert (chase.due, chase.working_days_late) == ("chase", 1)
    mark = await outbox_mark(world)
    async with world.db.transaction() as session:
        late = await session.get(Proposal, proposal.id, with_for_update=True)
        assert late is not None
        item = proposals.Overdue(late, chase.working_days_late, chase.due)
        await proposals.send_overdue(session, item=item, settings=world.settings, now=at(day_after, 9), render=render)
    assert await told(world, mark) == [Told("office", "proposal.notify.chased"), Told("城管", "proposal.notify.chased")]
    async with world.db.read() as session:
        assert await proposals.overdue(session, settings=world.settings, calendar=world.calendar, today=day_after) == []


async def test_counts_by_state_and_filed_between_for_the_digest(world: World) -> None:
    await draft(world)
    await submitted(world)
    await draft(world, kind="motion", cosigners=(), now=NOW + timedelta(days=8))
    async with world.db.read() as session:
        counts = await proposals.counts_by_state(session)
        later = await proposals.counts_by_state(session, since=NOW + timedelta(days=1))
        week = await proposals.filed_between(session, start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))
    assert counts == {state: 0 for state in proposals.STATES} | {"signing": 1, "submitted": 2}
    assert later == {state: 0 for state in proposals.STATES} | {"submitted": 1}
    assert week == 1


async def test_the_audit_names_ids_never_the_text(world: World) -> None:
    await answer(world, await assigned(world))
    async with world.db.read() as session:
        rows = (await session.exec(select(AuditEntry).where(col(AuditEntry.entity) == "proposal"))).all()
        events = (await session.exec(select(ProposalEvent))).all()
    assert {row.action for row in rows} >= {"proposal.drafted", "proposal.submitted", "proposal.answered"}
    for row in rows:
        assert "信号灯" not in str(row.detail) and BODY[:10] not in str(row.detail)
    assert any(event.note == "已增设信号灯。" for event in events)  # the text is the proposal's history's
