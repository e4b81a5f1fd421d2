"""Backups of the database, and restoring one without bringing a deleted account back (clause C25).

``candor backup`` copies the database consistently while the site runs: SQLite table by table in one read
transaction (so the copy is a single point in time), PostgreSQL through
``pg_dump --format=custom``. The copy is written to a staging file (:mod:`candor.kernel.staging`) and renamed
once complete, so a file with a backup's name is always a whole backup, and one a crash cuts short is
removed by the next recovery pass. Backups hold personal data as the database holds it, with one
exception: the accounts' data keys are left out, never written even to the partial file (and the master
keys were never in the database).
A backup's encrypted fields can therefore only be read with the data keys of a live database, or of a
keys file (``candor backup --keys-file``), which is why deleting an account (destroying its key) makes its
encrypted fields unreadable in every backup too.

``candor restore`` puts one back, then re-applies the deletion ledger: every account deleted since the
backup was made (and named by the ledger, in the database or in the file beside it) is erased again,
data key first, before the command says it is done. The ledger is read, and copied to its file, before
anything is replaced, so a restore that stops half-way still leaves the list of what must be erased.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from candor.accounts.models import User
from candor.hub import listing_cache
from candor.hub.models import ListingState
from candor.kernel import db, staging
from candor.lifecycle import erasure
from candor.privacy.models import DataKey, DeletionRecord

SQLITE_MAGIC = b"SQLite format 3\x00"
DATA_KEY_TABLE = "privacy_datakey"
KEYS_FORMAT = "candor-data-keys"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """Something the operator must fix; the message says what, and whether anything changed."""


# --- Which database -----------------------------------------------------------------------------------


def vendor() -> str:
    """``"sqlite"`` or ``"postgresql"``: the database Candor is configured with."""
    engine = str(settings.DATABASES["default"]["ENGINE"])
    if engine.endswith("sqlite3"):
        return "sqlite"
    if engine.endswith("postgresql"):
        return "postgresql"
    raise BackupError(f"Backups are made for SQLite and PostgreSQL only, not {engine}.")


def sqlite_path() -> Path:
    return Path(settings.DATABASES["default"]["NAME"])


def describe_database() -> str:
    """Which database a restore would replace, in words for the operator (no password)."""
    db = settings.DATABASES["default"]
    if vendor() == "sqlite":
        return f"the SQLite database {sqlite_path()}"
    where = f" on {db.get('HOST') or 'the local server'}" + (f":{db['PORT']}" if db.get("PORT") else "")
    return f"the PostgreSQL database {db['NAME']!r}{where}"


def _pg_environment() -> dict[str, str]:
    """libpq's variables for Candor's database, so that no password is ever on a command line.

    As Django does, a setting left empty is left to libpq's own defaults (its variables, ``.pgpass``).
    """
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    values = {
        "PGHOST": db.get("HOST"),
        "PGPORT": db.get("PORT"),
        "PGUSER": db.get("USER"),
        "PGPASSWORD": db.get("PASSWORD"),
        "PGDATABASE": db.get("NAME"),
    }
    options = db.get("OPTIONS") or {}
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ):
        values[variable] = options.get(option)
    env.update({name: str(value) for name, value in values.items() if value not in (None, "")})
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found on PATH: install PostgreSQL's client programs, of the server's major "
            "version or newer (on Debian: apt-get install postgresql-client)."
        )
    return found


def _run_pg(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, env=_pg_environment(), check=False, **kwargs)  # noqa: S603 - fixed argv


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode(errors="replace").strip() or f"exit code {result.returncode}"


# --- Backup -------------------------------------------------------------------------------------------


def default_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    suffix = "sqlite3" if vendor() == "sqlite" else "pgdump"
    return Path(settings.DATA_DIR) / "backups" / f"candor-{stamp}.{suffix}"


def _private_folder(folder: Path, *, ours: bool) -> None:
    """Make the folder (owner-only) if it is missing; Candor's own backups folder is kept owner-only."""
    try:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        elif ours:
            folder.chmod(0o700)
    except OSError as error:
        raise BackupError(f"The folder {folder} cannot be made: {error.strerror}.") from None
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"The folder {folder} is not writable by this user.")


def _partial_file(final: Path) -> staging.StagingFile:
    """The file the backup is written to before it gets its name: in the staging area, locked by this
    process, so that one a crash leaves behind is found and removed (see candor.kernel.staging).

    It must be renamed into place, which needs one file system: a backup chosen to go elsewhere is
    written beside its final name instead, still under a staging name, and ``candor backup`` removes
    such leftovers from that folder before it writes another.
    """
    try:
        folder = staging.root()
        same = folder.stat().st_dev == final.parent.stat().st_dev
    except OSError:
        same = False
    try:
        if same:
            return staging.create("backup", None, ".partial")
        staging.recover_folder(final.parent, "backup")
        return staging.create("backup", None, ".partial", folder=final.parent)
    except OSError as error:
        raise BackupError(f"Cannot write in the folder {final.parent}: {error.strerror}.") from None


def _put_in_place(temporary: Path, final: Path) -> None:
    """Give the finished file its name, never replacing a file that appeared there meanwhile."""
    try:
        os.link(temporary, final)
    except FileExistsError:
        raise BackupError(f"{final} already exists: choose another name.") from None
    except OSError:  # a file system without hard links: rename, after one more look
        if final.exists():
            raise BackupError(f"{final} already exists: choose another name.") from None
        os.replace(temporary, final)
        return
    temporary.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_backup(path: Path | None = None) -> Path:
    """Write a backup of the database to ``path`` (by default a new file in DATA_DIR/backups)."""
    kind = vendor()
    final = Path(path) if path is not None else default_path()
    final = final.absolute()
    if final.exists() or final.is_symlink():
        raise BackupError(f"{final} already exists: a backup never overwrites a file. Choose another name.")
    _private_folder(final.parent, ours=path is None)
    partial = _partial_file(final)
    temporary = partial.path
    try:
        if kind == "sqlite":
            _backup_sqlite(temporary)
        else:
            _backup_postgres(partial.file.fileno())
        temporary.chmod(0o600)
        _fsync(temporary)
        _put_in_place(temporary, final)
    finally:
        partial.discard()
        Path(f"{temporary}-journal").unlink(missing_ok=True)
    return final


def _regexp(pattern: str | None, value: object) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, str(value)) is not None


def _sqlite(target: str | Path, **options: Any) -> sqlite3.Connection:
    """A plain sqlite3 connection that can check Candor's constraints: the analytics tables' CHECKs
    call REGEXP, which SQLite leaves to the application (Django registers it on its own connections),
    and VACUUM and quick_check evaluate them."""
    connection = sqlite3.connect(target, **options)
    connection.create_function("REGEXP", 2, _regexp, deterministic=True)
    return connection


def _backup_sqlite(target_path: Path) -> None:
    live = sqlite_path()
    if not live.exists():
        raise BackupError(f"There is no database at {live} yet: nothing to back up.")
    # A fresh read-only connection of its own: the copy is one read transaction, a single point in time,
    # taken while web processes and the worker go on writing (WAL lets them).
    # The copy is built table by table rather than page by page (SQLite's backup API), so that the data
    # keys' table is never copied: its schema is, its rows are not. Copying everything and deleting the
    # keys afterwards, as before, left every account's wrapped key in the file until the end, so a
    # backup killed half-way left them on disk, where a deleted account's key would live on.
    target = _sqlite(target_path, uri=True, timeout=20, isolation_level=None)
    try:
        # A partial file is worthless until it is renamed into place: no journal, no syncing on the way
        # (the finished file is synced once).
        target.execute("PRAGMA journal_mode=OFF")
        target.execute("PRAGMA synchronous=OFF")
        target.execute("ATTACH DATABASE ? AS live", (f"{live.resolve().as_uri()}?mode=ro",))
        # One transaction over both: the live database is read at one point in time (a WAL snapshot),
        # while web processes and the worker go on writing.
        target.execute("BEGIN")
        schema = target.execute(
            "SELECT type, name, sql FROM live.sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
        # SQLite's own tables (sqlite_sequence, statistics) are made by SQLite itself.
        tables = [name for kind, name, _ in schema if kind == "table" and not name.startswith("sqlite_")]
        for kind, name, sql in schema:
            if kind == "table" and name in tables:
                target.execute(sql)
        for name in tables:
            if name == DATA_KEY_TABLE:
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            # Names come from the live database's own schema, not from outside.
            target.execute(f"INSERT INTO main.{quoted} SELECT * FROM live.{quoted}")  # noqa: S608
        if any(name == "sqlite_sequence" for _, name, _ in schema):
            # The inserts counted only the ids still present; the live counters also remember deleted ones.
            target.execute("DELETE FROM main.sqlite_sequence")
            target.execute("INSERT INTO main.sqlite_sequence SELECT * FROM live.sqlite_sequence")
        for kind, _, sql in schema:
            if kind in ("index", "trigger", "view"):
                target.execute(sql)
        version = target.execute("PRAGMA live.user_version").fetchone()[0]
        target.execute(f"PRAGMA main.user_version = {int(version)}")
        target.execute("COMMIT")
        target.execute("DETACH DATABASE live")
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not copy the database: {error}.") from None
    finally:
        target.close()


def _backup_postgres(fd: int) -> None:
    pg_dump = _pg_tool("pg_dump")
    # Connection parameters travel in the environment (PGHOST, PGPASSWORD…), never in argv.
    argv = [pg_dump, "--format=custom", "--no-owner", f"--exclude-table-data={DATA_KEY_TABLE}"]
    result = _run_pg(argv, stdout=fd, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed; no backup was written. It said:\n{_stderr(result)}")


# --- Checking a file ----------------------------------------------------------------------------------


def check_backup_file(path: Path) -> None:
    """Refuse a file that is not a backup this Candor can restore, before anything is touched."""
    kind = vendor()
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist. Nothing was changed.") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder, not a backup file. Nothing was changed.") from None
    except OSError as error:
        raise BackupError(f"{path} cannot be read: {error.strerror}. Nothing was changed.") from None
    if kind == "sqlite":
        if head.startswith(PGDUMP_MAGIC):
            raise BackupError(
                f"{path} is a PostgreSQL dump, but this Candor runs on SQLite. Nothing was changed."
            )
        if head != SQLITE_MAGIC:
            raise BackupError(
                f"{path} is not a Candor SQLite backup (it does not start with the SQLite header). "
                "Nothing was changed."
            )
        _check_sqlite_backup(path)
    else:
        if head == SQLITE_MAGIC:
            raise BackupError(
                f"{path} is a SQLite backup, but this Candor runs on PostgreSQL. Nothing was changed."
            )
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError(
                f"{path} is not a PostgreSQL custom-format dump (`candor backup` makes those; it does "
                "not start with PGDMP). Nothing was changed."
            )
        result = _run_pg([_pg_tool("pg_restore"), "--list", str(path)], capture_output=True)
        if result.returncode != 0:
            raise BackupError(f"{path} cannot be read by pg_restore: {_stderr(result)}\nNothing was changed.")


def _open_backup(path: Path) -> sqlite3.Connection:
    # immutable: read the file as it is, with no lock and no side file made beside it.
    return _sqlite(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def _check_sqlite_backup(path: Path) -> None:
    try:
        db = _open_backup(path)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            candor = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as error:
        message = f"{path} is not a readable SQLite database ({error}). Nothing was changed."
        raise BackupError(message) from None
    if verdict != "ok":
        raise BackupError(f"{path} is damaged (SQLite's check says: {verdict}). Nothing was changed.")
    if not candor:
        raise BackupError(f"{path} is a SQLite database, but not one of Candor's. Nothing was changed.")


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
    busy_checkpoint: bool = False


def restore(
    path: Path, *, keys_file: Path | None = None, say: Callable[[str], None] = lambda _: None
) -> Restored:
    """Replace the database with the backup at ``path``, then erase again every account of the ledger."""
    path = Path(path).absolute()
    check_backup_file(path)
    remembered = remember_ledger()
    remember_keys(keys_file)
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
    # Counted once the ledger has run: an account it erased has no key because it is gone, not missing.
    outcome.without_key = accounts_without_key()
    _fresh_listings(generation_before)
    outcome.busy_checkpoint = not db.checkpoint_wal()
    return outcome


def reapply(remembered: set[str] | None = None) -> int:
    """Put every remembered ledger id back in the DeletionRecord table, then erase them all again."""
    if remembered is None:
        remembered = erasure.ledger_account_ids()
    with transaction.atomic():
        present = {str(pk) for pk in DeletionRecord.objects.values_list("account_id", flat=True)}
        DeletionRecord.objects.bulk_create(
            [DeletionRecord(account_id=uuid.UUID(pk)) for pk in sorted(remembered - present)]
        )
    return erasure.reapply_ledger()


def accounts_without_key() -> int:
    """Accounts in the database that have no data key (their encrypted fields cannot be read)."""
    return User.objects.filter(data_key__isnull=True).count()


def migration_state() -> tuple[list[str], list[str]]:
    """(migrations the database lacks, migrations it has that this Candor does not know)."""
    from django.db.migrations.executor import MigrationExecutor

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
    source = _open_backup(path)
    target = _sqlite(live, timeout=20)
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
    argv = [_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction"]
    result = _run_pg([*argv, "-d", db_name, str(path)], capture_output=True)
    if result.returncode != 0:
        raise BackupError(
            "pg_restore failed; it ran in one transaction, so the database is as it was. It said:\n"
            + _stderr(result)
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


# --- Data keys: never in a backup, carried across a restore ------------------------------------------


def pending_keys_path() -> Path:
    return Path(settings.DATA_DIR) / "restore-data-keys.jsonl"


def write_keys_file(path: Path) -> int:
    """Write the live database's data keys (still wrapped by the master keys) to a file of their own.

    For recovery onto a new machine. It is no use without the master keys; keep it apart from the
    backups and replace it often, since an old one still holds the keys of accounts deleted since.
    """
    final = Path(path).absolute()
    if final.exists():
        raise BackupError(f"{final} already exists: choose another name.")
    rows = DataKey.objects.values_list("user_id", "key_id", "master_key_id", "wrapped", "created_at")
    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    count = 0
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"format": KEYS_FORMAT, "version": 1}) + "\n")
        for user_id, key_id, master_key_id, wrapped, created_at in rows.iterator(chunk_size=2000):
            record = {
                "user_id": str(user_id),
                "key_id": key_id,
                "master_key_id": master_key_id,
                "wrapped": base64.b64encode(bytes(wrapped)).decode(),
                "created_at": created_at.isoformat(),
            }
            handle.write(json.dumps(record) + "\n")
            count += 1
    return count


def _read_keys(path: Path) -> list[dict[str, str]]:
    try:
        lines = Path(path).read_text().splitlines()
        header = json.loads(lines[0]) if lines else {}
    except (OSError, ValueError) as error:
        raise BackupError(f"{path} is not a keys file of `candor backup --keys-file` ({error}).") from None
    if header.get("format") != KEYS_FORMAT:
        raise BackupError(f"{path} is not a keys file of `candor backup --keys-file`. Nothing was changed.")
    return [json.loads(line) for line in lines[1:] if line.strip()]


def remember_keys(keys_file: Path | None) -> None:
    """Before the database is replaced: the live data keys, and those of a keys file, into a private file
    in the data folder (a restore that stops half-way, or waits for `migrate`, still has them)."""
    extra = _read_keys(keys_file) if keys_file is not None else []
    try:
        rows = [
            {
                "user_id": str(user_id),
                "key_id": key_id,
                "master_key_id": master_key_id,
                "wrapped": base64.b64encode(bytes(wrapped)).decode(),
                "created_at": created_at.isoformat(),
            }
            for user_id, key_id, master_key_id, wrapped, created_at in DataKey.objects.values_list(
                "user_id", "key_id", "master_key_id", "wrapped", "created_at"
            ).iterator(chunk_size=2000)
        ]
    except DatabaseError:
        rows = []  # a new installation: no table yet
    finally:
        connections.close_all()
    path = pending_keys_path()
    known = {row["user_id"] for row in rows}
    if path.exists():  # an earlier restore that did not finish: its keys still count
        for row in _read_keys(path):
            if row["user_id"] not in known:
                rows.append(row)
                known.add(row["user_id"])
    rows += [row for row in extra if row["user_id"] not in known]
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"format": KEYS_FORMAT, "version": 1}) + "\n")
        handle.writelines(json.dumps(row) + "\n" for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def put_keys_back() -> tuple[int, int]:
    """After the restore: each restored account gets its data key back from the remembered keys.

    Returns (keys put back, accounts left without a key). The keys of accounts deleted since the backup
    are not among them: those accounts' encrypted fields stay unreadable, and the ledger erases the rest.
    """
    path = pending_keys_path()
    rows = _read_keys(path) if path.exists() else []
    with transaction.atomic():
        accounts = {str(pk) for pk in User.objects.values_list("pk", flat=True)}
        have = {str(pk) for pk in DataKey.objects.values_list("user_id", flat=True)}
        new = [
            DataKey(
                user_id=uuid.UUID(row["user_id"]),
                key_id=row["key_id"],
                master_key_id=row["master_key_id"],
                wrapped=base64.b64decode(row["wrapped"]),
                created_at=datetime.fromisoformat(row["created_at"]),
            )
            for row in rows
            if row["user_id"] in accounts and row["user_id"] not in have
        ]
        DataKey.objects.bulk_create(new, batch_size=1000)
    path.unlink(missing_ok=True)
    return len(new), len(accounts - have - {str(key.user_id) for key in new})
