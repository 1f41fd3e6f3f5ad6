"""The demo district: a fictional roster, household ledger, year-to-date visits and cases at the reference scale."""

from __future__ import annotations

import itertools
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
from storage.exchange.demo_activities import add_activities
from storage.exchange.demo_briefings import add_briefings
from storage.exchange.demo_proposals import add_proposals
from storage.models import (
    Area,
    Case,
    CaseCounter,
    CaseEvent,
    Household,
    HouseholdCategory,
    ReceptionDay,
    ReceptionDuty,
    RepArea,
    RepGroup,
    Representative,
    Staff,
    Station,
    Visit,
    VisitCompanion,
    utcnow,
)
from storage.records import reception, schedule
from storage.records.cases import (
    ANSWERED,
    ASSIGNED,
    CLOSED,
    IN_PROGRESS,
    OPEN_STATES,
    RATINGS,
    REGISTERED,
    SORTED,
    SYSTEM,
    WITHDRAWN,
)
from storage.settings import CaseCategory, Settings
from storage.workdays import Deadline, calendar_of

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
ID_TABLES: tuple[type[SQLModel], ...] = (
    Station,
    Area,
    RepGroup,
    Representative,
    Staff,
    Household,
    Visit,
    Case,
    CaseEvent,
    ReceptionDay,
)
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
    "区应急管理局",
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

# --- cases --------------------------------------------------------------------------------------------------

# The reference district's first month (DESIGN.md): 3,500 households visited, 120+ suggestions collected and 340+
# practical things done. The demo has as many cases per household visited this year, and solves as large a share.
REFERENCE_HOUSEHOLDS = 3_500
REFERENCE_SUGGESTIONS = 120
REFERENCE_DONE = 340
CASES_PER_HOUSEHOLD = (REFERENCE_SUGGESTIONS + REFERENCE_DONE) / REFERENCE_HOUSEHOLDS
RESOLVED_SHARE = REFERENCE_DONE / (REFERENCE_SUGGESTIONS + REFERENCE_DONE)
MIN_CASES = 30
# Most concerns are reported by representatives after a visit; the rest are letters through the mailbox or a card.
REPORT_SHARE = 0.7
CARD_SHARE = 0.12
ANONYMOUS_SHARE = 0.25
TAKEN_SHARE = 0.4  # of the cases no department gets by default: kept by a representative (首接负责制)
PROGRESS_SHARE = 0.5
LATE_SHARE = 0.04  # answered after the deadline
OVERDUE_SHARE = 0.005  # of all cases: open past their deadline today
MIN_OVERDUE = 3
OVERDUE_WITHIN_DAYS = 21
# Who rates the answer: a representative's report is rated by its household on their return visit (回访).
RATED_SHARE = {"report": 0.75, "named": 0.85, "anonymous": 0.6}
CATEGORY_WEIGHTS = {
    "environment": 0.17,
    "housing": 0.2,
    "roads": 0.12,
    "welfare": 0.1,
    "health": 0.06,
    "education": 0.05,
    "employment": 0.05,
    "consultation": 0.1,
    "complaint": 0.05,
    "safety": 0.04,
    "other": 0.06,
}
UNKNOWN_CATEGORY_WEIGHT = 0.05
EXTENSION_DAYS = 5


@dataclass(frozen=True)
class _Concern:
    """A resident's concern as the demo writes it, with the answer when it is solved and the one when it is not."""

    category: str
    text: str
    solved: str
    explained: str
    department: str = ""  # whom the liaison office gives it to when the category names no department


CONCERNS = (
    _Concern(
        "environment",
        "小区门口路灯损坏半个多月，晚上出行很不方便，老人孩子容易摔倒",
        "已安排路灯维护单位更换灯具和线路，现已恢复照明",
        "该段路灯属小区自管设施，已督促物业限期维修，并告知业委会维修资金的使用办法",
    ),
    _Concern(
        "environment",
        "楼下垃圾桶经常满溢，清运不及时，天热时异味很大",
        "已协调环卫所将清运调整为每日两次，并增设两组分类垃圾桶",
        "已督促保洁公司加强清扫，清运频次受环卫作业计划限制，暂无法调整，将在下季度统筹考虑",
    ),
    _Concern(
        "environment",
        "下水道堵塞，下雨时污水倒灌进一楼住户家中",
        "已组织市政养护单位疏通管道、清理淤泥，排水已恢复正常",
        "经勘查为小区内部管网老化，需纳入老旧小区改造计划统一实施，已登记上报",
    ),
    _Concern(
        "environment",
        "河道边堆放建筑垃圾，长期无人清理",
        "已责令施工单位清运建筑垃圾，并在河道边设置禁止倾倒警示牌",
        "倾倒者尚未查实，已安排先行清理，并加强夜间巡查",
    ),
    _Concern(
        "housing",
        "老旧小区没有电梯，楼上老人上下楼困难，希望加装电梯",
        "已将该楼栋纳入今年加装电梯计划，设计单位已进场勘测",
        "加装电梯需本单元三分之二以上业主同意，已向居民讲解申请流程和补贴政策，待意见统一后可申报",
    ),
    _Concern(
        "housing",
        "楼顶渗水，连续下雨家里墙面发霉",
        "已动用专项维修资金修缮屋面防水，渗漏问题已解决",
        "已协调物业先行临时处置，屋面整体翻修需业主表决使用维修资金，正在组织表决",
    ),
    _Concern(
        "housing",
        "楼道灯坏了很久，物业一直没有来修",
        "已约谈物业公司，楼道灯已全部修复，并要求建立报修台账",
        "已督促物业维修，物业合同即将到期，社区正在组织业主重新选聘",
    ),
    _Concern(
        "housing",
        "小区外墙瓷砖脱落，担心砸伤行人",
        "已拆除松动瓷砖并设置安全围挡，外墙修缮已完成",
        "已设置临时围挡和警示标志，外墙整体修缮已列入明年老旧小区改造计划",
    ),
    _Concern(
        "roads",
        "小区停车位太少，车辆乱停乱放，堵塞消防通道",
        "已在小区周边道路施划夜间临时停车泊位60个，并规范小区内停车秩序",
        "周边道路不具备增设泊位条件，已建议物业与附近单位错时共享停车场，正在对接",
    ),
    _Concern(
        "roads",
        "希望在小区门口增设公交站点，老人看病出行不便",
        "经公交公司评估，已在小区北门增设停靠站，下月起试运行",
        "该路段距现有站点不足500米，不符合设站规范，已协调改善就近站点的候车设施",
    ),
    _Concern(
        "roads",
        "路口行人绿灯时间太短，老人过马路来不及",
        "已联系交警部门将行人绿灯时间延长至40秒",
        "该路口为主干道交叉口，信号配时需整体评估，已增设安全岛和文明劝导员",
    ),
    _Concern(
        "roads",
        "村道路面坑洼破损，雨天积水严重",
        "已列入农村公路养护计划，路面修补已完工",
        "该路段计划明年整体改造提升，已先行填补坑洼，保障通行",
    ),
    _Concern(
        "welfare",
        "家中老人独居，想了解低保申请条件和办理流程",
        "已上门核实家庭情况并协助提交低保申请，经审核已纳入保障",
        "经核算，家庭人均收入高于当地低保标准，暂不符合条件，已告知临时救助等其他帮扶政策",
    ),
    _Concern(
        "welfare",
        "希望社区开设老年助餐点，解决老人吃饭难",
        "社区老年助餐点已开放，60岁以上老人可凭卡就餐",
        "已纳入明年助餐点布点规划，过渡期间由邻近社区食堂提供送餐服务",
    ),
    _Concern(
        "welfare",
        "残疾人两项补贴迟迟没有到账",
        "经核查为银行账户信息有误，已更正并补发",
        "经核查，申请材料尚缺残疾等级证明，已告知补办途径，补齐后即可发放",
    ),
    _Concern(
        "health",
        "社区卫生服务站看病排队时间长，希望增加医生",
        "区医院已下派两名医生定期坐诊，并开通预约挂号",
        "已增加上午高峰时段的接诊窗口，医生编制需统筹调配，正在协调",
    ),
    _Concern(
        "health",
        "家里老人行动不便，希望能有医生上门服务",
        "家庭医生团队已与老人签约，每月上门随访一次",
        "已安排家庭医生电话随访，上门诊疗需按规定预约，已告知预约方式",
    ),
    _Concern(
        "education",
        "孩子入学划片不合理，上学要走很远",
        "已结合新建小区情况调整学区划分，并开通校车",
        "学区依据生源和学位统筹划定，今年暂不调整，已告知可申请就近学校的剩余学位",
    ),
    _Concern(
        "education",
        "学校门口上下学时段交通拥堵，存在安全隐患",
        "已协调交警在上下学高峰设置临时管控，并施划接送车辆停靠区",
        "已安排护学岗维持秩序，道路拓宽需纳入城市规划，已反映至有关部门",
    ),
    _Concern(
        "employment",
        "失业后想参加技能培训，不知道去哪里报名",
        "已推荐参加区人社局免费电工培训班，并登记就业意向",
        "本期培训名额已满，已登记下期报名，并推送近期招聘会信息",
    ),
    _Concern(
        "employment",
        "在工地干活的工资被拖欠了三个月",
        "经劳动监察介入，施工企业已结清拖欠工资",
        "已立案调查，因总包与分包存在争议，已告知申请劳动仲裁的途径并提供法律援助",
    ),
    _Concern(
        "employment",
        "返乡创业想申请创业担保贷款，不清楚条件",
        "已协助准备材料，创业担保贷款已审批发放",
        "经审核，经营主体尚未注册满规定期限，已告知满足条件后再申请",
    ),
    _Concern(
        "consultation",
        "想了解城乡居民养老保险的缴费档次和补缴政策",
        "已详细解答缴费档次和补缴办法，并协助办理了缴费",
        "补缴需符合规定年龄和缴费年限，已告知政策依据和可选的缴费方案",
        "区人社局",
    ),
    _Concern(
        "consultation",
        "咨询医保异地就医备案怎么办理",
        "已告知线上备案流程，并协助完成备案",
        "已解答备案政策，因需本人身份核验，已预约窗口办理时间",
        "区人社局",
    ),
    _Concern(
        "consultation",
        "想了解老旧小区改造的范围和时间安排",
        "已告知本小区已列入明年改造计划，改造内容将提前公示征求意见",
        "本小区建成年代不在本轮改造范围内，已登记居民意愿，作为下一轮申报依据",
        "区住建局",
    ),
    _Concern(
        "complaint",
        "楼下商铺装修噪音大，晚上十点以后还在施工",
        "已责令商铺停止夜间施工，并告知违规将依法处罚",
        "执法人员多次到场未发现夜间施工，已留下联系方式，再有发生可随时反映",
        "区城管局",
    ),
    _Concern(
        "complaint",
        "小区门口餐馆占道经营，油烟扰民",
        "已依法整治占道经营，督促餐馆安装油烟净化设备",
        "已对占道经营进行劝导，油烟检测达标，将持续跟踪巡查",
        "区城管局",
    ),
    _Concern(
        "complaint",
        "超市出售过期食品，找商家后拒不处理",
        "经市场监管部门查处，商家已下架问题食品并依法赔偿",
        "现场检查未发现过期食品，已告知保留购物凭证，依法维权",
        "区市场监管局",
    ),
    _Concern(
        "safety",
        "楼道里堆放杂物和电动车，存在消防隐患",
        "已会同社区和物业清理楼道杂物，并设置电动车集中充电点",
        "已张贴整改通知，督促业主限期清理，将持续巡查",
    ),
    _Concern(
        "safety",
        "有住户从楼上拉电线给电动车充电，很危险",
        "已拆除飞线，并在小区增设充电桩",
        "已现场劝导并拆除飞线，充电桩建设需供电部门扩容，正在协调",
    ),
    _Concern(
        "safety",
        "老旧燃气管道锈蚀，楼道里能闻到燃气味",
        "燃气公司已到场检测并更换锈蚀管段，隐患已排除",
        "经检测未发现泄漏，管道整体更换已列入燃气管网改造计划",
    ),
    _Concern(
        "other",
        "希望社区多组织文体活动，丰富老年人的生活",
        "社区已成立老年文体队，每周二、周四组织活动",
        "社区活动场地有限，已协调附近学校在周末开放操场",
        "区民政局",
    ),
    _Concern(
        "other",
        "小区里流浪猫狗越来越多，担心伤到孩子",
        "已联系动物救助机构收容流浪猫狗，并开展文明养犬宣传",
        "已开展文明养犬宣传，流浪动物收容能力有限，正在联系更多救助机构",
        "区城管局",
    ),
)
RATING_REASONS = {
    "satisfied": ("", "", "", "感谢及时处理", "处理很及时，非常满意"),
    "basic": ("", "希望处理再快一些", "基本解决，希望后续跟进"),
    "dissatisfied": ("问题没有彻底解决", "答复内容太笼统", "处理时间太长", "没有人上门核实情况"),
}
PROGRESS_NOTES = (
    "已转相关科室，安排人员现场核实",
    "已到现场查看，正在制定处理方案",
    "已联系相关单位协调处理",
    "相关材料已收到，正在审核",
    "已与反映人电话沟通，了解具体情况",
)
EXTENSION_REASON = f"涉及多个部门协调，需进一步现场勘查，申请延期{EXTENSION_DAYS}个工作日"
REOPENED_REASON = "问题没有彻底解决"


@dataclass(frozen=True)
class DemoSummary:
    """What the demo district holds, and who to open the console as."""

    representatives: int
    groups: int
    stations: int
    areas: int
    households: int
    visits: int
    cases: int
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
        cases=await count(Case),
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
        await _plan_receptions(session, settings=settings, rows=district.rows[ReceptionDay])
        # the rest of the year: proposals, briefings and opinion requests, activities, events, commitments
        await add_briefings(session, settings=settings, today=today, seed=seed)
        await add_proposals(session, settings=settings, today=today, seed=seed)
        await add_activities(session, settings=settings, today=today, seed=seed)
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
            cases=summary.cases,
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


@dataclass
class _CaseStep:
    """One step of a case's life, as storage.records.cases records it (a case event)."""

    at: datetime
    actor: str
    action: str
    note: str = ""
    to_resident: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _CasePlan:
    source: str
    category: CaseCategory
    concern: _Concern
    registered_at: datetime
    due: Deadline
    area_id: int | None
    representative_id: int | None = None  # written to through a card, or who reported it
    household_id: int | None = None
    visit_id: int | None = None
    anonymous: bool = False
    name: str = ""
    phone: str = ""
    consent: bool = False
    keeper: int | None = None  # the representative who takes it on, if one does
    clamp: datetime | None = None  # a shown case: steps that would fall later happen at this moment
    steps: list[_CaseStep] = field(default_factory=list)

    @property
    def writer(self) -> str:
        """How the log names what the writer does: demo residents have no chat identity to name."""
        return "anonymous" if self.anonymous else "demo"

    @property
    def last(self) -> datetime:
        return self.steps[-1].at if self.steps else self.registered_at

    def add(
        self,
        at: datetime,
        actor: str,
        action: str,
        *,
        note: str = "",
        to_resident: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> datetime:
        at = max(at, self.last)
        if self.clamp is not None:
            at = min(at, max(self.clamp, self.last))
        self.steps.append(_CaseStep(at, actor, action, note, to_resident, detail or {}))
        return at

    def until(self, moment: datetime) -> None:
        """Only what has happened by `moment` (steps are in time order)."""
        self.steps = [step for step in self.steps if step.at <= moment]

    def before(self, action: str) -> None:
        """Only the steps before the first `action`."""
        actions = [step.action for step in self.steps]
        if action in actions:
            self.steps = self.steps[: actions.index(action)]


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
        self.zone = settings.zone
        self.calendar = calendar_of(settings)
        # Nothing of the demo happens after the end of today's office day.
        self.latest = self.local(today, 19 * 60)
        self.active_reps: list[_RepPlan] = []
        self.area_reps: dict[int, list[int]] = {}
        self.concerns: dict[str, list[_Concern]] = {}
        self.category_weights: list[float] = []

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
        self.cases()
        self.rows.update(_reception_rota(self))

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
                    "township": station.town,
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
            # A street's or a town's leader reads that township's digest; the district's, the whole district's.
            township = next(
                (place for place in (*(street for street, _ in STREETS), *TOWNS) if unit.startswith(place)), ""
            )
            rows.append(
                {"id": staff_id, "code": code, "name": self.name(), "role": role, "unit": unit, "township": township}
            )
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

    # -- cases --

    def cases(self) -> None:
        """This year's cases, as many per household visited as the reference district had, in every state."""
        self.active_reps = [rep for rep in self.reps if rep.code != LEFT_OFFICE]
        for rep in self.active_reps:
            for area_id in rep.area_ids:
                self.area_reps.setdefault(area_id, []).append(rep.id)
        for concern in CONCERNS:
            self.concerns.setdefault(concern.category, []).append(concern)
        weights = [
            CATEGORY_WEIGHTS.get(category.code, UNKNOWN_CATEGORY_WEIGHT) for category in self.settings.cases.categories
        ]
        self.category_weights = list(itertools.accumulate(weights))

        visits = self.rows[Visit]
        visited = len({row["household_id"] for row in visits})
        total = max(MIN_CASES, round(visited * CASES_PER_HOUSEHOLD))
        shown = self.shown_cases()
        reporters = [
            row
            for row in visits
            if self.reps[row["representative_id"] - 1].code != LEFT_OFFICE and row["created_at"] <= self.latest
        ]
        natural = [self.natural_case(reporters) for _ in range(max(0, total - len(shown)))]
        for plan in natural:
            self.register(plan)
            self.route(plan)
            self.work(plan, late=self.rng.random() < LATE_SHARE)
            self.close(plan)
            plan.until(self.latest)
        self.add_overdue(natural, shown, total)

        # Numbers and ids follow the registration time, as they would have been given.
        plans = sorted([*natural, *shown], key=lambda plan: plan.registered_at)
        prefix, year = self.settings.cases.number_prefix, self.today.year
        case_rows: list[dict[str, Any]] = []
        for case_id, plan in enumerate(plans, 1):
            case_rows.append({"id": case_id, "number": f"{prefix}-{year}-{case_id:06d}", **self.replay(plan)})
        steps = sorted(
            (
                (step.at, case_id, index, step)
                for case_id, plan in enumerate(plans, 1)
                for index, step in enumerate(plan.steps)
            ),
            key=lambda entry: entry[:3],
        )
        self.rows[Case] = case_rows
        self.rows[CaseEvent] = [
            {
                "id": event_id,
                "case_id": case_id,
                "at": step.at,
                "actor": step.actor,
                "action": step.action,
                "note": step.note,
                "to_resident": step.to_resident,
                "detail": step.detail,
            }
            for event_id, (_at, case_id, _index, step) in enumerate(steps, 1)
        ]
        self.rows[CaseCounter] = [{"year": year, "last": len(plans)}] if plans else []

    def local(self, day: date, minute: int) -> datetime:
        """A moment of a local day, in UTC."""
        return (datetime.combine(day, time(0, 0), tzinfo=self.zone) + timedelta(minutes=minute)).astimezone(UTC)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def office(self, day: date, after: datetime) -> datetime:
        """A moment of an office day (08:30-17:30), after `after`."""
        moment = self.local(day, self.rng.randrange(8 * 60 + 30, 17 * 60 + 30))
        return moment if moment > after else after + timedelta(minutes=self.rng.randrange(10, 90))

    def soon(self, after: datetime) -> datetime:
        return after + timedelta(minutes=self.rng.randrange(15, 150))

    def later(self, after: datetime, working_days: int, *, quick: bool) -> datetime:
        if quick:
            return self.soon(after)
        day = self.calendar.add_working_days(self.local_day(after), working_days).day
        return self.office(day, after)

    def deadline(self, start: datetime, category: CaseCategory) -> Deadline:
        days = self.settings.cases.days_for(category.time_limit)
        return self.calendar.add_working_days(self.local_day(start), days)

    def default_department(self, category: CaseCategory) -> str:
        """The department a case of this category is assigned to as it is registered (`cases.auto_sort`)."""
        return category.department if self.settings.cases.auto_sort else ""

    def keepers(self, plan: _CasePlan) -> list[int]:
        """The representatives who may take the case on: the one it was written to or who reported it, else its
        area's."""
        if plan.representative_id is not None:
            return [plan.representative_id] if self.reps[plan.representative_id - 1].code != LEFT_OFFICE else []
        return self.area_reps.get(plan.area_id or 0, [])

    def pick_category(self) -> CaseCategory:
        return self.rng.choices(self.settings.cases.categories, cum_weights=self.category_weights)[0]

    def concern(self, category: CaseCategory) -> _Concern:
        known = self.concerns.get(category.code)
        if known:
            return self.rng.choice(known)
        return _Concern(
            category.code,
            f"反映{category.zh}方面的问题，希望有关部门了解情况、帮助解决",
            f"已就{category.zh}方面的问题现场核实并处理完毕",
            f"已就{category.zh}方面的问题作出解释，目前暂不具备解决条件，将持续跟进",
        )

    def case_plan(
        self,
        source: str,
        category: CaseCategory,
        registered_at: datetime,
        *,
        area_id: int,
        representative_id: int | None = None,
        visit: dict[str, Any] | None = None,
        anonymous: bool | None = None,
    ) -> _CasePlan:
        plan = _CasePlan(
            source,
            category,
            self.concern(category),
            registered_at,
            self.deadline(registered_at, category),
            area_id,
            representative_id,
        )
        if visit is not None:
            plan.household_id, plan.visit_id = visit["household_id"], visit["id"]
        if source == "report":  # the household may be contacted by the handler: asked only about a visit
            plan.consent = plan.visit_id is not None and self.rng.random() < 0.7
            return plan
        plan.anonymous = self.rng.random() < ANONYMOUS_SHARE if anonymous is None else anonymous
        if not plan.anonymous:
            plan.name = self.name()
            plan.phone = self.phone() if self.rng.random() < 0.8 else ""
            plan.consent = bool(plan.phone) and self.rng.random() < 0.75
        return plan

    def report(self, visit: dict[str, Any], category: CaseCategory) -> _CasePlan:
        """What a resident asked during a visit, reported by the representative a little later that day."""
        logged: datetime = visit["created_at"]
        at = logged + timedelta(minutes=self.rng.randrange(5, 240))
        if at > self.latest:  # a visit late today: reported before the day ends
            room = max(0, int((self.latest - logged).total_seconds()) // 60)
            at = logged + timedelta(minutes=self.rng.randint(0, room))
        area_id = self.rows[Household][visit["household_id"] - 1]["area_id"]
        return self.case_plan(
            "report", category, at, area_id=area_id, representative_id=visit["representative_id"], visit=visit
        )

    def natural_case(self, visits: list[dict[str, Any]]) -> _CasePlan:
        category = self.pick_category()
        draw = self.rng.random()
        if draw < REPORT_SHARE and visits:
            return self.report(self.rng.choice(visits), category)
        day = self.year_start + timedelta(days=self.rng.randrange((self.today - self.year_start).days + 1))
        at = self.local(day, self.rng.randrange(7 * 60, 22 * 60 + 30))
        if at > self.latest:
            at = self.local(day, self.rng.randrange(7 * 60, 19 * 60))
        if draw < REPORT_SHARE + CARD_SHARE:
            rep = self.rng.choice(self.active_reps)
            return self.case_plan("card", category, at, area_id=self.rng.choice(rep.area_ids), representative_id=rep.id)
        # A letter comes from an area as often as the area has households.
        household = self.rng.choice(self.rows[Household])
        return self.case_plan("mailbox", category, at, area_id=household["area_id"])

    # -- a case's steps, as storage.records.cases takes them --

    def register(self, plan: _CasePlan) -> None:
        plan.add(plan.registered_at, plan.writer, "registered", detail={"source": plan.source})

    def route(self, plan: _CasePlan, how: str = "", *, quick: bool = False, department: str = "") -> None:
        """How the case reaches its handler. auto: assigned as it is registered, to its category's department;
        take: a representative keeps it; sort: sorted by the liaison office, not yet assigned; assign: sorted and
        assigned by the liaison office. Unsaid: auto when the category names a department, else take or assign."""
        default = self.default_department(plan.category)
        keepers = self.keepers(plan)
        if not how:
            how = "auto" if default else "take" if keepers and self.rng.random() < TAKEN_SHARE else "assign"
        if how == "auto":
            plan.add(plan.registered_at, SYSTEM, "assigned", detail={"department": default})
            return
        if how == "take":
            plan.keeper = plan.keeper or self.rng.choice(keepers)
            plan.add(self.later(plan.last, self.rng.randint(0, 1), quick=quick), "demo", "taken")
            return
        at = plan.add(
            self.later(plan.last, self.rng.randint(0, 1), quick=quick),
            "demo",
            "sorted",
            detail={"category": plan.category.code, "urgent": False},
        )
        if how == "assign":
            unit = department or plan.category.department or plan.concern.department or self.rng.choice(DEPARTMENTS)
            at = at if self.rng.random() < 0.6 else self.later(at, 0, quick=quick)
            plan.add(at, "demo", "assigned", detail={"department": unit})

    def assign(self, plan: _CasePlan, department: str = "", *, quick: bool = True) -> None:
        """Assigned to a department: at once by its category, else by the liaison office."""
        default = self.default_department(plan.category)
        if default and department in ("", default):
            self.route(plan, "auto")
        else:
            self.route(plan, "assign", quick=quick, department=department)

    def progress(self, plan: _CasePlan, at: datetime) -> None:
        told = self.rng.random() < 0.5
        note = self.rng.choice(PROGRESS_NOTES)
        plan.add(at, "demo", "progress", note=note, to_resident=told, detail={"to_resident": told})

    def answer(self, plan: _CasePlan, at: datetime, *, resolved: bool | None = None) -> None:
        if resolved is None:
            resolved = self.rng.random() < RESOLVED_SHARE
        text = plan.concern.solved if resolved else plan.concern.explained
        plan.add(at, "demo", "answered", note=text, detail={"resolved": resolved})

    def work(self, plan: _CasePlan, *, late: bool) -> None:
        """A progress note now and then, and the answer within the time limit (or `late` after it)."""
        days = self.settings.cases.days_for(plan.category.time_limit)
        start = self.local_day(plan.registered_at)
        offset = days + self.rng.randint(1, 6) if late else self.rng.randint(0, days)
        if offset and self.rng.random() < PROGRESS_SHARE:
            day = self.calendar.add_working_days(start, self.rng.randrange(offset)).day
            self.progress(plan, self.office(day, plan.last))
        self.answer(plan, self.office(self.calendar.add_working_days(start, offset).day, plan.last))

    def rating(self, resolved: bool) -> str:
        weights = (0.85, 0.13, 0.02) if resolved else (0.35, 0.45, 0.2)
        return self.rng.choices(RATINGS, weights)[0]

    def rate(self, plan: _CasePlan, at: datetime, rating: str, *, handler: bool = False) -> None:
        """Rated by the writer (a report: by its household, on the representative's return visit); dissatisfied
        because of the handler: opened again; else closed."""
        reason = REOPENED_REASON if handler else self.rng.choice(RATING_REASONS[rating])
        at = plan.add(at, plan.writer, "rated", note=reason, detail={"rating": rating, "handler": handler})
        plan.add(at, SYSTEM, "reopened" if handler else "closed")

    def close(self, plan: _CasePlan) -> None:
        """Rated within days of the answer, or closed unrated after `cases.auto_close_days`."""
        answered = plan.steps[-1]
        writer = plan.source if plan.source == "report" else "anonymous" if plan.anonymous else "named"
        if self.rng.random() < RATED_SHARE[writer]:
            at = answered.at + timedelta(minutes=self.rng.randrange(30, 6 * 24 * 60))
            self.rate(plan, at, self.rating(bool(answered.detail["resolved"])))
        else:
            # Closed by the scheduler's next tick after the days have passed.
            wait = timedelta(days=self.settings.cases.auto_close_days, minutes=self.rng.randrange(1, 30))
            plan.add(answered.at + wait, SYSTEM, "closed", detail={"unrated": True})

    def overdue(self, plan: _CasePlan) -> bool:
        row = self.replay(plan)
        return row["state"] in OPEN_STATES and row["state"] != ANSWERED and row["due_on"] < self.today

    def add_overdue(self, natural: list[_CasePlan], shown: list[_CasePlan], total: int) -> None:
        """A few recent cases are still unanswered after their deadline: `lianxin cases overdue` lists them and
        the scheduler chases them (they are not chased yet)."""
        target = max(MIN_OVERDUE, round(total * OVERDUE_SHARE))
        late = sum(1 for plan in [*natural, *shown] if self.overdue(plan))
        since = self.today - timedelta(days=OVERDUE_WITHIN_DAYS)
        candidates = [
            plan
            for plan in natural
            if plan.due.day < self.today
            and self.local_day(plan.registered_at) >= since
            and any(step.action == "answered" for step in plan.steps)
        ]
        for plan in self.rng.sample(candidates, min(len(candidates), max(0, target - late))):
            plan.before("answered")

    def shown_cases(self) -> list[_CasePlan]:
        """Recent cases where the demo's people look: the demo representative's areas (one to take, one they
        keep, one with a department, an answer to be rated, their latest report), the first department's queue,
        the liaison office's letters to sort, an extension asked, a case reopened, two withdrawn."""
        cases = self.settings.cases
        categories = cases.categories
        roomy = [category for category in categories if cases.days_for(category.time_limit) >= 2] or categories
        by_hand = [category for category in roomy if not self.default_department(category)] or roomy
        routed = [category for category in roomy if self.default_department(category)] or roomy
        first_unit = DEPARTMENTS[0]
        of_first = [category for category in routed if self.default_department(category) == first_unit] or by_hand
        longest = max(categories, key=lambda category: cases.days_for(category.time_limit))
        demo = self.demo_rep()
        pick = self.rng.choice
        plans: list[_CasePlan] = []

        def letter(
            category: CaseCategory,
            days_ago: int,
            *,
            area_id: int | None = None,
            rep: _RepPlan | None = None,
            anonymous: bool | None = None,
        ) -> _CasePlan:
            day = max(self.year_start, self.today - timedelta(days=days_ago))
            at = min(self.local(day, self.rng.randrange(8 * 60, 11 * 60)), self.latest)
            if rep is not None:
                area = area_id or pick(rep.area_ids)
                plan = self.case_plan("card", category, at, area_id=area, representative_id=rep.id, anonymous=anonymous)
            else:
                area = area_id or pick(self.rows[Household])["area_id"]
                plan = self.case_plan("mailbox", category, at, area_id=area, anonymous=anonymous)
            plan.clamp = self.latest
            self.register(plan)
            plans.append(plan)
            return plan

        letter(pick(by_hand), 0, rep=demo)
        kept = letter(pick(by_hand), 1, area_id=pick(demo.area_ids))
        kept.keeper = demo.id
        self.route(kept, "take", quick=True)
        self.progress(kept, self.soon(kept.last))
        self.assign(letter(pick(routed), 1, rep=demo))
        answered = letter(pick(routed), 2, area_id=pick(demo.area_ids), anonymous=False)
        self.assign(answered)
        self.answer(answered, self.soon(answered.last))

        own = [
            row for row in self.rows[Visit] if row["representative_id"] == demo.id and row["created_at"] <= self.latest
        ]
        if own:
            reported = self.report(own[-1], pick(routed))
            self.register(reported)
            plans.append(reported)
        else:
            reported = letter(pick(routed), 8, area_id=pick(demo.area_ids))
            reported.clamp = None
        self.assign(reported, quick=False)
        self.progress(reported, self.later(reported.last, 1, quick=False))
        reported.until(self.latest)

        for _ in range(2):
            self.assign(letter(pick(of_first), 1), first_unit)
        for days_ago, how in ((0, ""), (0, ""), (1, "sort"), (1, "sort")):
            plan = letter(pick(by_hand), days_ago, rep=pick(self.active_reps) if self.rng.random() < 0.3 else None)
            if how:
                self.route(plan, how, quick=True)

        extended = letter(longest, 1)
        self.assign(extended)
        self.progress(extended, self.soon(extended.last))
        extended.add(
            self.soon(extended.last),
            "demo",
            "extension_asked",
            note=EXTENSION_REASON,
            detail={"days": EXTENSION_DAYS},
        )

        reopened = letter(pick(routed), 8, anonymous=False)
        self.assign(reopened)
        start = self.local_day(reopened.registered_at)
        self.answer(reopened, self.office(self.calendar.add_working_days(start, 1).day, reopened.last), resolved=False)
        yesterday = max(self.year_start, self.today - timedelta(days=1))
        self.rate(reopened, self.local(yesterday, self.rng.randrange(9 * 60, 12 * 60)), "dissatisfied", handler=True)
        self.progress(reopened, self.soon(reopened.last))

        withdrawn = letter(pick(routed), 40, anonymous=False)
        self.assign(withdrawn)
        withdrawn.add(self.later(withdrawn.last, 1, quick=False), withdrawn.writer, "withdrawn")
        withdrawn = letter(pick(by_hand), 75, rep=pick(self.active_reps), anonymous=False)
        withdrawn.add(self.soon(withdrawn.last), withdrawn.writer, "withdrawn")
        return plans

    def replay(self, plan: _CasePlan) -> dict[str, Any]:
        """The case row as storage.records.cases leaves it after the plan's steps."""
        state = REGISTERED
        department = ""
        kept_by: int | None = None
        first_action: datetime | None = None
        answered_at: datetime | None = None
        closed_at: datetime | None = None
        answer = rating = reason = ""
        resolved: bool | None = None
        reopened = 0
        extension: tuple[int, str] = (0, "")
        due = plan.due
        for step in plan.steps:
            action = step.action
            if first_action is None and action in ("taken", "progress", "extension_asked", "answered"):
                first_action = step.at
            if action == "sorted":
                state = SORTED
            elif action == "assigned":
                department, kept_by, state = step.detail["department"], None, ASSIGNED
            elif action == "taken":
                department, kept_by, state = "", plan.keeper, IN_PROGRESS
            elif action == "progress":
                state = IN_PROGRESS
            elif action == "extension_asked":
                extension = (step.detail["days"], step.note)
            elif action == "answered":
                state, answer, resolved, answered_at = ANSWERED, step.note, step.detail["resolved"], step.at
                extension = (0, "")
            elif action == "rated":
                rating, reason = step.detail["rating"], step.note
            elif action == "reopened":
                reopened += 1
                state = IN_PROGRESS if kept_by is not None else ASSIGNED if department else SORTED
                answered_at = resolved = None
                due = self.deadline(step.at, plan.category)
            elif action in ("closed", "withdrawn"):
                state = CLOSED if action == "closed" else WITHDRAWN
                closed_at = step.at
        return {
            "source": plan.source,
            "category": plan.category.code,
            "time_limit": plan.category.time_limit,
            "text": plan.concern.text,
            "latitude": None,
            "longitude": None,
            "area_id": plan.area_id,
            "household_id": plan.household_id,
            "visit_id": plan.visit_id,
            "representative_id": plan.representative_id,
            "reported": plan.source == "report",
            "link_token": None,
            "identity_id": None,
            "anonymous": plan.anonymous,
            "name": plan.name,
            "phone": plan.phone,
            "consent": plan.consent,
            "state": state,
            "department": department,
            "kept_by": kept_by,
            "registered_at": plan.registered_at,
            "due_on": due.day,
            "due_provisional": due.provisional,
            "first_action_at": first_action,
            "answered_at": answered_at,
            "answer": answer,
            "resolved": resolved,
            "rating": rating,
            "rating_reason": reason,
            "reopened": reopened,
            "closed_at": closed_at,
            "extension_days": extension[0],
            "extension_reason": extension[1],
            "chased_at": None,
            "escalated_at": None,
            "updated_at": plan.last,
        }

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
            Case,
            CaseEvent,
            CaseCounter,
            ReceptionDay,
            ReceptionDuty,
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
            cases=len(self.rows[Case]),
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


# --- the reception-day rota -------------------------------------------------------------------------------------

RECEPTION_SEED = 20_261_126  # a Random of its own: the rest of the district stays as it was drawn
RECEPTION_WEEKS_BACK, RECEPTION_WEEKS_AHEAD = 3, 4
RECEPTION_HOURS = {
    "community": (time(9, 0), time(11, 30)),
    "village": (time(9, 0), time(12, 0)),
    "school": (time(15, 0), time(17, 0)),
    "hospital": (time(9, 0), time(11, 0)),
    "enterprise": (time(14, 0), time(17, 0)),
}
SWAP_REASON = "当天要参加区里的专题培训，申请调班"


def _reception_rota(district: _District) -> dict[type[SQLModel], list[dict[str, Any]]]:
    """A weekly reception day at every station, from three weeks back to four weeks ahead of `today`, each with one
    or two of its representatives on duty: the past ones held and confirmed, the coming ones partly confirmed, one
    swap asked and one day cancelled. The demo representative's station receives today, with them on duty, so that
    a note can be taken at once."""
    rng = random.Random(RECEPTION_SEED)
    today = district.today
    first, last = today - timedelta(weeks=RECEPTION_WEEKS_BACK), today + timedelta(weeks=RECEPTION_WEEKS_AHEAD)
    stamp = district.local(first - timedelta(days=7), 9 * 60)
    demo = district.demo_rep()
    active = {rep.id for rep in district.active_reps} or {rep.id for rep in district.reps if rep.code != LEFT_OFFICE}
    days: list[dict[str, Any]] = []
    duty: list[dict[str, Any]] = []
    coming: list[dict[str, Any]] = []
    for station in district.stations:
        starts, ends = RECEPTION_HOURS[station.kind]
        place = f"{station.place}党群服务中心" if station.id % 7 == 3 else ""
        reps = [rep_id for rep_id in station.rep_ids if rep_id in active]
        weekly = first + timedelta(days=(station.id % 5 - first.weekday()) % 7)
        dates = [weekly + timedelta(weeks=week) for week in range(RECEPTION_WEEKS_BACK + RECEPTION_WEEKS_AHEAD + 1)]
        dates = [day for day in dates if day <= last and district.calendar.is_working_day(day)]
        if station.id == demo.station_id and today not in dates:
            dates = sorted([*dates, today])
        demo_next = next((day for day in dates if day > today), None) if station.id == demo.station_id else None
        for day in dates:
            held_today = station.id == demo.station_id and day == today
            reception_id = len(days) + 1
            days.append(
                {
                    "id": reception_id,
                    "station_id": station.id,
                    "day": day,
                    "starts": starts,
                    "ends": ends,
                    "place": place,
                    "cancelled": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            on_duty = rng.sample(reps, min(len(reps), rng.choice((1, 2)))) if reps else []
            if station.id == demo.station_id and demo.id not in on_duty and (held_today or day == demo_next):
                on_duty = [demo.id, *on_duty[:1]]
            for rep_id in on_duty:
                confirmed = day < today or (rep_id != demo.id and rng.random() < 0.5)
                row = {
                    "reception_id": reception_id,
                    "representative_id": rep_id,
                    "status": "confirmed" if confirmed else "assigned",
                    "note": "",
                    "answered_at": district.local(day - timedelta(days=3), 10 * 60) if confirmed else None,
                }
                duty.append(row)
                if day > today and rep_id != demo.id:
                    coming.append(row)
    if coming:
        asked = rng.choice(coming)
        asked.update(status="swap_asked", note=SWAP_REASON, answered_at=district.local(today, 8 * 60))
        others = [row for row in days if row["day"] > today and row["id"] != asked["reception_id"]]
        others = [row for row in others if row["station_id"] != demo.station_id]
        if others:
            rng.choice(others).update(cancelled=True, updated_at=district.local(today, 8 * 60))
    return {ReceptionDay: days, ReceptionDuty: duty}


async def _plan_receptions(session: AsyncSession, *, settings: Settings, rows: list[dict[str, Any]]) -> None:
    """The coming days' notices, as storage.records.reception plans them for a day set in the chat."""
    now = utcnow()
    items = [
        item
        for row in rows
        if not row["cancelled"]
        for item in reception.due_items(ReceptionDay(**row), settings=settings)
        if item.expires_at is None or item.expires_at > now
    ]
    await schedule.plan(session, items=items, now=now)
