"""The demo district's activities, events and commitments: this year's activities by many representatives (the five
ones and the other forms; "practical thing done" ones every week, so the digest's Z has them in any week), the demo
representative D001 with some but not all of the five ones; a past training and a past collective activity with
attendance recorded, today's collective activity open for check-in by location, a collective activity next week D001
has not answered, a centralized visit round in a few days; commitments for D001 and others. Rows go in a few bulk
statements, the same for a seed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import execute
from storage.models import Activity, Commitment, EventInvitation, ProgrammeEvent, Representative, Staff
from storage.records import audience, events
from storage.records.commitments import DONE, IN_PROGRESS, PLANNED
from storage.settings import Settings

DEMO_REPRESENTATIVE = "D001"  # as storage.exchange.demo's
OFFICE = "O01"
# Where the demo's events with a location are held (the district's party school): share a location near it to
# check in (README: /location 30.7001 111.3002).
PLACE = (30.7000, 111.3000)
PLACE_NAME = "区委党校报告厅"
# D001's five ones this year: some, not all (the tally shows what is missing).
DEMO_FIVE_ONES = ("research_report", "practical_thing", "practical_thing", "public_welfare")
PRACTICAL_PER_WEEK = (3, 7)  # practical things logged each week of the year, by random representatives
OTHER_SHARE = 0.45  # the share of representatives with other activities this year
SUMMARIES = {
    "research_report": (
        "关于老旧小区加装电梯情况的调研报告",
        "关于农村养老服务现状的调研报告",
        "社区停车难问题调研报告",
    ),
    "practical_thing": (
        "帮助幸福路小区修复路灯",
        "协调解决东山村饮水管道漏水",
        "为独居老人安装紧急呼叫器",
        "协调疏通小区排水沟",
    ),
    "petition_resolved": ("化解一起邻里宅基地纠纷", "协调解决一起拖欠工资信访件"),
    "public_welfare": ("组织社区义诊活动", "参加环境卫生整治志愿服务", "组织爱心助学捐赠"),
    "hardship_helped": ("结对帮扶一户因病致困家庭", "帮助困难户申请临时救助"),
    "inspection": ("参加区人大组织的食品安全视察", "视察学校周边交通安全"),
    "council": ("主持社区议事会，商议加装电梯分摊办法", "参加村民议事会讨论道路硬化"),
    "heart_talk": ("与居民民心恳谈，听取物业服务意见", "走进菜市场与商户恳谈"),
    "themed_practice": ("开展“我为群众办实事”主题实践", "参加党史学习教育主题实践"),
}
COMMITMENTS = (
    "每月至少到联系社区接待群众一次",
    "年内走访联系100户群众，入户走访不少于三分之一",
    "帮助解决群众反映的停车难问题",
    "结对帮扶两户困难家庭",
    "推动辖区老旧小区加装电梯",
    "每季度向群众通报一次履职情况",
)
EXCUSES = ("出差在外", "参加区人大常委会会议", "身体不适", "单位有紧急任务")


def _local(day: date, hour: int, settings: Settings, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=settings.zone).astimezone(UTC)


async def add_activities(session: AsyncSession, *, settings: Settings, today: date, seed: int) -> None:
    """Insert the demo's activities, events and commitments into the built district."""
    rng = random.Random(seed)
    found = await session.exec(
        select(Representative.code, Representative.id, Representative.group_id)
        .where(col(Representative.active).is_(True))
        .order_by(col(Representative.code))
    )
    reps = [(code, rep_id, group_id) for code, rep_id, group_id in found.all() if rep_id is not None]
    by_code = {code: rep_id for code, rep_id, _ in reps}
    demo_rep = by_code[DEMO_REPRESENTATIVE]
    demo_group = next(group_id for code, _, group_id in reps if code == DEMO_REPRESENTATIVE)
    office = (await session.exec(select(Staff.id).where(Staff.code == OFFICE))).one()
    await _activities(
        session, rng, settings=settings, today=today, reps=[rep_id for _, rep_id, _ in reps], demo_rep=demo_rep
    )
    await _events(
        session,
        rng,
        settings=settings,
        today=today,
        office=office,
        demo_rep=demo_rep,
        group_scope=f"group:{demo_group}" if demo_group is not None else "all",
    )
    await _commitments(
        session, rng, settings=settings, today=today, reps=[rep_id for _, rep_id, _ in reps], demo_rep=demo_rep
    )


async def _activities(
    session: AsyncSession, rng: random.Random, *, settings: Settings, today: date, reps: list[int], demo_rep: int
) -> None:
    kinds = [kind.code for kind in settings.activities.kinds]
    practical = [kind.code for kind in settings.activities.kinds if kind.practical]
    others = [code for code in kinds if code not in practical]
    rows: list[dict[str, Any]] = []

    def add(rep_id: int, kind: str, day: date) -> None:
        summary = rng.choice(SUMMARIES.get(kind, ("履职活动",)))
        # Logged the evening of the day it was done (the digest counts activities by when they were logged).
        logged = _local(day, 20, settings, rng.randrange(60))
        rows.append(
            {"representative_id": rep_id, "kind": kind, "done_on": day, "summary": summary, "created_at": logged}
        )

    # Practical things every week of the year so far, by representatives other than D001.
    others_reps = [rep_id for rep_id in reps if rep_id != demo_rep]
    week = date(today.year, 1, 1)
    while week <= today and practical:
        for _ in range(rng.randint(*PRACTICAL_PER_WEEK)):
            day = min(week + timedelta(days=rng.randrange(7)), today - timedelta(days=1))
            if day.year == today.year:
                add(rng.choice(others_reps), rng.choice(practical), day)
        week += timedelta(days=7)
    # Other activities (and the remaining five ones) for about OTHER_SHARE of the representatives.
    days_so_far = max((today - date(today.year, 1, 1)).days, 1)
    for rep_id in others_reps:
        if rng.random() < OTHER_SHARE:
            for _ in range(rng.randint(1, 3)):
                add(rep_id, rng.choice(others), date(today.year, 1, 1) + timedelta(days=rng.randrange(days_so_far)))
    # D001: some of the five ones, spread through the year, and a council meeting last week.
    for number, kind in enumerate(DEMO_FIVE_ONES, start=1):
        add(demo_rep, kind, today - timedelta(days=number * 37))
    add(demo_rep, "council", today - timedelta(days=6))
    await execute(session, sa.insert(Activity.__table__), rows)  # type: ignore[attr-defined]


async def _event(
    session: AsyncSession,
    *,
    settings: Settings,
    office: int | None,
    kind: str,
    title: str,
    scope: str,
    day: date,
    hours: tuple[int, int],
    place: str = PLACE_NAME,
    located: bool = False,
) -> tuple[ProgrammeEvent, list[int]]:
    starts = _local(day, hours[0], settings)
    event = ProgrammeEvent(
        kind=kind,
        title=title,
        starts_at=starts,
        ends_at=_local(day, hours[1], settings),
        place=place,
        latitude=PLACE[0] if located else None,
        longitude=PLACE[1] if located else None,
        scope=scope,
        created_by=office,
        created_at=starts - timedelta(days=14),
        updated_at=starts - timedelta(days=14),
    )
    session.add(event)
    await session.flush()
    return event, await audience.representatives_in(session, scope)


async def _events(
    session: AsyncSession,
    rng: random.Random,
    *,
    settings: Settings,
    today: date,
    office: int | None,
    demo_rep: int,
    group_scope: str,
) -> None:
    start_of_today = _local(today, 0, settings)
    invitations: list[dict[str, Any]] = []

    def invite(event: ProgrammeEvent, rep_id: int, answer: str = events.PENDING, checked: bool = False) -> None:
        reason = rng.choice(EXCUSES) if answer == events.EXCUSED else ""
        answered = event.created_at + timedelta(days=rng.uniform(0.5, 5)) if answer != events.PENDING else None
        distance = rng.randrange(20, 300) if checked and event.latitude is not None else None
        invitations.append(
            {
                "event_id": event.id,
                "representative_id": rep_id,
                "answer": answer,
                "reason": reason,
                "answered_at": answered,
                "checked_in_at": event.starts_at + timedelta(minutes=rng.randrange(-30, 20)) if checked else None,
                "check_in_by": ("location" if distance is not None else "button") if checked else "",
                "distance_m": distance,
            }
        )

    def held(event: ProgrammeEvent, invited: list[int], *, attend: float, excused: float) -> None:
        """A past event: most attended and checked in, a few excused, the rest never answered."""
        for rep_id in invited:
            draw = 0.0 if rep_id == demo_rep else rng.random()
            if draw < attend:
                invite(event, rep_id, events.ATTEND, checked=rep_id == demo_rep or rng.random() < 0.95)
            elif draw < attend + excused:
                invite(event, rep_id, events.EXCUSED)
            else:
                invite(event, rep_id)

    def coming(event: ProgrammeEvent, invited: list[int], *, answered: float, skip: int | None = None) -> None:
        for rep_id in invited:
            if rep_id != skip and rng.random() < answered:
                invite(event, rep_id, events.ATTEND if rng.random() < 0.85 else events.EXCUSED)
            else:
                invite(event, rep_id)

    year_start = date(today.year, 1, 1)
    training, invited = await _event(
        session,
        settings=settings,
        office=office,
        kind=events.TRAINING,
        title="党代表履职能力专题培训",
        scope="all",
        day=max(year_start, today - timedelta(days=150)),
        hours=(9, 12),
        located=True,
    )
    held(training, invited, attend=0.86, excused=0.09)
    collective, invited = await _event(
        session,
        settings=settings,
        office=office,
        kind=events.COLLECTIVE,
        title="代表小组学习交流会",
        scope=group_scope,
        day=max(year_start, today - timedelta(days=60)),
        hours=(14, 16),
        place="幸福社区党群服务中心",
    )
    held(collective, invited, attend=0.8, excused=0.1)
    # Today, all day, at the party school: D001 said they would come and can check in by sharing a location.
    today_event, invited = await _event(
        session,
        settings=settings,
        office=office,
        kind=events.COLLECTIVE,
        title="“党代表活动日”集中接待",
        scope=group_scope,
        day=today,
        hours=(8, 20),
        located=True,
    )
    for rep_id in invited:
        invite(today_event, rep_id, events.ATTEND if rep_id == demo_rep or rng.random() < 0.8 else events.PENDING)
    next_week, invited = await _event(
        session,
        settings=settings,
        office=office,
        kind=events.COLLECTIVE,
        title="社区议事协商观摩活动",
        scope=group_scope,
        day=today + timedelta(days=7),
        hours=(14, 16),
        place="东山村村委会",
    )
    coming(next_week, invited, answered=0.5, skip=demo_rep)
    visit_round, invited = await _event(
        session,
        settings=settings,
        office=office,
        kind=events.ROUND,
        title="第二轮集中走访启动",
        scope="level:district",
        day=today + timedelta(days=3),
        hours=(9, 11),
    )
    coming(visit_round, invited, answered=0.3)
    await execute(session, sa.insert(EventInvitation.__table__), invitations)  # type: ignore[attr-defined]
    for event in (next_week, visit_round):
        await events.plan_event(session, event=event, settings=settings, now=start_of_today)


async def _commitments(
    session: AsyncSession, rng: random.Random, *, settings: Settings, today: date, reps: list[int], demo_rep: int
) -> None:
    rows: list[dict[str, Any]] = []
    published = _local(min(date(today.year, 2, 20), today), 12, settings)

    def add(rep_id: int, text: str, status: str, note: str = "") -> None:
        rows.append(
            {
                "representative_id": rep_id,
                "year": today.year,
                "text": text,
                "status": status,
                "progress_note": note,
                "created_at": published,
                "updated_at": published,
            }
        )

    add(demo_rep, COMMITMENTS[0], DONE, "全年已接待群众11次")
    add(demo_rep, COMMITMENTS[1], IN_PROGRESS, "已走访联系群众70余户，其中一半入户")
    add(demo_rep, COMMITMENTS[4], PLANNED)
    for rep_id in reps:
        if rep_id != demo_rep and rng.random() < 0.35:
            for text in rng.sample(COMMITMENTS, rng.randint(1, 3)):
                add(rep_id, text, rng.choice((PLANNED, IN_PROGRESS, IN_PROGRESS, DONE)))
    await execute(session, sa.insert(Commitment.__table__), rows)  # type: ignore[attr-defined]
