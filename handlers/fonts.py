"""Finding a font that draws Chinese, for whatever Lianxin draws: the contact card, the digest's chart."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Where Debian, Ubuntu, Fedora, macOS and Windows keep common Chinese fonts, with the face index of a
# collection (.ttc) that holds the Simplified Chinese face (Noto Sans CJK: JP, KR, SC, TC, HK).
WELL_KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("/System/Library/Fonts/STHeiti Medium.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
    ("C:/Windows/Fonts/simhei.ttf", 0),
)


@dataclass(frozen=True)
class CjkFont:
    path: Path
    index: int = 0


def covers_chinese(font: CjkFont) -> bool:
    """True when the font draws Chinese: a font without those glyphs draws the same box (or nothing) for all."""
    from PIL import Image, ImageDraw, ImageFont  # only where something is drawn

    try:
        loaded = ImageFont.truetype(str(font.path), 40, index=font.index)
    except OSError:
        return False
    glyphs = []
    for char in "连心":
        image = Image.new("L", (60, 60))
        ImageDraw.Draw(image).text((5, 5), char, font=loaded, fill=255)
        if image.getbbox() is None:
            return False
        glyphs.append(image.tobytes())
    return glyphs[0] != glyphs[1]


def _fontconfig_choice() -> CjkFont | None:
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}|%{index}", "sans:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, index = found.stdout.strip().partition("|")
    if found.returncode != 0 or not path:
        return None
    return CjkFont(Path(path), int(index) if index.isdigit() else 0)


def find_cjk_font(configured: str = "") -> CjkFont | None:
    """A font for Chinese text: the configured file (config.toml's `card.font`), else fontconfig's choice for
    Chinese, else a well-known path; each is checked to really draw Chinese (fontconfig falls back to any font it
    has)."""
    candidates: list[CjkFont | None] = [CjkFont(Path(configured).expanduser()) if configured else None]
    candidates.append(_fontconfig_choice())
    candidates += [CjkFont(Path(path), index) for path, index in WELL_KNOWN_FONTS]
    for candidate in candidates:
        if candidate is not None and candidate.path.is_file() and covers_chinese(candidate):
            return candidate
    return None
