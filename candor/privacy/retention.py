"""The retention sweep (clause C3): every Sweep rule of the inventory, applied in one pass.

Run daily by a self-rescheduling background task, and by hand with ``candor privacy sweep [--dry-run]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from candor.privacy import inventory


@dataclass(frozen=True)
class Outcome:
    model: str
    rule: str
    count: int


def _days(value: int | str) -> int:
    return int(getattr(settings, value)) if isinstance(value, str) else value


def due(sweep: inventory.Sweep, model: type[Model], now: datetime) -> QuerySet[Model]:
    cutoff = now - timedelta(days=_days(sweep.days))
    return model._default_manager.filter(**{f"{sweep.field}__lt": cutoff}, **sweep.where)


def sweep(*, now: datetime | None = None, dry_run: bool = False) -> list[Outcome]:
    now = now or timezone.now()
    outcomes = []
    for declaration in inventory.declarations():
        for rule in declaration.sweeps:
            with transaction.atomic():
                rows = due(rule, declaration.model, now)
                count = rows.count()
                if count and not dry_run:
                    if rule.before_delete:
                        import_string(rule.before_delete)(rows)
                    rows.delete()
            outcomes.append(Outcome(declaration.label, rule.rule, count))
    return outcomes
