"""The fixed lists of communications: categories of email, what became of one, kinds of notice."""

from __future__ import annotations

from django.db import models


class Category(models.TextChoices):
    """Every email has one. Account and policy emails are always sent; product updates only to those
    who have not opted out, and at most one in CANDOR_PRODUCT_EMAIL_CAP_DAYS."""

    ACCOUNT = "account", "security and account"
    POLICY = "policy", "policy notice"
    PRODUCT = "product", "product update"


class Status(models.TextChoices):
    QUEUED = "queued", "waiting to be sent"
    SENDING = "sending", "being sent"
    SENT = "sent", "handed to the mail server"
    UNDELIVERABLE = "undeliverable", "refused by the receiving mail server"
    FAILED = "failed", "could not be sent"
    SKIPPED = "skipped", "not sent"


class Reason(models.TextChoices):
    """Why an email ended without being sent (SKIPPED), or what stopped it (FAILED)."""

    NONE = "", ""
    OPTED_OUT = "opted_out", "you had unsubscribed from product updates"
    CAPPED = "capped", "you had already had a product update in the last days"
    UNDELIVERABLE = "undeliverable", "your address had been refused before"
    NOT_NEEDED = "not_needed", "it was no longer needed"
    THROTTLED = "throttled", "too many were asked for this address in an hour"
    INTERRUPTED = (
        "interrupted",
        "sending was interrupted; it was not sent again, so that you never get it twice",
    )
    GAVE_UP = "gave_up", "the mail server could not be reached after several tries"
    REFUSED = "refused", "the mail server refused the message"


class NoticeKind(models.TextChoices):
    POLICY = "policy", "policy change"
    SECURITY = "security", "security"
    UNDELIVERABLE = "undeliverable", "email address"
    ACCOUNT = "account", "account"


class PostStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    PUBLISHED = "published", "published"


class UpdateStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    SENDING = "sending", "being sent"
    SENT = "sent", "sent"
    CANCELLED = "cancelled", "cancelled"


# How a person's product-update preference was last changed.
class Via(models.TextChoices):
    SETTINGS = "settings", "settings"
    API = "api", "the API"
    ONE_CLICK = "one_click", "the unsubscribe link"
    MAIL = "mail", "an unsubscribe email"
