"""The project's own errors: expected problems that a person can be told about in plain words."""

from __future__ import annotations

import traceback
from typing import Any


class LianxinError(Exception):
    """An expected problem. `key` names a catalog message; `params` fill its placeholders."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class NotFound(LianxinError):
    """The thing asked for does not exist (or is not visible to the asker)."""


class NotAllowed(LianxinError):
    """The asker's role does not permit this."""


class InvalidInput(LianxinError):
    """The input cannot be accepted as it is."""


class Conflict(LianxinError):
    """The change collides with the current state (used code, duplicate, concurrent edit)."""


class StoreError(LianxinError):
    """The database failed; the transaction was rolled back and nothing was half-written."""


class ConfigError(Exception):
    """The configuration is invalid; the message names the key, the value and what is allowed."""


def redacted_traceback(error: BaseException) -> str:
    """The exception's type and where it was raised, without its message: messages of database and library
    errors quote the values involved (chat ids, names, phone numbers), which must never reach the logs."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    chained = error.__cause__ or error.__context__
    cause = f" (caused by {type(chained).__module__}.{type(chained).__qualname__})" if chained else ""
    return f"{type(error).__module__}.{type(error).__qualname__}{cause}\n{frames}"
