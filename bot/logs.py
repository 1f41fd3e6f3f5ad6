"""Logging set-up: secrets (bot tokens, webhook secrets) are cut out of every record before any handler writes it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# What a Telegram bot token looks like, for tokens the filter was not told about (another bot's, a typo's).
TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
MASK = "[REDACTED]"


class RedactSecrets(logging.Filter):
    """Formats the record's message (and traceback) once, with every secret replaced by [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return TOKEN_PATTERN.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure(*, secrets: Iterable[str] = (), level: int = logging.INFO) -> RedactSecrets:
    """Root logging with the redaction filter on every handler. httpx logs each request's URL, which holds the
    token, at INFO: it is kept at WARNING (and its records are redacted all the same)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    redactor = RedactSecrets(secrets)
    for each in root.handlers:
        for old in [existing for existing in each.filters if isinstance(existing, RedactSecrets)]:
            each.removeFilter(old)
        each.addFilter(redactor)
    # httpx and PTB's request logs carry URLs with the token; SQLAlchemy's engine echoes SQL parameters, which carry
    # what people wrote. None of them may speak below WARNING.
    for noisy in (
        "httpx",
        "httpcore",
        "telegram.request",
        "telegram.ext.ExtBot",
        "aiohttp.access",
        "sqlalchemy.engine",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
