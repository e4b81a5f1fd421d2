"""Caching of public listings (the /models/ page for anonymous visitors, and GET /api/v1/models).

A listing holds only public data, the same for every viewer, so it may sit in a shared cache. Every
action that changes what a listing could show calls ``bump()`` inside its transaction; readers key the
cache by the current generation, read from the database (one indexed row), so no process ever serves a
listing older than the last committed change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import F

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


def cached(kind: str, params: str, build: Callable[[], Any]) -> Any:
    current = generation()
    cache_key = key(kind, params, current)
    value = cache.get(cache_key)
    if value is None:
        value = build()
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
