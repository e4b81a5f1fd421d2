"""Response headers that Django's own middleware does not set, and bodiless answers to HEAD."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.cache import patch_cache_control


class SecurityHeadersMiddleware:
    """Adds Cross-Origin-Resource-Policy to every response, and decides every response's Cache-Control.

    The one place that decides how long a copy may be kept, for pages, API answers, files, the
    sitemap and the feed alike (views set none of their own):

    - ``private, no-store``: anything personal, meaning the request carried a signed-in person, a
      session or an Authorization header, or the response sets a cookie (a form's CSRF token, a flash
      message); and every answer to a POST, PUT, PATCH or DELETE, which may show what the visitor
      typed (the sign-up confirmation shows the address). Neither a shared cache nor the browser on
      a shared computer may keep it.
    - ``no-cache``: everything else, what anonymous visitors get from public pages, API reads and
      downloads. A cache may keep a copy but must ask again before each use, with the ETag (a file's
      SHA-256, a page's digest from ConditionalGetMiddleware), so a model made private or deleted is
      never served from a proxy after the change: the revalidation answers 404.
    - Static assets keep WhiteNoise's policy: they hold nothing of anyone, and hashed names never
      change.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if _is_static(request):
            return response
        # Any caching directive set elsewhere is replaced, never merged; a view's own no-store is kept.
        kept_from_view = response.get("Cache-Control", "")
        response.headers.pop("Cache-Control", None)
        if _is_personal(request, response) or "no-store" in kept_from_view or "private" in kept_from_view:
            patch_cache_control(response, private=True, no_store=True)
        else:
            patch_cache_control(response, no_cache=True)
        return response


def _is_static(request: HttpRequest) -> bool:
    return bool(settings.STATIC_URL) and request.path.startswith(str(settings.STATIC_URL))


def _is_personal(request: HttpRequest, response: HttpResponseBase) -> bool:
    if request.method not in ("GET", "HEAD"):
        return True
    if "Authorization" in request.headers:
        return True
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
