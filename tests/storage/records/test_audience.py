"""Who a briefing, an opinion request or an event goes to: everyone in office, a level or a group, read from the
roster as it stands; and the step that chooses it, by button, by number and by a group's name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import col

from handlers.audience import ScopeStep, scope_label
from handlers.dialogs import Context, Outcome
from handlers.events import Inbound
from storage.db import Database, execute
from storage.errors import Conflict, InvalidInput
from storage.models import ChatIdentity, RepGroup, Representative
from storage.policy import Role, Standing
from storage.records import audience
from storage.settings import Settings
from tests.factories import NOW, District, build_district


@pytest.fixture
async def district(db: Database) -> District:
    """tests/factories.py's district (D001, D002 district level, T001 township level, all in 幸福街道代表小组), with
    T002 in 东山村代表小组 and D003 no longer in office."""
    district = await build_district(db)
    async with db.transaction() as session:
        east = RepGroup(name="东山村代表小组")
        session.add(east)
        await session.flush()
        for code, level, group_id, active in (
            ("T002", "township", east.id, True),
            ("D003", "district", district.group_id, False),
        ):
            rep = Representative(code=code, name="代表", level=level, group_id=group_id, active=active)
            session.add(rep)
            await session.flush()
            assert rep.id is not None
            district.representatives[code] = rep.id
    return district


async def codes_in(db: Database, district: District, key: str) -> list[str]:
    by_id = {rep_id: code for code, rep_id in district.representatives.items()}
    async with db.read() as session:
        return [by_id[rep_id] for rep_id in await audience.representatives_in(session, key)]


async def test_each_scope_reaches_those_in_office_it_names(db: Database, district: District) -> None:
    assert await codes_in(db, district, "all") == ["D001", "D002", "T001", "T002"]  # D003 left office
    assert await codes_in(db, district, "level:district") == ["D001", "D002"]
    assert await codes_in(db, district, "level:township") == ["T001", "T002"]
    assert await codes_in(db, district, f"group:{district.group_id}") == ["D001", "D002", "T001"]
    # As the roster stands when it is read: D002 leaves office.
    async with db.transaction() as session:
        await execute(session, sa.update(Representative).where(col(Representative.code) == "D002").values(active=False))
    assert await codes_in(db, district, "level:district") == ["D001"]
    # Sending to a scope with nobody in office in it is refused: nothing would reach anyone.
    async with db.transaction() as session:
        await execute(session, sa.update(Representative).where(col(Representative.code) == "D001").values(active=False))
    async with db.read() as session:
        with pytest.raises(Conflict) as nobody:
            await audience.recipients(session, "level:district")
        assert len(await audience.recipients(session, "level:township")) == 2
    assert nobody.value.key == "audience.error.nobody"


@pytest.mark.parametrize("key", ["everyone", "level:city", "group:", "group:x", ""])
def test_what_is_not_a_scope(key: str) -> None:
    with pytest.raises(ValueError):
        audience.parse(key)


async def test_a_scope_round_trips_and_a_vanished_group_is_refused(db: Database, district: District) -> None:
    for key in ("all", "level:district", "level:township", f"group:{district.group_id}"):
        assert audience.parse(key).key == key
    async with db.read() as session:
        assert (await audience.resolve(session, f"group:{district.group_id}")).group_name == "幸福街道代表小组"
        with pytest.raises(InvalidInput) as refused:
            await audience.resolve(session, "group:999")
    assert refused.value.key == "audience.error.no_group"


def context(db_session: object, settings: Settings, language: str = "zh-CN") -> Context:
    identity = ChatIdentity(id=1, channel="console", external_id="liaison:O01", role=Role.LIAISON)
    return Context(
        session=db_session,  # type: ignore[arg-type]
        settings=settings,
        identity=identity,
        standing=Standing(Role.LIAISON, identity_id=1, staff_id=2),
        language=language,
        now=NOW,
        today=NOW.date(),
    )


def typed(text: str) -> Inbound:
    return Inbound("console", "o01", "o01", "text", text=text)


def pressed(data: str) -> Inbound:
    return Inbound("console", "o01", "o01", "button", data=data)


async def test_the_step_takes_a_button_or_a_groups_name(db: Database, settings: Settings, district: District) -> None:
    step = ScopeStep("briefing")
    async with db.transaction() as session:
        ctx = context(session, settings)
        prompt = await step.prompt(ctx)
        assert prompt.text.startswith("发给哪些党代表？")
        assert [(button.data, button.label) for button in prompt.buttons] == [
            ("briefing:scope:all", "全体党代表"),
            ("briefing:scope:level:district", "区级党代表"),
            ("briefing:scope:level:township", "镇（街道）级党代表"),
        ]
        assert await step.receive(ctx, pressed("briefing:scope:level:township")) is Outcome.NEXT
        assert ctx.draft["scope"] == "level:township"

        ctx.draft.clear()
        assert await step.receive(ctx, typed("东山")) is Outcome.NEXT  # one group matches: chosen at once
        chosen = await audience.resolve(session, ctx.draft["scope"])
        assert scope_label(ctx, chosen) == "东山村代表小组"

        ctx.draft.clear()
        assert await step.receive(ctx, typed("代表小组")) is Outcome.STAY  # two match: pick one
        picked = await step.prompt(ctx)
        assert [button.label for button in picked.buttons] == ["东山村代表小组", "幸福街道代表小组"]
        assert await step.receive(ctx, pressed(picked.buttons[1].data)) is Outcome.NEXT
        assert ctx.draft["scope"] == f"group:{district.group_id}" and "scope_groups" not in ctx.draft

        with pytest.raises(InvalidInput) as nothing:
            await step.receive(ctx, typed("西湖"))
        assert nothing.value.key == "audience.error.no_group_found"
        with pytest.raises(InvalidInput) as stale:
            await step.receive(ctx, pressed("briefing:scope:level:city"))
        assert stale.value.key == "dialog.stale_button"
        english = context(session, settings, "en")
        assert scope_label(english, audience.Scope("level", level="district")) == "District-level representatives"
