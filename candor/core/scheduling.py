"""Recurring background work as chains of tasks: each run enqueues the next before it ends."""

from __future__ import annotations

from typing import Any

from candor.core import taskqueue


def ensure_waiting(task: Any) -> bool:
    """Start ``task``'s chain unless a run of it is already waiting. Returns whether it enqueued one, so
    a restarted worker does not start a second chain on either queue. A run that is under way when the
    worker starts is not looked for: one that a crash interrupted would never enqueue its successor.

    Each run enqueues its successor through this too (``task`` then carries its ``run_after``): a run
    that was interrupted after enqueueing it, and is run again, must not start a second chain."""
    kind = taskqueue.backend_kind(task.backend)
    if kind == "database":
        from django_tasks_db.models import DBTaskResult

        if DBTaskResult.objects.filter(task_path=task.module_path, status="READY").exists():
            return False
    elif kind == "rq":
        return _ensure_waiting_on_rq(task)
    task.enqueue()
    return True


def _ensure_waiting_on_rq(task: Any) -> bool:
    import django_rq
    from django_tasks_rq.backend import Job

    queue = django_rq.get_queue(task.queue_name, job_class=Job)
    # Two workers starting together must not both find nothing and both enqueue.
    with queue.connection.lock(f"candor:chain:{task.module_path}", timeout=30, blocking_timeout=30):
        ids = [*queue.get_job_ids(), *queue.scheduled_job_registry.get_job_ids()]
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is not None and job.func_name == task.module_path:
                return False
        task.enqueue()
    return True
