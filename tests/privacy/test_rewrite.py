"""Rewriting the tables after erasures (clause C25): a byte scan of the database's own files, on
PostgreSQL and on SQLite, finds the erased person's clear values before the rewrite and none after;
the rewrite is queued after an erasure, at most once per interval, and owed rewrites survive a lost task."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from candor.lifecycle import rewrite
from candor.privacy.models import DeletionRecord
from tests.conftest import run_candor, use_task_backend
from tests.privacy.scan import files_under, found_in_files

# What the person typed in: the address is encrypted (never found, before or after); the username and the
# public model's name, title and summary are in clear in the public projection (the models themselves
# hold them encrypted), so a scan of the files finds them after the deletion, until the tables are
# rewritten.
USERNAME = "zorblatwen"
EMAIL = "zorblat.quintessa@example.org"
MODEL = "quuxmodelname"
TITLE = "Frobnicated Titlewort"
SUMMARY = "A summarywortx of the frobnicated kind"
ENCRYPTED = [EMAIL]
IN_CLEAR = [USERNAME, MODEL, TITLE, SUMMARY]

SEED_AND_ERASE = f"""
import sys
from django.db import connection
from candor.accounts.models import User
from candor.hub import actions
from candor.lifecycle.erasure import erase_account
from candor.privacy.models import DeletionRecord
if connection.vendor == "sqlite":
    # Deleted rows' bytes then stay on the free pages, as they would without Candor's setting: the
    # rewrite must remove them by itself.
    connection.cursor().execute("PRAGMA secure_delete=OFF")
u = User.objects.create_user({USERNAME!r}, {EMAIL!r}, "a-long-password-1", email_verified=True)
actions.create_model(acting_user=u, name={MODEL!r}, visibility="public", title={TITLE!r}, summary={SUMMARY!r})
other = User.objects.create_user("keeperling", "keeper@example.org", "a-long-password-1", email_verified=True)
actions.create_model(acting_user=other, name="keptmodelname", visibility="public", title="Kept")
erase_account(u.pk, acting_user=u)
print("waiting", DeletionRecord.objects.filter(tables_rewritten_at__isnull=True).count())
"""

# No rewrite on its own after the erasure: the test scans first, then rewrites by hand.
NOT_AFTER_ERASURE = {"CANDOR_REWRITE_AFTER_ERASURE_MINUTES": "0", "CANDOR_TASKS_IMMEDIATE": "1"}


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def seed_and_erase(tmp_path: Path, env: dict[str, str]) -> None:
    ok(run_candor(["migrate", "-v0"], tmp_path, env, timeout=180))
    result = ok(run_candor(["shell", "-c", SEED_AND_ERASE], tmp_path, env))
    assert result.stdout.strip().splitlines()[-1] == "waiting 1"


def rewrite_by_hand(tmp_path: Path, env: dict[str, str]) -> None:
    result = ok(run_candor(["privacy", "rewrite"], tmp_path, env))
    assert "1 erased account was waiting for it" in result.stdout, result.stdout


# --- The byte scans -------------------------------------------------------------------------------------


def test_sqlite_files_hold_no_erased_value_once_rewritten(tmp_path: Path) -> None:
    env = dict(NOT_AFTER_ERASURE)
    seed_and_erase(tmp_path, env)
    files = files_under(*(tmp_path / "data").glob("candor.sqlite3*"))
    before = found_in_files(files, [*ENCRYPTED, *IN_CLEAR])
    assert set(before) == set(IN_CLEAR), before  # the scan finds what the deletion left on free pages
    rewrite_by_hand(tmp_path, env)
    files = files_under(*(tmp_path / "data").glob("candor.sqlite3*"))
    assert found_in_files(files, [*ENCRYPTED, *IN_CLEAR]) == {}
    assert found_in_files(files, ["keptmodelname"])  # the file scanned is the live one


def database_files(url: str) -> list[Path]:
    """Every file of the database's own directory on the server, after a checkpoint has written every
    changed page out: what a copy of the disk would hold."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        where = "SELECT current_setting('data_directory'), oid FROM pg_database WHERE datname = %s"
        row = conn.execute(where, [conn.info.dbname]).fetchone()
    assert row is not None
    folder = Path(str(row[0])) / "base" / str(row[1])
    if not os.access(folder, os.R_OK):
        pytest.fail(f"{folder} is not readable by this user: run the tests as the server's user or root")
    return files_under(folder)


def relation_files(url: str, table: str) -> list[Path]:
    """The files of one table on the server (its segments, free-space and visibility maps), after a
    checkpoint."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute(
            "SELECT current_setting('data_directory'), pg_relation_filepath(%s::regclass)", [table]
        ).fetchone()
    assert row is not None
    first = Path(str(row[0])) / str(row[1])
    return sorted(
        p for p in first.parent.glob(f"{first.name}*") if p.name.split("_")[0].split(".")[0] == first.name
    )


def test_postgres_files_hold_no_erased_value_once_rewritten(scratch_postgres: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": scratch_postgres, **NOT_AFTER_ERASURE}
    seed_and_erase(tmp_path, env)
    before = found_in_files(database_files(scratch_postgres), [*ENCRYPTED, *IN_CLEAR])
    # The dead row versions are still in the table files (all of them, unless the server pruned a page
    # meanwhile, which may reuse some of their space: one is enough to show the scan finds them).
    assert before and set(before) <= set(IN_CLEAR), before
    rewrite_by_hand(tmp_path, env)
    files = database_files(scratch_postgres)
    assert found_in_files(files, [*ENCRYPTED, *IN_CLEAR]) == {}
    assert found_in_files(files, ["keptmodelname"])  # the files scanned are the live ones


# --- When it runs ---------------------------------------------------------------------------------------


def test_the_tables_are_those_that_hold_peoples_rows() -> None:
    tables = rewrite.tables()
    wanted = {
        "accounts_user",
        "hub_mlmodel",
        "hub_publicmodel",
        "hub_modelfile",
        "hub_blob",
        "privacy_datakey",
    }
    assert wanted <= set(tables)
    # Aggregates and the ledger hold nothing of anyone: rewriting them would only take locks.
    assert "privacy_deletionrecord" not in tables and "privacy_auditevent" not in tables
    assert not any(table.startswith("analytics_") for table in tables)


def _waiting_runs() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(
        DBTaskResult.objects.filter(task_path=rewrite.rewrite_after_erasure.module_path, status="READY")
    )


@pytest.mark.django_db
def test_a_rewrite_is_queued_at_most_once_per_interval(settings: Any) -> None:
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    settings.REWRITE_AFTER_ERASURE_MINUTES = 10
    DeletionRecord.objects.create(account_id="00000000-0000-0000-0000-000000000001")
    before = timezone.now()
    assert rewrite.schedule()
    assert not rewrite.schedule()  # one waiting run is enough for every erasure until it runs
    (run,) = _waiting_runs()
    assert run.run_after is None or run.run_after <= timezone.now()  # no rewrite yet: at once
    run.delete()
    # Rewritten a minute ago: the next run waits until ten minutes after that one.
    DeletionRecord.objects.create(
        account_id="00000000-0000-0000-0000-000000000002", tables_rewritten_at=before - timedelta(minutes=1)
    )
    assert rewrite.schedule()
    (run,) = _waiting_runs()
    assert abs(run.run_after - (before + timedelta(minutes=9))) < timedelta(seconds=5)
    run.delete()
    settings.REWRITE_AFTER_ERASURE_MINUTES = 0  # off: left to the daily sweep and to the command
    assert not rewrite.schedule() and _waiting_runs() == []


@pytest.mark.django_db(transaction=True)
def test_the_queued_run_waits_for_the_interval_and_then_marks_what_it_covered(settings: Any) -> None:
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    settings.REWRITE_AFTER_ERASURE_MINUTES = 10
    DeletionRecord.objects.create(
        account_id="00000000-0000-0000-0000-000000000003", tables_rewritten_at=timezone.now()
    )
    owed = DeletionRecord.objects.create(account_id="00000000-0000-0000-0000-000000000004")
    # A run that came too early (the previous rewrite was just now) rewrites nothing and waits again.
    assert rewrite.rewrite_after_erasure.call() == 0
    assert DeletionRecord.objects.get(pk=owed.pk).tables_rewritten_at is None
    assert len(_waiting_runs()) == 1
    DeletionRecord.objects.exclude(pk=owed.pk).update(tables_rewritten_at=timezone.now() - timedelta(hours=1))
    assert rewrite.rewrite_after_erasure.call() == 1
    assert DeletionRecord.objects.get(pk=owed.pk).tables_rewritten_at is not None
    assert rewrite.rewrite_after_erasure.call() == 0  # nothing owed any more: a second run does nothing


@pytest.mark.django_db(transaction=True)
def test_a_lost_rewrite_is_made_up_for_by_the_daily_sweep(settings: Any) -> None:
    from candor.lifecycle.tasks import daily_sweep

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    owed = DeletionRecord.objects.create(account_id="00000000-0000-0000-0000-000000000005")
    assert _waiting_runs() == []  # its queued run was lost (a crash, a queue emptied)
    daily_sweep.call()
    assert DeletionRecord.objects.get(pk=owed.pk).tables_rewritten_at is not None


@pytest.mark.django_db(transaction=True)
def test_an_erasure_queues_the_rewrite_when_it_commits(settings: Any) -> None:
    from candor.lifecycle.erasure import erase_account
    from tests.conftest import make_user

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    user = make_user("quillwort")
    erase_account(user.pk, acting_user=user)
    assert len(_waiting_runs()) == 1


def test_a_table_held_by_another_session_is_left_for_the_next_run(
    scratch_postgres: str, tmp_path: Path
) -> None:
    """VACUUM FULL waits for every other session's lock on its table; it waits at most a few seconds,
    so queries that come after it are not held up behind the wait, and the records stay owed."""
    import psycopg

    env = {"DATABASE_URL": scratch_postgres, **NOT_AFTER_ERASURE}
    seed_and_erase(tmp_path, env)
    with psycopg.connect(scratch_postgres) as reader:
        # A transaction left open: its lock stays.
        reader.execute("SELECT count(*) FROM hub_publicmodel").fetchone()
        result = run_candor(["privacy", "rewrite"], tmp_path, env)
        assert result.returncode == 1 and "hub_publicmodel" in result.stderr, result.stderr
        assert "waiting" not in result.stdout and "Rewrote " in result.stdout
        reader.rollback()
    rewrite_by_hand(tmp_path, env)  # the record was still owed
