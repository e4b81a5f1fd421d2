"""Deployment checks of the kernel (``candor check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from candor.core.counters import store


@checks.register(checks.Tags.security, deploy=True)
def check_shared_counters(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Counters held in one process's memory let each web process allow the whole limit by itself."""
    if settings.WEB_WORKERS > 1 and not store().shared():
        return [
            checks.Error(
                f"The throttling counters live in each process's memory, and {settings.WEB_WORKERS} web "
                "processes serve (CANDOR_WEB_WORKERS): every limit would be multiplied by their number.",
                hint="Use the database counters (the default without CANDOR_REDIS_URL) or Redis.",
                id="candor.core.E001",
            )
        ]
    return []
