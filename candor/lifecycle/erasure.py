"""Permanent deletion of an account (clauses C4, C5, C25; GDPR art. 17), and the deletion ledger.

In one transaction, in this order: the account's data key is destroyed (every encrypted copy of its
fields, backups included, becomes unreadable), its username is retired (kept only as a keyed hash), a
ledger record is written (ids only), and every row the inventory ties to the person is deleted, from
the furthest (a model's files) to the account itself, then the tags no one else uses. Nothing of the
account is visible between those steps: until the commit, readers see the whole account; after it, none
of it. Once it commits, the account's temporary files (candor.kernel.staging) are removed.

Files in storage cannot join a transaction, so their names go into the ledger record, and a task queued
on commit removes them and marks the record complete. If the process dies after the commit, the queued
task (or the next retention sweep, or ``candor privacy sweep``) finishes the job; the record is the proof
of what is left to do.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet, signals
from django.http import HttpRequest
from django.tasks import task
from django.utils import timezone

from candor.accounts import emails
from candor.accounts.actions import check_deletion
from candor.accounts.models import User
from candor.comms.choices import Status
from candor.comms.models import Email
from candor.core import objectstore, taskqueue
from candor.hub import listing_cache
from candor.kernel import db, hooks, staging
from candor.kernel.actions import durable
from candor.lifecycle import rewrite
from candor.privacy import audit, crypto, subjects
from candor.privacy.models import AuditEvent, DeletionRecord, RetiredUsername

logger = logging.getLogger("candor.privacy")


@dataclass
class Outcome:
    record_id: int
    rows: dict[str, int] = field(default_factory=dict)  # rows deleted per model, cascades included


def ledger_path() -> Any:
    return settings.DATA_DIR / "deletion-ledger.jsonl"


def append_to_ledger_file(account_ids: Iterable[str], at: datetime) -> None:
    """A copy of the ledger outside the database, for when the database itself is restored."""
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        for account_id in account_ids:
            handle.write(json.dumps({"account_id": str(account_id), "at": at.isoformat()}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def ids_in_ledger_file() -> set[str]:
    path = ledger_path()
    if not path.exists():
        return set()
    return {json.loads(line)["account_id"] for line in path.read_text().splitlines() if line.strip()}


def ledger_account_ids() -> set[str]:
    """Every account id the ledger names: the database table and the file beside it."""
    ids = {str(pk) for pk in DeletionRecord.objects.values_list("account_id", flat=True)}
    return ids | ids_in_ledger_file()


def _purge_rows(user_id: Any) -> tuple[dict[str, int], list[str]]:
    """Delete every row tied to the account; return counts per model and the storage names of its files."""
    counts: dict[str, int] = {}
    names: list[str] = []
    for declaration in subjects.owned_declarations():
        rows = subjects.rows_of(declaration, user_id)
        names.extend(subjects.stored_names(declaration, rows))
        deleted = _delete(rows)
        if deleted:
            counts[declaration.label] = deleted
    return counts, names


def _delete(rows: QuerySet[Any]) -> int:
    """Delete the rows with one statement when nothing else points at them any more.

    The declarations are deleted furthest-first, so by the time a model's rows go, the rows that
    pointed at them usually have gone too; Django's deletion collector would still load every key and
    delete by long lists of them (most of the time of deleting a large account). Where a signal
    listens, or some row still points at these, the collector does it, with its cascades.
    """
    model = rows.model
    if signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model):
        return int(rows.only("pk").delete()[0])
    keys = rows.values("pk")
    # Every relation pointing here, hidden ones (related_name="+") included, as the collector sees them:
    # a post's or an update's author is such a link, and would be left dangling otherwise.
    relations = [
        field
        for field in model._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and (field.one_to_one or field.one_to_many)
    ]
    for relation in relations:
        pointing = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": keys})
        if relation.on_delete is models.SET_NULL:
            # What the collector would do (an update, no signals), in one statement: the links let go
            # (a model's main branch, a commit's parent: the account's own rows, deleted now or next).
            pointing.update(**{relation.field.name: None})
        elif pointing.exists():
            return int(rows.only("pk").delete()[0])
    for many in model._meta.many_to_many:
        through = many.remote_field.through
        if through._meta.auto_created:
            through._base_manager.filter(**{f"{many.m2m_field_name()}__in": keys})._raw_delete(rows.db)
    return int(rows._raw_delete(rows.db))


def delete_own_account(
    user: User, *, password: str, confirm: str, request: HttpRequest | None = None
) -> Outcome:
    """An account holder deleting their own account, from the page or the API: the checks (the password
    and the username typed again), the erasure, then the receipt to the address the account had.

    The receipt is sent at once rather than queued: a queued task would have to keep the address after
    the account is gone. Refusals come from the check, before anything is deleted.
    """
    check_deletion(user, password=password, confirm=confirm, request=request)
    # Read before the erasure removes them.
    address, username = user.email, user.username
    outcome = erase_account(user.pk, acting_user=user)
    emails.send_deletion_receipt(address, username, outcome.rows)
    return outcome


@durable
def erase_account(user_id: Any, *, acting_user: Any = None) -> Outcome:
    """Delete the account and everything of it now. Idempotent: a second call finds nothing left.

    ``acting_user`` is the person who asked (the account itself), or None for the platform (the
    ledger re-applied after a restore). The audit trail gets one row, ids only, which the deletion
    keeps (the trail belongs to no account); a second erasure of the same id adds none.
    """
    user = User.objects.select_for_update().filter(pk=user_id).first()
    crypto.destroy_data_key(user_id)  # first: from here on no encrypted copy can be read
    record, _ = DeletionRecord.objects.get_or_create(account_id=user_id)
    if user is not None:
        # The stored index, not the name: the key that decrypts the name is already gone.
        RetiredUsername.objects.get_or_create(digest=user.username_index)
    _record_erasure(user_id, acting_user)
    # The apps forget what they keep of the account outside these rows (before the rows go, so they can
    # still find it).
    # The files are this erasure's to remove (listed on the record below, removed after commit and again
    # by the finishing task): the receivers leave them alone.
    hooks.accounts_gone.send(hooks.AccountsGone(account_ids=[user_id], files_handled=True))
    # Their models' projections go with the rest (a model's words and tags are its own, encrypted).
    # The outbox's tasks carry the ids of the person's emails, not the account's: read before the rows go.
    waiting = [
        str(pk)
        for pk in Email.objects.filter(
            user_id=user_id, status__in=(Status.QUEUED, Status.SENDING)
        ).values_list("pk", flat=True)
    ]
    counts, names = _purge_rows(user_id)
    record.storage_names = sorted({*record.storage_names, *names})
    record.completed_at = None
    record.save(update_fields=["storage_names", "completed_at"])
    # Public listings, and every cached copy of them, no longer show the account's models: purged (not
    # only left to expire) so that nothing of the account stays in the shared cache.
    transaction.on_commit(listing_cache.purge)
    transaction.on_commit(partial(_after_commit, record, waiting))
    return Outcome(record_id=record.pk, rows=counts)


def _record_erasure(user_id: Any, acting_user: Any) -> None:
    """The audit row: ids only, once per account however often it is erased (the ledger re-applied)."""
    subject = _uuid(user_id)
    erased = AuditEvent.objects.filter(event_type=audit.EventType.ACCOUNT_ERASED, subject_id=subject)
    if erased.exists():
        return
    by_owner = acting_user is not None and _uuid(acting_user.pk) == subject
    audit.record(
        audit.EventType.ACCOUNT_ERASED,
        acting_user=acting_user,
        subject=subject,
        extra={"how": "owner"} if by_owner else {},
    )


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _after_commit(record: DeletionRecord, emails_waiting: list[str]) -> None:
    # At once: an upload or an export of the account being written now fails to store, and nothing a
    # crash left of it waits for the next recovery pass.
    staging.erase_account(record.account_id)
    if str(record.account_id) not in ids_in_ledger_file():
        append_to_ledger_file([str(record.account_id)], record.requested_at)
    # At once, not in the finishing task: a queue runs its jobs in order, and the person's waiting
    # emails were queued before it.
    taskqueue.drop_tasks_naming(str(record.account_id), *emails_waiting)
    finish_deletion.enqueue(record.pk)
    # The rows are gone from the tables, not yet from their files.
    rewrite.schedule()


def finish(record: DeletionRecord) -> int:
    """Remove the files still listed on the record, the account's queued tasks, and mark it complete."""
    removed = subjects.delete_stored(record.storage_names, remove=objectstore.delete)
    staging.erase_account(record.account_id)
    taskqueue.drop_tasks_naming(str(record.account_id))
    db.checkpoint_wal()
    DeletionRecord.objects.filter(pk=record.pk).update(storage_names=[], completed_at=timezone.now())
    return removed


@task()
def finish_deletion(record_id: int) -> int:
    record = DeletionRecord.objects.filter(pk=record_id, completed_at__isnull=True).first()
    return finish(record) if record is not None else 0


def finish_unfinished() -> int:
    """Finish every deletion that stopped part-way (run by the retention sweep and at restore)."""
    done = 0
    for record in DeletionRecord.objects.filter(completed_at__isnull=True):
        finish(record)
        done += 1
    return done


def reapply_ledger() -> int:
    """After a restore: delete again every account the ledger names. Returns how many were present."""
    ids = ledger_account_ids()
    present = 0
    for account_id in sorted(ids):
        if User.objects.filter(pk=account_id).exists() or crypto.has_data_key(account_id):
            present += 1
            erase_account(account_id, acting_user=None)
    finish_unfinished()
    return present
