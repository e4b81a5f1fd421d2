from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_safe

from candor.analytics import popularity
from candor.core import locks
from candor.core.context_processors import platform

HOME_LIST_SIZE = 5


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/home.html",
        {
            "popular": popularity.popular(HOME_LIST_SIZE),
            "trending": popularity.trending(HOME_LIST_SIZE),
        },
    )


@require_safe
def privacy_placeholder(request: HttpRequest) -> HttpResponse:
    """The privacy policy is rendered from the data inventory once the privacy core lands."""
    return render(request, "core/privacy.html")


@require_safe
def bare(request: HttpRequest) -> HttpResponse:
    """A bare view for the benchmark: the cost of Django and the server with no Candor work."""
    return HttpResponse(b"ok", content_type="text/plain")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its handler of the exception, so the exception is still at hand: a
    # writer that gave up waiting for the database's lock gets "busy, retry", wherever it was raised
    # (a view, or a middleware saving the session).
    if locks.is_lock_timeout(sys.exc_info()[1]):
        return locks.busy_response(request)
    # A 500 page must not depend on the database or the session, which may be what failed, so it is
    # rendered without the request's context processors.
    return HttpResponse(loader.get_template("500.html").render(platform(request)), status=500)
