"""A small district for conversation tests: two stations, three areas, three representatives, a few households."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bot.console import CHANNEL, ConsoleChannel
from handlers.router import Router
from storage.db import Database
from storage.models import (
    Area,
    Household,
    HouseholdCategory,
    RepArea,
    RepGroup,
    Representative,
    Staff,
    Station,
)
from storage.policy import GroupRole, Role, Standing
from storage.records import people
from storage.settings import Settings

# 10:00 in Shanghai on 2026-11-25: the second half-year, day 329 of 365.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)

HOUSEHOLDS = [
    # address, head, area, categories, party member
    ("幸福路12号1栋1单元101", "陈志明", "幸福社区一区", ["four_olds", "party_center"], True),
    ("幸福路12号1栋1单元102", "刘芳", "幸福社区一区", ["youth"], False),
    ("幸福路14号", "赵强", "幸福社区二区", ["hardship", "special_hardship"], False),
    ("和平街5号", "周杰伦", "幸福社区一区", [], False),
    ("东山村3组17号", "孙丽", "东山村一组", ["model"], False),
    ("和平街7号", "吴敏", "幸福社区一区", [], True),
]


@dataclass
class District:
    representatives: dict[str, int] = field(default_factory=dict)
    households: dict[str, int] = field(default_factory=dict)
    areas: dict[str, int] = field(default_factory=dict)
    group_id: int = 0

    def standing(self, code: str, group_role: GroupRole = GroupRole.MEMBER) -> Standing:
        """A representative of this district as the policy sees them (for storage calls made directly)."""
        return Standing(
            Role.REPRESENTATIVE,
            representative_id=self.representatives[code],
            group_id=self.group_id,
            group_role=group_role,
        )


async def build_district(db: Database) -> District:
    district = District()
    async with db.transaction() as session:
        happy = Station(
            name="幸福社区党代表工作站", kind="community", address="幸福路1号", reception_day="每周三上午 9:00-11:30"
        )
        east = Station(name="东山村党代表工作站", kind="village", address="东山村村委会")
        group = RepGroup(name="幸福街道代表小组")
        session.add_all([happy, east, group])
        await session.flush()
        assert happy.id and east.id and group.id
        district.group_id = group.id
        for name, station_id in (
            ("幸福社区一区", happy.id),
            ("幸福社区二区", happy.id),
            ("东山村一组", east.id),
        ):
            area = Area(name=name, station_id=station_id)
            session.add(area)
            await session.flush()
            assert area.id
            district.areas[name] = area.id
        for code, name, areas, role in (
            ("D001", "王建国", ["幸福社区一区", "幸福社区二区"], "leader"),
            ("D002", "李红梅", ["东山村一组"], "liaison"),
            ("T001", "张伟", ["幸福社区一区"], "member"),
        ):
            rep = Representative(
                code=code,
                name=name,
                level="district" if code[0] == "D" else "township",
                group_id=group.id,
                group_role=role,
                station_id=happy.id,
                phone="13900000000",
            )
            session.add(rep)
            await session.flush()
            assert rep.id
            district.representatives[code] = rep.id
            for area_name in areas:
                session.add(RepArea(representative_id=rep.id, area_id=district.areas[area_name]))
        for address, head, area_name, categories, party in HOUSEHOLDS:
            household = Household(
                area_id=district.areas[area_name],
                address=address,
                head_name=head,
                phone="13812345678",
                party_member=party,
            )
            session.add(household)
            await session.flush()
            assert household.id
            district.households[address] = household.id
            for code in categories:
                session.add(HouseholdCategory(household_id=household.id, code=code))
        session.add_all(
            [
                Staff(code="L01", name="区委领导", role="leader", unit="区委"),
                Staff(code="O01", name="联络员甲", role="liaison", unit="区委组织部党代表联络办公室"),
                Staff(code="B01", name="承办人甲", role="department", unit="区住建局"),
            ]
        )
    return district


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Chat:
    """One person talking to Lianxin through the real console channel; `send` returns what they would read."""

    def __init__(self, db: Database, settings: Settings, who: str, clock: Clock | None = None) -> None:
        self.db = db
        self.who = who
        self.clock = clock or Clock()
        self.router = Router(db, settings, clock=self.clock)
        self.console = ConsoleChannel(self.router, user=who, language="zh-CN", output=io.StringIO())

    async def bind(self) -> Chat:
        role, _, code = self.who.partition(":")
        async with self.db.transaction() as session:
            identity = await people.identity_for(session, channel=CHANNEL, external_id=self.who)
            await people.assume_role(session, identity=identity, role=role, code=code, actor="test")
        return self

    async def send(self, line: str) -> str:
        return "\n\n".join(self.console.render(reply) for reply in await self.console.send(line))

    async def talk(self, script: list[tuple[str, str | list[str]]]) -> None:
        """Send each message and check that the answer contains every expected fragment."""
        for sent, expected in script:
            answer = await self.send(sent)
            for fragment in [expected] if isinstance(expected, str) else expected:
                assert fragment in answer, f"after sending {sent!r}, expected {fragment!r} in:\n{answer}"


async def chat_as(db: Database, settings: Settings, who: str, clock: Clock | None = None) -> Chat:
    return await Chat(db, settings, who, clock).bind()
