"""Where throttling counters live: one store that every web process and worker shares.

With Redis (``CANDOR_REDIS_URL``) the counters are cache entries, and Redis increments them atomically.
Without it they are rows of :class:`candor.core.models.Counter`, incremented by one
``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` statement, so two processes counting the same thing at
once each get their own number and no hit is lost. Django's database cache backend would not do: its
``incr`` reads the value and writes it back, which loses hits between processes.

The statements go through a connection of their own rather than the request's:

- a count made during a transaction that rolls back (a refused password inside an action) still counts;
- on the embedded default the rows live in their own SQLite file (``DATA_DIR/counters.sqlite3``), so
  counting an API GET takes that file's write lock for a moment and never the main database's, which
  a long write may be holding.

On PostgreSQL the rows are in the main database (in the table the migration creates), reachable from
every machine. Expired rows are deleted by the retention sweep (the inventory's "expired counters"
rule) and, at most once a minute per process, while counting.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from django.utils import timezone

from candor.core.models import Counter
from candor.privacy.inventory import Purge

PURGE_EVERY = 60.0  # seconds between a process's opportunistic purges of expired rows


class Store(Protocol):
    def hit(self, key: str, window: int, amount: int = 1) -> int: ...

    def count(self, key: str) -> int: ...

    def reset(self, key: str) -> None: ...


class CacheStore:
    """Counters as cache entries: atomic, and shared by every process, with Redis."""

    def shared(self) -> bool:
        return not isinstance(caches["default"], LocMemCache | DummyCache)

    def hit(self, key: str, window: int, amount: int = 1) -> int:
        if amount < 0:  # taking back a hit: nothing to take back once the window has closed
            try:
                return max(0, int(cache.incr(key, amount)))
            except ValueError:
                return 0
        # add() sets the window's expiry only once; incr() keeps it.
        if cache.add(key, amount, timeout=window):
            return amount
        try:
            return int(cache.incr(key, amount))
        except ValueError:  # expired between add() and incr()
            cache.add(key, amount, timeout=window)
            return amount

    def count(self, key: str) -> int:
        return int(cache.get(key, 0))

    def reset(self, key: str) -> None:
        cache.delete(key)


def sqlite_path() -> Path:
    return Path(settings.DATA_DIR) / "counters.sqlite3"


class DatabaseStore:
    """Counters as rows, through a connection per thread that is not the request's."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._last_purge = 0.0

    def shared(self) -> bool:
        return True

    def _new_connection(self) -> BaseDatabaseWrapper:
        # The request connection's settings (already pointed at the test database under pytest), with
        # the same options: on SQLite WAL mode and the busy timeout apply to the counters' file too.
        config: dict[str, Any] = dict(connections["default"].settings_dict)
        sqlite = config["ENGINE"].endswith("sqlite3")
        if sqlite:
            sqlite_path().parent.mkdir(parents=True, exist_ok=True)
            config["NAME"] = str(sqlite_path())
        else:
            # A counter is worth less than a disk flush: without this each hit (one per API request)
            # waits for PostgreSQL's WAL to reach the disk. A server crash may forget the last hits.
            options = dict(config.get("OPTIONS") or {})
            options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()
            config["OPTIONS"] = options
        wrapper: BaseDatabaseWrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, "counters")
        if sqlite and Counter._meta.db_table not in wrapper.introspection.table_names():
            try:
                # Not atomic: an atomic schema editor looks its connection up by alias, and this one is
                # not in DATABASES. One CREATE TABLE either happens or not.
                with wrapper.schema_editor(atomic=False) as editor:
                    editor.create_model(Counter)
            except DatabaseError:  # another process created it a moment ago
                if Counter._meta.db_table not in wrapper.introspection.table_names():
                    raise
        return wrapper

    def _connection(self) -> BaseDatabaseWrapper:
        wrapper: BaseDatabaseWrapper | None = getattr(self._local, "wrapper", None)
        if wrapper is None:
            wrapper = self._local.wrapper = self._new_connection()
        return wrapper

    def _execute(self, sql: str, params: list[Any], *, fetch: bool) -> Any:
        for attempt in range(2):
            wrapper = self._connection()
            try:
                with wrapper.cursor() as cursor:
                    cursor.execute(sql, params)
                    # fetchall() runs the statement to its end, which on SQLite releases the write lock.
                    return cursor.fetchall() if fetch else cursor.rowcount
            except (OperationalError, InterfaceError):
                # A connection the server closed (PostgreSQL restarted): one new connection, one retry.
                wrapper.close()
                self._local.wrapper = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _names(self) -> tuple[str, str, str, str]:
        quote = self._connection().ops.quote_name
        return quote(Counter._meta.db_table), quote("key"), quote("count"), quote("expires_at")

    def _time(self, moment: datetime) -> Any:
        return self._connection().ops.adapt_datetimefield_value(moment)

    def hit(self, key: str, window: int, amount: int = 1) -> int:
        """Add ``amount`` (1, or -1 to take back an attempt that succeeded); returns the new count."""
        now = timezone.now()
        table, k, c, e = self._names()
        # Django's upsert (bulk_create with update_conflicts) can only overwrite a row, not add to it or
        # start a new window in it: hence this statement, the same on SQLite and PostgreSQL. Every SET
        # expression reads the row as it was, so both CASEs agree on whether the window had closed.
        sql = (
            f"INSERT INTO {table} ({k}, {c}, {e}) VALUES (%s, %s, %s) "  # noqa: S608 - names, not values
            f"ON CONFLICT ({k}) DO UPDATE SET "
            f"{c} = CASE WHEN {table}.{e} <= %s THEN excluded.{c} "
            f"WHEN {table}.{c} + %s < 0 THEN 0 ELSE {table}.{c} + %s END, "
            f"{e} = CASE WHEN {table}.{e} <= %s THEN excluded.{e} ELSE {table}.{e} END "
            f"RETURNING {c}"
        )
        moment = self._time(now)
        closes = self._time(now + timedelta(seconds=window))
        params = [key, max(amount, 0), closes, moment, amount, amount, moment]
        rows = self._execute(sql, params, fetch=True)
        if time.monotonic() - self._last_purge > PURGE_EVERY:
            self._last_purge = time.monotonic()
            self.purge(now=now)
        return int(rows[0][0])

    def count(self, key: str) -> int:
        table, k, c, e = self._names()
        sql = f"SELECT {c} FROM {table} WHERE {k} = %s AND {e} > %s"  # noqa: S608
        rows = self._execute(sql, [key, self._time(timezone.now())], fetch=True)
        return int(rows[0][0]) if rows else 0

    def reset(self, key: str) -> None:
        table, k, _, _ = self._names()
        self._execute(f"DELETE FROM {table} WHERE {k} = %s", [key], fetch=False)  # noqa: S608

    def purge(self, *, now: datetime | None = None, dry_run: bool = False) -> int:
        """Delete the rows whose window has closed (or count them). Returns how many."""
        table, _, _, e = self._names()
        moment = [self._time(now or timezone.now())]
        if dry_run:
            sql = f"SELECT COUNT(*) FROM {table} WHERE {e} < %s"  # noqa: S608
            return int(self._execute(sql, moment, fetch=True)[0][0])
        return int(self._execute(f"DELETE FROM {table} WHERE {e} < %s", moment, fetch=False))  # noqa: S608

    def keys(self) -> list[str]:
        """Every stored key, for inspection: what the store holds is scopes and HMACs, nothing else."""
        table, k, _, _ = self._names()
        return [str(row[0]) for row in self._execute(f"SELECT {k} FROM {table}", [], fetch=True)]  # noqa: S608

    def clear(self) -> None:
        table, _, _, _ = self._names()
        self._execute(f"DELETE FROM {table}", [], fetch=False)  # noqa: S608

    def close(self) -> None:
        wrapper: BaseDatabaseWrapper | None = getattr(self._local, "wrapper", None)
        if wrapper is not None:
            wrapper.close()
            self._local.wrapper = None


CACHE = CacheStore()
DATABASE = DatabaseStore()


def store() -> CacheStore | DatabaseStore:
    """The store in use: Redis's cache when it is configured, else the database (settings.COUNTERS)."""
    return CACHE if settings.COUNTERS == "cache" else DATABASE


def purge_expired(*, now: datetime | None = None, dry_run: bool = False) -> int:
    """The inventory's retention rule for counters (cache entries expire by themselves)."""
    current = store()
    return current.purge(now=now, dry_run=dry_run) if isinstance(current, DatabaseStore) else 0


def purge_for_retention(run: Purge) -> None:
    """The receiver of the counters' retention rule (:data:`candor.core.models.expired_counters`)."""
    run.removed += purge_expired(now=run.now, dry_run=run.dry_run)
