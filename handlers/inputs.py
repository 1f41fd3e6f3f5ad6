"""Reading what people type: text that says something, names, phone numbers, dates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from handlers.events import Inbound
from storage.errors import InvalidInput

# C0 control characters but tab and newline: a NUL saves on SQLite and fails every save on PostgreSQL, and none of
# them is something a person meant to type. A carriage return goes too ("\r\n" becomes "\n").
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def without_control_characters(text: str) -> str:
    return CONTROL.sub("", text) if CONTROL.search(text) else text


def has_words(text: str) -> bool:
    """True when the text holds at least one letter or digit (emoji and punctuation alone say nothing)."""
    return any(unicodedata.category(char)[0] in "LN" for char in text)


def comparable(text: str) -> str:
    """Letters and digits only, case-folded: "➕ 登记新住户" and "登记新住户" name the same option."""
    return "".join(
        char for char in unicodedata.normalize("NFKC", text) if unicodedata.category(char)[0] in "LN"
    ).casefold()


def utf16_length(text: str) -> int:
    """The text's length as Telegram counts it (and JavaScript): in UTF-16 code units, so an emoji or a rare
    character outside the Basic Multilingual Plane counts two. A limit counted this way holds on every channel."""
    return len(text.encode("utf-16-le")) // 2


def text_answer(text: str, *, limit: int) -> str:
    """The text without surrounding blanks, if it says something and is at most `limit` long, counted in UTF-16
    code units as Telegram counts the messages that will quote it back."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("input.empty")
    length = utf16_length(cleaned)
    if length > limit:
        raise InvalidInput("input.too_long", limit=limit, length=length)
    if not has_words(cleaned):
        raise InvalidInput("input.no_words")
    return cleaned


def person_name(text: str) -> str:
    name = text_answer(text, limit=20)
    if any(char.isdigit() for char in name) or not all(char.isalpha() or char in "·• " for char in name):
        raise InvalidInput("input.bad_name")
    return name


MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{9,11}$|^\d{7,8}$")


def phone_number(text: str) -> str:
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", text))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif len(digits) == 13 and digits.startswith("86"):  # a shared Telegram contact: 8613912345678
        digits = digits[2:]
    if not (MOBILE.match(digits) or LANDLINE.match(digits)):
        raise InvalidInput("input.bad_phone")
    return digits


def optional_phone(inbound: Inbound) -> str:
    """The answer to a phone step that can be skipped: its skip button gives "", a shared contact or a typed
    number gives the number."""
    if inbound.kind == "button":
        return ""
    return phone_number(inbound.phone if inbound.kind == "contact" else inbound.text)


RELATIVE_DAYS = {"今天": 0, "today": 0, "昨天": 1, "yesterday": 1, "前天": 2}
DAY_FORMATS = (
    re.compile(r"^(?P<year>\d{4})[-/.年](?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})日?$"),
    re.compile(r"^(?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})日?$"),
)


def visit_day(text: str, *, today: date) -> date:
    """今天 / 昨天 / 前天 / 2026-11-20 / 11-20 / 11月20日; never in the future, at most a year back."""
    typed = unicodedata.normalize("NFKC", text).strip().lower()
    if typed in RELATIVE_DAYS:
        return today - timedelta(days=RELATIVE_DAYS[typed])
    for pattern in DAY_FORMATS:
        match = pattern.match(typed)
        if match is None:
            continue
        parts = match.groupdict()
        try:
            day = date(int(parts.get("year") or today.year), int(parts["month"]), int(parts["day"]))
        except ValueError:
            raise InvalidInput("input.bad_date") from None
        if parts.get("year") is None and day > today:  # "12-30" typed in January means last December
            day = day.replace(year=today.year - 1)
        if day > today:
            raise InvalidInput("visit.error.future_date")
        if day < today - timedelta(days=366):
            raise InvalidInput("input.date_too_old")
        return day
    raise InvalidInput("input.bad_date")


def coordinates(inbound: Inbound, *, invalid: str) -> list[float]:
    """A shared location as [latitude, longitude], as a draft keeps it; one off the globe is refused with `invalid`."""
    latitude, longitude = inbound.latitude, inbound.longitude
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput(invalid)
    return [latitude, longitude]


FULL_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
SHORT_DATE = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})日?$")


def coming_date(typed: str, *, today: date) -> date | None:
    """2026-12-02, 2026年12月2日, 12-2 or 12月2日 as a day; a day without a year is the next such day ("1-5" typed
    in December is next January). None when the text is no date, or names a day no calendar has (2-30)."""
    full, short = FULL_DATE.match(typed), SHORT_DATE.match(typed)
    try:
        if full is not None:
            return date(int(full[1]), int(full[2]), int(full[3]))
        if short is not None:
            day = date(today.year, int(short[1]), int(short[2]))
            return day if day >= today else day.replace(year=today.year + 1)
    except ValueError:
        return None
    return None
