"""The public trends report (clause C8). Being written."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def trends(request: HttpRequest) -> HttpResponse:
    raise Http404


def trends_csv(request: HttpRequest, chart: str) -> HttpResponse:
    raise Http404
