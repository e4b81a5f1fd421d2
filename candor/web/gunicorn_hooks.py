"""gunicorn server hooks (loaded with ``--config python:candor.web.gunicorn_hooks``).

gunicorn's master reads this file before it loads the application, so it sets Django up itself: the
hooks then import what they call at the top, like every other module.
"""

from __future__ import annotations

from typing import Any

import django

django.setup()

from candor.analytics.buffer import flush  # noqa: E402 - needs the apps loaded just above


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping gracefully writes out the analytics counts it still holds."""
    flush()
