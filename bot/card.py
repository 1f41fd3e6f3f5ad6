"""The contact card (连心卡): a PNG with a representative's details and the QR code of their mailbox deep link."""

from __future__ import annotations

import io
import re

import segno
from PIL import Image, ImageDraw, ImageFont

# The font finder is shared with the digest's chart; its names stay importable from here.
from handlers.fonts import CjkFont as CjkFont
from handlers.fonts import covers_chinese as covers_chinese
from handlers.fonts import find_cjk_font as find_cjk_font
from handlers.i18n import t
from handlers.mailbox import card_lines
from storage.records import mailbox
from storage.records.mailbox import CardData

WIDTH, HEIGHT = 1000, 600  # at 300 dpi about 85 x 51 mm, the size of a business card
DPI = 300
RED = (196, 18, 48)
GOLD = (232, 184, 76)
INK = (34, 34, 34)
GREY = (90, 90, 90)
LIGHT = (222, 222, 222)
WHITE = (255, 255, 255)
MARGIN = 50
COLUMN = 560  # width of the text column; the QR code sits to its right
QR_BOX = 320
DETAIL_LINE, DETAIL_GAP = 40, 6
DETAILS_BOTTOM = HEIGHT - 66  # the footer's rule

# Chinese characters one by one; a run of Latin letters, digits and punctuation with its trailing space as a word.
TOKENS = re.compile(r"[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+\s*|\s+|.")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def deep_link(bot_username: str, token: str) -> str:
    """The Telegram link a card's QR code holds: it opens the bot with /start m_<token>."""
    return f"https://t.me/{bot_username}?start={mailbox.start_parameter(token)}"


class _Painter:
    def __init__(self, font: CjkFont | None) -> None:
        self.font = font
        self.image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def sized(self, size: int) -> Font:
        if self.font is None:
            return ImageFont.load_default(size=size)
        return ImageFont.truetype(str(self.font.path), size, index=self.font.index)

    def width(self, text: str, font: Font) -> float:
        return self.draw.textlength(text, font=font)

    def wrap(self, text: str, font: Font, width: int, max_lines: int) -> list[str]:
        """Lines that fit `width`, breaking between Chinese characters or Latin words; an ellipsis when cut."""
        lines: list[str] = []
        current = ""
        for token in TOKENS.findall(text):
            if self.width(current + token, font) <= width:
                current += token
                continue
            if current.strip():
                lines.append(current.rstrip())
                current = token.lstrip()
            while self.width(current, font) > width:  # a single word wider than the line
                cut = len(current)
                while cut > 1 and self.width(current[:cut], font) > width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        if current.strip():
            lines.append(current.rstrip())
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            last = lines[-1]
            while last and self.width(last + "…", font) > width:
                last = last[:-1]
            lines[-1] = last + "…"
        return lines

    def fitting(self, text: str, largest: int, smallest: int, width: int) -> Font:
        """The largest size from `largest` down to `smallest` at which `text` fits on one line."""
        size = largest
        font = self.sized(size)
        while size > smallest and self.width(text, font) > width:
            size -= 4
            font = self.sized(size)
        return font

    def qr(self, link: str, box: tuple[int, int]) -> None:
        code = segno.make(link, error="m", micro=False)
        modules = code.symbol_size(scale=1, border=4)[0]
        scale = max(1, QR_BOX // modules)
        buffer = io.BytesIO()
        code.save(buffer, kind="png", scale=scale, border=4)
        buffer.seek(0)
        picture = Image.open(buffer).convert("RGB")
        left = box[0] + (QR_BOX - picture.width) // 2
        top = box[1] + (QR_BOX - picture.height) // 2
        self.image.paste(picture, (left, top))


def render_card(card: CardData, *, link: str, language: str = "zh-CN", font: CjkFont | None = None) -> bytes:
    """The card as PNG bytes. Without a Chinese font (`font` None) Pillow's own font is used: the layout and the
    QR code are right, but Chinese characters may not show."""
    painter = _Painter(font)
    draw = painter.draw
    lines = card_lines(language, card)

    # Header: the card's name on the programme's red, with a gold rule under it.
    draw.rectangle((0, 0, WIDTH, 120), fill=RED)
    draw.rectangle((0, 120, WIDTH, 126), fill=GOLD)
    title = painter.fitting(t(language, "card.title"), 60, 36, 520)
    draw.text((MARGIN, 60), t(language, "card.title"), font=title, fill=WHITE, anchor="lm")
    subtitle = painter.fitting(t(language, "card.subtitle"), 28, 18, 380)
    draw.text((WIDTH - MARGIN, 60), t(language, "card.subtitle"), font=subtitle, fill=WHITE, anchor="rm")

    # The representative: name, level, then where and when to find them.
    name_font = painter.fitting(card.name, 72, 40, COLUMN)
    y = 150
    for line in painter.wrap(card.name, name_font, COLUMN, 2):
        draw.text((MARGIN, y), line, font=name_font, fill=INK)
        y += int(name_font.size * 1.2) if isinstance(name_font, ImageFont.FreeTypeFont) else 80
    role = t(language, "card.representative", level=lines["level"])
    role_font = painter.fitting(role, 34, 22, COLUMN)
    draw.text((MARGIN, y + 6), role, font=role_font, fill=RED)
    y += 64
    draw.line((MARGIN, y, MARGIN + COLUMN, y), fill=LIGHT, width=2)
    y += 20
    detail_font = painter.sized(28)
    details = {
        "station": t(language, "card.station", station=lines["station"]),
        "address": t(language, "card.address", address=card.station_address) if card.station_address else "",
        "reception": t(language, "card.reception", reception_day=lines["reception_day"]),
    }
    # Up to two lines each; when they do not all fit, the address gives way first, then the station's name:
    # the reception day is what a resident most needs.
    limits = {key: 2 if text else 0 for key, text in details.items()}
    wrapped = {key: painter.wrap(text, detail_font, COLUMN, limits[key]) for key, text in details.items()}
    while sum(map(len, wrapped.values())) * DETAIL_LINE + DETAIL_GAP * len(details) > DETAILS_BOTTOM - y:
        key = next((key for key in ("address", "station") if len(wrapped[key]) > (0 if key == "address" else 1)), None)
        if key is None:
            break
        limits[key] = len(wrapped[key]) - 1
        wrapped[key] = painter.wrap(details[key], detail_font, COLUMN, limits[key]) if limits[key] else []
    for key in ("station", "address", "reception"):
        for line in wrapped[key]:
            draw.text((MARGIN, y), line, font=detail_font, fill=GREY)
            y += DETAIL_LINE
        y += DETAIL_GAP if wrapped[key] else 0

    # The QR code of the mailbox link, with what scanning it does.
    painter.qr(link, (WIDTH - MARGIN - QR_BOX, 140))
    scan = t(language, "card.scan")
    scan_font = painter.sized(30 if painter.width(scan, painter.sized(30)) <= QR_BOX + 20 else 24)
    for number, line in enumerate(painter.wrap(scan, scan_font, QR_BOX + 20, 2)):
        draw.text((WIDTH - MARGIN - QR_BOX // 2, 474 + 30 * number), line, font=scan_font, fill=RED, anchor="mt")

    # Footer.
    draw.line((MARGIN, HEIGHT - 62, WIDTH - MARGIN, HEIGHT - 62), fill=LIGHT, width=2)
    footer = t(language, "card.footer")
    footer_font = painter.fitting(footer, 22, 14, WIDTH - 2 * MARGIN)
    draw.text((MARGIN, HEIGHT - 32), footer, font=footer_font, fill=GREY, anchor="lm")

    buffer = io.BytesIO()
    painter.image.save(buffer, format="PNG", optimize=True, dpi=(DPI, DPI))
    return buffer.getvalue()
