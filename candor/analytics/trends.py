"""The public trends report (clause C8): aggregates only, small cells suppressed, optional DP noise.

What it shows, for a range of closed or current UTC days, by day, week (Monday to Sunday) or month:

- visits: requests by people (pages and API reads) per period, from the daily route counters. Requests
  from known bots are left out of every figure and given apart as one total;
- unique visitors: per period, the sum of the daily site-wide estimates. A visitor's hash is salted
  with a key that changes every day, so someone who comes back on another day counts again;
- shares of browser families and languages, the top referring sites, and the top public models (views
  and downloads together).

**Suppression.** No released figure counts fewer than k (``settings.TRENDS_MIN_COUNT``). A period under
k is withheld; in a table, entries under k (and those past the top rows) are merged into "Other". Two
more rules keep a withheld figure from being worked out by subtraction, since the browser and language
tables each add up to the visits: if "Other" comes to fewer than k, the smallest listed entries join it
until it reaches k (and it is withheld if it never does); if the withheld periods of a series together
count fewer than k, the smallest shown period is withheld too. Suppression alone does not stop someone
from subtracting two reports whose ranges differ by one day; that is what the noise is for.

**Differential privacy** (``settings.TRENDS_DP_EPSILON`` > 0). Every count gets noise from OpenDP's
discrete Laplace mechanism before suppression, which then works on the noisy figures. One request adds
one to at most one cell of each of the six tables (visits, visitors, browsers, languages, referrers,
models), and cells within a table are disjoint, so each table gets ε/6 with sensitivity 1 and the
release spends ε by sequential composition. This protects one request (event-level privacy), not a
person, who may make many. Two limits, stated rather than hidden: the daily visitor figures are
HyperLogLog estimates, which follow a change of one visitor only approximately; and the browser,
language and referrer labels come from the data (a label appears only when its noisy count reaches k),
which makes those tables (ε, δ)-private with a small δ, while the model table draws noise for every
public model, counted or not.

A DP release is computed once, stored in the ledger (:class:`TrendsRelease`) and served as stored ever
after, so asking again spends nothing and cannot average the noise away; it covers closed days only,
since a day still being counted would change. With ``settings.TRENDS_DP_BUDGET`` set, the ledger's total
may not pass it: once a new release would, only the ranges released before are served. Without DP,
nothing is recorded and reports are computed on request, kept a minute in the cache.

Every read of model counts is joined with the public models of the moment
(:func:`candor.hub.visibility.listed_models`); a stored release keeps model ids, not names, and names
them through the same helper when it is shown, so a model made private or deleted leaves it at once.
Reads use the coarsest rows that cover the range (month rows for the whole months inside it, day rows
at the edges), never the hourly ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, QuerySet, Sum
from django.urls import reverse
from django.utils.http import urlencode

from candor.analytics import popularity, store
from candor.analytics.models import (
    DailyUnique,
    Dimension,
    DimensionDaily,
    ModelDaily,
    ModelMonthly,
    RouteDaily,
    TrendsRelease,
)
from candor.hub import listing_cache
from candor.hub.models import MLModel

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
# The longest range each granularity may cover: a (leap) year by day, five years by week or month.
MAX_DAYS: dict[str, int] = {"day": 366, "week": 5 * 365 + 2, "month": 5 * 365 + 2}
DEFAULT_DAYS = 30
EARLIEST = date(2000, 1, 1)  # no report reaches further back (and date arithmetic stays in range)
# Rows listed before the rest are merged into "Other".
TOP_ROWS = {"browsers": 12, "languages": 12, "referrers": 20, "models": 20}
OTHER = "Other"
TABLES = ("visits", "visitors", "browsers", "languages", "referrers", "models")
CATEGORY_TABLES = ("browsers", "languages", "referrers", "models")
LIVE_SECONDS = 60  # how long a report without DP is kept in the cache
FORMAT = 1  # the shape of a stored release

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIMENSION_TABLE = {
    Dimension.BROWSER.value: "browsers",
    Dimension.LANGUAGE.value: "languages",
    Dimension.REFERRER.value: "referrers",
}

NOTES = {
    "visits": (
        "Requests by people: pages and API reads of public resources. Requests from known bots are not "
        "in the figures; their total is given apart."
    ),
    "visitors": (
        "Each day's number of distinct visitors is an estimate (HyperLogLog) from hashes salted with a key "
        "that changes every day, so a person who comes back on another day counts again: a week's or a "
        "month's figure is the sum of its days, not the number of different people."
    ),
    "models": "Public models only, views and downloads together; a model its owner keeps out of the lists "
    "does not appear.",
    "periods": "Weeks run from Monday to Sunday; the first and last period may be cut by the range.",
}


class BudgetSpent(Exception):
    """A new DP release would take the ledger past ``settings.TRENDS_DP_BUDGET``."""

    def __init__(self, spent: float, budget: float) -> None:
        self.message = (
            f"This site's privacy budget for the trends report is spent (ε {spent:.3f} of {budget:.3f}): "
            "no new range can be released. The ranges released before can still be shown."
        )
        super().__init__(self.message)


class TrendsError(ValueError):
    """A report that cannot be given: ``field`` is the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TrendsQuery:
    start: date
    end: date
    granularity: Granularity

    @property
    def key(self) -> str:
        """The release's name in the ledger, e.g. "2026-01-01/2026-06-30/week"."""
        return f"{self.start.isoformat()}/{self.end.isoformat()}/{self.granularity}"


# --- settings and validation ------------------------------------------------------------------------
def min_count() -> int:
    return max(1, int(settings.TRENDS_MIN_COUNT))


def dp_epsilon() -> float:
    return max(0.0, float(settings.TRENDS_DP_EPSILON))


def dp_enabled() -> bool:
    return dp_epsilon() > 0


def dp_budget() -> float | None:
    """The total ε all releases may spend, or None for no limit."""
    budget = float(settings.TRENDS_DP_BUDGET)
    return budget if budget > 0 else None


def _spent() -> float:
    return float(TrendsRelease.objects.aggregate(total=Sum("epsilon"))["total"] or 0.0)


def _check_budget() -> None:
    budget = dp_budget()
    if budget is None:
        return
    spent = _spent()
    # A little slack for the floating-point sum: ten releases of 0.1 may spend a budget of 1.0.
    if spent + dp_epsilon() > budget * (1 + 1e-9):
        raise BudgetSpent(spent, budget)


def today() -> date:
    return datetime.now(UTC).date()


def default_range(now: date | None = None) -> tuple[date, date]:
    """The last 30 days; with DP on, the 30 days up to yesterday (a release covers closed days only)."""
    current = now or today()
    end = current - timedelta(days=1) if dp_enabled() else current
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def parse_date(text: str, field: str) -> date:
    if not _ISO_DATE.fullmatch(text):
        raise TrendsError(field, "Write the date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise TrendsError(field, "This date does not exist.") from None
    if day < EARLIEST:
        raise TrendsError(field, f"Reports begin on {EARLIEST.isoformat()}.")
    return day


def validate(start: date, end: date, granularity: str, *, now: date | None = None) -> TrendsQuery:
    """The query if it may be answered; otherwise TrendsError naming the parameter at fault."""
    current = now or today()
    if granularity not in GRANULARITIES:
        raise TrendsError("granularity", "Choose day, week or month.")
    if start < EARLIEST:
        raise TrendsError("from", f"Reports begin on {EARLIEST.isoformat()}.")
    if start > current:
        raise TrendsError("from", f"The report cannot start after today ({current.isoformat()}).")
    if end > current:
        raise TrendsError("to", f"The report cannot end after today ({current.isoformat()}).")
    if start > end:
        raise TrendsError("from", "The start date comes after the end date.")
    days = (end - start).days + 1
    limit = MAX_DAYS[granularity]
    if days > limit:
        years = "a year" if granularity == "day" else "five years"
        raise TrendsError(
            "from",
            f"A report by {granularity} covers at most {limit} days ({years}); this range has {days}.",
        )
    if dp_enabled() and end >= current:
        raise TrendsError(
            "to",
            "With differential privacy on, a report covers closed days only: end the range on "
            f"{(current - timedelta(days=1)).isoformat()} or earlier.",
        )
    return TrendsQuery(start, end, granularity)


def parse(start: str | None, end: str | None, granularity: str | None) -> TrendsQuery:
    """A query from text parameters (each may be missing: the default is the last 30 days by day)."""
    default_start, default_end = default_range()
    start_day = parse_date(start, "from") if start else None
    end_day = parse_date(end, "to") if end else None
    if start_day is None:
        start_day = default_start if end_day is None else end_day - timedelta(days=DEFAULT_DAYS - 1)
    return validate(start_day, end_day or default_end, granularity or "day")


# --- periods --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str


def periods(query: TrendsQuery) -> list[Period]:
    """The range cut into days, weeks (Monday to Sunday) or months, the edges cut by the range."""
    found: list[Period] = []
    day = query.start
    while day <= query.end:
        if query.granularity == "day":
            last, label = day, day.isoformat()
        elif query.granularity == "week":
            last, label = day + timedelta(days=6 - day.weekday()), day.isoformat()
        else:
            last, label = _month_end(day), f"{day:%Y-%m}"
        last = min(last, query.end)
        found.append(Period(day, last, label))
        day = last + timedelta(days=1)
    return found


def _month_end(day: date) -> date:
    following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return following - timedelta(days=1)


def _bucket(query: TrendsQuery, by_day: Iterable[tuple[date, int]]) -> list[int]:
    """Day figures added up per period."""
    spans = periods(query)
    index: dict[date, int] = {}
    for position, period in enumerate(spans):
        day = period.start
        while day <= period.end:
            index[day] = position
            day += timedelta(days=1)
    sums = [0] * len(spans)
    for day, value in by_day:
        if day in index:
            sums[index[day]] += int(value or 0)
    return sums


# --- reading the aggregates -----------------------------------------------------------------------
def candidate_models() -> QuerySet[MLModel]:
    """The models the report may name: the same as the popular lists'."""
    return popularity.eligible_models()


def _route_counts(query: TrendsQuery) -> tuple[list[int], int]:
    rows = (
        RouteDaily.objects.filter(day__gte=query.start, day__lte=query.end)
        .order_by()
        .values("day")
        .annotate(people=Sum("views"), bots=Sum("bot_views"))
        .values_list("day", "people", "bots")
    )
    fetched = list(rows)
    return _bucket(query, ((day, people) for day, people, _ in fetched)), sum(b or 0 for *_, b in fetched)


def _visitor_counts(query: TrendsQuery) -> list[int]:
    rows = DailyUnique.objects.filter(model_id=0, day__gte=query.start, day__lte=query.end).values_list(
        "day", "visitors"
    )
    return _bucket(query, rows)


def _dimension_counts(query: TrendsQuery) -> dict[str, dict[Any, int]]:
    tables: dict[str, dict[Any, int]] = {name: {} for name in _DIMENSION_TABLE.values()}
    rows = (
        DimensionDaily.objects.filter(day__gte=query.start, day__lte=query.end)
        .order_by()
        .values("dimension", "value")
        .annotate(n=Sum("views"))
        .values_list("dimension", "value", "n")
    )
    for dimension, value, n in rows:
        table = _DIMENSION_TABLE.get(dimension)
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
        last = _month_end(month)
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


def _top_models(query: TrendsQuery, limit: int) -> tuple[dict[Any, int], int]:
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
    top = {int(mid): int(total or 0) for mid, total, _ in rows}
    return top, int(rows[0][2] or 0) if rows else 0


def _all_models(query: TrendsQuery) -> dict[Any, int]:
    """Every candidate model's count, zero for those without any: the DP release draws noise for each,
    so that whether a model was counted at all is as protected as how often."""
    counts: dict[Any, int] = dict.fromkeys(candidate_models().values_list("pk", flat=True), 0)
    sql, params = _model_sql(query)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for mid, total in cursor.fetchall():
            counts[int(mid)] = int(total or 0)
    return counts


# --- suppression ----------------------------------------------------------------------------------
def suppress_series(values: Sequence[int], k: int) -> list[int | None]:
    """Withhold (None) every period under k; then, while the withheld periods together count more than
    nothing but fewer than k, withhold the smallest shown period as well."""
    shown: list[int | None] = [v if v >= k else None for v in values]
    withheld = sum(v for v, s in zip(values, shown, strict=True) if s is None)
    while 0 < withheld < k:
        candidates = [i for i, s in enumerate(shown) if s is not None]
        if not candidates:
            break
        smallest = min(candidates, key=lambda i: (values[i], i))
        withheld += values[smallest]
        shown[smallest] = None
    return shown


@dataclass
class Table:
    rows: list[tuple[Any, int]]  # (label or model id, count), largest first
    other: int | None  # None: withheld
    has_other: bool


def suppress_table(counts: dict[Any, int], k: int, top: int, *, extra_other: int | None = None) -> Table:
    """The entries of k or more (at most ``top`` of them, largest first); the rest merged into "Other".

    ``extra_other`` is a count that belongs to "Other" without entries of its own (the models past the
    top rows, when only those were read). An "Other" under k takes the smallest listed entries until it
    reaches k, and is withheld if it never does.
    """
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    rows = [(key, n) for key, n in ordered if n >= k and key != OTHER][:top]
    listed = {key for key, _ in rows}
    rest = [n for key, n in ordered if key not in listed]
    other = sum(rest) + (extra_other or 0)
    has_other = bool(rest) or bool(extra_other)
    if has_other and other == 0 and all(n == 0 for n in rest):
        has_other = False  # nothing but zeros: nothing to merge, nothing to protect
    while has_other and other < k and rows:
        _, n = rows.pop()
        other += n
    return Table(rows, other if (has_other and other >= k) else None, has_other)


# --- noise ----------------------------------------------------------------------------------------
def _laplace(epsilon: float) -> Any:
    """OpenDP's discrete Laplace mechanism for a vector of integer counts of L1 sensitivity 1, spending
    ``epsilon``."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return dp.m.make_laplace(*space, scale=1.0 / epsilon)


class _Noise:
    """Adds noise table by table and adds up the ε each measurement spends."""

    def __init__(self, epsilon_per_table: float) -> None:
        self.mechanism = _laplace(epsilon_per_table)
        self.scale = 1.0 / epsilon_per_table
        self.spent = 0.0

    def table(self, values: list[int]) -> list[int]:
        self.spent += float(self.mechanism.map(1))
        return [int(v) for v in self.mechanism(values)] if values else []


# --- releases -------------------------------------------------------------------------------------
def _table_out(table: Table) -> dict[str, Any]:
    return {
        "rows": [[key, n] for key, n in table.rows],
        "other": table.other,
        "has_other": table.has_other,
    }


def compute(query: TrendsQuery, *, noisy: bool) -> dict[str, Any]:
    """The release for ``query``: suppressed figures, with noise if ``noisy``, as plain JSON data.

    Model rows are given by id; :func:`present` names them. This is what the ledger stores.
    """
    with store.reporting():
        return _compute(query, noisy=noisy)


def _compute(query: TrendsQuery, *, noisy: bool) -> dict[str, Any]:
    k = min_count()
    visits, bots = _route_counts(query)
    visitors = _visitor_counts(query)
    tables = _dimension_counts(query)
    dp_out: dict[str, Any] = {"enabled": noisy, "epsilon": 0.0, "epsilon_per_table": 0.0}
    extra_other: int | None = None
    if noisy:
        tables["models"] = _all_models(query)
        noise = _Noise(dp_epsilon() / len(TABLES))
        noisy_visits = noise.table([*visits, bots])
        visits, bots = noisy_visits[:-1], noisy_visits[-1]
        visitors = noise.table(visitors)
        for name in CATEGORY_TABLES:
            keys = list(tables[name])
            tables[name] = dict(zip(keys, noise.table([tables[name][key] for key in keys]), strict=True))
        dp_out = {
            "enabled": True,
            "epsilon": noise.spent,
            "epsilon_per_table": noise.spent / len(TABLES),
            "mechanism": "discrete Laplace (OpenDP)",
            "scale": noise.scale,
            "unit": "one request",
        }
    else:
        tables["models"], total = _top_models(query, TOP_ROWS["models"])
        extra_other = total - sum(tables["models"].values())
    released: dict[str, Any] = {
        "format": FORMAT,
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "granularity": query.granularity,
        "k": k,
        "dp": dp_out,
        "visits": suppress_series(visits, k),
        "bots": bots if bots >= k else None,
        "visitors": suppress_series(visitors, k),
    }
    for name in CATEGORY_TABLES:
        released[name] = _table_out(
            suppress_table(
                tables[name], k, TOP_ROWS[name], extra_other=extra_other if name == "models" else None
            )
        )
    released["cells"] = count_cells(released)
    return released


def count_cells(released: dict[str, Any]) -> int:
    """How many figures the release gives (withheld ones not counted)."""
    cells = sum(v is not None for v in released["visits"]) + sum(v is not None for v in released["visitors"])
    cells += released["bots"] is not None
    for name in CATEGORY_TABLES:
        cells += len(released[name]["rows"]) + (released[name]["other"] is not None)
    return int(cells)


def release(query: TrendsQuery) -> tuple[dict[str, Any], datetime | None]:
    """The release for ``query`` and when it was recorded (None for a live report without DP)."""
    if not dp_enabled():
        # Keyed by the listings' generation, which every visibility change bumps: a model made private
        # leaves the cached figures (its "Other" share included) the moment the change commits.
        cache_key = f"analytics:trends:{query.key}:{min_count()}:{listing_cache.generation()}"
        released = cache.get(cache_key)
        if released is None:
            released = compute(query, noisy=False)
            cache.set(cache_key, released, LIVE_SECONDS)
        return released, None
    stored = TrendsRelease.objects.filter(query=query.key).first()
    if stored is not None:
        return stored.payload, stored.released_at
    _check_budget()  # before the work of computing it
    released = compute(query, noisy=True)
    try:
        with transaction.atomic():
            # Checked again where no other release can be written meanwhile: SQLite's IMMEDIATE
            # transactions hold the write lock from their start; on PostgreSQL a lock on the ledger
            # table does (ROW EXCLUSIVE writers wait, readers do not).
            if dp_budget() is not None and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    table = connection.ops.quote_name(TrendsRelease._meta.db_table)
                    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            _check_budget()
            stored = TrendsRelease.objects.create(
                query=query.key,
                released_at=datetime.now(UTC),
                epsilon=released["dp"]["epsilon"],
                cells=released["cells"],
                payload=released,
            )
    except IntegrityError:
        # Another request released the same query first: serve its release, and this one is never shown.
        stored = TrendsRelease.objects.get(query=query.key)
    return stored.payload, stored.released_at


# --- presentation ---------------------------------------------------------------------------------
def _share(value: int | None, total: int) -> float | None:
    return round(value / total, 4) if value is not None and total > 0 else None


def _present_table(table: dict[str, Any], names: dict[int, tuple[str, str]] | None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for key, value in table["rows"]:
        if names is None:
            rows.append({"label": str(key), "value": int(value)})
            continue
        named = names.get(int(key))
        if named is None:
            continue  # no longer public (or opted out): gone from every report at once
        owner, model = named
        rows.append(
            {
                "label": f"{owner}/{model}",
                "value": int(value),
                "url": settings.WEBSITE_URL + reverse("hub:model", args=[owner, model]),
            }
        )
    other: dict[str, Any] | None = None
    if table["has_other"]:
        other = {"value": table["other"], "withheld": table["other"] is None}
    total = sum(row["value"] for row in rows) + (table["other"] or 0)
    for row in rows:
        row["share"] = _share(row["value"], total)
    if other is not None:
        other["share"] = _share(other["value"], total)
    return {"rows": rows, "other": other}


def _series(query: TrendsQuery, values: Sequence[int | None]) -> list[dict[str, Any]]:
    return [
        {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "label": period.label,
            "value": value,
            "withheld": value is None,
        }
        for period, value in zip(periods(query), values, strict=True)
    ]


def present(released: dict[str, Any], released_at: datetime | None = None) -> dict[str, Any]:
    """The report as published (page, API, CSV): labels, shares, suppression markers.

    Model ids are named through :func:`candor.hub.visibility.listed_models` now, so a model that has
    left the public lists since the release was computed is left out.
    """
    query = TrendsQuery(
        date.fromisoformat(released["start"]),
        date.fromisoformat(released["end"]),
        released["granularity"],
    )
    ids = [int(key) for key, _ in released["models"]["rows"]]
    names = {
        pk: (owner, name)
        for pk, owner, name in candidate_models()
        .filter(pk__in=ids)
        .values_list("pk", "owner__username", "name")
    }
    dp_in = released["dp"]
    return {
        "start": released["start"],
        "end": released["end"],
        "granularity": released["granularity"],
        "k": released["k"],
        "dp": {
            "enabled": bool(dp_in["enabled"]),
            "epsilon": float(dp_in["epsilon"]),
            "epsilon_per_table": float(dp_in["epsilon_per_table"]),
            "unit": "one request (event-level)" if dp_in["enabled"] else None,
            "released_at": released_at.isoformat() if released_at else None,
        },
        "visits": {
            "periods": _series(query, released["visits"]),
            "bots": {"value": released["bots"], "withheld": released["bots"] is None},
        },
        "visitors": {"periods": _series(query, released["visitors"])},
        "browsers": _present_table(released["browsers"], None),
        "languages": _present_table(released["languages"], None),
        "referrers": _present_table(released["referrers"], None),
        "models": _present_table(released["models"], names),
        "notes": NOTES,
    }


def report(start: date, end: date, granularity: str) -> dict[str, Any]:
    """The published trends report for the range; TrendsError if it cannot be given."""
    return report_for(validate(start, end, granularity))


def report_for(query: TrendsQuery) -> dict[str, Any]:
    released, released_at = release(query)
    return present(released, released_at)


# --- charts and their CSV -------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    name: str
    kind: Literal["columns", "bars"]
    title: str
    description: str
    header: tuple[str, str]
    rows: list[tuple[str, int | None]]


CHARTS = ("visits", "visitors", "browsers", "languages", "referrers", "models")
_CHART_TEXT = {
    "visits": ("Visits", ("period", "visits"), "Requests by people per {unit}"),
    "visitors": ("Unique visitors", ("period", "visitors"), "Estimated distinct visitors per {unit}"),
    "browsers": ("Browsers", ("browser", "requests"), "Requests by browser family"),
    "languages": ("Languages", ("language", "requests"), "Requests by the first language asked for"),
    "referrers": ("Referring sites", ("referring site", "requests"), "Requests arriving from other sites"),
    "models": ("Top public models", ("model", "requests"), "Views and downloads of public models"),
}
# The top lists show their leaders only: "Other" would dwarf them. Its figure is given beside the chart.
_OTHER_IN_CHART = {"browsers": True, "languages": True, "referrers": False, "models": False}


def chart(data: dict[str, Any], name: str) -> Chart:
    """The figures one chart shows, the same for its SVG and for its CSV download."""
    title, header, description = _CHART_TEXT[name]
    description = (
        f"{description.format(unit=data['granularity'])}, {data['start']} to {data['end']}. "
        f"Figures under {data['k']} are withheld or merged into Other."
    )
    if name in ("visits", "visitors"):
        points: list[tuple[str, int | None]] = [(p["label"], p["value"]) for p in data[name]["periods"]]
        return Chart(name, "columns", title, description, header, points)
    table = data[name]
    rows: list[tuple[str, int | None]] = [(row["label"], row["value"]) for row in table["rows"]]
    other = table["other"]
    if _OTHER_IN_CHART[name] and other is not None and other["value"] is not None:
        rows.append((OTHER, other["value"]))
    return Chart(name, "bars", title, description, header, rows)


# --- the ledger -----------------------------------------------------------------------------------
def ledger(recent: int = 10) -> dict[str, Any]:
    """The privacy budget spent so far: total ε, number of releases, the latest ones."""
    totals = TrendsRelease.objects.aggregate(
        epsilon=Sum("epsilon"), releases=Count("pk"), cells=Sum("cells"), last=Max("released_at")
    )
    latest = TrendsRelease.objects.order_by("-released_at", "-pk").values(
        "query", "released_at", "epsilon", "cells"
    )[:recent]
    spent = float(totals["epsilon"] or 0.0)
    budget = dp_budget()
    return {
        "epsilon": spent,
        "budget": budget,
        "remaining": None if budget is None else max(0.0, budget - spent),
        "releases": int(totals["releases"] or 0),
        "cells": int(totals["cells"] or 0),
        "recent": [
            {
                "query": row["query"],
                "link": reverse("analytics:trends")
                + "?"
                + urlencode(dict(zip(("from", "to", "granularity"), row["query"].split("/"), strict=True))),
                "released_at": row["released_at"],
                "epsilon": float(row["epsilon"]),
                "cells": int(row["cells"]),
            }
            for row in latest
        ],
    }
