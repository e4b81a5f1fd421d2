"""Strict parsing of the ``CANDOR_*`` environment variables.

Every reader refuses a malformed value with an ``ImproperlyConfigured`` error that names the variable
and says what was expected. The value itself is never echoed: it may be a password or a URL with
credentials in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import EmailValidator

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Env:
    """Reads settings from a mapping (``os.environ`` by default), strictly."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    @staticmethod
    def error(name: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name} is malformed: expected {expected}.")

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self.error(name, "one of 1/0, true/false, yes/no, on/off")

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise self.error(name, "a whole number")
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.error(name, f"a whole number of at least {minimum}{upper}")
        return value

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[+]?(\d+(\.\d*)?|\.\d+)", raw):
            raise self.error(name, "a decimal number such as 0.5")
        value = float(raw)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.error(name, f"a number of at least {minimum}{upper}")
        return value

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise self.error(name, f"a URL with scheme {' or '.join(schemes)}") from None
        if parts.scheme not in schemes or not parts.netloc:
            raise self.error(name, f"a URL with scheme {' or '.join(schemes)} and a host")
        return raw

    def email(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            EmailValidator()(raw)
        except ValidationError:
            raise self.error(name, "an email address") from None
        return raw

    def items(self, name: str, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return list(default)
        items = [item.strip() for item in raw.split(",")]
        if any(not item for item in items):
            raise self.error(name, "a comma-separated list with no empty items")
        return items

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in choices:
            raise self.error(name, f"one of {', '.join(choices)}")
        return raw

    def path(self, name: str, default: Path) -> Path:
        raw = self._raw(name)
        return Path(raw).expanduser().resolve() if raw else default
