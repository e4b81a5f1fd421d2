"""The access log's periodic checkpoint, as a chain of tasks (each run enqueues the next)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from candor.core.scheduling import ensure_waiting
from candor.staff import checkpoints

logger = logging.getLogger("candor.staff")


def interval() -> timedelta:
    return timedelta(minutes=settings.LOG_CHECKPOINT_MINUTES)


@task()
def checkpoint_log() -> int | None:
    """Sign a checkpoint when the log has grown since the last one; the size signed, or None."""
    try:
        made = checkpoints.make_checkpoint(acting_user=None)
        if made is not None:
            logger.info("access log checkpoint signed at size %d", made.size)
        return None if made is None else made.size
    finally:
        ensure_waiting(checkpoint_log.using(run_after=timezone.now() + interval()))


def ensure_scheduled() -> bool:
    return ensure_waiting(checkpoint_log)
