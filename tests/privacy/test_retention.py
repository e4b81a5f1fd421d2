"""Retention (clause C3): each rule of the inventory, with time moved forward."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from candor.accounts import actions as account_actions
from candor.accounts.models import EmailConfirmation, User, UserSession
from candor.api.actions import create_token, revoke_token
from candor.api.models import ApiToken
from candor.hub import actions as hub_actions
from candor.kernel import hooks
from candor.kernel.hooks import Hook
from candor.lifecycle import retention
from candor.privacy import inventory
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def later(**delta: float):
    return timezone.now() + timedelta(**delta)


def by_rule(outcomes) -> dict[str, int]:
    return {o.rule: o.count for o in outcomes}


def test_every_rule_is_reported_even_when_nothing_is_due() -> None:
    rules = {rule.rule for d in inventory.declarations() for rule in d.sweeps}
    assert set(by_rule(retention.sweep())) == rules
    assert {
        "expired sessions",
        "accounts never confirmed",
        "expired tokens",
        "revoked tokens",
        "expired confirmation links",
        "used confirmation links",
    } <= rules


def test_unconfirmed_accounts_go_after_seven_days_with_their_files(
    settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    lazy = make_user("lazy", verified=False)
    keeper = make_user("keeper", verified=True)
    model = hub_actions.create_model(acting_user=lazy, name="draft")
    blob = hub_actions.add_file(model, "w.bin", [b"123"], acting_user=lazy).blob.stored.name
    assert by_rule(retention.sweep(now=later(days=6)))["accounts never confirmed"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        outcome = by_rule(retention.sweep(now=later(days=7, minutes=1)))
    assert outcome["accounts never confirmed"] == 1
    assert not User.objects.filter(pk=lazy.pk).exists() and User.objects.filter(pk=keeper.pk).exists()
    assert not default_storage.exists(blob)


def test_swept_accounts_are_announced_through_the_typed_hook_before_they_go() -> None:
    lazy = make_user("lazy", verified=False)
    make_user("keeper", verified=True)
    heard: list[tuple[list[object], bool]] = []

    def receiver(gone: hooks.AccountsGone) -> None:
        heard.append((list(gone.account_ids), User.objects.filter(pk__in=gone.account_ids).exists()))

    hooks.accounts_gone.connect(receiver)
    try:
        retention.sweep(now=later(days=6))  # none due: nothing is announced
        assert heard == []
        retention.sweep(now=later(days=7, minutes=1))
    finally:
        hooks.accounts_gone.disconnect(receiver)
    assert heard == [([lazy.pk], True)]  # still there when the receivers run
    assert not User.objects.filter(pk=lazy.pk).exists()


def test_a_rule_that_applies_itself_is_run_through_its_hook_and_counted() -> None:
    rule = inventory.Sweep("things kept elsewhere", field="at", purge=Hook[inventory.Purge]("test"))
    assert rule.purge is not None
    runs: list[tuple[bool, bool]] = []

    def purge(run: inventory.Purge) -> None:
        runs.append((run.dry_run, run.now is moment))
        run.removed += 4

    rule.purge.connect(purge)
    declaration = inventory.declaration_for(User)
    assert declaration is not None
    moment = later()
    inventory.declare(
        User,
        belongs_to=declaration.belongs_to,
        fields=declaration.fields,
        sweeps=(rule,),
        note=declaration.note,
        export_path=declaration.export_path,
    )
    try:
        outcomes = [o for o in retention.sweep(now=moment, dry_run=True) if o.rule == rule.rule]
    finally:
        inventory.declare(
            User,
            belongs_to=declaration.belongs_to,
            fields=declaration.fields,
            sweeps=declaration.sweeps,
            note=declaration.note,
            export_path=declaration.export_path,
        )
    assert runs == [(True, True)]
    assert [o.count for o in outcomes] == [4]


def test_retention_period_is_a_setting(settings) -> None:
    settings.UNVERIFIED_ACCOUNT_DAYS = 2
    make_user("brief", verified=False)
    assert by_rule(retention.sweep(now=later(days=2, minutes=1)))["accounts never confirmed"] == 1


def test_confirmation_links_go_once_expired_or_used(owner: User) -> None:
    owner.email_verified = False
    owner.save()
    account_actions.resend_verification(owner, acting_user=owner)  # one live link
    account_actions.resend_verification(owner, acting_user=owner)  # replaces it: the first is now "used"
    assert by_rule(retention.sweep())["used confirmation links"] == 1
    assert EmailConfirmation.objects.count() == 1
    assert by_rule(retention.sweep(now=later(hours=49)))["expired confirmation links"] == 1
    assert not EmailConfirmation.objects.exists()


def test_expired_sessions_go(owner: User) -> None:
    client = Client()
    client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert UserSession.objects.filter(user=owner).count() == 1
    assert by_rule(retention.sweep(now=later(days=13)))["expired sessions"] == 0
    assert by_rule(retention.sweep(now=later(days=15)))["expired sessions"] == 1
    assert not UserSession.objects.exists()


def test_expired_and_revoked_tokens_go(owner: User) -> None:
    create_token(owner, name="short", scopes=["read"], expires_in_days=1, acting_user=owner)
    revoked, _ = create_token(owner, name="gone", scopes=["read"], acting_user=owner)
    create_token(owner, name="forever", scopes=["read"], acting_user=owner)
    revoke_token(owner, str(revoked.pk), acting_user=owner)
    outcome = by_rule(retention.sweep(now=later(days=1, minutes=1)))
    assert (outcome["expired tokens"], outcome["revoked tokens"]) == (1, 1)
    assert [token.name for token in ApiToken.objects.all()] == ["forever"]


def test_dry_run_deletes_nothing_and_the_command_reports(owner: User, capsys) -> None:
    make_user("idle", verified=False)
    User.objects.named("idle").update(date_joined=timezone.now() - timedelta(days=8))
    call_command("privacy", "sweep", "--dry-run")
    out = capsys.readouterr().out
    assert "accounts never confirmed: would remove 1" in out and "Dry run: nothing deleted" in out
    assert User.objects.named("idle").exists()
    call_command("privacy", "sweep")
    out = capsys.readouterr().out
    assert "accounts never confirmed: removed 1" in out and out.strip().splitlines()[-1].startswith("Done. ")
    assert not User.objects.named("idle").exists()


def test_daily_task_sweeps_and_schedules_the_next_run(settings) -> None:
    from tests.conftest import use_task_backend

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    from django_tasks_db.models import DBTaskResult

    from candor.lifecycle.tasks import daily_sweep

    make_user("old", verified=False)
    User.objects.named("old").update(date_joined=timezone.now() - timedelta(days=9))
    daily_sweep.call()
    assert not User.objects.named("old").exists()
    queued = DBTaskResult.objects.filter(task_path="candor.lifecycle.tasks.daily_sweep").get()
    assert queued.run_after is not None and queued.run_after > later(hours=23)


def test_a_restarted_worker_does_not_start_a_second_daily_chain(settings) -> None:
    from django_tasks_db.models import DBTaskResult

    from candor.lifecycle.tasks import ensure_scheduled
    from tests.conftest import use_task_backend

    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    assert ensure_scheduled() is True
    assert ensure_scheduled() is False  # the first run is still waiting
    assert DBTaskResult.objects.filter(task_path="candor.lifecycle.tasks.daily_sweep").count() == 1


def test_on_rq_a_restarted_worker_does_not_start_a_second_chain(settings, redis_url: str) -> None:
    """Against the test Redis server: the waiting run is found in RQ's queue or its schedule."""
    import django_rq
    from django_tasks_rq.backend import Job

    from candor.analytics.tasks import ensure_scheduled as ensure_rollup
    from candor.analytics.tasks import rollup
    from candor.lifecycle.tasks import daily_sweep
    from candor.lifecycle.tasks import ensure_scheduled as ensure_sweep
    from tests.conftest import use_task_backend

    settings.RQ_QUEUES = {"default": {"URL": redis_url}}
    use_task_backend(settings, "django_tasks_rq.RQBackend")
    queue = django_rq.get_queue("default", job_class=Job)

    def waiting(task) -> int:
        ids = [*queue.get_job_ids(), *queue.scheduled_job_registry.get_job_ids()]
        return sum(
            1
            for job in Job.fetch_many(ids, connection=queue.connection)
            if job and job.func_name == task.module_path
        )

    def empty() -> None:
        queue.empty()
        for job_id in queue.scheduled_job_registry.get_job_ids():
            queue.scheduled_job_registry.remove(job_id, delete_job=True)

    empty()
    try:
        assert ensure_sweep() is True  # queued now
        assert ensure_sweep() is False
        rollup.using(run_after=later(minutes=10)).enqueue()  # a chain's next run, scheduled
        assert ensure_rollup() is False
        assert (waiting(daily_sweep), waiting(rollup)) == (1, 1)
        empty()
        assert ensure_rollup() is True  # nothing waiting any more: the chain starts again
        assert waiting(rollup) == 1
    finally:
        empty()
