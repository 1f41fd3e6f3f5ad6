"""/activity (活动, 五个一): a representative logs one of the "five ones" or another activity, with the day, what
was done and evidence (photos, documents); the question begins with this year's five-ones tally. `/activity list`
(or its button) shows this year's activities."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import text_answer, visit_day
from storage.errors import InvalidInput
from storage.policy import Action
from storage.records import activities
from storage.records.activities import Evidence
from storage.settings import ActivityKind

LIST_WORDS = frozenset({"list", "列表", "清单"})
FIVE_ONES_MARK = "⭐"


def kind_name(ctx: Context, code: str) -> str:
    kind = ctx.settings.activities.kind(code)
    return kind.label(ctx.language) if kind is not None else code


def ordered_kinds(ctx: Context) -> list[ActivityKind]:
    """The five ones first, then the other forms, each in config order."""
    kinds = ctx.settings.activities.kinds
    return [kind for kind in kinds if kind.five_ones] + [kind for kind in kinds if not kind.five_ones]


async def tally_text(ctx: Context) -> str:
    """今年五个一：调研报告 ✓ 办实事 2 ...; and which are still missing."""
    tally = await activities.five_ones_tally(
        ctx.session, representative_id=ctx.representative_id, year=ctx.today.year, settings=ctx.settings
    )
    shown = [
        ctx.t("activity.tally.done" if count == 1 else "activity.tally.count", kind=kind_name(ctx, code), count=count)
        for code, count in tally.items()
        if count
    ]
    missing = [kind_name(ctx, code) for code, count in tally.items() if not count]
    separator = ctx.t("list.separator")
    lines = [ctx.t("activity.tally.line", done=" ".join(shown) if shown else ctx.t("activity.tally.nothing"))]
    lines.append(
        ctx.t("activity.tally.missing", kinds=separator.join(missing)) if missing else ctx.t("activity.tally.all")
    )
    return "\n".join(lines)


async def year_list(ctx: Context) -> Reply:
    logged = await activities.of_year(ctx.session, representative_id=ctx.representative_id, year=ctx.today.year)
    lines = [await tally_text(ctx), "", ctx.t("activity.list.title", year=ctx.today.year, count=len(logged))]
    for activity, evidence in logged:
        mark = FIVE_ONES_MARK if (kind := ctx.settings.activities.kind(activity.kind)) and kind.five_ones else "•"
        lines.append(
            ctx.t(
                "activity.list.line",
                mark=mark,
                date=activity.done_on.strftime("%m-%d"),
                kind=kind_name(ctx, activity.kind),
                summary=activity.summary if len(activity.summary) <= 40 else activity.summary[:40] + "…",
                evidence=ctx.t("activity.list.evidence", count=evidence) if evidence else "",
            )
        )
    if not logged:
        lines.append(ctx.t("activity.list.none"))
    return Reply("\n".join(lines), (Button(f"{COMMAND_BUTTON}/activity", ctx.t("activity.button.log")),))


def listing(draft: dict[str, Any]) -> bool:
    return draft.get("do") == "list"


class KindStep(Step):
    key = "kind"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def applies(self, draft: dict[str, Any]) -> bool:
        return not listing(draft)

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = [
            Button(
                f"activity:kind:{kind.code}",
                f"{FIVE_ONES_MARK} {kind.label(ctx.language)}" if kind.five_ones else kind.label(ctx.language),
                aliases=(kind.label(ctx.language),),
            )
            for kind in ordered_kinds(ctx)
        ]
        buttons.append(Button("activity:list", ctx.t("activity.button.list")))
        return Prompt(await tally_text(ctx) + "\n\n" + ctx.t("activity.ask.kind"), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "activity:list":
            ctx.draft["do"] = "list"
            return Outcome.NEXT
        code = inbound.data.removeprefix("activity:kind:")
        if ctx.settings.activities.kind(code) is None:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["kind"] = code
        return Outcome.NEXT


def activity_day(text: str, *, today: date) -> date:
    """今天 / 昨天 / 12-01 / 2026-12-01: not in the future, not before this year."""
    try:
        day = visit_day(text, today=today)
    except InvalidInput as problem:
        if problem.key == "visit.error.future_date":
            raise InvalidInput("activity.error.future") from None
        if problem.key == "input.date_too_old":
            raise InvalidInput("activity.error.last_year", year=today.year) from None
        raise
    if day.year != today.year:
        raise InvalidInput("activity.error.last_year", year=today.year)
    return day


class DayStep(Step):
    """Today unless changed from the confirmation."""

    key = "done_on"
    silent = True

    def applies(self, draft: dict[str, Any]) -> bool:
        return not listing(draft)

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = (
            Button("activity:day:0", ctx.t("activity.today")),
            Button("activity:day:1", ctx.t("activity.yesterday")),
        )
        return Prompt(ctx.t("activity.ask.day"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            typed = {"activity:day:0": "today", "activity:day:1": "yesterday"}.get(inbound.data)
            if typed is None:
                raise InvalidInput("dialog.stale_button")
        else:
            typed = inbound.text
        ctx.draft["done_on"] = activity_day(typed, today=ctx.today).isoformat()
        return Outcome.NEXT


class SummaryStep(Step):
    key = "summary"

    def applies(self, draft: dict[str, Any]) -> bool:
        return not listing(draft)

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.activities.max_summary_length}

    async def prompt(self, ctx: Context) -> Prompt:
        kind = kind_name(ctx, ctx.draft.get("kind", ""))
        return Prompt(ctx.t("activity.ask.summary", kind=kind, limit=ctx.settings.activities.max_summary_length))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["summary"] = text_answer(inbound.text, limit=ctx.settings.activities.max_summary_length)
        return Outcome.NEXT


class EvidenceStep(Step):
    """Photos and documents, as many as activities.max_evidence; a button finishes (or skips)."""

    key = "evidence_ok"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"photo", "document"})

    def applies(self, draft: dict[str, Any]) -> bool:
        return not listing(draft) and draft.get("_max_evidence", 1) > 0

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.activities.max_evidence}

    async def prompt(self, ctx: Context) -> Prompt:
        count = len(ctx.draft.get("evidence", []))
        limit = ctx.settings.activities.max_evidence
        if count:
            return Prompt(
                ctx.t("activity.ask.more_evidence", count=count, limit=limit),
                (
                    Button("activity:evidence:done", ctx.t("button.done")),
                    Button("activity:evidence:clear", ctx.t("activity.button.clear_evidence")),
                ),
            )
        return Prompt(
            ctx.t("activity.ask.evidence", limit=limit), (Button("activity:evidence:done", ctx.t("button.skip")),)
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "activity:evidence:clear":
            ctx.draft["evidence"] = []
            return Outcome.STAY
        if inbound.kind == "button":
            ctx.draft["evidence_ok"] = True
            return Outcome.NEXT
        evidence = list(ctx.draft.get("evidence", []))
        limit = ctx.settings.activities.max_evidence
        if len(evidence) >= limit:
            raise InvalidInput("activity.error.too_much_evidence", limit=limit)
        reference = inbound.photo if inbound.kind == "photo" else inbound.document
        evidence.append([inbound.kind, reference])
        ctx.draft["evidence"] = evidence
        return Outcome.STAY


class ActivityConfirmStep(ConfirmStep):
    def applies(self, draft: dict[str, Any]) -> bool:
        return not listing(draft)


def summary(ctx: Context) -> str:
    draft = ctx.draft
    evidence = draft.get("evidence", [])
    return "\n".join(
        [
            ctx.t("activity.summary.kind", kind=kind_name(ctx, draft.get("kind", ""))),
            ctx.t("activity.summary.day", date=draft.get("done_on", "")),
            ctx.t("activity.summary.text", summary=draft.get("summary", "")),
            ctx.t(
                "activity.summary.evidence",
                photos=sum(1 for kind, _ in evidence if kind == "photo"),
                documents=sum(1 for kind, _ in evidence if kind == "document"),
            ),
        ]
    )


KIND, DAY, SUMMARY, EVIDENCE = KindStep(), DayStep(), SummaryStep(), EvidenceStep()
EDITABLE = (KIND, DAY, SUMMARY, EVIDENCE)


class ActivityFlow(Flow):
    """/activity: log an activity; `/activity list`: this year's."""

    name = "activity"
    action = Action.LOG_ACTIVITY
    steps = (KIND, SUMMARY, EVIDENCE, DAY, ActivityConfirmStep("activity", summary=summary, editable=EDITABLE))

    async def prefill(self, ctx: Context, arguments: str) -> None:
        ctx.draft["_max_evidence"] = ctx.settings.activities.max_evidence
        if arguments.strip().lower() in LIST_WORDS:
            ctx.draft["do"] = "list"
            return
        ctx.draft["done_on"] = ctx.today.isoformat()

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        if listing(draft):
            return [await year_list(ctx)]
        activity = await activities.log_activity(
            ctx.session,
            standing=ctx.standing,
            kind=draft["kind"],
            done_on=date.fromisoformat(draft["done_on"]),
            summary=draft["summary"],
            evidence=[Evidence(kind, reference) for kind, reference in draft.get("evidence", [])],
            settings=ctx.settings,
            today=ctx.today,
            now=ctx.now,
        )
        text = ctx.t("activity.saved", id=activity.id, summary=summary(ctx)) + "\n\n" + await tally_text(ctx)
        buttons = (
            Button(f"{COMMAND_BUTTON}/activity", ctx.t("activity.button.log_more")),
            Button(f"{COMMAND_BUTTON}/activity list", ctx.t("activity.button.list")),
        )
        return [Reply(text, buttons)]
