"""The access log: appending an entry to the hash chain, and each entry's canonical form and hash.

An entry's hash is the SHA-256 of its canonical form (its fields as JSON with sorted keys, UTC times to
the microsecond), which includes the hash of the entry before it; the first entry's previous hash is 64
zeros. Appends are queued one behind another by updating the log's head row first
(:class:`~candor.staff.models.LogHead`), in the caller's transaction: a reveal and its entry commit or
roll back together, and two writers can never give two entries the same position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from candor.staff.models import AccessEntry, LogHead

GENESIS = "0" * 64
HASHED_FIELDS = (
    "position",
    "occurred_at",
    "staff_id",
    "role",
    "office_country",
    "work_country",
    "grant_id",
    "purpose",
    "case_reference",
    "subject_id",
    "categories",
    "agreement_sha256",
    "tell_after",
    "previous_hash",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, int | str):
        return value
    return str(value)  # a UUID


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an entry's hash is taken of."""
    body = {name: _plain(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def hash_of(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def fields_of(entry: AccessEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _claim_position() -> tuple[int, str]:
    """Take the head row's lock (an UPDATE, so SQLite takes its write lock at once and PostgreSQL the
    row's) and return the new entry's position and the hash before it, in one statement (RETURNING,
    which SQLite has had since 3.35 and PostgreSQL always): the gate pays for it on every reveal."""
    table = connection.ops.quote_name(LogHead._meta.db_table)
    claim = f"UPDATE {table} SET size = size + 1 WHERE id = 1 RETURNING size, head_hash"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(claim)
        row = cursor.fetchone()
        if row is None:  # no head row yet: a new database (or one a test emptied)
            try:
                with transaction.atomic():
                    LogHead.objects.create(pk=1)
            except IntegrityError:  # made by a concurrent first append
                pass
            cursor.execute(claim)
            row = cursor.fetchone()
    return int(row[0]), str(row[1])


def append(
    *,
    occurred_at: datetime,
    staff_id: Any,
    role: str,
    office_country: str,
    work_country: str,
    grant_id: str,
    purpose: str,
    case_reference: str,
    subject_id: Any,
    categories: Sequence[str],
    agreement_sha256: str,
    tell_after: datetime | None,
) -> AccessEntry:
    """Append one entry, inside the caller's transaction (the gate's reveal)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("access log entries are appended inside the reveal's transaction")
    position, previous_hash = _claim_position()
    entry = AccessEntry(
        position=position,
        occurred_at=occurred_at,
        staff_id=staff_id,
        role=role,
        office_country=office_country,
        work_country=work_country,
        grant_id=grant_id,
        purpose=purpose,
        case_reference=case_reference,
        subject_id=subject_id,
        categories=sorted(categories),
        agreement_sha256=agreement_sha256,
        tell_after=tell_after,
        previous_hash=previous_hash,
    )
    entry.entry_hash = hash_of(fields_of(entry))
    entry.save(force_insert=True)
    LogHead.objects.filter(pk=1).update(head_hash=entry.entry_hash)
    return entry
