"""`candor audit verify`: a sound log verifies; every kind of tampering is named at its first bad entry."""

from __future__ import annotations

import base64
import os
import time
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from candor.staff import accesslog, checkpoints, verify
from candor.staff.models import AccessEntry, Checkpoint, LogHead
from tests.staff.logtools import append_entries, tampering

pytestmark = pytest.mark.django_db


def verified(*args: str) -> str:
    """The command's message when it fails (a CommandError, exit status 1)."""
    with pytest.raises(CommandError) as raised:
        call_command("audit", "verify", *args)
    return str(raised.value)


def sign() -> Checkpoint:
    made = checkpoints.make_checkpoint(acting_user=None)
    assert made is not None
    return made


def test_a_sound_log_with_its_checkpoints_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    sign()  # of the empty log
    append_entries(4)
    sign()
    append_entries(3)
    sign()
    append_entries(2)  # past the last checkpoint: fine
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "verifies: 9 entries chained from the first, 3 checkpoints signed by key" in out
    outcome = verify.verify()
    assert outcome.ok and outcome.entries == 9 and outcome.position is None


def test_the_fast_canonical_form_is_the_append_ones() -> None:
    """verify hashes rows of values, not model instances: the bytes must be accesslog's own, whatever
    the values (a time zone other than UTC, characters JSON escapes, a time given or not)."""
    (entry,) = append_entries(1)
    fields = _without_chain_fields(accesslog.fields_of(entry))
    with transaction.atomic():
        accesslog.append(**{**fields, "tell_after": entry.occurred_at})  # type: ignore[arg-type]
    rows = AccessEntry.objects.order_by("position").values_list(*accesslog.HASHED_FIELDS, "entry_hash")
    for row in rows:
        assert verify._hash_of_row(row) == row[-1]
    raw = list(verify._rows(batch=1))  # as the database gives them, one batch of one at a time
    assert [row[0] for row in raw] == [1, 2]
    zone = os.environ.get("TZ")
    try:  # the machine's own time zone plays no part (SQLite's times read as naive UTC)
        os.environ["TZ"] = "Asia/Tokyo"
        time.tzset()
        for row in raw:
            assert verify._hash_of_row(row) == row[-1]
    finally:
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()
    berlin = timezone(timedelta(hours=1))
    odd = dict(accesslog.fields_of(entry))
    odd |= {"case_reference": 'CASE-"é\\/#', "occurred_at": entry.occurred_at.astimezone(berlin)}
    odd |= {"tell_after": datetime(2027, 5, 1, 12, 0, tzinfo=berlin), "categories": ["b", "a"]}
    values = tuple(odd[name] for name in accesslog.HASHED_FIELDS)
    assert verify._hash_of_row(values) == accesslog.hash_of(odd)


def _without_chain_fields(fields: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in fields.items() if k not in ("position", "previous_hash")}


def test_it_reads_in_batches() -> None:
    append_entries(10)
    with CaptureQueriesContext(connection) as queries:
        assert verify.verify(batch=3).entries == 10
    reads = [q for q in queries.captured_queries if 'FROM "staff_accessentry"' in q["sql"]]
    assert len(reads) == 4  # 3 + 3 + 3 + 1


def test_an_edited_entry_is_named() -> None:
    append_entries(6)
    with tampering():
        AccessEntry.objects.filter(position=4).update(case_reference="CASE-OTHER")
    message = verified()
    assert "first bad entry: 4" in message and "entry 4 was altered" in message


def test_an_edited_and_rehashed_entry_breaks_the_link_after_it() -> None:
    append_entries(6)
    entry = AccessEntry.objects.get(position=4)
    entry.case_reference = "CASE-OTHER"
    with tampering():
        AccessEntry.objects.filter(pk=entry.pk).update(
            case_reference="CASE-OTHER", entry_hash=accesslog.hash_of(accesslog.fields_of(entry))
        )
    message = verified()
    assert "first bad entry: 5" in message and "does not follow entry 4" in message


def test_a_deleted_entry_is_named() -> None:
    append_entries(6)
    with tampering():
        AccessEntry.objects.filter(position=3).delete()
    message = verified()
    assert "first bad entry: 3" in message and "entry 3 is missing" in message


def test_reordered_entries_are_named() -> None:
    append_entries(6)
    with tampering():
        AccessEntry.objects.filter(position=2).update(position=-2)
        AccessEntry.objects.filter(position=3).update(position=2)
        AccessEntry.objects.filter(position=-2).update(position=3)
    message = verified()
    assert "first bad entry: 2" in message and "reordered or rewritten" in message


def test_an_inserted_entry_is_named() -> None:
    """An entry slipped in between 3 and 4, with a right hash of its own: the entry after it is named."""
    entries = append_entries(6)
    with tampering():
        for position in range(6, 3, -1):
            AccessEntry.objects.filter(position=position).update(position=F("position") + 1)
        forged = AccessEntry(
            **_without_chain_fields(accesslog.fields_of(entries[0])),
            position=4,
            previous_hash=entries[2].entry_hash,
        )
        forged.entry_hash = accesslog.hash_of(accesslog.fields_of(forged))
        forged.save(force_insert=True)
        LogHead.objects.filter(pk=1).update(size=7)
    message = verified()
    assert "first bad entry: 5" in message and "does not follow entry 4" in message


def test_a_truncated_tail_is_named_by_the_checkpoint_that_vouched_for_it() -> None:
    append_entries(6)
    sign()
    with tampering():
        AccessEntry.objects.filter(position__gt=4).delete()
        LogHead.objects.filter(pk=1).update(size=4, head_hash=AccessEntry.objects.get(position=4).entry_hash)
    message = verified()
    assert "first bad entry: 5" in message and "truncated" in message and "vouches for 6 entries" in message


def test_a_tail_removed_behind_the_heads_back_is_named() -> None:
    append_entries(5)
    with tampering():
        AccessEntry.objects.filter(position=5).delete()
    message = verified()
    assert "head says 5 entries, but the chain holds 4" in message and "first bad entry: 5" in message


def test_a_forked_chain_is_named() -> None:
    """From entry 3 on the log is rewritten consistently (every hash right): only the checkpoint knows."""
    append_entries(5)
    sign()
    with tampering():
        AccessEntry.objects.filter(position__gte=3).delete()
        second = AccessEntry.objects.get(position=2)
        LogHead.objects.filter(pk=1).update(size=2, head_hash=second.entry_hash)
    append_entries(3, case="CASE-REWRITTEN")
    assert verify.verify(key=checkpoints.public_key()).problem is not None
    message = verified()
    assert "first bad entry: 5" in message and "a fork" in message


def test_a_checkpoint_under_another_key_is_a_clear_failure() -> None:
    append_entries(2)
    sign()
    other = Ed25519PrivateKey.generate().public_key()
    encoded = base64.urlsafe_b64encode(checkpoints.raw_public(other)).decode().rstrip("=")
    message = verified("--public-key", encoded)
    assert "not by the key given" in message and "wrong public key" in message


def test_an_altered_checkpoint_fails_its_signature() -> None:
    append_entries(2)
    made = sign()
    with tampering():
        Checkpoint.objects.filter(pk=made.pk).update(size=1)
    message = verified()
    assert "signature that does not verify" in message


def test_a_malformed_public_key_is_refused() -> None:
    message = verified("--public-key", "not a key")
    assert message.startswith("--public-key: expected an Ed25519 public key")


def test_a_checkpoint_that_shrinks_without_a_restore_is_refused() -> None:
    append_entries(4)
    sign()
    with tampering():
        AccessEntry.objects.filter(position__gt=2).delete()
        LogHead.objects.filter(pk=1).update(size=2, head_hash=AccessEntry.objects.get(position=2).entry_hash)
    sign()
    message = verified()
    assert "is smaller than" in message and "no restore is recorded" in message


def test_a_restore_is_a_gap_not_tampering(capsys: pytest.CaptureFixture[str]) -> None:
    """As after a restore of a backup made at 3 entries: checkpoints at 5 vouched for what it set back."""
    append_entries(3)
    sign()
    append_entries(2)
    sign()
    with tampering():
        AccessEntry.objects.filter(position__gt=3).delete()
        LogHead.objects.filter(pk=1).update(size=3, head_hash=AccessEntry.objects.get(position=3).entry_hash)
    checkpoints.make_checkpoint(acting_user=None, kind="restored")
    append_entries(4, case="CASE-AFTER")
    sign()
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "Gap: a backup was restored at" in out and "set back to 3 entries; entries 4 to 5" in out
    assert "verifies: 7 entries" in out and "1 restore(s) shown as gaps" in out
