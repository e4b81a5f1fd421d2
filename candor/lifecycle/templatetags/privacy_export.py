"""``{% export_notice %}``: the state of the person's data export, for the settings page."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from candor.lifecycle import export
from candor.privacy.models import ExportArchive

register = template.Library()


@register.inclusion_tag("privacy/export/_notice.html", takes_context=True)
def export_notice(context: Any) -> dict[str, Any]:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {}
    return {
        "ready": export.latest_ready(user),
        "pending": ExportArchive.objects.filter(user=user, status=ExportArchive.Status.PENDING).exists(),
    }


@register.simple_tag
def export_ttl_days() -> str:
    """How many days a ready export can be downloaded (for the email that says it is ready)."""
    return str(settings.EXPORT_TTL_DAYS)
