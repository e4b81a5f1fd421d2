"""Settings → "Emails we sent you": the person's email preferences, and the record of every email the
platform sent them (or meant to), newest first."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import InvalidPage, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from candor.comms import actions, queries
from candor.comms.choices import Via
from candor.kernel.refusal import Refusal

PAGE_SIZE = 50
CHOICES = {"on": True, "off": False}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def emails(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        wanted = CHOICES.get(request.POST.get("product_updates", ""))
        if wanted is None:
            messages.error(
                request, "Choose whether you want product updates: on or off. Nothing was changed."
            )
            return redirect("comms:emails")
        try:
            actions.set_product_updates(user, wanted, via=Via.SETTINGS, acting_user=user)
        except Refusal as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request,
                "Saved: you will get product updates."
                if wanted
                else "Saved: you will get no more product updates. Account and policy emails still come.",
            )
        return redirect("comms:emails")
    prefs = actions.preferences_of(user)
    paginator = Paginator(queries.emails_of(user.pk), PAGE_SIZE)
    context: dict[str, object] = {
        "prefs": prefs,
        "refused": queries.address_refused(user, prefs),
        "total": paginator.count,
        "record_days": settings.EMAIL_RECORD_DAYS,
        "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS,
    }
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
    context["emails"] = queries.described(list(page.object_list))
    response = render(request, "comms/emails.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response
