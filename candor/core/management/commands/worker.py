from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from candor.privacy.crypto import verify_keyring_at_start_up


class Command(BaseCommand):
    help = "Run the background task worker: the database queue by default, RQ when Redis is configured."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--burst", action="store_true", help="Run the queued tasks, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        verify_keyring_at_start_up()
        _recover_leftovers()
        if not options["burst"]:
            # Recurring chains: the daily retention sweep, and the analytics rollup.
            from candor.analytics import tasks as analytics_tasks
            from candor.privacy import tasks as privacy_tasks

            privacy_tasks.ensure_scheduled()
            # The analytics rollup: Redis's counters into the database, ended days' salts destroyed.
            analytics_tasks.ensure_scheduled()
        if settings.REDIS_URL:
            worker_args = ["default", "--with-scheduler", "--job-class", "django_tasks_rq.backend.Job"]
            # RQ logs each job's call with its arguments (account ids, which outlive the account in the
            # logs); this worker logs the job's id only.
            worker_args += ["--worker-class", "candor.core.rq.QuietWorker"]
            if options["burst"]:
                worker_args.append("--burst")
            call_command("rqworker", *worker_args)
        else:
            worker_options: dict[str, Any] = {"interval": 1.0, "startup_delay": False}
            if options["burst"]:
                worker_options["batch"] = True
            call_command("db_worker", **worker_options)


def _recover_leftovers() -> None:
    """Before any task runs: what a crashed worker left in the staging area (a half-built export's sealed
    pieces, a partial backup) is removed. Files other live processes are writing are locked and kept."""
    from candor.privacy.retention import recover_leftovers

    recover_leftovers()
