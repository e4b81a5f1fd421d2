"""The outbox and what goes out through it: every email (one row each, which is also the person's record
of what they were sent), each person's email preferences, product updates, notices, and the blog.

An :class:`Email` row holds ids only until it is sent: who it is for (the account), what kind it is,
and the ids its composer needs (``refs``). The address and the words are looked up when it is sent, by
the composer its kind registered (:mod:`candor.comms.outbox`), so the queue never holds either. Once
sent, the subject is kept (encrypted under the person's key) for their list of emails we sent them.
"""

from __future__ import annotations

import secrets
import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from candor.comms.choices import Category, NoticeKind, PostStatus, Reason, Status, UpdateStatus, Via
from candor.privacy.crypto import EncryptedTextField
from candor.privacy.inventory import NotPersonal, Personal, Sweep, declare

EMAILS = ("C16", "C3")


def _public_id() -> str:
    return secrets.token_urlsafe(12)


class Post(models.Model):
    """A blog post: written by staff, a draft until published, then public at /blog/<slug>/."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=400, blank=True, default="")
    body = models.TextField(blank=True, default="")  # Markdown, rendered with the model cards' sanitiser
    status = models.CharField(max_length=10, choices=PostStatus.choices, default=PostStatus.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The staff account that wrote it, for the staff pages only: a post is signed by the platform.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes: ClassVar = [models.Index(fields=["status", "-published_at"])]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_published(self) -> bool:
        return self.status == PostStatus.PUBLISHED and self.published_at is not None


declare(
    Post,
    belongs_to=None,
    note="The platform's blog: what staff write in the platform's name, not anyone's personal data.",
    fields={
        "id": NotPersonal(),
        "slug": NotPersonal("the post's address, chosen by staff"),
        "title": NotPersonal("the platform's own writing"),
        "summary": NotPersonal("the platform's own writing"),
        "body": NotPersonal("the platform's own writing"),
        "status": NotPersonal(),
        "published_at": NotPersonal(),
        "created_at": NotPersonal(),
        "updated_at": NotPersonal(),
        "author": NotPersonal(
            "the staff account that wrote a piece published in the platform's name (never shown); "
            "emptied when that account goes"
        ),
    },
)


class Update(models.Model):
    """A product update: written by staff, previewed, tried on themselves, then sent to every account
    holder who has not opted out, at CANDOR_PRODUCT_EMAILS_PER_MINUTE, with one :class:`Email` row per
    person (unique per update, so nobody is sent it twice)."""

    public_id = models.CharField(max_length=20, unique=True, default=_public_id)
    subject = models.CharField(max_length=150)
    body = models.TextField()  # Markdown, rendered with the model cards' sanitiser
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="updates")
    status = models.CharField(max_length=10, choices=UpdateStatus.choices, default=UpdateStatus.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)  # when "send" was pressed
    # The fan-out: one Email row is made per account, in order of account id; ``cursor`` is the last id
    # done, so an interrupted fan-out resumes where it stopped. ``queued_at``: when every row was made.
    cursor = models.UUIDField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # when no row was left to send

    def __str__(self) -> str:
        return self.public_id


declare(
    Update,
    belongs_to=None,
    note="A product update as staff wrote it: the platform's writing. Who it went to is in Email.",
    fields={
        "id": NotPersonal(),
        "public_id": NotPersonal("a random identifier"),
        "subject": NotPersonal("the platform's own writing"),
        "body": NotPersonal("the platform's own writing"),
        "post": NotPersonal(),
        "status": NotPersonal(),
        "author": NotPersonal(
            "the staff account that wrote an update sent in the platform's name (never shown); "
            "emptied when that account goes"
        ),
        "created_at": NotPersonal(),
        "updated_at": NotPersonal(),
        "started_at": NotPersonal(),
        "cursor": NotPersonal("the random id of the last account the fan-out reached, with nothing else"),
        "queued_at": NotPersonal(),
        "finished_at": NotPersonal(),
    },
)


class Email(models.Model):
    """One email to one person: the outbox's queue entry, then their record of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="emails")
    category = models.CharField(max_length=10, choices=Category.choices)
    kind = models.CharField(max_length=40)  # the composer's name (candor.comms.outbox.composer)
    # What the composer needs, by id: numbers and random ids only (checked by outbox.queue).
    refs = models.JSONField(default=dict, blank=True)
    update = models.ForeignKey(Update, null=True, blank=True, on_delete=models.CASCADE, related_name="emails")
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=15, choices=Reason.choices, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The subject as sent, kept for the person's list; empty until then.
    subject = EncryptedTextField(key_owner="user_id", blank=True, default="")
    smtp_code = models.PositiveIntegerField(null=True, blank=True)  # of a refusal

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["user", "update"], condition=Q(update__isnull=False), name="comms_one_update_each"
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["user", "-queued_at"]),
            models.Index(fields=["update", "status"]),
        ]

    def __str__(self) -> str:
        return f"email {self.id}"


declare(
    Email,
    belongs_to="user",
    sweeps=(Sweep("emails sent over the record's retention", field="queued_at", days="EMAIL_RECORD_DAYS"),),
    note=(
        "The record of each email sent to a person (the outbox's row): ids until it is sent, then its "
        "subject and what became of it. Kept CANDOR_EMAIL_RECORD_DAYS (a year), and with the account."
    ),
    fields={
        "id": NotPersonal("a random identifier (the unsubscribe link's token is a MAC of it)"),
        "user": NotPersonal("the link to the account the row belongs to"),
        "category": Personal("communications.emails", "to show you the emails we sent you", "a year", EMAILS),
        "kind": Personal("communications.emails", "to compose the email when it is sent", "a year", EMAILS),
        "refs": Personal(
            "communications.emails",
            "to compose the email when it is sent (ids of what it is about)",
            "a year",
            EMAILS,
            export="metadata",
        ),
        "update": NotPersonal("the product update the email carried"),
        "status": Personal(
            "communications.emails", "to show you whether each email was delivered", "a year", EMAILS
        ),
        "reason": Personal(
            "communications.emails", "to show you why an email was not sent", "a year", EMAILS
        ),
        "attempts": NotPersonal("how many times sending was tried"),
        "next_attempt_at": NotPersonal("when sending is tried again"),
        "queued_at": Personal("communications.emails", "to show you when we wrote to you", "a year", EMAILS),
        "sent_at": Personal("communications.emails", "to show you when we wrote to you", "a year", EMAILS),
        "subject": Personal("communications.emails", "to show you the emails we sent you", "a year", EMAILS),
        "smtp_code": Personal(
            "communications.emails",
            "to tell you why the receiving server refused an email",
            "a year",
            EMAILS,
        ),
    },
)


class Preferences(models.Model):
    """A person's email preferences and their address's standing. No row: the defaults (product updates
    on, never refused)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_prefs"
    )
    product_updates = models.BooleanField(default=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_via = models.CharField(max_length=10, choices=Via.choices, blank=True, default="")
    # When the last product email was sent: the frequency cap claims it (an UPDATE that only succeeds
    # when it is older than the cap), so two updates sending at once cannot both reach the person.
    last_product_at = models.DateTimeField(null=True, blank=True)
    # The blind index (accounts.User.email_index) of the address a mail server refused for good, with
    # when and its code: product mail stops while the account still has that address.
    undeliverable_index = models.CharField(max_length=64, blank=True, default="")
    undeliverable_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "email preferences"


PREFS = ("C16",)
declare(
    Preferences,
    belongs_to="user",
    note="A person's choice about product emails, and whether their address was refused: with the account.",
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "product_updates": Personal(
            "communications.preferences",
            "to send product updates only to those who want them",
            "while the account exists",
            PREFS,
            correctable=True,
        ),
        "changed_at": Personal(
            "communications.preferences", "to show when you changed it", "while the account exists", PREFS
        ),
        "changed_via": Personal(
            "communications.preferences", "to show how you changed it", "while the account exists", PREFS
        ),
        "last_product_at": Personal(
            "communications.preferences",
            "to send at most one product email in CANDOR_PRODUCT_EMAIL_CAP_DAYS",
            "while the account exists",
            PREFS,
        ),
        "undeliverable_index": Personal(
            "communications.preferences",
            "to stop product mail to an address that was refused (a keyed hash of it, not the address)",
            "while the account exists",
            PREFS,
            export="metadata",
        ),
        "undeliverable_at": Personal(
            "communications.preferences",
            "to tell you when your address was refused",
            "while the account exists",
            PREFS,
        ),
    },
)


class Notice(models.Model):
    """A notice to one person, shown as a banner on every page (and in the API and the CLI) until they
    dismiss it. ``key`` names a notice that must not be shown twice at once (one per undeliverable
    address, one per policy version)."""

    public_id = models.CharField(max_length=20, unique=True, default=_public_id)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=15, choices=NoticeKind.choices)
    key = models.CharField(max_length=80, blank=True, default="")
    title = EncryptedTextField(key_owner="user_id")
    body = EncryptedTextField(key_owner="user_id", blank=True, default="")
    link = models.CharField(max_length=200, blank=True, default="")  # a path on this site
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=Q(dismissed_at__isnull=True) & ~Q(key=""),
                name="comms_one_open_notice_per_key",
            )
        ]
        indexes: ClassVar = [models.Index(fields=["user", "dismissed_at"])]

    def __str__(self) -> str:
        return f"notice {self.public_id}"


NOTICES = ("C21", "C16")
declare(
    Notice,
    belongs_to="user",
    sweeps=(Sweep("dismissed notices", field="dismissed_at", days="NOTICE_KEEP_DAYS"),),
    note="Notices to a person: kept until dismissed, then CANDOR_NOTICE_KEEP_DAYS, and with the account.",
    fields={
        "id": NotPersonal(),
        "public_id": NotPersonal("a random identifier"),
        "user": NotPersonal("the link to the account the row belongs to"),
        "kind": Personal(
            "communications.notices", "to tell you what concerns you", "until dismissed", NOTICES
        ),
        "key": NotPersonal("a fixed word and a number: which notice this is, so it is not shown twice"),
        "title": Personal(
            "communications.notices", "to tell you what concerns you", "until dismissed", NOTICES
        ),
        "body": Personal(
            "communications.notices", "to tell you what concerns you", "until dismissed", NOTICES
        ),
        "link": NotPersonal("a page of this site"),
        "created_at": Personal(
            "communications.notices", "to tell you when it happened", "until dismissed", NOTICES
        ),
        "dismissed_at": Personal(
            "communications.notices", "to stop showing a notice you dismissed", "until dismissed", NOTICES
        ),
    },
)
