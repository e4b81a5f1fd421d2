"""The public trends report (clause C8): no released figure under k, anywhere (page, API, CSV), small
entries merged into "Other", withheld periods, only public models named, sums per week and month that
match an independent count, and the differential-privacy ledger."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from candor.accounts.models import User
from candor.analytics.models import (
    DailyUnique,
    DimensionDaily,
    ModelDaily,
    ModelHourly,
    ModelMonthly,
    RouteDaily,
    TrendsRelease,
)
from candor.analytics.store import add_rows
from candor.analytics.trends import counts, ranges, release, report
from candor.hub import actions
from candor.hub.models import MLModel
from tests.analytics.conftest import last_line, start_candor
from tests.conftest import make_user, run_candor

pytestmark = pytest.mark.django_db

CHARTS = ("visits", "visitors", "browsers", "languages", "referrers", "models")
BROWSERS = ["Firefox", "Chrome", "Safari", "Edge", "Opera", "Vivaldi", "Other", "Unknown"]
LANGUAGES = ["en", "fr", "de", "es", "ja", "pt", "und"]
REFERRERS = [f"site{n}.example" for n in range(12)]


@pytest.fixture(autouse=True)
def _trends_environment(settings: Any) -> None:
    settings.API_ANON_RATE_PER_MINUTE = 1_000_000
    settings.API_RATE_PER_MINUTE = 1_000_000
    settings.TRENDS_MIN_COUNT = 10
    settings.TRENDS_DP_EPSILON = 0.0


# --- writing counts -------------------------------------------------------------------------------
def put_routes(rows: dict[date, tuple[int, int]], route: str = "hub:model") -> None:
    add_rows(
        RouteDaily, ["day", "route"], ["views", "bot_views"], [(d, route, v, b) for d, (v, b) in rows.items()]
    )


def put_dimension(dimension: str, rows: dict[tuple[date, str], int]) -> None:
    add_rows(
        DimensionDaily,
        ["day", "dimension", "value"],
        ["views"],
        [(d, dimension, value, n) for (d, value), n in rows.items()],
    )


def put_visitors(rows: dict[date, int]) -> None:
    add_rows(DailyUnique, ["day", "model_id"], ["visitors"], [(d, 0, n) for d, n in rows.items()])


def put_models(rows: dict[tuple[date, int], tuple[int, int]]) -> None:
    """Day and month rows together, as a flush writes them."""
    add_rows(
        ModelDaily,
        ["day", "model_id"],
        ["views", "downloads"],
        [(d, m, v, w) for (d, m), (v, w) in rows.items()],
    )
    months: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for (d, m), (v, w) in rows.items():
        months[(d.replace(day=1), m)][0] += v
        months[(d.replace(day=1), m)][1] += w
    add_rows(
        ModelMonthly,
        ["month", "model_id"],
        ["views", "downloads"],
        [(d, m, v, w) for (d, m), (v, w) in months.items()],
    )


def publish(owner: User, name: str, visibility: str = "public") -> MLModel:
    return actions.create_model(acting_user=owner, name=name, title=name.title(), visibility=visibility)


# --- reading what was released --------------------------------------------------------------------
@dataclass
class Figure:
    bars: list[tuple[str, str]] = field(default_factory=list)
    csv: str = ""


class ChartParser(HTMLParser):
    """The figures of a page: each chart's (data-label, data-value) pairs and its CSV link."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[Figure] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure" and "chart-figure" in (found.get("class") or ""):
            self.figures.append(Figure())
            self.inside = True
        elif self.inside and tag == "rect" and "data-label" in found:
            self.figures[-1].bars.append((found["data-label"] or "", found.get("data-value") or ""))
        elif self.inside and tag == "a" and ".csv" in (found.get("href") or ""):
            self.figures[-1].csv = found["href"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.inside = False


def page_figures(html: bytes) -> dict[str, Figure]:
    parser = ChartParser()
    parser.feed(html.decode())
    by_chart = {}
    for figure in parser.figures:
        name = figure.csv.split("?")[0].rsplit("/", 1)[-1].removesuffix(".csv")
        by_chart[name] = figure
    return by_chart


def csv_rows(client: Client, href: str) -> tuple[list[str], list[tuple[str, str]]]:
    response = client.get(href)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert all(len(row) == 2 for row in rows)
    return rows[0], [(label, value) for label, value in rows[1:]]


def released_figures(data: dict[str, Any]) -> Iterator[tuple[str, int | None]]:
    """Every figure of a report (JSON or the page's data), withheld ones as None."""
    for series in ("visits", "visitors"):
        for period in data[series]["periods"]:
            assert period["withheld"] is (period["value"] is None)
            yield f"{series} {period['label']}", period["value"]
    yield "bots", data["visits"]["bots"]["value"]
    for table in ("browsers", "languages", "referrers", "models"):
        for row in data[table]["rows"]:
            yield f"{table} {row['label']}", row["value"]
        if data[table]["other"] is not None:
            other = data[table]["other"]
            assert other["withheld"] is (other["value"] is None)
            yield f"{table} Other", other["value"]


def assert_nothing_under_k(data: dict[str, Any], k: int) -> None:
    small = [(name, value) for name, value in released_figures(data) if value is not None and value < k]
    assert not small, small


def query(start: date, end: date, granularity: str = "day") -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat(), "granularity": granularity}


def api(client: Client, params: dict[str, str]) -> Any:
    return client.get("/api/v1/trends", params)


# --- a random site ----------------------------------------------------------------------------------
@dataclass
class Site:
    """What was written, to check the report against. Counts cover ``first`` to today."""

    first: date
    routes: dict[date, tuple[int, int]]
    visitors: dict[date, int]
    dimensions: dict[str, dict[tuple[date, str], int]]
    models: dict[tuple[date, int], tuple[int, int]]
    public: dict[int, str]  # model id -> "owner/name"
    hidden: dict[int, str]  # unlisted, private, deleted, or of a deactivated owner


def random_site(rng: random.Random, *, days: int = 130) -> Site:
    tag = rng.randrange(10**6)
    alice, bob, carol = make_user(f"ann{tag}"), make_user(f"ben{tag}"), make_user(f"cat{tag}")
    public = [publish(alice if i % 2 else bob, f"open-{i}") for i in range(14)]
    hidden = [
        publish(alice, "unlisted-one", "unlisted"),
        publish(alice, "private-one", "private"),
        publish(carol, "of-a-gone-owner"),
    ]
    deleted = publish(bob, "deleted-one")
    hidden_names = {m.pk: m.full_name for m in [*hidden, deleted]}
    actions.delete_model(deleted, acting_user=bob)
    carol.is_active = False
    carol.save(update_fields=["is_active"])

    today = ranges.today()
    first = today - timedelta(days=days)
    span = [first + timedelta(days=i) for i in range(days + 1)]
    routes = {d: (rng.choice([0, 1, 3, 8, 12, 40, 150, rng.randrange(400)]), rng.randrange(30)) for d in span}
    visitors = {d: rng.choice([0, 2, 9, 10, 11, 60, rng.randrange(300)]) for d in span}
    dimensions: dict[str, dict[tuple[date, str], int]] = {"browser": {}, "language": {}, "referrer": {}}
    for dimension, values in (("browser", BROWSERS), ("language", LANGUAGES), ("referrer", REFERRERS)):
        weights = {value: rng.choice([0.01, 0.05, 0.3, 1, 4]) for value in values}
        for d in span:
            for value in values:
                n = int(rng.expovariate(1 / weights[value]))
                if n:
                    dimensions[dimension][(d, value)] = n
    models: dict[tuple[date, int], tuple[int, int]] = {}
    for model in public:
        scale = rng.choice([0.05, 0.2, 1, 3, 8])
        for d in span:
            views, downloads = int(rng.expovariate(1 / scale)), int(rng.expovariate(2 / scale))
            if views or downloads:
                models[(d, model.pk)] = (views, downloads)
    for model_id in hidden_names:
        for d in span:
            models[(d, model_id)] = (500, 50)  # would lead every list if they were ever counted
    put_routes(routes)
    put_visitors(visitors)
    for dimension, rows in dimensions.items():
        put_dimension(dimension, rows)
    put_models(models)
    return Site(
        first, routes, visitors, dimensions, models, {m.pk: m.full_name for m in public}, hidden_names
    )


def period_key(day: date, granularity: str) -> tuple[int, ...]:
    """An independent grouping: the ISO week, or the calendar month."""
    if granularity == "day":
        return (day.toordinal(),)
    if granularity == "week":
        return tuple(day.isocalendar()[:2])
    return (day.year, day.month)


def expected_series(values: dict[date, int], start: date, end: date, granularity: str) -> list[int]:
    sums: dict[tuple[int, ...], int] = {}
    day = start
    while day <= end:
        key = period_key(day, granularity)
        sums[key] = sums.get(key, 0) + values.get(day, 0)
        day += timedelta(days=1)
    return list(sums.values())


def expected_models(site: Site, start: date, end: date) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for (day, model_id), (views, downloads) in site.models.items():
        if start <= day <= end and model_id in site.public:
            totals[site.public[model_id]] += views + downloads
    return dict(totals)


# Ranges that make the report read whole months, a partial month as its days, and a partial month as
# its month row less the days outside.
def sample_ranges(first: date) -> list[tuple[date, date, str]]:
    end = ranges.today() - timedelta(days=1)
    early = (first + timedelta(days=40)).replace(day=3)
    late = (first + timedelta(days=40)).replace(day=27)
    return [
        (early, end, "day"),
        (late, end - timedelta(days=9), "week"),
        (early, end, "month"),
        (late, ranges.today(), "month"),
        (first + timedelta(days=1), end, "week"),
    ]


# --- suppression over random data -------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_no_released_figure_is_under_k_anywhere(seed: int, settings: Any) -> None:
    rng = random.Random(seed)
    settings.TRENDS_MIN_COUNT = k = rng.choice([5, 10, 25])
    site = random_site(rng)
    client = Client()
    for start, end, granularity in sample_ranges(site.first):
        params = query(start, end, granularity)
        data = report.for_range(start, end, granularity)
        assert_nothing_under_k(data, k)
        response = api(client, params)
        assert response.status_code == 200, response.content
        assert response.json()["k"] == k
        assert_nothing_under_k(response.json(), k)
        page = client.get("/trends/", params)
        assert page.status_code == 200
        figures = page_figures(page.content)
        assert set(figures) == set(CHARTS)
        for name, figure in figures.items():
            shown = [int(value) for _, value in figure.bars if value != ""]
            assert all(value >= k for value in shown), (name, shown)
            header, rows = csv_rows(client, figure.csv)
            assert len(header) == 2
            assert rows == figure.bars, name  # the CSV is exactly the chart
            assert all(value == "" or int(value) >= k for _, value in rows), (name, rows)


@pytest.mark.parametrize("seed", range(3))
def test_figures_match_an_independent_count(
    seed: int, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With k = 1 nothing is withheld, so every figure can be checked against the rows written."""
    settings.TRENDS_MIN_COUNT = 1
    monkeypatch.setitem(release.TOP_ROWS, "models", 5)  # fewer than the public models: "Other" is used
    rng = random.Random(100 + seed)
    site = random_site(rng)
    visits = {d: v for d, (v, _) in site.routes.items()}
    for start, end, granularity in sample_ranges(site.first):
        data = report.for_range(start, end, granularity)
        expected_visits = expected_series(visits, start, end, granularity)
        assert [p["value"] or 0 for p in data["visits"]["periods"]] == expected_visits
        expected_visitors = expected_series(site.visitors, start, end, granularity)
        assert [p["value"] or 0 for p in data["visitors"]["periods"]] == expected_visitors
        bots = sum(b for d, (_, b) in site.routes.items() if start <= d <= end)
        assert data["visits"]["bots"]["value"] == (bots or None)
        # Periods: consecutive, inside the range, and cut where the independent grouping cuts.
        periods = data["visits"]["periods"]
        assert periods[0]["start"] == start.isoformat() and periods[-1]["end"] == end.isoformat()
        for before, after in pairwise(periods):
            assert date.fromisoformat(before["end"]) + timedelta(days=1) == date.fromisoformat(after["start"])
        for period in periods:
            first, last = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
            assert period_key(first, granularity) == period_key(last, granularity)
        # Browsers: each listed entry's total over the range; "Other" is everything else.
        browsers: dict[str, int] = defaultdict(int)
        for (day, value), n in site.dimensions["browser"].items():
            if start <= day <= end:
                browsers[value] += n
        listed = {row["label"]: row["value"] for row in data["browsers"]["rows"]}
        assert all(browsers[label] == value for label, value in listed.items())
        assert "Other" not in listed  # the family ua-parser calls "Other" is part of the merged "Other"
        other = data["browsers"]["other"]["value"] if data["browsers"]["other"] else 0
        assert sum(listed.values()) + (other or 0) == sum(browsers.values())
        shares = [row["share"] for row in data["browsers"]["rows"]]
        assert shares == pytest.approx([v / sum(browsers.values()) for v in listed.values()], abs=1e-4)
        # Models: the public ones only, with totals from day rows, however the report read them.
        totals = expected_models(site, start, end)
        rows = data["models"]["rows"]
        assert {row["label"] for row in rows} <= set(site.public.values())
        assert all(totals[row["label"]] == row["value"] for row in rows)
        best = sorted((v for v in totals.values() if v > 0), reverse=True)[: release.TOP_ROWS["models"]]
        assert [row["value"] for row in rows] == best
        rest = sum(totals.values()) - sum(best)
        assert (data["models"]["other"] or {}).get("value") == (rest or None)


def test_the_ranges_exercise_each_way_of_reading_model_counts() -> None:
    """The ranges above read whole months, a month row less some day rows, and day rows alone."""
    plans = [
        counts.model_plan(start, end) for start, end, _ in sample_ranges(ranges.today() - timedelta(days=130))
    ]
    assert all(plan.months is not None for plan in plans)
    assert {sign for plan in plans for *_, sign in plan.days} == {1, -1}


def test_reads_neither_hourly_rows_nor_more_than_it_needs(owner: User) -> None:
    model = publish(owner, "busy")
    end = ranges.today() - timedelta(days=1)
    start = end - timedelta(days=364)
    # Only hourly rows: a report that read them would show this model.
    add_rows(
        ModelHourly,
        ["hour", "model_id"],
        ["views", "downloads"],
        [(datetime.combine(end, datetime.min.time(), UTC), model.pk, 900, 9)],
    )
    with CaptureQueriesContext(connection) as queries:
        data = report.for_range(start, end, "month")
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert ModelHourly._meta.db_table not in sql
    assert ModelMonthly._meta.db_table in sql
    assert data["models"]["rows"] == []


# --- suppression rules ------------------------------------------------------------------------------
def test_small_entries_are_merged_into_other(db: None) -> None:
    day = ranges.today() - timedelta(days=1)
    put_dimension(
        "browser",
        {(day, "Firefox"): 50, (day, "Chrome"): 30, (day, "Edge"): 4, (day, "Opera"): 3, (day, "Vivaldi"): 5},
    )
    data = report.for_range(day, day, "day")["browsers"]
    assert [(row["label"], row["value"]) for row in data["rows"]] == [("Firefox", 50), ("Chrome", 30)]
    assert data["other"] == {"value": 12, "withheld": False, "share": round(12 / 92, 4)}
    assert [row["share"] for row in data["rows"]] == [round(50 / 92, 4), round(30 / 92, 4)]


def test_an_other_under_k_takes_the_smallest_entry(db: None) -> None:
    day = ranges.today() - timedelta(days=1)
    put_dimension("language", {(day, "en"): 50, (day, "fr"): 30, (day, "de"): 4})
    data = report.for_range(day, day, "day")["languages"]
    # Alone, "Other" would be 4: anyone could subtract it from the visits. It takes "fr" to reach k.
    assert [(row["label"], row["value"]) for row in data["rows"]] == [("en", 50)]
    assert data["other"]["value"] == 34


def test_a_table_under_k_altogether_is_withheld(db: None) -> None:
    day = ranges.today() - timedelta(days=1)
    put_dimension("referrer", {(day, "news.example"): 4, (day, "blog.example"): 3})
    params = query(day, day)
    data = report.for_range(day, day, "day")["referrers"]
    assert data["rows"] == []
    assert data["other"] == {"value": None, "withheld": True, "share": None}
    client = Client()
    assert api(client, params).json()["referrers"]["other"]["withheld"] is True
    figures = page_figures(client.get("/trends/", params).content)
    assert figures["referrers"].bars == []
    assert csv_rows(client, figures["referrers"].csv) == (["referring site", "requests"], [])


def test_small_periods_are_withheld_and_cannot_be_worked_out(db: None) -> None:
    end = ranges.today() - timedelta(days=1)
    days = [end - timedelta(days=i) for i in range(5, -1, -1)]
    put_routes(dict(zip(days, [(50, 0), (3, 0), (40, 0), (12, 0), (0, 0), (25, 0)], strict=True)))
    params = query(days[0], end)
    values = [p["value"] for p in report.for_range(days[0], end, "day")["visits"]["periods"]]
    # 3 is withheld; alone it could be worked out from the total, so the smallest shown period (12)
    # is withheld too. A day without visits is withheld like any other figure under k.
    assert values == [50, None, 40, None, None, 25]
    client = Client()
    assert [p["withheld"] for p in api(client, params).json()["visits"]["periods"]] == [
        False,
        True,
        False,
        True,
        True,
        False,
    ]
    page = client.get("/trends/", params)
    assert page.content.count(b'class="chart-withheld"') >= 3
    figure = page_figures(page.content)["visits"]
    assert [value for _, value in figure.bars] == ["50", "", "40", "", "", "25"]
    assert csv_rows(client, figure.csv)[1] == figure.bars


# --- visibility ---------------------------------------------------------------------------------------
def test_only_public_models_are_named(db: None) -> None:
    rng = random.Random(7)
    site = random_site(rng, days=60)
    client = Client()
    end = ranges.today() - timedelta(days=1)
    start = end - timedelta(days=50)
    params = query(start, end, "week")
    response = api(client, params)
    names = {row["label"] for row in response.json()["models"]["rows"]}
    assert names and names <= set(site.public.values())
    page = client.get("/trends/", params)
    csv_text = client.get(f"/trends/models.csv?{page_figures(page.content)['models'].csv.split('?')[1]}")
    for hidden in site.hidden.values():
        assert hidden.encode() not in page.content
        assert hidden.encode() not in response.content
        assert hidden.encode() not in csv_text.content
    # A model made private leaves the report at once (the live report is cached, but names are not).
    leader_name = response.json()["models"]["rows"][0]["label"]
    leader = MLModel.objects.get(pk=next(pk for pk, name in site.public.items() if name == leader_name))
    actions.set_visibility(leader, "private", acting_user=leader.owner)
    again = api(client, params).json()
    assert leader.full_name not in {row["label"] for row in again["models"]["rows"]}
    assert leader.full_name.encode() not in client.get("/trends/", params).content


def test_a_model_made_private_leaves_other_at_once(owner: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(release.TOP_ROWS, "models", 1)
    leader, follower, third = publish(owner, "leader"), publish(owner, "follower"), publish(owner, "third")
    end = ranges.today() - timedelta(days=1)
    put_models({(end, leader.pk): (100, 0), (end, follower.pk): (50, 0), (end, third.pk): (20, 0)})
    client = Client()
    params = query(end, end)
    assert api(client, params).json()["models"]["other"]["value"] == 70
    actions.set_visibility(follower, "private", acting_user=owner)
    # The live report is cached, but not across a change of what the public lists may show.
    assert api(client, params).json()["models"]["other"]["value"] == 20


def test_a_model_kept_out_of_the_lists_is_not_named(owner: User) -> None:
    kept_out, shown = publish(owner, "kept-out"), publish(owner, "shown")
    end = ranges.today() - timedelta(days=1)
    put_models({(end, kept_out.pk): (400, 0), (end, shown.pk): (30, 0)})
    params = query(end, end)
    client = Client()
    assert [row["label"] for row in api(client, params).json()["models"]["rows"]] == [
        "alice/kept-out",
        "alice/shown",
    ]
    actions.update_model(kept_out, acting_user=owner, in_popular=False)
    assert [row["label"] for row in api(client, params).json()["models"]["rows"]] == ["alice/shown"]
    assert b"kept-out" not in client.get("/trends/", params).content


# --- differential privacy -------------------------------------------------------------------------------
def test_dp_release_is_recorded_once_and_served_as_stored(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 0.9
    site = random_site(random.Random(11), days=70)
    client = Client()
    end = ranges.today() - timedelta(days=1)
    first = query(end - timedelta(days=40), end, "day")
    second = query(end - timedelta(days=60), end - timedelta(days=5), "week")

    one = api(client, first)
    assert one.status_code == 200
    assert TrendsRelease.objects.count() == 1
    release = TrendsRelease.objects.get()
    assert release.query == f"{first['from']}/{first['to']}/day"
    assert release.epsilon == pytest.approx(0.9)
    assert release.cells == sum(v is not None for _, v in released_figures(one.json()))
    body = one.json()
    assert body["dp"]["enabled"] is True and body["dp"]["epsilon"] == pytest.approx(0.9)
    assert body["dp"]["released_at"] is not None
    assert_nothing_under_k(body, 10)

    # Asked again, by the API, the page or a CSV: the same figures, nothing spent.
    assert api(client, first).content == one.content
    page = client.get("/trends/", first)
    figures = page_figures(page.content)
    assert [int(v) if v else None for _, v in figures["visits"].bars] == [
        p["value"] for p in body["visits"]["periods"]
    ]
    for figure in figures.values():
        assert csv_rows(client, figure.csv)[1] == figure.bars
    assert TrendsRelease.objects.count() == 1

    # A different query is a new release, with its own ε.
    assert api(client, second).status_code == 200
    assert TrendsRelease.objects.count() == 2
    assert TrendsRelease.objects.get(query=f"{second['from']}/{second['to']}/week").epsilon == pytest.approx(
        0.9
    )

    # The page shows this release's ε and the ledger.
    page = client.get("/trends/", first)
    text = page.content.decode()
    assert "Privacy budget ledger" in text
    assert "1.800" in text  # total ε of the two releases
    assert release.query in text and f"{second['from']}/{second['to']}/week" in text
    assert "ε = 0.900" in text
    # The noise is there: with this many figures, some released ones differ from the true count.
    true_visits = expected_series(
        {d: v for d, (v, _) in site.routes.items()}, end - timedelta(days=40), end, "day"
    )
    released = [(p["value"], true) for p, true in zip(body["visits"]["periods"], true_visits, strict=True)]
    assert len([1 for value, _ in released if value is not None]) >= 5
    assert any(value != true for value, true in released if value is not None)


def test_the_dp_budget_stops_new_releases_and_keeps_the_old_ones(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 1.0
    settings.TRENDS_DP_BUDGET = 2.5  # room for two releases of ε 1, not three
    random_site(random.Random(5), days=40)
    client = Client()
    end = ranges.today() - timedelta(days=1)
    spans = [query(end - timedelta(days=n), end) for n in (10, 20, 30)]
    first = api(client, spans[0])
    assert first.status_code == 200
    assert client.get("/trends/", spans[1]).status_code == 200

    refused = api(client, spans[2])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "budget_spent"
    assert "2.000 of 2.500" in refused.json()["error"]["message"]
    page = client.get("/trends/", spans[2])
    assert page.status_code == 403 and b"privacy budget for the trends report is spent" in page.content
    csv_refused = client.get("/trends/visits.csv", spans[2])
    assert csv_refused.status_code == 403 and b"is spent" in csv_refused.content
    assert TrendsRelease.objects.count() == 2
    assert sum(TrendsRelease.objects.values_list("epsilon", flat=True)) == pytest.approx(2.0)

    # What was released stays available, the same figures, and costs nothing.
    assert api(client, spans[0]).content == first.content
    text = client.get("/trends/", spans[1]).content.decode()
    assert "budget is ε 2.500 in all, of which 0.500 is left" in text
    link = f'href="/trends/?from={spans[0]["from"]}&amp;to={spans[0]["to"]}&amp;granularity=day"'
    assert link in text  # the ledger links to each release
    assert TrendsRelease.objects.count() == 2

    settings.TRENDS_DP_BUDGET = 0  # no limit: releases go on
    assert api(client, spans[2]).status_code == 200
    assert TrendsRelease.objects.count() == 3


RELEASE_TOGETHER = """
import os, time
from datetime import timedelta
from pathlib import Path
from candor.analytics.trends import ledger, ranges, release
from candor.kernel.refusal import Code, Refusal
gate, which = Path(os.environ["GATE"]), os.environ["WHICH"]
compute = release.compute

def compute_together(query, *, noisy):
    # Both processes have passed the first budget check; neither writes before the other got here.
    (gate / f"computing-{which}").touch()
    deadline = time.monotonic() + 60
    while not all((gate / f"computing-{w}").exists() for w in "01") and time.monotonic() < deadline:
        time.sleep(0.01)
    return compute(query, noisy=noisy)

release.compute = compute_together
check_budget, checks = ledger.check_budget, []

def check_slowly():
    check_budget()
    checks.append(1)
    if len(checks) == 2:  # the check inside the transaction: a slow writer leaves the other time to pass
        time.sleep(0.5)

ledger.check_budget = check_slowly
end = ranges.today() - timedelta(days=1)
query = ranges.validate(end - timedelta(days=5 + int(which)), end, "day")
try:
    ledger.release_for(query)
    print("released")
except Refusal as refused:
    if refused.code is not Code.BUDGET_SPENT:
        raise
    print("refused")
"""


def test_two_processes_releasing_at_once_cannot_both_pass_the_budget(
    tmp_path: Path, process_database: dict[str, str]
) -> None:
    """Two `candor` processes on one database (a SQLite file, or PostgreSQL) each release a new range
    with room in the budget for one: the second check, made where no other release can be written,
    stops one of them."""
    env = {**process_database, "GATE": str(tmp_path)}
    env |= {"CANDOR_TRENDS_DP_EPSILON": "1", "CANDOR_TRENDS_DP_BUDGET": "1.5"}
    migrated = run_candor(["migrate", "-v0"], tmp_path, env)
    assert migrated.returncode == 0, migrated.stderr
    workers = [
        start_candor(["shell", "-c", RELEASE_TOGETHER], tmp_path, {**env, "WHICH": str(i)}) for i in (0, 1)
    ]
    try:
        outputs = [worker.communicate(timeout=180) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    assert all((tmp_path / f"computing-{i}").exists() for i in (0, 1))  # both got past the first check
    assert sorted(out.strip().splitlines()[-1] for out, _ in outputs) == ["refused", "released"]
    count = "from candor.analytics.models import TrendsRelease; print(TrendsRelease.objects.count())"
    assert last_line(run_candor(["shell", "-c", count], tmp_path, env)) == "1"


def test_dp_noise_still_leaves_nothing_under_k(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 0.5
    settings.TRENDS_MIN_COUNT = 10
    random_site(random.Random(21), days=45)
    client = Client()
    end = ranges.today() - timedelta(days=1)
    for granularity in ("day", "week", "month"):
        params = query(end - timedelta(days=40), end, granularity)
        assert_nothing_under_k(api(client, params).json(), 10)
        for figure in page_figures(client.get("/trends/", params).content).values():
            assert all(v == "" or int(v) >= 10 for _, v in figure.bars)
    assert TrendsRelease.objects.count() == 3


def test_a_stored_release_drops_a_model_that_is_no_longer_public(owner: User, settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 3.0
    model = publish(owner, "popular-one")
    end = ranges.today() - timedelta(days=1)
    put_models({(end - timedelta(days=i), model.pk): (300, 30) for i in range(5)})
    params = query(end - timedelta(days=4), end)
    client = Client()
    assert "alice/popular-one" in {row["label"] for row in api(client, params).json()["models"]["rows"]}
    actions.set_visibility(model, "unlisted", acting_user=owner)
    assert api(client, params).json()["models"]["rows"] == []
    assert b"popular-one" not in client.get("/trends/", params).content
    assert TrendsRelease.objects.count() == 1


def test_dp_refuses_a_range_that_includes_today(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 1.0
    today = ranges.today()
    params = query(today - timedelta(days=3), today)
    client = Client()
    response = api(client, params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_fields" and "to" in error["fields"]
    assert "closed days" in error["message"]
    page = client.get("/trends/", params)
    assert page.status_code == 400 and b"closed days" in page.content
    assert client.get("/trends/visits.csv", params).status_code == 400
    assert TrendsRelease.objects.count() == 0
    # Without dates, the default range ends yesterday.
    assert client.get("/trends/").status_code == 200
    assert TrendsRelease.objects.get().query.split("/")[1] == (today - timedelta(days=1)).isoformat()


def test_without_dp_nothing_is_recorded(db: None) -> None:
    client = Client()
    end = ranges.today()
    assert api(client, query(end - timedelta(days=10), end)).json()["dp"] == {
        "enabled": False,
        "epsilon": 0.0,
        "epsilon_per_table": 0.0,
        "unit": None,
        "released_at": None,
    }
    assert client.get("/trends/").status_code == 200
    assert b"Privacy budget ledger" not in client.get("/trends/").content
    assert TrendsRelease.objects.count() == 0


# --- input ----------------------------------------------------------------------------------------------
def bad_queries() -> list[tuple[dict[str, str], str]]:
    today = ranges.today()
    return [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-1-1"}, "from"),
        ({"granularity": "hour"}, "granularity"),
        ({"to": "0001-01-05"}, "to"),
        ({"from": "1999-12-31", "to": "2000-01-02"}, "from"),
        (query(today - timedelta(days=3), today - timedelta(days=5)), "from"),
        (query(today - timedelta(days=3), today + timedelta(days=1)), "to"),
        (query(today + timedelta(days=1), today + timedelta(days=2)), "from"),
        (query(today - timedelta(days=366), today, "day"), "from"),
        (query(today - timedelta(days=6 * 365), today, "month"), "from"),
    ]


@pytest.mark.parametrize(("params", "field_name"), bad_queries())
def test_the_api_refuses_bad_queries(params: dict[str, str], field_name: str) -> None:
    response = api(Client(), params)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    # Refused by the schema's pattern or by the report's own checks: one code, the parameter named.
    assert error["code"] == "invalid_fields"
    assert list(error["fields"]) == [field_name] and error["fields"][field_name], error


@pytest.mark.parametrize(("params", "field_name"), bad_queries())
def test_the_page_and_csv_refuse_bad_queries(params: dict[str, str], field_name: str) -> None:
    client = Client()
    page = client.get("/trends/", params)
    assert page.status_code == 400
    assert f'id="id_{field_name}_error"'.encode() in page.content
    assert b"<figure" not in page.content
    assert client.get("/trends/browsers.csv", params).status_code == 400


def test_long_ranges_are_fine_by_week_and_month(db: None) -> None:
    client = Client()
    today = ranges.today()
    assert api(client, query(today - timedelta(days=365), today, "day")).status_code == 200
    assert api(client, query(today - timedelta(days=400), today, "week")).status_code == 200
    assert api(client, query(today - timedelta(days=5 * 365), today, "month")).status_code == 200


def test_defaults_and_unknown_charts(db: None) -> None:
    client = Client()
    body = client.get("/api/v1/trends").json()
    today = ranges.today()
    assert (body["start"], body["end"], body["granularity"]) == (
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
        "day",
    )
    assert len(body["visits"]["periods"]) == 30
    page = client.get("/trends/")
    assert page.status_code == 200 and set(page_figures(page.content)) == set(CHARTS)
    assert client.get("/trends/cookies.csv").status_code == 404


def test_the_report_needs_no_cookie_and_sets_none(db: None) -> None:
    client = Client()
    for path in ("/trends/", "/trends/visits.csv", "/api/v1/trends"):
        response = client.get(path)
        assert response.status_code == 200
        assert not response.cookies, path
        assert "Set-Cookie" not in response


def test_the_json_is_the_same_report_as_the_page(db: None) -> None:
    rng = random.Random(5)
    random_site(rng, days=40)
    client = Client()
    end = ranges.today() - timedelta(days=1)
    params = query(end - timedelta(days=30), end, "week")
    body = json.loads(api(client, params).content)
    figures = page_figures(client.get("/trends/", params).content)
    assert [v for _, v in figures["visitors"].bars] == [
        "" if p["value"] is None else str(p["value"]) for p in body["visitors"]["periods"]
    ]
    assert [label for label, _ in figures["models"].bars] == [row["label"] for row in body["models"]["rows"]]
