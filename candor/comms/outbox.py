"""The outbox: the one way an email leaves Candor.

A domain that sends an email registers a *composer* for its kind (``@composer("password-reset",
Category.ACCOUNT)``) and, inside the action that calls for it, :func:`queue`\\ s one: a row of ids
(the account, the kind, the ids the composer needs) and, once the transaction commits, a task that
carries the row's id only. When the worker runs it, :func:`deliver` looks the person up, asks the
composer for the words and the address (so neither is ever in the queue), applies the rules of the
category, and hands the message to the mail server (SMTP, ``CANDOR_EMAIL_URL``) or the mail folder.

- Account and policy emails are always sent. A crash while one was being handed over sends it again
  (at least once: a second copy of a confirmation is harmless).
- Product updates go to those who have not opted out, at most one in CANDOR_PRODUCT_EMAIL_CAP_DAYS
  (one over the cap is dropped for that person), never to an address refused before, and at most once:
  a row found half-sent after a crash is marked interrupted, never sent again.
- A mail server that cannot take the message now (4xx, connection refused, timeout) is tried again with
  doubling waits (:func:`retry_wait`), CANDOR_EMAIL_ATTEMPTS times in all. A permanent refusal of the
  recipient (5xx to RCPT) marks the address undeliverable (:func:`mark_undeliverable`).

Logs name ids, kinds and error classes only: an SMTP error's text may quote the address.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import connection as db
from django.db import transaction
from django.db.models import F, Q
from django.tasks import task
from django.utils import timezone

from candor.comms import mailer, notices
from candor.comms.choices import Category, NoticeKind, Reason, Status
from candor.comms.models import Email, Preferences
from candor.privacy import audit
from candor.privacy.audit import EventType

logger = logging.getLogger("candor.comms")


@dataclass
class Composed:
    """What a composer returns: the words of one email, and where it goes."""

    subject: str  # without the platform's prefix, which is added here
    text: str
    to: str
    html: str | None = None
    # Run after the mail server took the message (in its own transaction): what the sending domain
    # records once it knows the email went (the access digest's bookmark).
    after_sent: Callable[[], object] | None = None
    headers: dict[str, str] = field(default_factory=dict)


# The composer of a kind: given the row and its (active) account, the email, or None when there is
# nothing to send any more (the confirmation it carried has expired, the export is gone). It may raise
# Skip to say another reason (a per-address throttle).
Composer = Callable[[Email, Any], Composed | None]


class Skip(Exception):
    """Raised by a composer: this email is not sent, for ``reason`` (a choices.Reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = str(Reason(reason))


@dataclass(frozen=True)
class Kind:
    name: str
    category: str
    compose: Composer
    # Words a person reads for this kind in their list of emails, before the subject is known.
    label: str


_KINDS: dict[str, Kind] = {}


def composer(name: str, category: str, label: str) -> Callable[[Composer], Composer]:
    """Register the composer of the emails of kind ``name``, all of one category."""

    def register(function: Composer) -> Composer:
        _KINDS[name] = Kind(name, str(Category(category)), function, label)
        return function

    return register


def kind(name: str) -> Kind:
    found = _KINDS.get(name)
    if found is None:
        raise LookupError(f"no composer is registered for emails of kind {name!r}")
    return found


def _check_refs(refs: Mapping[str, object]) -> dict[str, object]:
    """Only numbers and ids may wait in the queue: never an address, a name or a sentence."""
    clean: dict[str, object] = {}
    for key, value in refs.items():
        if value is None or isinstance(value, bool | int):
            clean[key] = value
        elif isinstance(value, uuid.UUID):
            clean[key] = str(value)
        elif (
            isinstance(value, str) and len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()
        ):
            clean[key] = value  # a random public id or a uuid's text
        else:
            raise ValueError(f"an email's refs may hold ids and numbers only, not this {key!r}")
    return clean


def queue(name: str, user_id: Any, *, refs: Mapping[str, object] | None = None) -> Email | None:
    """Queue an email of kind ``name`` to the account ``user_id``, inside the caller's transaction;
    it is handed to the worker once that commits. No such account: nothing is stored, and a task is
    still enqueued (it finds nothing), so that asking for an email to an unknown account costs what
    asking for one to a known account costs: one statement either way (an INSERT that selects the
    account, and so writes a row or none), and one task."""
    found = kind(name)
    clean = _check_refs(refs or {})
    account = _uuid(user_id)
    # A random id stands in for a malformed one: it matches no account, and costs the same.
    row = Email(
        id=uuid.uuid4(), user_id=account or uuid.uuid4(), category=found.category, kind=name, refs=clean
    )
    written = account is not None and _insert_if_account(row)
    transaction.on_commit(partial(_enqueue_delivery, str(row.pk)))
    if not written:
        return None
    row._state.adding = False
    row._state.db = "default"
    return row


def _columns_and_values(row: Email) -> tuple[list[str], list[Any]]:
    columns, values = [], []
    for column in Email._meta.concrete_fields:
        if column.attname == "subject":
            value: Any = ""  # nothing to hide yet: encrypted under the person's key once it is sent
        else:
            value = column.get_db_prep_save(column.pre_save(row, True), db)
        columns.append(db.ops.quote_name(str(column.column)))
        values.append(value)
    return columns, values


def _insert_if_account(row: Email) -> bool:
    users = get_user_model()._meta
    columns, values = _columns_and_values(row)
    account = users.pk.get_db_prep_value(row.user_id, db)
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {db.ops.quote_name(Email._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(['%s'] * len(values))} FROM {db.ops.quote_name(users.db_table)} "
            f"WHERE {db.ops.quote_name(str(users.pk.column))} = %s",
            [*values, account],
        )
        return bool(cursor.rowcount)


def insert_many(rows: list[Email]) -> None:
    """Write many unsent rows in one statement per batch, skipping any that would repeat a person's row
    of the same update. Not bulk_create: it would encrypt each row's empty subject, fetching every
    person's data key for nothing (most of a fan-out's time)."""
    if not rows:
        return
    prepared = [_columns_and_values(row) for row in rows]
    columns = prepared[0][0]
    with db.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {db.ops.quote_name(Email._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING",
            [values for _, values in prepared],
        )


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def _enqueue_delivery(email_id: str) -> None:
    deliver_email.enqueue(email_id)


@task()
def deliver_email(email_id: str) -> str | None:
    """The task of one queued email: its id, nothing else (candor.comms.tasks names it too)."""
    return deliver(email_id)


# --- Sending ------------------------------------------------------------------------------------


def retry_wait(attempts: int) -> timedelta:
    """The wait before try ``attempts + 1``: a minute, then doubling, at most six hours."""
    return timedelta(minutes=min(360, 2 ** max(0, attempts - 1)))


def _claim(email_id: Any, now: datetime) -> Email | None:
    """Take the row for sending: one that is queued and due; or, for account and policy emails, one
    left half-sent by a worker that died (sent again). A product update left half-sent is marked
    interrupted instead, and never sent again."""
    due = Q(status=Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    again = Q(status=Status.SENDING) & ~Q(category=Category.PRODUCT)
    with transaction.atomic():
        claimed = Email.objects.filter(Q(pk=email_id) & (due | again)).update(
            status=Status.SENDING, attempts=F("attempts") + 1
        )
        if not claimed:
            Email.objects.filter(pk=email_id, status=Status.SENDING, category=Category.PRODUCT).update(
                status=Status.SKIPPED, reason=Reason.INTERRUPTED
            )
            return None
    return Email.objects.select_related("user", "update").filter(pk=email_id).first()


def _finish(row: Email, status: str, reason: str = "", **more: Any) -> None:
    Email.objects.filter(pk=row.pk).update(status=status, reason=reason, **more)


def deliver(email_id: Any, *, connection: Any = None, now: datetime | None = None) -> str | None:
    """Send the queued email ``email_id``. Returns what became of it (a Status), or None when there
    was nothing to send (no such row, already sent, not due). ``connection``: an open mail connection
    to reuse (a product update's run sends many)."""
    now = now or timezone.now()
    row = _claim(email_id, now)
    if row is None:
        return None
    user = row.user
    if not user.is_active:
        _finish(row, Status.SKIPPED, Reason.NOT_NEEDED)
        return Status.SKIPPED
    try:
        found = kind(row.kind)
    except LookupError:
        logger.error("email %s: no composer for its kind; marked failed", row.pk)
        _finish(row, Status.FAILED, Reason.NOT_NEEDED)
        return Status.FAILED
    if row.category == Category.PRODUCT:
        refusal = _product_refusal(row, user, now)
        if refusal:
            _finish(row, Status.SKIPPED, refusal)
            return Status.SKIPPED
    try:
        composed = found.compose(row, user)
    except Skip as skip:
        _finish(row, Status.SKIPPED, skip.reason)
        return Status.SKIPPED
    if composed is None:
        _finish(row, Status.SKIPPED, Reason.NOT_NEEDED)
        return Status.SKIPPED
    message = mailer.build(row, composed)
    try:
        _send(message, connection)
    except smtplib.SMTPRecipientsRefused as error:
        code = _code_of(error)
        if code is not None and 500 <= code < 600:
            mark_undeliverable(row, user, code)
            return Status.UNDELIVERABLE
        return _retry_or_fail(row, now, error, code)
    except smtplib.SMTPResponseException as error:
        if 500 <= error.smtp_code < 600:
            logger.warning(
                "email %s refused by the mail server (%d); not tried again", row.pk, error.smtp_code
            )
            _finish(row, Status.FAILED, Reason.REFUSED, smtp_code=error.smtp_code)
            return Status.FAILED
        return _retry_or_fail(row, now, error, error.smtp_code)
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        return _retry_or_fail(row, now, error, None)
    sent_at = timezone.now()
    with transaction.atomic():
        Email.objects.filter(pk=row.pk).update(
            status=Status.SENT, reason="", sent_at=sent_at, next_attempt_at=None
        )
        # The subject through the field, so it is stored encrypted under the person's key.
        row.subject = composed.subject
        row.save(update_fields=["subject"])
    if composed.after_sent is not None:
        composed.after_sent()
    return Status.SENT


def _send(message: EmailMultiAlternatives, connection: Any) -> None:
    if connection is not None:
        connection.send_messages([message])
        return
    with mailers.default as opened:
        opened.send_messages([message])


def _code_of(error: smtplib.SMTPRecipientsRefused) -> int | None:
    codes = [code for code, _ in error.recipients.values()]
    return min(codes) if codes else None


def _retry_or_fail(row: Email, now: datetime, error: BaseException, code: int | None) -> str:
    if row.attempts >= settings.EMAIL_ATTEMPTS:
        logger.error("email %s: given up after %d tries (%s)", row.pk, row.attempts, type(error).__name__)
        _finish(row, Status.FAILED, Reason.GAVE_UP, smtp_code=code)
        return Status.FAILED
    wait = retry_wait(row.attempts)
    logger.warning(
        "email %s: the mail server could not take it (%s); trying again in %d s",
        row.pk,
        type(error).__name__,
        wait.total_seconds(),
    )
    _finish(row, Status.QUEUED, next_attempt_at=now + wait, smtp_code=code)
    return Status.QUEUED


def _product_refusal(row: Email, user: Any, now: datetime) -> str:
    """Why this product email must not go to this person now ("" when it may), having claimed the
    frequency cap for them when it may."""
    prefs = Preferences.objects.filter(user=user).first()
    if prefs is not None and not prefs.product_updates:
        return Reason.OPTED_OUT
    if prefs is not None and prefs.undeliverable_index and prefs.undeliverable_index == user.email_index:
        return Reason.UNDELIVERABLE
    if not user.email_verified:
        return Reason.NOT_NEEDED
    if prefs is None:
        prefs, _ = Preferences.objects.get_or_create(user=user)
    days = settings.PRODUCT_EMAIL_CAP_DAYS
    free = Q(last_product_at__isnull=True)
    if days:
        free |= Q(last_product_at__lte=now - timedelta(days=days))
    else:
        free = Q()
    # One conditional UPDATE claims the person's slot: two updates sending at once cannot both pass.
    if not Preferences.objects.filter(free, pk=prefs.pk).update(last_product_at=now):
        return Reason.CAPPED
    return ""


UNDELIVERABLE_NOTICE = (
    "We could not deliver email to your address",
    "A mail server refused our last email to the address on your account for good. We have stopped "
    "sending product updates to it; account and security emails will still be tried. Check your "
    "address in your settings, or change it.",
)


def mark_undeliverable(row: Email, user: Any, code: int) -> None:
    """The receiving server refused the address for good: say so on the row, stop product mail to
    that address (a keyed hash of it, so a new address starts afresh), and tell the person on their
    dashboard."""
    now = timezone.now()
    with transaction.atomic():
        _finish(row, Status.UNDELIVERABLE, Reason.NONE, smtp_code=code)
        prefs, _ = Preferences.objects.get_or_create(user=user)
        Preferences.objects.filter(pk=prefs.pk).update(
            undeliverable_index=user.email_index, undeliverable_at=now
        )
        title, body = UNDELIVERABLE_NOTICE
        notices.notify(
            user,
            NoticeKind.UNDELIVERABLE,
            title,
            body,
            key=f"undeliverable:{user.email_index[:16]}",
            link="/settings/emails/",
        )
        audit.record(EventType.ADDRESS_UNDELIVERABLE, acting_user=None, subject=user, extra={"code": code})
    logger.warning("email %s: the recipient's address was refused (%d); marked undeliverable", row.pk, code)


def product_audience() -> Any:
    """The accounts a product update is fanned out to: active, with a confirmed address, and not opted
    out. (The cap and a refused address are judged per row when it is sent.)"""
    return (
        get_user_model()
        .objects.filter(is_active=True, email_verified=True)
        .exclude(email_prefs__product_updates=False)
    )


def due(now: datetime | None = None, *, limit: int = 100) -> list[Any]:
    """Ids of queued emails that are due: retries, and product updates waiting for their turn."""
    now = now or timezone.now()
    return list(
        Email.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
