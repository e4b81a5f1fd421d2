"""The retention sweep (clause C3): every Sweep rule of the inventory, applied in one pass.

Run daily by a self-rescheduling background task, and by hand with ``candor privacy sweep [--dry-run]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from candor.privacy import inventory, subjects


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


def stored_files(declaration: inventory.Declaration, rows: QuerySet[Model]) -> list[str]:
    """The storage names of the files that go with the rows: their own personal file fields, and for
    accounts, the personal file fields of every row the inventory ties to them (deleted by cascade)."""
    names = list(subjects.stored_names(declaration, rows))
    if declaration.belongs_to == "self":
        for owned in subjects.owned_declarations():
            if owned.belongs_to != "self" and subjects.file_fields(owned):
                lookup = {f"{owned.belongs_to}__in": rows.values("pk")}
                names.extend(subjects.stored_names(owned, owned.model._default_manager.filter(**lookup)))
    return names


def sweep(*, now: datetime | None = None, dry_run: bool = False) -> list[Outcome]:
    now = now or timezone.now()
    outcomes = []
    for declaration in inventory.declarations():
        for rule in declaration.sweeps:
            if rule.purge:
                purged = int(import_string(rule.purge)(now=now, dry_run=dry_run))
                outcomes.append(Outcome(declaration.label, rule.rule, purged))
                continue
            with transaction.atomic():
                rows = due(rule, declaration.model, now)
                count = rows.count()
                if count and not dry_run:
                    if rule.before_delete:
                        import_string(rule.before_delete)(rows)
                    # Files cannot join the transaction: they leave storage once the deletion commits.
                    names = stored_files(declaration, rows)
                    rows.delete()
                    if names:
                        transaction.on_commit(partial(subjects.delete_stored, names))
            outcomes.append(Outcome(declaration.label, rule.rule, count))
    return outcomes
