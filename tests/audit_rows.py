"""Checks on the audit trail shared by the accounts and token tests."""

from __future__ import annotations

import json
from collections.abc import Iterable

from candor.accounts.models import User
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent


def only_row(event: EventType, *, acting: User | None, subject: User, personal: Iterable[str]) -> AuditEvent:
    """The one audit row written so far, checked: its type, who acted, whom it is about, and that none
    of ``personal`` (names, addresses, passwords, tokens) appears anywhere in it."""
    rows = list(AuditEvent.objects.all())
    assert [(row.event_type, row.acting_user_id, row.subject_id) for row in rows] == [
        (int(event), acting.pk if acting is not None else None, subject.pk)
    ]
    row = rows[0]
    stored = json.dumps(
        {field.attname: getattr(row, field.attname) for field in AuditEvent._meta.concrete_fields},
        default=str,
    ).lower()
    for value in personal:
        assert value.lower() not in stored, value
    return row


def no_rows() -> None:
    assert not AuditEvent.objects.exists()
