"""The digest's files for the hand-counted week: the chart is a real PNG of the expected size whose words are the
reader's language (Chinese drawn with the Chinese font, English without one), and the spreadsheet opens with
openpyxl, a row per representative and a total row equal to the text's figures."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import openpyxl
import pytest
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from PIL import Image

from handlers import digest_files
from handlers.digest import digest_text
from handlers.digest_files import CHART_PIXELS, chart_labels, draw_chart, make_files, payloads, sheet_rows
from handlers.fonts import CjkFont, find_cjk_font
from storage.db import Database
from storage.exchange.digest_figures import DigestFigures
from storage.settings import Settings
from tests.storage.exchange.test_digest_figures import W47, digest_district, figures_of, small_quota

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHINESE_LABELS = [
    "全区｜2026年第47周",
    "今年每周走访次数",
    "周次",
    "走访次数",
    "“一百户”完成情况",
    "今年联系户数占年度任务",
    "在任代表人数",
]
ENGLISH_LABELS = [
    "The district | 2026 week 47",
    "Visits per week this year",
    "Week",
    "Visits",
    "“One hundred households” completion",
    "Households reached this year, share of the quota",
    "Representatives in office",
]
CHINESE_FONT = find_cjk_font()
needs_chinese_font = pytest.mark.skipif(
    CHINESE_FONT is None, reason="no Chinese font installed (apt-get install fonts-wqy-zenhei)"
)


@pytest.fixture
async def figures(db: Database, settings: Settings) -> DigestFigures:
    quota = small_quota(settings)
    await digest_district(db, quota)
    return await figures_of(db, quota, "district", week=W47)


def heights(axes: Axes) -> list[float]:
    return [bar.get_height() for bar in axes.patches if isinstance(bar, Rectangle)]


def modified(files: digest_files.DigestFiles) -> tuple[int, int]:
    return files.chart.stat().st_mtime_ns, files.sheet.stat().st_mtime_ns


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


@needs_chinese_font
async def test_a_chinese_readers_chart_is_labelled_in_chinese_with_the_chinese_font(
    figures: DigestFigures, tmp_path: Path
) -> None:
    assert CHINESE_FONT is not None
    chart = draw_chart(figures, "zh-CN", font=CHINESE_FONT)
    assert chart_labels(chart) == CHINESE_LABELS
    titles = [chart.get_suptitle(), *(axes.get_title() for axes in chart.axes)]
    drawn = [text for text in chart.findobj() if getattr(text, "get_text", lambda: "")() in titles]
    assert drawn and all(
        Path(text.get_fontproperties().get_file()) == CHINESE_FONT.path  # type: ignore[attr-defined]
        for text in drawn
    )
    path = tmp_path / "chart.png"
    digest_files.write_chart(path, figures, "zh-CN", font=CHINESE_FONT)
    assert png_size(path.read_bytes()) == CHART_PIXELS
    weekly, quota = chart.axes
    assert heights(weekly)[-2:] == [1, 5]  # W46 and W47
    assert heights(quota) == [0, 1, 3, 0, 0, 0]  # 25% once, 50% three times


async def test_english_labels_for_an_english_reader_and_without_a_chinese_font(
    figures: DigestFigures, tmp_path: Path
) -> None:
    assert chart_labels(draw_chart(figures, "en", font=CHINESE_FONT)) == ENGLISH_LABELS
    chart = draw_chart(figures, "zh-CN", font=None)
    assert chart_labels(chart) == ENGLISH_LABELS
    path = tmp_path / "chart.png"
    digest_files.write_chart(path, figures, "zh-CN", font=None)
    assert png_size(path.read_bytes()) == CHART_PIXELS


def test_a_missing_chinese_font_is_said_once_in_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    digest_files.cjk_font.cache_clear()
    monkeypatch.setattr(digest_files, "find_cjk_font", lambda configured="": None)
    try:
        with caplog.at_level(logging.WARNING, logger="handlers.digest_files"):
            assert digest_files.cjk_font("") is None
            assert digest_files.cjk_font("") is None
        assert [record.getMessage() for record in caplog.records] == [
            "digest: no font with Chinese glyphs found; charts are labelled in English"
        ]
    finally:
        digest_files.cjk_font.cache_clear()


async def test_the_spreadsheet_has_every_representative_and_the_texts_totals(
    figures: DigestFigures, settings: Settings, tmp_path: Path
) -> None:
    files = make_files(tmp_path / "2026-W47", figures, "zh-CN", font=None)
    assert files.chart.name == "2026-W47-district-zh-CN.png" and files.sheet.suffix == ".xlsx"
    assert files.chart.is_absolute() and png_size(files.chart.read_bytes()) == CHART_PIXELS
    workbook = openpyxl.load_workbook(files.sheet)
    assert workbook.sheetnames == ["代表明细", "概况"]
    rows = [list(row) for row in workbook["代表明细"].iter_rows(values_only=True)]
    assert rows[0] == [
        "编号",
        "姓名",
        "级别",
        "代表小组",
        "工作站",
        "在任",
        "本周走访次数",
        "本周走访户数",
        "今年走访次数",
        "今年联系户数",
        "其中入户户数",
        "按进度应达户数",
        "差额（户）",
    ]
    by_code = {row[0]: row for row in rows[1:-2]}
    assert list(by_code) == ["D001", "D002", "D009", "T001", "T009"]
    assert by_code["D001"] == [
        "D001",
        "王建国",
        "区党代表",
        "幸福街道代表小组",
        "幸福社区党代表工作站",
        "是",
        3,
        2,
        3,
        2,
        1,
        3,
        1,
    ]
    assert by_code["D009"][5:8] == ["否", 1, 1]  # no longer in office: its visit still counts
    assert by_code["T009"][6:10] == [1, 2, 1, 2]  # one visit logged, two households reached (one as a companion)
    total = rows[-2]
    assert total[0] == "合计"
    # The total row is the text's: visits are summed, households are distinct (H1 was reached by D001 and T001).
    text = digest_text("zh-CN", figures, settings)
    assert total[5:12] == [4, 5, 4, 7, 6, 4, 3]
    assert sum(row[6] for row in by_code.values()) == total[6]
    assert sum(row[7] for row in by_code.values()) > total[7]
    assert f"本周{total[6]}次，今年累计{total[8]}次；今年联系群众{total[9]}户，其中入户走访{total[10]}户" in text
    assert f"本周共走访联系群众{total[7]}户" in text
    assert rows[-1][0].startswith("合计行的户数按户去重")
    summary = {row[0]: row[1] for row in workbook["概况"].iter_rows(min_row=2, values_only=True)}
    assert (summary["本周走访联系群众（户）"], summary["收集建议意见（条）"], summary["办实事解难事（件）"]) == (
        4,
        3,
        2,
    )
    assert (summary["范围"], summary["统计期间"]) == ("全区", "2026-W47 (2026-11-16 — 2026-11-22)")


async def test_files_are_reused_by_readers_who_share_them_and_sent_with_captions(
    figures: DigestFigures, tmp_path: Path
) -> None:
    folder = tmp_path / "digests"
    first = make_files(folder, figures, "en", font=None)
    written = modified(first)
    again = make_files(folder, figures, "en", font=None)
    assert again == first and modified(again) == written
    assert names_in(folder) == ["2026-W47-district-en.png", "2026-W47-district-en.xlsx"]
    assert sheet_rows(figures, "en")[0][:3] == ["Code", "Name", "Level"]
    photo, document = payloads(first, figures, "en")
    assert photo == (
        "photo",
        {
            "path": str(first.chart),
            "caption": "The district | 2026 week 47: visits per week and quota completion",
            "filename": "lianxin-digest-2026-W47-district.png",
        },
    )
    assert document[0] == "document" and document[1]["filename"] == "lianxin-digest-2026-W47-district.xlsx"
    chinese = payloads(first, figures, "zh-CN")
    assert chinese[1][1]["caption"] == "全区｜2026年第47周代表明细表"


def test_the_font_finder_is_the_contact_cards() -> None:
    from bot import card

    assert card.find_cjk_font is find_cjk_font and card.CjkFont is CjkFont
