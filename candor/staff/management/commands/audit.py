"""``candor audit verify|checkpoint``: check the access log's chain and checkpoints, or sign one now."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.staff import checkpoints, verify


class Command(BaseCommand):
    help = (
        "The access log: `verify` recomputes its hash chain from the first entry and checks every signed "
        "checkpoint (exit status 1 and the first problem when anything is wrong); `checkpoint` signs "
        "the log's size and head now, as the worker does on its schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("verify", help="Verify the chain and every checkpoint.")
        check.add_argument(
            "--public-key",
            metavar="KEY",
            help="The Ed25519 public key to check signatures with (URL-safe base64, as published at "
            "/transparency/log/checkpoints); the configured key's by default.",
        )
        sub.add_parser("checkpoint", help="Sign a checkpoint now (none when the log has not grown).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "checkpoint":
            made = checkpoints.make_checkpoint(acting_user=None)
            if made is None:
                self.stdout.write("The log has not grown since the last checkpoint: none was made.")
            else:
                self.stdout.write(
                    f"Checkpoint signed: {made.size} entries, head {made.head_hash[:16]}…, key {made.key_id}."
                )
            return
        key = None
        if options["public_key"] is not None:
            try:
                key = checkpoints.parse_public_key(options["public_key"])
            except ValueError as error:
                raise CommandError(f"--public-key: {error}.") from None
        started = time.monotonic()
        outcome = verify.verify(key=key)
        seconds = time.monotonic() - started
        for gap in outcome.gaps:
            self.stdout.write(f"Gap: {gap.describe()}.")
        if not outcome.ok:
            where = "" if outcome.position is None else f" (first bad entry: {outcome.position})"
            raise CommandError(f"The access log does NOT verify{where}: {outcome.problem}.")
        self.stdout.write(
            f"The access log verifies: {outcome.entries} entries chained from the first, "
            f"{outcome.checkpoints} checkpoints signed by key {outcome.key_id} and matched"
            + (f", {len(outcome.gaps)} restore(s) shown as gaps" if outcome.gaps else "")
            + f" ({seconds:.1f} s)."
        )
