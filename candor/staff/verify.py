"""Verifying the access log: the hash chain from its first entry, and every signed checkpoint.

:func:`verify` reads the entries in batches ordered by position (constant memory) and recomputes each
entry's hash. It stops at the FIRST entry that breaks the chain and says why: a gap in the positions (a
row deleted), an entry whose fields no longer give its hash (edited), an entry whose previous hash is not
the hash of the one before (rewritten, inserted, reordered). Each checkpoint's signature must hold under
the public key, each checkpoint must extend the one before, and the chain must hold, at each
checkpoint's size, the head hash the checkpoint vouches for (else the log was truncated or forked).

A checkpoint of kind ``restored`` marks a restore of a backup: the checkpoints before it that are larger
than it vouch for entries the restore set back. Those are reported as a visible gap, not as tampering.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection

from candor.staff import checkpoints as signed
from candor.staff.accesslog import GENESIS, HASHED_FIELDS
from candor.staff.models import AccessEntry, Checkpoint, LogHead

BATCH = 20_000


@dataclass
class Gap:
    """A restore set the log back: checkpoints had vouched for ``lost_from..lost_to`` before it."""

    restored_at: datetime
    restored_size: int
    lost_to: int

    def describe(self) -> str:
        return (
            f"a backup was restored at {signed.time_text(self.restored_at)}: the log was set back to "
            f"{self.restored_size} entries; entries {self.restored_size + 1} to {self.lost_to}, vouched for "
            "by earlier checkpoints, are not in it"
        )


@dataclass
class Outcome:
    entries: int = 0
    checkpoints: int = 0
    key_id: str = ""
    gaps: list[Gap] = field(default_factory=list)
    problem: str | None = None  # None: everything holds
    position: int | None = None  # the first bad entry, where one is to blame

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, problem: str, position: int | None = None) -> Outcome:
        self.problem, self.position = problem, position
        return self


# The canonical form of accesslog.canonical, built from a row in HASHED_FIELDS' order: the same JSON
# bytes (sorted keys, no spaces, ASCII), written out by hand, and from the database's raw values (read
# with a plain cursor, not through the ORM's converters): json.dumps of a dict and the converters were
# most of the time a million entries took. tests/staff/test_verify.py holds the bytes equal, for raw
# rows and for rows of Python values.
_quote = json.encoder.encode_basestring_ascii


def _time(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):  # SQLite's text (read as text, below): UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        return f'"{value[:10]}T{value[11:19]}.{value[20:26] or "000000"}Z"'
    # SQLite's column reads as a naive datetime in UTC (never the machine's own zone: astimezone would
    # take it for local time); PostgreSQL's as an aware one in UTC already.
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return (
        f'"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:'
        f'{value.second:02d}.{value.microsecond:06d}Z"'
    )


def _uuid(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) == 32:  # SQLite keeps a UUID as 32 hex digits
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return f'"{text}"'


def _items(value: Any) -> str:
    if isinstance(value, str):  # the column's JSON text
        value = json.loads(value)
    if not isinstance(value, list):
        return str(_quote(str(value)))
    return "[" + ",".join(str(_quote(str(item))) for item in value) + "]"


def _hash_of_row(row: tuple[Any, ...]) -> str:
    (
        position,
        occurred_at,
        staff_id,
        role,
        office,
        work,
        grant_id,
        purpose,
        case,
        subject_id,
        categories,
        agreement,
        tell_after,
        previous_hash,
    ) = row[:14]
    q = _quote
    body = (
        f'{{"agreement_sha256":{q(agreement)},"case_reference":{q(case)},"categories":{_items(categories)},'
        f'"grant_id":{q(grant_id)},"occurred_at":{_time(occurred_at)},"office_country":{q(office)},'
        f'"position":{int(position)},"previous_hash":{q(previous_hash)},"purpose":{q(purpose)},'
        f'"role":{q(role)},"staff_id":{_uuid(staff_id)},"subject_id":{_uuid(subject_id)},'
        f'"tell_after":{_time(tell_after)},"work_country":{q(work)}}}'
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _rows(batch: int) -> Iterator[tuple[Any, ...]]:
    """Every entry as (hashed fields…, entry_hash) of raw database values, by position, ``batch`` rows
    at a time."""
    quote = connection.ops.quote_name
    # On SQLite the times are read as their text: parsing them into datetimes is the dearest part.
    as_text = {"occurred_at", "tell_after"} if connection.vendor == "sqlite" else set()
    columns = ", ".join(
        f"CAST({quote(name)} AS TEXT)" if name in as_text else quote(name)
        for name in (*HASHED_FIELDS, "entry_hash")
    )
    query = (
        f"SELECT {columns} FROM {quote(AccessEntry._meta.db_table)} "  # noqa: S608 - names, not input
        f"WHERE {quote('position')} > %s ORDER BY {quote('position')} LIMIT %s"
    )
    last = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(query, [last, batch])
            rows = cursor.fetchall()
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1][0]


def _describe(checkpoint: Checkpoint) -> str:
    when = signed.time_text(checkpoint.signed_at)
    return f"the checkpoint of {when} ({checkpoint.kind}, size {checkpoint.size})"


def _check_checkpoints(
    listed: list[Checkpoint], key: Ed25519PublicKey, outcome: Outcome
) -> list[Checkpoint] | None:
    """Signatures and order. Returns the checkpoints the current chain must match, or None on a failure
    (recorded in ``outcome``)."""
    key_id = signed.key_id_of(key)
    outcome.key_id = key_id
    for checkpoint in listed:
        if checkpoint.key_id != key_id:
            outcome.fail(
                f"{_describe(checkpoint)} was signed by the key {checkpoint.key_id}, not by the key given "
                f"({key_id}): a wrong public key, or a checkpoint not made by this site"
            )
            return None
        if not signed.signature_holds(checkpoint, key):
            outcome.fail(
                f"{_describe(checkpoint)} has a signature that does not verify under the key {key_id}: "
                "the checkpoint was altered after it was signed"
            )
            return None
    for before, after in itertools.pairwise(listed):
        if after.size < before.size and after.kind != Checkpoint.Kind.RESTORED:
            outcome.fail(
                f"{_describe(after)} is smaller than {_describe(before)}, and no restore is recorded "
                "between them: entries were removed from the log",
                after.size + 1,
            )
            return None
    # A checkpoint larger than a later `restored` one vouched for entries that restore set back.
    current: list[Checkpoint] = []
    floor: Checkpoint | None = None  # the smallest restored checkpoint after the one looked at
    gaps: dict[int, Gap] = {}
    for checkpoint in reversed(listed):
        if floor is not None and checkpoint.size > floor.size:
            gap = gaps.setdefault(floor.pk, Gap(floor.signed_at, floor.size, checkpoint.size))
            gap.lost_to = max(gap.lost_to, checkpoint.size)
            continue
        current.append(checkpoint)
        if checkpoint.kind == Checkpoint.Kind.RESTORED and (floor is None or checkpoint.size < floor.size):
            floor = checkpoint
    outcome.gaps = sorted(gaps.values(), key=lambda gap: gap.restored_at)
    return sorted(current, key=lambda c: (c.size, c.signed_at))


def verify(*, key: Ed25519PublicKey | None = None, batch: int = BATCH) -> Outcome:
    """Verify the whole log and its checkpoints against ``key`` (the configured key's public half when
    None). The outcome names the first problem, or none."""
    outcome = Outcome()
    listed = list(Checkpoint.objects.order_by("signed_at", "pk"))
    outcome.checkpoints = len(listed)
    to_match = _check_checkpoints(listed, key or signed.public_key(), outcome)
    if to_match is None:
        return outcome
    pending = iter(to_match)
    due = next(pending, None)
    expected, previous = 1, GENESIS
    while due is not None and due.size == 0:
        if due.head_hash != GENESIS:
            return outcome.fail(f"{_describe(due)} vouches for an empty log, but with a head hash: forged", 1)
        due = next(pending, None)
    for row in _rows(batch):
        position, previous_hash, entry_hash = row[0], row[-2], row[-1]
        if position != expected:
            return outcome.fail(
                f"entry {expected} is missing: the log goes from entry {expected - 1} to entry {position} "
                "(a row was deleted)",
                expected,
            )
        computed = _hash_of_row(row)
        if previous_hash != previous:
            why = (
                "and its own fields do not give its hash either (rows reordered or rewritten)"
                if computed != entry_hash
                else "(the entry before it was replaced, or an entry was inserted here)"
            )
            return outcome.fail(
                f"entry {position} does not follow entry {position - 1}: its previous hash is not the "
                f"hash of entry {position - 1} {why}",
                position,
            )
        if computed != entry_hash:
            return outcome.fail(
                f"entry {position} was altered: its fields do not give the hash recorded for it", position
            )
        while due is not None and due.size == position:
            if due.head_hash != entry_hash:
                return outcome.fail(
                    f"{_describe(due)} vouches for a head hash that the log does not hold at entry "
                    f"{position}: the log was rewritten from some entry up to {position} on (a fork)",
                    position,
                )
            due = next(pending, None)
        expected, previous = position + 1, entry_hash
    size = expected - 1
    outcome.entries = size
    if due is not None:
        return outcome.fail(
            f"the log ends at entry {size}, but {_describe(due)} vouches for {due.size} entries: entries "
            f"{size + 1} to {due.size} were removed (the log was truncated)",
            size + 1,
        )
    head = LogHead.objects.filter(pk=1).first()
    head_size, head_hash = (0, GENESIS) if head is None else (head.size, head.head_hash)
    if (head_size, head_hash) != (size, previous):
        return outcome.fail(
            f"the log's head says {head_size} entries, but the chain holds {size} entries"
            + ("" if head_size != size else " with another last hash")
            + ": entries were added or removed without going through the log",
            min(head_size, size) + 1,
        )
    return outcome
