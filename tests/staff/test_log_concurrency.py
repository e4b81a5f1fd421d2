"""Eight OS processes appending to the access log at once, each entry in its own durable transaction, on
a SQLite file (WAL) and on PostgreSQL: afterwards the positions are 1..8N with no gap, the chain is one
line (no fork) and `candor audit verify` says so with exit status 0. A log tampered with afterwards makes
it exit non-zero, naming the entry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import _NOT_INHERITED, ROOT, run_candor, scratch_postgres_database

WRITERS = 8
EACH = 30

APPEND = f"""
import os, time, uuid
from datetime import UTC, datetime
from django.db import connection, transaction
from candor.staff import accesslog
connection.ensure_connection()
start_at = float(os.environ["LOG_TEST_START_AT"])
while time.time() < start_at:  # every writer starts together, once all have loaded Django
    time.sleep(0.005)
for index in range({EACH}):
    with transaction.atomic(durable=True):
        accesslog.append(occurred_at=datetime.now(UTC), staff_id=uuid.uuid4(), role="support",
            office_country="DE", work_country="PT", grant_id="g" * 22, purpose="support_case",
            case_reference=f"CASE-{{index}}", subject_id=uuid.uuid4(), categories=["account.username"],
            agreement_sha256="a" * 64, tell_after=None)
print("done")
"""

SHAPE = """
from candor.staff.models import AccessEntry, LogHead
rows = list(AccessEntry.objects.order_by("position").values_list("position", "previous_hash", "entry_hash"))
positions = [p for p, _, _ in rows]
links = all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
hashes = len({h for _, _, h in rows}) == len(rows)
previous = len({p for _, p, _ in rows}) == len(rows)
head = LogHead.objects.get(pk=1)
print(positions == list(range(1, len(rows) + 1)), len(rows), links, hashes, previous, head.size)
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def append_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    full_env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    full_env |= {"CANDOR_DATA_DIR": str(tmp_path / "data"), **env}
    start_at = time.time() + 20  # past every writer's start-up, on a loaded machine too
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "candor", "shell", "-c", APPEND],
            env={**full_env, "LOG_TEST_START_AT": str(start_at)},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=180)
        assert writer.returncode == 0 and "done" in out, err[-3000:]


def check_the_chain(tmp_path: Path, env: dict[str, str]) -> None:
    total = WRITERS * EACH
    shape = ok(run_candor(["shell", "-c", SHAPE], tmp_path, env)).stdout.strip().splitlines()[-1].split()
    # Contiguous positions 1..8N, each entry linked to the one before, no hash or parent twice: one line.
    assert shape == ["True", str(total), "True", "True", "True", str(total)]
    ok(run_candor(["audit", "checkpoint"], tmp_path, env))
    verified = ok(run_candor(["audit", "verify"], tmp_path, env)).stdout
    assert f"verifies: {total} entries chained from the first, 1 checkpoints" in verified


def test_eight_processes_append_to_one_chain_on_sqlite(tmp_path: Path) -> None:
    ok(run_candor(["migrate", "--verbosity", "0"], tmp_path, timeout=180))
    append_at_once(tmp_path, {})
    check_the_chain(tmp_path, {})
    # And the command's failure, as an operator sees it: exit status 1, the entry and why.
    with sqlite3.connect(tmp_path / "data" / "candor.sqlite3") as conn:
        conn.execute("UPDATE staff_accessentry SET case_reference = 'CASE-X' WHERE position = 77")
    result = run_candor(["audit", "verify"], tmp_path)
    assert result.returncode == 1
    assert "does NOT verify (first bad entry: 77): entry 77 was altered" in result.stderr


def test_eight_processes_append_to_one_chain_on_postgres(tmp_path: Path) -> None:
    with scratch_postgres_database("candor_log_conc", always=True) as url:
        assert url is not None
        env = {"DATABASE_URL": url}
        ok(run_candor(["migrate", "--verbosity", "0"], tmp_path, env, timeout=180))
        append_at_once(tmp_path, env)
        check_the_chain(tmp_path, env)
