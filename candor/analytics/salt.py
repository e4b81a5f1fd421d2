"""The daily salt of visitor hashes: random each UTC day, shared by every process, destroyed at day end.

A visitor is counted as ``blake2b(address, user agent; key=salt)``, cut to 32 bits. Every process needs
the same salt on the same day (or one visitor would count once per process), so it is kept where they
all can read it: a row of ``DailySalt`` (embedded), or a Redis key that expires when the day ends. The
first process to need a new day's salt draws it; whoever sees a new day first deletes the salts of the
days before, and the periodic rollup deletes them too, so a salt outlives its day by at most one
rollup interval when the site is idle. Drawing the salt is a write made on a read path, so it is made
only if the database's write lock is free at that instant (candor/kernel/locks.py): a request that finds
it taken is counted without a visitor hash, and a later one draws the salt. Once it is gone, the day's
sketches cannot be probed for a given person: their hash under any other key says nothing about
whether they were counted.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from candor.analytics import redis_store
from candor.analytics.models import DailySalt
from candor.kernel.db import checkpoint_wal
from candor.kernel.locks import write_if_free

_lock = threading.RLock()  # re-entered: salt_for() -> destroy_before() -> forget_before()
_current: tuple[date, bytes] | None = None
_keyed: tuple[date, Any] | None = None


class SaltUnavailable(Exception):
    """The day's salt does not exist yet and cannot be drawn now: another process holds the write lock."""


def visitor_hash(day: date, address: str, user_agent: str) -> int | None:
    """The visitor's keyed hash for ``day``; None when the day's salt cannot be had without waiting."""
    global _keyed
    keyed = _keyed
    if keyed is None or keyed[0] != day:
        try:
            day_salt = salt_for(day)
        except SaltUnavailable:
            return None
        # A keyed hasher set up once a day and copied per visitor: cheaper than keying each time.
        keyed = (day, hashlib.blake2b(key=day_salt, digest_size=4))
        _keyed = keyed
    hasher = keyed[1].copy()
    hasher.update(address.encode() + b"\0" + user_agent.encode("utf-8", "replace"))
    return int.from_bytes(hasher.digest(), "little")


def salt_for(day: date) -> bytes:
    """The salt of ``day``, drawn if it does not exist yet. SaltUnavailable if it cannot be drawn now."""
    global _current
    current = _current
    if current is not None and current[0] == day:
        return current[1]
    with _lock:
        if _current is not None and _current[0] == day:
            return _current[1]
        salt = _redis_salt(day) if settings.REDIS_URL else _database_salt(day)
        _current = (day, salt)
        return salt


def forget_in_memory() -> None:
    """Drop this process's copy (after a fork, and in tests that move the clock)."""
    global _current, _keyed
    with _lock:
        _current = None
        _keyed = None


def forget_before(day: date) -> None:
    """Drop this process's copy of a salt whose day is before ``day``.

    The flush thread calls this every interval, so a process that serves no request after midnight
    does not keep the ended day's salt (or the hasher keyed with it) in its memory.
    """
    global _current, _keyed
    with _lock:
        if _current is not None and _current[0] < day:
            _current = None
        if _keyed is not None and _keyed[0] < day:
            _keyed = None


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


REDIS_PREFIX = "candor:analytics:salt:"


def _redis_key(day: date) -> str:
    return f"{REDIS_PREFIX}{day.isoformat()}"


def _redis_salt(day: date) -> bytes:
    redis = redis_store.client()
    key = _redis_key(day)
    # EXAT: Redis itself deletes the salt when the day ends, whether or not any process is running.
    redis.set(key, secrets.token_bytes(32), nx=True, exat=int(_end_of(day).timestamp()))
    value = redis.get(key)
    assert isinstance(value, bytes)
    return value


def _database_salt(day: date) -> bytes:
    # Read in autocommit first: on SQLite a transaction.atomic() would begin IMMEDIATE, and every
    # counted request would queue behind any writer for the salt that is nearly always there already.
    found = _stored_salt(day)
    if found is None or _held_before(day):
        # A new day for this process: draw the salt (unless another process has) and delete the ended
        # days'. Skipped if another holds the lock; the next request, or the rollup, does it then.
        write_if_free(partial(_draw, day))
        found = found or _stored_salt(day)
    forget_before(day)
    if found is None:
        raise SaltUnavailable(day.isoformat())
    return found


def _stored_salt(day: date) -> bytes | None:
    value = DailySalt.objects.filter(day=day).values_list("salt", flat=True).first()
    return None if value is None else bytes(value)


def _held_before(day: date) -> bool:
    return DailySalt.objects.filter(day__lt=day).exists()


def _draw(day: date) -> None:
    """Draw the day's salt unless another process has, and delete the ended days' (one transaction)."""
    DailySalt.objects.bulk_create([DailySalt(day=day, salt=secrets.token_bytes(32))], ignore_conflicts=True)
    destroy_before(day)


def held_days() -> list[date]:
    """The days whose salt still exists: today's at most, once ended days' salts are destroyed."""
    if settings.REDIS_URL:
        keys = redis_store.client().scan_iter(match=REDIS_PREFIX + "*")
        return sorted(date.fromisoformat(key.decode().removeprefix(REDIS_PREFIX)) for key in keys)
    return sorted(DailySalt.objects.values_list("day", flat=True))


def destroy_before(day: date) -> int:
    """Delete the salts of every day before ``day``. Returns how many were deleted."""
    forget_before(day)
    if settings.REDIS_URL:
        return 0  # Redis expires each salt at its day's end (EXAT)
    deleted, _ = DailySalt.objects.filter(day__lt=day).delete()
    if deleted and connection.vendor == "sqlite":
        # SQLite cannot checkpoint inside a transaction: at once if there is none, else once it commits.
        transaction.on_commit(_checkpoint)
    return deleted


def _checkpoint() -> None:
    # secure_delete has zeroed the salt's page in the database; the write-ahead log still holds the old
    # page until a checkpoint copies it back and the log is truncated.
    checkpoint_wal()
