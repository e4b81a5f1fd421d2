from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.privacy import backup


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{count:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit} ({count:,} bytes)"
        amount /= 1024
    return f"{count:,} bytes"  # pragma: no cover


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the database while Candor runs: SQLite's online backup, or "
        "pg_dump's custom format on PostgreSQL. By default into DATA_DIR/backups/ (owner-only). The master "
        "keys are not in it: keep them apart."
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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = backup.make_backup(options["path"])
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Backup written: {path} ({_size(path.stat().st_size)})")
