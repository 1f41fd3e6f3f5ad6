"""The demo district's proposals, motions and inquiries of this year, in every state and by many representatives,
with their co-signers and histories: one collecting co-signers with an invitation waiting for the demo
representative (D001), submitted ones waiting for the liaison office's review, one established and waiting to be
assigned, one not established with its reason, one merged, assigned ones at 区住建局 (the demo department B01) of
which one is overdue, D001's answered one waiting for D001's evaluation, closed ones with their evaluations, one
whose author was dissatisfied and waits for its second answer, and one withdrawn. The same rows for a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Proposal, ProposalCounter, ProposalEvent, ProposalSigner, Representative
from storage.records import proposals, schedule
from storage.records.schedule import Planned
from storage.settings import Settings
from storage.workdays import calendar_of

DEMO_REPRESENTATIVE = "D001"  # as storage.exchange.demo's
DEMO_DEPARTMENT = "区住建局"  # B01's unit in storage.exchange.demo
OFFICE = "staff:O01"  # how the demo's history names the liaison office and the department
HANDLER = "staff:B01"
TOPICS = (
    # title, body
    (
        "关于老旧小区加装电梯资金分摊的建议",
        "我区老旧小区加装电梯意愿强烈，但资金分摊难以协调，多个项目因低层住户反对而搁置。建议出台分摊指导标准，"
        "对低层住户给予适当补偿，并提高财政补贴比例。",
    ),
    (
        "关于增设社区老年助餐点的建议",
        "辖区内独居和高龄老人较多，吃饭难问题突出。建议依托社区党群服务中心增设老年助餐点，引入社会力量运营，"
        "对困难老人给予用餐补贴，并提供送餐上门服务。",
    ),
    (
        "关于幸福路口增设信号灯的建议",
        "幸福路与和平街交叉口早晚高峰车流人流密集，学生上学放学穿行危险，已多次发生剐蹭事故。建议增设信号灯，"
        "划设人行横道，并在高峰时段安排交警或志愿者值守。",
    ),
    (
        "关于整治背街小巷环境卫生的建议",
        "部分背街小巷垃圾清运不及时，乱堆乱放现象反复出现，群众反映强烈。建议明确清扫保洁责任单位，"
        "增加清运频次，建立网格员日常巡查和限时整改机制。",
    ),
    (
        "关于完善农村生活污水治理设施运维的建议",
        "部分村已建成的污水处理设施因缺乏运维经费和专业人员而停用。建议将设施运维纳入区级统筹，"
        "落实运维经费，委托专业公司管理，并定期公布出水水质。",
    ),
    (
        "关于加强中小学周边交通安全管理的质询",
        "多所中小学周边上下学时段交通秩序混乱，家长接送车辆占道停放，学生安全隐患突出。请相关部门说明已采取的措施、"
        "存在的困难和下一步整改计划及时限。",
    ),
    (
        "关于推进“15分钟便民生活圈”建设的建议",
        "部分新建小区周边缺少菜市场、药店等便民设施，居民日常生活不便。建议在规划中预留便民商业用房，"
        "引导连锁企业进驻，并对社区便民服务网点给予租金扶持。",
    ),
    (
        "关于规范电动自行车集中充电设施的建议",
        "居民小区电动自行车飞线充电、楼道停放现象普遍，火灾隐患突出。建议加快建设集中充电棚和智能充电桩，"
        "明确物业管理责任，对老旧小区给予建设补贴。",
    ),
    (
        "关于提高困难群众临时救助效率的提议",
        "临时救助审批环节多、时间长，急难群众难以及时得到帮助。建议下放审批权限至街道，实行先行救助、事后补审，"
        "并公开办理时限。",
    ),
    (
        "关于加快农贸市场提档升级的建议",
        "部分农贸市场设施陈旧，排水不畅，夏季异味明显，经营秩序较乱。建议制定改造计划，分批实施提档升级，"
        "同步完善监管和保洁机制。",
    ),
)
REFUSAL = "所提事项属于区人大代表建议办理范围，建议通过人大代表渠道提出。"
ANSWER = "经研究，已将该事项列入明年工作计划，近期先行开展摸底调查，并会同街道制定实施方案，按期向代表反馈进展。"
SECOND_ANSWER = "经再次研究，已落实专项资金，实施方案已报区政府审定，预计明年一季度完工，届时邀请代表现场查看。"
DISSATISFIED = "答复只说列入计划，没有具体时限和资金安排。"


@dataclass(frozen=True)
class _Plan:
    """One demo proposal: who wrote it, its kind and topic, how far it went and when it started (days ago)."""

    author: str
    kind: str
    topic: int
    state: str
    days_ago: int
    department: str = DEMO_DEPARTMENT
    evaluation: str = ""


def _local(day: date, hour: int, settings: Settings) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=settings.zone).astimezone(UTC)


async def add_proposals(session: AsyncSession, *, settings: Settings, today: date, seed: int) -> None:
    """Insert the demo's proposals into the built district, with their co-signers, histories and due items."""
    rng = random.Random(seed)
    found = await session.exec(
        select(Representative).where(col(Representative.active).is_(True)).order_by(col(Representative.code))
    )
    reps = list(found.all())
    by_code = {rep.code: rep for rep in reps}
    others = [rep.code for rep in reps if rep.code != DEMO_REPRESENTATIVE]
    district = [rep.code for rep in reps if rep.level == "district" and rep.code != DEMO_REPRESENTATIVE]

    def someone() -> str:
        return rng.choice(others)

    departments = ["区城管局", "区民政局", "区交通运输局", "区教育局", "区市场监管局"]
    plans = [
        _Plan(someone(), "proposal", 7, proposals.SIGNING, 1),  # invites D001
        _Plan(DEMO_REPRESENTATIVE, "proposal", 1, proposals.SIGNING, 2),  # D001's own, one co-signer still to answer
        _Plan(someone(), "proposal", 3, proposals.SUBMITTED, 3),
        _Plan(rng.choice(district), "inquiry", 5, proposals.SUBMITTED, 4),
        _Plan(someone(), "motion", 8, proposals.SUBMITTED, 2),
        _Plan(someone(), "proposal", 9, proposals.ESTABLISHED, 6),
        _Plan(someone(), "proposal", 9, proposals.MERGED, 5),  # into the established one, drafted before it
        _Plan(someone(), "motion", 0, proposals.NOT_ESTABLISHED, 20),
        _Plan(someone(), "proposal", 0, proposals.ASSIGNED, 90),  # overdue at 区住建局
        _Plan(someone(), "proposal", 6, proposals.ASSIGNED, 12),
        _Plan(someone(), "motion", 4, proposals.ASSIGNED, 15, department=rng.choice(departments)),
        _Plan(DEMO_REPRESENTATIVE, "proposal", 2, proposals.ANSWERED, 60),  # waits for D001's evaluation
        _Plan(someone(), "proposal", 3, proposals.CLOSED, 200, department="区交通运输局", evaluation="satisfied"),
        _Plan(someone(), "motion", 1, proposals.CLOSED, 160, evaluation="basic"),
        _Plan(DEMO_REPRESENTATIVE, "proposal", 7, proposals.CLOSED, 240, department="区民政局", evaluation="satisfied"),
        _Plan(someone(), "proposal", 0, proposals.ASSIGNED, 110, evaluation="dissatisfied"),  # its second answer
        _Plan(someone(), "motion", 4, proposals.WITHDRAWN, 30),
    ]
    # Older ones first, so that numbers follow the days they were drafted.
    plans.sort(key=lambda plan: -plan.days_ago)
    calendar = calendar_of(settings)
    prefix = settings.proposals.number_prefix
    numbers: dict[int, int] = {}
    established: Proposal | None = None
    reminders: list[Planned] = []
    for plan in plans:
        day = max(today - timedelta(days=plan.days_ago), date(today.year, 1, 2))
        numbers[day.year] = numbers.get(day.year, 0) + 1
        title, body = TOPICS[plan.topic]
        author = by_code[plan.author]
        created = _local(day, 9, settings)
        proposal = Proposal(
            number=f"{prefix}-{day.year}-{numbers[day.year]:04d}",
            kind=plan.kind,
            title=title,
            body=body,
            author_id=author.id or 0,
            state=plan.state,
            created_at=created,
            updated_at=created,
        )
        session.add(proposal)
        await session.flush()
        assert proposal.id is not None
        events: list[tuple[str, str, datetime, str, dict[str, Any]]] = [
            ("drafted", f"representative:{author.code}", created, "", {})
        ]
        kind = proposals.kind_of(settings, plan.kind)
        level = author.level if kind.same_level else None
        pool = [rep for rep in reps if rep.id != author.id and (level is None or rep.level == level)]
        if plan.state == proposals.SIGNING and plan.author != DEMO_REPRESENTATIVE:
            pool = [rep for rep in pool if rep.code != DEMO_REPRESENTATIVE]
        signers = rng.sample(pool, kind.min_cosigners + rng.randint(0, 2))
        if plan.state == proposals.SIGNING and plan.author != DEMO_REPRESENTATIVE:
            signers.append(by_code[DEMO_REPRESENTATIVE])
        for position, signer in enumerate(signers):
            waiting = plan.state == proposals.SIGNING and position == len(signers) - 1
            answered = created + timedelta(hours=2 + position)
            session.add(
                ProposalSigner(
                    proposal_id=proposal.id,
                    representative_id=signer.id or 0,
                    status=proposals.INVITED if waiting else proposals.ACCEPTED,
                    invited_at=created,
                    answered_at=None if waiting else answered,
                )
            )
            events.append(("invited", f"representative:{author.code}", created, "", {"representative": signer.id}))
            if waiting:
                due = created + timedelta(days=proposals.INVITE_REMINDER_DAYS)
                reminders.append(
                    Planned(
                        key=f"{proposals.INVITE_REMINDER}:{proposal.number}:{signer.id}:{created.astimezone(UTC):%Y%m%dT%H%M%S}",
                        kind=proposals.INVITE_REMINDER,
                        due_at=due,
                        expires_at=due + timedelta(hours=settings.scheduler.lateness_hours("proposals")),
                        payload={"proposal_id": proposal.id, "representative_id": signer.id},
                    )
                )
            else:
                events.append(
                    ("cosigned", f"representative:{signer.code}", answered, "", {"representative": signer.id})
                )
        moment = created + timedelta(days=1)
        if plan.state != proposals.SIGNING:
            if plan.state == proposals.WITHDRAWN:
                proposal.closed_at = moment
                events.append(("withdrawn", f"representative:{author.code}", moment, "", {}))
            else:
                proposal.submitted_at = moment
                events.append(("submitted", f"representative:{author.code}", moment, "", {}))
        reviewed = moment + timedelta(days=1)
        if plan.state == proposals.NOT_ESTABLISHED:
            proposal.reason, proposal.reviewed_at, proposal.closed_at = REFUSAL, reviewed, reviewed
            events.append(("not_established", OFFICE, reviewed, REFUSAL, {}))
        if plan.state == proposals.MERGED and established is not None:
            proposal.merged_into, proposal.reviewed_at, proposal.closed_at = established.id, reviewed, reviewed
            events.append(("merged", OFFICE, reviewed, "", {}))
        if plan.state in (proposals.ESTABLISHED, proposals.ASSIGNED, proposals.ANSWERED, proposals.CLOSED):
            proposal.reviewed_at = reviewed
            events.append(("established", OFFICE, reviewed, "", {}))
            if plan.state == proposals.ESTABLISHED:
                established = proposal
        if plan.state in (proposals.ASSIGNED, proposals.ANSWERED, proposals.CLOSED):
            assigned_day = reviewed.astimezone(settings.zone).date()
            deadline = calendar.add_working_days(assigned_day, kind.answer_working_days)
            proposal.department, proposal.assigned_at = plan.department, reviewed
            proposal.due_on, proposal.due_provisional = deadline.day, deadline.provisional
            events.append(("assigned", OFFICE, reviewed, "", {}))
            first_answer = _answered(deadline.day, assigned_day, today, settings, rng)
            if plan.state == proposals.ANSWERED or plan.evaluation == "dissatisfied":
                # Lately: an answer older than `proposals.auto_close_days` would close at the first sweep, and a
                # second answer asked long ago would be overdue already.
                first_answer = _local(today - timedelta(days=4), 15, settings)
            if plan.state in (proposals.ANSWERED, proposals.CLOSED) or plan.evaluation == "dissatisfied":
                proposal.answer, proposal.answers, proposal.answered_at = ANSWER, 1, first_answer
                events.append(("answered", HANDLER, first_answer, ANSWER, {}))
            evaluated = first_answer + timedelta(days=2)
            if plan.evaluation == "dissatisfied":
                proposal.evaluation, proposal.evaluation_note = "dissatisfied", DISSATISFIED
                second = calendar.add_working_days(evaluated.astimezone(settings.zone).date(), 15)
                proposal.due_on, proposal.due_provisional = second.day, second.provisional
                proposal.answered_at = None
                events.append(("evaluated", f"representative:{author.code}", evaluated, DISSATISFIED, {}))
                events.append(("reassigned", "system", evaluated, "", {}))
            elif plan.state == proposals.CLOSED:
                proposal.evaluation, proposal.closed_at = plan.evaluation, evaluated
                events.append(("evaluated", f"representative:{author.code}", evaluated, "", {}))
                events.append(("closed", "system", evaluated, "", {}))
        proposal.updated_at = max(event[2] for event in events)
        session.add(proposal)
        # In the order they happened, as the real steps write them (a co-signer answers after every invitation).
        for action, actor, at, note, detail in sorted(events, key=lambda event: event[2]):
            session.add(
                ProposalEvent(proposal_id=proposal.id, at=at, actor=actor, action=action, note=note, detail=detail)
            )
    for year, last in numbers.items():
        session.add(ProposalCounter(year=year, last=last))
    await session.flush()
    await schedule.plan(session, items=reminders, now=_local(today, 0, settings))


def _answered(due: date, assigned: date, today: date, settings: Settings, rng: random.Random) -> datetime:
    """When the department answered: before the deadline and before today, after the assignment."""
    latest = min(due, today - timedelta(days=3))
    span = max((latest - assigned).days, 1)
    return _local(assigned + timedelta(days=rng.randint(1, span)), 15, settings)
