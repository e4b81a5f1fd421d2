from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from candor.privacy.crypto import verify_keyring_at_start_up

MAX_REQUEST_LINE = 8190


def worker_model(threads: int) -> list[str]:
    """gunicorn's threaded workers when more than one thread is asked for, its sync workers otherwise."""
    if threads <= 1:
        return ["--worker-class", "sync"]
    return ["--worker-class", "gthread", "--threads", str(threads)]


def gunicorn_argv(bind: str, workers: int, threads: int | None = None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "candor.wsgi:application",
        "--config",
        "python:candor.web.gunicorn_hooks",
        "--bind",
        bind,
        "--workers",
        str(workers),
        *worker_model(settings.WEB_THREADS if threads is None else threads),
        # gunicorn's heartbeat files: in memory where the system has a RAM-backed folder.
        "--worker-tmp-dir",
        "/dev/shm" if os.path.isdir("/dev/shm") else str(settings.DATA_DIR),  # noqa: S108
        "--no-control-socket",
        "--graceful-timeout",
        "20",
        # No access log: it would hold every client's address and every URL they opened.
        "--error-logfile",
        "-",
        "--forwarded-allow-ips",
        "127.0.0.1,::1",
        # gunicorn's largest (its default, 4094 bytes, is shorter than URLs the API's schema allows,
        # and its refusal is an HTML page, not the API's error format): every URL the schema allows
        # then reaches Django, which answers in its own format. Longer request lines get 414.
        "--limit-request-line",
        str(MAX_REQUEST_LINE),
    ]


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
        from candor.lifecycle.retention import recover_leftovers

        recover_leftovers()
        if settings.PRODUCTION:
            call_command("collectstatic", interactive=False, verbosity=0)
        argv = gunicorn_argv(options["bind"], options["workers"], options["threads"])
        sys.stdout.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn
