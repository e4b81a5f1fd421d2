"""gunicorn server hooks (loaded with ``--config python:candor.web.gunicorn_hooks``)."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping gracefully writes out the analytics counts it still holds."""
    from candor.analytics.buffer import flush

    flush()
