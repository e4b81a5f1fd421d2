"""No personal data in logs (clause C18): the filter on every handler, and what it removes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from candor.privacy.logfilter import RedactPersonalData, redact
from tests.conftest import run_candor

TOKEN = "cnd_" + "A1b2C3d4" * 5


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("sign-in for alice.smith+tag@example.co.uk failed", "alice.smith+tag@example.co.uk"),
        ("from 203.0.113.77 at 12:30:45", "203.0.113.77"),
        ("from 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
        ("from fe80::1", "fe80::1"),
        (f"token {TOKEN} rejected", TOKEN),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("password=hunter2hunter2 in form", "hunter2hunter2"),
        ("secret: s3cr3t-value", "s3cr3t-value"),
        ('"GET /accounts/verify/Zk3_q9/0a1b2c3d4e5f60718293a4b5c6d7/ HTTP/1.1" 200', "0a1b2c3d4e5f6"),
        ('"GET /accounts/password-reset/MTIzNA/cdx9zq-7f3e2a1b0c9d/ HTTP/1.1" 302', "cdx9zq-7f3e2a1b0c9d"),
    ],
)
def test_redact_removes_personal_values(text: str, gone: str) -> None:
    assert gone not in redact(text)


def test_redact_keeps_ordinary_text() -> None:
    text = "GET /models/ 200 in 12:30:45, 3 rows, version 1.2.3"
    assert redact(text) == text
    assert redact("GET /accounts/password-reset/sent/ 200") == "GET /accounts/password-reset/sent/ 200"


def test_args_and_tracebacks_are_redacted() -> None:
    record = logging.LogRecord(
        "candor", logging.ERROR, __file__, 1, "user %s from %s", ("bob@example.org", "198.51.100.4"), None
    )
    try:
        raise ValueError("no account for carol@example.org")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactPersonalData().filter(record)
    formatted = logging.Formatter().format(record)
    for value in ("bob@example.org", "198.51.100.4", "carol@example.org"):
        assert value not in formatted
    assert "ValueError" in formatted


def test_every_configured_handler_redacts(tmp_path: Path) -> None:
    """Through the real logging configuration: a record with personal data is written without it."""
    script = (
        "import logging\n"
        "logging.getLogger('django.request').error('failed for dave@example.org at 192.0.2.9 with %s', "
        f"'{TOKEN}')\n"
        "from django.conf import settings\n"
        "assert all('redact' in h.get('filters', []) for h in settings.LOGGING['handlers'].values())\n"
        "server = logging.getLogger('django.server')\n"
        "server.info('\"GET /x HTTP/1.1\" 200 from 192.0.2.10 erin@example.org')\n"
        "from candor.privacy.logfilter import RedactPersonalData\n"
        "names = list(logging.Logger.manager.loggerDict)\n"
        "loggers = [logging.getLogger()] + [logging.getLogger(n) for n in names]\n"
        "bare = [(l.name, h) for l in loggers for h in getattr(l, 'handlers', [])\n"
        "        if not any(isinstance(f, RedactPersonalData) for f in h.filters)]\n"
        "assert not bare, bare\n"
    )
    result = run_candor(["shell", "-c", script], tmp_path, {"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "failed for [email] at [ip] with [token]" in result.stderr
    assert '"GET /x HTTP/1.1" 200 from [ip] [email]' in result.stderr
    for value in ("dave@example.org", "192.0.2.9", TOKEN, "192.0.2.10", "erin@example.org"):
        assert value not in result.stderr + result.stdout
