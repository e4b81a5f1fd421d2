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

from candor.core.throttle import Limit
from candor.kernel.net import client_address
from candor.kernel.refusal import Code, Refusal

WINDOW = 60  # seconds


def hit(scope: str, identity: str, allowed: int) -> None:
    """Count one request in the current window; once over the limit, a Refusal saying when to come back
    (the API answers it with 429 and Retry-After)."""
    now = time.time()
    window = int(now // WINDOW)
    count = Limit(scope, allowed, WINDOW).hit(f"{identity}|{window}")
    if count > allowed:
        retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
        raise Refusal(
            Code.RATE_LIMITED,
            f"Too many requests. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


def check_caller(identity: str) -> None:
    """A token ("token:<id>") or a signed-in person ("user:<id>")."""
    hit("api-caller", identity, settings.API_RATE_PER_MINUTE)


def check_address(request: HttpRequest) -> None:
    """Anonymous requests, and requests whose credentials were refused."""
    hit("api-address", client_address(request), settings.API_ANON_RATE_PER_MINUTE)
