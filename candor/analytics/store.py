"""Writing batches of counts into the database.

Counts are added with ``INSERT … ON CONFLICT … DO UPDATE SET n = table.n + excluded.n``, one statement per
few hundred rows, on SQLite and PostgreSQL alike. Django's ``bulk_create(update_conflicts=True)`` can only
overwrite a conflicting row, not add to it, hence the SQL here. Rows are written in key order, so two
processes flushing at once on PostgreSQL wait for each other's row locks instead of deadlocking, and
every addition lands exactly once.

One flush writes each model's hour, day and month rows together, so the reports read the coarsest rows
that cover their range (a year's ranking reads month rows) and never need the hourly ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction

from candor.analytics import sketch
from candor.analytics.batch import Batch
from candor.analytics.models import (
    DailyUnique,
    DimensionDaily,
    ModelDaily,
    ModelHourly,
    ModelMonthly,
    RouteDaily,
    RouteHourly,
)

CHUNK = 500


def _value(item: Any) -> Any:
    ops = connection.ops
    if isinstance(item, datetime):
        return ops.adapt_datetimefield_value(item)
    if isinstance(item, date):
        return ops.adapt_datefield_value(item)
    return item


def add_rows(
    model: Any,
    keys: Sequence[str],
    counts: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    replace: bool = False,
) -> int:
    """Add ``rows`` (key values, then count values) to ``model``'s table; returns the number of rows.

    With ``replace`` the counts overwrite the stored ones instead of adding to them.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    names = [*keys, *counts]
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)
    conflict = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in keys)
    updates = ", ".join(
        f"{q} = excluded.{q}" if replace else f"{q} = {table}.{q} + excluded.{q}"
        for q in (connection.ops.quote_name(model._meta.get_field(n).column) for n in counts)
    )
    placeholder = "(" + ", ".join(["%s"] * len(names)) + ")"
    ordered = sorted(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
            cursor.execute(sql, [_value(v) for row in chunk for v in row])
    return len(ordered)


def _month(day: date) -> date:
    return day.replace(day=1)


def write(batch: Batch, unique_counts: dict[tuple[date, int], int] | None = None) -> None:
    """Add a batch to the database in one transaction.

    Visitors come either as hashes to merge into the stored sketches (embedded mode) or, from the Redis
    rollup, as ready estimates in ``unique_counts`` that replace the stored figure.
    """
    route_rows: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0])
    for (hour, route, bot), n in batch.routes.items():
        route_rows[(hour, route)][1 if bot else 0] += n
    route_days: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for (hour, route), (views, bots) in route_rows.items():
        route_days[(hour.date(), route)][0] += views
        route_days[(hour.date(), route)][1] += bots

    model_hours: dict[tuple[datetime, int], list[int]] = defaultdict(lambda: [0, 0])
    for (hour, model_id, kind), n in batch.models.items():
        model_hours[(hour, model_id)][1 if kind == "download" else 0] += n
    model_days: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    model_months: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for (hour, model_id), (views, downloads) in model_hours.items():
        for bucket in (model_days[(hour.date(), model_id)], model_months[(_month(hour.date()), model_id)]):
            bucket[0] += views
            bucket[1] += downloads

    with transaction.atomic():
        add_rows(RouteHourly, ["hour", "route"], ["views", "bot_views"], _flat(route_rows))
        add_rows(RouteDaily, ["day", "route"], ["views", "bot_views"], _flat(route_days))
        add_rows(ModelHourly, ["hour", "model_id"], ["views", "downloads"], _flat(model_hours))
        add_rows(ModelDaily, ["day", "model_id"], ["views", "downloads"], _flat(model_days))
        add_rows(ModelMonthly, ["month", "model_id"], ["views", "downloads"], _flat(model_months))
        add_rows(
            DimensionDaily,
            ["day", "dimension", "value"],
            ["views"],
            ((day, dim, value, n) for (day, dim, value), n in batch.dimensions.items()),
        )
        if batch.visitors:
            _merge_sketches(batch.visitors)
        if unique_counts:
            _replace_estimates(unique_counts)


def _flat(rows: dict[tuple[Any, ...], list[int]]) -> list[tuple[Any, ...]]:
    return [(*key, *values) for key, values in rows.items()]


def _merge_sketches(visitors: dict[tuple[date, int], set[int]]) -> None:
    keys = sorted(visitors)
    add_rows(DailyUnique, ["day", "model_id"], ["visitors"], ((day, mid, 0) for day, mid in keys))
    days = {day for day, _ in keys}
    ids = {mid for _, mid in keys}
    # Locked in key order (PostgreSQL); on SQLite the write transaction already excludes other writers.
    stored = {
        (row.day, row.model_id): row
        for row in DailyUnique.objects.select_for_update()
        .filter(day__in=days, model_id__in=ids)
        .order_by("day", "model_id")
    }
    changed = []
    for key in keys:
        row = stored[key]
        merged = sketch.build(visitors[key], sketch.precision_for(key[1]), bytes(row.registers or b""))
        row.registers = sketch.to_bytes(merged)
        row.visitors = sketch.estimate(merged)
        changed.append(row)
    DailyUnique.objects.bulk_update(changed, ["registers", "visitors"], batch_size=200)


def _replace_estimates(counts: dict[tuple[date, int], int]) -> None:
    rows = ((day, mid, n) for (day, mid), n in counts.items())
    add_rows(DailyUnique, ["day", "model_id"], ["visitors"], rows, replace=True)


@contextmanager
def reporting() -> Iterator[None]:
    """Around a report's few large aggregations: on PostgreSQL, no JIT compilation (on these queries
    it costs more than it saves, about a third of a second) and enough memory to add up 100,000 groups
    without spilling to disk. Both only for the transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        yield
