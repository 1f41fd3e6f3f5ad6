"""The digest in words: the weekly text in both languages for the hand-counted week, and /digest, /overdue and
/behind as each role reads them through the console, each within its own scope (it is Wednesday 25 November 2026,
10:00 in Shanghai)."""

from __future__ import annotations

import pytest

from handlers.digest import digest_text
from storage.db import Database
from storage.models import Staff
from storage.settings import Settings
from tests.factories import Clock, chat_as
from tests.storage.exchange.test_digest_figures import (
    EAST_GROUP,
    HAPPY_STATION,
    HAPPY_TOWN,
    W47,
    DigestDistrict,
    digest_district,
    figures_of,
    small_quota,
)

LEADERS_ONLY = "周报、逾期诉求和落后名单只对领导、联络办公室和代表小组组长开放。"
OVERDUE_C2 = "LX-2026-000002｜其他｜待分派｜应于11月20日答复，已逾期3个工作日"


@pytest.fixture
def quota(settings: Settings) -> Settings:
    return small_quota(settings)


@pytest.fixture
async def fixture(db: Database, quota: Settings) -> DigestDistrict:
    return await digest_district(db, quota)


async def test_the_weeks_text_in_chinese(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    figures = await figures_of(db, quota, "district", week=W47)
    assert digest_text("zh-CN", figures, quota).splitlines() == [
        "【连心周报】全区｜2026年第47周（11月16日—11月22日）",
        "本周共走访联系群众4户，收集建议意见3条，办实事解难事2件。",
        "",
        "走访：本周5次，今年累计7次；今年联系群众6户，其中入户走访4户（占66.7%）。",
        "进度：在任代表4人，1人落后于进度1户以上（按进度今年应达3户）。",
        "落后较多：李红梅（D002，差2户）。",
        "五必访：辖区五必访对象4户，今年已走访3户（覆盖75%）。",
        "诉求：新登记3件，答复3件（已解决2件），逾期未办1件；响应率50%，解决率50%，满意率100%。",
        "信箱：来信2件（含连心卡）。",
        "接待日：举办1场。",
        "提案：本周提交0件；今年还没有提案。",
        "五个一：本周没有新记录。",
        "",
        "各代表小组（走访次数/户数，落后人数，新诉求，逾期）：",
        "· 幸福街道代表小组：走访4次/3户，落后1人，新诉求2件，逾期1件",
        "· 东山村代表小组：走访1次/2户，落后0人，新诉求1件，逾期0件",
    ]


async def test_the_weeks_text_in_english_names_only_the_first_behind(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    strict = quota.model_copy(
        update={
            "reminders": quota.reminders.model_copy(update={"behind_margin": 0}),
            "digest": quota.digest.model_copy(update={"behind_named": 1}),
        }
    )
    figures = await figures_of(db, strict, "district", week=W47)
    text = digest_text("en", figures, strict).splitlines()
    assert text[:2] == [
        "[Lianxin weekly digest] The district | 2026 week 47 (11/16-11/22)",
        "This week: 4 households visited, 3 suggestions and opinions collected, 2 practical things done.",
    ]
    # Everyone in office is short of the pace of 3 now; the most behind is named, the rest are counted.
    assert "Pace: of 4 representatives in office, 4 are more than 0 households behind" in text[4]
    assert text[5] == "Most behind: 李红梅 (D002, 2 short) and more; the spreadsheet or /behind lists them all."
    assert text[7] == (
        "Cases: 3 new, 3 answered (2 resolved), 1 overdue; response rate 50%, resolution rate 50%, "
        "satisfaction rate 100%."
    )


async def test_leaders_read_this_week_so_far_or_a_week_they_name(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    district = await chat_as(db, quota, "leader:L01", Clock())
    await district.talk(
        [
            (
                "/digest",
                [
                    "【连心周报】全区｜2026年第48周（11月23日至今，截至11月25日）",
                    "本周共走访联系群众1户，收集建议意见1条，办实事解难事0件。",
                    "图表和代表明细表随每周的周报一起发送",
                ],
            ),
            ("周报 2026-W47", ["2026年第47周（11月16日—11月22日）", "本周共走访联系群众4户", "· 东山村代表小组"]),
            ("/digest 2026-W50", "2026-W50 还没有开始，没有可以统计的数据。"),
            ("/digest 上周", "“上周”不是周次，请按 2026-W47 的格式写"),
            ("/lang en", "English"),
            ("/digest 2026-W47", "[Lianxin weekly digest] The district | 2026 week 47 (11/16-11/22)"),
        ]
    )
    township = await chat_as(db, quota, "leader:L02", Clock())
    answer = await township.send("周报 2026-W47")
    assert f"【连心周报】{HAPPY_TOWN}｜2026年第47周" in answer
    assert "本周共走访联系群众3户，收集建议意见2条，办实事解难事2件。" in answer
    assert f"· {HAPPY_STATION}：走访4次/3户，落后1人，新诉求2件，逾期1件" in answer
    assert "东山" not in answer


async def test_a_group_leader_reads_the_group_and_members_may_not(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    east = await chat_as(db, quota, "representative:T009", Clock())
    answer = await east.send("/digest 2026-W47")
    assert f"【连心周报】{EAST_GROUP}｜2026年第47周" in answer
    assert "本周共走访联系群众2户，收集建议意见1条，办实事解难事0件。" in answer  # H5, and H2 as a companion
    assert "/digest" in await east.send("/help")
    for who in ("representative:T001", "resident:amy", "department:B01"):
        chat = await chat_as(db, quota, who, Clock())
        for command in ("/digest", "/overdue", "落后"):
            assert LEADERS_ONLY in await chat.send(command), (who, command)
        assert "/digest" not in await chat.send("/help"), who


async def test_overdue_cases_within_the_readers_scope(db: Database, quota: Settings, fixture: DigestDistrict) -> None:
    district = await chat_as(db, quota, "liaison:O01", Clock())
    await district.talk([("/overdue", ["全区逾期未办的诉求共1件（截至11月25日，逾期最久的在前）：", OVERDUE_C2])])
    assert OVERDUE_C2 in await (await chat_as(db, quota, "leader:L02", Clock())).send("逾期")
    east = await chat_as(db, quota, "representative:T009", Clock())
    assert await east.send("/overdue") == f"{EAST_GROUP}目前没有逾期未办的诉求。"


async def test_representatives_behind_pace_within_the_readers_scope(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    """On 25 November: D001 2 households, D002 1, T001 3 (H2 on the 24th), T009 2; an even pace is 3."""
    district = await chat_as(db, quota, "leader:L01", Clock())
    assert (await district.send("/behind")).splitlines() == [
        "全区落后于进度1户以上的在任代表共1人（按进度今年应达3户，落后最多的在前）：",
        "1. 李红梅（D002，幸福街道代表小组）：今年联系1户，差2户",
    ]
    east = await chat_as(db, quota, "representative:T009", Clock())
    assert await east.send("落后") == f"{EAST_GROUP}没有落后于进度1户以上的在任代表（按进度今年应达3户）。"


async def test_a_leader_of_a_township_with_no_station_is_told_so(
    db: Database, quota: Settings, fixture: DigestDistrict
) -> None:
    async with db.transaction() as session:
        session.add(Staff(code="L03", name="镇领导", role="leader", unit="新镇党委", township="新镇"))
    chat = await chat_as(db, quota, "leader:L03", Clock())
    assert "没有属于“新镇”的党代表工作站" in await chat.send("/digest")
