"""The task machinery in one process, on the real queues (the database's, and RQ on the test Redis
server): what a second run of a task does, when an export request stops blocking a new one, how the
leases tell a live worker from a dead one. The crash tests with real processes are in
tests/test_worker_crashes.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from candor.accounts.models import User
from candor.comms import outbox
from candor.comms.models import Email
from candor.comms.tasks import deliver_email
from candor.core import taskqueue
from candor.kernel.refusal import Refusal
from candor.lifecycle import export
from candor.privacy.models import ExportArchive
from tests.conftest import deliver_on_commit, empty_redis, use_task_backend


def _use(kind: str, settings: Any, redis_url: str = "") -> None:
    if kind == "database":
        use_task_backend(settings, "django_tasks_db.DatabaseBackend")
        return
    import redis

    redis.Redis.from_url(redis_url).ping()  # these tests need the Redis server: fail, never skip
    settings.RQ_QUEUES = {"default": {"URL": redis_url, "QUEUE_CLASS": "candor.core.rqworker.RetryingQueue"}}
    use_task_backend(settings, "django_tasks_rq.RQBackend")
    empty_redis(redis_url)


def _empty_rq() -> None:
    from django.conf import settings

    empty_redis(settings.RQ_QUEUES["default"]["URL"])


@pytest.fixture(params=["database", "rq"])
def queue(request: pytest.FixtureRequest, settings: Any, db: None) -> Iterator[str]:
    url = request.getfixturevalue("redis_url") if request.param == "rq" else ""
    _use(request.param, settings, url)
    yield request.param
    if request.param == "rq":
        _empty_rq()


def _lose_the_queue(kind: str) -> None:
    """What a crash can leave: the build's task gone from the queue (Redis emptied) or given up."""
    if kind == "database":
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.filter(task_path="candor.lifecycle.export.builder.build_export").update(
            status="FAILED"
        )
    else:
        _empty_rq()


def test_a_pending_export_blocks_while_its_build_is_to_come_and_not_once_it_is_lost(
    owner: User, queue: str, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = export.request_export(owner, acting_user=owner)
    assert taskqueue.is_waiting_or_running(export.build_export, [first.pk]) is True
    ExportArchive.objects.filter(pk=first.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    with pytest.raises(Refusal):  # queued: it will be built, so a second request waits
        export.request_export(owner, acting_user=owner)
    _lose_the_queue(queue)
    assert taskqueue.is_waiting_or_running(export.build_export, [first.pk]) is False
    # No waiting 24 hours for a build that will never come.
    second = export.request_export(owner, acting_user=owner)
    first.refresh_from_db()
    assert first.status == ExportArchive.Status.FAILED and second.status == ExportArchive.Status.PENDING


def test_the_backend_is_told_apart_in_one_place(settings: Any) -> None:
    assert taskqueue.backend_kind() == "other"  # the tests' immediate backend keeps no queue
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    assert taskqueue.backend_kind() == "database"
    use_task_backend(settings, "django_tasks_rq.RQBackend")
    assert taskqueue.backend_kind() == "rq"


def test_an_erased_accounts_queued_tasks_are_dropped_and_no_others(owner: User, settings: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    other = User.objects.create_user("other", "other@example.org", "a-long-passphrase-99")
    mine = outbox.queue("password-changed", owner.pk)
    theirs = outbox.queue("password-changed", other.pk)
    assert mine is not None and theirs is not None
    deliver_on_commit()
    assert taskqueue.drop_tasks_naming(str(owner.pk), str(mine.pk)) == 1
    left = [row["args"] for row in DBTaskResult.objects.values_list("args_kwargs", flat=True)]
    assert left == [[str(theirs.pk)]]


def test_a_just_made_request_blocks_even_before_its_task_is_queued(owner: User, queue: str) -> None:
    export.request_export(owner, acting_user=owner)  # not committed: its build is not queued yet
    with pytest.raises(Refusal):
        export.request_export(owner, acting_user=owner)


def test_an_rq_job_gets_retries_the_first_at_once(settings: Any, redis_url: str) -> None:
    import django_rq
    from django_tasks_rq.backend import Job

    _use("rq", settings, redis_url)
    try:
        result = deliver_email.enqueue(str(uuid.uuid4()))
        job = Job.fetch(result.id, connection=django_rq.get_connection("default"))
        assert job.retries_left == 4 and job.retry_intervals == [0, 15, 60, 60]  # capped by the backoff
    finally:
        _empty_rq()


# --- A task run twice -----------------------------------------------------------------------------------


def test_the_email_task_run_twice_under_one_id_sends_once(owner: User, settings: Any) -> None:
    """As the database queue runs a task again after its worker died: the same row, the same id."""
    from django_tasks_db.models import DBTaskResult

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    row = outbox.queue("password-changed", owner.pk)
    assert row is not None
    deliver_on_commit()
    (task_row,) = DBTaskResult.objects.all()
    assert task_row.args_kwargs["args"] == [str(row.pk)]  # the email's id, no address, no account
    for _ in range(2):
        deliver_email.call(str(row.pk))
    assert len([m for m in mail.outbox if "password was changed" in m.subject]) == 1
    assert Email.objects.get(pk=row.pk).status == "sent"
    # Another email (another row) is another email.
    again = outbox.queue("password-changed", owner.pk)
    assert again is not None
    deliver_email.call(str(again.pk))
    assert len([m for m in mail.outbox if "password was changed" in m.subject]) == 2


def test_an_email_that_failed_to_go_is_sent_by_the_next_try(
    owner: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from candor.comms import outbox as outbox_module

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    row = outbox.queue("password-changed", owner.pk)
    assert row is not None
    real_send = outbox_module._send

    def mail_server_down(*args: Any) -> None:
        raise ConnectionRefusedError

    monkeypatch.setattr(outbox_module, "_send", mail_server_down)
    assert deliver_email.call(str(row.pk)) == "queued"  # kept, to be tried again after a wait
    monkeypatch.setattr(outbox_module, "_send", real_send)
    later = timezone.now() + outbox.retry_wait(1) + dt.timedelta(seconds=1)
    assert outbox.deliver(row.pk, now=later) == "sent"  # the retry
    assert len([m for m in mail.outbox if "password was changed" in m.subject]) == 1


def test_a_recurring_run_run_again_does_not_start_a_second_chain(settings: Any, db: None) -> None:
    from django_tasks_db.models import DBTaskResult

    from candor.lifecycle.tasks import daily_sweep

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    daily_sweep.call()  # a run that enqueued its successor, then its worker died
    daily_sweep.call()  # the same run, again
    waiting = DBTaskResult.objects.filter(task_path="candor.lifecycle.tasks.daily_sweep", status="READY")
    assert waiting.count() == 1


# --- Leases ---------------------------------------------------------------------------------------------

HOLD = """
import pathlib, sys, time
from candor.core import taskqueue
lease = taskqueue.FileLease(pathlib.Path(sys.argv[1]), "w1")
print("held", flush=True)
time.sleep(600)
"""


def test_a_file_lease_is_held_while_its_process_lives_and_free_the_moment_it_is_killed(tmp_path: Any) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert taskqueue.file_holder_dead(tmp_path, "w1") is False
        assert taskqueue.file_holder_dead(tmp_path, "never-started") is None
    finally:
        holder.kill()  # SIGKILL: no chance to clean up
        holder.wait()
    assert taskqueue.file_holder_dead(tmp_path, "w1") is True
    assert not (tmp_path / "w1.lock").exists()  # the dead worker's file is cleared away


@contextlib.contextmanager
def held(worker_id: str) -> Iterator[None]:
    """A worker's database lease held by another thread (on PostgreSQL: another session)."""
    from django.db import connections

    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        lease = taskqueue.DatabaseLease(worker_id)
        try:
            lease.keep()
            taken.set()
            done.wait(60)
        finally:
            lease.release()
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(30)
        yield
    finally:
        done.set()
        thread.join()


def test_a_database_lease_tells_a_live_worker_from_a_dead_one(db: None) -> None:
    with held("live-worker"):
        assert taskqueue.database_worker_dead("live-worker") is False
        assert taskqueue.database_worker_dead("dead-worker") is True
    assert taskqueue.database_worker_dead("live-worker") is True


def test_a_running_task_of_a_dead_worker_is_queued_again_then_failed_after_its_attempts(
    settings: Any, db: None
) -> None:
    from django_tasks_db.models import DBTaskResult

    from candor.lifecycle.tasks import daily_sweep

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    settings.TASK_ATTEMPTS = 2
    result = daily_sweep.enqueue()
    DBTaskResult.objects.filter(pk=result.id).update(status="RUNNING", worker_ids=["gone"])
    assert taskqueue.reclaim_database_orphans("me") == 1
    assert DBTaskResult.objects.get(pk=result.id).status == "READY"
    DBTaskResult.objects.filter(pk=result.id).update(status="RUNNING", worker_ids=["gone", "gone-too"])
    assert taskqueue.reclaim_database_orphans("me") == 1
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "FAILED" and row.exception_class_path.endswith("WorkerLost")
    # A live worker's task is left alone.
    with held("alive"):
        other = daily_sweep.enqueue()
        DBTaskResult.objects.filter(pk=other.id).update(status="RUNNING", worker_ids=["alive"])
        assert taskqueue.reclaim_database_orphans("me") == 0
        assert DBTaskResult.objects.get(pk=other.id).status == "RUNNING"


def test_an_export_build_removes_archives_left_in_storage_by_a_build_that_died(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    with django_capture_on_commit_callbacks(execute=True):
        # Built at once (the immediate backend): a ready archive.
        kept = export.request_export(owner, acting_user=owner)
    kept.refresh_from_db()
    assert kept.status == ExportArchive.Status.READY
    old_leftover = default_storage.save("exports/left-by-a-dead-build.zip", ContentFile(b"partial"))
    young = default_storage.save("exports/being-recorded-now.zip", ContentFile(b"whole"))
    an_hour_ago = (timezone.now() - dt.timedelta(hours=1)).timestamp()
    os.utime(default_storage.path(old_leftover), (an_hour_ago, an_hour_ago))
    with django_capture_on_commit_callbacks(execute=True):
        newer = export.request_export(owner, acting_user=owner)
    newer.refresh_from_db()
    assert newer.status == ExportArchive.Status.READY
    assert not default_storage.exists(old_leftover)
    assert default_storage.exists(young) and default_storage.exists(newer.archive.name)
    default_storage.delete(young)


def test_on_rq_an_erased_accounts_task_waiting_for_its_next_try_is_removed(
    settings: Any, redis_url: str
) -> None:
    import django_rq

    _use("rq", settings, redis_url)
    try:
        queue = django_rq.get_queue("default")
        later = timezone.now() + dt.timedelta(minutes=1)  # as a retry after a transient error waits
        deliver_email.using(run_after=later).enqueue("erased-persons-email-id")
        deliver_email.using(run_after=later).enqueue("another-email-id")
        assert queue.scheduled_job_registry.count == 2
        assert taskqueue.drop_tasks_naming("erased-persons-email-id") == 1
        ids = queue.scheduled_job_registry.get_job_ids()
        left = queue.job_class.fetch_many(ids, connection=queue.connection)
        assert [list(job.args) for job in left if job] == [["another-email-id"]]
    finally:
        _empty_rq()
