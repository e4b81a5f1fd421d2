"""Database helpers every layer uses: which engine this is, and SQLite's write-ahead-log checkpoint."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections, transaction


def is_postgres(alias: str = DEFAULT_DB_ALIAS) -> bool:
    return connections[alias].vendor == "postgresql"


def checkpoint_wal(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """On SQLite, fold the write-ahead log into the database file and truncate the log.

    Rows deleted under ``secure_delete`` are zeroed in the database file, but the log keeps the pages as
    they were until a checkpoint copies them back; truncating it removes those copies. SQLite cannot
    checkpoint inside a transaction, so inside one this waits for the commit.

    Returns False when readers held the log and it could not be truncated all the way; True otherwise,
    and always on other engines (PostgreSQL's WAL is the server's, not a file beside the data).
    """
    connection = connections[alias]
    if connection.vendor != "sqlite":
        return True
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _checkpoint_now(alias), using=alias)
        return True
    return _checkpoint_now(alias)


def _checkpoint_now(alias: str) -> bool:
    connection = connections[alias]
    if connection.in_atomic_block:
        # Still inside a transaction after "its commit": an outer one (a test's) runs the callbacks
        # before it ends. SQLite cannot checkpoint there, and deferring again would never end: skipped.
        return True
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cursor.fetchone()
    return not (row and row[0])
