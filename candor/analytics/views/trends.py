"""The public trends report (clause C8): /trends/ and a CSV download per chart.

The report itself comes from :mod:`candor.analytics.trends`; these views parse the query, ask for it and
draw it. The page needs no account, no cookie and no script: the form is a GET form and the charts are
SVG drawn here.
"""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from candor.analytics import charts
from candor.analytics import trends as reports

GRANULARITY_CHOICES = [("day", "By day"), ("week", "By week"), ("month", "By month")]


class TrendsForm(forms.Form):
    """from, to and granularity; a missing one takes its default (the last 30 days, by day)."""

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.query: reports.TrendsQuery | None = None
        date_input = {"type": "date", "pattern": "[0-9]{4}-[0-9]{2}-[0-9]{2}"}
        self.fields["from"] = forms.CharField(
            label="From", required=False, max_length=10, widget=forms.DateInput(attrs=date_input)
        )
        self.fields["to"] = forms.CharField(
            label="To", required=False, max_length=10, widget=forms.DateInput(attrs=date_input)
        )
        self.fields["granularity"] = forms.ChoiceField(
            label="Per", required=False, choices=GRANULARITY_CHOICES
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            self.query = reports.parse(cleaned.get("from"), cleaned.get("to"), cleaned.get("granularity"))
        except reports.TrendsError as error:
            self.add_error(error.field, error.message)
        return cleaned

    @classmethod
    def showing(cls, query: reports.TrendsQuery) -> TrendsForm:
        """The form filled with the query the page shows (defaults written out)."""
        return cls(_params(query))


def _params(query: reports.TrendsQuery) -> dict[str, str]:
    return {"from": query.start.isoformat(), "to": query.end.isoformat(), "granularity": query.granularity}


def _svg(figure: reports.Chart) -> str:
    if figure.kind == "columns":
        return charts.columns(figure.rows, title=figure.title, description=figure.description)
    rows = [(label, value) for label, value in figure.rows if value is not None]
    return charts.bars(rows, title=figure.title, description=figure.description)


@require_safe
def trends(request: HttpRequest) -> HttpResponse:
    form = TrendsForm(request.GET)
    context: dict[str, Any] = {
        "k": reports.min_count(),
        "dp_enabled": reports.dp_enabled(),
        "notes": reports.NOTES,
        "max_days": reports.MAX_DAYS,
    }
    if context["dp_enabled"]:
        context["ledger"] = reports.ledger()
    if not form.is_valid() or form.query is None:
        return render(request, "analytics/trends.html", {**context, "form": form}, status=400)
    try:
        report = reports.report_for(form.query)
    except reports.BudgetSpent as spent:
        form.add_error(None, spent.message)
        return render(request, "analytics/trends.html", {**context, "form": form}, status=403)
    querystring = urlencode(_params(form.query))
    figures = {}
    for name in reports.CHARTS:
        figure = reports.chart(report, name)
        figures[name] = {"chart": figure, "svg": _svg(figure), "query": querystring}
    if context["dp_enabled"]:
        context["ledger"] = reports.ledger()  # again: this request may have made the release
    return render(
        request,
        "analytics/trends.html",
        {**context, "form": TrendsForm.showing(form.query), "report": report, "figures": figures},
    )


@require_safe
def trends_csv(request: HttpRequest, chart: str) -> HttpResponse:
    """Exactly the figures of one chart: a header row, then label and value (withheld: empty)."""
    if chart not in reports.CHARTS:
        raise Http404("No such chart.")
    form = TrendsForm(request.GET)
    if not form.is_valid() or form.query is None:
        messages = [f"{field}: {message}" for field, errors in form.errors.items() for message in errors]
        return HttpResponse("\n".join(messages) + "\n", status=400, content_type="text/plain; charset=utf-8")
    try:
        figure = reports.chart(reports.report_for(form.query), chart)
    except reports.BudgetSpent as spent:
        return HttpResponse(spent.message + "\n", status=403, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    query = form.query
    response["Content-Disposition"] = (
        f'attachment; filename="trends-{chart}-{query.start}-{query.end}-{query.granularity}.csv"'
    )
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(figure.header)
    for label, value in figure.rows:
        writer.writerow([label, "" if value is None else value])
    return response
