"""Signed checkpoints: what is signed, when one is made, where it is published."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from candor.staff import accesslog, checkpoints, tasks
from candor.staff.models import Checkpoint
from tests.conftest import run_candor, use_task_backend
from tests.staff.logtools import append_entries, tampering

pytestmark = pytest.mark.django_db


def test_a_checkpoint_signs_the_size_and_head_and_verifies_under_the_published_key() -> None:
    entries = append_entries(3)
    made = checkpoints.make_checkpoint(acting_user=None)
    assert made is not None
    assert (made.size, made.head_hash, made.kind) == (3, entries[-1].entry_hash, "regular")
    key = checkpoints.public_key()
    assert made.key_id == checkpoints.key_id_of(key) and len(made.key_id) == 16
    assert checkpoints.signature_holds(made, key)
    made.size = 2  # a statement about another size does not carry the signature
    assert not checkpoints.signature_holds(made, key)
    assert AuditEvent.objects.filter(event_type=EventType.LOG_CHECKPOINT, extra__size=3).count() == 1


def test_the_signed_statement_holds_counts_hashes_times_and_a_word_only() -> None:
    entries = append_entries(1, case="CASE-SECRET-99")
    made = checkpoints.make_checkpoint(acting_user=None)
    assert made is not None
    body = json.loads(checkpoints.statement(made.size, made.head_hash, made.signed_at, made.kind))
    assert sorted(body) == ["head_hash", "kind", "log", "signed_at", "size"]
    text = json.dumps(body)
    for personal in ("CASE-SECRET-99", str(entries[0].subject_id), str(entries[0].staff_id)):
        assert personal not in text


def test_no_regular_checkpoint_when_the_log_has_not_grown_but_a_restored_one_always() -> None:
    assert checkpoints.make_checkpoint(acting_user=None) is not None  # the empty log, once
    assert checkpoints.make_checkpoint(acting_user=None) is None
    append_entries(1)
    assert checkpoints.make_checkpoint(acting_user=None) is not None
    assert checkpoints.make_checkpoint(acting_user=None) is None
    restored = checkpoints.make_checkpoint(acting_user=None, kind="restored")
    assert restored is not None and restored.kind == "restored" and restored.size == 1
    assert list(Checkpoint.objects.order_by("signed_at").values_list("size", flat=True)) == [0, 1, 1]
    first = Checkpoint.objects.order_by("signed_at").first()
    assert first is not None and first.head_hash == accesslog.GENESIS


def test_the_published_file_is_rewritten_after_each_checkpoint(
    settings: object, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    published = tmp_path / "transparency" / "checkpoints.json"
    append_entries(2)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoints.make_checkpoint(acting_user=None)
    body = json.loads(published.read_text())
    assert body["public_key"] == checkpoints.published()["public_key"]
    assert [c["size"] for c in body["checkpoints"]] == [2]
    append_entries(1)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoints.make_checkpoint(acting_user=None)
    assert [c["size"] for c in json.loads(published.read_text())["checkpoints"]] == [2, 3]
    assert [p.name for p in published.parent.iterdir()] == ["checkpoints.json"]  # no temporary left


def test_the_checkpoints_are_published_as_public_json_without_cookies() -> None:
    append_entries(2)
    checkpoints.make_checkpoint(acting_user=None)
    response = Client().get("/transparency/log/checkpoints")
    assert response.status_code == 200
    # The site's policy for public answers: a cache keeps it and revalidates it by its ETag.
    assert response["Cache-Control"] == "no-cache" and response["ETag"]
    assert not response.cookies
    again = Client().get("/transparency/log/checkpoints", headers={"if-none-match": response["ETag"]})
    assert again.status_code == 304
    body = response.json()
    assert body["algorithm"] == "Ed25519"
    assert body["key_id"] == checkpoints.key_id_of(checkpoints.public_key())
    (only,) = body["checkpoints"]
    assert sorted(only) == ["head_hash", "key_id", "kind", "signature", "signed_at", "size"]
    key = checkpoints.parse_public_key(body["public_key"])
    made = Checkpoint.objects.get()
    assert checkpoints.signature_holds(made, key) and only["signature"] == made.signature
    assert Client().post("/transparency/log/checkpoints").status_code == 405


def test_the_page_lists_the_checkpoints_newest_first_and_marks_a_restore() -> None:
    append_entries(1)
    checkpoints.make_checkpoint(acting_user=None)
    checkpoints.make_checkpoint(acting_user=None, kind="restored")
    response = Client().get("/transparency/log/")
    assert response.status_code == 200
    page = response.content.decode()
    assert checkpoints.published()["public_key"] in page
    assert page.index("after a restore") < page.index("regular")


def test_the_command_signs_one_and_says_when_there_is_nothing_new(capsys: pytest.CaptureFixture[str]) -> None:
    append_entries(1)
    call_command("audit", "checkpoint")
    assert "Checkpoint signed: 1 entries" in capsys.readouterr().out
    call_command("audit", "checkpoint")
    assert "has not grown" in capsys.readouterr().out
    assert Checkpoint.objects.count() == 1


def test_the_task_signs_when_the_log_grew_and_schedules_its_next_run(settings: object) -> None:
    from django_tasks_db.models import DBTaskResult

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    settings.LOG_CHECKPOINT_MINUTES = 5  # type: ignore[attr-defined]
    append_entries(2)
    before = timezone.now()
    assert tasks.checkpoint_log.call() == 2
    assert tasks.checkpoint_log.call() is None  # not grown: nothing signed
    assert Checkpoint.objects.count() == 1
    waiting = DBTaskResult.objects.filter(task_path="candor.staff.tasks.checkpoint_log", status="READY")
    assert waiting.count() == 1  # one chain, whichever run enqueued it
    run_after = waiting.get().run_after
    assert run_after is not None and run_after >= before + timedelta(minutes=5)
    assert tasks.ensure_checkpoints_scheduled() is False  # a restarted worker starts no second chain


def test_a_malformed_signing_key_is_refused_by_name(tmp_path: Path) -> None:
    result = run_candor(["check"], tmp_path, {"CANDOR_LOG_SIGNING_KEY": "not-a-key"})
    assert result.returncode != 0
    assert "CANDOR_LOG_SIGNING_KEY is malformed" in result.stderr
    assert "not-a-key" not in result.stderr


def test_checkpoints_remembered_before_a_restore_are_put_back_once(
    settings: object, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    append_entries(2)
    with django_capture_on_commit_callbacks(execute=True):
        first = checkpoints.make_checkpoint(acting_user=None)
    append_entries(1)
    with django_capture_on_commit_callbacks(execute=True):
        second = checkpoints.make_checkpoint(acting_user=None)
    assert first is not None and second is not None
    remembered = checkpoints.remember_published()
    with tampering():  # as the restored table holds only what the backup had
        Checkpoint.objects.filter(pk=second.pk).delete()
    assert checkpoints.put_back(remembered, acting_user=None) == 1
    assert checkpoints.put_back(checkpoints.remember_published(), acting_user=None) == 0
    back = Checkpoint.objects.get(size=3)
    assert (back.signature, back.signed_at, back.kind) == (second.signature, second.signed_at, "regular")
    assert checkpoints.signature_holds(back, checkpoints.public_key())
