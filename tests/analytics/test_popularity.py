"""Popular and trending models (clause C12): only public, opted-in models count and appear, on every
surface (pages, CSV, API, home page, the popular sort); the order follows the printed formula; the owner
alone sees a model's own counts."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from html import escape, unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import resolve

from candor.accounts.models import User, username_index
from candor.analytics import popularity
from candor.analytics.buffer import flush
from candor.analytics.models import ModelDaily, ModelHourly, ModelMonthly
from candor.analytics.store import add_rows
from candor.api.actions import create_token
from candor.hub import actions
from candor.hub.models import MLModel
from candor.kernel.refusal import Refusal
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(autouse=True)
def _environment(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRENDS_MIN_COUNT = 10
    settings.API_RATE_PER_MINUTE = 1_000_000
    settings.API_ANON_RATE_PER_MINUTE = 1_000_000


def publish(owner: User, name: str, visibility: str = "public", **data: Any) -> MLModel:
    data.setdefault("title", f"Title of {name}")
    return actions.create_model(acting_user=owner, name=name, visibility=visibility, **data)


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def add_counts(model: MLModel, rows: dict[datetime, tuple[int, int]]) -> None:
    """Counts of some hours, written as a flush writes them: the hour, day and month rows together."""
    buckets: list[tuple[Any, str, Callable[[datetime], Any]]] = [
        (ModelHourly, "hour", lambda h: h),
        (ModelDaily, "day", lambda h: h.date()),
        (ModelMonthly, "month", lambda h: h.date().replace(day=1)),
    ]
    for table, key, bucket in buckets:
        sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        for hour, (views, downloads) in rows.items():
            sums[bucket(hour)][0] += views
            sums[bucket(hour)][1] += downloads
        add_rows(
            table, [key, "model_id"], ["views", "downloads"], [(b, model.pk, *c) for b, c in sums.items()]
        )


def add_days(model: MLModel, rows: dict[date, tuple[int, int]]) -> None:
    add_counts(model, {datetime.combine(day, time(12), UTC): counts for day, counts in rows.items()})


def add_hours(model: MLModel, rows: dict[datetime, tuple[int, int]]) -> None:
    add_counts(model, rows)


def add_now(model: MLModel, views: int, downloads: int = 0) -> None:
    """Counts in the current hour."""
    add_counts(model, {this_hour(): (views, downloads)})


def names(entries: list[popularity.Entry]) -> list[str]:
    return [e.model.full_name for e in entries]


def api_names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["full_name"] for item in response.json()["items"]]


def everything_public(client: Client) -> dict[str, bytes]:
    """Every public surface that lists popular or trending models."""
    return {
        "popular page": client.get("/models/popular/").content,
        "trending page": client.get("/models/trending/").content,
        "popular csv": client.get("/models/popular.csv").content,
        "trending csv": client.get("/models/trending.csv").content,
        "popular api": client.get("/api/v1/models/popular?limit=100").content,
        "trending api": client.get("/api/v1/models/trending?limit=100").content,
        "home": client.get("/").content,
    }


def chart_and_csv(client: Client, kind: str) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    page = client.get(f"/models/{kind}/").content.decode()
    bars = [
        (unescape(label), value)
        for label, value in re.findall(r'data-label="([^"]*)" data-value="([^"]*)"', page)
    ]
    response = client.get(f"/models/{kind}.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return bars, list(csv.DictReader(io.StringIO(response.content.decode())))


# --- The formulas ---------------------------------------------------------------------------------


def test_popular_adds_views_and_downloads_of_the_last_30_days(owner: User) -> None:
    now = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
    today = now.date()
    rows = {
        "steady": {today - timedelta(days=n): (3, 1) for n in range(40)},  # 30 days count: 120
        "edges": {
            today: (50, 0),
            today - timedelta(days=29): (40, 5),  # the oldest day in the window
            today - timedelta(days=30): (900, 0),  # one day too old
            today + timedelta(days=1): (900, 0),  # after "now": not yet
        },
        "old-star": {today - timedelta(days=31): (5000, 5000)},
        "downloads": {today - timedelta(days=3): (0, 60)},
        "just-enough": {today: (6, 4)},  # exactly k
        "too-few": {today: (5, 4)},  # k - 1: never published
    }
    models = {name: publish(owner, name) for name in rows}
    for name, days in rows.items():
        add_days(models[name], days)

    expected = []
    for name, days in rows.items():
        window = [c for d, c in days.items() if 0 <= (today - d).days < 30]
        views, downloads = sum(v for v, _ in window), sum(d for _, d in window)
        if views + downloads >= settings.TRENDS_MIN_COUNT:
            expected.append((-(views + downloads), models[name].pk, f"alice/{name}", views, downloads))
    expected.sort()

    got = popularity.popular(10, now=now)
    assert [(e.model.full_name, e.views, e.downloads, e.score) for e in got] == [
        (full, views, downloads, -negative) for negative, _, full, views, downloads in expected
    ]
    assert [e.rank for e in got] == list(range(1, len(expected) + 1))
    assert "alice/too-few" not in names(got) and "alice/old-star" not in names(got)
    assert names(popularity.popular(2, now=now)) == names(got)[:2]


def test_the_popular_ranking_is_exact_at_every_depth(owner: User) -> None:
    """Counts outside the window, even in a month it touches, take no model's place."""
    now = datetime(2026, 3, 15, 9, tzinfo=UTC)  # the window: 14 February to 15 March
    rows = {
        "giant": {date(2026, 3, 14): (1000, 0)},
        "early-february": {date(2026, 2, 2): (500, 0), date(2026, 3, 1): (15, 0)},  # 15 in the window
        "leader": {date(2026, 3, 10): (90, 0)},
        "second": {date(2026, 2, 20): (80, 5)},
        "third": {date(2026, 3, 15): (20, 0)},
        "january": {date(2026, 1, 31): (999, 0)},  # a month the window does not touch
        "few": {date(2026, 3, 2): (9, 0)},
    }
    models = {name: publish(owner, name) for name in rows}
    for name, days in rows.items():
        add_days(models[name], days)
    start = date(2026, 2, 14)
    totals = {
        models[name].pk: sum(v + d for day, (v, d) in days.items() if start <= day <= now.date())
        for name, days in rows.items()
    }
    expected = sorted((pk for pk, n in totals.items() if n >= 10), key=lambda pk: (-totals[pk], pk))
    assert [models[name].pk for name in ("giant", "leader", "second", "third", "early-february")] == expected
    for depth in range(1, 7):
        got = popularity.rank_popular(now, depth=depth)
        assert [(r.model_id, r.score) for r in got] == [(pk, totals[pk]) for pk in expected[:depth]]


def test_trending_weighs_each_hour_by_its_age(owner: User) -> None:
    now = datetime(2026, 3, 15, 12, 40, tzinfo=UTC)
    current = now.replace(minute=0)
    ago = lambda hours: current - timedelta(hours=hours)  # noqa: E731
    rows = {
        # A burst this hour beats more visits a few days ago, which win the plain sum.
        "burst": {ago(0): (20, 4)},
        "last-week": {ago(100): (150, 0), ago(167): (200, 0)},
        "spread": {ago(h): (1, 1) for h in range(0, 200, 7)},
        "yesterday": {ago(24): (30, 0), ago(25): (0, 10)},
        "too-old": {ago(168): (5000, 0)},  # the window is hours 0 to 167
        "too-few": {ago(1): (9, 0)},
    }
    models = {name: publish(owner, name) for name in rows}
    for name, hours in rows.items():
        add_hours(models[name], hours)

    expected = []
    for name, hours in rows.items():
        window = {h: c for h, c in hours.items() if timedelta(0) <= current - h < timedelta(hours=168)}
        count = sum(v + d for v, d in window.values())
        score = sum(
            (v + d) * 0.5 ** (((current - h).total_seconds() / 3600) / 24) for h, (v, d) in window.items()
        )
        if count >= settings.TRENDS_MIN_COUNT:
            expected.append((-score, models[name].pk, f"alice/{name}"))
    expected.sort()

    got = popularity.trending(10, now=now)
    assert names(got) == [full for _, _, full in expected]
    for entry, (negative, _, _) in zip(got, expected, strict=True):
        assert entry.score == pytest.approx(-negative, abs=0.006)
    # The decay changes the order: plain sums would put last-week first.
    assert names(got)[0] == "alice/burst" and names(got).index("alice/last-week") > 0
    burst = got[0]
    assert (burst.views, burst.downloads, burst.score) == (20, 4, 24)
    yesterday = next(e for e in got if e.model.name == "yesterday")
    assert yesterday.score == round(30 * 0.5 + 10 * 0.5 ** (25 / 24), 2)


def test_the_formulas_are_written_on_the_pages_and_in_the_api(owner: User) -> None:
    client = Client()
    for kind, formula in popularity.FORMULAS.items():
        page = client.get(f"/models/{kind}/")
        assert page.status_code == 200 and not page.cookies
        text = page.content.decode()
        assert escape(formula) in text
        assert f"fewer than {settings.TRENDS_MIN_COUNT} views and downloads" in text
        assert "bots" in text.lower() and "public" in text
        answer = client.get(f"/api/v1/models/{kind}").json()
        assert answer["formula"] == formula and answer["min_count"] == settings.TRENDS_MIN_COUNT
    assert "0.5^(age / 24)" in popularity.TRENDING_FORMULA
    assert "last 30 days" in popularity.POPULAR_FORMULA


# --- Only public, opted-in models -----------------------------------------------------------------


def test_only_public_opted_in_models_appear_or_count_anywhere(owner: User, member: User) -> None:
    shown = publish(owner, "shown")
    hidden = {
        "by-link": publish(owner, "by-link", visibility="unlisted"),
        "secret": publish(owner, "secret", visibility="private"),
        "opted-out": publish(owner, "opted-out", in_popular=False),
        "gone": publish(owner, "gone"),
        "of-leaver": publish(member, "of-leaver"),
    }
    add_now(shown, 11, 1)
    # Distinctive counts, so that any trace of them on a page would be found.
    for n, model in enumerate(hidden.values()):
        add_now(model, 7770 + n, 300 + n)
    actions.delete_model(hidden["gone"], acting_user=owner)
    member.is_active = False
    member.save()

    surfaces = everything_public(Client())
    for surface, content in surfaces.items():
        assert b"alice/shown" in content, surface
        for name in hidden:
            assert f"/{name}".encode() not in content, (surface, name)
        if "api" not in surface:  # the API's timestamps have digits enough to contain anything
            for n in range(len(hidden)):
                assert str(7770 + n).encode() not in content, surface
                assert str(7770 + n + 300 + n).encode() not in content, surface
    assert names(popularity.popular(100)) == names(popularity.trending(100)) == ["alice/shown"]
    # Even a signed-in owner sees the public lists, not their own hidden models in them.
    client = Client()
    client.force_login(owner)
    assert b"alice/secret" not in client.get("/models/popular/").content


def test_a_model_leaves_the_lists_at_once_while_its_ranking_is_cached(
    owner: User, owner_client: Client
) -> None:
    model = publish(owner, "fickle")
    other = publish(owner, "steady")
    add_now(model, 40)
    add_now(other, 20)
    client = Client()
    assert api_names(client.get("/api/v1/models/popular")) == ["alice/fickle", "alice/steady"]
    assert api_names(client.get("/api/v1/models/trending")) == ["alice/fickle", "alice/steady"]
    # The ranking is cached now: a newcomer's counts wait for it to expire...
    add_now(publish(owner, "newcomer"), 500)
    assert "alice/newcomer" not in api_names(client.get("/api/v1/models/popular"))

    changes = [
        lambda: actions.set_visibility(model, "private", acting_user=owner),
        lambda: actions.set_visibility(model, "unlisted", acting_user=owner),
        lambda: owner_client.post(
            "/alice/fickle/edit/",
            {"title": "Fickle", "license": "MIT", "library": "other", "task": "other"},  # box unticked
        ),
        lambda: owner_client.patch(
            "/api/v1/models/alice/fickle", {"in_popular": False}, content_type="application/json"
        ),
    ]
    for change in changes:
        response = change()
        assert getattr(response, "status_code", 302) in (200, 302)
        for surface, content in everything_public(client).items():
            assert b"alice/fickle" not in content, surface
            assert b"alice/steady" in content, surface
            assert b"alice/newcomer" not in content, surface  # ...but a model leaves at once
        # Back to public and opted in: back in the lists, at once too.
        actions.update_model(
            MLModel.objects.get(pk=model.pk), acting_user=owner, visibility="public", in_popular=True
        )
        assert api_names(client.get("/api/v1/models/popular"))[0] == "alice/fickle"
        assert b"alice/fickle" in client.get("/models/trending/").content
        model.refresh_from_db()

    actions.delete_model(model, acting_user=owner)
    assert api_names(client.get("/api/v1/models/popular")) == ["alice/steady"]
    assert b"alice/fickle" not in client.get("/models/popular.csv").content


def test_hidden_leaders_do_not_shorten_the_list(owner: User, settings: Any, monkeypatch: Any) -> None:
    """When the first ranked models may not be shown, the list looks further down the ranking."""
    monkeypatch.setattr(popularity, "DEPTH", 3)
    monkeypatch.setattr(popularity, "CHUNK", 2)
    for n in range(5):
        add_now(publish(owner, f"private-{n}", visibility="private"), 100 - n)
    for n in range(3):
        add_now(publish(owner, f"public-{n}"), 50 - n)
    assert names(popularity.popular(2)) == ["alice/public-0", "alice/public-1"]
    assert names(popularity.trending(3)) == ["alice/public-0", "alice/public-1", "alice/public-2"]


# --- Pages, charts and CSV ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["popular", "trending"])
def test_the_chart_and_its_csv_show_the_same_figures(owner: User, kind: str) -> None:
    for n in range(25):
        add_now(publish(owner, f"model-{n:02}"), 10 + 5 * n, n % 4)  # no ties
    client = Client()
    bars, rows = chart_and_csv(client, kind)
    assert len(bars) == len(rows) == 20
    assert bars == [(row["model"], row["score"]) for row in rows]
    assert [row["rank"] for row in rows] == [str(n) for n in range(1, 21)]
    assert rows[0]["model"] == "alice/model-24"
    assert rows[0]["views"] == str(10 + 5 * 24) and rows[0]["downloads"] == str(24 % 4)
    page = client.get(f"/models/{kind}/").content.decode()
    assert f'href="/models/{kind}.csv"' in page
    assert page.count("<tr>") - 1 == 25  # the table lists them all, the chart the first 20
    for n in range(25):
        assert f'href="/alice/model-{n:02}/"' in page and f"Title of model-{n:02}" in page


def test_the_home_page_shows_the_first_five_of_each_list(owner: User) -> None:
    for n in range(7):
        add_now(publish(owner, f"model-{n}"), 20 + n)
    page = Client().get("/").content.decode()
    for n in range(7):
        # Once in the popular five and once in the trending five, or not at all.
        assert page.count(f'href="/alice/model-{n}/"') == (2 if n >= 2 else 0)
    assert 'href="/models/popular/"' in page and 'href="/models/trending/"' in page


def test_large_counts_are_written_with_thousands_separators(owner: User) -> None:
    add_now(publish(owner, "big"), 12345, 2000)
    home = Client().get("/").content.decode()
    assert "12,345 views, 2,000 downloads" in home
    popular_page = Client().get("/models/popular/").content.decode()
    assert "<td>12,345</td>" in popular_page and "<td>14,345</td>" in popular_page
    trending_page = Client().get("/models/trending/").content.decode()
    assert "<td>14,345</td>" in trending_page  # the current hour counts in full


def test_routes_are_not_taken_by_the_hub(owner: User) -> None:
    publish(owner, "popular")
    assert resolve("/models/popular/").view_name == "analytics:popular"
    assert resolve("/models/trending/").view_name == "analytics:trending"
    assert resolve("/api/v1/models/popular").url_name == "popular_models"
    assert resolve("/api/v1/models/trending").url_name == "trending_models"
    assert resolve("/api/v1/models/alice/popular").url_name == "get_model"
    assert Client().get("/api/v1/models/alice/popular").json()["full_name"] == "alice/popular"


def test_the_api_limit(owner: User) -> None:
    for n in range(25):
        add_now(publish(owner, f"model-{n:02}"), 10 + n)
    client = Client()
    assert len(api_names(client.get("/api/v1/models/popular"))) == 20
    assert len(api_names(client.get("/api/v1/models/trending?limit=3"))) == 3
    for bad in ("0", "101", "many"):
        response = client.get(f"/api/v1/models/popular?limit={bad}")
        assert response.status_code == 422 and "limit" in response.json()["error"]["fields"]
    item = client.get("/api/v1/models/popular?limit=1").json()["items"][0]
    assert item["full_name"] == "alice/model-24" and item["url"].endswith("/alice/model-24/")
    assert (item["rank"], item["views"], item["downloads"], item["score"]) == (1, 34, 0, 34)
    assert item["visibility"] == "public" and item["in_popular"] is True and item["files"] == 0


# --- The popular sort of /models/ -----------------------------------------------------------------


@pytest.fixture
def sortable(owner: User, member: User) -> list[str]:
    """Models with counts, without, and opted out; returns the expected popular order."""
    scored = {"b-second": 40, "a-third": 25, "c-first": 90, "d-tie": 25}
    for name, count in scored.items():
        add_days(publish(owner, name), {datetime.now(UTC).date(): (count, 0)})
    add_days(publish(owner, "z-few"), {datetime.now(UTC).date(): (3, 0)})  # under k: counts as 0
    add_days(publish(owner, "y-out", in_popular=False), {datetime.now(UTC).date(): (500, 0)})
    add_days(publish(owner, "x-private", visibility="private"), {datetime.now(UTC).date(): (800, 0)})
    publish(member, "a-none")
    publish(owner, "m-none")
    ranked = sorted(scored, key=lambda name: (-scored[name], name))
    # The unscored rest by owner (the blind index of the name: names are stored encrypted), then name.
    rest = sorted(
        [("alice", "z-few"), ("alice", "y-out"), ("bob", "a-none"), ("alice", "m-none")],
        key=lambda pair: (username_index(pair[0]), pair[1]),
    )
    return [f"alice/{name}" for name in ranked] + [f"{owner}/{name}" for owner, name in rest]


def test_the_popular_sort_of_the_models_page(sortable: list[str], monkeypatch: Any) -> None:
    from candor.hub import views

    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    client, seen = Client(), []
    for number in range(1, 4):
        page = client.get(f"/models/?sort=popular&page={number}").content.decode()
        seen += re.findall(r'<h3><a href="/([^/"]+/[^/"]+)/">', page)
    assert seen == sortable
    assert 'value="popular" selected' in client.get("/models/?sort=popular").content.decode()
    filtered = client.get("/models/?sort=popular&q=second").content.decode()
    assert re.findall(r'<h3><a href="/([^/"]+/[^/"]+)/">', filtered) == ["alice/b-second"]


def test_the_popular_sort_of_the_api_pages_with_a_cursor(sortable: list[str], owner: User) -> None:
    client, seen, pages = Client(), [], 0
    url: str | None = "/api/v1/models?sort=popular&limit=3"
    while url:
        page = client.get(url).json()
        seen += [item["full_name"] for item in page["items"]]
        url = page["next"]
        if url:
            url = url.removeprefix(settings.WEBSITE_URL)
        pages += 1
    assert seen == sortable and pages == 3
    assert api_names(client.get("/api/v1/models?sort=popular&limit=100")) == sortable
    following = client.get("/api/v1/models?sort=popular&limit=2").json()["next"]
    cursor = parse_qs(urlsplit(following).query)["cursor"][0]
    assert client.get(f"/api/v1/models?sort=name&cursor={cursor}").json()["error"]["code"] == "invalid_cursor"
    assert (
        client.get("/api/v1/models?sort=popular&cursor=made-up").json()["error"]["code"] == "invalid_fields"
    )

    # Opting out takes effect in the (cached) listing at once.
    model = MLModel.objects.get(name="c-first")
    token = create_token(owner, name="t", scopes=["read", "write"], acting_user=owner)[1]
    patched = Client().patch(
        "/api/v1/models/alice/c-first",
        {"in_popular": False},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert patched.status_code == 200 and patched.json()["in_popular"] is False
    model.refresh_from_db()
    assert model.in_popular is False
    after = api_names(client.get("/api/v1/models?sort=popular&limit=100"))
    assert after[0] == "alice/b-second" and after.index("alice/c-first") > after.index("alice/d-tie")
    assert b"alice/c-first" not in client.get("/models/popular/").content


def test_in_popular_must_be_a_boolean(owner: User) -> None:
    publish(owner, "strict")
    token = create_token(owner, name="t", scopes=["read", "write"], acting_user=owner)[1]
    response = Client().patch(
        "/api/v1/models/alice/strict",
        {"in_popular": "no"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and "in_popular" in response.json()["error"]["fields"]
    assert MLModel.objects.get(name="strict").in_popular is True
    with pytest.raises(Refusal):
        actions.update_model(MLModel.objects.get(name="strict"), acting_user=owner, in_popular="no")


# --- The owner's own counts -----------------------------------------------------------------------


def test_the_owner_alone_sees_the_chart_and_its_csv(owner: User, member: User, outsider: User) -> None:
    model = publish(owner, "mine")
    quiet = publish(owner, "quiet", visibility="private")
    today = datetime.now(UTC).date()
    add_days(model, {today: (7, 2), today - timedelta(days=3): (4, 0), today - timedelta(days=40): (99, 99)})
    add_days(quiet, {today - timedelta(days=1): (3, 1)})

    owner_client = Client()
    owner_client.force_login(owner)
    page = owner_client.get("/alice/mine/").content.decode()
    assert "Views per day" in page and "Downloads per day" in page
    assert "only while the model was public" in page.lower()
    values = re.findall(r'data-label="(\d{4}-\d\d-\d\d)" data-value="(\d+)"', page)
    assert len(values) == 60  # 30 days of views, 30 of downloads
    views, downloads = dict(values[:30]), dict(values[30:])
    assert views[today.isoformat()] == "7" and downloads[today.isoformat()] == "2"
    assert views[(today - timedelta(days=3)).isoformat()] == "4"
    assert sum(int(v) for v in views.values()) == 11 and sum(int(v) for v in downloads.values()) == 2
    response = owner_client.get("/alice/mine/stats.csv")
    assert response.status_code == 200 and response["Cache-Control"].startswith("private")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["day"], r["views"], r["downloads"]) for r in rows] == [
        (day, views[day], downloads[day]) for day in views
    ]
    assert owner_client.get("/alice/quiet/stats.csv").status_code == 200
    assert "Views per day" in owner_client.get("/alice/quiet/").content.decode()

    for persona in (member, outsider, None):
        client = Client()
        if persona is not None:
            client.force_login(persona)
        page = client.get("/alice/mine/")
        assert page.status_code == 200
        assert b"Views per day" not in page.content and b"stats.csv" not in page.content
        mine, absent = client.get("/alice/mine/stats.csv"), client.get("/alice/never-was/stats.csv")
        assert mine.status_code == absent.status_code == 404 and mine.content == absent.content
        assert client.get("/alice/quiet/stats.csv").status_code == 404


def test_the_stats_api_answers_the_owner_only(owner: User, member: User) -> None:
    model = publish(owner, "mine", visibility="unlisted")
    today = datetime.now(UTC).date()
    add_days(model, {today: (5, 1), today - timedelta(days=6): (2, 2), today - timedelta(days=7): (9, 9)})
    alice = {
        "Authorization": f"Bearer {create_token(owner, name='t', scopes=['read'], acting_user=owner)[1]}"
    }
    bob = {
        "Authorization": f"Bearer {create_token(member, name='t', scopes=['read'], acting_user=member)[1]}"
    }
    client = Client()

    answer = client.get("/api/v1/models/alice/mine/stats", headers=alice).json()
    assert answer["full_name"] == "alice/mine" and "public" in answer["note"]
    assert len(answer["days"]) == 30 and answer["days"][-1] == {
        "day": today.isoformat(),
        "views": 5,
        "downloads": 1,
    }
    assert sum(d["views"] for d in answer["days"]) == 16
    week = client.get("/api/v1/models/alice/mine/stats?days=7", headers=alice).json()["days"]
    assert [d["day"] for d in week] == [(today - timedelta(days=6 - n)).isoformat() for n in range(7)]
    assert (week[0]["views"], week[0]["downloads"]) == (2, 2)
    for bad in ("0", "366"):
        assert client.get(f"/api/v1/models/alice/mine/stats?days={bad}", headers=alice).status_code == 422

    for headers in (bob, {}):
        mine = client.get("/api/v1/models/alice/mine/stats", headers=headers)
        absent = client.get("/api/v1/models/alice/never-was/stats", headers=headers)
        assert mine.status_code == absent.status_code
        assert mine.content == absent.content
    assert client.get("/api/v1/models/alice/mine/stats").status_code == 401
    refused = client.get("/api/v1/models/alice/mine/stats", headers=bob)
    assert refused.status_code == 404
    assert refused.json()["error"] == {"code": "not_found", "message": "No such model.", "fields": {}}


def test_owner_series_fills_missing_days_with_zero(owner: User) -> None:
    model = publish(owner, "sparse")
    now = datetime(2026, 2, 1, 23, 59, tzinfo=UTC)
    add_days(model, {date(2026, 1, 30): (1, 2), date(2026, 2, 2): (50, 50)})
    series = popularity.owner_series(model, days=4, now=now)
    assert [(d.day, d.views, d.downloads) for d in series] == [
        (date(2026, 1, 29), 0, 0),
        (date(2026, 1, 30), 1, 2),
        (date(2026, 1, 31), 0, 0),
        (date(2026, 2, 1), 0, 0),
    ]
    with pytest.raises(ValueError):
        popularity.owner_series(model, days=0)


# --- End to end -----------------------------------------------------------------------------------


def test_real_visits_flow_into_the_lists(owner: User) -> None:
    model = publish(owner, "visited")
    actions.add_file(model, "weights.bin", [b"0123456789"], acting_user=owner)
    hidden = publish(owner, "hidden", visibility="private")
    visitor = Client(HTTP_USER_AGENT=BROWSER_UA)
    for _ in range(8):
        assert visitor.get("/alice/visited/").status_code == 200
    assert visitor.get("/api/v1/models/alice/visited").status_code == 200
    for _ in range(2):
        assert visitor.get("/alice/visited/files/weights.bin").status_code == 200
    bot = Client(HTTP_USER_AGENT=BOT_UA)
    for _ in range(20):
        bot.get("/alice/visited/")
    owner_client = Client(HTTP_USER_AGENT=BROWSER_UA)
    owner_client.force_login(owner)
    for _ in range(20):
        assert owner_client.get("/alice/hidden/").status_code == 200
    flush()

    assert not ModelDaily.objects.filter(model_id=hidden.pk).exists()
    for kind in ("popular", "trending"):
        item = Client().get(f"/api/v1/models/{kind}").json()["items"]
        assert [(i["full_name"], i["views"], i["downloads"]) for i in item] == [("alice/visited", 9, 2)]
    entry = popularity.popular(1)[0]
    assert (entry.views, entry.downloads, entry.score) == (9, 2, 11)
    assert b"alice/visited" in Client().get("/models/popular/").content
    series = popularity.owner_series(model)
    assert (series[-1].views, series[-1].downloads) == (9, 2)


def test_an_inactive_owner_s_models_leave_the_lists(owner: User) -> None:
    add_now(publish(owner, "left-behind"), 30)
    other = make_user("erin")
    add_now(publish(other, "stays"), 20)
    assert names(popularity.popular(10)) == ["alice/left-behind", "erin/stays"]
    owner.is_active = False
    owner.save()
    assert names(popularity.popular(10)) == names(popularity.trending(10)) == ["erin/stays"]


def test_the_model_forms_carry_the_opt_out(owner: User, owner_client: Client) -> None:
    form = {"title": "T", "license": "MIT", "library": "other", "task": "other"}
    assert 'name="in_popular"' in owner_client.get("/models/new/").content.decode()
    owner_client.post("/models/new/", {**form, "name": "ticked", "in_popular": "on"})
    owner_client.post("/models/new/", {**form, "name": "unticked"})
    assert MLModel.objects.get(name="ticked").in_popular is True
    assert MLModel.objects.get(name="unticked").in_popular is False
    edit = owner_client.get("/alice/unticked/edit/").content.decode()
    assert re.search(r'<input type="checkbox" name="in_popular"(?![^>]*checked)[^>]*>', edit)
    owner_client.post("/alice/unticked/edit/", {**form, "in_popular": "on"})
    assert MLModel.objects.get(name="unticked").in_popular is True
    edit = owner_client.get("/alice/unticked/edit/").content.decode()
    assert re.search(r'<input type="checkbox" name="in_popular"[^>]*checked', edit)
