"""`candor backup` and `candor restore`, run as commands against real SQLite files and a real PostgreSQL.

The point of these tests: an account deleted after a backup was taken does not come back when that
backup is restored. Not its row, not its models, not its data key, and (on SQLite) not one byte of its
name in the database file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from candor.privacy import audit, crypto
from candor.web.demo import DEMO_ACCOUNTS, DEMO_MODELS
from tests.conftest import run_candor

SQLITE_MAGIC = b"SQLite format 3\x00"
PERSONA = "alice"  # the account deleted after the backup
OTHER = "bob"  # an account that must come through untouched
PERSONA_EMAIL = next(a.email for a in DEMO_ACCOUNTS if a.username == PERSONA)
# What of the persona the restored database must not hold: her name, and her models' names and titles.
PERSONA_NEEDLES = [PERSONA.encode()] + [
    text.encode() for owner, name, title, *_ in DEMO_MODELS if owner == PERSONA for text in (name, title)
]
OTHER_MODELS = sorted(name for owner, name, *_ in DEMO_MODELS if owner == OTHER)
OTHER_PUBLIC = sorted(name for owner, name, *rest in DEMO_MODELS if owner == OTHER and rest[-1] == "public")
# Every model's words: encrypted at rest, and their public projection never backed up, so no backup
# holds one of them in clear.
MODEL_WORDS = sorted({text for _, name, title, summary, *_ in DEMO_MODELS for text in (name, title, summary)})

ERASE = (
    "from candor.accounts.models import User\n"
    "from candor.lifecycle.erasure import erase_account\n"
    "user = User.objects.named('{username}').get()\n"
    "erase_account(user.pk)\n"
    "print('erased', user.pk)\n"
)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def erase(username: str, tmp_path: Path, env: dict[str, str] | None = None) -> uuid.UUID:
    result = ok(run_candor(["shell", "-c", ERASE.format(username=username)], tmp_path, env))
    match = re.search(r"^erased ([0-9a-f-]{36})$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return uuid.UUID(match.group(1))


def written_path(result: subprocess.CompletedProcess[str]) -> Path:
    match = re.search(r"^Backup written: (\S+) \(.*bytes\)\)?$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return Path(match.group(1))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- SQLite ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder made by `candor demo --no-serve`; each test works on a copy of it."""
    base = tmp_path_factory.mktemp("demo")
    ok(run_candor(["demo", "--no-serve"], base, timeout=180))
    return base / "data"


@pytest.fixture
def data(demo_folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(demo_folder, copy)
    return copy


def sqlite_rows(database: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def username_index_in(data: Path, username: str) -> str:
    """The blind index of a username under the key of the data folder ``data`` (names are encrypted)."""
    text = (data / "blind_index_key").read_text().strip()
    with override_settings(BLIND_INDEX_KEY=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))):
        return crypto.blind_index("username", username)


def user_id(database: Path, username: str) -> str:
    index = username_index_in(database.parent, username)
    rows = sqlite_rows(database, "SELECT id FROM accounts_user WHERE username_index = ?", index)
    assert rows, f"{username} is not in {database}"
    return str(rows[0][0])


def blobs_of(database: Path, owner_hex: str) -> list[str]:
    query = "SELECT stored FROM hub_blob WHERE owner_id = ?"
    return [str(row[0]) for row in sqlite_rows(database, query, owner_hex)]


def erasure_audit_rows(database: Path, account_hex: str) -> int:
    query = "SELECT count(*) FROM privacy_auditevent WHERE event_type = ? AND subject_id = ?"
    rows = sqlite_rows(database, query, int(audit.EventType.ACCOUNT_ERASED), account_hex)
    return int(rows[0][0])


def test_sqlite_restore_erases_again_an_account_deleted_after_the_backup(data: Path, tmp_path: Path) -> None:
    live = data / "candor.sqlite3"
    persona_hex = user_id(live, PERSONA)
    other_hex = user_id(live, OTHER)
    persona_blobs = blobs_of(live, persona_hex)
    other_blobs = blobs_of(live, other_hex)
    assert persona_blobs and other_blobs
    assert all((data / "media" / name).exists() for name in persona_blobs)

    # The backup: default name, owner-only, a whole SQLite file, no partial file left beside it.
    backup = written_path(ok(run_candor(["backup"], tmp_path)))
    assert backup.parent == data / "backups"
    assert re.fullmatch(r"candor-\d{8}T\d{6}Z\.sqlite3", backup.name)
    assert backup.stat().st_mode & 0o777 == 0o600
    assert backup.parent.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in backup.parent.iterdir()) == [backup.name]
    raw = backup.read_bytes()
    assert raw.startswith(SQLITE_MAGIC)
    # Emails, usernames and the models' words are encrypted at rest, so no address, name, model name,
    # title or summary is in the backup in clear; what is there are their encrypted forms.
    for account in DEMO_ACCOUNTS:
        assert account.email.encode() not in raw, account.username
    for word in MODEL_WORDS:
        assert word.encode() not in raw, word
    names = sqlite_rows(backup, "SELECT username FROM accounts_user")
    assert names and all(str(name).startswith("enc:v1:") for (name,) in names)
    assert PERSONA.encode() not in raw and b"enc:v1:" in raw
    # No data key is in a backup: the persona's encrypted fields in it need the live database's key.
    assert sqlite_rows(backup, "SELECT count(*) FROM privacy_datakey") == [(0,)]
    # Nor the public projection of the models, which is rebuilt after a restore.
    assert sqlite_rows(live, "SELECT count(*) FROM hub_publicmodel")[0][0] > 0
    assert sqlite_rows(backup, "SELECT count(*) FROM hub_publicmodel") == [(0,)]
    assert sqlite_rows(backup, "SELECT count(*) FROM accounts_user")[0][0] == len(DEMO_ACCOUNTS)

    # The persona asks to be deleted after the backup was taken.
    erased = erase(PERSONA, tmp_path)
    assert erased.hex == persona_hex
    assert not sqlite_rows(live, "SELECT 1 FROM accounts_user WHERE id = ?", persona_hex)
    assert erasure_audit_rows(live, persona_hex) == 1  # the erasure's own row, kept after it

    result = ok(run_candor(["restore", str(backup), "--yes"], tmp_path))
    assert "Deleted accounts found in the backup and erased again: 1" in result.stdout
    # The backup predates the erasure, so its trail lacked the row: erasing again wrote it, once.
    assert erasure_audit_rows(live, persona_hex) == 1

    # Gone: the account, its models and files, its data key. The ledger names it, completed.
    assert not sqlite_rows(live, "SELECT 1 FROM accounts_user WHERE id = ?", persona_hex)
    assert not sqlite_rows(live, "SELECT 1 FROM hub_mlmodel WHERE owner_id = ?", persona_hex)
    assert not sqlite_rows(live, "SELECT 1 FROM privacy_datakey WHERE user_id = ?", persona_hex)
    assert not any((data / "media" / name).exists() for name in persona_blobs)
    ledger = sqlite_rows(
        live, "SELECT completed_at FROM privacy_deletionrecord WHERE account_id = ?", persona_hex
    )
    assert len(ledger) == 1 and ledger[0][0] is not None
    # Intact: the other persona, its models, files and data key.
    assert sqlite_rows(live, "SELECT username_index FROM accounts_user WHERE id = ?", other_hex) == [
        (username_index_in(data, OTHER),)
    ]
    models = sqlite_rows(live, "SELECT count(*) FROM hub_mlmodel WHERE owner_id = ?", other_hex)
    assert models == [(len(OTHER_MODELS),)]
    # The projection, rebuilt from the models after the ledger ran: the other persona's public models,
    # none of the erased persona's.
    assert "Public projection rebuilt from the models: " in result.stdout
    projected = sqlite_rows(live, "SELECT owner_id, name FROM hub_publicmodel ORDER BY name")
    assert projected == [(other_hex, name) for name in OTHER_PUBLIC]
    assert sqlite_rows(live, "SELECT 1 FROM privacy_datakey WHERE user_id = ?", other_hex)
    assert all((data / "media" / name).exists() for name in other_blobs)
    put_back = len(DEMO_ACCOUNTS) - 1  # every demo account's but the persona's
    assert f"Data keys put back from the live database or keys file: {put_back}." in result.stdout
    # The persona's key is missing because she was erased again, which is no reason to ask for --keys.
    assert "have no data key" not in result.stderr, result.stderr
    other_email = next(a.email for a in DEMO_ACCOUNTS if a.username == OTHER)
    assert read_email(OTHER, tmp_path) == other_email  # its key came back from the live database

    # Not one byte of the persona's name or models in the database file or its write-ahead log.
    files = [p for p in (live, data / "candor.sqlite3-wal") if p.exists()]
    for path in files:
        content = path.read_bytes()
        for needle in PERSONA_NEEDLES:
            assert needle not in content, f"{needle!r} found in {path.name}"
    assert OTHER_PUBLIC[0].encode() in live.read_bytes()  # the scan reads the right file (the projection)


READ_EMAIL = (
    "from candor.accounts.models import User\nprint('email:', User.objects.by_username('{username}').email)\n"
)


def read_email(username: str, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    result = ok(run_candor(["shell", "-c", READ_EMAIL.format(username=username)], tmp_path, env))
    return result.stdout.strip().splitlines()[-1].removeprefix("email: ")


def test_a_new_machine_reads_a_backup_only_with_a_keys_file(data: Path, tmp_path: Path) -> None:
    backup = written_path(ok(run_candor(["backup"], tmp_path)))
    keys = tmp_path / "keys.jsonl"
    written = ok(run_candor(["backup", "--keys-file", str(keys)], tmp_path))
    assert "Data keys written" in written.stdout and keys.stat().st_mode & 0o777 == 0o600
    assert all(account.email not in keys.read_text() for account in DEMO_ACCOUNTS)
    # A new machine: the same secrets and master keys, an empty data folder otherwise.
    fresh = tmp_path / "fresh"
    (fresh / "data").mkdir(parents=True)
    for name in ("secret_key", "master_keys", "blind_index_key"):
        shutil.copy2(data / name, fresh / "data" / name)
    ok(run_candor(["migrate", "-v0"], fresh))
    blind = ok(run_candor(["restore", str(backup), "--yes"], fresh))
    assert "cannot be read" in blind.stderr
    assert read_email(OTHER, fresh) == "[unreadable: the key was destroyed]"
    ok(run_candor(["restore", str(backup), "--yes", "--keys", str(keys)], fresh))
    other_email = next(a.email for a in DEMO_ACCOUNTS if a.username == OTHER)
    assert read_email(OTHER, fresh) == other_email
    # A key deleted since the keys file was written is not brought back by a newer one.
    erase(OTHER, fresh)
    newer = tmp_path / "newer-keys.jsonl"
    ok(run_candor(["backup", "--keys-file", str(newer)], fresh))
    assert user_id(data / "candor.sqlite3", OTHER).replace("-", "") not in newer.read_text().replace("-", "")


def sqlite_copy(source: Path, target: Path) -> None:
    """A backup made with SQLite's own backup API, for the tests that are not about making one."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def test_restore_refuses_without_yes_and_changes_nothing(data: Path, tmp_path: Path) -> None:
    live = data / "candor.sqlite3"
    backup = tmp_path / "kept.sqlite3"
    sqlite_copy(live, backup)
    db = sqlite3.connect(live)
    with db:
        db.execute("UPDATE hub_mlmodel SET title = 'Changed since the backup'")
    db.close()
    before = digest(live)

    result = run_candor(["restore", str(backup)], tmp_path)
    assert result.returncode == 1
    assert "--yes" in result.stderr and str(live) in result.stderr and "Nothing was changed" in result.stderr
    assert digest(live) == before
    titles = {title for (title,) in sqlite_rows(live, "SELECT title FROM hub_mlmodel")}
    assert titles == {"Changed since the backup"}


def test_restore_refuses_a_file_that_is_not_a_backup(data: Path, tmp_path: Path) -> None:
    live = data / "candor.sqlite3"
    before = digest(live)
    not_sqlite = tmp_path / "notes.sqlite3"
    not_sqlite.write_text("These are not the tables you are looking for.\n" * 10)
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(live.read_bytes()[:4096])
    other_kind = tmp_path / "dump.pgdump"
    other_kind.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
    foreign = tmp_path / "foreign.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()
    cases = {
        not_sqlite: "does not start with the SQLite header",
        truncated: "not a readable SQLite database",
        other_kind: "is a PostgreSQL dump, but this Candor runs on SQLite",
        foreign: "not one of Candor's",
    }
    for path, message in cases.items():
        result = run_candor(["restore", str(path), "--yes"], tmp_path)
        assert result.returncode == 1, path.name
        assert message in result.stderr and "Nothing was changed" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert digest(live) == before
    assert user_id(live, PERSONA)


def test_backup_never_overwrites_a_file(data: Path, tmp_path: Path) -> None:
    existing = tmp_path / "precious.sqlite3"
    existing.write_bytes(b"someone else's file")
    result = run_candor(["backup", str(existing)], tmp_path)
    assert result.returncode == 1
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    assert existing.read_bytes() == b"someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "precious.sqlite3"]  # no partial file

    # A folder that is a file cannot hold a backup either; the message says so.
    result = run_candor(["backup", str(existing / "backup.sqlite3")], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(existing) in result.stderr


def test_an_older_schema_is_restored_but_the_ledger_waits_for_migrate(data: Path, tmp_path: Path) -> None:
    """A backup from an older Candor: restore says to run `candor migrate`, and keeps the ledger for it."""
    old = tmp_path / "old"
    ok(run_candor(["migrate", "hub", "0001", "--verbosity", "0"], old))
    old_backup = tmp_path / "old.sqlite3"
    ok(run_candor(["backup", str(old_backup)], old))
    erased = erase(PERSONA, tmp_path)
    (data / "deletion-ledger.jsonl").unlink()  # the ledger is then only in the live table

    result = run_candor(["restore", str(old_backup), "--yes"], tmp_path)
    assert result.returncode == 1
    assert "candor migrate" in result.stderr and "candor restore --reapply-ledger" in result.stderr
    # The restored schema has no ledger table: the ledger was copied into its file before the restore.
    assert str(erased) in (data / "deletion-ledger.jsonl").read_text()
    result = run_candor(["restore", "--reapply-ledger"], tmp_path)
    assert result.returncode == 1 and "candor migrate" in result.stderr

    ok(run_candor(["migrate", "--verbosity", "0"], tmp_path))
    result = ok(run_candor(["restore", "--reapply-ledger"], tmp_path))
    assert "erased again: 0" in result.stdout
    assert "have no data key" not in result.stderr, result.stderr
    rows = sqlite_rows(data / "candor.sqlite3", "SELECT account_id FROM privacy_deletionrecord")
    assert rows == [(erased.hex,)]


def test_pg_dump_gets_the_password_in_its_environment_and_its_errors_are_shown(tmp_path: Path) -> None:
    """No password on pg_dump's command line (the process list); a failed dump leaves no file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    capture = tmp_path / "capture"
    fake = bin_dir / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$0" "$@" > "{capture}.argv"\n'
        f'env > "{capture}.env"\n'
        'echo "pg_dump: error: connection to server failed: FATAL: the fake server says no" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    password = f"pw-{secrets.token_hex(8)}"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"postgres://operator:{password}@db.invalid:6543/candor_prod?sslmode=require",
    }
    result = run_candor(["backup"], tmp_path, env)
    assert result.returncode == 1
    assert "pg_dump failed" in result.stderr and "the fake server says no" in result.stderr
    assert password not in result.stderr + result.stdout
    argv = Path(f"{capture}.argv").read_text().splitlines()
    # The rows of every table declared never backed up are left out: the data keys, the public projection.
    assert argv[1:] == [
        "--format=custom",
        "--no-owner",
        "--exclude-table-data=hub_publicmodel",
        "--exclude-table-data=privacy_datakey",
    ]
    assert password not in "\n".join(argv)
    seen = dict(line.split("=", 1) for line in Path(f"{capture}.env").read_text().splitlines() if "=" in line)
    assert seen["PGPASSWORD"] == password and seen["PGUSER"] == "operator"
    assert (seen["PGHOST"], seen["PGPORT"], seen["PGDATABASE"]) == ("db.invalid", "6543", "candor_prod")
    assert seen["PGSSLMODE"] == "require"
    # No backup, and no half-written file, under any name.
    assert list((tmp_path / "data" / "backups").iterdir()) == []


# --- PostgreSQL -----------------------------------------------------------------------------------------


def test_postgres_restore_erases_again_an_account_deleted_after_the_backup(
    scratch_postgres: str, tmp_path: Path
) -> None:
    import psycopg

    env = {"DATABASE_URL": scratch_postgres}
    ok(run_candor(["migrate", "--verbosity", "0"], tmp_path, env, timeout=180))
    ok(run_candor(["demo", "--no-serve"], tmp_path, env, timeout=180))

    def query(text: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(scratch_postgres) as conn:
            return conn.execute(text, params).fetchall()  # type: ignore[arg-type]

    data = tmp_path / "data"
    by_name = "SELECT id FROM accounts_user WHERE username_index = %s"
    persona_id = query(by_name, username_index_in(data, PERSONA))[0][0]
    other_id = query(by_name, username_index_in(data, OTHER))[0][0]

    backup = tmp_path / "backups" / "before.pgdump"
    assert written_path(ok(run_candor(["backup", str(backup)], tmp_path, env))) == backup
    assert backup.stat().st_mode & 0o777 == 0o600
    assert backup.read_bytes().startswith(b"PGDMP")
    # The custom format is compressed: read it back as SQL to look inside.
    script = ok(subprocess.run(["pg_restore", "-f", "-", str(backup)], capture_output=True, text=True)).stdout
    assert PERSONA_EMAIL not in script
    # Names are encrypted like addresses, and so are a model's words (their public projection's rows are
    # left out); their encrypted forms are what the dump holds.
    assert f"\t{OTHER}\t" not in script and f"\t{PERSONA}\t" not in script and "enc:v1:" in script
    assert query("SELECT count(*) FROM hub_publicmodel")[0][0] > 0
    assert "COPY public.hub_publicmodel" not in script
    for word in MODEL_WORDS:
        assert word not in script, word

    erase(PERSONA, tmp_path, env)
    assert not query("SELECT 1 FROM accounts_user WHERE id = %s", persona_id)

    result = ok(run_candor(["restore", str(backup), "--yes"], tmp_path, env))
    assert "Deleted accounts found in the backup and erased again: 1" in result.stdout
    assert "have no data key" not in result.stderr, result.stderr  # the erased persona is not "missing"

    assert not query("SELECT 1 FROM accounts_user WHERE id = %s", persona_id)
    assert not query(by_name, username_index_in(data, PERSONA))
    assert not query("SELECT 1 FROM hub_mlmodel WHERE owner_id = %s", persona_id)
    names = [name for owner, name, *_ in DEMO_MODELS if owner == PERSONA]
    assert not query("SELECT 1 FROM hub_publicmodel WHERE name = ANY(%s)", names)
    assert not query("SELECT 1 FROM hub_publicmodel WHERE owner_id = %s", persona_id)
    projected = query("SELECT name FROM hub_publicmodel WHERE owner_id = %s ORDER BY name", other_id)
    assert [name for (name,) in projected] == OTHER_PUBLIC
    assert not query("SELECT 1 FROM privacy_datakey WHERE user_id = %s", persona_id)
    completed = query("SELECT completed_at FROM privacy_deletionrecord WHERE account_id = %s", persona_id)
    assert len(completed) == 1 and completed[0][0] is not None
    assert query(by_name, username_index_in(data, OTHER)) == [(other_id,)]
    models = query("SELECT count(*) FROM hub_mlmodel WHERE owner_id = %s", other_id)
    assert models == [(len(OTHER_MODELS),)]
    assert query("SELECT 1 FROM privacy_datakey WHERE user_id = %s", other_id)
    other_email = next(a.email for a in DEMO_ACCOUNTS if a.username == OTHER)
    assert read_email(OTHER, tmp_path, env) == other_email
    # The dump held no data key: its table was left empty in the backup.
    assert "COPY public.privacy_datakey" not in script and "COPY public.accounts_user" in script

    # A plain dump of the restored database: the persona's name is in no row.
    dump = subprocess.run(
        ["pg_dump", "--data-only", "--dbname", scratch_postgres], capture_output=True, text=True, check=True
    ).stdout
    assert f"\t{OTHER_PUBLIC[0]}\t" in dump
    assert not any(needle.decode() in dump for needle in PERSONA_NEEDLES)

    # On PostgreSQL a SQLite file is refused, and the database is left as it is.
    result = run_candor(["restore", str(tmp_path / "data" / "secret_key"), "--yes"], tmp_path, env)
    assert result.returncode == 1 and "not a PostgreSQL custom-format dump" in result.stderr
    assert query(by_name, username_index_in(data, OTHER)) == [(other_id,)]
