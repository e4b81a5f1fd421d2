"""The daily retention sweep, as a background task that schedules its next run when it finishes."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from candor.privacy import erasure, retention

logger = logging.getLogger("candor.privacy")
INTERVAL = timedelta(days=1)


@task()
def daily_sweep() -> int:
    try:
        outcomes = retention.sweep()
        erasure.finish_unfinished()  # a deletion that stopped part-way, and whose own rerun was lost
        removed = sum(o.count for o in outcomes)
        logger.info("retention sweep removed %d rows", removed)
        return removed
    finally:
        schedule_next()


def schedule_next() -> None:
    daily_sweep.using(run_after=timezone.now() + INTERVAL).enqueue()


def ensure_scheduled() -> bool:
    """Start the daily chain unless one is already waiting. Returns whether it enqueued a run.

    On the database queue the waiting run is visible, so a restarted worker does not start a second
    chain; on RQ it is not looked up, and a restart may add one (sweeps are idempotent).
    """
    from django.tasks import task_backends

    if type(task_backends[daily_sweep.backend]).__module__.startswith("django_tasks_db"):
        from django_tasks_db.models import DBTaskResult

        waiting = DBTaskResult.objects.filter(task_path=daily_sweep.module_path, status="READY")
        if waiting.exists():
            return False
    daily_sweep.enqueue()
    return True
