"""Per-process counting: requests are added up in memory and written out in batches.

Recording a request is a few dictionary additions under a lock. A background thread writes the batch
out every ``CANDOR_ANALYTICS_FLUSH_SECONDS`` (or sooner, once ``CANDOR_ANALYTICS_FLUSH_KEYS`` distinct
counters wait): into the database as additive upserts, or in Redis mode into Redis, from where the
rollup task moves them into the database. A graceful stop (gunicorn's worker exit, interpreter exit)
writes what is left; a crash loses at most the last interval's counts. A batch that fails to write is
kept and tried again with the next.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver

from candor.analytics import redis_store, salt, store
from candor.analytics.batch import Batch

logger = logging.getLogger("candor.analytics")


class Buffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch = Batch()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.flush_lock = threading.Lock()  # one flush at a time per process

    def record(
        self,
        *,
        hour: datetime,
        route: str,
        bot: bool,
        model_id: int | None = None,
        kind: str = "view",
        dimensions: tuple[tuple[str, str], ...] = (),
        visitor: int | None = None,
    ) -> None:
        with self.lock:
            batch = self.batch
            batch.events[(hour, route, bot, model_id, kind, dimensions)] += 1
            if visitor is not None and not bot:
                day = hour.date()
                batch.visitors[(day, 0)].add(visitor)
                if model_id is not None:
                    batch.visitors[(day, model_id)].add(visitor)
            full = len(batch.events) + len(batch.visitors) >= _limits.keys
        if full:
            if self._thread_running():
                self.wake.set()
            else:
                self.flush()
        elif self.thread is None and _limits.seconds:
            self._start_thread()

    def take(self) -> Batch:
        with self.lock:
            batch, self.batch = self.batch, Batch()
        return batch.fold()

    def put_back(self, batch: Batch) -> None:
        with self.lock:
            batch.merge(self.batch)
            self.batch = batch

    def flush(self) -> int:
        """Write out what is waiting. Returns the number of counters written (0 if none, or if it failed)."""
        with self.flush_lock:
            batch = self.take()
            size = batch.size()
            if not size:
                return 0
            try:
                write(batch)
            except Exception as error:
                self.put_back(batch)
                # The batch holds no personal data, but the message is kept to the error's kind anyway.
                logger.warning(
                    "analytics flush failed (%s); %d counters kept for the next", type(error).__name__, size
                )
                return 0
            return size

    def _thread_running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _start_thread(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name="candor-analytics-flush", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait(settings.ANALYTICS_FLUSH_SECONDS)
            self.wake.clear()
            try:
                self.flush()
                salt.forget_before(datetime.now(UTC).date())  # an ended day's salt leaves memory too
            finally:
                connection.close()  # this thread's own connection; the next flush opens a fresh one

    def reset(self) -> None:
        """Start empty, with no thread (in a forked child, whose parent's thread does not exist)."""
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.batch = Batch()
        self.wake = threading.Event()
        self.thread = None


BUFFER = Buffer()


class _Limits:
    """The flush thresholds, read from settings once (record() runs on every request) and again when a
    test changes them."""

    def __init__(self) -> None:
        self.load()

    def load(self, **kwargs: object) -> None:
        self.keys = settings.ANALYTICS_FLUSH_KEYS
        self.seconds = settings.ANALYTICS_FLUSH_SECONDS


_limits = _Limits()


@receiver(setting_changed)
def _reload_limits(setting: str, **kwargs: object) -> None:
    if setting.startswith("ANALYTICS_FLUSH_"):
        _limits.load()


def write(batch: Batch) -> None:
    if settings.REDIS_URL:
        redis_store.write(batch)
    else:
        store.write(batch)


def flush() -> int:
    return BUFFER.flush()


_installed = False


def install_exit_flush() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_flush_at_exit)
    os.register_at_fork(after_in_child=BUFFER.reset)


def _flush_at_exit() -> None:
    started = time.monotonic()
    written = BUFFER.flush()
    if written:
        logger.info(
            "analytics: %d counters written at exit in %.0f ms", written, (time.monotonic() - started) * 1000
        )
