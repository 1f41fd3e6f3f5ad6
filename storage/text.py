"""Matching what people type against stored text: normalising phone keyboards' input, safe LIKE patterns."""

from __future__ import annotations

import unicodedata


def normalise(text: str) -> str:
    """Full-width digits and letters typed on phones become ASCII; surrounding spaces go."""
    return unicodedata.normalize("NFKC", text).strip()


def _escaped(fragment: str) -> str:
    return fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(fragment: str) -> str:
    """A LIKE pattern (escape character backslash) matching text that contains `fragment` literally."""
    return f"%{_escaped(fragment)}%"


def prefix_pattern(fragment: str) -> str:
    """A LIKE pattern (escape character backslash) matching text that starts with `fragment` literally."""
    return f"{_escaped(fragment)}%"
