"""Restoring a backup sets the access log back to the backup's size: a checkpoint of kind `restored` is
signed at once, the published list shows it, and `candor audit verify` reports the gap, not tampering.
With a real `candor backup` and `candor restore`, on a SQLite file and on PostgreSQL (where the restore
brings the append-only trigger back with the tables)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.conftest import run_candor, scratch_postgres_database

APPEND = """
import uuid
from datetime import UTC, datetime
from django.db import transaction
from candor.staff import accesslog, checkpoints
for _ in range({count}):
    with transaction.atomic():
        accesslog.append(occurred_at=datetime.now(UTC), staff_id=uuid.uuid4(), role="support",
            office_country="DE", work_country="PT", grant_id="g" * 22, purpose="support_case",
            case_reference="CASE-1", subject_id=uuid.uuid4(), categories=["account.username"],
            agreement_sha256="a" * 64, tell_after=None)
made = checkpoints.make_checkpoint(acting_user=None)
print("checkpoint", made.size)
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def append(count: int, tmp_path: Path, env: dict[str, str]) -> str:
    return ok(run_candor(["shell", "-c", APPEND.format(count=count)], tmp_path, env)).stdout


def restore_sets_the_log_back_visibly(tmp_path: Path, env: dict[str, str], backup: Path) -> None:
    ok(run_candor(["migrate", "--verbosity", "0"], tmp_path, env, timeout=180))
    assert "checkpoint 3" in append(3, tmp_path, env)
    ok(run_candor(["backup", str(backup)], tmp_path, env))
    assert "checkpoint 5" in append(2, tmp_path, env)  # entries 4 and 5: not in the backup

    restored = ok(run_candor(["restore", str(backup), "--yes"], tmp_path, env, timeout=180)).stdout
    assert "a checkpoint of kind 'restored' was signed at 3 entries" in restored
    assert "checkpoint 7" in append(4, tmp_path, env)  # new entries 4..7, another chain than before

    published = json.loads((tmp_path / "data" / "transparency" / "checkpoints.json").read_text())
    assert [(c["size"], c["kind"]) for c in published["checkpoints"]] == [
        (3, "regular"),
        (5, "regular"),
        (3, "restored"),
        (7, "regular"),
    ]
    verified = ok(run_candor(["audit", "verify"], tmp_path, env)).stdout
    assert "Gap: a backup was restored at" in verified
    assert "set back to 3 entries; entries 4 to 5, vouched for by earlier checkpoints" in verified
    assert "verifies: 7 entries chained from the first, 4 checkpoints" in verified


def test_a_sqlite_restore_is_a_visible_gap(tmp_path: Path) -> None:
    restore_sets_the_log_back_visibly(tmp_path, {}, tmp_path / "backups" / "log.sqlite3")


def test_a_postgres_restore_is_a_visible_gap_and_keeps_the_log_append_only(tmp_path: Path) -> None:
    with scratch_postgres_database("candor_log_restore", always=True) as url:
        assert url is not None
        backup = tmp_path / "backups" / "log.pgdump"
        restore_sets_the_log_back_visibly(tmp_path, {"DATABASE_URL": url}, backup)
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM staff_accessentry WHERE position = 1")
