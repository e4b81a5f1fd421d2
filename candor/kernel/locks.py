"""The database's write lock, seen from a web request.

Reads never wait for it: on SQLite (WAL) a read in autocommit, or in a DEFERRED transaction, takes no
write lock, so every read path stays out of ``transaction.atomic()`` (whose BEGIN is IMMEDIATE, the
project's choice so that writers queue instead of failing half-way). The few writes a read path would
like to make (today's analytics salt, a token's day of use, a session's time of last activity) go
through :func:`write_if_free`, which does them if the lock is free this instant and skips them if not.

Writers in a web process wait a short, configurable time (``CANDOR_DB_LOCK_TIMEOUT_SECONDS``), then give
up; :func:`is_lock_timeout` recognises the error on SQLite and PostgreSQL, and the page and API error
handlers turn it into 503 with ``Retry-After`` (see :func:`note_busy`). The worker and management
commands never load the WSGI module, so they keep the long wait of the settings.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import HttpRequest

logger = logging.getLogger("candor.core")

# PostgreSQL's SQLSTATE for "could not obtain lock" (what lock_timeout raises).
_LOCK_NOT_AVAILABLE = "55P03"
BUSY_MESSAGE = "The site is busy writing something else. Nothing was changed: try again in a few seconds."


def is_lock_timeout(error: BaseException | None) -> bool:
    """Whether ``error`` (or the driver error Django wrapped in it) is a wait for a lock that gave up."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return True
        if getattr(error, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            return True
        error = error.__cause__
    return False


def retry_after() -> int:
    """Seconds a refused writer is told to wait: about as long as the lock kept it waiting."""
    return max(1, math.ceil(settings.DB_LOCK_TIMEOUT_SECONDS))


# --- Web processes: a short wait ------------------------------------------------------------------------


def limit_lock_wait() -> None:
    """Every connection this process opens from now on waits ``DB_LOCK_TIMEOUT_SECONDS`` for a lock.

    Called by the WSGI module, so it holds in web processes only, whatever server runs them.
    """
    connection_created.connect(_short_wait, dispatch_uid="candor.kernel.locks.short_wait")


def _short_wait(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    _set_wait(connection, settings.DB_LOCK_TIMEOUT_SECONDS)


def _set_wait(conn: BaseDatabaseWrapper, seconds: float) -> None:
    milliseconds = int(seconds * 1000)
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        elif conn.vendor == "postgresql":
            # lock_timeout rather than statement_timeout: it ends a wait for a lock, never a long query
            # that is making progress (an export, a report). 0 would mean "wait for ever" there.
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{max(milliseconds, 1)}ms"])


def _busy_timeout(conn: BaseDatabaseWrapper) -> float:
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0]) / 1000


@contextmanager
def _no_wait() -> Iterator[None]:
    """A transaction that gives up at once when it would have to wait for another writer's lock."""
    if connection.in_atomic_block or connection.vendor not in ("sqlite", "postgresql"):
        # Inside a transaction already: on SQLite it holds the lock (IMMEDIATE); on PostgreSQL a
        # SET LOCAL would outlive this block, so the wait stays what the process chose.
        with transaction.atomic():
            yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '1ms'")  # ends with this transaction
            yield
        return
    connection.ensure_connection()
    before = _busy_timeout(connection)
    _set_wait(connection, 0)
    try:
        with transaction.atomic():
            yield
    finally:
        _set_wait(connection, before)


def write_if_free[T](work: Callable[[], T]) -> T | None:
    """Run ``work`` in a transaction of its own if the write lock can be had at once; None if not.

    For the writes a read path would like but can answer without: a GET must not wait for a writer.
    """
    try:
        with _no_wait():
            return work()
    except OperationalError as error:
        if not is_lock_timeout(error):
            raise
        return None


# --- The answer to a writer that gave up ----------------------------------------------------------------


def note_busy(request: HttpRequest) -> int:
    """Log a request answered "busy" (its route's pattern, never the path) and return Retry-After's value.

    The answers themselves are the entry points': a page (candor.web.views.busy) or the API's JSON
    error (candor.api.errors.busy_response), both 503 with ``Retry-After``.
    """
    match = getattr(request, "resolver_match", None)
    # The route's pattern, never the path: a path holds usernames and model names.
    logger.warning(
        "database busy: %s %s answered 503", request.method, match.route if match is not None else "?"
    )
    return retry_after()
