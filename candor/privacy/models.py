from __future__ import annotations

import secrets
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from candor.kernel.refusal import Code
from candor.privacy.inventory import NotPersonal, Personal, Sweep, declare


def _new_key_id() -> str:
    return secrets.token_urlsafe(12)


class DataKey(models.Model):
    """One account's data key, stored only wrapped (AES-GCM) under one of the master keys.

    Every encrypted field of the account's rows names this key by ``key_id``. Deleting the row is the
    crypto-shredding step of permanent deletion: without it, no copy of those fields can be read.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_key")
    key_id = models.CharField(max_length=16, unique=True, default=_new_key_id)
    master_key_id = models.CharField(max_length=32)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    wrapped_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["master_key_id"])]

    def __str__(self) -> str:
        return f"data key {self.key_id}"


class RetiredUsername(models.Model):
    """A username that belonged to a deleted account: kept only as a keyed hash, so it is never reused."""

    digest = models.CharField(max_length=64, unique=True)
    retired_at = models.DateField(default=timezone.localdate)

    def __str__(self) -> str:
        return "retired username"


declare(
    DataKey,
    belongs_to="user",
    note="Destroyed first when the account is deleted; unreadable without a master key; never backed up.",
    backed_up=False,
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the key belongs to"),
        "key_id": NotPersonal("a random name for the key, written beside each value it encrypts"),
        "master_key_id": NotPersonal("the name of the operator's master key that wraps this key"),
        "wrapped": NotPersonal("a random key, itself encrypted; it says nothing about the person"),
        "created_at": NotPersonal(),
        "wrapped_at": NotPersonal(),
    },
)

declare(
    RetiredUsername,
    belongs_to=None,
    note="Holds no name: a keyed hash cannot be turned back into the name without the key and a guess.",
    fields={
        "id": NotPersonal(),
        "digest": NotPersonal("a keyed hash of a deleted account's username, kept so it is never reused"),
        "retired_at": NotPersonal("a day, not tied to any account that still exists"),
    },
)


class DeletionRecord(models.Model):
    """The deletion ledger: one row per permanently deleted account, holding ids and nothing personal.

    ``candor restore`` re-applies every record, so an older backup cannot bring a deleted account back.
    ``storage_names`` lists the account's files still to be removed from storage (random names), so a
    deletion that stopped part-way is finished by a rerun. ``tables_rewritten_at`` is when the tables
    that held the account's rows were last rewritten after its deletion (candor.lifecycle.rewrite):
    until then its deleted rows' bytes may remain in the database's files.
    """

    account_id = models.UUIDField(unique=True)
    requested_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    storage_names = models.JSONField(default=list, blank=True)
    tables_rewritten_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["completed_at"])]

    def __str__(self) -> str:
        return "deletion record"


declare(
    DeletionRecord,
    belongs_to=None,
    note="Ids only: the account it names no longer exists, and nothing here says who the person was.",
    fields={
        "id": NotPersonal(),
        "account_id": NotPersonal("the random id of an account that no longer exists"),
        "requested_at": NotPersonal(),
        "completed_at": NotPersonal(),
        "storage_names": NotPersonal("random file names in storage, with no name or title in them"),
        "tables_rewritten_at": NotPersonal(),
    },
)


def _new_public_id() -> str:
    return secrets.token_urlsafe(16)


def export_storage_name(instance: object = None, filename: str = "") -> str:
    """A random storage name for an export archive: never the username, nor anything else of the person."""
    return f"exports/{secrets.token_urlsafe(18)}.zip"


class ExportArchive(models.Model):
    """A copy of everything the inventory ties to one person, as a ZIP they may download (clause C5).

    Built in the background, kept for ``EXPORT_TTL_DAYS`` once ready, then swept with its file.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "being prepared"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_archives"
    )
    public_id = models.CharField(max_length=22, unique=True, default=_new_public_id)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    archive = models.FileField(upload_to=export_storage_name, max_length=200, blank=True)
    size = models.BigIntegerField(default=0)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "status"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"export {self.public_id}"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def download_refusal(self, now: datetime | None = None) -> Code | None:
        """Why the archive may not be downloaded now (None: it may). The one rule of every interface:
        one not ready (or without its file) is not found, one past its expiry has expired."""
        if self.status != self.Status.READY or not self.archive.name:
            return Code.NOT_FOUND
        if self.is_expired(now):
            return Code.EXPORT_EXPIRED
        return None

    @property
    def is_downloadable(self) -> bool:
        return self.download_refusal() is None


declare(
    ExportArchive,
    belongs_to="user",
    sweeps=(Sweep("expired export archives", field="expires_at"),),
    note="The archive is a copy of the person's own data; it and its file go when it expires.",
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "public_id": NotPersonal("a random identifier of the archive, in its download address"),
        "status": NotPersonal(),
        "created_at": NotPersonal(),
        "ready_at": NotPersonal(),
        "expires_at": NotPersonal(),
        "archive": Personal(
            "account.export",
            "to let the person download a copy of their data",
            "until it expires (7 days after it is ready, by default); deleted with the account",
            ("C5", "C18"),
            export="omitted",
            sealed=True,
        ),
        "size": NotPersonal(),
    },
)


class AuditEvent(models.Model):
    """One row per state change that matters later: who did what to which account or model, and when.

    Of one fixed shape for every area (see :mod:`candor.privacy.audit` for the event types and the only
    writer). The acting account is kept apart from the account the event is about: an account signing
    up acts on itself, a member of staff acts on someone else. Both are ids without a foreign key, so an
    erased account's history stays (ids that no longer name anyone) and the erasure itself is recorded.
    ``extra`` holds numbers, flags and words from a fixed vocabulary, never a value someone typed.
    """

    event_type = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField(default=timezone.now)
    acting_user_id = models.UUIDField(null=True, blank=True)
    subject_id = models.UUIDField(null=True, blank=True)
    model_id = models.BigIntegerField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["subject_id", "event_type", "occurred_at"], name="privacy_audit_subject"),
            models.Index(fields=["occurred_at"], name="privacy_audit_time"),
        ]

    def __str__(self) -> str:
        return f"audit event {self.event_type}"


declare(
    AuditEvent,
    belongs_to=None,
    sweeps=(Sweep("audit events past their retention", field="occurred_at", days="AUDIT_EVENT_DAYS"),),
    note=(
        "The audit trail: kept after an account is erased, for accountability, and swept after "
        "CANDOR_AUDIT_EVENT_DAYS. Ids, an event type, a time and words from a fixed vocabulary."
    ),
    fields={
        "id": NotPersonal(),
        "event_type": NotPersonal("a number naming the kind of change"),
        "occurred_at": NotPersonal(),
        "acting_user_id": NotPersonal("the random id of the account that acted, with nothing else of it"),
        "subject_id": NotPersonal("the random id of the account the change was about"),
        "model_id": NotPersonal("the number of the model the change was about"),
        "extra": NotPersonal("counts, flags and words from a fixed vocabulary; never typed text"),
    },
)
