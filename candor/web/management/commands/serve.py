from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from candor.lifecycle.retention import recover_leftovers
from candor.privacy.crypto import verify_keyring_at_start_up
from candor.web.server import gunicorn_argv


class Command(BaseCommand):
    help = "Run the production web server (gunicorn) with the settings from the environment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.BIND)
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument(
            "--threads", type=int, default=settings.WEB_THREADS, help="Threads per worker (1: sync workers)."
        )
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations first.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1 or options["threads"] < 1:
            self.stderr.write("--workers and --threads must be at least 1")
            raise SystemExit(2)
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        verify_keyring_at_start_up()
        # What a killed server left (a large upload cut off half-way) is removed before it serves again;
        # files still being written by other live processes are locked and kept.
        recover_leftovers()
        if settings.PRODUCTION:
            call_command("collectstatic", interactive=False, verbosity=0)
        argv = gunicorn_argv(options["bind"], options["workers"], options["threads"])
        sys.stdout.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn
