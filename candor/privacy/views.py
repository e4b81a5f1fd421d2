from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from candor.privacy import inventory


@require_safe
def data_inventory(request: HttpRequest) -> HttpResponse:
    """What Candor collects, why and for how long: generated from the inventory, never written by hand."""
    return render(request, "privacy/data.html", {"rows": inventory.rows()})
