"""Popular and trending models (clause C12). Being written."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def popular(request: HttpRequest) -> HttpResponse:
    raise Http404


trending = popular_csv = trending_csv = popular
