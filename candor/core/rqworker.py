"""RQ's worker and queue, with Candor's lease and retries (see :mod:`candor.core.taskqueue`).

RQ already has most of what a crash needs: a started-job registry whose entries expire unless the
worker renews them (its heartbeat), and a cleaning that treats an expired entry as an abandoned job,
retried if the job has retries left. Candor adds:

- retries on every job (``RetryingQueue``), so an abandoned job or one that met a transient error is
  run again instead of being failed;
- the worker's file lease, so that a restarted worker on the same machine hands the dead one's jobs to
  that handling at once rather than after the entry's expiry and the next cleaning;
- cleaning every ``MAINTENANCE_SECONDS`` instead of every ten minutes, for workers on other machines.
"""

from __future__ import annotations

from typing import Any

from django_rq.queues import DjangoRQ
from rq.worker import Worker as LibraryWorker

from candor.core import taskqueue

MAINTENANCE_SECONDS = 30


class RetryingQueue(DjangoRQ):
    def create_job(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("retry") is None:
            kwargs["retry"] = taskqueue.rq_retry()
        return super().create_job(*args, **kwargs)


class Worker(LibraryWorker):
    """RQ's worker with the lease and frequent cleaning, and one that never logs a job's description.

    RQ's description is the call with its arguments (``deliver_email('<email
    id>')``), written to the log as each job starts and ends; a log outlives the account it names. Its
    own switch, ``log_job_description``, is a constructor argument that django-rq does not pass through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["log_job_description"] = False
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self.lease: taskqueue.FileLease | None = None

    def run_maintenance_tasks(self) -> None:
        for queue in self.queues:
            taskqueue.reclaim_rq_orphans(queue, self.name)
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        # Taken here, after the scheduler's process was forked: a lock it inherited would outlive us.
        # The work horses forked later inherit it, which is right: a job is alive while its horse is.
        if self.lease is None:
            self.lease = taskqueue.FileLease(taskqueue.rq_lock_dir(), self.name)
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            if self.lease is not None:
                self.lease.release()
