"""In Chromium: visits counted end to end, the popular list and the trends report drawn as SVG charts
(also with JavaScript off), and every chart's CSV download holding the figures the chart shows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, Page, expect

from candor.accounts.models import User
from candor.analytics import store
from candor.analytics.buffer import flush
from candor.analytics.models import DailyUnique, DimensionDaily, RouteDaily
from candor.hub import actions


def chart_figures(page: Page, figure: Any) -> list[tuple[str, str]]:
    """(label, value) of every bar of the chart inside ``figure``, as drawn."""
    bars = figure.locator("svg rect[data-label]")
    return [
        (bars.nth(i).get_attribute("data-label") or "", bars.nth(i).get_attribute("data-value") or "")
        for i in range(bars.count())
    ]


def download_csv(page: Page, link: Any) -> list[list[str]]:
    with page.expect_download() as download:
        link.click()
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    return list(csv.reader(io.StringIO(text)))


def test_visits_reach_the_popular_list_and_its_csv_matches_its_chart(
    page: Page, site: Any, owner: User, settings: Any
) -> None:
    settings.TRENDS_MIN_COUNT = 3
    busy = actions.create_model(acting_user=owner, name="busy-net", title="Busy net", visibility="public")
    quiet = actions.create_model(acting_user=owner, name="quiet-net", title="Quiet net", visibility="public")
    hidden = actions.create_model(
        acting_user=owner, name="hidden-net", title="Hidden net", visibility="unlisted"
    )
    for model, visits in ((busy, 6), (quiet, 4), (hidden, 8)):
        for _ in range(visits):
            page.goto(site.url + model.get_absolute_url())
            expect(page.get_by_role("heading", name=model.title, level=1)).to_be_visible()
    flush()

    page.goto(site.url + "/models/popular/")
    expect(page.get_by_role("heading", name="Popular models", level=1)).to_be_visible()
    expect(page.locator("code.formula")).to_contain_text("views + downloads")
    figure = page.locator("figure.chart-figure").first
    expect(figure.locator("svg[role=img]")).to_be_visible()
    drawn = chart_figures(page, figure)
    assert [label for label, _ in drawn] == ["alice/busy-net", "alice/quiet-net"]  # never the unlisted one
    assert [value for _, value in drawn] == ["6", "4"]
    rows = download_csv(page, figure.get_by_role("link", name="CSV"))
    assert rows[0] == ["rank", "model", "views", "downloads", "score"]
    assert [(row[1], row[4]) for row in rows[1:]] == drawn

    # Made private: gone from the list at once, chart and CSV alike.
    actions.set_visibility(busy, "private", acting_user=owner)
    page.reload()
    drawn = chart_figures(page, page.locator("figure.chart-figure").first)
    assert [label for label, _ in drawn] == ["alice/quiet-net"]
    assert "busy-net" not in page.content()


def _seed_report(models: list[Any]) -> tuple[date, date]:
    """Thirty days of counts ending yesterday: some days below k, several browsers, languages, sites."""
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=29)
    days = [start + timedelta(days=i) for i in range(30)]
    store.add_rows(
        RouteDaily,
        ["day", "route"],
        ["views", "bot_views"],
        [(d, "hub:model", 3 if i % 7 == 0 else 40 + i, 5) for i, d in enumerate(days)],
    )
    DailyUnique.objects.bulk_create(
        [DailyUnique(day=d, model_id=0, visitors=2 if i % 5 == 0 else 20 + i) for i, d in enumerate(days)]
    )
    rows = []
    for i, d in enumerate(days):
        rows += [(d, "browser", "Firefox", 30), (d, "browser", "Chrome", 12), (d, "browser", "Lynx", i % 2)]
        rows += [(d, "language", "en", 25), (d, "language", "fr", 9)]
        rows += [(d, "referrer", "example.org", 4), (d, "referrer", "news.example", 3)]
        rows += [(d, "referrer", "tiny.example", 0 if i else 1)]
    store.add_rows(DimensionDaily, ["day", "dimension", "value"], ["views"], [r for r in rows if r[3]])
    from candor.analytics.models import ModelDaily, ModelMonthly

    daily = [(d, m.pk, 5 + n, 1) for n, m in enumerate(models) for d in days]
    store.add_rows(ModelDaily, ["day", "model_id"], ["views", "downloads"], daily)
    monthly: dict[tuple[date, int], list[int]] = {}
    for d, mid, views, downloads in daily:
        bucket = monthly.setdefault((d.replace(day=1), mid), [0, 0])
        bucket[0] += views
        bucket[1] += downloads
    store.add_rows(
        ModelMonthly,
        ["month", "model_id"],
        ["views", "downloads"],
        [(*key, *values) for key, values in monthly.items()],
    )
    return start, end


def test_the_trends_report_draws_every_chart_and_each_csv_matches_it(
    page: Page, site: Any, owner: User, browser: Browser
) -> None:
    models = [actions.create_model(acting_user=owner, name=f"net-{i}", visibility="public") for i in range(3)]
    start, end = _seed_report(models)
    page.goto(f"{site.url}/trends/?from={start}&to={end}&granularity=day")
    expect(page.get_by_role("heading", name="Usage trends", level=1)).to_be_visible()
    figures = page.locator("figure.chart-figure")
    assert figures.count() == 6
    names = []
    for i in range(figures.count()):
        figure = figures.nth(i)
        expect(figure.locator("svg[role=img]")).to_be_visible()
        drawn = chart_figures(page, figure)
        assert drawn, f"chart {i} has no bars"
        link = figure.get_by_role("link", name="CSV")
        names.append(link.get_attribute("href"))
        rows = download_csv(page, link)
        assert [tuple(row) for row in rows[1:]] == drawn, link.get_attribute("href")
        # No released figure is below k (10): a withheld one is empty in both.
        assert all(value == "" or float(value) >= 10 for _, value in drawn)
    assert any("visits.csv" in (name or "") for name in names)
    visits = chart_figures(page, figures.first)
    assert len(visits) == 30 and ("", "") not in visits
    assert [value for _, value in visits].count("") == 5  # the five days that counted 3 (i % 7 == 0)

    # Readable without JavaScript: the same charts are in the HTML as served.
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(f"{site.url}/trends/?from={start}&to={end}&granularity=week")
        expect(plain.locator("figure.chart-figure svg[role=img]")).to_have_count(6)
        # One bar a week (weeks start on Monday): thirty days touch five or six of them, by the weekday.
        weeks = {(start + timedelta(days=i)).isocalendar()[:2] for i in range((end - start).days + 1)}
        expect(plain.locator("figure.chart-figure").first.locator("rect[data-label]")).to_have_count(
            len(weeks)
        )
    finally:
        context.close()
