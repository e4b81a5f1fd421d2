from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from candor.accounts.sessions import ACTIVE_KEY, BROWSER_KEY
from candor.kernel.useragent import browser_family

ACTIVITY_RESOLUTION = 5 * 60  # seconds: "last active" is precise to five minutes, saving one write a request


class SessionActivityMiddleware:
    """Keeps a signed-in session's browser family and time of last activity up to date."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            session = request.session
            now = int(time.time())
            if now - int(session.get(ACTIVE_KEY, 0)) >= ACTIVITY_RESOLUTION:
                session[ACTIVE_KEY] = now
            if BROWSER_KEY not in session:
                session[BROWSER_KEY] = browser_family(request.headers.get("User-Agent", ""))
        return self.get_response(request)
