"""Units of the privacy base that need no database: the audit trail's checks, the log filter's edge
cases, and what the models say of themselves."""

from __future__ import annotations

import logging
import sys
import uuid
from types import SimpleNamespace

import pytest
from django.core.management.base import CommandError

from candor.privacy import audit, crypto, logfilter
from candor.privacy.models import AuditEvent, DataKey, DeletionRecord, ExportArchive, RetiredUsername

SOMEONE = uuid.UUID(int=42)


def test_an_account_is_named_by_its_id_however_it_is_given() -> None:
    assert audit._account_id(None) is None
    assert audit._account_id(SOMEONE) == SOMEONE
    assert audit._account_id(str(SOMEONE)) == SOMEONE
    assert audit._account_id(SimpleNamespace(pk=SOMEONE)) == SOMEONE
    assert audit._account_id(SimpleNamespace(pk=SOMEONE.hex)) == SOMEONE
    assert audit._account_id(SimpleNamespace(pk=None)) is None


def test_extra_holds_numbers_flags_and_known_words_only() -> None:
    assert audit.check_extra({"rows": 3, "owner": True, "none": None, "how": "owner"}) == {
        "rows": 3,
        "owner": True,
        "none": None,
        "how": "owner",
    }
    with pytest.raises(ValueError, match="'how'"):
        audit.check_extra({"how": "alice@example.org"})  # a word outside the vocabulary
    with pytest.raises(ValueError, match="'title'"):
        audit.check_extra({"title": "My model"})  # text under a key with no vocabulary
    with pytest.raises(ValueError, match="float"):
        audit.check_extra({"score": 0.5})


def test_an_audit_row_outside_a_transaction_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        audit.record(audit.EventType.EXPORT_REQUESTED, acting_user=SOMEONE, subject=SOMEONE)


def test_event_types_are_grouped_by_area_and_never_repeat() -> None:
    values = [int(member) for member in audit.EventType]
    assert len(values) == len(set(values))
    assert audit.EventType.ACCOUNT_ERASED // 100 == 1 and audit.EventType.EXPORT_REQUESTED // 100 == 4


def test_a_malformed_log_message_is_still_redacted() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "mail %s and %s to bob@example.org", ("x",), None
    )
    assert logfilter.RedactPersonalData().filter(record)
    assert "bob@example.org" not in record.getMessage() and record.args is None


def test_a_stack_and_an_exception_are_redacted() -> None:
    try:
        raise ValueError("no account carol@example.org")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), exc_info)
    record.stack_info = "Stack (most recent call last): dave@example.org"
    logfilter.RedactPersonalData().filter(record)
    assert record.exc_info is None and record.exc_text and "carol@example.org" not in record.exc_text
    assert "ValueError" in record.exc_text
    assert record.stack_info and "dave@example.org" not in record.stack_info


def test_the_models_name_nothing_personal_in_their_text() -> None:
    assert str(DataKey(key_id="k1")) == "data key k1"
    assert str(RetiredUsername(digest="d")) == "retired username"
    assert str(ExportArchive(public_id="p1")) == "export p1"
    assert str(AuditEvent(event_type=106)) == "audit event 106"
    assert str(DeletionRecord(account_id=SOMEONE)) == "deletion record"


def test_the_key_cache_forgets_the_oldest_keys_beyond_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = crypto._KeyCache()
    monkeypatch.setattr(crypto._KeyCache, "SIZE", 2)
    for number in range(3):
        cache.put(f"user{number}", f"key{number}", bytes(32))
    assert list(cache.by_key_id) == ["key1", "key2"]


def test_a_wrong_keyring_stops_the_start_with_a_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong() -> None:
        raise crypto.KeyringError("the master key is wrong")

    monkeypatch.setattr(crypto, "verify_keyring", wrong)
    with pytest.raises(CommandError, match="Candor cannot start: the master key is wrong"):
        crypto.verify_keyring_at_start_up()
