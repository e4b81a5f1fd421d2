"""The audit trail's event types and its only writer, :func:`record`.

Every durable action that changes state records one row, inside its own transaction, so the row and
the change commit or roll back together. Event types are stable integers grouped by area (hundreds):
never renumber one, only add. What ``extra`` may hold is checked here, so that no action can put a
typed value (a name, an address, a title) into the trail by mistake: numbers, flags, and words from
:data:`VOCABULARY` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import IntEnum
from typing import Protocol

from django.db import transaction

from candor.privacy.models import AuditEvent


class EventType(IntEnum):
    # Accounts (1xx)
    SIGNED_UP = 101
    EMAIL_CONFIRMED = 102
    EMAIL_CHANGED = 103
    PASSWORD_CHANGED = 104
    SESSION_ENDED = 105
    ACCOUNT_ERASED = 106
    PASSWORD_RESET = 107
    # API tokens (2xx)
    TOKEN_CREATED = 201
    TOKEN_REVOKED = 202
    # Models (3xx)
    MODEL_CREATED = 301
    MODEL_VISIBILITY_CHANGED = 302
    MODEL_DELETED = 303
    MODEL_FILES_CHANGED = 304
    MODEL_HISTORY_PURGED = 305
    # Personal data (4xx)
    EXPORT_REQUESTED = 401
    # Staff access (5xx): the reveals themselves go to the access log (candor.staff.accesslog)
    STAFF_ADDED = 501
    STAFF_CHANGED = 502
    STAFF_ENDED = 503
    AGREEMENT_PUBLISHED = 504
    AGREEMENT_SIGNED = 505
    SECOND_FACTOR_SET = 506
    RECOVERY_CODE_USED = 507
    GRANT_REQUESTED = 511
    GRANT_APPROVED = 512
    GRANT_REFUSED = 513
    GRANT_ENDED = 514
    ACCESS_DIGEST_SENT = 521  # a person was emailed the accesses to their data newly told
    LOG_CHECKPOINT = 522  # extra: size, restored
    # Communications (6xx)
    EMAIL_PREFERENCES_CHANGED = 601  # extra: product_updates, via
    ADDRESS_UNDELIVERABLE = 602  # extra: code (the SMTP reply code)
    NOTICE_DISMISSED = 611
    UPDATE_SAVED = 621  # a product update written or changed
    UPDATE_TEST_SENT = 622
    UPDATE_SENDING = 623  # sending started
    UPDATE_CANCELLED = 624
    UPDATE_FINISHED = 625  # extra: sent, skipped, failed
    POST_SAVED = 641
    POST_PUBLISHED = 642
    POST_UNPUBLISHED = 643
    POST_DELETED = 644


# The words ``extra`` may hold, by key. Anything else must be an int, a bool or None.
VOCABULARY: dict[str, frozenset[str]] = {
    "visibility": frozenset({"public", "unlisted", "private"}),
    "previous_visibility": frozenset({"public", "unlisted", "private"}),
    "scope": frozenset({"read", "write"}),
    "purpose": frozenset({"legal_request", "support_case", "security_incident", "abuse_report"}),
    "via": frozenset({"settings", "api", "one_click", "mail"}),
    "how": frozenset({"password", "link", "owner", "staff", "retention", "signed_out", "all_others"}),
}


class HasPk(Protocol):
    @property
    def pk(self) -> object: ...


Who = HasPk | uuid.UUID | str | None


def _account_id(who: Who) -> uuid.UUID | None:
    if who is None:
        return None
    if isinstance(who, uuid.UUID):
        return who
    if isinstance(who, str):
        return uuid.UUID(who)
    pk = who.pk
    return None if pk is None else (pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk)))


def check_extra(extra: Mapping[str, object]) -> dict[str, object]:
    """``extra`` as stored, or ValueError if it holds anything but numbers, flags and known words."""
    clean: dict[str, object] = {}
    for key, value in extra.items():
        if (
            value is None
            or isinstance(value, bool | int)
            or (isinstance(value, str) and value in VOCABULARY.get(key, frozenset()))
        ):
            clean[key] = value
        else:
            raise ValueError(f"audit extra {key!r} may not hold {type(value).__name__} values like this one")
    return clean


def record(
    event_type: EventType,
    *,
    acting_user: Who,
    subject: Who = None,
    model_id: int | None = None,
    extra: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Write one audit row in the current transaction (an action's). Outside one, this is a bug."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit rows are written inside the action's transaction")
    return AuditEvent.objects.create(
        event_type=int(EventType(event_type)),
        acting_user_id=_account_id(acting_user),
        subject_id=_account_id(subject),
        model_id=model_id,
        extra=check_extra(extra or {}),
    )
