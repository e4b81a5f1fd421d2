"""Caching of public listings (the /models/ page for anonymous visitors, and GET /api/v1/models).

A listing holds only public data, the same for every viewer, so it may sit in a shared cache. Every
action that changes what a listing could show calls ``bump()`` inside its transaction; readers key the
cache by the current generation, read from the database (one indexed row), so no process ever serves a
listing older than the last committed change.

A cached answer is built from nothing of the visitor whose request happened to fill the cache: not
from their request but from ``public_request()``, which holds the public URL and nothing else (no
session, no messages, no cookie, no CSRF token, no user, no header). Whoever reads it next gets the
same bytes. Visitors with something of their own to see (a signed-in person, a session, a pending
flash message) are not served from the cache at all: see ``shareable()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.http import HttpRequest, QueryDict

from candor.hub.models import ListingState

TIMEOUT = 300
_READ = f"SELECT generation FROM {ListingState._meta.db_table} WHERE id = 1"  # noqa: S608 - a constant


def bump() -> None:
    if not ListingState.objects.filter(pk=1).update(generation=F("generation") + 1):
        # The row is missing (a flushed database): a generation of 1 differs from the 0 read meanwhile.
        ListingState.objects.get_or_create(pk=1, defaults={"generation": 1})


def generation() -> int:
    # Read on every cached request, so spelt as plain SQL: the ORM would spend longer compiling the
    # query than the database spends answering it.
    with connection.cursor() as cursor:
        cursor.execute(_READ)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def key(kind: str, params: str, current: int | None = None) -> str:
    current = generation() if current is None else current
    return f"hub:listing:{kind}:{current}:{hashlib.sha256(params.encode()).hexdigest()[:32]}"


def _index_key(generation: int) -> str:
    return f"hub:listing:index:{generation}"


def shareable(request: HttpRequest) -> bool:
    """Whether the visitor may be answered with the page every anonymous visitor gets.

    Not a signed-in person, nor a session (what it holds may show), nor pending flash messages: those
    must reach this visitor, and only them, so their page is rendered for them and never cached.
    """
    if request.user.is_authenticated or settings.SESSION_COOKIE_NAME in request.COOKIES:
        return False
    # len() loads the pending messages without marking them as shown.
    return len(messages.get_messages(request)) == 0


def public_request(request: HttpRequest) -> HttpRequest:
    """A request made of the public URL alone (path and query string), as an anonymous visitor with
    no cookie, no header and no session would send it: what a shared answer may be built from."""
    public = HttpRequest()
    public.method = "GET"
    public.path = public.path_info = request.path
    public.resolver_match = request.resolver_match
    query = request.META.get("QUERY_STRING", "")
    public.META = {"QUERY_STRING": query, "REQUEST_METHOD": "GET", "PATH_INFO": request.path_info}
    public.GET = QueryDict(query)
    public.user = AnonymousUser()
    return public


class _VisitorState(Exception):
    """The builder reached for something of the visitor's (a CSRF token), so its answer is not shared."""


def _built(build: Callable[[HttpRequest], Any], request: HttpRequest) -> Any:
    public = public_request(request)
    value = build(public)
    if "CSRF_COOKIE" in public.META or public.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        # A form with a CSRF token: the token would be handed to every later visitor.
        raise _VisitorState
    return value


def cached(kind: str, request: HttpRequest, build: Callable[[HttpRequest], Any]) -> Any:
    """The answer ``build(public_request(request))`` gives, from the cache when it holds it.

    ``build`` gets the public request, never the visitor's, so nothing of the visitor can reach what
    is cached. If it still reaches for visitor state (a CSRF token), nothing is cached and the
    visitor gets an answer built for them.
    """
    current = generation()
    cache_key = key(kind, request.GET.urlencode(), current)
    value = cache.get(cache_key)
    if value is None:
        try:
            value = _built(build, request)
        except _VisitorState:
            return build(request)
        cache.set(cache_key, value, TIMEOUT)
        # Remember the key under its generation, so purge() can remove it before it expires. Two
        # processes adding at once may lose one name; that entry then lives out its TIMEOUT.
        index = cache.get(_index_key(current)) or []
        cache.set(_index_key(current), [*index, cache_key][-1000:], TIMEOUT)
    return value


def purge() -> None:
    """Bump the generation and delete the cached listings of the generations before it.

    Used by permanent deletion, so a deleted account's models leave the shared cache at once rather
    than when their entries expire.
    """
    before = generation()
    bump()
    for old in range(max(0, before - 50), before + 1):
        names = cache.get(_index_key(old))
        if names:
            cache.delete_many([*names, _index_key(old)])
