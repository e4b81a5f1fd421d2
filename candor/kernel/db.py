"""Database helpers every layer uses: which engine this is, SQLite's write-ahead-log checkpoint, and the
rewrite of tables' files that leaves no deleted row's bytes in them."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction


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


def rewrite_tables(
    tables: Iterable[str], *, lock_timeout_seconds: int = 5, alias: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Rewrite the files that hold ``tables`` so that no deleted row's bytes remain in them.

    A deleted row stays in a table's file until its space is used again: on PostgreSQL as a dead row
    version (``VACUUM`` only marks it free), on SQLite on a free page or in the write-ahead log. On
    PostgreSQL each table (with its TOAST table and indexes) is copied by ``VACUUM FULL`` into new files
    and the old ones are deleted, and analysed again so the planner's statistics no longer sample the
    deleted rows; it holds an exclusive lock on that table while it works, so its readers
    and writers wait that long, and a table whose lock is not granted within ``lock_timeout_seconds``
    is left for the next run (returned) rather than holding every later query up behind the wait. On
    SQLite the whole file is rebuilt by ``VACUUM`` (its temporary copy kept in memory, never in a file),
    then the log is checkpointed and truncated; ``tables`` is not needed there (and all of them are
    returned if another process kept the database busy past the busy timeout).

    Not inside a transaction: neither engine can do it there. Returns the tables not rewritten.
    """
    connection = connections[alias]
    if connection.in_atomic_block:
        raise RuntimeError("Tables cannot be rewritten inside a transaction.")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA temp_store")
            row = cursor.fetchone()
            cursor.execute("PRAGMA temp_store=MEMORY")
            try:
                cursor.execute("VACUUM")
            except OperationalError:  # another process kept the database busy past the busy timeout
                return list(tables)
            finally:
                cursor.execute(f"PRAGMA temp_store={int(row[0]) if row else 0}")
        _checkpoint_now(alias)
        return []
    if connection.vendor != "postgresql":
        return []
    skipped = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(lock_timeout_seconds)}s"])
        try:
            for table in tables:
                try:
                    cursor.execute(f"VACUUM (FULL, ANALYZE) {connection.ops.quote_name(table)}")
                except OperationalError:  # the lock was not granted in time
                    skipped.append(table)
        finally:
            cursor.execute("RESET lock_timeout")
    return skipped
