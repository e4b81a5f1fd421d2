"""Account pages. Each view parses a form, calls one action and renders the answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from candor.accounts import actions, forms
from candor.accounts.models import User
from candor.accounts.tokens import reset_tokens
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Refusal
from candor.lifecycle import erasure
from candor.privacy import crypto


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _signed_in(request: HttpRequest) -> User | None:
    """The account signed in where a link is opened, if any: who acts, for the audit trail."""
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:settings")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.sign_up(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                acting_user=None,  # signed-in visitors are sent to their settings above
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            return render(request, "accounts/signup_done.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = forms.LoginForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert form.user is not None
        login(request, form.user)
        return HttpResponseRedirect(next_url or reverse_lazy(settings.LOGIN_REDIRECT_URL))
    status = 400 if form.errors else 200
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; POST logs out. Pages carry a plain link here rather than a form, so
    that no page but this one holds a per-request token (a private model's 404 must be byte-identical
    to any other 404)."""
    if request.method != "POST":
        if not request.user.is_authenticated:
            return redirect("home")
        return render(request, "accounts/logout.html")
    actions.sign_out(request, acting_user=_signed_in(request))
    messages.info(request, "You are logged out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest, public_id: str, token: str) -> HttpResponse:
    """GET shows a button and POST confirms, so a mail scanner that follows links confirms nothing."""
    try:
        confirmation = actions.find_confirmation(public_id, token)
        if request.method == "POST":
            user = actions.confirm_email(public_id, token, request, acting_user=_signed_in(request))
            messages.success(request, "Your email address is confirmed.")
            if request.user.is_authenticated and request.user.pk == user.pk:
                return redirect("accounts:settings")
            return redirect("accounts:login")
    except Refusal as refusal:
        return render(request, "accounts/verify.html", {"error": refusal.message}, status=400)
    return render(request, "accounts/verify.html", {"confirmation": confirmation})


@login_required
@require_http_methods(["GET", "HEAD"])
def settings_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "accounts/settings.html",
        {
            "account": user,
            "pending_change": actions.pending_email_change(user),
            "events": actions.security_events(user),
            "event_days": settings.SECURITY_EVENT_DAYS,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Permanent deletion: the password and the username again, then everything goes at once."""
    user = _user(request)
    form = forms.DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            erasure.delete_own_account(
                user,
                password=form.cleaned_data["password"],
                confirm=form.cleaned_data["confirm"],
                request=request,
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            logout(request)
            messages.success(
                request, "Your account and everything in it are deleted. A receipt is on its way to you."
            )
            return redirect("home")
    return render(request, "accounts/delete.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    try:
        user = _user(request)
        actions.resend_verification(user, acting_user=user)
    except Refusal as refusal:
        messages.info(request, refusal.message)
    else:
        messages.success(request, "A new confirmation link is on its way to your address.")
    return redirect("accounts:settings")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def email_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = forms.EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.request_email_change(
                user,
                password=form.cleaned_data["password"],
                new_email=form.cleaned_data["email"],
                request=request,
                acting_user=user,
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(
                request,
                "We sent a confirmation link to the new address. Your account keeps its current address "
                "until you open it.",
            )
            return redirect("accounts:settings")
    return render(request, "accounts/email_change.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def email_change_cancel(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    actions.cancel_email_change(user, acting_user=user)
    messages.info(request, "The change of email address is cancelled.")
    return redirect("accounts:settings")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = forms.PasswordChangeForm(user, request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        ended = actions.change_password(
            user,
            new_password=form.cleaned_data["new_password"],
            current_session_key=request.session.session_key,
            end_other_sessions=form.cleaned_data["end_other_sessions"],
            request=request,
            acting_user=user,
        )
        update_session_auth_hash(request, user)
        note = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
        messages.success(request, f"Your password is changed.{note}")
        return redirect("accounts:settings")
    return render(
        request, "accounts/password_change.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def sessions(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/sessions.html",
        {"sessions": actions.active_sessions(_user(request)), "current_key": request.session.session_key},
    )


@login_required
@require_POST
def session_end(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    current = request.session.session_key
    if request.POST.get("all") == "others":
        ended = actions.end_other_sessions(user, current_session_key=current, acting_user=user)
        messages.success(request, f"{ended} other session{'s' if ended != 1 else ''} ended.")
    else:
        try:
            actions.end_session(
                user, request.POST.get("session", ""), current_session_key=current, acting_user=user
            )
        except Refusal as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, "The session is ended.")
    return redirect("accounts:sessions")


class PasswordResetView(auth_views.PasswordResetView):
    form_class = forms.PasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    token_generator = reset_tokens

    def get_form_kwargs(self) -> dict[str, Any]:
        # Only once the link's token checked: whoever holds it opened the account's own mail, and the
        # request acts for the account (the new password is compared with its name and address).
        if self.user is not None:
            crypto.set_viewer(self.user.pk)
        return super().get_form_kwargs()

    def form_valid(self, form: Any) -> HttpResponse:
        # Django's own form_valid saves the password through the form; here one action sets it, ends
        # every session and writes the audit row. What Django does besides (forget the link's token in
        # the session, then go to the success page) is kept; it never logs the person in here.
        actions.reset_password(
            form.user,
            new_password=form.cleaned_data["new_password1"],
            request=self.request,
            acting_user=_signed_in(self.request),
        )
        self.request.session.pop(INTERNAL_RESET_SESSION_TOKEN, None)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
