"""``candor analytics status|rollup``: what the usage counters hold, and the rollup on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Max, Min, Model

from candor.analytics import noise, salt, tasks
from candor.analytics.models import (
    DailyUnique,
    DimensionDaily,
    ModelDaily,
    ModelHourly,
    ModelMonthly,
    RouteDaily,
    RouteHourly,
)
from candor.analytics.trends import ledger as releases

# Each counter table and the column that says which period a row counts.
TABLES: tuple[tuple[type[Model], str], ...] = (
    (RouteHourly, "hour"),
    (RouteDaily, "day"),
    (ModelHourly, "hour"),
    (ModelDaily, "day"),
    (ModelMonthly, "month"),
    (DimensionDaily, "day"),
    (DailyUnique, "day"),
)


class Command(BaseCommand):
    help = (
        "Usage counters: `status` says what the tables hold, which salts exist and what the trends "
        "ledger has spent; `rollup` runs the worker's rollup now (Redis's counts into the database, "
        "ended days' salts destroyed, old hourly rows dropped, deleted models' counts removed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="What the counters, salts and release ledger hold.")
        sub.add_parser("rollup", help="Run the rollup now, as the worker does on its schedule.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "rollup":
            outcome = tasks.run()
            self.stdout.write(
                f"Rollup done: {outcome.moved} counters moved from Redis, {outcome.salts_destroyed} "
                f"salts destroyed, {outcome.hourly_rolled_up} hourly rows dropped, "
                f"{outcome.orphans_removed} rows of deleted models removed."
            )
            return
        self._status()

    def _status(self) -> None:
        write = self.stdout.write
        mode = "Redis, rolled up by the worker" if settings.REDIS_URL else "the database"
        write(f"Counting: {'on' if settings.ANALYTICS_ENABLED else 'off'}; counts go to {mode}.")
        write(
            f"Flush: every {settings.ANALYTICS_FLUSH_SECONDS} s or {settings.ANALYTICS_FLUSH_KEYS} counters; "
            f"hourly rows kept {settings.ANALYTICS_HOURLY_DAYS} days."
        )
        write("")
        write(f"{'table':<28} {'rows':>12}  {'first':<10}  {'last':<10}")
        for table, column in TABLES:
            rows_of = table._default_manager
            found = rows_of.aggregate(first=Min(column), last=Max(column))
            rows = rows_of.count()
            first, last = (_day(found["first"]), _day(found["last"])) if rows else ("-", "-")
            write(f"{table._meta.db_table:<28} {rows:>12,}  {first:<10}  {last:<10}")
        write("")
        days = salt.held_days()
        today = datetime.now(UTC).date()
        ended = [day for day in days if day < today]
        held = ", ".join(day.isoformat() for day in days) or "none"
        write(f"Visitor-hash salts held: {held}.")
        if ended:
            write(f"  {len(ended)} of them belong to an ended day: `candor analytics rollup` destroys them.")
        ledger = releases.summary(recent=0)
        write(
            f"Trends releases with noise: {ledger['releases']}, epsilon spent {ledger['epsilon']:g} over "
            f"{ledger['cells']:,} figures (epsilon per release now: {noise.epsilon():g})."
        )
        budget = ledger["budget"]
        write(f"Budget: {'no limit' if budget is None else f'epsilon {budget:g} in all'}.")


def _day(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
