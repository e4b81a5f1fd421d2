"""What keeps background work going through crashes, on either queue.

- Transient errors (the database locked or unreachable, the broker restarting) are waited out with an
  exponential backoff instead of stopping the worker.
- Each worker holds a lock for as long as its process lives: a file lock (``flock``) beside the SQLite
  database or in the data folder, and on PostgreSQL a session advisory lock. The kernel or the database
  server releases it the moment the process dies, however it dies (``kill -9`` included), so a task
  still marked running whose worker's lock can be taken was orphaned, and is run again at once. This is
  the lease; it is renewed by the process being alive rather than by a clock, so a worker that is merely
  slow (waiting on a lock longer than any heartbeat interval) never has its task taken from it.
- A task is tried ``CANDOR_TASK_ATTEMPTS`` times in all (after a transient error or a dead worker)
  before it is marked failed, so a task that kills its worker every time cannot loop for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from django.apps import apps
from django.conf import settings
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.tasks import task_backends

from candor.core import objectstore

logger = logging.getLogger("candor.worker")

# A signal that arrives this soon after a first one is the same request delivered twice: Ctrl-C in a
# terminal reaches the whole process group, and the supervisor passes it on to its loop as well.
REPEATED_SIGNAL_SECONDS = 2.0


class WorkerLost(Exception):
    """Recorded as a task's error when its worker died while running it too many times."""


def attempts() -> int:
    return int(getattr(settings, "TASK_ATTEMPTS", 5))


def backoff_max() -> float:
    return float(getattr(settings, "WORKER_BACKOFF_MAX_SECONDS", 60))


def is_transient(error: BaseException) -> bool:
    """Whether waiting may cure the error: the database, the broker or the file store unavailable for now."""
    if isinstance(error, OperationalError | InterfaceError | objectstore.StoreUnavailable):
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(error, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError)


class Backoff:
    """Exponential waits with jitter (so workers that failed together do not retry together)."""

    def __init__(self, first: float = 0.5, maximum: float | None = None) -> None:
        self.first = first
        self.maximum = backoff_max() if maximum is None else maximum
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.first * 2**self.failures)
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.failures = 0


def retry_delay(attempt: int) -> float:
    """How long a task waits before its next attempt after a transient error (5 s, 10 s, 20 s …)."""
    return min(backoff_max(), 5.0 * 2.0 ** max(attempt - 1, 0))


def persist[T](action: Callable[[], T], what: str) -> T:
    """Run ``action`` (a write the worker cannot go on without) until the database takes it."""
    backoff = Backoff()
    while True:
        try:
            return action()
        except Exception as error:
            if not is_transient(error):
                raise
            wait = backoff.next()
            # The class only: a database error's text may quote a value.
            logger.warning("%s: %s; trying again in %.1f s", what, type(error).__name__, wait)
            time.sleep(wait)
            close_old_connections()


# --- Liveness --------------------------------------------------------------------------------------------


def _sqlite_lock_dir() -> Path:
    # Beside the database file, not in the data folder: every worker of one SQLite file sees the same
    # folder, whatever data folder each was given.
    name = str(connections["default"].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):  # a database of one process (tests)
        return Path(settings.DATA_DIR) / "workers-memory"
    return Path(name).parent / f"{Path(name).name}-workers"


def rq_lock_dir() -> Path:
    return Path(settings.DATA_DIR) / "workers"


def advisory_key(worker_id: str) -> int:
    digest = hashlib.sha256(f"candor-worker:{worker_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class FileLease:
    """An exclusive ``flock`` on a file named after the worker, held until the process ends."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / f"{name}.lock"
        self.descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
            os.close(self.descriptor)


def file_holder_dead(folder: Path, name: str) -> bool | None:
    """True when the worker's lock file exists and nobody holds it (it died); None when there is no
    file (a worker on another machine, or one that has not started yet); False while it is held."""
    path = folder / f"{name}.lock"
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Ours now: the holder is gone. The file goes, so the folder does not fill up after crashes.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(descriptor)


def database_worker_dead(worker_id: str) -> bool:
    """Whether the database-queue worker ``worker_id`` is gone (its lock is free)."""
    connection = connections["default"]
    if connection.vendor == "postgresql":
        key = advisory_key(worker_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            taken = bool(cursor.fetchone()[0])
            if taken:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return taken
    # SQLite (all its workers are on this machine): a worker with no lock file never held one.
    return file_holder_dead(_sqlite_lock_dir(), worker_id) is not False


class DatabaseLease:
    """The database-queue worker's proof of life, for as long as this process runs.

    On PostgreSQL the advisory lock belongs to one connection; ``keep()`` is called regularly from one
    thread (the keeper), which checks the lock is still held and takes it again after a reconnection.
    """

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.file: FileLease | None = None
        self.vendor = connections["default"].vendor
        self.session: Any = None
        if self.vendor != "postgresql":
            self.file = FileLease(_sqlite_lock_dir(), worker_id)

    def keep(self) -> None:
        if self.vendor != "postgresql":
            return
        connection = connections["default"]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # the session (and so its lock) is still there
        except Exception:
            connection.close()  # a new session next time, which takes the lock again
            raise
        if connection.connection is self.session:
            return
        with connection.cursor() as cursor:
            # The server notices a vanished client after about a minute of silence (by default, after
            # hours): what makes the lease of a machine that died lapse on its own.
            cursor.execute("SET tcp_keepalives_idle = 30")
            cursor.execute("SET tcp_keepalives_interval = 10")
            cursor.execute("SET tcp_keepalives_count = 3")
            cursor.execute("SELECT pg_advisory_lock(%s)", [advisory_key(self.worker_id)])
        self.session = connection.connection

    def release(self) -> None:
        """Give the lease up (on PostgreSQL, from the thread that keeps it). A process that dies loses
        it all the same; this is for a stop that is on time, so nobody waits on a closing session."""
        if self.session is not None:
            with contextlib.suppress(Exception), connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [advisory_key(self.worker_id)])
            self.session = None
        if self.file is not None:
            self.file.release()
            self.file = None


# --- Orphans of the database queue ------------------------------------------------------------------------


def reclaim_database_orphans(own_worker_id: str | None = None) -> int:
    """Tasks marked running whose worker is dead: queued again at once, or failed after the last attempt.

    Returns how many were found. Safe with several workers reclaiming at once: each change is
    conditional on the row being as it was read.
    """
    from django.tasks.signals import task_finished
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    found = 0
    running = DBTaskResult.objects.filter(status="RUNNING").values_list("pk", "worker_ids", "started_at")
    for pk, worker_ids, started_at in list(running):
        holder = worker_ids[-1] if worker_ids else ""
        if holder == own_worker_id or not database_worker_dead(holder):
            continue
        found += 1
        now = timezone.now()
        same = DBTaskResult.objects.filter(pk=pk, status="RUNNING", started_at=started_at)
        if len(worker_ids) < attempts():
            if same.update(status="READY", run_after=now):
                logger.warning("task %s lost its worker; queued again (attempt %d)", pk, len(worker_ids) + 1)
            continue
        changed = same.update(
            status="FAILED",
            finished_at=now,
            exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
            traceback=f"Its worker stopped while running it, {len(worker_ids)} times.",
        )
        if changed:
            logger.error("task %s lost its worker %d times; marked failed", pk, len(worker_ids))
            row = DBTaskResult.objects.get(pk=pk)
            with contextlib.suppress(ImportError):
                task_finished.send(type(task_backends[row.backend_name]), task_result=row.task_result)
    return found


# --- RQ ---------------------------------------------------------------------------------------------------


def rq_retry() -> Any:
    """The retries every RQ job gets: after a failure (a transient error) and when its worker died."""
    from rq import Retry

    # The first one at once (RQ then queues it again itself, with no need of its scheduler, whose lock a
    # dead worker's scheduler holds for a minute): it is most often a worker that died, found when
    # another one starts. The next ones wait longer and longer.
    retries = max(attempts() - 1, 1)
    intervals = [min(seconds, int(backoff_max())) for seconds in (0, 15, 60, 300, 900)[:retries]]
    return Retry(max=retries, interval=intervals)


def reclaim_rq_orphans(queue: Any, own_name: str) -> int:
    """Jobs in the queue's started registry whose worker (on this machine) is dead are handed to RQ's
    own abandoned-job handling now (retried, or failed with their callbacks once out of retries),
    instead of when their entry would have expired (a minute and a half later, then the next cleaning).
    Jobs of workers on other machines are left to that expiry."""
    from rq.executions import Execution

    registry = queue.started_job_registry
    connection = queue.connection
    expired = 0
    for entry in connection.zrange(registry.key, 0, -1):
        composite = entry.decode() if isinstance(entry, bytes) else str(entry)
        job_id, _, execution_id = composite.partition(":")
        try:
            execution = Execution.fetch(id=execution_id, job_id=job_id, connection=connection)
        except ValueError:
            continue  # the execution record expired: the registry's own cleanup will see to it
        if not execution.worker_name or execution.worker_name == own_name:
            continue
        if file_holder_dead(rq_lock_dir(), execution.worker_name):
            connection.zadd(registry.key, {composite: 0}, xx=True)
            expired += 1
            logger.warning("job %s lost its worker; handed back to the queue", job_id)
    if expired:
        registry.cleanup()
    return expired


@contextlib.contextmanager
def watching_parent(stop: Callable[[], None], interval: float = 1.0) -> Iterator[None]:
    """Call ``stop`` once if the process that started this one goes away (a supervisor killed outright),
    so no loop lives on unsupervised beside the one a restarted supervisor starts."""
    import threading

    parent = os.getppid()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(interval):
            if os.getppid() != parent:
                logger.warning("the supervising process is gone; stopping after the current task")
                stop()
                return

    thread = threading.Thread(target=watch, name="candor-parent-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


# --- Side effects that must happen once -------------------------------------------------------------------


def run_once(task_id: str, step: str, action: Callable[[], None]) -> bool:
    """Carry out ``action`` unless this task (a run of it before, by a worker that died) already did.

    The mark is written before the action, so a second run never repeats it: at most once, the right
    side to err on for an email (a person can ask for another; two are a sign of a fault, or worse).
    If the action fails, the mark goes, and the retry carries it out. Returns whether it ran.
    """
    # Through the registry: this module is imported before the apps are ready (the leases, the
    # worker's start), when importing a models module fails.
    steps = apps.get_model("core", "TaskStep")._default_manager
    try:
        with transaction.atomic():
            steps.create(task_id=task_id, step=step)
    except IntegrityError:
        logger.info("task %s: %s was done by an earlier run; not again", task_id, step)
        return False
    try:
        action()
    except BaseException:
        persist(lambda: steps.filter(task_id=task_id, step=step).delete(), "unmarking a step")
        raise
    return True


# --- Whether a task is still to come ----------------------------------------------------------------------


Backend = Literal["database", "rq", "other"]


def backend_kind(alias: str = "default") -> Backend:
    """Which queue the task backend ``alias`` keeps: the database's table, Redis (RQ), or none this
    module can look into (the immediate backend of tests and of CANDOR_TASKS_IMMEDIATE)."""
    module = type(task_backends[alias]).__module__
    if module.startswith("django_tasks_db"):
        return "database"
    if module.startswith("django_tasks_rq"):
        return "rq"
    return "other"


def is_waiting_or_running(task: Any, args: list[Any]) -> bool | None:
    """Whether a run of ``task`` with these arguments is queued, scheduled, retrying or running; None
    when the backend cannot tell (one that runs tasks at once keeps no queue to look in)."""
    kind = backend_kind(task.backend)
    wanted = [*args]
    if kind == "database":
        from django_tasks_db.models import DBTaskResult

        rows = DBTaskResult.objects.filter(task_path=task.module_path, status__in=["READY", "RUNNING"])
        return any(row["args"] == wanted for row in rows.values_list("args_kwargs", flat=True))
    if kind == "rq":
        import django_rq
        from django_tasks_rq.backend import Job

        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        ids = [
            *queue.get_job_ids(),
            *queue.scheduled_job_registry.get_job_ids(),
            *queue.started_job_registry.get_job_ids(),
        ]
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is not None and job.func_name == task.module_path and list(job.args) == wanted:
                return True
        return False
    return None


def drop_tasks_naming(*texts: str, alias: str = "default") -> int:
    """Remove every queued task whose arguments hold one of ``texts`` (an erased account's id, the ids
    of the emails still waiting to go to it), not just skip them; returns how many went."""
    kind = backend_kind(alias)
    dropped = 0
    if kind == "database":
        from django_tasks_db.models import DBTaskResult

        for pk, args_kwargs in DBTaskResult.objects.values_list("pk", "args_kwargs").iterator():
            if _names_any(json.dumps(args_kwargs), texts):
                dropped += DBTaskResult.objects.filter(pk=pk).delete()[0]
    elif kind == "rq":
        import django_rq

        queue = django_rq.get_queue("default")
        # The scheduled ones too: a task waiting for its next try after a transient error is there.
        scheduled = queue.job_class.fetch_many(
            queue.scheduled_job_registry.get_job_ids(), connection=queue.connection
        )
        for job in [*queue.get_jobs(), *(job for job in scheduled if job is not None)]:
            if _names_any(repr(job.args) + repr(job.kwargs), texts):
                job.delete()
                dropped += 1
    return dropped


def _names_any(arguments: str, texts: tuple[str, ...]) -> bool:
    return any(text in arguments for text in texts)
