"""The public trends report (clause C8): /trends/ and a CSV download per chart.

The report itself comes from :mod:`candor.analytics.trends.report`; these views parse the query, ask
for it and draw it. A refusal shows as the form's errors: a bad parameter under its field (400), a spent
privacy budget above the form (403). The page needs no account, no cookie and no script: the form is
a GET form and the charts are SVG drawn here.
"""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from candor.analytics import charts, noise, suppression
from candor.analytics.trends import ledger, ranges, report
from candor.kernel.refusal import Code, Refusal

GRANULARITY_CHOICES = [("day", "By day"), ("week", "By week"), ("month", "By month")]


class TrendsForm(forms.Form):
    """from, to and granularity; a missing one takes its default (the last 30 days, by day)."""

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.query: ranges.TrendsQuery | None = None
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
            self.query = ranges.parse(cleaned.get("from"), cleaned.get("to"), cleaned.get("granularity"))
        except Refusal as refused:
            for field, messages in refused.fields.items():
                for message in messages:
                    self.add_error(field, message)
        return cleaned

    @classmethod
    def showing(cls, query: ranges.TrendsQuery) -> TrendsForm:
        """The form filled with the query the page shows (defaults written out)."""
        return cls(_params(query))


def _params(query: ranges.TrendsQuery) -> dict[str, str]:
    return {"from": query.start.isoformat(), "to": query.end.isoformat(), "granularity": query.granularity}


def _svg(figure: report.Chart) -> str:
    if figure.kind == "columns":
        return charts.columns(figure.rows, title=figure.title, description=figure.description)
    rows = [(label, value) for label, value in figure.rows if value is not None]
    return charts.bars(rows, title=figure.title, description=figure.description)


@require_safe
def trends(request: HttpRequest) -> HttpResponse:
    form = TrendsForm(request.GET)
    context: dict[str, Any] = {
        "k": suppression.min_count(),
        "dp_enabled": noise.enabled(),
        "notes": report.NOTES,
        "max_days": ranges.MAX_DAYS,
    }
    if context["dp_enabled"]:
        context["ledger"] = ledger.summary()
    if not form.is_valid() or form.query is None:
        return render(request, "analytics/trends.html", {**context, "form": form}, status=400)
    try:
        published = report.build(form.query)
    except Refusal as refused:
        if refused.code is not Code.BUDGET_SPENT:
            raise
        form.add_error(None, refused.message)
        return render(request, "analytics/trends.html", {**context, "form": form}, status=403)
    querystring = urlencode(_params(form.query))
    figures = {}
    for name in report.CHARTS:
        figure = report.chart(published, name)
        figures[name] = {"chart": figure, "svg": _svg(figure), "query": querystring}
    if context["dp_enabled"]:
        context["ledger"] = ledger.summary()  # again: this request may have made the release
    return render(
        request,
        "analytics/trends.html",
        {**context, "form": TrendsForm.showing(form.query), "report": published, "figures": figures},
    )


@require_safe
def trends_csv(request: HttpRequest, chart: str) -> HttpResponse:
    """Exactly the figures of one chart: a header row, then label and value (withheld: empty)."""
    if chart not in report.CHARTS:
        raise Http404("No such chart.")
    form = TrendsForm(request.GET)
    if not form.is_valid() or form.query is None:
        messages = [f"{field}: {message}" for field, errors in form.errors.items() for message in errors]
        return HttpResponse("\n".join(messages) + "\n", status=400, content_type="text/plain; charset=utf-8")
    try:
        figure = report.chart(report.build(form.query), chart)
    except Refusal as refused:
        if refused.code is not Code.BUDGET_SPENT:
            raise
        return HttpResponse(refused.message + "\n", status=403, content_type="text/plain; charset=utf-8")
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
