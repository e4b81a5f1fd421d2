"""The staff console (/staff/…): second factor, agreement, finding a person, grants and their reveals.

Every page goes through :func:`console_page`: a signed-in, active member of staff whose session was
verified by the second factor (a member without one reaches only the set-up page), inside the staff
session's absolute and idle limits (past one, signed out and sent to sign in again). Every answer is
``Cache-Control: private, no-store`` and ``X-Robots-Tag: noindex``. Each view parses a form, calls one
action and shows its refusal in the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_POST

from candor.accounts.models import User
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Refusal
from candor.staff import actions, forms, gate, queries, second_factor, sessions
from candor.staff.choices import Role
from candor.staff.finding import find_account
from candor.staff.models import Grant, StaffMember

View = Callable[..., HttpResponseBase]


def _private(response: HttpResponseBase) -> HttpResponseBase:
    patch_cache_control(response, private=True, no_store=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _to_login(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.path})}")


def console_page(*, setup: bool = False, verify: bool = False) -> Callable[[View], View]:
    """Guard a console view. ``setup``: the second factor's set-up page (reachable without one);
    ``verify``: the page that checks the code (reachable before the session is verified)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return _private(_guard(request, view, setup, verify, *args, **kwargs))

        return guarded

    return decorate


def _guard(
    request: HttpRequest, view: View, setup: bool, verify: bool, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    if not request.user.is_authenticated:
        return _to_login(request)
    member = queries.member_of(request.user)
    if member is None:
        raise Http404("not a member of staff")
    state = sessions.state(request.session)
    if state in ("expired", "idle"):
        logout(request)
        messages.info(
            request,
            "Your staff session has ended (staff sessions are short): log in again."
            if state == "expired"
            else "Your staff session was idle too long: log in again.",
        )
        return _to_login(request)
    if not member.has_second_factor:
        if not setup:
            return redirect("staff:second_factor")
    elif state != "verified" and not (verify or setup):
        return redirect(f"{reverse('staff:verify')}?{urlencode({'next': request.path})}")
    if state == "verified":
        sessions.touch(request.session)
    request.staff_member = member  # type: ignore[attr-defined]
    return view(request, *args, **kwargs)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _member(request: HttpRequest) -> StaffMember:
    member: StaffMember = request.staff_member  # type: ignore[attr-defined]
    return member


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if target.startswith("/staff/") and "//" not in target else reverse("staff:home")


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("member", _member(request))
    return render(request, f"staff/{template}", context, status=status)


# --- second factor ---------------------------------------------------------------------------------


@console_page(setup=True)
@require_http_methods(["GET", "HEAD", "POST"])
def second_factor_setup(request: HttpRequest) -> HttpResponseBase:
    member = _member(request)
    if member.has_second_factor:
        return redirect("staff:recovery_codes")
    form = forms.CodeForm(request.POST if request.POST.get("step") == "confirm" else None)
    pending = second_factor.pending_setup(member)
    status = 200
    if request.method == "POST" and request.POST.get("step") == "begin":
        pending = second_factor.begin_setup(acting_user=_user(request))
    elif request.method == "POST" and form.is_valid():
        try:
            codes = second_factor.confirm_setup(acting_user=_user(request), code=form.cleaned_data["code"])
        except Refusal as refusal:
            show_refusal(form, refusal)
            status = 400
        else:
            sessions.mark_verified(request.session)
            return _render(request, "codes.html", {"codes": codes, "fresh": True})
    elif request.method == "POST":
        status = 400
    return _render(request, "second_factor.html", {"setup": pending, "form": form}, status)


@console_page(verify=True)
@require_http_methods(["GET", "HEAD", "POST"])
def verify_code(request: HttpRequest) -> HttpResponseBase:
    if sessions.state(request.session) == "verified":
        return redirect(_safe_next(request))
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            used_recovery = second_factor.verify(acting_user=_user(request), code=form.cleaned_data["code"])
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            request.session.cycle_key()
            sessions.mark_verified(request.session)
            if used_recovery:
                left = second_factor.remaining_codes(StaffMember.objects.get(pk=_member(request).pk))
                messages.warning(request, f"You used a recovery code: {left} are left. Make new ones soon.")
            return redirect(_safe_next(request))
    status = 400 if form.errors else 200
    return _render(request, "verify.html", {"form": form, "next": _safe_next(request)}, status)


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponseBase:
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = second_factor.regenerate_codes(acting_user=_user(request), code=form.cleaned_data["code"])
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            return _render(request, "codes.html", {"codes": codes, "fresh": False})
    left = second_factor.remaining_codes(_member(request))
    return _render(request, "regenerate.html", {"form": form, "left": left}, 400 if form.errors else 200)


# --- agreement --------------------------------------------------------------------------------------


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def agreement(request: HttpRequest) -> HttpResponseBase:
    current = queries.current_agreement()
    form = forms.SignForm(
        request.POST or None, initial={"text_sha256": current.sha256 if current is not None else ""}
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.sign_agreement(
                acting_user=_user(request),
                signed_name=form.cleaned_data["signed_name"],
                text_sha256=form.cleaned_data["text_sha256"],
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "You signed the confidentiality agreement.")
            return redirect("staff:agreement")
    signature = queries.signature_in_force(_member(request))
    context = {"agreement": current, "signature": signature, "form": form}
    return _render(request, "agreement.html", context, 400 if form.errors else 200)


# --- home and grants --------------------------------------------------------------------------------


@console_page()
@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponseBase:
    member = _member(request)
    open_grants = list(queries.open_grants())
    context = {
        "mine": [g for g in open_grants if g.requester_id == member.pk],
        "waiting": [
            g for g in open_grants if g.decision == Grant.Decision.PENDING and g.requester_id != member.pk
        ],
        "recent": list(queries.recent_grants(20)),
        "signature": queries.signature_in_force(member),
        "is_admin": member.has_role(Role.ADMINISTRATOR),
    }
    return _render(request, "home.html", context)


@console_page()
@require_http_methods(["GET", "HEAD"])
def grants(request: HttpRequest) -> HttpResponseBase:
    return _render(
        request, "grants.html", {"open": list(queries.open_grants()), "recent": list(queries.recent_grants())}
    )


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def find(request: HttpRequest) -> HttpResponseBase:
    form = forms.FindForm(request.POST or None)
    found: str | None = None
    searched = False
    if request.method == "POST" and form.is_valid():
        try:
            actions.ready_member(_user(request), doing="look up an account")
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            searched = True
            found = find_account(form.cleaned_data["query"])
    status = 400 if form.errors else 200
    return _render(request, "find.html", {"form": form, "found": found, "searched": searched}, status)


def _subject(subject_id: str) -> User:
    subject = User.objects.filter(pk=subject_id).only("pk").first()
    if subject is None:
        raise Http404("no such account")
    return subject


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def grant_new(request: HttpRequest, subject_id: str) -> HttpResponseBase:
    subject = _subject(subject_id)
    member = _member(request)
    form = forms.GrantForm(request.POST or None, roles=member.roles, initial={"minutes": 60})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        tell_after = data["tell_after"]
        try:
            grant = actions.request_grant(
                acting_user=_user(request),
                subject=subject,
                role=data["role"],
                purpose=data["purpose"],
                case_reference=data["case_reference"],
                categories=data["categories"],
                minutes=data["minutes"],
                tell_after=None if tell_after is None else _start_of(tell_after),
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "The grant is asked for.")
            return redirect("staff:grant", public_id=grant.public_id)
    status = 400 if form.errors else 200
    return _render(request, "grant_new.html", {"form": form, "subject_id": str(subject.pk)}, status)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _grant_or_404(public_id: str) -> Grant:
    grant = queries.grant_by_id(public_id)
    if grant is None:
        raise Http404("no such grant")
    return grant


def _grant_page(request: HttpRequest, grant: Grant, error: str = "", status: int = 200) -> HttpResponse:
    member = _member(request)
    context = {
        "grant": grant,
        "state": grant.state(),
        "mine": grant.requester_id == member.pk,
        "error": error,
        "may_end": grant.ended_at is None
        and grant.state() in ("pending", "active")
        and (grant.requester_id == member.pk or member.has_role(Role.ADMINISTRATOR)),
    }
    return _render(request, "grant.html", context, status)


@console_page()
@require_http_methods(["GET", "HEAD"])
def grant(request: HttpRequest, public_id: str) -> HttpResponseBase:
    return _grant_page(request, _grant_or_404(public_id))


@console_page()
@require_POST
def grant_decide(request: HttpRequest, public_id: str) -> HttpResponseBase:
    grant = _grant_or_404(public_id)
    decide = actions.approve_grant if request.POST.get("decision") == "approve" else actions.refuse_grant
    try:
        decided = decide(public_id, acting_user=_user(request))
    except Refusal as refusal:
        return _grant_page(request, grant, refusal.message, 403)
    messages.success(request, f"The grant is {decided.get_decision_display()}.")
    return redirect("staff:grant", public_id=public_id)


@console_page()
@require_POST
def grant_end(request: HttpRequest, public_id: str) -> HttpResponseBase:
    grant = _grant_or_404(public_id)
    try:
        actions.end_grant(public_id, acting_user=_user(request))
    except Refusal as refusal:
        return _grant_page(request, grant, refusal.message, 403)
    messages.success(request, "The grant is ended.")
    return redirect("staff:grant", public_id=public_id)


@console_page()
@require_POST
def grant_reveal(request: HttpRequest, public_id: str) -> HttpResponseBase:
    grant = _grant_or_404(public_id)
    chosen = request.POST.getlist("categories") or None
    try:
        revealed = gate.reveal(public_id, acting_user=_user(request), categories=chosen)
    except Refusal as refusal:
        return _grant_page(request, grant, refusal.message, 403)
    return _render(request, "reveal.html", {"grant": grant, "revealed": revealed})


# --- staff records (administrators) -----------------------------------------------------------------


def _require_admin(request: HttpRequest) -> HttpResponse | None:
    if not _member(request).has_role(Role.ADMINISTRATOR):
        return _render(request, "forbidden.html", {}, 403)
    return None


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def members(request: HttpRequest) -> HttpResponseBase:
    denied = _require_admin(request)
    if denied is not None:
        return denied
    form = forms.MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = User.objects.by_username(data["username"])
        if account is None:
            form.add_error("username", "There is no account with this username.")
        else:
            try:
                actions.add_staff(
                    account,
                    acting_user=_user(request),
                    roles=data["roles"],
                    employment=data["employment"],
                    office_country=data["office_country"],
                    work_country=data["work_country"],
                    organisation=data["organisation"],
                )
            except Refusal as refusal:
                show_refusal(form, refusal)
            else:
                messages.success(request, "The member of staff is added.")
                return redirect("staff:members")
    rows = StaffMember.objects.filter(ended_at__isnull=True).order_by("created_at")
    status = 400 if form.errors else 200
    return _render(request, "members.html", {"form": form, "members": rows}, status)


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def member_change(request: HttpRequest, pk: int) -> HttpResponseBase:
    denied = _require_admin(request)
    if denied is not None:
        return denied
    target = StaffMember.objects.filter(pk=pk, ended_at__isnull=True).first()
    if target is None:
        raise Http404("no such member")
    initial = {
        "roles": target.roles,
        "office_country": target.office_country,
        "work_country": target.work_country,
    }
    form = forms.ChangeMemberForm(request.POST or None, initial=initial)
    if request.method == "POST":
        try:
            if request.POST.get("end") == "yes":
                actions.end_staff(target, acting_user=_user(request))
                messages.success(request, "The member of staff is ended: their grants ended with them.")
                return redirect("staff:members")
            if form.is_valid():
                data = form.cleaned_data
                actions.change_staff(
                    target,
                    acting_user=_user(request),
                    roles=data["roles"],
                    office_country=data["office_country"],
                    work_country=data["work_country"],
                )
                messages.success(request, "The member of staff is changed.")
                return redirect("staff:members")
        except Refusal as refusal:
            show_refusal(form, refusal)
    status = 400 if form.errors else 200
    return _render(request, "member.html", {"form": form, "target": target}, status)
