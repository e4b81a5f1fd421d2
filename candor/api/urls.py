"""The API v1: one NinjaAPI with a router per domain, mounted at /api/v1/ by candor/urls.py.

Ninja answers a wrong method with Django's plain 405 and leaves unknown addresses to the site's HTML
404 page; every URL pattern here is wrapped so that those, too, answer in the API's error format.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver, path, re_path
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.responses import NinjaJSONEncoder

from candor.accounts.api import router as accounts_router
from candor.analytics.api.popular import router as popular_router
from candor.analytics.api.trends import router as trends_router
from candor.api import errors
from candor.api.auth import SIGNED_IN
from candor.comms.api.emails import router as comms_emails_router
from candor.comms.api.notices import router as notices_router
from candor.hub.api import router as hub_router
from candor.hub.api.commits import router as revisions_router
from candor.lifecycle.api import router as privacy_router
from candor.staff.api import router as staff_router

View = Callable[..., HttpResponseBase]

api = NinjaAPI(
    title=f"{settings.PLATFORM_NAME} API",
    version="1.5.0",
    description=(
        "Read public and unlisted models without an account; publish with a personal access token "
        "(Authorization: Bearer cnd_…) or the website's session. Every error answers "
        '{"error": {"code", "message", "fields"}}. The web server refuses request lines (method, path '
        "and query) over 8190 bytes with 414 before the API sees them; every URL this schema allows, "
        "percent-encoded, is shorter."
    ),
    urls_namespace="api",
    # The developer portal serves the documentation, with self-hosted assets.
    docs_url=None,
    auth=SIGNED_IN,
)
errors.install(api)
api.add_router("", hub_router)
api.add_router("", revisions_router)
api.add_router("", accounts_router)
api.add_router("", privacy_router)
api.add_router("", popular_router)
api.add_router("", trends_router)
api.add_router("", staff_router)
api.add_router("", notices_router)
api.add_router("", comms_emails_router)


@functools.cache
def _openapi_document() -> bytes:
    # Building the document walks every operation's schemas (over 100 ms); it cannot change while
    # the process runs.
    return json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder).encode()


def openapi_json(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
    return HttpResponse(_openapi_document(), content_type="application/json")


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    return errors.error_response(404, "There is no such endpoint in this API.")


def _safe_only(view: View) -> View:
    @wraps(view)
    def only_get(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return errors.error_response(
                405, f"This address does not answer {request.method}.", headers={"Allow": "GET, HEAD"}
            )
        return view(request, *args, **kwargs)

    return only_get


def _json_errors(view: View) -> View:
    @wraps(view)
    def in_api_format(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = errors.error_response(404, errors.NOT_FOUND)
        except Exception as exc:
            response = errors.server_error(request, exc)
        if response.status_code == 405 and response.get("Content-Type") != errors.CONTENT_TYPE:
            response = errors.error_response(
                405,
                f"This address does not answer {request.method}.",
                headers={"Allow": response.get("Allow", "")},
            )
        # Answers differ with the credentials sent, so no shared cache may hand one caller's to another.
        patch_vary_headers(response, ("Authorization",))
        return response

    in_api_format.csrf_exempt = True  # type: ignore[attr-defined]
    return in_api_format


def _wrapped(pattern: URLPattern | URLResolver) -> URLPattern | URLResolver:
    if not isinstance(pattern, URLPattern):
        return pattern
    if pattern.name == "api-root":
        return path("", not_found, name="api-root")
    view = _safe_only(openapi_json) if pattern.name == "openapi-json" else pattern.callback
    return URLPattern(pattern.pattern, _json_errors(view), pattern.default_args, pattern.name)


app_name = "api"
urlpatterns: list[URLPattern | URLResolver] = [
    *(_wrapped(pattern) for pattern in api.urls[0]),
    re_path(r"", not_found),
]
