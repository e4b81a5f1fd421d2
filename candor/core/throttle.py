"""Counters of failures in the cache, for throttling (login attempts, later API calls).

Written here rather than taken from a rate-limit package because the keys must not hold the thing
they count: a client address or a login name is passed through a keyed hash (HMAC with a key derived
from SECRET_KEY) before it becomes part of a cache key, and the counter expires with its window, so
nothing of the address outlives the counter (clause C9).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac


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
        return int(cache.get(self.key(value), 0))

    def exceeded(self, value: str) -> bool:
        return self.count(value) >= self.limit

    def hit(self, value: str) -> int:
        key = self.key(value)
        # add() sets the window's expiry only once; incr() keeps it.
        if cache.add(key, 1, timeout=self.window):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=self.window)
            return 1

    def reset(self, value: str) -> None:
        cache.delete(self.key(value))


def login_limits() -> tuple[Limit, Limit]:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    return (
        Limit("login-account", settings.LOGIN_FAILURES_PER_ACCOUNT, window),
        Limit("login-address", settings.LOGIN_FAILURES_PER_ADDRESS, window),
    )
