from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.lifecycle import backup, datakeys


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{count:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit} ({count:,} bytes)"
        amount /= 1024
    return f"{count:,} bytes"  # pragma: no cover


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the database while Candor runs: a copy of SQLite's tables, or "
        "pg_dump's custom format on PostgreSQL. By default into DATA_DIR/backups/ (owner-only). Neither the "
        "master keys nor the accounts' data keys are in it."
    )

    # A backup or a restore must work on a site whose configuration fails a check: that may be why it
    # is being restored.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            nargs="?",
            type=Path,
            help="Where to write it (must not exist). Default: DATA_DIR/backups/candor-<UTC time>.sqlite3 "
            "or .pgdump.",
        )
        parser.add_argument(
            "--keys-file",
            type=Path,
            metavar="KEYS_FILE",
            help="Instead of a backup, write the accounts' data keys (wrapped) to this file, for "
            "`candor restore --keys` on a new machine. Backups never hold them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["keys_file"] is not None:
            try:
                count = datakeys.write_keys_file(options["keys_file"])
            except backup.BackupError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(
                f"Data keys written: {options['keys_file']} ({count} keys, wrapped by the master keys). "
                "Keep it apart from the backups and replace it often: an old one still holds the keys of "
                "accounts deleted since."
            )
            return
        try:
            path = backup.make_backup(options["path"])
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Backup written: {path} ({_size(path.stat().st_size)})")
