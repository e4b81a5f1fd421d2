"""How Candor runs gunicorn: the one command line that ``candor serve`` and ``candor demo`` start."""

from __future__ import annotations

import os
import sys

from django.conf import settings

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
