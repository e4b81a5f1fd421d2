"""What a person may read of their own emails: "Emails we sent you" in settings and GET /api/v1/me/emails.

Each row is described in words: its category, its subject once sent (before, what kind of email it is),
what became of it and, when it was not sent, why. Only the person's own rows, newest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet

from candor.comms import outbox
from candor.comms.choices import Category, Reason, Status
from candor.comms.models import Email, Preferences
from candor.kernel.refusal import Code, Refusal

CURSOR_SALT = "candor.comms.emails.cursor"


@dataclass(frozen=True)
class Sent:
    id: str
    category: str
    category_label: str
    kind: str
    subject: str  # as sent; before that (or when it was never sent), what kind of email it is
    queued_at: datetime
    sent_at: datetime | None
    status: str
    status_label: str
    reason: str
    reason_label: str
    attempts: int


def emails_of(user_id: Any) -> QuerySet[Email]:
    return Email.objects.filter(user_id=user_id).order_by("-queued_at", "-id")


def _label_of(kind: str) -> str:
    try:
        return outbox.kind(kind).label
    except LookupError:
        return kind


def described(rows: list[Email]) -> list[Sent]:
    found = []
    for row in rows:
        subject = row.subject if isinstance(row.subject, str) and row.subject else ""
        found.append(
            Sent(
                id=str(row.pk),
                category=row.category,
                category_label=str(Category(row.category).label),
                kind=row.kind,
                subject=subject or _label_of(row.kind).capitalize(),
                queued_at=row.queued_at,
                sent_at=row.sent_at,
                status=row.status,
                status_label=str(Status(row.status).label),
                reason=row.reason,
                reason_label=str(Reason(row.reason).label) if row.reason else "",
                attempts=row.attempts,
            )
        )
    return found


@dataclass(frozen=True)
class EmailPage:
    items: list[Sent]
    next_cursor: str | None


def _cursor_for(row: Email) -> str:
    # The position only (a time and a random id), signed so a made-up one is refused.
    return signing.dumps(f"{row.queued_at.timestamp():.6f}|{row.pk.hex}", salt=CURSOR_SALT, compress=True)


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    refused = Refusal(Code.INVALID_CURSOR, "There is no page at this cursor: use the 'next' link as given.")
    try:
        stamp, _, hex_id = str(signing.loads(cursor, salt=CURSOR_SALT)).partition("|")
        return datetime.fromtimestamp(float(stamp), tz=UTC), uuid.UUID(hex=hex_id)
    except (signing.BadSignature, ValueError, OverflowError):
        raise refused from None


def page_of(user_id: Any, *, limit: int, cursor: str | None) -> EmailPage:
    """The ``limit`` emails after ``cursor`` (from the newest without one), and the next cursor."""
    rows = emails_of(user_id)
    if cursor:
        when, pk = _position(cursor)
        rows = rows.filter(Q(queued_at__lt=when) | Q(queued_at=when, id__lt=pk))
    found = list(rows[: limit + 1])
    following = _cursor_for(found[limit - 1]) if len(found) > limit else None
    return EmailPage(described(found[:limit]), following)


def address_refused(user: Any, prefs: Preferences | None = None) -> bool:
    """Whether a mail server refused, for good, the address the account has now."""
    prefs = prefs if prefs is not None else Preferences.objects.filter(user=user).first()
    return bool(
        prefs is not None and prefs.undeliverable_index and prefs.undeliverable_index == user.email_index
    )
