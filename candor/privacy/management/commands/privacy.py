from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from candor.privacy import retention


class Command(BaseCommand):
    help = "Privacy operations. `privacy sweep [--dry-run]` applies every retention rule of the inventory."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sweep = sub.add_parser("sweep", help="Delete what the inventory's retention rules say has expired.")
        sweep.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        outcomes = retention.sweep(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for outcome in outcomes:
            self.stdout.write(f"{outcome.model}: {outcome.rule}: {verb} {outcome.count}")
        total = sum(o.count for o in outcomes)
        done = "Dry run: nothing deleted" if dry_run else "Done"
        self.stdout.write(
            f"{done}. {total} row{'s' if total != 1 else ''} {verb} under {len(outcomes)} rules."
        )
