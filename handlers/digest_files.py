"""The digest's files: the chart (a PNG drawn with matplotlib's Agg backend) and the spreadsheet of representatives
(an XLSX written with openpyxl), in the reader's language. Both libraries are loaded only when a file is made, so
that no other command pays for them."""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handlers.digest import scope_label
from handlers.fonts import CjkFont, find_cjk_font
from handlers.i18n import t
from storage.exchange.case_figures import Rate
from storage.exchange.digest_figures import COMPLETION_BINS, BriefingShare, DigestFigures, EventAttendance
from storage.exchange.spreadsheets import defused

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

CHART_INCHES = (12.0, 5.0)
CHART_DPI = 100
CHART_PIXELS = (int(CHART_INCHES[0] * CHART_DPI), int(CHART_INCHES[1] * CHART_DPI))
RED, GOLD, GREY = "#c41230", "#e8b84c", "#5a5a5a"
UNSAFE = re.compile(r"[^\w-]+")  # in a file name: anything but letters (Chinese ones too), digits, _ and -


@functools.cache
def cjk_font(configured: str = "") -> CjkFont | None:
    """The Chinese font (the contact card's finder and setting), looked for once per process."""
    found = find_cjk_font(configured)
    if found is None:
        log.warning("digest: no font with Chinese glyphs found; charts are labelled in English")
    return found


def chart_language(language: str, font: CjkFont | None) -> str:
    """The labels' language: the reader's, except Chinese without a font that draws it (English then)."""
    return language if language == "en" or font is not None else "en"


def draw_chart(figures: DigestFigures, language: str, *, font: CjkFont | None) -> Figure:
    """The chart as a matplotlib Figure, not yet saved: weekly visits over the year so far, and representatives in
    office by the share of the year's quota reached."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    language = chart_language(language, font)

    def text_font(size: float) -> FontProperties:
        # The Chinese font draws Latin letters too: an English chart uses it as well, for the names of townships,
        # groups and stations in it.
        if font is None:
            return FontProperties(size=size)
        return FontProperties(fname=_font_path(font), size=size)

    week = figures.week
    scope = scope_label(language, figures.scope)
    if font is None and not scope.isascii():  # a name this chart cannot draw: the week alone
        title = t(language, "digest.chart.title_week", year=week.year, week=week.number)
    else:
        title = t(language, "digest.chart.title", scope=scope, year=week.year, week=week.number)
    chart = Figure(figsize=CHART_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(chart)
    chart.suptitle(title, fontproperties=text_font(15))
    weekly, quota = chart.subplots(1, 2, width_ratios=(3, 2))

    counts = [count for _, count in figures.weekly_visits]
    colours = [GOLD if shown == week else RED for shown, _ in figures.weekly_visits]
    weekly.bar(range(len(counts)), counts, color=colours, width=0.8)
    # Every fourth week is labelled, and the digest's own; a label too close to the digest's would overlap it.
    current = next((index for index, (shown, _) in enumerate(figures.weekly_visits) if shown == week), -10)
    ticks = [
        index
        for index, (shown, _) in enumerate(figures.weekly_visits)
        if index == current or (shown.number % 4 == 1 and abs(index - current) > 2)
    ]
    weekly.set_xticks(ticks, [f"W{figures.weekly_visits[index][0].number:02d}" for index in ticks], fontsize=8)
    weekly.set_title(t(language, "digest.chart.weekly"), fontproperties=text_font(12))
    weekly.set_xlabel(t(language, "digest.chart.week_axis"), fontproperties=text_font(10))
    weekly.set_ylabel(t(language, "digest.chart.visits_axis"), fontproperties=text_font(10))
    weekly.spines[["top", "right"]].set_visible(False)

    completion = figures.completion()
    bars = quota.bar(range(len(COMPLETION_BINS)), [completion[name] for name in COMPLETION_BINS], color=RED)
    quota.bar_label(bars, fontsize=9, color=GREY)
    quota.set_xticks(range(len(COMPLETION_BINS)), list(COMPLETION_BINS), fontsize=9)
    quota.set_title(t(language, "digest.chart.quota"), fontproperties=text_font(12))
    quota.set_xlabel(t(language, "digest.chart.share_axis"), fontproperties=text_font(10))
    quota.set_ylabel(t(language, "digest.chart.reps_axis"), fontproperties=text_font(10))
    quota.spines[["top", "right"]].set_visible(False)
    return chart


def chart_labels(chart: Figure) -> list[str]:
    """The words drawn on a chart: its title, then each panel's title and axis labels."""
    title = chart.get_suptitle()
    labels = [title] if title else []
    for axes in chart.axes:
        labels += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
    return labels


def _font_path(font: CjkFont) -> str:
    """The font file for matplotlib, with the face of a collection (.ttc) where matplotlib can pick one."""
    from matplotlib import font_manager

    font_path: Any = getattr(font_manager, "FontPath", None)
    if font.index and font_path is not None:
        return str(font_path(str(font.path), font.index))
    return str(font.path)


def write_chart(path: Path, figures: DigestFigures, language: str, *, font: CjkFont | None) -> None:
    chart = draw_chart(figures, language, font=font)
    _replace(path, lambda partial: chart.savefig(partial, format="png", dpi=CHART_DPI))


# --- the spreadsheet ----------------------------------------------------------------------------------------


def sheet_rows(figures: DigestFigures, language: str) -> list[list[str | int]]:
    """The representatives' sheet: the header, one row per representative of the scope (by code), the total row
    (the text's figures: households distinct, not summed), and a note saying so."""
    rows: list[list[str | int]] = [
        [
            t(language, "digest.sheet.code"),
            t(language, "digest.sheet.name"),
            t(language, "digest.sheet.level"),
            t(language, "digest.sheet.group"),
            t(language, "digest.sheet.station"),
            t(language, "digest.sheet.in_office"),
            t(language, "digest.sheet.visits_week"),
            t(language, "digest.sheet.households_week"),
            t(language, "digest.sheet.visits_year"),
            t(language, "digest.sheet.households_year"),
            t(language, "digest.sheet.in_home"),
            t(language, "digest.sheet.expected"),
            t(language, "digest.sheet.gap"),
        ]
    ]
    for rep in figures.representatives:
        rows.append(
            [
                rep.code,
                defused(rep.name),
                t(
                    language,
                    "digest.sheet.level_district" if rep.level == "district" else "digest.sheet.level_township",
                ),
                defused(rep.group),
                defused(rep.station),
                t(language, "digest.sheet.yes" if rep.active else "digest.sheet.no"),
                rep.visits_week,
                rep.households_week,
                rep.visits_year,
                rep.households_year,
                rep.in_home_year,
                rep.expected,
                rep.gap,
            ]
        )
    rows.append(
        [
            t(language, "digest.sheet.total"),
            "",
            "",
            "",
            "",
            len(figures.in_office),
            figures.visits_week,
            figures.households_visited,
            figures.visits_year,
            figures.households_year,
            figures.in_home_year,
            figures.expected,
            "",
        ]
    )
    rows.append([t(language, "digest.sheet.note")])
    return rows


def summary_rows(figures: DigestFigures, language: str) -> list[list[str | int]]:
    """The summary sheet: the scope, the period and the text's figures, one per row."""
    cases = figures.cases
    period = f"{figures.week.key} ({figures.start.isoformat()} — {figures.end.isoformat()})"
    return [
        [t(language, "digest.sheet.item"), t(language, "digest.sheet.value")],
        [t(language, "digest.sheet.scope"), defused(scope_label(language, figures.scope))],
        [t(language, "digest.sheet.period"), period],
        [t(language, "digest.sheet.households_visited"), figures.households_visited],
        [t(language, "digest.sheet.suggestions"), figures.suggestions],
        [t(language, "digest.sheet.things_done"), figures.things_done],
        [t(language, "digest.sheet.visits_week"), figures.visits_week],
        [t(language, "digest.sheet.visits_year"), figures.visits_year],
        [t(language, "digest.sheet.households_year"), figures.households_year],
        [t(language, "digest.sheet.in_home"), figures.in_home_year],
        [t(language, "digest.sheet.in_home_share"), figures.in_home_share.shown()],
        [t(language, "digest.sheet.behind"), len(figures.behind)],
        [t(language, "digest.sheet.must_visit"), figures.must_visit.shown()],
        [t(language, "digest.sheet.cases_new"), cases.registered],
        [t(language, "digest.sheet.cases_answered"), cases.answered],
        [t(language, "digest.sheet.cases_overdue"), cases.overdue],
        [t(language, "digest.sheet.response_rate"), cases.response_rate.shown()],
        [t(language, "digest.sheet.resolution_rate"), cases.resolution_rate.shown()],
        [t(language, "digest.sheet.satisfaction_rate"), cases.satisfaction_rate.shown()],
        [t(language, "digest.sheet.mailbox"), figures.mailbox_items],
        [t(language, "digest.sheet.reception"), figures.reception_days],
        [t(language, "digest.sheet.proposals"), figures.proposals],
        [t(language, "digest.sheet.practical_things"), figures.practical_things],
        [t(language, "digest.sheet.five_ones"), sum(figures.five_ones.values())],
        [t(language, "digest.sheet.briefings_read"), _shares(figures.briefings)],
        [t(language, "digest.sheet.attendance"), _shares(figures.events)],
    ]


def _shares(items: list[BriefingShare] | list[EventAttendance]) -> str:
    """Read or checked in, of all the period's briefings or events together: 212/300 (70.7%); empty for none."""
    if not items:
        return ""
    total = Rate(sum(item.share.part for item in items), sum(item.share.whole for item in items))
    return f"{total.part}/{total.whole} ({total.shown()})"


def write_sheet(path: Path, figures: DigestFigures, language: str) -> None:
    import openpyxl  # loaded for spreadsheets only: it costs every command start-up time
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = t(language, "digest.sheet.representatives")
    for row in sheet_rows(figures, language):
        sheet.append(row)
    sheet.freeze_panes = "C2"
    widths = (8, 10, 14, 20, 26, 6, 10, 10, 10, 10, 10, 10, 10)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    summary = workbook.create_sheet(t(language, "digest.sheet.summary"))
    for row in summary_rows(figures, language):
        summary.append(row)
    summary.column_dimensions["A"].width = 30
    summary.column_dimensions["B"].width = 34
    _replace(path, lambda partial: workbook.save(partial))


def _replace(path: Path, write: Any) -> None:
    """Write next to `path` and rename, so that a reader never finds half a file under the real name."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# --- both, for a reader ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestFiles:
    chart: Path
    sheet: Path


def scope_slug(figures: DigestFigures) -> str:
    """district, township-东山街道, group-东山街道代表小组: a file name's part (organisation names only)."""
    if figures.scope.kind == "district":
        return "district"
    return f"{figures.scope.kind}-{UNSAFE.sub('_', figures.scope.name)}"


def make_files(
    directory: Path, figures: DigestFigures, language: str, *, font: CjkFont | None, reuse: bool = True
) -> DigestFiles:
    """The chart and the spreadsheet of a scope in a language under `directory` (made if missing). With `reuse`,
    files already there are kept: one chart and one sheet per scope and language serve every reader who shares
    them. Blocking (matplotlib, openpyxl, the disk): run it in a thread."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{figures.week.key}-{scope_slug(figures)}-{language}"
    files = DigestFiles(directory.resolve() / f"{stem}.png", directory.resolve() / f"{stem}.xlsx")
    if not (reuse and files.chart.is_file()):
        write_chart(files.chart, figures, language, font=font)
    if not (reuse and files.sheet.is_file()):
        write_sheet(files.sheet, figures, language)
    return files


def payloads(files: DigestFiles, figures: DigestFigures, language: str) -> list[tuple[str, dict[str, Any]]]:
    """The outbox's (kind, payload) of the chart and the spreadsheet, with captions in the reader's language."""
    week = figures.week
    values = {"scope": scope_label(language, figures.scope), "year": week.year, "week": week.number}
    # An ASCII name: the Bot API upload percent-encodes others in its form data, and a chat shows them so. The
    # caption says which scope it is.
    name = f"lianxin-digest-{week.key}-{figures.scope.kind}"
    return [
        (
            "photo",
            {
                "path": str(files.chart),
                "caption": t(language, "digest.chart.caption", **values),
                "filename": f"{name}.png",
            },
        ),
        (
            "document",
            {
                "path": str(files.sheet),
                "caption": t(language, "digest.sheet.caption", **values),
                "filename": f"{name}.xlsx",
            },
        ),
    ]
