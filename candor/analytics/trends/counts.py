"""The true counts behind a trends report, read from the aggregate tables.

Reads use the coarsest rows that cover the range (month rows for the whole months inside it, day rows
at the edges), never the hourly ones. Every read of model counts is joined with the models the popular
lists may show at this moment (:func:`candor.analytics.popularity.eligible_models`, which asks
:func:`candor.hub.visibility.listed_models`), so a model made private, deleted or opted out is never
counted in, not even in "Other".
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet, Sum

from candor.analytics import popularity
from candor.analytics.models import (
    DailyUnique,
    Dimension,
    DimensionDaily,
    ModelDaily,
    ModelMonthly,
    RouteDaily,
)
from candor.analytics.trends.ranges import TrendsQuery, bucket, month_end
from candor.hub.models import PublicModel

DIMENSION_TABLES = {
    Dimension.BROWSER.value: "browsers",
    Dimension.LANGUAGE.value: "languages",
    Dimension.REFERRER.value: "referrers",
}


@dataclass
class Counts:
    """One range's counts, before noise and suppression."""

    visits: list[int]  # requests by people, per period
    bots: int  # requests by known bots, the whole range
    visitors: list[int]  # the daily visitor estimates added up per period
    tables: dict[str, dict[Hashable, int]]  # browsers, languages, referrers (by label), models (by id)
    # The models left out of ``tables["models"]`` when only the top ones were read: their total.
    models_rest: int | None = None


def candidate_models() -> QuerySet[PublicModel]:
    """The models the report may name: the same as the popular lists'."""
    return popularity.eligible_models()


def read(query: TrendsQuery, *, top_models: int | None) -> Counts:
    """The counts of ``query``. With ``top_models``, the models table holds the most requested ones
    and ``models_rest`` the others' total; without, every candidate model, zero for those not counted
    (what a DP release draws noise for)."""
    visits, bots = route_counts(query)
    tables = dimension_counts(query)
    rest: int | None = None
    if top_models is None:
        tables["models"] = all_models(query)
    else:
        top, total = top_models_of(query, top_models)
        tables["models"] = top
        rest = total - sum(top.values())
    return Counts(visits, bots, visitor_counts(query), tables, rest)


def route_counts(query: TrendsQuery) -> tuple[list[int], int]:
    rows = (
        RouteDaily.objects.filter(day__gte=query.start, day__lte=query.end)
        .order_by()
        .values("day")
        .annotate(people=Sum("views"), bots=Sum("bot_views"))
        .values_list("day", "people", "bots")
    )
    fetched = list(rows)
    return bucket(query, ((day, people) for day, people, _ in fetched)), sum(b or 0 for *_, b in fetched)


def visitor_counts(query: TrendsQuery) -> list[int]:
    rows = DailyUnique.objects.filter(model_id=0, day__gte=query.start, day__lte=query.end).values_list(
        "day", "visitors"
    )
    return bucket(query, rows)


def dimension_counts(query: TrendsQuery) -> dict[str, dict[Hashable, int]]:
    tables: dict[str, dict[Hashable, int]] = {name: {} for name in DIMENSION_TABLES.values()}
    rows = (
        DimensionDaily.objects.filter(day__gte=query.start, day__lte=query.end)
        .order_by()
        .values("dimension", "value")
        .annotate(n=Sum("views"))
        .values_list("dimension", "value", "n")
    )
    for dimension, value, n in rows:
        table = DIMENSION_TABLES.get(dimension)
        if table is not None:
            tables[table][value] = int(n or 0)
    return tables


@dataclass(frozen=True)
class ModelPlan:
    """Which rows add up to each model's count over a range: month rows for ``months`` (first days of
    the first and last month, or None), plus or minus day rows for each of ``days``."""

    months: tuple[date, date] | None
    days: list[tuple[date, date, int]]  # (first, last, +1 or -1)


def model_plan(start: date, end: date) -> ModelPlan:
    """The fewest rows that give each model's count over [start, end].

    A whole month is one month row. A month the range only partly covers is either its days inside
    the range, or its month row less its days outside the range, whichever reads fewer day rows:
    a year that ends yesterday reads its last month as a month row less today's (and later) rows, not
    as some thirty day rows. Month and day rows are written by the same flush, so the two agree.
    """
    months: list[date] = []
    days: list[tuple[date, date, int]] = []
    month = start.replace(day=1)
    while month <= end:
        last = month_end(month)
        first_in, last_in = max(month, start), min(last, end)
        inside = (last_in - first_in).days + 1
        length = (last - month).days + 1
        if inside == length:
            months.append(month)
        elif inside <= length - inside:
            days.append((first_in, last_in, 1))
        else:
            months.append(month)
            if first_in > month:
                days.append((month, first_in - timedelta(days=1), -1))
            if last_in < last:
                days.append((last_in + timedelta(days=1), last, -1))
        month = last + timedelta(days=1)
    # Only the first and last month can be partial, so the months kept are consecutive.
    return ModelPlan((months[0], months[-1]) if months else None, days)


def _counted_in(table: str, column: str, sign: int) -> str:
    """One table's (model_id, n) rows between two dates (the parameters), n negated if ``sign`` < 0."""
    quote = connection.ops.quote_name
    n = "views + downloads" if sign > 0 else "-(views + downloads)"
    return (
        f"SELECT model_id, {n} AS n FROM {quote(table)} "  # noqa: S608 - names from the models
        f"WHERE {quote(column)} >= %s AND {quote(column)} <= %s"
    )


def _model_sql(query: TrendsQuery) -> tuple[str, list[Any]]:
    """SQL giving (model_id, total) rows: each candidate model's views and downloads in the range.

    The counts are added up per model first and joined with the candidate models after, which costs
    one primary-key look-up per counted model rather than a membership test per row read.
    """
    adapt = connection.ops.adapt_datefield_value
    plan = model_plan(query.start, query.end)
    parts: list[str] = []
    params: list[Any] = []
    if plan.months is not None:
        parts.append(_counted_in(ModelMonthly._meta.db_table, "month", 1))
        params += [adapt(plan.months[0]), adapt(plan.months[1])]
    for first, last, sign in plan.days:
        parts.append(_counted_in(ModelDaily._meta.db_table, "day", sign))
        params += [adapt(first), adapt(last)]
    listed_sql, listed_params = candidate_models().values(candidate=F("pk")).query.sql_with_params()
    sql = (
        "SELECT grouped.model_id, grouped.total FROM ("  # noqa: S608
        "SELECT counted.model_id, SUM(counted.n) AS total "
        f"FROM ({' UNION ALL '.join(parts)}) counted GROUP BY counted.model_id"
        f") grouped JOIN ({listed_sql}) listed ON listed.candidate = grouped.model_id"
    )
    return sql, [*params, *listed_params]


def top_models_of(query: TrendsQuery, limit: int) -> tuple[dict[Hashable, int], int]:
    """The ``limit`` most requested candidate models, and the total of all candidate models."""
    sql, params = _model_sql(query)
    # One pass: the window's sum covers every group before LIMIT keeps the first rows.
    ranked = (
        f"SELECT model_id, total, SUM(total) OVER () FROM ({sql}) ranked "  # noqa: S608
        "ORDER BY total DESC, model_id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(ranked, [*params, limit])
        rows = cursor.fetchall()
    top: dict[Hashable, int] = {int(mid): int(total or 0) for mid, total, _ in rows}
    return top, int(rows[0][2] or 0) if rows else 0


def all_models(query: TrendsQuery) -> dict[Hashable, int]:
    """Every candidate model's count, zero for those without any: the DP release draws noise for each,
    so that whether a model was counted at all is as protected as how often."""
    counts: dict[Hashable, int] = dict.fromkeys(candidate_models().values_list("pk", flat=True), 0)
    sql, params = _model_sql(query)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for mid, total in cursor.fetchall():
            counts[int(mid)] = int(total or 0)
    return counts
