"""Restoring a backup without bringing a deleted account back (clause C25).

``candor restore`` puts a backup back, then re-applies the deletion ledger: every account deleted since
the backup was made (and named by the ledger, in the database or in the file beside it) is erased again,
data key first, before the command says it is done. The ledger is read, and copied to its file, before
anything is replaced, so a restore that stops half-way still leaves the list of what must be erased.

Tables declared ``backed_up=False`` come back empty. The public projection of the models is then
rebuilt from the encrypted models, after the ledger has run: an account erased since the backup has
neither rows nor key by then, so its public models do not come back into any listing.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from candor.accounts.models import User
from candor.hub import listing_cache, projection
from candor.hub.models import ListingState, PublicModel
from candor.kernel import db
from candor.lifecycle import erasure, rewrite
from candor.lifecycle.backup import (
    BackupError,
    check_backup_file,
    describe_database,
    open_backup,
    pg_tool,
    run_pg,
    sqlite_connection,
    sqlite_path,
    stderr_of,
    vendor,
)
from candor.lifecycle.datakeys import put_keys_back, remember_keys
from candor.privacy.models import DeletionRecord
from candor.staff import checkpoints
from candor.staff.models import Checkpoint

# --- The ledger, kept across the restore --------------------------------------------------------------


def remember_ledger() -> set[str]:
    """Every account id the live ledger names, copied into the ledger file before anything is replaced.

    The live database may have no ledger table yet (a new installation being restored from a backup):
    the file alone then says what must stay deleted.
    """
    try:
        ids = erasure.ledger_account_ids()
    except DatabaseError:
        ids = erasure.ids_in_ledger_file()
    finally:
        connections.close_all()
    missing = ids - erasure.ids_in_ledger_file()
    if missing:
        erasure.append_to_ledger_file(sorted(missing), datetime.now(UTC))
    return ids


# --- Restore ------------------------------------------------------------------------------------------


@dataclass
class Restored:
    path: Path
    ledger: int  # accounts the ledger names
    pending: list[str] = field(default_factory=list)  # migrations the restored schema lacks
    unknown: list[str] = field(default_factory=list)  # migrations this Candor does not know
    erased_again: int | None = None  # None: the ledger could not be re-applied yet (older schema)
    keys_restored: int = 0
    without_key: int = 0  # accounts whose data key neither the live database nor a keys file had
    projected: int = 0  # public models in the rebuilt public projection
    busy_checkpoint: bool = False
    not_rewritten: list[str] = field(default_factory=list)  # tables whose lock was not granted in time
    log_size: int | None = None  # the access log's size, signed in a `restored` checkpoint


def restore(
    path: Path, *, keys_file: Path | None = None, say: Callable[[str], None] = lambda _: None
) -> Restored:
    """Replace the database with the backup at ``path``, then erase again every account of the ledger."""
    path = Path(path).absolute()
    check_backup_file(path)
    remembered = remember_ledger()
    remember_keys(keys_file)
    log_checkpoints = remember_checkpoints()
    generation_before = _listing_generation()
    say(f"Restoring {path} into {describe_database()}…")
    if vendor() == "sqlite":
        _restore_sqlite(path)
    else:
        _restore_postgres(path)
    connections.close_all()
    outcome = Restored(path=path, ledger=len(remembered))
    outcome.pending, outcome.unknown = migration_state()
    if outcome.pending:
        return outcome  # the ledger is in its file; `restore --reapply-ledger` finishes after migrate
    outcome.keys_restored, _ = put_keys_back()
    outcome.erased_again = reapply(remembered)
    outcome.log_size = mark_restored(log_checkpoints)
    # Counted once the ledger has run: an account it erased has no key because it is gone, not missing.
    outcome.without_key = accounts_without_key()
    outcome.projected = PublicModel.objects.count()
    _fresh_listings(generation_before)
    # The backup's rows of the accounts erased again are deleted, not yet gone from the files.
    outcome.not_rewritten = rewrite.rewrite().skipped
    outcome.busy_checkpoint = not db.checkpoint_wal()
    return outcome


def reapply(remembered: set[str] | None = None) -> int:
    """Put every remembered ledger id back in the DeletionRecord table, erase them all again, then
    rebuild the public projection (which no backup holds) from the models that remain."""
    if remembered is None:
        remembered = erasure.ledger_account_ids()
    with transaction.atomic():
        present = {str(pk) for pk in DeletionRecord.objects.values_list("account_id", flat=True)}
        DeletionRecord.objects.bulk_create(
            [DeletionRecord(account_id=uuid.UUID(pk)) for pk in sorted(remembered - present)]
        )
    erased = erasure.reapply_ledger()
    projection.rebuild_projection()
    return erased


def remember_checkpoints() -> list[dict[str, object]]:
    try:
        return checkpoints.remember_published()
    finally:
        connections.close_all()


def mark_restored(remembered: list[dict[str, object]] | None = None) -> int:
    """Put back the access log's checkpoints signed since the backup was made (the backup's table lacks
    them; the published file keeps them all), then sign a checkpoint of kind ``restored`` at once: the
    published list then shows where the log was set back to the backup's size, rather than a fork no
    one explains. Returns the size signed."""
    checkpoints.put_back(
        checkpoints.remember_published() if remembered is None else remembered, acting_user=None
    )
    made = checkpoints.make_checkpoint(acting_user=None, kind=Checkpoint.Kind.RESTORED)
    assert made is not None  # a restored checkpoint is always made
    return made.size


def accounts_without_key() -> int:
    """Accounts in the database that have no data key (their encrypted fields cannot be read)."""
    return User.objects.filter(data_key__isnull=True).count()


def migration_state() -> tuple[list[str], list[str]]:
    """(migrations the database lacks, migrations it has that this Candor does not know)."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    known = set(executor.loader.disk_migrations)
    applied = executor.loader.applied_migrations
    unknown = sorted(f"{app}.{name}" for app, name in applied if (app, name) not in known)
    return pending, unknown


def _restore_sqlite(path: Path) -> None:
    live = sqlite_path()
    live.parent.mkdir(parents=True, exist_ok=True)
    connections.close_all()  # this process holds no connection of Django's while the pages change
    source = open_backup(path)
    target = sqlite_connection(live, timeout=20)
    try:
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA secure_delete=ON")
        # Page by page into the live database, as one write transaction: other processes see the old
        # database or the restored one, never a mixture, and the write-ahead log stays consistent.
        source.backup(target)
        # On this plain sqlite3 connection, not Django's (closed above, and kernel.db.checkpoint_wal
        # works through Django's): the pages just written are folded in before it closes.
        target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not restore the backup: {error}.") from None
    finally:
        target.close()
        source.close()


def _restore_postgres(path: Path) -> None:
    db_name = str(settings.DATABASES["default"]["NAME"])
    connections.close_all()
    argv = [pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction"]
    result = run_pg([*argv, "-d", db_name, str(path)], capture_output=True)
    if result.returncode != 0:
        raise BackupError(
            "pg_restore failed; it ran in one transaction, so the database is as it was. It said:\n"
            + stderr_of(result)
        )


def _listing_generation() -> int | None:
    try:
        return listing_cache.generation()
    except DatabaseError:
        return None
    finally:
        connections.close_all()


def _fresh_listings(before: int | None) -> None:
    """Move the public listings' cache generation past both the live and the restored one.

    Cached listings are keyed by generation; the backup's generation is an older number, whose keys
    other processes may still hold from before the restore.
    """
    target = max(before or 0, listing_cache.generation()) + 1
    ListingState.objects.update_or_create(pk=1, defaults={"generation": target})
    listing_cache.purge()
