"""Dismissing a notice of the banner (candor/comms/templates/comms/notices.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from candor.comms import actions
from candor.comms.notices import is_site_path
from candor.kernel.refusal import Code, Refusal


def _back(request: HttpRequest) -> str:
    """The page the form was on: a path of this site, or the home page. Never another site's address,
    however it is spelled (``//host``, ``/\\host``, a scheme, control characters)."""
    wanted = request.POST.get("next", "")
    if is_site_path(wanted) and url_has_allowed_host_and_scheme(wanted, allowed_hosts=None):
        return wanted
    return resolve_url("home")


@login_required
@require_POST
def dismiss(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        actions.dismiss_notice(request.user, public_id, acting_user=request.user)
    except Refusal as refusal:
        if refusal.code != Code.NOT_FOUND:
            raise
        # Someone else's notice and one that never existed look the same.
        raise Http404("There is no such notice.") from None
    messages.success(request, "Notice dismissed.")
    return HttpResponseRedirect(_back(request))
