"""The database queue's worker loop (django-tasks-db's), made to outlast what used to stop it.

django-tasks-db's loop ends on any database error other than a lock it saw while claiming (a lock that
outlasts the busy timeout when its transaction begins, a lost PostgreSQL connection), and a task whose
outcome could not be written stays "running" for ever. Here:

- the loop waits out transient errors with a backoff and carries on;
- a task that fails with a transient error is queued again a little later (up to the attempts allowed);
- its outcome is written whatever the database's state, retried until it is taken;
- a forced stop puts the task it interrupts back in the queue instead of marking it failed;
- a keeper thread holds the worker's lease (see :mod:`candor.core.taskqueue`) and hands the tasks of
  dead workers back to the queue, at start and then every ``RECLAIM_SECONDS``.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import close_old_connections, connections
from django.tasks import TaskContext
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker as LibraryWorker
from django_tasks_db.models import DBTaskResult

from candor.core import taskqueue
from candor.core.taskqueue import logger

RECLAIM_SECONDS = 5.0


class Worker(LibraryWorker):
    def __init__(self, *, supervised: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.supervised = supervised
        self.first_signal_at = 0.0
        self.lease: taskqueue.DatabaseLease | None = None
        self.stop_keeper = threading.Event()

    # --- Signals -------------------------------------------------------------------------------------

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if not self.running and time.monotonic() - self.first_signal_at < taskqueue.REPEATED_SIGNAL_SECONDS:
            return  # the same stop request, delivered twice
        if self.running:
            self.first_signal_at = time.monotonic()
        super().shutdown(signum, frame)

    # --- The loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        self.lease = taskqueue.persist(lambda: taskqueue.DatabaseLease(self.worker_id), "taking the lease")
        self._ready = threading.Event()
        keeper = threading.Thread(target=self._keep, name="candor-worker-keeper", daemon=True)
        keeper.start()
        self._ready.wait()  # on PostgreSQL, nothing is claimed before the lease is held
        try:
            backoff = taskqueue.Backoff()
            while self.running:
                try:
                    taskqueue.reclaim_database_orphans(self.worker_id)
                    super().run()
                    return
                except Exception as error:
                    if not taskqueue.is_transient(error):
                        raise
                    wait = backoff.next()
                    logger.warning(
                        "worker: the database is unavailable (%s); trying again in %.1f s",
                        type(error).__name__,
                        wait,
                    )
                    time.sleep(wait)
                    close_old_connections()
        finally:
            self.stop_keeper.set()
            keeper.join(timeout=10)

    def _keep(self) -> None:
        """The keeper thread: holds the lease, hands dead workers' tasks back, watches the supervisor."""
        import os

        assert self.lease is not None
        parent = os.getppid()
        backoff = taskqueue.Backoff()
        wait = 0.0
        try:
            while not self.stop_keeper.wait(wait):
                try:
                    self.lease.keep()
                    self._ready.set()
                    taskqueue.reclaim_database_orphans(self.worker_id)
                    backoff.reset()
                    wait = RECLAIM_SECONDS
                except Exception as error:
                    wait = backoff.next()
                    logger.warning("worker keeper: %s; trying again in %.1f s", type(error).__name__, wait)
                if self.supervised and os.getppid() != parent and self.running:
                    logger.warning("worker: the supervising process is gone; stopping after the current task")
                    os.kill(os.getpid(), signal.SIGTERM)
                    parent = os.getppid()
        finally:
            self._ready.set()
            self.lease.release()
            connections.close_all()

    # --- One task ------------------------------------------------------------------------------------

    def run_task(self, db_task_result: DBTaskResult[..., Any]) -> None:
        try:
            self.running_task = True
            self._run(db_task_result)
        finally:
            self.running_task = False
            self._run_tasks += 1

    def _run(self, row: DBTaskResult[..., Any]) -> None:
        try:
            task = row.task
            task_result = row.task_result
        except (ImportError, SuspiciousOperation) as error:
            logger.error("task %s cannot be run: %s", row.pk, type(error).__name__)
            _record_failure(row, error)
            return
        sender = type(task.get_backend())
        try:
            task_started.send(sender=sender, task_result=task_result)
            if task.takes_context:
                context: TaskContext[..., Any] = TaskContext(task_result=task_result)
                value = task.call(context, *task_result.args, **task_result.kwargs)
            else:
                value = task.call(*task_result.args, **task_result.kwargs)
        except (KeyboardInterrupt, SystemExit):
            # A forced stop: the task did not fail, it was interrupted; the next worker runs it again.
            DBTaskResult.objects.filter(pk=row.pk, status="RUNNING").update(
                status="READY", run_after=timezone.now()
            )
            raise
        except Exception as error:
            attempt = len(row.worker_ids)
            if taskqueue.is_transient(error) and attempt < taskqueue.attempts():
                delay = taskqueue.retry_delay(attempt)
                logger.warning(
                    "task %s: %s; queued again in %.0f s (attempt %d of %d)",
                    row.pk,
                    type(error).__name__,
                    delay,
                    attempt + 1,
                    taskqueue.attempts(),
                )
                taskqueue.persist(lambda: self._again(row, delay), "queueing a task again")
                return
            _record_failure(row, error)
        else:
            try:
                taskqueue.persist(lambda: row.set_successful(value), "recording a task's success")
            except Exception as error:  # a return value the database cannot hold
                _record_failure(row, error)
        task_finished.send(sender=sender, task_result=row.task_result)

    @staticmethod
    def _again(row: DBTaskResult[..., Any], delay: float) -> None:
        DBTaskResult.objects.filter(pk=row.pk, status="RUNNING").update(
            status="READY", run_after=timezone.now() + timedelta(seconds=delay)
        )


def _record_failure(row: DBTaskResult[..., Any], error: BaseException) -> None:
    taskqueue.persist(lambda: row.set_failed(error), "recording a task's failure")
