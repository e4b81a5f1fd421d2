"""Fixed-window request limits: per token or signed-in person, and per client address for the rest.

The counters are candor.core.throttle's: cache entries (shared by every web process once Redis is
configured) whose keys are an HMAC of what they count, here joined with the number of the current
minute. The cache never holds an address or a token id, and each counter expires with its window.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.http import HttpRequest

from candor.api.errors import ApiError
from candor.core.throttle import Limit
from candor.kernel.net import client_address

WINDOW = 60  # seconds


def hit(scope: str, identity: str, allowed: int) -> None:
    """Count one request in the current window; ApiError 429 with Retry-After once over the limit."""
    now = time.time()
    window = int(now // WINDOW)
    count = Limit(scope, allowed, WINDOW).hit(f"{identity}|{window}")
    if count > allowed:
        retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
        raise ApiError(
            f"Too many requests. Try again in {retry_after} seconds.",
            code="rate_limited",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )


def check_caller(identity: str) -> None:
    """A token ("token:<id>") or a signed-in person ("user:<id>")."""
    hit("api-caller", identity, settings.API_RATE_PER_MINUTE)


def check_address(request: HttpRequest) -> None:
    """Anonymous requests, and requests whose credentials were refused."""
    hit("api-address", client_address(request), settings.API_ANON_RATE_PER_MINUTE)
