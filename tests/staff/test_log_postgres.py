"""On PostgreSQL the access log and its checkpoints are append-only: the database itself refuses an UPDATE
or a DELETE of their rows, from the ORM or from raw SQL, while appends, TRUNCATE (the test suite's flush)
and a restore still work. Run against a database of its own on the PostgreSQL server, whatever the
suite's database is."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import run_candor, scratch_postgres_database

APPEND = """
import uuid
from datetime import UTC, datetime
from django.db import transaction
from candor.staff import accesslog, checkpoints
for _ in range(3):
    with transaction.atomic():
        accesslog.append(occurred_at=datetime.now(UTC), staff_id=uuid.uuid4(), role="support",
            office_country="DE", work_country="PT", grant_id="g" * 22, purpose="support_case",
            case_reference="CASE-1", subject_id=uuid.uuid4(), categories=["account.username"],
            agreement_sha256="a" * 64, tell_after=None)
checkpoints.make_checkpoint(acting_user=None)
print("appended")
"""

ORM = """
from django.db import DatabaseError, transaction
from candor.staff.models import AccessEntry, Checkpoint
attempts = {
    "update entry": lambda: AccessEntry.objects.filter(position=2).update(case_reference="CASE-2"),
    "save entry": lambda: AccessEntry.objects.get(position=2).save(),
    "delete entry": lambda: AccessEntry.objects.filter(position=3).delete(),
    "update checkpoint": lambda: Checkpoint.objects.update(size=1),
    "delete checkpoint": lambda: Checkpoint.objects.all().delete(),
}
for name, attempt in attempts.items():
    try:
        with transaction.atomic():
            attempt()
    except DatabaseError as error:
        print(name, "refused:", str(error).splitlines()[0])
    else:
        print(name, "ALLOWED")
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log_postgres")


@pytest.fixture(scope="module")
def migrated(folder: Path) -> Iterator[dict[str, str]]:
    """One migrated database for the module (migrating takes a while), with 3 entries and a checkpoint;
    each test leaves it so."""
    with scratch_postgres_database("candor_log_pg", always=True) as url:
        assert url is not None
        env = {"DATABASE_URL": url}
        ok(run_candor(["migrate", "--verbosity", "0"], folder, env, timeout=180))
        assert "appended" in ok(run_candor(["shell", "-c", APPEND], folder, env)).stdout
        yield env


def test_the_orm_cannot_update_or_delete_log_rows(migrated: dict[str, str], folder: Path) -> None:
    out = ok(run_candor(["shell", "-c", ORM], folder, migrated)).stdout
    for name in ("update entry", "save entry", "delete entry", "update checkpoint", "delete checkpoint"):
        assert f"{name} refused: candor: staff_" in out, out
    assert "ALLOWED" not in out
    assert "append-only: UPDATE refused" in out and "append-only: DELETE refused" in out
    verified = ok(run_candor(["audit", "verify"], folder, migrated)).stdout
    assert "verifies: 3 entries" in verified


def test_raw_sql_cannot_update_or_delete_log_rows_but_truncate_still_works(
    migrated: dict[str, str], folder: Path
) -> None:
    url = migrated["DATABASE_URL"]
    for statement in (
        "UPDATE staff_accessentry SET case_reference = 'CASE-9' WHERE position = 1",
        "DELETE FROM staff_accessentry WHERE position = 3",
        "UPDATE staff_checkpoint SET size = 0",
        "DELETE FROM staff_checkpoint",
    ):
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            conn.execute(statement)
        assert "is append-only" in str(raised.value)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM staff_accessentry").fetchone() == (3,)
        # What the test suite's flush between tests does, and what must keep working.
        conn.execute("TRUNCATE staff_accessentry, staff_checkpoint, staff_loghead")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM staff_accessentry").fetchone() == (0,)
    assert "appended" in ok(run_candor(["shell", "-c", APPEND], folder, migrated)).stdout
