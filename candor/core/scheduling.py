"""Recurring background work as chains of tasks: each run enqueues the next before it ends."""

from __future__ import annotations

from typing import Any


def ensure_waiting(task: Any) -> bool:
    """Start ``task``'s chain unless a run is already waiting. Returns whether it enqueued one.

    On the database queue the waiting run is visible, so a restarted worker does not start a second
    chain; on RQ it is not looked up, and a restart may add one (every chained task here is idempotent).
    """
    from django.tasks import task_backends

    if type(task_backends[task.backend]).__module__.startswith("django_tasks_db"):
        from django_tasks_db.models import DBTaskResult

        if DBTaskResult.objects.filter(task_path=task.module_path, status="READY").exists():
            return False
    task.enqueue()
    return True
