"""A logging filter that keeps personal data out of every log record (clauses C18, C25).

Candor's own code logs no personal values; this filter is the net under it, for what libraries and
exception messages may carry: email addresses, IP addresses, API tokens and anything that looks like a
password or secret assignment are replaced before any handler writes the record.
"""

from __future__ import annotations

import logging
import re

REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"cnd_[A-Za-z0-9_-]{8,}"), "[token]"),
    # The secrets in emailed links (confirmation, password reset), as a request line would show them.
    (re.compile(r"(/accounts/(?:verify|password-reset)/)(?!sent/|done/)[^/\s]+/[^/\s]+"), r"\1[link]"),
    # The unsubscribe link's token: it names no one, but whoever holds it may unsubscribe its person.
    (re.compile(r"(/-/unsubscribe/)[^/\s]+"), r"\1[link]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [token]"),
    (re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    (re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api_key|session(?:id|_key)?)\b(\s*[=:]\s*)\S+"),
     r"\1\2[redacted]"),
    (re.compile(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b"), "[ip]"),
    # IPv6: at least three groups joined by colons (times such as 12:30:45 have only decimal digits
    # and are left alone by requiring a hex letter or a double colon).
    (re.compile(r"(?i)\b(?=[0-9a-f:]*(?:[a-f]|::))[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b"), "[ip]"),
]  # fmt: skip


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: keep what can be kept
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
