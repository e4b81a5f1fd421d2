from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_safe

from candor.analytics import popularity
from candor.api import errors as api_errors
from candor.core.objectstore import RETRY_AFTER_SECONDS, StoreUnavailable
from candor.kernel import locks
from candor.web.context_processors import platform

HOME_LIST_SIZE = 5


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/home.html",
        {
            "popular": popularity.popular(HOME_LIST_SIZE),
            "trending": popularity.trending(HOME_LIST_SIZE),
        },
    )


@require_safe
def privacy_placeholder(request: HttpRequest) -> HttpResponse:
    """The privacy policy is rendered from the data inventory once the privacy core lands."""
    return render(request, "web/privacy.html")


@require_safe
def bare(request: HttpRequest) -> HttpResponse:
    """A bare view for the benchmark: the cost of Django and the server with no Candor work."""
    return HttpResponse(b"ok", content_type="text/plain")


def busy(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the API's JSON error under /api/, a page elsewhere."""
    if request.path.startswith("/api/"):
        return api_errors.busy_response(request)
    seconds = locks.note_busy(request)
    # Rendered without the request's context processors: they may read the session, which is what may
    # have failed.
    page = loader.get_template("503.html").render({**platform(request), "retry_after": seconds})
    response = HttpResponse(page, status=503)
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    # Logged by note_busy without the path; Django would log it again, with it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def storage_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After when the file store cannot be reached: the API's JSON error under /api/, a
    page elsewhere. Nothing was changed (an upload that could not be stored leaves no row)."""
    if request.path.startswith("/api/"):
        return api_errors.store_unavailable_response(request)
    api_errors.note_store_unavailable(request)
    page = loader.get_template("503-storage.html").render(
        {**platform(request), "retry_after": RETRY_AFTER_SECONDS}
    )
    response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its handler of the exception, so the exception is still at hand: a
    # writer that gave up waiting for the database's lock gets "busy, retry", wherever it was raised
    # (a view, or a middleware saving the session).
    if locks.is_lock_timeout(sys.exc_info()[1]):
        return busy(request)
    if isinstance(sys.exc_info()[1], StoreUnavailable):
        return storage_unavailable(request)
    # A 500 page must not depend on the database or the session, which may be what failed, so it is
    # rendered without the request's context processors.
    return HttpResponse(loader.get_template("500.html").render(platform(request)), status=500)
