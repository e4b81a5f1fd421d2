"""Capture at the edge of the request (clause C7; DESIGN.md principle 5).

Once the view has answered, the middleware reduces the request to (hour, route, public model, browser
family, primary language, referring domain) and a salted visitor hash, and adds them to this process's
buffer. Nothing else of the request is looked at, and nothing of it is written anywhere: no address,
header, URL, query string, cookie, account or session.

Only successful reads of public resources count: a GET answered 200 on a route listed in
``PUBLIC_ROUTES``. A view that serves a model names it with :func:`mark`, and only while the model is
public; a file download counts as a download of its model when it starts at the first byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from candor.analytics import features, salt
from candor.analytics.buffer import BUFFER
from candor.analytics.models import Dimension
from candor.kernel.net import client_address

logger = logging.getLogger("candor.analytics")

# Routes whose GETs are reads of public resources, by the name Django resolves the path to, and the
# name they are counted under. Anything else (sign-in, settings, the owner's pages, the API's /me) is
# never counted. django-ninja gives a path with several operations the name of the first one declared,
# so a GET of a file's API address resolves to "api:upload_file" and is counted as the download it is.
PUBLIC_ROUTES = {
    "home": "home",
    "privacy": "privacy",
    "privacy_data": "privacy_data",
    "feed": "feed",
    "hub:list": "hub:list",
    "hub:profile": "hub:profile",
    "hub:model": "hub:model",
    "hub:file": "hub:file",
    "hub:file_at_revision": "hub:file",  # a download at a revision counts as the download it is
    "analytics:popular": "analytics:popular",
    "analytics:trending": "analytics:trending",
    "analytics:trends": "analytics:trends",
    "developers:portal": "developers:portal",
    "developers:docs": "developers:docs",
    "developers:changelog": "developers:changelog",
    "api:list_models": "api:list_models",
    "api:get_model": "api:get_model",
    "api:list_files": "api:list_files",
    "api:upload_file": "api:download_file",
    "api:download_file": "api:download_file",
    "api:list_revision_files": "api:list_files",
    "api:download_revision_file": "api:download_file",
    "api:popular_models": "api:popular_models",
    "api:trending_models": "api:trending_models",
    "api:trends": "api:trends",
    "api:get_inventory": "api:get_inventory",
}
# What a counted request leaves behind, in words, for the "what we collect" page.
KEPT = (
    ("The hour", "in UTC, not the minute or second"),
    ("The route", "the kind of page or API call (a model page, a download), never its address or query"),
    ("The model", "only if it is public at that moment"),
    ("The browser family", "such as Firefox or Chrome, from the user-agent header, which is not kept"),
    ("The primary language", "the first language the browser asks for, such as en or fr"),
    ("The referring site", "the registered domain of an outside page that linked here, nothing of its path"),
)
_BROWSER, _LANGUAGE, _REFERRER = Dimension.BROWSER.value, Dimension.LANGUAGE.value, Dimension.REFERRER.value
DOWNLOAD = "download"
VIEW = "view"
_MARK = "_candor_analytics_model"


def mark(request: HttpRequest, model: object, kind: str = VIEW) -> None:
    """Say which model a response serves. Counted against the model only if it is public right now."""
    if getattr(model, "is_public", False):
        setattr(request, _MARK, (model.pk, kind))  # type: ignore[attr-defined]


class AnalyticsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if settings.ANALYTICS_ENABLED and request.method == "GET":
            try:
                capture(request, response)
            except Exception as error:
                logger.warning("analytics capture failed (%s)", type(error).__name__)
        return response


def route_of(request: HttpRequest) -> str | None:
    match = request.resolver_match
    if match is None:
        return None
    return PUBLIC_ROUTES.get(match.view_name)


def capture(request: HttpRequest, response: HttpResponseBase, now: datetime | None = None) -> bool:
    """Count the request if it is a successful read of a public resource. Returns whether it counted."""
    status = response.status_code
    marked = getattr(request, _MARK, None)
    if status == 206 and marked and marked[1] == DOWNLOAD:
        if not response.get("Content-Range", "").startswith("bytes 0-"):
            return False  # a resumed download: its first part already counted
    elif status != 200:
        return False
    route = route_of(request)
    if route is None:
        return False
    meta = request.META
    user_agent = meta.get("HTTP_USER_AGENT", "")
    family, bot = features.browser(user_agent)
    hour = _hour(now)
    if bot:
        BUFFER.record(hour=hour, route=route, bot=True)
        return True
    dimensions = [(_BROWSER, family), (_LANGUAGE, features.language(meta.get("HTTP_ACCEPT_LANGUAGE", "")))]
    referer = meta.get("HTTP_REFERER")
    if referer:
        domain = features.referring_domain(referer, _own_hosts(request))
        if domain:
            dimensions.append((_REFERRER, domain))
    # Only hashed, so the address needs no parsing unless proxies' headers must be read to find it.
    address = client_address(request) if settings.TRUSTED_PROXY_COUNT else meta.get("REMOTE_ADDR", "")
    visitor = salt.visitor_hash(hour.date(), address, user_agent)
    BUFFER.record(
        hour=hour,
        route=route,
        bot=False,
        model_id=marked[0] if marked else None,
        kind=marked[1] if marked else VIEW,
        dimensions=tuple(dimensions),
        visitor=visitor,
    )
    return True


_hours: tuple[float, float, datetime] = (0.0, 0.0, datetime.min.replace(tzinfo=UTC))


def _hour(now: datetime | None) -> datetime:
    """The current UTC hour, made once an hour rather than once a request."""
    global _hours
    if now is not None:
        return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    moment = time.time()
    start, end, hour = _hours
    if not start <= moment < end:
        start = moment - moment % 3600
        hour = datetime.fromtimestamp(start, UTC)
        _hours = (start, start + 3600, hour)
    return hour


# By Host header and configured website address: a changed setting (in a test) is seen at once.
_OWN: dict[tuple[str, str], frozenset[str]] = {}


def _own_hosts(request: HttpRequest) -> frozenset[str]:
    # The Host header as sent: Django has checked it against ALLOWED_HOSTS already, and get_host()
    # would check it again at a cost that matters on every request with a Referer.
    raw = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
    key = (raw, settings.WEBSITE_URL)
    known = _OWN.get(key)
    if known is None:
        from urllib.parse import urlsplit

        host = urlsplit(f"//{raw}").hostname or ""
        website = (urlsplit(settings.WEBSITE_URL).hostname or "").lower()
        known = frozenset({host.lower(), website})
        if len(_OWN) < 64:
            _OWN[key] = known
    return known
