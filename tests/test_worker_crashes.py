"""Nothing half-done survives a crash: real `candor worker` processes killed with SIGKILL in the middle of
an export or of an erasure's file removal, a database locked for longer than the busy timeout, a Redis
server restarted. After a restart (or by itself) the work completes, exactly once.

Where a task must be caught half-way, a real obstacle holds it there: a model file replaced by a named
pipe (the export blocks reading it until the test writes the file's bytes), or a lock on the database
that the erasure's last step waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.conftest import start_candor
from tests.conftest import empty_redis, run_candor
from tests.test_settings_and_cli import free_port

PASSWORD = "violet-harbour-71-x"

SETUP = f"""
from candor.accounts.models import User
from candor.hub import actions
zed = User.objects.create_user("zed", "zed.person@example.net", "{PASSWORD}", email_verified=True)
model = actions.create_model(acting_user=zed, name="tiny", title="Tiny")
for index in range(3):
    actions.add_file(model, f"weights-{{index}}.bin", [bytes([index]) * 5000], acting_user=zed)
print(zed.pk)
"""

# One of zed's stored files becomes a named pipe: reading it blocks until the test writes the bytes.
PIPE_A_FILE = """
import json, os
from django.core.files.storage import default_storage
from candor.accounts.models import username_q
from candor.hub.models import ModelFile
row = ModelFile.objects.filter(username_q("zed", "model__owner__")).order_by("pk").last()
path = default_storage.path(row.blob.stored.name)
keep = path + ".original"
os.rename(path, keep)
os.mkfifo(path)
print(json.dumps({"pipe": path, "original": keep}))
"""

REQUEST_EXPORT = """
from candor.accounts.models import User
from candor.lifecycle import export
zed = User.objects.named("zed").get()
print(export.request_export(zed, acting_user=zed).public_id)
"""

STATE = """
import json
from django.tasks import task_backends
from candor.privacy.models import ExportArchive, DeletionRecord
out = {"archives": list(ExportArchive.objects.values_list("status", flat=True)),
       "records_open": DeletionRecord.objects.filter(completed_at__isnull=True).count(),
       "records": DeletionRecord.objects.count()}
if type(task_backends["default"]).__module__.startswith("django_tasks_db"):
    from django_tasks_db.models import DBTaskResult
    out["tasks"] = sorted(
        [path.rsplit(".", 1)[1], status, len(workers)]
        for path, status, workers in DBTaskResult.objects.values_list("task_path", "status", "worker_ids")
    )
print(json.dumps(out))
"""

OPEN_ARCHIVE = """
import io, json, zipfile
from candor.lifecycle import export
from candor.privacy.models import ExportArchive
archive = ExportArchive.objects.get(status="ready")
data = b"".join(export.open_archive(archive))
with zipfile.ZipFile(io.BytesIO(data)) as z:
    assert z.testzip() is None
    files = {name: len(z.read(name)) for name in z.namelist() if name.startswith("files/")}
print(json.dumps({"files": files, "name": archive.archive.name}))
"""

DELETE_ZED = f"""
import json
from django.core.files.storage import default_storage
from candor.accounts import actions
from candor.accounts.models import User
from candor.hub.models import Blob
from candor.lifecycle import erasure
zed = User.objects.named("zed").get()
names = Blob.objects.filter(owner=zed).values_list("stored", flat=True)
paths = [default_storage.path(name) for name in names]
actions.check_deletion(zed, password="{PASSWORD}", confirm="zed")
erasure.erase_account(zed.pk)
print(json.dumps(paths))
"""


# --- Helpers --------------------------------------------------------------------------------------------


def shell(tmp_path: Path, env: dict[str, str], code: str) -> str:
    result = run_candor(["shell", "-c", code], tmp_path, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def state(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    return json.loads(shell(tmp_path, env, STATE))


def wait_until(what: str, check: Callable[[], Any], seconds: float, worker: Any = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if worker is not None:
            assert worker.poll() is None, f"the worker stopped ({worker.returncode}) waiting: {what}"
        time.sleep(1)
    pytest.fail(f"timed out waiting: {what}")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_hard(process: subprocess.Popen[str]) -> None:
    """SIGKILL to every process of the worker: the supervisor, its loop, RQ's scheduler and its work
    horse (which RQ puts in a process group of its own), as when the machine loses them all at once."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def mails(tmp_path: Path, subject: str) -> int:
    sent = "".join(p.read_text() for p in (tmp_path / "data" / "mail").glob("*.log"))
    return sent.count(subject)


def feed_pipe(pipe: str, original: str) -> threading.Thread:
    """Write the file's bytes into the pipe once a reader opens it (an export that is running)."""

    def feed() -> None:
        with open(pipe, "wb") as writer:  # blocks until there is a reader
            writer.write(Path(original).read_bytes())

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    empty_redis(redis_url)
    yield redis_url
    empty_redis(redis_url)


@pytest.fixture(params=["database", "rq"])
def queue_env(request: pytest.FixtureRequest, scratch_database_url: str | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if scratch_database_url:
        env["DATABASE_URL"] = scratch_database_url
    if request.param == "rq":
        env["CANDOR_REDIS_URL"] = request.getfixturevalue("redis_db")
    return env


# --- Killed in the middle of an export ------------------------------------------------------------------


def test_a_worker_killed_mid_export_is_replaced_and_the_export_completes_once(
    tmp_path: Path, queue_env: dict[str, str]
) -> None:
    env = queue_env
    assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
    shell(tmp_path, env, SETUP)
    pipe = json.loads(shell(tmp_path, env, PIPE_A_FILE))
    shell(tmp_path, env, REQUEST_EXPORT)
    worker = start_candor(["worker"], tmp_path, env, log=True)
    try:
        if "CANDOR_REDIS_URL" not in env:
            wait_until(
                "the export task is running",
                lambda: ["build_export", "RUNNING", 1] in state(tmp_path, env)["tasks"],
                90,
                worker,
            )
        else:
            import redis

            client = redis.Redis.from_url(env["CANDOR_REDIS_URL"])
            wait_until("the export job has started", lambda: client.zcard("rq:wip:default"), 90, worker)
        time.sleep(2)  # it is now blocked on the pipe: it cannot finish without the file's bytes
        assert state(tmp_path, env)["archives"] == ["pending"]
        kill_hard(worker)
        # Nothing half-done is given: the request is still pending, no archive was stored.
        assert state(tmp_path, env)["archives"] == ["pending"]
        assert not list((tmp_path / "data" / "media" / "exports").glob("*"))

        worker = start_candor(["worker"], tmp_path, env, log=True)
        feeder = feed_pipe(pipe["pipe"], pipe["original"])
        wait_until("the export is ready", lambda: state(tmp_path, env)["archives"] == ["ready"], 120, worker)
        feeder.join(timeout=10)
        if "CANDOR_REDIS_URL" in env:  # handed back by the restarted worker, not left to expire
            assert "lost its worker; handed back to the queue" in (tmp_path / "candor.out").read_text()
        wait_until("the email is sent", lambda: mails(tmp_path, "Your data export is ready") >= 1, 60, worker)
        time.sleep(3)  # a second run, were there one, would have sent its email by now
    finally:
        stop(worker)
    opened = json.loads(shell(tmp_path, env, OPEN_ARCHIVE))
    assert sorted(opened["files"].values()) == [5000, 5000, 5000]  # the piped file too, whole
    stored = list((tmp_path / "data" / "media" / "exports").glob("*"))
    assert [p.name for p in stored] == [Path(opened["name"]).name]  # one archive stored, nothing left over
    assert mails(tmp_path, "Your data export is ready") == 1
    final = state(tmp_path, env)
    if "tasks" in final:
        assert ["build_export", "SUCCESSFUL", 2] in final["tasks"]  # run twice: by the dead worker and by us


# --- Killed in the middle of an erasure's file removal --------------------------------------------------


def _hold_erasure(tmp_path: Path, env: dict[str, str]) -> tuple[Callable[[], None], Callable[[], None]]:
    """A lock that the erasure's last step (marking its record complete) must wait for.

    SQLite: a read transaction on an old snapshot, which the write-ahead log's truncating checkpoint
    waits on for the busy timeout. PostgreSQL: the record's row, locked FOR UPDATE.
    """
    url = env.get("DATABASE_URL")
    holder: dict[str, Any] = {}

    def take() -> None:
        if url:
            import psycopg

            connection = psycopg.connect(url)
            connection.execute("SELECT id FROM privacy_deletionrecord FOR UPDATE")
            holder["c"] = connection
        else:
            connection = sqlite3.connect(tmp_path / "data" / "candor.sqlite3", isolation_level=None)
            connection.execute("BEGIN")
            connection.execute("SELECT count(*) FROM privacy_deletionrecord").fetchone()
            holder["c"] = connection

    def release() -> None:
        connection = holder.pop("c", None)
        if connection is not None:
            connection.rollback() if url else connection.execute("ROLLBACK")
            connection.close()

    return take, release


def test_a_worker_killed_mid_erasure_is_replaced_and_the_files_are_all_gone(
    tmp_path: Path,
    scratch_database_url: str | None,
) -> None:
    env = {"DATABASE_URL": scratch_database_url} if scratch_database_url else {}
    assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
    shell(tmp_path, env, SETUP)
    worker = start_candor(["worker"], tmp_path, env, log=True)
    take, release = _hold_erasure(tmp_path, env)
    try:
        # The daily sweep's first run (which would also finish an erasure) has come and gone.
        wait_until(
            "the daily chain waits for tomorrow",
            lambda: ["daily_sweep", "READY", 0] in state(tmp_path, env)["tasks"],
            90,
            worker,
        )
        stop(worker)
        if not env:
            take()  # SQLite: the snapshot must be older than the erasure's writes
        paths = json.loads(shell(tmp_path, env, DELETE_ZED))
        assert paths and all(Path(p).exists() for p in paths)
        if env:
            take()  # PostgreSQL: the record's row, now that it exists
        worker = start_candor(["worker"], tmp_path, env, log=True)
        deadline = time.monotonic() + 60
        while all(Path(p).exists() for p in paths):
            assert time.monotonic() < deadline and worker.poll() is None, "the finishing task never ran"
            time.sleep(0.1)
        kill_hard(worker)  # files removed, the record not yet marked complete
        if env:
            # PostgreSQL runs a statement to its end even once its client is gone (it notices only when
            # it next writes to it): the dead worker's blocked update would go through on release. As
            # when its machine dies, its sessions end with it.
            import psycopg

            with psycopg.connect(env["DATABASE_URL"], autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND pid <> pg_backend_pid()"
                )
        release()
        after_kill = state(tmp_path, env)
        assert after_kill["records_open"] == 1, "the erasure finished before it could be killed"
        assert ["finish_deletion", "RUNNING", 1] in after_kill["tasks"]

        worker = start_candor(["worker"], tmp_path, env, log=True)
        wait_until("the erasure completes", lambda: state(tmp_path, env)["records_open"] == 0, 90, worker)
    finally:
        release()
        stop(worker)
    final = state(tmp_path, env)
    assert final["records"] == 1
    assert ["finish_deletion", "SUCCESSFUL", 2] in final["tasks"]  # again, on files already gone
    assert not any(Path(p).exists() for p in paths)
    media = tmp_path / "data" / "media"
    assert not [p for p in media.rglob("*") if p.is_file() and ".staging" not in p.parts]


# --- A database locked for longer than the busy timeout ---------------------------------------------------

QUEUE_EMAIL_SOON = """
from datetime import timedelta
from django.utils import timezone
from candor.accounts.models import User
from candor.comms.models import Email
from candor.comms.tasks import deliver_email
zed = User.objects.named("zed").get()
# The outbox's row as outbox.queue writes it, its task due a little later.
row = Email.objects.create(user=zed, category="account", kind="{kind}")
deliver_email.using(run_after=timezone.now() + timedelta(seconds=8)).enqueue(str(row.pk))
print("queued")
"""
# The busy timeout of the worker's connection is 20 s (DATABASES' options): the lock outlasts it.
LOCK_SECONDS = 26


def _lock_sqlite(path: Path) -> sqlite3.Connection:
    """Another process's write lock on the SQLite file, as a long write transaction would hold it."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_the_worker_outlasts_a_database_locked_past_its_busy_timeout_and_a_kill_meanwhile(
    tmp_path: Path,
) -> None:
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    shell(tmp_path, {}, SETUP)
    database = tmp_path / "data" / "candor.sqlite3"
    worker = start_candor(["worker"], tmp_path, {}, log=True)
    try:
        wait_until(
            "the worker is up",
            lambda: ["daily_sweep", "READY", 0] in state(tmp_path, {})["tasks"],
            90,
            worker,
        )
        # 1. Locked while an email falls due: the worker waits, and sends it once the lock goes.
        shell(tmp_path, {}, QUEUE_EMAIL_SOON.format(kind="password-changed"))
        lock = _lock_sqlite(database)
        time.sleep(LOCK_SECONDS)
        assert worker.poll() is None, "the worker stopped on the locked database"
        lock.execute("ROLLBACK")
        lock.close()
        wait_until("the email is sent", lambda: mails(tmp_path, "Your password was changed") == 1, 60, worker)
        log = (tmp_path / "candor.out").read_text()
        assert "the database is unavailable (OperationalError)" in log
        assert "the loop stopped" not in log  # the loop itself waited; its supervisor had nothing to do

        # 2. Killed outright while the database is locked, started again while it still is.
        shell(tmp_path, {}, QUEUE_EMAIL_SOON.format(kind="export-ready"))
        lock = _lock_sqlite(database)
        time.sleep(12)  # the email is due, and the worker is waiting on the lock to claim it
        kill_hard(worker)
        worker = start_candor(["worker"], tmp_path, {}, log=True)
        time.sleep(LOCK_SECONDS)
        assert worker.poll() is None, "the restarted worker stopped on the locked database"
        lock.execute("ROLLBACK")
        lock.close()
        wait_until("the email is sent", lambda: mails(tmp_path, "Your data export is ready") == 1, 60, worker)
        time.sleep(3)
    finally:
        stop(worker)
    assert mails(tmp_path, "Your password was changed") == 1
    assert mails(tmp_path, "Your data export is ready") == 1
    final = state(tmp_path, {})
    assert [t for t in final["tasks"] if t[0] == "deliver_email"] == [
        ["deliver_email", "SUCCESSFUL", 1],
        ["deliver_email", "SUCCESSFUL", 1],
    ]


# --- Redis restarted under the worker ---------------------------------------------------------------------

QUEUE_EMAIL = """
from candor.accounts.models import User
from candor.comms import outbox
outbox.queue("{kind}", User.objects.named("zed").get().pk)
print("queued")
"""


def _start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A Redis server of the test's own (the shared one is never restarted), with an append-only file
    so what was queued survives its restart."""
    folder.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
            time.sleep(0.2)


def test_the_rq_worker_outlasts_a_redis_restart(tmp_path: Path) -> None:
    port = free_port()
    redis_server = _start_redis(tmp_path / "redis", port)
    env = {"CANDOR_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    worker = None
    try:
        assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
        shell(tmp_path, env, SETUP)
        worker = start_candor(["worker"], tmp_path, env, log=True)
        shell(tmp_path, env, QUEUE_EMAIL.format(kind="password-changed"))
        wait_until("the first email", lambda: mails(tmp_path, "Your password was changed") == 1, 90, worker)

        redis_server.kill()  # SIGKILL
        redis_server.wait()
        time.sleep(8)  # the worker meets a broker that is gone
        redis_server = _start_redis(tmp_path / "redis", port)
        time.sleep(5)
        shell(tmp_path, env, QUEUE_EMAIL.format(kind="export-ready"))
        wait_until("the second email", lambda: mails(tmp_path, "Your data export is ready") == 1, 120, worker)

        # Both gone at once (the machine restarts), and the worker is back before Redis is.
        redis_server.kill()
        redis_server.wait()
        kill_hard(worker)
        worker = start_candor(["worker"], tmp_path, env, log=True)
        time.sleep(40)  # long enough for it to start, find no Redis, and (before) give up
        assert worker.poll() is None, "the worker gave up on a Redis server that is not up yet"
        redis_server = _start_redis(tmp_path / "redis", port)
        shell(tmp_path, env, QUEUE_EMAIL.format(kind="password-reset"))
        wait_until("the third email", lambda: mails(tmp_path, "Reset your password") == 1, 120, worker)
        time.sleep(3)
    finally:
        if worker is not None:
            stop(worker)
        redis_server.kill()
        redis_server.wait()
    assert mails(tmp_path, "Your password was changed") == 1
    assert mails(tmp_path, "Your data export is ready") == 1
    assert mails(tmp_path, "Reset your password") == 1
