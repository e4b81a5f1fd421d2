"""Helpers for the access log's tests: entries appended quickly, and tampering that gets past the
PostgreSQL trigger the way an intruder with the table owner's rights would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from candor.staff import accesslog
from candor.staff.models import AccessEntry

STAFF_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
SUBJECT_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")
START = datetime(2026, 1, 1, tzinfo=UTC)


def append_entries(count: int, *, case: str = "CASE-1") -> list[AccessEntry]:
    made = []
    for _ in range(count):
        with transaction.atomic():
            made.append(
                accesslog.append(
                    occurred_at=START + timedelta(seconds=AccessEntry.objects.count()),
                    staff_id=STAFF_ID,
                    role="support",
                    office_country="DE",
                    work_country="PT",
                    grant_id="g" * 22,
                    purpose="support_case",
                    case_reference=case,
                    subject_id=SUBJECT_ID,
                    categories=["account.username"],
                    agreement_sha256="a" * 64,
                    tell_after=None,
                )
            )
    return made


@contextmanager
def tampering() -> Iterator[None]:
    """Let the block UPDATE and DELETE the log's rows (on PostgreSQL, with the triggers switched off
    inside the test's transaction; on SQLite there is nothing to switch off)."""
    if connection.vendor != "postgresql":
        yield
        return
    tables = ("staff_accessentry", "staff_checkpoint")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
