"""Popular and trending models (clause C12), and each owner's own counts.

Popular ranks models by their views plus downloads over the last 30 days, read from the daily rows.
Trending ranks them by the same counts over the last 7 days, hour by hour, each hour's weight halving
with every day of its age, read from the hourly rows. Both are computed in SQL: one GROUP BY over the
window, best first (ties: the older model first), the first thousand rows at most.

Only public models of active owners whose owner has left ``in_popular`` on ever appear, and a model with
fewer than k (:func:`candor.analytics.suppression.min_count`) views and downloads in the window never
does (its small counts are not published). The ranked (model id, score) list may sit in the cache for
``CACHE_SECONDS``: it holds ids and numbers only. Which of those models may be shown is asked of
``visibility.listed_models()`` on every read, so a model made unlisted or private, deleted, or opted out
leaves every list at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Q, QuerySet, Sum
from django.http import Http404

from candor.analytics import suppression, tasks
from candor.analytics.models import ModelDaily, ModelHourly
from candor.hub import visibility
from candor.hub.models import MLModel
from candor.kernel.refusal import Code, Refusal

POPULAR = "popular"
TRENDING = "trending"

POPULAR_DAYS = 30
TRENDING_HOURS = 7 * 24
HALF_LIFE_HOURS = 24

# What the pages and the API print: the words describe exactly what rank_popular and rank_trending do.
POPULAR_FORMULA = (
    f"score = views + downloads, added up over the last {POPULAR_DAYS} days "
    "(UTC calendar days, today included)"
)
TRENDING_FORMULA = (
    f"score = the sum over each of the last {TRENDING_HOURS} hours (UTC, the current hour included) of "
    f"(views + downloads in that hour) times 0.5^(age / {HALF_LIFE_HOURS}), where age is the number of "
    "whole hours between the start of that hour and the start of the current one: the current hour "
    "counts in full, an hour from a day before counts half, from two days before a quarter"
)
FORMULAS = {POPULAR: POPULAR_FORMULA, TRENDING: TRENDING_FORMULA}

OWNER_NOTE = (
    "Counted only while the model was public (unlisted and private models are never counted), "
    "bots left out; per UTC day. Only you, its owner, see these figures."
)

CACHE_SECONDS = 60
# How many ranked models one computation keeps: the lists show the first that may be shown, and the
# "popular" sort of /models/ orders these by score. More are fetched only if most of them are hidden.
DEPTH = 1000
MAX_DEPTH = DEPTH * 16
CHUNK = 250  # models asked of the visibility helper at a time
MAX_SERIES_DAYS = 365


@dataclass(frozen=True)
class Ranked:
    """One model's place in a ranking, before anyone asked whether it may be shown."""

    model_id: int
    views: int
    downloads: int
    score: float


@dataclass(frozen=True)
class Entry:
    rank: int
    model: MLModel
    views: int
    downloads: int
    score: int | float


@dataclass(frozen=True)
class DayCount:
    day: date
    views: int
    downloads: int


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _this_hour(now: datetime | None) -> datetime:
    return _now(now).replace(minute=0, second=0, microsecond=0)


def _window_totals(days: QuerySet[ModelDaily], depth: int) -> list[Ranked]:
    """The ``depth`` models with the most views and downloads over ``days``, best first, ties by id;
    those under k left out."""
    rows = (
        days.values("model_id")
        .annotate(
            views_sum=Sum("views"), downloads_sum=Sum("downloads"), score=Sum(F("views") + F("downloads"))
        )
        .filter(score__gte=suppression.min_count())
        .order_by("-score", "model_id")
        .values_list("model_id", "views_sum", "downloads_sum", "score")
    )
    return [
        Ranked(mid, int(views), int(downloads), int(score)) for mid, views, downloads, score in rows[:depth]
    ]


def rank_popular(now: datetime | None = None, depth: int = DEPTH) -> list[Ranked]:
    """Every model counted in the last POPULAR_DAYS days (visible or not), best first, ties by id."""
    today = _now(now).date()
    first = today - timedelta(days=POPULAR_DAYS - 1)
    return _window_totals(ModelDaily.objects.filter(day__gte=first, day__lte=today), depth)


def hour_weights(now: datetime | None = None) -> list[tuple[datetime, float]]:
    """The start of each hour of the trending window and its weight, the current hour first."""
    current = _this_hour(now)
    return [(current - timedelta(hours=age), 0.5 ** (age / HALF_LIFE_HOURS)) for age in range(TRENDING_HOURS)]


def rank_trending(now: datetime | None = None, depth: int = DEPTH) -> list[Ranked]:
    """Every model counted in the last TRENDING_HOURS hours (visible or not), best first, ties by id.

    The weights are joined in as a small table of (hour, weight), so the database multiplies and adds
    without calling a power function per row (SQLite has none of its own) and finds each hour's rows by
    the (hour, model_id) index.
    """
    ops = connection.ops
    table = ops.quote_name(ModelHourly._meta.db_table)
    # PostgreSQL needs the type of a bare parameter in a SELECT list; SQLite stores the text as given.
    hour_slot = "CAST(%s AS timestamp with time zone)" if connection.vendor == "postgresql" else "%s"
    weights = hour_weights(now)
    table_of_weights = " UNION ALL ".join(
        [f"SELECT {hour_slot} AS hour, CAST(%s AS DOUBLE PRECISION) AS weight"] * len(weights)
    )
    sql = (
        "SELECT h.model_id, SUM(h.views), SUM(h.downloads), SUM((h.views + h.downloads) * w.weight) AS score "  # noqa: S608
        f"FROM {table} h JOIN ({table_of_weights}) w ON h.hour = w.hour "
        "GROUP BY h.model_id HAVING SUM(h.views + h.downloads) >= %s "
        "ORDER BY score DESC, h.model_id LIMIT %s"
    )
    params: list[Any] = [v for hour, weight in weights for v in (ops.adapt_datetimefield_value(hour), weight)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, suppression.min_count(), depth])
        rows = cursor.fetchall()
    return [
        Ranked(int(mid), int(views), int(downloads), float(score)) for mid, views, downloads, score in rows
    ]


def _ranked(kind: str, now: datetime | None, depth: int) -> list[Ranked]:
    """A ranking, from the cache if computed in the last CACHE_SECONDS for the same day (or hour)."""
    period = _now(now).date().isoformat() if kind == POPULAR else _this_hour(now).isoformat()
    key = f"analytics:ranking:{kind}:{period}:{suppression.min_count()}:{depth}"
    stored = cache.get(key)
    if stored is None:
        ranked = (rank_popular if kind == POPULAR else rank_trending)(now, depth)
        cache.set(key, [(r.model_id, r.views, r.downloads, r.score) for r in ranked], CACHE_SECONDS)
        return ranked
    return [Ranked(*row) for row in stored]


def eligible_models() -> QuerySet[MLModel]:
    """The models that may be shown in the popular and trending lists right now."""
    return visibility.listed_models().filter(in_popular=True)


def _shown(ranked: list[Ranked], limit: int, kind: str) -> list[Entry]:
    entries: list[Entry] = []
    start, size = 0, min(CHUNK, 2 * limit + 10)  # usually the first few ranked models are all shown
    while start < len(ranked):
        chunk = ranked[start : start + size]
        start, size = start + size, CHUNK
        models = eligible_models().filter(pk__in=[r.model_id for r in chunk]).prefetch_related("tags")
        found = {m.pk: m for m in models}
        for r in chunk:
            model = found.get(r.model_id)
            if model is None:
                continue
            score = int(r.score) if kind == POPULAR else round(r.score, 2)
            entries.append(Entry(len(entries) + 1, model, r.views, r.downloads, score))
            if len(entries) == limit:
                return entries
    return entries


def ranking(kind: str, limit: int, now: datetime | None = None) -> list[Entry]:
    """The first ``limit`` models of a ranking that may be shown, best first."""
    if kind not in FORMULAS:
        raise ValueError(f"no ranking called {kind!r}")
    if limit < 1:
        return []
    depth = max(DEPTH, limit)
    while True:
        ranked = _ranked(kind, now, depth)
        entries = _shown(ranked, limit, kind)
        if len(entries) >= limit or len(ranked) < depth or depth >= MAX_DEPTH:
            return entries
        depth *= 4  # most of the leaders are hidden: look further down the ranking


def popular(limit: int, now: datetime | None = None) -> list[Entry]:
    return ranking(POPULAR, limit, now)


def trending(limit: int, now: datetime | None = None) -> list[Entry]:
    return ranking(TRENDING, limit, now)


def freshness_seconds() -> int:
    """At most how old the counts behind a list are: one flush interval, the Redis rollup's interval in
    Redis mode, and the time a ranking may sit in the cache."""
    seconds = settings.ANALYTICS_FLUSH_SECONDS + CACHE_SECONDS
    if settings.REDIS_URL:
        seconds += int(tasks.interval().total_seconds())
    return seconds


# The "popular" sort of /models/ and GET /api/v1/models: the DEPTH most popular models that the
# query matches come first by score, then every other model it matches (below the threshold, opted out,
# or further down) by owner and name, as if its score were 0.


def _ranked_in(models: QuerySet[MLModel], now: datetime | None) -> list[tuple[int, str, str, int]]:
    """(score, owner, name, id) of the ranked models among ``models`` that are opted in, in sort order."""
    scores = {r.model_id: int(r.score) for r in _ranked(POPULAR, now, DEPTH)}
    if not scores:
        return []
    rows = (
        models.order_by()
        .filter(pk__in=list(scores), in_popular=True)
        .values_list("pk", "owner__username_index", "name")
    )
    return sorted(
        ((scores[pk], owner, name, pk) for pk, owner, name in set(rows)), key=lambda r: (-r[0], r[1], r[2])
    )


def in_popular_order(
    models: QuerySet[MLModel],
    *,
    limit: int,
    offset: int = 0,
    after: tuple[int, str, str] | None = None,
    now: datetime | None = None,
) -> list[tuple[MLModel, int]]:
    """A page of ``models`` (already narrowed by the visibility helper) in the popular sort, with each
    model's score: from ``offset``, or after the model whose (score, owner, name) is ``after``."""
    ranked = _ranked_in(models, now)
    head = ranked
    if after is not None:
        score, owner, name = after
        head = [r for r in ranked if (-r[0], r[1], r[2]) > (-score, owner, name)] if score > 0 else []
    chosen = head[offset : offset + limit]
    by_id = {m.pk: m for m in models.filter(pk__in=[r[3] for r in chosen])} if chosen else {}
    page = [(by_id[r[3]], r[0]) for r in chosen if r[3] in by_id]
    wanted = limit - len(page)
    if wanted > 0:
        rest = models.exclude(pk__in=[r[3] for r in ranked]).order_by("owner__username_index", "name")
        if after is not None and after[0] <= 0:
            rest = rest.filter(
                Q(owner__username_index__gt=after[1]) | Q(owner__username_index=after[1], name__gt=after[2])
            )
        skip = max(0, offset - len(head))
        page += [(m, 0) for m in rest[skip : skip + wanted]]
    return page


def owner_series(model: MLModel, days: int = POPULAR_DAYS, now: datetime | None = None) -> list[DayCount]:
    """Views and downloads of one model per UTC day, the last ``days`` days to today, oldest first, with
    0 for days without counts. For the model's owner: any visibility, no threshold. Only what was counted
    while the model was public is there, since nothing else is ever counted."""
    if not 1 <= days <= MAX_SERIES_DAYS:
        raise ValueError(f"days must be from 1 to {MAX_SERIES_DAYS}")
    today = _now(now).date()
    first = today - timedelta(days=days - 1)
    found = {
        day: (views, downloads)
        for day, views, downloads in ModelDaily.objects.filter(
            model_id=model.pk, day__gte=first, day__lte=today
        ).values_list("day", "views", "downloads")
    }
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        views, downloads = found.get(day, (0, 0))
        series.append(DayCount(day, int(views), int(downloads)))
    return series


def own_model_counts(
    viewer: visibility.Viewer, username: str, name: str, days: int = POPULAR_DAYS, now: datetime | None = None
) -> tuple[MLModel, list[DayCount]]:
    """A model and its counts per day, for its owner only. To anyone else the counts do not exist
    (``Code.NOT_FOUND``), whether or not they may read the model itself."""
    try:
        model = visibility.get_editable_model(viewer, username, name)
    except (Http404, PermissionError, Refusal):
        # One answer for absent, unreadable and someone else's: the refusal tells an outsider nothing.
        raise Refusal(Code.NOT_FOUND, "No such model.") from None
    return model, owner_series(model, days, now)
