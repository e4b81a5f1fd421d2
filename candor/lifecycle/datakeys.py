"""The accounts' data keys: never in a backup, carried across a restore, or written to a keys file of
their own for recovery onto a new machine (useless without the master keys)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from candor.accounts.models import User
from candor.lifecycle.backup import KEYS_FORMAT, BackupError
from candor.privacy.models import DataKey


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
