"""Popular and trending models (clause C12): the two public lists with their charts and CSV downloads,
and a model's own views and downloads per day as CSV, for its owner only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_safe

from candor.analytics import charts, popularity, suppression
from candor.kernel.refusal import Refusal

LIST_SIZE = 50
CHART_SIZE = 20
TITLES = {popularity.POPULAR: "Popular models", popularity.TRENDING: "Trending models"}


def list_chart(kind: str, entries: Sequence[popularity.Entry]) -> SafeString:
    """The bar chart of a list's first entries: each model's score, as in the list's CSV."""
    window = "30 days" if kind == popularity.POPULAR else "7 days"
    return charts.bars(
        [(e.model.full_name, e.score) for e in entries],
        title=f"{TITLES[kind]}: score of the top {len(entries)}",
        description=f"One bar per model, longest first: its score over the last {window}.",
    )


def _csv(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _list_page(request: HttpRequest, kind: str) -> HttpResponse:
    entries = popularity.ranking(kind, LIST_SIZE)
    # The chart's entries are the first CHART_SIZE of the same ranking, which is what the CSV serves.
    top = entries[:CHART_SIZE]
    context = {
        "kind": kind,
        "title": TITLES[kind],
        "entries": entries,
        "chart": list_chart(kind, top) if top else None,
        "formula": popularity.FORMULAS[kind],
        "min_count": suppression.min_count(),
        "freshness_minutes": max(1, round(popularity.freshness_seconds() / 60)),
        "chart_size": len(top),
        "csv_url": reverse(f"analytics:{kind}_csv"),
    }
    return render(request, f"analytics/{kind}.html", context)


def _list_csv(kind: str) -> HttpResponse:
    entries = popularity.ranking(kind, CHART_SIZE)
    return _csv(
        f"{kind}-models.csv",
        ["rank", "model", "views", "downloads", "score"],
        ((e.rank, e.model.full_name, e.views, e.downloads, e.score) for e in entries),
    )


@require_safe
def popular(request: HttpRequest) -> HttpResponse:
    return _list_page(request, popularity.POPULAR)


@require_safe
def trending(request: HttpRequest) -> HttpResponse:
    return _list_page(request, popularity.TRENDING)


@require_safe
def popular_csv(request: HttpRequest) -> HttpResponse:
    return _list_csv(popularity.POPULAR)


@require_safe
def trending_csv(request: HttpRequest) -> HttpResponse:
    return _list_csv(popularity.TRENDING)


@require_safe
def model_stats_csv(request: HttpRequest, username: str, name: str) -> HttpResponse:
    try:
        model, series = popularity.own_model_counts(request.user, username, name)
    except Refusal as refused:
        raise Http404(refused.message) from None
    response = _csv(
        f"{model.name}-per-day.csv",
        ["day", "views", "downloads"],
        ((d.day.isoformat(), d.views, d.downloads) for d in series),
    )
    response["X-Robots-Tag"] = "noindex"
    return response
