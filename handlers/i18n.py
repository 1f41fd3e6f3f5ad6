"""Message catalogs: every user-facing string, Chinese first, English second, looked up by key."""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

CATALOGS = Path(__file__).resolve().parent / "catalogs"
FALLBACK = "zh-CN"


@cache
def catalog(language: str) -> dict[str, str]:
    """All messages of one language: every catalogs/<language>/*.toml merged, flattened to dotted keys."""
    folder = CATALOGS / language
    if not folder.is_dir():
        raise LookupError(f"no message catalog for language {language!r}")
    messages: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as handle:
            for key, text in _flatten(tomllib.load(handle)):
                if key in messages:
                    raise ValueError(f"{path}: message {key!r} is defined twice")
                messages[key] = text
    return messages


@cache
def languages() -> tuple[str, ...]:
    return tuple(sorted(folder.name for folder in CATALOGS.iterdir() if folder.is_dir()))


def t(language: str, key: str, /, **params: Any) -> str:
    """The message `key` in `language` (falling back to Chinese), with its placeholders filled."""
    messages = catalog(language if language in languages() else FALLBACK)
    template = messages.get(key)
    if template is None:
        template = catalog(FALLBACK).get(key, key)
    return template.format(**params) if params else template


def both(key: str, /, **params: Any) -> str:
    """Chinese and English together, for text read before anyone chose a language (CLI help)."""
    return f"{t('zh-CN', key, **params)}\n\n{t('en', key, **params)}"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs.extend(_flatten(value, dotted + "."))
        elif isinstance(value, str):
            pairs.append((dotted, value))
        else:
            raise ValueError(f"message {dotted!r} must be text, not {type(value).__name__}")
    return pairs
