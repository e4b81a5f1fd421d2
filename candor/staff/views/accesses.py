"""Settings → "Who accessed your data": the person's own entries of the access log that may be told now."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import InvalidPage, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from candor.staff import notices

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "HEAD"])
def accesses(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(notices.entries_of(request.user.pk), PAGE_SIZE)
    context: dict[str, object] = {"shows_staff_name": notices.shows_staff_name(), "total": paginator.count}
    status = 200
    try:
        page = paginator.page(request.GET.get("page", "1"))
    except InvalidPage:
        status = 404
        context["bad_page"] = f"There is no such page: the list has {paginator.num_pages} page" + (
            "s." if paginator.num_pages != 1 else "."
        )
        page = paginator.page(1)
    context["page"] = page
    context["accesses"] = notices.described(page.object_list)
    response = render(request, "staff/accesses.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response
