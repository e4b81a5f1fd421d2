"""Backups of the database, and restoring one without bringing a deleted account back (clause C25).

``candor backup`` copies the database consistently while the site runs: SQLite table by table in one read
transaction (so the copy is a single point in time), PostgreSQL through
``pg_dump --format=custom``. The copy is written to a staging file (:mod:`candor.kernel.staging`) and renamed
once complete, so a file with a backup's name is always a whole backup, and one a crash cuts short is
removed by the next recovery pass. Backups hold personal data as the database holds it, except the
tables the data inventory declares ``backed_up=False``
(:func:`candor.privacy.inventory.tables_not_backed_up`), whose rows are never written, not even to the
partial file: the accounts' data keys (the master keys were never in the database), and the public
projection of the models (rebuilt after a restore), so a backup holds no model's words in clear.
A backup's encrypted fields can therefore only be read with the data keys of a live database, or of a
keys file (``candor backup --keys-file``), which is why deleting an account (destroying its key) makes its
encrypted fields unreadable in every backup too.

``candor restore`` puts one back (:mod:`candor.lifecycle.restore`); the data keys travel apart
(:mod:`candor.lifecycle.datakeys`).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from candor.kernel import staging
from candor.privacy import inventory

SQLITE_MAGIC = b"SQLite format 3\x00"
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


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found on PATH: install PostgreSQL's client programs, of the server's major "
            "version or newer (on Debian: apt-get install postgresql-client)."
        )
    return found


def run_pg(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, env=_pg_environment(), check=False, **kwargs)  # noqa: S603 - fixed argv


def stderr_of(result: subprocess.CompletedProcess[bytes]) -> str:
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


def sqlite_connection(target: str | Path, **options: Any) -> sqlite3.Connection:
    """A plain sqlite3 connection that can check Candor's constraints: the analytics tables' CHECKs
    call REGEXP, which SQLite leaves to the application (Django registers it on its own connections),
    and VACUUM and quick_check evaluate them."""
    connection: sqlite3.Connection = sqlite3.connect(target, **options)
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
    target = sqlite_connection(target_path, uri=True, timeout=20, isolation_level=None)
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
        left_out = set(inventory.tables_not_backed_up())
        for name in tables:
            if name in left_out:
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
    pg_dump = pg_tool("pg_dump")
    # Connection parameters travel in the environment (PGHOST, PGPASSWORD…), never in argv.
    argv = [pg_dump, "--format=custom", "--no-owner"]
    argv += [f"--exclude-table-data={table}" for table in inventory.tables_not_backed_up()]
    result = run_pg(argv, stdout=fd, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed; no backup was written. It said:\n{stderr_of(result)}")


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
        result = run_pg([pg_tool("pg_restore"), "--list", str(path)], capture_output=True)
        if result.returncode != 0:
            said = stderr_of(result)
            raise BackupError(f"{path} cannot be read by pg_restore: {said}\nNothing was changed.")


def open_backup(path: Path) -> sqlite3.Connection:
    # immutable: read the file as it is, with no lock and no side file made beside it.
    return sqlite_connection(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def _check_sqlite_backup(path: Path) -> None:
    try:
        db = open_backup(path)
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
