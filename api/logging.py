"""Logging that never carries personal data or secrets: a redacting filter on every handler."""

from __future__ import annotations

import logging
import os
import re

_PATTERNS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[token]"),  # JWTs
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[token]"),
    (
        re.compile(r"(?i)(\"?(?:password|new_password|old_password|secret|token)\"?\s*[:=]\s*)\S+"),
        r"\1[redacted]",
    ),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[id-number]"),  # resident ID numbers
    (re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)"), "[phone]"),  # mobiles
]


def redact(text: str) -> str:
    """Replace ID numbers, phones, tokens and passwords in a log line."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _redacting_factory(base):
    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        if getattr(record, "_redacted", False):
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break the request
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record._redacted = True
        return record

    factory._redacting = True
    return factory


def configure() -> None:
    """Root logging at LOG_LEVEL; every record, from any logger, is redacted when it is created."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    base = logging.getLogRecordFactory()
    if not getattr(base, "_redacting", False):
        logging.setLogRecordFactory(_redacting_factory(base))
