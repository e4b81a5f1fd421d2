"""The analytics rollup, a background task that schedules its next run when it finishes.

Each run: moves Redis's counters and visitor estimates into the database (Redis mode), destroys the
salts of days that have ended, drops hourly rows older than ``CANDOR_ANALYTICS_HOURLY_DAYS`` (their
sums are already in the daily rows, written in the same transaction), and removes the counts of models
that no longer exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from candor.analytics import redis_store, salt
from candor.analytics.buffer import flush
from candor.analytics.models import DailyUnique, ModelDaily, ModelHourly, ModelMonthly, RouteHourly
from candor.core.scheduling import ensure_waiting
from candor.hub.models import MLModel

logger = logging.getLogger("candor.analytics")


def interval() -> timedelta:
    # In Redis mode the counts only reach the database through this task, so it runs as often as the
    # processes flush; otherwise its work is housekeeping, and hourly is plenty.
    return timedelta(seconds=max(settings.ANALYTICS_FLUSH_SECONDS, 10) if settings.REDIS_URL else 3600)


@dataclass
class Outcome:
    moved: int = 0
    salts_destroyed: int = 0
    hourly_rolled_up: int = 0
    orphans_removed: int = 0


def run(now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    today = now.date()
    outcome = Outcome()
    flush()  # this process's own counts first (the worker serves no pages, but tests and shells may)
    if settings.REDIS_URL:
        outcome.moved = redis_store.rollup(today)
    outcome.salts_destroyed = salt.destroy_before(today)
    outcome.hourly_rolled_up = roll_up_hours(now)
    outcome.orphans_removed = remove_orphans()
    return outcome


def roll_up_hours(now: datetime) -> int:
    """Drop hourly rows from before the horizon (a whole UTC day, so no day is left half in hours)."""
    horizon = datetime.combine(now.date() - timedelta(days=settings.ANALYTICS_HOURLY_DAYS), time.min, UTC)
    with transaction.atomic():
        models, _ = ModelHourly.objects.filter(hour__lt=horizon).delete()
        routes, _ = RouteHourly.objects.filter(hour__lt=horizon).delete()
    return models + routes


def remove_orphans() -> int:
    """Counts of models that were deleted: never published (reports join with the public models), and
    removed here so they do not linger."""
    existing = MLModel.objects.values("pk")
    removed = 0
    for table in (ModelHourly, ModelDaily, ModelMonthly):
        removed += table.objects.exclude(model_id__in=existing).delete()[0]
    removed += DailyUnique.objects.exclude(model_id=0).exclude(model_id__in=existing).delete()[0]
    return removed


@task()
def rollup() -> dict[str, int]:
    try:
        outcome = run()
        logger.info("analytics rollup: %s", outcome)
        return outcome.__dict__
    finally:
        # Unless a successor is already waiting: this run may be a second try of one that enqueued it.
        ensure_waiting(rollup.using(run_after=timezone.now() + interval()))


def ensure_scheduled() -> bool:
    return ensure_waiting(rollup)
