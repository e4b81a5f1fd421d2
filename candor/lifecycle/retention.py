"""The retention sweep (clause C3): every Sweep rule of the inventory, applied in one pass, then what
crashed processes left in the staging area.

Run daily by a self-rescheduling background task, and by hand with ``candor privacy sweep [--dry-run]``;
:func:`recover_leftovers` also runs when ``candor serve`` and ``candor worker`` start.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from candor.core import objectstore
from candor.kernel import hooks, staging
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
            if rule.purge is not None:
                run = inventory.Purge(now=now, dry_run=dry_run)
                rule.purge.send(run)
                outcomes.append(Outcome(declaration.label, rule.rule, run.removed))
                continue
            with transaction.atomic():
                rows = due(rule, declaration.model, now)
                count = rows.count()
                if count and not dry_run:
                    if rule.before_delete is not None:
                        ids = list(rows.values_list("pk", flat=True))
                        rule.before_delete.send(hooks.AccountsGone(account_ids=ids))
                    # Files cannot join the transaction: they leave storage once the deletion commits.
                    names = stored_files(declaration, rows)
                    rows.delete()
                    if names:
                        removal = partial(subjects.delete_stored, names, remove=objectstore.delete)
                        transaction.on_commit(removal)
            outcomes.append(Outcome(declaration.label, rule.rule, count))
    return outcomes


# Partial backups of versions before the staging area (".<name>.<12 hex digits>.partial"). Their writers
# held no lock, so only their age tells a dead one: no backup goes an hour without writing.
_OLD_PARTIAL = re.compile(r"^\..+\.[0-9a-f]{12}\.partial$")
OLD_PARTIAL_AGE = 3600


def recover_leftovers(*, dry_run: bool = False) -> int:
    """Remove the temporary files crashed processes left; returns how many (would) go.

    In the staging area: every file no live process holds, and every file of an account that no longer
    exists, held or not. In ``DATA_DIR/backups``: partial backups no live ``candor backup`` is writing.
    """
    named = staging.accounts_present()
    try:
        existing = {
            pk.hex
            for pk in get_user_model()
            ._default_manager.filter(pk__in=[uuid.UUID(account) for account in named])
            .values_list("pk", flat=True)
        }
    except DatabaseError:
        # No accounts table yet (`serve --no-migrate` on a new database): no account can be known gone,
        # and the locks alone decide.
        existing = named
    removed = staging.recover(dry_run=dry_run, gone=named - existing)
    backups = Path(settings.DATA_DIR) / "backups"
    removed += staging.recover_folder(backups, "backup", dry_run=dry_run)
    if backups.is_dir():
        for path in backups.iterdir():
            if _OLD_PARTIAL.match(path.name) and time.time() - path.stat().st_mtime > OLD_PARTIAL_AGE:
                removed += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    return removed
