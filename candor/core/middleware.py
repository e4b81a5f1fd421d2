"""Response headers that Django's own middleware does not set, and bodiless answers to HEAD."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.cache import patch_cache_control


class SecurityHeadersMiddleware:
    """Adds Cross-Origin-Resource-Policy to every response, and keeps personal responses out of caches.

    A response is treated as personal when the request carried a signed-in person or a session, or
    the response sets a cookie (a form's CSRF token, a flash message): such a response must never be
    stored by a shared cache, nor kept by the browser on a shared computer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if _is_personal(request, response):
            # Any public caching directive set by a view is replaced, never merged.
            response.headers.pop("Cache-Control", None)
            patch_cache_control(response, private=True, no_store=True)
        return response


def _is_personal(request: HttpRequest, response: HttpResponseBase) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    session = getattr(request, "session", None)
    if session is not None and session.modified:
        return True
    return settings.SESSION_COOKIE_NAME in request.COOKIES or bool(response.cookies)


class HeadMiddleware:
    """Answers HEAD with the headers GET would have, and no body.

    Django runs a HEAD request through the GET view and sends whatever body it made; a WSGI server must
    then drop it (gunicorn does, with a warning). Here the body is dropped first, and a file is never
    read. Content-Length stays what GET would send, as HTTP allows, so a download tool can learn a
    file's size and ETag without fetching it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method != "HEAD":
            return response
        length: str | None
        if isinstance(response, HttpResponse):
            length = response.get("Content-Length") or str(len(response.content))
            response.content = b""
        elif isinstance(response, StreamingHttpResponse):
            # Streamed: nothing is read from its source, which the response still closes when the
            # server closes it (closing it here would signal the request's end twice).
            length = response.get("Content-Length")
            response.streaming_content = iter(())
        else:
            return response
        if length is not None and response.status_code not in (204, 304):
            response["Content-Length"] = length
        return response
