"""The access log's published checkpoints: JSON for anyone who keeps a copy, and a page for people."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from candor.staff import checkpoints

# Public and the same for everyone, and cached as the site's other public answers are (decided in one
# place, candor.web.middleware): caches keep a copy and revalidate it by its ETag before each use.


@require_safe
def checkpoints_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(checkpoints.published(), json_dumps_params={"indent": 1})


@require_safe
def log_page(request: HttpRequest) -> HttpResponse:
    body = checkpoints.published()
    body["checkpoints"].reverse()  # newest first on the page
    return render(request, "staff/transparency_log.html", {"log": body})
