from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from candor.accounts.models import User
from candor.analytics import suppression
from candor.analytics.capture import KEPT
from candor.kernel import staging
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle import export
from candor.privacy import inventory
from candor.privacy.models import ExportArchive


@require_safe
def data_inventory(request: HttpRequest) -> HttpResponse:
    """What Candor collects, why and for how long: generated from the inventory, never written by hand."""
    return render(
        request,
        "privacy/data.html",
        {
            "rows": inventory.rows(),
            "analytics_kept": KEPT,
            "hourly_days": settings.ANALYTICS_HOURLY_DAYS,
            "min_count": suppression.min_count(),
            "temporary_files": list(staging.PURPOSES.values()),
            "temporary_retention": staging.RETENTION,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    """The person's exports (status, size, expiry), and a button to ask for a new one (clause C5)."""
    if request.method == "POST":
        user = cast("User", request.user)  # signed in: login_required
        try:
            export.request_export(user, request, acting_user=user)
        except Refusal as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request, "Your export is being prepared. We will email you when it is ready to download."
            )
        return redirect("privacy_export")
    archives = export.archives_of(request.user)
    return render(
        request,
        "privacy/export/page.html",
        {
            "archives": archives,
            "pending": any(a.status == ExportArchive.Status.PENDING for a in archives),
            "ttl_days": settings.EXPORT_TTL_DAYS,
        },
    )


@login_required
@require_safe
def export_download(request: HttpRequest, public_id: str) -> HttpResponseBase:
    """The archive's ZIP, to its owner only: someone else's, or one not ready, is simply not found."""
    try:
        ready = export.download(request.user, public_id)
    except Refusal as refusal:
        if refusal.code is Code.EXPORT_EXPIRED:
            archive = export.find_archive(request.user, public_id)
            return render(request, "privacy/export/gone.html", {"archive": archive}, status=410)
        raise Http404(refusal.message) from None
    return StreamingHttpResponse(ready.pieces, content_type=ready.content_type, headers=ready.headers())
