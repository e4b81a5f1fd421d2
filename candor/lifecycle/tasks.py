"""The daily retention sweep, as a background task that schedules its next run when it finishes."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from candor.core.scheduling import ensure_waiting
from candor.lifecycle import erasure, retention, rewrite

logger = logging.getLogger("candor.privacy")
INTERVAL = timedelta(days=1)


@task()
def daily_sweep() -> int:
    try:
        outcomes = retention.sweep()
        erasure.finish_unfinished()  # a deletion that stopped part-way, and whose own rerun was lost
        leftovers = retention.recover_leftovers()
        removed = sum(o.count for o in outcomes)
        # The deleted rows leave the database's files too; and an erasure's own rewrite, if it was lost.
        rewrite.after_sweep(removed)
        logger.info("retention sweep removed %d rows and %d leftover temporary files", removed, leftovers)
        return removed
    finally:
        schedule_next()


def schedule_next() -> None:
    ensure_waiting(daily_sweep.using(run_after=timezone.now() + INTERVAL))


def ensure_scheduled() -> bool:
    """Start the daily chain unless one is already waiting. Returns whether it enqueued a run."""
    return ensure_waiting(daily_sweep)
