"""Scaffolding: replaced by the helper that builds these pages."""

from django.http import Http404, HttpRequest, HttpResponse


def placeholder(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404("not built yet")
