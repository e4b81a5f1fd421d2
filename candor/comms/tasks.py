"""The outbox's background work.

- :func:`deliver_email`: one queued email, by id, enqueued when the action that queued it commits.
- :func:`outbox_pump`: a chain (each run enqueues the next) that makes each sending product update's
  rows (the fan-out, resumable from its cursor), sends them at CANDOR_PRODUCT_EMAILS_PER_MINUTE over one
  reused connection, sends the retries that are due, and closes the updates that are done.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import mailers
from django.db import transaction
from django.db.models import Count, Q
from django.tasks import task
from django.utils import timezone

from candor.comms import outbox
from candor.comms.choices import Category, Reason, Status, UpdateStatus
from candor.comms.emails import UPDATE_KIND
from candor.comms.models import Email, Update
from candor.comms.outbox import deliver_email
from candor.core.scheduling import ensure_waiting
from candor.privacy import audit
from candor.privacy.audit import EventType

__all__ = ["deliver_email", "ensure_pump_scheduled", "outbox_pump"]

logger = logging.getLogger("candor.comms")

RUN_SECONDS = 50.0  # one pump run, then the next is enqueued (a worker's restart loses little)
IDLE_SECONDS = 15  # the wait before the next run when nothing was left to do
FANOUT_BATCH = 2000  # rows made per transaction
MESSAGES_PER_CONNECTION = 100  # mail servers cap messages per session; a new one after this many


class Connection:
    """One mail connection reused across many messages, opened when first needed, dropped after an
    error (the next message opens a fresh one) and after MESSAGES_PER_CONNECTION messages."""

    def __init__(self) -> None:
        self._open: Any = None
        self._count = 0

    def send_messages(self, messages: list[Any]) -> int:
        if self._open is None:
            self._open = mailers.default
            self._open.open()
        try:
            sent = int(self._open.send_messages(messages) or 0)
        except Exception:
            self.close()
            raise
        self._count += 1
        if self._count >= MESSAGES_PER_CONNECTION:
            self.close()
        return sent

    def close(self) -> None:
        if self._open is not None:
            try:
                self._open.close()
            except Exception as error:  # a broken connection is dropped either way
                logger.info("mail connection closed with %s", type(error).__name__)
            self._open = None
            self._count = 0


def fan_out(update: Update, *, batch: int = FANOUT_BATCH, now: datetime | None = None) -> int:
    """Make the next ``batch`` rows of a sending update, one per account holder who has not opted out,
    in order of account id from the update's cursor. Returns how many rows were made; sets
    ``queued_at`` once every account was reached. Safe to repeat: a row per person and update is unique."""
    now = now or timezone.now()
    with transaction.atomic():
        current = Update.objects.select_for_update().filter(pk=update.pk).first()
        if current is None or current.status != UpdateStatus.SENDING or current.queued_at is not None:
            return 0
        people = outbox.product_audience()
        if current.cursor is not None:
            people = people.filter(pk__gt=current.cursor)
        ids = list(people.order_by("pk").values_list("pk", flat=True)[:batch])
        outbox.insert_many(
            [
                Email(
                    id=uuid.uuid4(),
                    user_id=pk,
                    category=Category.PRODUCT,
                    kind=UPDATE_KIND,
                    update=current,
                    queued_at=now,
                )
                for pk in ids
            ]
        )
        if ids:
            current.cursor = ids[-1]
        if len(ids) < batch:
            current.queued_at = now
        current.save(update_fields=["cursor", "queued_at"])
    return len(ids)


def _waiting_product_rows(limit: int) -> list[Any]:
    now = timezone.now()
    return list(
        Email.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            update__status=UpdateStatus.SENDING,
            status=Status.QUEUED,
        )
        .order_by("queued_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def finish_updates() -> int:
    """Close each sending update whose rows are all made and none waits: it is sent."""
    closed = 0
    for update in Update.objects.filter(status=UpdateStatus.SENDING, queued_at__isnull=False):
        if Email.objects.filter(update=update, status__in=(Status.QUEUED, Status.SENDING)).exists():
            continue
        counts = dict(
            Email.objects.filter(update=update)
            .values_list("status")
            .order_by()
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        with transaction.atomic():
            if not Update.objects.filter(pk=update.pk, status=UpdateStatus.SENDING).update(
                status=UpdateStatus.SENT, finished_at=timezone.now()
            ):
                continue
            audit.record(
                EventType.UPDATE_FINISHED,
                acting_user=None,
                extra={
                    "sent": counts.get(Status.SENT, 0),
                    "skipped": counts.get(Status.SKIPPED, 0),
                    "failed": counts.get(Status.FAILED, 0) + counts.get(Status.UNDELIVERABLE, 0),
                },
            )
        closed += 1
    return closed


def pump(*, seconds: float = RUN_SECONDS, rate_per_minute: int | None = None) -> dict[str, int]:
    """One run of the outbox: fan-out, product rows at the rate, due retries, finished updates; for at
    most ``seconds``. Returns counts of what it did (``more``: 1 when work was left for the next run)."""
    rate = rate_per_minute or settings.PRODUCT_EMAILS_PER_MINUTE
    interval = 60.0 / rate
    deadline = time.monotonic() + seconds
    done = {"queued": 0, "sent": 0, "other": 0, "retried": 0, "more": 0}
    # A product email still marked as being sent was in the hands of a run that died (runs of the chain
    # never overlap): it may have gone out, so it is never sent again.
    Email.objects.filter(category=Category.PRODUCT, status=Status.SENDING).update(
        status=Status.SKIPPED, reason=Reason.INTERRUPTED
    )
    for update in Update.objects.filter(status=UpdateStatus.SENDING, queued_at__isnull=True):
        while time.monotonic() < deadline:
            made = fan_out(update)
            done["queued"] += made
            if made < FANOUT_BATCH:
                break
    connection = Connection()
    try:
        for email_id in outbox.due(limit=500):
            if time.monotonic() >= deadline:
                break
            outbox.deliver(email_id, connection=connection)
            done["retried"] += 1
        next_send = time.monotonic()
        while time.monotonic() < deadline:
            ids = _waiting_product_rows(200)
            if not ids:
                break
            for email_id in ids:
                wait = next_send - time.monotonic()
                if wait > 0:
                    if time.monotonic() + wait >= deadline:
                        break
                    time.sleep(wait)
                result = outbox.deliver(email_id, connection=connection)
                if result is None or result == Status.SKIPPED:
                    done["other"] += 1
                    continue  # no message went out: it takes nothing from the rate
                done["sent" if result == Status.SENT else "other"] += 1
                next_send = max(next_send + interval, time.monotonic() - interval)
            else:
                continue
            break
    finally:
        connection.close()
    finish_updates()
    still = (
        Update.objects.filter(status=UpdateStatus.SENDING, queued_at__isnull=True).exists()
        or bool(_waiting_product_rows(1))
        or bool(outbox.due(limit=1))
    )
    done["more"] = int(still)
    return done


@task()
def outbox_pump() -> dict[str, int]:
    more = True
    try:
        done = pump()
        more = bool(done["more"])
        if done["sent"] or done["queued"] or done["retried"]:
            logger.info(
                "outbox: %d rows queued, %d sent, %d retried, %d other",
                done["queued"],
                done["sent"],
                done["retried"],
                done["other"],
            )
        return done
    finally:
        wait = timedelta(seconds=0 if more else IDLE_SECONDS)
        ensure_waiting(outbox_pump.using(run_after=timezone.now() + wait))


def ensure_pump_scheduled() -> bool:
    """Start the outbox's chain unless a run is already waiting (the worker calls this at start)."""
    return ensure_waiting(outbox_pump)
