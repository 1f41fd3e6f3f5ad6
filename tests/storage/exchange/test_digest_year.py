"""The digest's figures of the rest of a representative's year: proposals, the five ones, briefings' read shares and
events' attendance, counted by hand for the district and a township on top of test_digest_figures' week; and the
headline's Y and Z, which count proposals filed and practical things done."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlmodel import select

from handlers.digest import digest_text
from storage.db import Database
from storage.exchange import digest_figures
from storage.models import (
    Activity,
    Briefing,
    BriefingRecipient,
    EventInvitation,
    ProgrammeEvent,
    Proposal,
    Staff,
)
from storage.records import proposals
from storage.settings import Settings
from tests.storage.exchange.test_digest_figures import (
    HAPPY_TOWN,
    W47,
    DigestDistrict,
    digest_district,
    figures_of,
    headline,
    small_quota,
)


@pytest.fixture
def quota(settings: Settings) -> Settings:
    return small_quota(settings)


def local(settings: Settings, day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=settings.zone)


@pytest.fixture
async def year(db: Database, quota: Settings) -> DigestDistrict:
    """test_digest_figures' district and week (W47: 16-22 November 2026), and:

    Proposals (author, drafted, submitted, state now):
      P1 D001 10 Nov, 17 Nov, established     P2 T009 18 Nov, 18 Nov, assigned     P3 D002 20 Nov, -, signing
      P4 D001 20 Sep, 1 Oct, closed           P5 T001 1 Dec 2025, 2 Dec 2025, answered (last year's)
      P6 D001 23 Nov, 23 Nov, submitted (after the week)
    Activities (who, kind, logged): A1 D001 practical thing 17 Nov; A2 T009 practical thing 19 Nov; A3 D002 research
      report 20 Nov; A4 D001 heart-to-heart talk 18 Nov (not one of the five); A5 T001 practical thing 24 Nov (W48).
    Briefings: B1 sent 18 Nov to D001 (read), D002, T001 (read), T009 (read); B2 sent 10 Nov to D001 (read).
    Events: E1 a training on 19 Nov: D001 checked in, D002 excused, T001 said yes but did not come, T009 checked in;
      E2 a collective activity on 20 Nov, cancelled, D001 invited."""
    fixture = await digest_district(db, quota)
    reps = fixture.district.representatives
    async with db.transaction() as session:
        office = (await session.exec(select(Staff).where(Staff.code == "O01"))).one()
        for number, (code, drafted, submitted, state) in enumerate(
            (
                ("D001", "2026-11-10", "2026-11-17", "established"),
                ("T009", "2026-11-18", "2026-11-18", "assigned"),
                ("D002", "2026-11-20", None, "signing"),
                ("D001", "2026-09-20", "2026-10-01", "closed"),
                ("T001", "2025-12-01", "2025-12-02", "answered"),
                ("D001", "2026-11-23", "2026-11-23", "submitted"),
            ),
            1,
        ):
            session.add(
                Proposal(
                    number=f"TA-2026-{number:04d}",
                    kind="proposal",
                    title=f"P{number}",
                    body="……",
                    author_id=reps[code],
                    state=state,
                    created_at=local(quota, drafted),
                    submitted_at=local(quota, submitted) if submitted else None,
                )
            )
        for code, kind, logged in (
            ("D001", "practical_thing", "2026-11-17"),
            ("T009", "practical_thing", "2026-11-19"),
            ("D002", "research_report", "2026-11-20"),
            ("D001", "heart_talk", "2026-11-18"),
            ("T001", "practical_thing", "2026-11-24"),
        ):
            session.add(
                Activity(
                    representative_id=reps[code],
                    kind=kind,
                    done_on=date.fromisoformat(logged),
                    summary="……",
                    created_at=local(quota, logged),
                )
            )
        assert office.id is not None
        b1 = Briefing(sender_id=office.id, title="B1", body="……", sent_at=local(quota, "2026-11-18", 9))
        b2 = Briefing(sender_id=office.id, title="B2", body="……", sent_at=local(quota, "2026-11-10", 9))
        e1 = ProgrammeEvent(
            kind="training",
            title="E1",
            starts_at=local(quota, "2026-11-19", 14),
            ends_at=local(quota, "2026-11-19", 17),
        )
        e2 = ProgrammeEvent(
            kind="collective",
            title="E2",
            starts_at=local(quota, "2026-11-20", 9),
            ends_at=local(quota, "2026-11-20", 11),
            cancelled=True,
        )
        session.add_all([b1, b2, e1, e2])
        await session.flush()
        assert b1.id and b2.id and e1.id and e2.id
        read = local(quota, "2026-11-19")
        for code, was_read in (("D001", True), ("D002", False), ("T001", True), ("T009", True)):
            session.add(
                BriefingRecipient(briefing_id=b1.id, representative_id=reps[code], read_at=read if was_read else None)
            )
        session.add(BriefingRecipient(briefing_id=b2.id, representative_id=reps["D001"], read_at=read))
        came = local(quota, "2026-11-19", 14)
        for code, answer, checked_in in (
            ("D001", "attend", True),
            ("D002", "excused", False),
            ("T001", "attend", False),
            ("T009", "attend", True),
        ):
            session.add(
                EventInvitation(
                    event_id=e1.id,
                    representative_id=reps[code],
                    answer=answer,
                    checked_in_at=came if checked_in else None,
                )
            )
        session.add(EventInvitation(event_id=e2.id, representative_id=reps["D001"], answer="attend"))
    return fixture


async def test_the_districts_year_of_work_counted_by_hand(db: Database, quota: Settings, year: DigestDistrict) -> None:
    figures = await figures_of(db, quota, "district", week=W47)
    # Y: the week's three cases and P1, P2 filed in it. Z: C1 and C4 resolved, A1 and A2 practical things done.
    assert headline(figures) == (4, 5, 4)
    assert (figures.proposals, figures.practical_things) == (2, 2)
    # This year's proposals by their state now: P1-P4 (P5 is last year's, P6 was drafted after the week).
    assert figures.proposals_by_state == {"signing": 1, "established": 1, "assigned": 1, "closed": 1}
    assert figures.five_ones == {"research_report": 1, "practical_thing": 2}  # the talk is not one of the five
    assert [(one.title, one.read, one.recipients, one.share.shown()) for one in figures.briefings] == [
        ("B1", 3, 4, "75%")
    ]
    assert [(one.title, one.kind, one.day, one.checked_in, one.excused, one.invited) for one in figures.events] == [
        ("E1", "training", date(2026, 11, 19), 2, 1, 4)
    ]
    got = figures.as_dict()
    assert (got["suggestions"], got["things_done"], got["proposals"], got["practical_things"]) == (5, 4, 2, 2)
    assert got["briefings"] == [{"title": "B1", "sent_on": "2026-11-18", "read": 3, "recipients": 4}]
    assert got["events"][0]["checked_in"] == 2


async def test_a_township_counts_its_own_representatives_work(
    db: Database, quota: Settings, year: DigestDistrict
) -> None:
    happy = await figures_of(db, quota, f"township:{HAPPY_TOWN}")
    # D001, D002, T001 (and D009) sit in 幸福街道: P1 filed, A1 practical; T009's P2 and A2 are 东山镇's.
    assert headline(happy) == (3, 3, 3)
    assert happy.proposals_by_state == {"signing": 1, "established": 1, "closed": 1}
    assert happy.five_ones == {"research_report": 1, "practical_thing": 1}
    assert [(one.read, one.recipients) for one in happy.briefings] == [(2, 3)]
    assert [(one.checked_in, one.excused, one.invited) for one in happy.events] == [(1, 1, 3)]


async def test_the_text_says_it_in_both_languages(db: Database, quota: Settings, year: DigestDistrict) -> None:
    figures = await figures_of(db, quota, "district", week=W47)
    chinese = digest_text("zh-CN", figures, quota).splitlines()
    assert chinese[1] == "本周共走访联系群众4户，收集建议意见5条，办实事解难事4件。"
    assert "提案：本周提交2件；今年的提案（提议、质询案）征集附议1件、已确立1件、办理中1件、已办结1件。" in chinese
    assert "五个一：本周记录调研报告1项、办实事2项（其中办实事2件计入“办实事解难事”）。" in chinese
    assert "通报阅读：《B1》已阅3/4人（75%）。" in chinese
    assert "活动出勤：培训“E1”（11月19日）签到2/4人，请假1人。" in chinese
    english = digest_text("en", figures, quota)
    assert (
        "Proposals: 2 filed this week; this year's proposals (motions, inquiries): 1 collecting co-signers" in english
    )
    assert "“B1” read by 3/4 (75%)" in english
    assert "Training “E1” (" in english


def test_the_digest_knows_every_state_a_proposal_can_be_in() -> None:
    assert sorted(digest_figures.PROPOSAL_STATES) == sorted(proposals.STATES)
