"""The demo district: a fictional roster, household ledger and year-to-date visits at the reference scale."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
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
    Visit,
    VisitCompanion,
)
from storage.settings import Settings

# The reference district's scale (DESIGN.md, "The programme's rules").
DISTRICT_REPS = 180
TOWNSHIP_REPS = 125
HOUSEHOLDS = 30_000
AREAS = 212
DEMO_REPRESENTATIVE = "D001"
# A representative who has left office: in the roster, not active, so that the demo shows what they are told.
LEFT_OFFICE = "T125"
# The README's quick-form example (`走访 幸福路12号 入户 路灯坏了`) must find exactly one household of D001.
EXAMPLE_ADDRESS = "幸福路12号1栋1单元101"
EXAMPLE_STREET = "幸福路"

# Rough shares of households per category, by position in config.toml's lists, so that renamed or added codes
# still get a plausible share. Focus groups: model, youth, hardship, four olds; then the five must-visits.
FOCUS_SHARES = (0.03, 0.08, 0.06, 0.04)
MUST_VISIT_SHARES = (0.015, 0.01, 0.012, 0.005, 0.008)
UNKNOWN_FOCUS_SHARE = 0.03
UNKNOWN_MUST_VISIT_SHARE = 0.008
PARTY_MEMBER_SHARE = 0.15
MIN_CATEGORY_IN_DEMO_AREAS = 3

# A PostgreSQL advisory lock key, so that two processes building at once do not both see an empty roster.
DEMO_LOCK_KEY = 7_240_515_001
ID_TABLES: tuple[type[SQLModel], ...] = (Station, Area, RepGroup, Representative, Staff, Household, Visit)
CHUNK = 5_000


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- fictional names ----------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范"
    "汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛段雷龙黎史陶贺毛郝顾龚邵万武钱戴严莫孔向常汤康易乔赖文"
)
GIVEN = (
    "建国华明伟芳敏静丽强磊军洋勇艳杰娟涛超秀英霞平刚桂兰玉珍红梅海燕鹏辉斌宇浩凯晨欣怡婷雪琳志春秋冬德福荣庆林峰波"
    "宁安鑫佳慧莉萍云霖阳光新民永成"
)
# Sub-districts (街道) with their number of community stations; towns (镇) get one community and two villages.
STREETS = (
    ("东山街道", 4),
    ("西苑街道", 3),
    ("南岭街道", 3),
    ("北辰街道", 3),
    ("中和街道", 3),
    ("滨江街道", 3),
    ("新城街道", 3),
    ("城关街道", 3),
)
TOWNS = ("青溪镇", "石桥镇", "云台镇", "柳塘镇", "桃源镇", "梅岭镇", "龙泉镇", "凤鸣镇", "白沙镇")
COMMUNITIES = _words(
    "幸福 和平 阳光 锦绣 春晖 朝阳 康乐 翠苑 金桥 望江 清泉 丹桂 紫荆 "
    "振兴 文昌 育才 长乐 安居 富民 景和 祥和 华庭 悦湖 玉兰 银杏 枫林 "
    "松涛 荷塘 明月 星河 东升 兴旺 永安 迎春"
)
VILLAGES = _words("王家 李家 张家湾 刘庄 陈家坝 杨柳 黄泥塘 赵家堡 周家店 石门 桃花 梨园 枣林 竹溪 荷花 稻香 双河 三里")
SCHOOLS = ("东山中学", "区实验小学", "区第二中学", "育英学校", "区职业技术学校")
HOSPITALS = ("区人民医院", "区中医院", "区妇幼保健院", "东山社区卫生服务中心")
ENTERPRISES = ("区城市建设投资集团", "青溪经济开发区", "云台科技产业园")
SYSTEM_GROUPS = {"school": "教育系统", "hospital": "卫生健康系统", "enterprise": "企业"}
STREET_PREFIXES = _words(
    "和平 建设 人民 解放 文化 光明 团结 胜利 友谊 长江 黄河 青年 新华 "
    "迎宾 学府 银杏 梧桐 桂花 枫林 松柏 翠竹 兰亭 春风 秋实 青松 白鹭 "
    "紫薇 凤凰 龙腾 锦江 碧水 望湖 临江 观澜 聚贤 兴业 创新 科技 工业 "
    "商贸 园林 花园 体育 健康 丰收 振华 东风 西岭 南山 北湖"
)
STREET_SUFFIXES = ("路", "街", "大道", "巷")
UNIT_TITLES = {
    "community": (
        "{place}党委书记",
        "{place}居委会主任",
        "{town}党工委委员",
        "{place}网格员",
        "{place}退休干部",
    ),
    "village": (
        "{place}党支部书记",
        "{place}村委会主任",
        "{town}党委委员",
        "{place}种植大户",
        "{place}合作社理事长",
    ),
    "school": ("{place}校长", "{place}教师", "{place}党支部书记"),
    "hospital": ("{place}院长", "{place}主任医师", "{place}护士长"),
    "enterprise": ("{place}党委书记", "{place}工程师", "{place}车间主任"),
}
# Reception days (接待日) as stations announce them.
RECEPTION_DAYS = {
    "community": (
        "每周三上午 9:00-11:30",
        "每月15日上午 9:00-12:00",
        "每周五下午 2:30-5:00",
        "每月5日、20日上午 9:00-11:30",
        "每周一上午 8:30-11:30",
    ),
    "village": ("每月10日上午 9:00-12:00", "逢农历初一、十五上午", "每月第一个周二全天"),
    "school": ("每月最后一个周四下午 3:00-5:00",),
    "hospital": ("每月第二个周三上午 9:00-11:00",),
    "enterprise": ("每月25日下午 2:00-5:00",),
}
LIAISON_UNIT = "区委组织部党代表联络办公室"
LEADER_UNITS = ("区委", "东山街道党工委", "青溪镇党委")
DEPARTMENTS = (
    "区住建局",
    "区城管局",
    "区民政局",
    "区卫健局",
    "区教育局",
    "区人社局",
    "区交通运输局",
    "区市场监管局",
)
NOTES = (
    "了解家庭近况，无特别诉求",
    "反映小区路灯损坏，夜间出行不便",
    "咨询医保异地报销政策",
    "希望增设老年助餐点",
    "反映楼道堆放杂物，存在消防隐患",
    "咨询子女入学政策",
    "反映雨天路面积水",
    "希望加装电梯",
    "宣讲惠民政策，征求意见",
    "了解就业需求，推荐招聘信息",
    "反映垃圾清运不及时",
    "慰问困难家庭，送去生活用品",
)
PHONE_PREFIXES = ("139", "138", "137", "136", "135", "158", "159", "188", "187", "152")


@dataclass(frozen=True)
class DemoSummary:
    """What the demo district holds, and who to open the console as."""

    representatives: int
    groups: int
    stations: int
    areas: int
    households: int
    visits: int
    demo_representative: str
    group_leader: str  # the leader of the demo representative's group (a representative, not a staff leader)
    left_office: str  # a representative no longer in office
    leader: str
    liaison: str
    department: str
    created: bool


async def has_demo(session: AsyncSession) -> bool:
    """True when the roster holds any representative (demo or real): the demo is then never added."""
    found = (await session.exec(select(Representative.id).limit(1))).first()
    return found is not None


async def demo_summary(session: AsyncSession) -> DemoSummary:
    """The counts of what the database holds now (demo or real roster), as a summary of a reused district."""

    async def count(model: type[SQLModel]) -> int:
        return (await session.exec(select(func.count()).select_from(model))).one()

    opens_as = (
        await session.exec(select(Representative.code).where(Representative.code == DEMO_REPRESENTATIVE))
    ).first() or (await session.exec(select(Representative.code).order_by(col(Representative.code)))).first()

    async def first_staff(role: str) -> str:
        found = (await session.exec(select(Staff.code).where(Staff.role == role).order_by(col(Staff.code)))).first()
        return found or ""

    group = select(Representative.group_id).where(Representative.code == opens_as).scalar_subquery()
    group_leader = (
        await session.exec(
            select(Representative.code).where(Representative.group_id == group, Representative.group_role == "leader")
        )
    ).first()
    left_office = (
        await session.exec(
            select(Representative.code).where(col(Representative.active).is_(False)).order_by(col(Representative.code))
        )
    ).first()

    return DemoSummary(
        representatives=await count(Representative),
        groups=await count(RepGroup),
        stations=await count(Station),
        areas=await count(Area),
        households=await count(Household),
        visits=await count(Visit),
        demo_representative=opens_as or "",
        group_leader=group_leader or "",
        left_office=left_office or "",
        leader=await first_staff("leader"),
        liaison=await first_staff("liaison"),
        department=await first_staff("department"),
        created=False,
    )


async def build_demo(db: Database, *, settings: Settings, seed: int = 2026, today: date) -> DemoSummary:
    """Fill an empty, migrated database with the demo district in one transaction; reuse what is there.

    The same seed and `today` give the same rows in any empty database (ids included).
    """
    async with db.transaction() as session:
        if not db.is_sqlite:
            await session.exec(select(func.pg_advisory_xact_lock(DEMO_LOCK_KEY)))
        if await has_demo(session):
            return await demo_summary(session)
        district = _District(random.Random(seed), settings=settings, today=today)
        district.generate()
        for model, rows in district.tables():
            table = _table(model)
            for start in range(0, len(rows), CHUNK):
                await session.exec(table.insert(), params=rows[start : start + CHUNK])
        if not db.is_sqlite:
            for model in ID_TABLES:
                table = _table(model)
                sequence = func.pg_get_serial_sequence(table.name, "id")
                await session.exec(select(func.setval(sequence, sa.select(func.max(table.c.id)).scalar_subquery())))
        summary = district.summary()
        audit.record(
            session,
            actor="demo",
            action="demo.build",
            entity="district",
            seed=seed,
            today=today.isoformat(),
            representatives=summary.representatives,
            groups=summary.groups,
            stations=summary.stations,
            areas=summary.areas,
            households=summary.households,
            visits=summary.visits,
        )
        return summary


def _table(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


# --- the generator ------------------------------------------------------------------------------------------


@dataclass
class _StationPlan:
    id: int
    name: str
    place: str
    town: str
    kind: str
    group_id: int
    area_ids: list[int] = field(default_factory=list)
    rep_ids: list[int] = field(default_factory=list)


@dataclass
class _AreaPlan:
    id: int
    station_id: int
    name: str
    street: str | None  # None: a village area addressed by 组 (village groups)
    village: str = ""
    village_groups: tuple[int, ...] = ()
    household_ids: list[int] = field(default_factory=list)


@dataclass
class _RepPlan:
    id: int
    code: str
    group_id: int
    station_id: int
    area_ids: list[int] = field(default_factory=list)
    role: str = "member"


@dataclass
class _VisitPlan:
    representative_id: int
    household_id: int
    visited_on: date
    mode: str
    round: str
    companions: tuple[int, ...]
    notes: str
    minute_of_day: int


class _District:
    """The whole district drawn from one Random in a fixed order, as plain row dicts for bulk inserts."""

    def __init__(self, rng: random.Random, *, settings: Settings, today: date) -> None:
        self.rng = rng
        self.settings = settings
        self.today = today
        self.year_start = date(today.year, 1, 1)
        # The ledger existed before the year's visits began: stamp it at the start of the year.
        self.ledger_time = datetime.combine(self.year_start, time(0, 0), tzinfo=UTC)
        self.stations: list[_StationPlan] = []
        self.areas: list[_AreaPlan] = []
        self.reps: list[_RepPlan] = []
        self.group_names: list[str] = []
        self.rows: dict[type[SQLModel], list[dict[str, Any]]] = {}
        self.household_codes: dict[int, list[str]] = {}
        self.party_member: dict[int, bool] = {}
        self.reserved: set[int] = set()
        self.untouched: set[str] = set()
        self.example_household = 0

    # -- helpers --

    def name(self) -> str:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
        return self.rng.choice(SURNAMES) + given

    def phone(self) -> str:
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def largest_remainder(self, weights: Sequence[float], total: int) -> list[int]:
        scale = total / sum(weights)
        exact = [weight * scale for weight in weights]
        counts = [int(value) for value in exact]
        order = sorted(range(len(weights)), key=lambda index: (counts[index] - exact[index], index))
        for index in order[: total - sum(counts)]:
            counts[index] += 1
        return counts

    # -- the whole build, in a fixed order --

    def generate(self) -> None:
        self.organisation()
        self.representatives()
        self.staff()
        self.households()
        self.visits()

    def organisation(self) -> None:
        plans: list[tuple[str, str, str, str]] = []  # (kind, place, town, group name)
        communities = iter(COMMUNITIES)
        villages = iter(VILLAGES)
        for street, count in STREETS:
            plans += [("community", f"{next(communities)}社区", street, street) for _ in range(count)]
        for town in TOWNS:
            plans.append(("community", f"{next(communities)}社区", town, town))
            plans += [("village", f"{next(villages)}村", town, town) for _ in range(2)]
        for kind, places in (("school", SCHOOLS), ("hospital", HOSPITALS), ("enterprise", ENTERPRISES)):
            plans += [(kind, place, "", SYSTEM_GROUPS[kind]) for place in places]

        group_ids: dict[str, int] = {}
        for _kind, _place, _town, group in plans:
            if group not in group_ids:
                group_ids[group] = len(group_ids) + 1
                self.group_names.append(f"{group}代表小组")
        self.rows[RepGroup] = [{"id": gid, "name": name} for gid, name in enumerate(self.group_names, 1)]

        streets = [prefix + suffix for suffix in STREET_SUFFIXES for prefix in STREET_PREFIXES]
        self.rng.shuffle(streets)
        street_pool = iter([EXAMPLE_STREET, *streets])

        for station_id, (kind, place, town, group) in enumerate(plans, 1):
            self.stations.append(_StationPlan(station_id, f"{place}党代表工作站", place, town, kind, group_ids[group]))
        # Communities and villages carry most areas; schools, hospitals and enterprises one or two each.
        base = [3 if station.kind in ("community", "village") else 1 for station in self.stations]
        extra = AREAS - sum(base)
        growable = [index for index, station in enumerate(self.stations) if station.kind != "village"]
        while extra > 0:
            index = self.rng.choice(growable)
            limit = 5 if self.stations[index].kind == "community" else 2
            if base[index] < limit:
                base[index] += 1
                extra -= 1

        station_rows: list[dict[str, Any]] = []
        area_rows: list[dict[str, Any]] = []
        for station, area_count in zip(self.stations, base, strict=True):
            for index in range(area_count):
                area_id = len(self.areas) + 1
                if station.kind == "village":
                    groups = tuple(range(index * 3 + 1, index * 3 + 4))
                    area = _AreaPlan(
                        area_id,
                        station.id,
                        f"{station.place}{groups[0]}-{groups[-1]}组",
                        None,
                        station.place,
                        groups,
                    )
                else:
                    street = next(street_pool)
                    area = _AreaPlan(area_id, station.id, f"{street}片区", street)
                self.areas.append(area)
                station.area_ids.append(area_id)
                area_rows.append({"id": area_id, "name": area.name, "station_id": station.id})
            first = self.areas[station.area_ids[0] - 1]
            if station.kind == "village":
                address = f"{station.town}{station.place}村委会"
            else:
                address = f"{first.street}{self.rng.randrange(1, 200)}号"
            station_rows.append(
                {
                    "id": station.id,
                    "name": station.name,
                    "kind": station.kind,
                    "address": address,
                    # By position, not drawn: the random sequence (and so the rest of the district) stays as it was.
                    "reception_day": RECEPTION_DAYS[station.kind][station.id % len(RECEPTION_DAYS[station.kind])],
                }
            )
        self.rows[Station] = station_rows
        self.rows[Area] = area_rows

    def representatives(self) -> None:
        total = DISTRICT_REPS + TOWNSHIP_REPS
        # Seats follow the number of areas, so every station has at least as many representatives as areas.
        seats = self.largest_remainder([len(station.area_ids) for station in self.stations], total)
        assert all(seat >= len(s.area_ids) for seat, s in zip(seats, self.stations, strict=True))
        special: list[int] = []  # school, hospital and enterprise seats: district representatives only
        local: list[int] = []
        for station, seat in zip(self.stations, seats, strict=True):
            target = special if station.kind in SYSTEM_GROUPS else local
            target += [station.id] * seat
        local.remove(1)  # D001 sits at the first station, which holds the example street
        self.rng.shuffle(local)
        district_codes = [f"D{number:03d}" for number in range(1, DISTRICT_REPS + 1)]
        township_codes = [f"T{number:03d}" for number in range(1, TOWNSHIP_REPS + 1)]
        station_of = [1, *special, *local]
        codes = [*district_codes, *township_codes]
        for rep_id, (code, station_id) in enumerate(zip(codes, station_of, strict=True), 1):
            station = self.stations[station_id - 1]
            rep = _RepPlan(rep_id, code, station.group_id, station_id)
            self.reps.append(rep)
            station.rep_ids.append(rep_id)

        for station in self.stations:
            for index, rep_id in enumerate(station.rep_ids):
                rep = self.reps[rep_id - 1]
                areas = station.area_ids
                rep.area_ids.append(areas[index % len(areas)])
                second = rep.code == DEMO_REPRESENTATIVE or self.rng.random() < 0.35
                if second and len(areas) > 1:
                    rep.area_ids.append(areas[(index + 1) % len(areas)])

        for group_id in range(1, len(self.group_names) + 1):
            members = [
                rep
                for rep in self.reps
                if rep.group_id == group_id and rep.code not in (DEMO_REPRESENTATIVE, LEFT_OFFICE)
            ]
            district = [rep for rep in members if rep.code.startswith("D")] or members
            leader = self.rng.choice(district)
            leader.role = "leader"
            others = [rep for rep in members if rep is not leader]
            for liaison in self.rng.sample(others, min(len(others), self.rng.choice((1, 2)))):
                liaison.role = "liaison"

        rows: list[dict[str, Any]] = []
        for rep in self.reps:
            station = self.stations[rep.station_id - 1]
            template = self.rng.choice(UNIT_TITLES[station.kind])
            rows.append(
                {
                    "id": rep.id,
                    "code": rep.code,
                    "name": self.name(),
                    "level": "district" if rep.code.startswith("D") else "township",
                    "group_id": rep.group_id,
                    "group_role": rep.role,
                    "station_id": rep.station_id,
                    "phone": "139" + f"{self.rng.randrange(10**8):08d}",
                    "unit": template.format(place=station.place, town=station.town or "区"),
                    "active": rep.code != LEFT_OFFICE,
                    "updated_at": self.ledger_time,
                }
            )
        self.rows[Representative] = rows
        self.rows[RepArea] = [
            {"representative_id": rep.id, "area_id": area_id} for rep in self.reps for area_id in rep.area_ids
        ]

    def staff(self) -> None:
        people = [("O", "liaison", LIAISON_UNIT) for _ in range(3)]
        people += [("L", "leader", unit) for unit in LEADER_UNITS]
        people += [("B", "department", unit) for unit in DEPARTMENTS]
        numbers: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        for staff_id, (prefix, role, unit) in enumerate(people, 1):
            numbers[prefix] = numbers.get(prefix, 0) + 1
            code = f"{prefix}{numbers[prefix]:02d}"
            rows.append({"id": staff_id, "code": code, "name": self.name(), "role": role, "unit": unit})
        self.rows[Staff] = rows

    # -- the ledger --

    def street_addresses(self, street: str, count: int, *, example: bool) -> list[str]:
        pool: list[str] = []
        number = 0
        while len(pool) < count * 1.3 + 5:
            number += self.rng.randint(1, 6)
            if example and number == _house_number(EXAMPLE_ADDRESS, EXAMPLE_STREET):
                continue  # the example number holds a single household, added below
            if self.rng.random() < 0.1:
                pool.append(f"{street}{number}号")  # a single house
                continue
            buildings, units, floors = self.rng.randint(1, 6), self.rng.randint(1, 3), self.rng.randint(3, 7)
            for building in range(1, buildings + 1):
                for unit in range(1, units + 1):
                    for floor in range(1, floors + 1):
                        pool += [f"{street}{number}号{building}栋{unit}单元{floor}{room:02d}" for room in (1, 2)]
        if not example:
            picked = sorted(self.rng.sample(range(len(pool)), count))
            return [pool[index] for index in picked]
        picked = sorted(self.rng.sample(range(len(pool)), count - 1))
        chosen = [pool[index] for index in picked]
        # Keep street-number order: the example goes after the numbers below it.
        position = sum(
            1 for address in chosen if _house_number(address, street) < _house_number(EXAMPLE_ADDRESS, street)
        )
        chosen.insert(position, EXAMPLE_ADDRESS)
        return chosen

    def village_addresses(self, area: _AreaPlan, count: int) -> list[str]:
        per_group = max(70, count // len(area.village_groups) + 10)
        pool = [f"{area.village}{group}组{house}号" for group in area.village_groups for house in range(1, per_group)]
        return [pool[index] for index in sorted(self.rng.sample(range(len(pool)), count))]

    def category_shares(self) -> list[tuple[str, float]]:
        households = self.settings.households
        shares = [
            (label.code, FOCUS_SHARES[index] if index < len(FOCUS_SHARES) else UNKNOWN_FOCUS_SHARE)
            for index, label in enumerate(households.focus_groups)
        ]
        shares += [
            (
                label.code,
                MUST_VISIT_SHARES[index] if index < len(MUST_VISIT_SHARES) else UNKNOWN_MUST_VISIT_SHARE,
            )
            for index, label in enumerate(households.must_visit)
        ]
        return shares

    def households(self) -> None:
        weights = [self.rng.uniform(0.6, 1.4) * (0.8 if area.street is None else 1.0) for area in self.areas]
        counts = self.largest_remainder(weights, HOUSEHOLDS)
        shares = self.category_shares()
        rows: list[dict[str, Any]] = []
        for area, count in zip(self.areas, counts, strict=True):
            if area.street is None:
                addresses = self.village_addresses(area, count)
            else:
                addresses = self.street_addresses(area.street, count, example=area.street == EXAMPLE_STREET)
            for address in addresses:
                household_id = len(rows) + 1
                party = self.rng.random() < PARTY_MEMBER_SHARE
                codes = [code for code, share in shares if self.rng.random() < share]
                if address == EXAMPLE_ADDRESS:
                    self.example_household = household_id
                    codes = []
                rows.append(
                    {
                        "id": household_id,
                        "area_id": area.id,
                        "address": address,
                        "head_name": self.name(),
                        "phone": self.phone() if self.rng.random() < 0.9 else "",
                        "party_member": party,
                        "created_at": self.ledger_time,
                        "updated_at": self.ledger_time,
                    }
                )
                area.household_ids.append(household_id)
                self.household_codes[household_id] = codes
                self.party_member[household_id] = party
        self.rows[Household] = rows
        self.enrich_demo_areas([code for code, _share in shares])
        self.rows[HouseholdCategory] = [
            {"household_id": household_id, "code": code}
            for household_id in range(1, len(rows) + 1)
            for code in self.household_codes[household_id]
        ]

    def demo_rep(self) -> _RepPlan:
        return next(rep for rep in self.reps if rep.code == DEMO_REPRESENTATIVE)

    def demo_households(self) -> list[int]:
        return [hid for area_id in self.demo_rep().area_ids for hid in self.areas[area_id - 1].household_ids]

    def enrich_demo_areas(self, codes: list[str]) -> None:
        """Give D001's areas every category a few times, so that the console demo shows each of them."""
        households = self.demo_households()
        plain = [hid for hid in households if not self.household_codes[hid] and hid != self.example_household]
        for code in codes:
            have = sum(1 for hid in households if code in self.household_codes[hid])
            for _ in range(MIN_CATEGORY_IN_DEMO_AREAS - have):
                household_id = plain.pop(self.rng.randrange(len(plain)))
                self.household_codes[household_id].append(code)

    # -- visits --

    def rounds(self) -> list[tuple[str, dict[int, tuple[date, date]]]]:
        """The year's centralized rounds (ids as storage.records.visits names them), each with its groups' windows."""
        per_year = self.settings.quota.centralized_rounds_per_year
        year = self.today.year
        result: list[tuple[str, dict[int, tuple[date, date]]]] = []
        for index in range(1, per_year + 1):
            begins = date(year, (index - 1) * 12 // per_year + 1, 1)
            month = index * 12 // per_year + 1
            ends = date(year + 1, 1, 1) if month > 12 else date(year, month, 1)
            length = (ends - begins).days
            # Rounds fall in the later part of their period, so a half-year's round is usually in May-June.
            earliest = begins + timedelta(days=length * 2 // 5)
            spread = max(1, length * 9 // 20 - 7)
            current = begins <= self.today < ends
            windows: dict[int, tuple[date, date]] = {}
            for group_id in range(1, len(self.group_names) + 1):
                start = earliest + timedelta(days=self.rng.randrange(spread))
                end = start + timedelta(days=self.rng.randint(2, 6))
                takes_part = self.rng.random() < 0.85
                # D001's group has not yet held the current period's round: /progress has advice to give.
                if group_id == self.demo_rep().group_id:
                    takes_part = not current
                if takes_part and end <= self.today:
                    windows[group_id] = (start, end)
            result.append((f"{year}-{'H' if per_year == 2 else 'P'}{index}", windows))
        return result

    def pace(self, rep: _RepPlan) -> float:
        if rep.code == DEMO_REPRESENTATIVE:
            return 0.7
        draw = self.rng.random()
        if draw < 0.08:
            return self.rng.uniform(0.0, 0.08)
        if draw < 0.3:
            return self.rng.uniform(0.45, 0.85)
        if draw < 0.8:
            return self.rng.uniform(0.85, 1.1)
        return self.rng.uniform(1.1, 1.45)

    def visits(self) -> None:
        settings = self.settings
        in_home = [mode.code for mode in settings.visits.modes if mode.in_home]
        other = [mode.code for mode in settings.visits.modes if not mode.in_home] or in_home
        must_visit = [label.code for label in settings.households.must_visit]
        # D001 leaves the second half of the must-visit categories untouched, not even as a companion, and
        # nobody visits those households in D001's areas: the "not yet visited" advice holds however counted.
        untouched = set(must_visit[len(must_visit) // 2 :]) if len(must_visit) > 1 else set()
        self.untouched = untouched
        demo = self.demo_households()
        self.reserved = {hid for hid in demo if untouched & set(self.household_codes[hid])}
        self.reserved.add(self.example_household)

        days = (self.today - self.year_start).days + 1
        year_days = (date(self.today.year + 1, 1, 1) - self.year_start).days
        due = settings.quota.households_per_year * days / year_days
        windows = self.rounds()
        group_members: dict[int, list[int]] = {}
        for rep in self.reps:
            group_members.setdefault(rep.group_id, []).append(rep.id)

        plans: list[_VisitPlan] = []
        for rep in self.reps:
            candidates = [
                hid
                for area_id in rep.area_ids
                for hid in self.areas[area_id - 1].household_ids
                if hid not in self.reserved
            ]
            target = min(len(candidates), round(due * self.pace(rep)))
            home_share = self.rng.uniform(0.38, 0.55)
            chosen = self.pick_households(candidates, target)
            if rep.code == DEMO_REPRESENTATIVE:
                chosen = self.cover_categories(chosen, candidates, untouched)
            mates = [rid for rid in group_members[rep.group_id] if rid != rep.id]
            cursor = 0
            for round_id, by_group in windows:
                window = by_group.get(rep.group_id)
                if window is None or self.rng.random() >= 0.9:
                    continue
                for household_id in chosen[cursor : cursor + self.rng.randint(2, 4)]:
                    cursor += 1
                    start, end = window
                    day = start + timedelta(days=self.rng.randrange((end - start).days + 1))
                    mode = self.rng.choice(in_home if self.rng.random() < 0.85 else other)
                    plans.append(self.visit(rep, household_id, day, mode, round_id, mates, collective=0.35))
            for household_id in chosen[cursor:]:
                for _ in range(2 if self.rng.random() < 0.08 else 1):
                    day = self.year_start + timedelta(days=self.rng.randrange(days))
                    mode = self.rng.choice(in_home if self.rng.random() < home_share else other)
                    plans.append(self.visit(rep, household_id, day, mode, "routine", mates, collective=0.06))

        # Ids follow the calendar, as they would had the visits been logged day by day.
        plans.sort(key=lambda plan: (plan.visited_on, plan.minute_of_day, plan.representative_id, plan.household_id))
        visit_rows: list[dict[str, Any]] = []
        companion_rows: list[dict[str, Any]] = []
        for visit_id, plan in enumerate(plans, 1):
            created = datetime.combine(plan.visited_on, time(0, 0), tzinfo=UTC) + timedelta(minutes=plan.minute_of_day)
            visit_rows.append(
                {
                    "id": visit_id,
                    "representative_id": plan.representative_id,
                    "household_id": plan.household_id,
                    "visited_on": plan.visited_on,
                    "mode": plan.mode,
                    "round": plan.round,
                    "collective": bool(plan.companions),
                    "notes": plan.notes,
                    "latitude": None,
                    "longitude": None,
                    "created_at": created,
                }
            )
            companion_rows += [{"visit_id": visit_id, "representative_id": rid} for rid in plan.companions]
        self.rows[Visit] = visit_rows
        self.rows[VisitCompanion] = companion_rows

    def visit(
        self,
        rep: _RepPlan,
        household_id: int,
        day: date,
        mode: str,
        round_id: str,
        mates: list[int],
        *,
        collective: float,
    ) -> _VisitPlan:
        companions: tuple[int, ...] = ()
        if self.untouched & set(self.household_codes[household_id]):
            mates = [rid for rid in mates if self.reps[rid - 1].code != DEMO_REPRESENTATIVE]
        if mates and self.rng.random() < collective:
            companions = tuple(sorted(self.rng.sample(mates, min(len(mates), self.rng.randint(1, 2)))))
        notes = self.rng.choice(NOTES) if self.rng.random() < 0.6 else ""
        # Logged during the local working day (UTC+8): 01:00 to 10:59 UTC.
        minute = self.rng.randrange(60, 11 * 60)
        return _VisitPlan(rep.id, household_id, day, mode, round_id, companions, notes, minute)

    def pick_households(self, candidates: list[int], count: int) -> list[int]:
        """A weighted sample without replacement that favours focus groups and non-party households."""

        def weight(household_id: int) -> float:
            value = 3.0 if self.household_codes[household_id] else 1.0
            return value * (1.0 if self.party_member[household_id] else 1.5)

        keyed = [(self.rng.random() ** (1.0 / weight(hid)), hid) for hid in candidates]
        keyed.sort(reverse=True)
        return [hid for _key, hid in keyed[:count]]

    def cover_categories(self, chosen: list[int], candidates: list[int], untouched: set[str]) -> list[int]:
        """D001 has visited at least one household of every category except the untouched must-visits."""
        result = list(chosen)
        codes = [code for code, _share in self.category_shares() if code not in untouched]
        for code in codes:
            if any(code in self.household_codes[hid] for hid in result):
                continue
            options = [hid for hid in candidates if code in self.household_codes[hid] and hid not in result]
            if options:
                result.append(options[0])
        return result

    # -- output --

    def tables(self) -> list[tuple[type[SQLModel], list[dict[str, Any]]]]:
        """Rows in foreign-key order."""
        order: tuple[type[SQLModel], ...] = (
            RepGroup,
            Station,
            Area,
            Representative,
            RepArea,
            Staff,
            Household,
            HouseholdCategory,
            Visit,
            VisitCompanion,
        )
        return [(model, self.rows[model]) for model in order]

    def summary(self) -> DemoSummary:
        staff = self.rows[Staff]

        def first(role: str) -> str:
            return next(str(row["code"]) for row in staff if row["role"] == role)

        return DemoSummary(
            representatives=len(self.reps),
            groups=len(self.group_names),
            stations=len(self.stations),
            areas=len(self.areas),
            households=len(self.rows[Household]),
            visits=len(self.rows[Visit]),
            demo_representative=DEMO_REPRESENTATIVE,
            group_leader=next(
                rep.code for rep in self.reps if rep.group_id == self.demo_rep().group_id and rep.role == "leader"
            ),
            left_office=LEFT_OFFICE,
            leader=first("leader"),
            liaison=first("liaison"),
            department=first("department"),
            created=True,
        )


def _house_number(address: str, street: str) -> int:
    return int(address[len(street) : address.index("号")])
