"""The leaders' digest in words: the weekly text in a reader's language, and the chat's /digest (this week so far),
/overdue (overdue cases) and /behind (representatives behind pace), each within the reader's scope."""

from __future__ import annotations

from datetime import date

from handlers.dialogs import Context
from handlers.events import Reply
from handlers.i18n import t
from storage.errors import InvalidInput, NotAllowed
from storage.exchange import digest_figures, digest_scope
from storage.exchange.digest_figures import DigestFigures, RepFigures
from storage.exchange.digest_scope import DISTRICT, Scope, Week
from storage.settings import Settings
from storage.workdays import calendar_of

OVERDUE_SHOWN = 20  # cases listed by /overdue, longest overdue first; the count says how many more
BEHIND_SHOWN = 30  # representatives listed by /behind, most behind first; the spreadsheet has them all


def scope_label(language: str, scope: Scope) -> str:
    return t(language, "digest.scope_district") if scope.kind == DISTRICT else scope.name


def day_label(language: str, day: date) -> str:
    return t(language, "digest.date", month=day.month, day=day.day)


def digest_text(language: str, figures: DigestFigures, settings: Settings) -> str:
    """The digest's text: the headline sentence, the scope's figures, and its breakdown one level down."""
    week = figures.week
    lines = [
        t(
            language,
            "digest.title_so_far" if figures.so_far else "digest.title",
            scope=scope_label(language, figures.scope),
            year=week.year,
            week=week.number,
            start=day_label(language, figures.start),
            end=day_label(language, figures.end),
        ),
        t(
            language,
            "digest.headline",
            households=figures.households_visited,
            suggestions=figures.suggestions,
            things=figures.things_done,
        ),
        "",
        t(
            language,
            "digest.visits",
            week=figures.visits_week,
            year=figures.visits_year,
            households=figures.households_year,
            in_home=figures.in_home_year,
            share=figures.in_home_share.shown(),
        ),
    ]
    behind = figures.behind
    lines.append(
        t(
            language,
            "digest.pace" if behind else "digest.pace_none",
            count=len(behind),
            representatives=len(figures.in_office),
            margin=figures.behind_margin,
            expected=figures.expected,
        )
    )
    named = behind[: settings.digest.behind_named]
    if named:
        items = [t(language, "digest.behind_item", name=rep.name, code=rep.code, behind=rep.gap) for rep in named]
        key = "digest.behind_named_more" if len(behind) > len(named) else "digest.behind_named"
        lines.append(t(language, key, names=t(language, "list.separator").join(items)))
    if figures.must_visit.whole:
        lines.append(
            t(
                language,
                "digest.must_visit",
                households=figures.must_visit.whole,
                visited=figures.must_visit.part,
                share=figures.must_visit.shown(),
            )
        )
    cases = figures.cases
    lines.append(
        t(
            language,
            "digest.cases",
            new=cases.registered,
            answered=cases.answered,
            overdue=cases.overdue,
            resolved=figures.cases_resolved,
            response=cases.response_rate.shown(),
            resolution=cases.resolution_rate.shown(),
            satisfaction=cases.satisfaction_rate.shown(),
        )
    )
    lines.append(t(language, "digest.mailbox", count=figures.mailbox_items))
    lines.append(t(language, "digest.reception", count=figures.reception_days))
    lines += year_of_work(language, figures, settings)
    if figures.breakdown:
        lines.append("")
        lines.append(
            t(language, "digest.breakdown_group" if figures.breakdown_by == "group" else "digest.breakdown_station")
        )
        for unit in figures.breakdown:
            lines.append(
                t(
                    language,
                    "digest.unit",
                    label=unit.label,
                    visits=unit.visits_week,
                    households=unit.households_week,
                    behind=unit.behind,
                    new=unit.new_cases,
                    overdue=unit.overdue,
                )
            )
    return "\n".join(lines)


def year_of_work(language: str, figures: DigestFigures, settings: Settings) -> list[str]:
    """Proposals (filed this week; this year's by state), the five ones logged, briefings' read shares and events'
    attendance."""
    separator = t(language, "list.separator")
    states = separator.join(
        t(language, "digest.proposal_state_count", state=t(language, f"digest.proposal_state.{state}"), count=count)
        for state, count in figures.proposals_by_state.items()
    )
    lines = [
        t(language, "digest.proposals", filed=figures.proposals, states=states)
        if states
        else t(language, "digest.proposals_none", filed=figures.proposals)
    ]
    five_ones = [
        t(language, "digest.kind_count", kind=kind.label(language), count=figures.five_ones[kind.code])
        for kind in settings.activities.kinds
        if kind.code in figures.five_ones
    ]
    lines.append(
        t(language, "digest.five_ones", kinds=separator.join(five_ones), practical=figures.practical_things)
        if five_ones
        else t(language, "digest.five_ones_none")
    )
    if figures.briefings:
        shares = [
            t(
                language,
                "digest.briefing_item",
                title=one.title,
                read=one.read,
                recipients=one.recipients,
                share=one.share.shown(),
            )
            for one in figures.briefings
        ]
        lines.append(t(language, "digest.briefings", items=separator.join(shares)))
    if figures.events:
        attended = [
            t(
                language,
                "digest.event_item",
                title=one.title,
                kind=t(language, f"digest.event_kind.{one.kind}"),
                date=day_label(language, one.day),
                checked_in=one.checked_in,
                invited=one.invited,
                excused=one.excused,
            )
            for one in figures.events
        ]
        lines.append(t(language, "digest.events", items=separator.join(attended)))
    return lines


async def reader_scope(ctx: Context) -> Scope:
    """The scope of the person asking; the policy let them ask, but a leader's township may be unknown."""
    scope = await digest_scope.scope_of(ctx.session, standing=ctx.standing)
    if scope is None:
        raise NotAllowed("digest.error.no_scope")
    return scope


async def answer_digest(ctx: Context, arguments: str) -> list[Reply]:
    """/digest: this week so far; /digest 2026-W47: that week."""
    scope = await reader_scope(ctx)
    week = Week.parse(arguments) if arguments else Week.of(ctx.today)
    if week.monday > ctx.today:
        raise InvalidInput("digest.error.future_week", week=week.key)
    figures = await digest_figures.figures(
        ctx.session,
        scope=scope,
        week=week,
        today=ctx.today,
        settings=ctx.settings,
        calendar=calendar_of(ctx.settings),
    )
    text = digest_text(ctx.language, figures, ctx.settings)
    return [Reply(text + "\n\n" + ctx.t("digest.files_weekly"))]


async def answer_overdue(ctx: Context, arguments: str) -> list[Reply]:
    """/overdue: the scope's cases past their deadline, longest overdue first."""
    scope = await reader_scope(ctx)
    found = await digest_figures.overdue_cases(
        ctx.session, scope=scope, today=ctx.today, calendar=calendar_of(ctx.settings)
    )
    label = scope_label(ctx.language, scope)
    if not found:
        return [Reply(ctx.t("digest.overdue.none", scope=label))]
    lines = [ctx.t("digest.overdue.title", scope=label, count=len(found), today=day_label(ctx.language, ctx.today))]
    for case in found[:OVERDUE_SHOWN]:
        category = ctx.settings.cases.category(case.category)
        if case.kept_by:
            owner = ctx.t("digest.overdue.kept_by", code=case.kept_by)
        else:
            owner = case.department or ctx.t("digest.overdue.unowned")
        lines.append(
            ctx.t(
                "digest.overdue.line",
                number=case.number,
                category=category.label(ctx.language) if category else case.category,
                owner=owner,
                due=day_label(ctx.language, case.due_on),
                late=case.working_days_late,
            )
        )
    if len(found) > OVERDUE_SHOWN:
        lines.append(ctx.t("digest.overdue.more", count=len(found) - OVERDUE_SHOWN))
    return [Reply("\n".join(lines))]


async def answer_behind(ctx: Context, arguments: str) -> list[Reply]:
    """/behind: the scope's representatives in office behind pace, most behind first."""
    scope = await reader_scope(ctx)
    found = await digest_scope.members(ctx.session, scope=scope)
    week = Week.of(ctx.today)
    representatives = await digest_figures.representative_figures(
        ctx.session, found=found, start=week.monday, end=ctx.today, settings=ctx.settings
    )
    margin = ctx.settings.reminders.behind_margin
    behind = digest_figures.behind_pace(representatives, margin)
    label = scope_label(ctx.language, scope)
    expected = digest_figures.pace(ctx.settings, ctx.today)
    if not behind:
        return [Reply(ctx.t("digest.behind.none", scope=label, margin=margin, expected=expected))]
    lines = [ctx.t("digest.behind.title", scope=label, count=len(behind), margin=margin, expected=expected)]
    lines += [behind_line(ctx, number, rep) for number, rep in enumerate(behind[:BEHIND_SHOWN], start=1)]
    if len(behind) > BEHIND_SHOWN:
        lines.append(ctx.t("digest.behind.more", count=len(behind) - BEHIND_SHOWN))
    return [Reply("\n".join(lines))]


def behind_line(ctx: Context, number: int, rep: RepFigures) -> str:
    return ctx.t(
        "digest.behind.line",
        number=number,
        name=rep.name,
        code=rep.code,
        group=rep.group,
        households=rep.households_year,
        behind=rep.gap,
    )
