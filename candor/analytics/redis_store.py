"""Redis mode: processes add their batches to Redis; the rollup task moves them into the database.

Counters are fields of one Redis hash (``HINCRBY``), visitors go into one HyperLogLog per day and scope
(``PFADD``). The rollup renames the hash before reading it, so increments that arrive meanwhile start a
new hash and are neither lost nor counted twice; it then writes the day's ``PFCOUNT`` estimates. A
renamed hash whose rollup failed is picked up by the next one.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import redis
from django.conf import settings
from django.db import transaction

from candor.analytics import store
from candor.analytics.batch import Batch

COUNTS = "candor:analytics:counts"
ROLLING = "candor:analytics:rolling:"
SKETCHES = "candor:analytics:sketches"  # the set of HyperLogLog keys with visitors not yet rolled up
SKETCH_DAYS = 3  # a day's HyperLogLogs outlive it by this much, then Redis expires them
LOCK = "candor:analytics:rollup-lock"
LOCK_SECONDS = 600  # longer than any rollup takes; a crashed one's lock expires after it


@lru_cache(maxsize=1)
def _pool(url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(url)


def client() -> redis.Redis:
    assert settings.REDIS_URL
    return redis.Redis(connection_pool=_pool(settings.REDIS_URL))


def _sketch_key(day: date, model_id: int) -> str:
    return f"candor:analytics:hll:{day.isoformat()}:{model_id}"


def write(batch: Batch) -> None:
    pipe = client().pipeline(transaction=True)
    for (hour, route, bot), n in batch.routes.items():
        pipe.hincrby(COUNTS, f"r|{hour.isoformat()}|{route}|{int(bot)}", n)
    for (hour, model_id, kind), n in batch.models.items():
        pipe.hincrby(COUNTS, f"m|{hour.isoformat()}|{model_id}|{kind}", n)
    for (day, dimension, value), n in batch.dimensions.items():
        pipe.hincrby(COUNTS, f"d|{day.isoformat()}|{dimension}|{value}", n)
    for (day, model_id), hashes in batch.visitors.items():
        key = _sketch_key(day, model_id)
        pipe.pfadd(key, *(h.to_bytes(4, "little") for h in hashes))
        pipe.expireat(key, datetime.combine(day + timedelta(days=SKETCH_DAYS), datetime.min.time(), UTC))
        pipe.sadd(SKETCHES, key)
    pipe.execute()


def _parse(fields: dict[bytes | str, bytes | str]) -> Batch:
    batch = Batch()
    for raw_key, raw_n in fields.items():
        text = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        kind, when, name, extra = text.split("|", 3)
        n = int(raw_n)
        if kind == "r":
            batch.routes[(datetime.fromisoformat(when), name, extra == "1")] += n
        elif kind == "m":
            batch.models[(datetime.fromisoformat(when), int(name), extra)] += n
        elif kind == "d":
            batch.dimensions[(date.fromisoformat(when), name, extra)] += n
    return batch


def rollup(today: date | None = None) -> int:
    """Move Redis's counters and estimates into the database. Returns the number of counters moved.

    One rollup at a time: two (from two workers, or two chains of the task) would both read a renamed
    hash before either deleted it, and count it twice. One that finds another running leaves the work
    to it and returns 0.
    """
    redis_client = client()
    lock = redis_client.lock(LOCK, timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0
    try:
        return _rollup(redis_client, today or datetime.now(UTC).date())
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # held past its timeout: expired already
            lock.release()


def _rollup(redis_client: redis.Redis, today: date) -> int:
    moved = 0
    if redis_client.exists(COUNTS):
        with contextlib.suppress(redis.ResponseError):  # another rollup renamed it first
            redis_client.rename(COUNTS, ROLLING + secrets.token_hex(8))
    for key in sorted(redis_client.scan_iter(match=ROLLING + "*")):
        fields = redis_client.hgetall(key)
        with transaction.atomic():
            store.write(_parse(fields))
            # Deleted before the counts commit: a crash between the two loses this batch (as a crash
            # loses a process's last interval) instead of counting it again at the next rollup.
            redis_client.delete(key)
        moved += len(fields)
    estimates: dict[tuple[date, int], int] = {}
    finished: list[str] = []
    names = sorted(
        raw.decode() if isinstance(raw, bytes) else str(raw) for raw in redis_client.smembers(SKETCHES)
    )
    pipe = redis_client.pipeline(transaction=False)
    for name in names:
        pipe.pfcount(name)
    for name, count in zip(names, pipe.execute(), strict=True):
        _, _, _, day_text, model_text = name.split(":")
        day = date.fromisoformat(day_text)
        estimates[(day, int(model_text))] = int(count)
        if day < today:
            finished.append(name)  # the day is over: its figure is final
    if estimates:
        store.write(Batch(), unique_counts=estimates)
    if finished:
        redis_client.srem(SKETCHES, *finished)
    return moved


def clear() -> None:
    """Remove every analytics key (tests, and an operator resetting counts)."""
    redis_client = client()
    keys = list(redis_client.scan_iter(match="candor:analytics:*"))
    if keys:
        redis_client.delete(*keys)
