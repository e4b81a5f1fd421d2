"""Fixed-window counters for throttling: failed log-ins and password checks, API calls, emails sent.

Written here rather than taken from a rate-limit package because the keys must not hold the thing
they count: a client address or a login name is passed through a keyed hash (HMAC with a key derived
from SECRET_KEY) before it becomes part of a counter's key, and the counter expires with its window, so
nothing of the address outlives the counter (clause C9). The counters live in a store every process
shares (:mod:`candor.core.counters`): Redis, or the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac

from candor.core.counters import store


def _digest(scope: str, value: str) -> str:
    return salted_hmac(f"candor.throttle.{scope}", value.strip().lower(), algorithm="sha256").hexdigest()[:32]


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int  # seconds

    def key(self, value: str) -> str:
        return f"throttle:{self.scope}:{_digest(self.scope, value)}"

    def count(self, value: str) -> int:
        return store().count(self.key(value))

    def exceeded(self, value: str) -> bool:
        return self.count(value) >= self.limit

    def hit(self, value: str) -> int:
        """Count one more; returns the count including this one (the window opens with the first)."""
        return store().hit(self.key(value), self.window)

    def undo(self, value: str) -> None:
        """Take back one hit: an attempt counted before it was checked, that turned out right."""
        store().hit(self.key(value), self.window, -1)

    def reset(self, value: str) -> None:
        store().reset(self.key(value))


def login_limits() -> tuple[Limit, Limit]:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    return (
        Limit("login-account", settings.LOGIN_FAILURES_PER_ACCOUNT, window),
        Limit("login-address", settings.LOGIN_FAILURES_PER_ADDRESS, window),
    )


def email_limit() -> Limit:
    """Emails to one address an hour, keyed by an HMAC of the normalised address."""
    return Limit("email-address", settings.EMAILS_PER_ADDRESS_PER_HOUR, 60 * 60)
