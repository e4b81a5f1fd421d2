from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.hub import listing_cache, projection
from candor.lifecycle import erasure, retention, rewrite
from candor.privacy import crypto


class Command(BaseCommand):
    help = (
        "Privacy operations: `sweep [--dry-run]` applies every retention rule of the inventory; "
        "`rewrap` re-wraps every account's data key under the first of CANDOR_MASTER_KEYS; "
        "`verify-keys` checks that the master keys can unwrap the stored data keys; "
        "`rebuild-projection` makes the public projection of the models again from the models. "
        "`rewrite` rewrites the database's tables so that deleted rows leave its files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sweep = sub.add_parser("sweep", help="Delete what the inventory's retention rules say has expired.")
        sweep.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")
        sub.add_parser("rewrap", help="Re-wrap every data key under the current (first) master key.")
        sub.add_parser("verify-keys", help="Check that every stored data key can be unwrapped.")
        sub.add_parser(
            "rebuild-projection",
            help="Make the public projection (what listings show) again from the encrypted models.",
        )
        sub.add_parser(
            "rewrite",
            help="Rewrite the tables that hold people's rows (VACUUM FULL on PostgreSQL, VACUUM on "
            "SQLite), so that the bytes of deleted rows leave the database's files. Each table is "
            "locked while it is rewritten.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "rewrap":
            crypto.verify_keyring_at_start_up()
            count = crypto.rewrap_all()
            current = crypto.current_master_key_id()
            self.stdout.write(
                f"Re-wrapped {count} data key{'s' if count != 1 else ''} under the master key {current!r}. "
                "Keys no data key names any more may now be removed from CANDOR_MASTER_KEYS."
            )
            return
        if action == "rebuild-projection":
            crypto.verify_keyring_at_start_up()
            count = projection.rebuild_projection()
            listing_cache.purge()
            self.stdout.write(f"Public projection rebuilt: {count} public model{'s' if count != 1 else ''}.")
            return
        if action == "verify-keys":
            crypto.verify_keyring_at_start_up()
            self.stdout.write("Every stored data key can be unwrapped with CANDOR_MASTER_KEYS.")
            return
        if action == "rewrite":
            result = rewrite.rewrite()
            done = f"Rewrote {len(result.tables)} table{'s' if len(result.tables) != 1 else ''}"
            if result.records:
                waited = (
                    "1 erased account was"
                    if result.records == 1
                    else f"{result.records} erased accounts were"
                )
                done += f"; {waited} waiting for it"
            self.stdout.write(done + ".")
            if result.skipped:
                raise CommandError(
                    f"{len(result.skipped)} table(s) were held by other processes and not rewritten: "
                    f"{', '.join(result.skipped)}. Run it again at a quieter time."
                )
            return
        dry_run = options["dry_run"]
        outcomes = retention.sweep(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for outcome in outcomes:
            self.stdout.write(f"{outcome.model}: {outcome.rule}: {verb} {outcome.count}")
        leftovers = retention.recover_leftovers(dry_run=dry_run)
        self.stdout.write(f"Temporary files left by crashes or of deleted accounts: {verb} {leftovers}")
        total = sum(o.count for o in outcomes)
        finished = 0
        if not dry_run:
            finished = erasure.finish_unfinished()
            rewritten = rewrite.after_sweep(total)
            if rewritten is not None and not rewritten.deferred:
                self.stdout.write(
                    f"Rewrote {len(rewritten.tables)} tables, so the deleted rows leave the database's files."
                )
        done = "Dry run: nothing deleted" if dry_run else "Done"
        self.stdout.write(
            f"{done}. {total} row{'s' if total != 1 else ''} {verb} under {len(outcomes)} rules."
        )
        if finished:
            self.stdout.write(f"Finished {finished} account deletion{'s' if finished != 1 else ''}.")
