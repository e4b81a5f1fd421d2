"""The daily digest of accesses, as a background task that schedules its next run when it finishes.

The task carries no argument: it finds the people to tell in the access log itself.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from candor.core.scheduling import ensure_waiting
from candor.staff import digest

logger = logging.getLogger("candor.staff")
INTERVAL = timedelta(days=1)


@task()
def daily_access_digest() -> int:
    try:
        sent = digest.send_digests()
        logger.info("access digests sent: %d", sent)
        return sent
    finally:
        schedule_next()


def schedule_next() -> None:
    ensure_waiting(daily_access_digest.using(run_after=timezone.now() + INTERVAL))


def ensure_scheduled() -> bool:
    """Start the daily chain unless one is already waiting. Returns whether it enqueued a run."""
    return ensure_waiting(daily_access_digest)
