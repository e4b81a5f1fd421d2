"""The developer portal: what the API is for, how to authenticate, tokens, interactive docs, changelog."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods, require_safe

from candor.accounts.models import User
from candor.api import actions as token_actions
from candor.developers.forms import TokenForm
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Refusal

# Swagger UI sets style attributes from its JavaScript; only this page allows inline styles, and
# still no inline script and nothing from another origin.
DOCS_CSP: dict[str, Any] = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}


def _examples_context(request: HttpRequest) -> dict[str, object]:
    return {
        "api_base": f"{settings.WEBSITE_URL}/api/v1",
        "rate_per_minute": getattr(settings, "API_RATE_PER_MINUTE", None),
        "anon_rate_per_minute": getattr(settings, "API_ANON_RATE_PER_MINUTE", None),
    }


@require_safe
def portal(request: HttpRequest) -> HttpResponse:
    return render(request, "developers/portal.html", _examples_context(request))


@require_safe
@csp_override(DOCS_CSP)
def api_docs(request: HttpRequest) -> HttpResponse:
    schema_url = reverse("api:openapi-json")
    # Signed-in visitors can try calls with their session; Swagger UI then sends the CSRF token.
    csrf = get_token(request) if request.user.is_authenticated else ""
    context = {"schema_url": schema_url, "schema_settings": {"url": schema_url, "csrf": csrf}}
    return render(request, "developers/api_docs.html", context)


@require_safe
def changelog(request: HttpRequest) -> HttpResponse:
    return render(request, "developers/changelog.html")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """Create, list and revoke the signed-in person's API tokens. A new token is shown on this one
    response only (never stored, never in a URL or a flash message that would be kept in the session)."""
    user = request.user
    assert isinstance(user, User)
    form = TokenForm(request.POST or None)
    created: str | None = None
    status = 200
    if request.method == "POST" and "revoke" in request.POST:
        try:
            token_actions.revoke_token(user, request.POST["revoke"], acting_user=user)
        except Refusal as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, "The token is revoked. Programs that used it can no longer sign in.")
        return redirect("developers:tokens")
    if request.method == "POST" and form.is_valid():
        try:
            _, created = token_actions.create_token(
                user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                request=request,
                acting_user=user,
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            form = TokenForm()
    if form.errors:
        status = 400
    context = {
        "form": form,
        "created": created,
        "tokens": token_actions.live_tokens(user),
        "now": timezone.now(),
    }
    return render(request, "developers/tokens.html", context, status=status)
