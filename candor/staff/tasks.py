"""The staff app's periodic work, each a chain of tasks (each run enqueues the next): the daily digest
of accesses (it carries no argument: it finds the people to tell in the access log itself) and the
access log's checkpoints."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from candor.core.scheduling import ensure_waiting
from candor.staff import checkpoints, digest

logger = logging.getLogger("candor.staff")
DIGEST_INTERVAL = timedelta(days=1)


@task()
def daily_access_digest() -> int:
    try:
        sent = digest.send_digests()
        logger.info("access digests sent: %d", sent)
        return sent
    finally:
        ensure_waiting(daily_access_digest.using(run_after=timezone.now() + DIGEST_INTERVAL))


def ensure_digest_scheduled() -> bool:
    """Start the daily chain unless one is already waiting. Returns whether it enqueued a run."""
    return ensure_waiting(daily_access_digest)


def checkpoint_interval() -> timedelta:
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
        ensure_waiting(checkpoint_log.using(run_after=timezone.now() + checkpoint_interval()))


def ensure_checkpoints_scheduled() -> bool:
    return ensure_waiting(checkpoint_log)
