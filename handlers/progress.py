"""/progress (进度): a representative's progress on the "one hundred households" as text: quota, in-home share,
rounds, pace; their own with households to visit next, or a colleague's figures for those the policy lets see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from handlers.dialogs import Context
from handlers.events import Reply
from storage import policy
from storage.policy import Action
from storage.records import people, visits
from storage.records.households import HouseholdBrief
from storage.records.visits import Progress
from storage.settings import Settings


class Voice(Protocol):
    """Who the words are for: a dialog's Context, or a reminder's reader outside any conversation."""

    @property
    def language(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    def t(self, key: str, /, **params: Any) -> str: ...


async def answer_progress(ctx: Context, argument: str) -> list[Reply]:
    """Without a code: one's own progress and the households to visit next. With one: that representative's
    figures only (the households are their own business), for the liaison office, leaders and the leader and
    liaison officers of the representative's group."""
    if not argument:
        if not policy.may(ctx.standing, Action.OWN_PROGRESS):
            return [Reply(ctx.t("progress.which"))]
        progress = await visits.progress(
            ctx.session, representative_id=ctx.representative_id, today=ctx.today, settings=ctx.settings
        )
        suggestions = await visits.suggested_households(
            ctx.session, viewer=ctx.standing, today=ctx.today, settings=ctx.settings
        )
        return [Reply(progress_text(ctx, progress, detail=True, suggestions=suggestions))]
    representative = await people.representative_by_code(ctx.session, code=argument)
    assert representative.id is not None
    colleague = policy.Colleague(representative_id=representative.id, group_id=representative.group_id)
    policy.require(ctx.standing, Action.PROGRESS_OF, colleague)
    progress = await visits.progress(
        ctx.session, representative_id=representative.id, today=ctx.today, settings=ctx.settings
    )
    own = representative.id == ctx.standing.representative_id
    header = ctx.t("progress.of", name=representative.name, code=representative.code)
    return [Reply(header + "\n" + progress_text(ctx, progress, detail=True, own=own))]


def progress_text(
    ctx: Voice,
    progress: Progress,
    *,
    detail: bool = False,
    suggestions: Sequence[HouseholdBrief] = (),
    own: bool = True,
) -> str:
    """Quota, pace and in-home share; with `detail` also rounds, must-visits and the suggested households.

    `own` is the representative reading their own progress; others (leaders, the liaison office) get the same
    figures in neutral words.
    """
    t = ctx.t
    lines = [t("progress.title", year=progress.year)]
    lines.append(t("progress.households", count=progress.households, quota=progress.quota))
    if progress.ahead_by >= 0:
        lines.append(t("progress.pace_ahead", expected=progress.expected_by_now, ahead=progress.ahead_by))
    else:
        behind = "progress.pace_behind" if own else "progress.pace_behind_other"
        lines.append(t(behind, expected=progress.expected_by_now, behind=-progress.ahead_by))
    share_ok = progress.in_home_share >= progress.min_in_home_share
    low = "progress.in_home_low" if own else "progress.in_home_low_other"
    lines.append(
        t(
            "progress.in_home_ok" if share_ok else low,
            count=progress.in_home_households,
            share=round(progress.in_home_share * 100),
            minimum=round(progress.min_in_home_share * 100),
        )
    )
    if not detail:
        return "\n".join(lines)

    if progress.rounds_done:
        marks = [
            t("progress.round_done" if done else "progress.round_open", round=round_label(ctx, name))
            for name, done in progress.rounds_done.items()
        ]
        lines.append(t("progress.rounds", rounds=t("list.separator").join(marks)))
    if progress.missing_must_visit:
        names = [
            label.label(ctx.language)
            for code in progress.missing_must_visit
            if (label := ctx.settings.households.category(code)) is not None
        ]
        lines.append(t("progress.must_visit_missing", categories=t("list.separator").join(names)))
    else:
        lines.append(t("progress.must_visit_done"))
    if suggestions:
        lines.append("")
        lines.append(t("progress.suggestions", count=len(suggestions)))
        lines.extend(suggestion_lines(ctx, suggestions))
    return "\n".join(lines)


def suggestion_lines(ctx: Voice, suggestions: Sequence[HouseholdBrief]) -> list[str]:
    """Households to visit next, numbered: address, the head's masked name, their categories."""
    lines = []
    for number, household in enumerate(suggestions, start=1):
        categories = ctx.t("list.separator").join(
            label.label(ctx.language)
            for code in household.categories
            if (label := ctx.settings.households.category(code)) is not None
        )
        lines.append(
            ctx.t(
                "progress.suggestion",
                number=number,
                address=household.address,
                head=household.head,
                categories=categories,
            )
        )
    return lines


def round_label(ctx: Voice, round_code: str) -> str:
    """2026-H2 -> 2026年下半年; 2026-P3 -> 2026年第3轮."""
    year, _, part = round_code.partition("-")
    if part.startswith("H"):
        return ctx.t(f"visit.half.{part}", year=year)
    return ctx.t("visit.period", year=year, number=part[1:])
