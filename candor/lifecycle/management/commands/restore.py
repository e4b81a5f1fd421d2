from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.lifecycle import backup, datakeys, erasure, restore, rewrite


class Command(BaseCommand):
    help = (
        "Replace the whole database with a backup made by `candor backup`, then erase again every account "
        "deleted since (the deletion ledger). Stop the web server and the worker first."
    )

    # A backup or a restore must work on a site whose configuration fails a check: that may be why it
    # is being restored.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, help="The backup file to restore.")
        parser.add_argument(
            "--yes", action="store_true", help="Confirm that the current database is to be replaced."
        )
        parser.add_argument(
            "--keys",
            type=Path,
            metavar="KEYS_FILE",
            help="A keys file of `candor backup --keys-file`, for accounts whose data key the live "
            "database lacks (restoring onto a new machine).",
        )
        parser.add_argument(
            "--reapply-ledger",
            action="store_true",
            help="Restore nothing: erase again every account the deletion ledger names (after `candor "
            "migrate`, when a restore said so).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["reapply_ledger"]:
                if options["path"] is not None:
                    raise CommandError("--reapply-ledger restores nothing: give no backup file with it.")
                self.reapply_ledger()
                return
            if options["path"] is None:
                raise CommandError("Name the backup file to restore: candor restore PATH --yes")
            self.restore(options["path"], confirmed=options["yes"], keys_file=options["keys"])
        except backup.BackupError as error:
            raise CommandError(str(error)) from None

    def restore(self, path: Path, *, confirmed: bool, keys_file: Path | None) -> None:
        backup.check_backup_file(path)
        if not confirmed:
            raise CommandError(
                f"This replaces {backup.describe_database()} with the backup {path}: every account, model, "
                "file record, token and setting made or changed since that backup was taken is lost (model "
                "files in storage are not touched). Accounts deleted since then are erased again from it. "
                "Stop the web server and the worker, then run the same command with --yes. "
                "Nothing was changed."
            )
        outcome = restore.restore(path, keys_file=keys_file, say=self.stdout.write)
        self.stdout.write(f"Restored {outcome.path}.")
        self.report_keys(outcome.keys_restored, outcome.without_key)
        if outcome.unknown:
            self.stderr.write(
                "The backup was made by a newer Candor: its schema has migrations this version does not "
                f"know ({', '.join(outcome.unknown)}). Run the version that made it."
            )
        if outcome.erased_again is None:
            raise CommandError(
                "The backup's database schema is older than this version of Candor "
                f"({len(outcome.pending)} migration(s) to apply). Deleted accounts it may hold are not "
                "erased again yet; the deletion ledger is kept in "
                f"{erasure.ledger_path()}. Run, in this order:\n"
                "  candor migrate\n"
                "  candor restore --reapply-ledger\n"
                "and only then start the web server and the worker."
            )
        self.report(outcome.erased_again, outcome.ledger)
        self.report_log(outcome.log_size)
        self.stdout.write(f"Public projection rebuilt from the models: {outcome.projected} public models.")
        self.report_rewrite(outcome.not_rewritten)
        if outcome.busy_checkpoint:
            self.stderr.write(
                "Other processes were reading the database: its write-ahead log will be folded in once "
                "they stop."
            )

    def reapply_ledger(self) -> None:
        pending, _ = restore.migration_state()
        if pending:
            raise CommandError(
                f"The database lacks {len(pending)} migration(s): run `candor migrate` first. "
                "Nothing was changed."
            )
        restored, _ = datakeys.put_keys_back()
        erased_again = restore.reapply()
        self.report_keys(restored, restore.accounts_without_key())
        self.report(erased_again, None)
        self.report_log(restore.mark_restored())
        self.report_rewrite(rewrite.rewrite().skipped)

    def report_log(self, size: int | None) -> None:
        if size is not None:
            self.stdout.write(
                f"Access log: a checkpoint of kind 'restored' was signed at {size} entries, so the published "
                "list shows where the log was set back."
            )

    def report_rewrite(self, skipped: list[str]) -> None:
        if skipped:
            self.stderr.write(
                f"{len(skipped)} table(s) could not be rewritten (another process held them): run "
                "`candor privacy rewrite` once the web server and the worker are stopped."
            )

    def report_keys(self, restored: int, without: int) -> None:
        self.stdout.write(f"Data keys put back from the live database or keys file: {restored}.")
        if without:
            self.stderr.write(
                f"{without} account(s) have no data key (backups never hold them): their encrypted fields "
                "(email addresses…) cannot be read. Restore again with --keys KEYS_FILE from "
                "`candor backup --keys-file` if you have one."
            )

    def report(self, erased_again: int, ledger: int | None) -> None:
        named = f" (the deletion ledger names {ledger})" if ledger is not None else ""
        self.stdout.write(f"Deleted accounts found in the backup and erased again: {erased_again}{named}.")
