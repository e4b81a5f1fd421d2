"""Rewriting the tables after erasures (clause C25): no deleted person's bytes left in the database files.

Deleting a row does not remove its bytes from the database's files: on PostgreSQL the old row version
stays in the table's file until its space is reused, on SQLite on a free page (zeroed by
``secure_delete``) and in the write-ahead log until a checkpoint. What the person typed in is stored
encrypted under a key the erasure destroys, so what can linger there is what is kept in clear: dates,
flags, keyed hashes, the public projection of their public models. This module rewrites the tables that
held such rows (:func:`tables`: every table the inventory says holds a person's rows or personal fields,
with their many-to-many and vocabulary tables) through :func:`candor.kernel.db.rewrite_tables`.

When: after each erasure, by :data:`rewrite_after_erasure`, queued when the erasure commits and held back
so that the tables are rewritten at most once every ``CANDOR_REWRITE_AFTER_ERASURE_MINUTES``; after the
retention sweep deleted anything; at the end of ``candor restore`` (a restored backup's erased rows are
deleted again, and would linger); and by hand with ``candor privacy rewrite``. Each ledger record keeps
when its account's tables were rewritten (``DeletionRecord.tables_rewritten_at``), so a queued task that
was lost (a crash, a queue emptied) is made up for by the daily sweep, which rewrites while any record
is still waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max
from django.tasks import task
from django.utils import timezone

from candor.core import taskqueue
from candor.core.scheduling import ensure_waiting
from candor.kernel import db
from candor.privacy import inventory
from candor.privacy.models import DeletionRecord

logger = logging.getLogger("candor.privacy")


def tables() -> list[str]:
    """The tables that hold a person's rows or personal fields (and their many-to-many tables): where an
    erased person's clear values could be left."""
    found: set[str] = set()
    chosen: list[type[models.Model]] = [
        d.model for d in inventory.declarations() if d.belongs_to is not None or d.personal_fields()
    ]
    for model in chosen:
        found.add(model._meta.db_table)
        for many in model._meta.many_to_many:
            through = many.remote_field.through
            if through is not None and through._meta.auto_created:
                found.add(through._meta.db_table)
    return sorted(found)


def interval() -> timedelta:
    return timedelta(minutes=int(settings.REWRITE_AFTER_ERASURE_MINUTES))


def waiting() -> models.QuerySet[DeletionRecord]:
    """The ledger records whose account's rows were deleted but whose tables were not rewritten since."""
    return DeletionRecord.objects.filter(tables_rewritten_at__isnull=True)


def last_rewrite() -> datetime | None:
    last: datetime | None = DeletionRecord.objects.aggregate(last=Max("tables_rewritten_at"))["last"]
    return last


def next_allowed(now: datetime | None = None) -> datetime:
    """The earliest time the next rewrite after an erasure may run: the last one plus the interval."""
    now = now or timezone.now()
    last = last_rewrite()
    return now if last is None else max(now, last + interval())


@dataclass
class Rewritten:
    tables: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # tables whose lock was not granted: for next time
    records: int = 0  # ledger records marked as rewritten
    deferred: bool = False  # asked inside a transaction: done once it commits


def rewrite() -> Rewritten:
    """Rewrite the tables now, then mark the ledger records that were committed before it began.

    A record committed while the rewrite runs is left waiting: its rows may have been deleted from a
    table after that table was rewritten. If a table could not be rewritten (its lock was not granted in
    time), no record is marked, and the next run (or the daily sweep) tries again. Inside a transaction
    (which neither engine can rewrite in) it is done once the transaction commits.
    """
    if connection.in_atomic_block:
        transaction.on_commit(_rewrite_after_commit)
        return Rewritten(deferred=True)
    return _rewrite_now()


def _rewrite_after_commit() -> None:
    if connection.in_atomic_block:
        # Still inside a transaction after "its commit": an outer one (a test's) runs the callbacks
        # before it ends. Nothing can be rewritten there, and deferring again would never end: skipped
        # (the records stay waiting, for the next run or the daily sweep).
        return
    _rewrite_now()


def _rewrite_now() -> Rewritten:
    before = list(waiting().values_list("pk", flat=True))
    names = tables()
    skipped = db.rewrite_tables(names)
    outcome = Rewritten(tables=[t for t in names if t not in skipped], skipped=skipped)
    if not skipped and before:
        # A record another process holds (an erasure being finished) is not waited for: it stays owed,
        # and the next rewrite marks it. Waiting would hold up this worker's other tasks behind it.
        with transaction.atomic():
            free = list(
                waiting()
                .filter(pk__in=before)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            outcome.records = DeletionRecord.objects.filter(pk__in=free).update(
                tables_rewritten_at=timezone.now()
            )
    logger.info(
        "rewrote %d tables after erasures (%d skipped, %d ledger records)",
        len(outcome.tables),
        len(skipped),
        outcome.records,
    )
    return outcome


@task()
def rewrite_after_erasure() -> int:
    """The queued rewrite: does nothing if no record is waiting (another run did it), waits again if it
    came before the interval allows. Returns how many ledger records it marked."""
    if not waiting().exists():
        return 0
    if next_allowed() > timezone.now():
        schedule()
        return 0
    outcome = rewrite()
    if outcome.skipped:
        schedule()
    return outcome.records


def schedule() -> bool:
    """Queue a rewrite for the earliest time the interval allows, unless one is already waiting.

    With a backend that runs tasks at once and cannot defer them (CANDOR_TASKS_IMMEDIATE), the rewrite
    runs now if the interval allows, and is otherwise left to the daily sweep. Returns whether a run was
    queued (or run)."""
    if int(settings.REWRITE_AFTER_ERASURE_MINUTES) == 0:
        return False  # after erasures: off; the daily sweep and `candor privacy rewrite` still do it
    at = next_allowed()
    if taskqueue.backend_kind(rewrite_after_erasure.backend) == "other":
        if at > timezone.now():
            return False
        rewrite_after_erasure.enqueue()
        return True
    return ensure_waiting(rewrite_after_erasure.using(run_after=at))


def after_sweep(removed: int) -> Rewritten | None:
    """The daily sweep's part: rewrite if it deleted rows, or if an erasure's rewrite is still owed."""
    if removed or waiting().exists():
        return rewrite()
    return None
