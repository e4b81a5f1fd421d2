"""The console's product-update pages (/staff/updates/…): write, preview, test on oneself, send to
everyone behind a confirmation, follow the progress, cancel.

Only members with the communications or administrator role reach them; any other member gets the
console's "not for your role" page, as the staff records do. Nothing here names a person: the pages
show the update's own words and counts of its emails, never an address or a username (the test copy's
address is looked up by the outbox when it is sent, not by this page).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods, require_POST

from candor.accounts.models import User
from candor.comms import actions
from candor.comms.choices import Status, UpdateStatus
from candor.comms.emails import preview_context
from candor.comms.models import Update
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Refusal
from candor.staff.choices import Role
from candor.staff.models import StaffMember
from candor.staff.views.console import console_page

ROLES = (Role.COMMUNICATIONS, Role.ADMINISTRATOR)
View = Callable[..., HttpResponseBase]


class UpdateForm(forms.Form):
    subject = forms.CharField(label="Subject", max_length=150)
    body = forms.CharField(
        label="Body (Markdown)",
        widget=forms.Textarea(attrs={"rows": 14}),
        max_length=50_000,
        help_text="Rendered like a model card, without images: an email never loads anything.",
    )
    post = forms.ChoiceField(label="Point at a blog post", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.posts = {str(post.pk): post for post in actions.published_posts()}
        field: Any = self.fields["post"]
        field.choices = [("", "No post"), *((pk, post.title) for pk, post in self.posts.items())]


def _member(request: HttpRequest) -> StaffMember:
    member: StaffMember = request.staff_member  # type: ignore[attr-defined]
    return member


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("member", _member(request))
    return render(request, f"staff/{template}", context, status=status)


def communications_page(view: View) -> View:
    """The console's guard, then the role: communications or administrator."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not any(_member(request).has_role(role) for role in ROLES):
            why = "Only the communications team and administrators write and send product updates."
            return _page(request, "forbidden.html", {"why": why}, 403)
        return view(request, *args, **kwargs)

    return console_page()(checked)


def _update_or_404(public_id: str) -> Update:
    update = actions.update_by_id(public_id)
    if update is None:
        raise Http404("no such update")
    return update


def _progress(update: Update) -> dict[str, Any]:
    counts = actions.progress(update)
    done = sum(counts[s] for s in (Status.SENT, Status.SKIPPED, Status.FAILED, Status.UNDELIVERABLE))
    made = sum(counts.values())
    return {
        "counts": [(Status(s).label, n) for s, n in counts.items()],
        "made": made,
        "done": done,
        "sent": counts[Status.SENT],
        "waiting": counts[Status.QUEUED] + counts[Status.SENDING],
        "percent": int(100 * done / made) if made else 0,
        "fanned_out": update.queued_at is not None,
    }


@communications_page
@require_http_methods(["GET", "HEAD"])
def update_list(request: HttpRequest) -> HttpResponseBase:
    rows = [(update, actions.progress(update)[Status.SENT]) for update in actions.updates()]
    return _page(request, "updates.html", {"rows": rows, "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS})


def _edit(request: HttpRequest, update: Update | None) -> HttpResponseBase:
    initial = {}
    if update is not None:
        initial = {"subject": update.subject, "body": update.body, "post": update.post_id or ""}
    form = UpdateForm(request.POST or None, initial=initial)
    if update is not None and update.status != UpdateStatus.DRAFT:
        form.add_error(None, "This update has started sending: it can no longer be changed.")
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = actions.save_update(
                update,
                subject=data["subject"],
                body=data["body"],
                post=form.posts.get(data["post"]),
                acting_user=_user(request),
            )
        except Refusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "The update is saved. Preview it, then send yourself a test.")
            return redirect("staff:update_preview", public_id=saved.public_id)
    status = 400 if form.errors else 200
    return _page(request, "update_edit.html", {"form": form, "update": update}, status)


@communications_page
@require_http_methods(["GET", "HEAD", "POST"])
def update_new(request: HttpRequest) -> HttpResponseBase:
    return _edit(request, None)


@communications_page
@require_http_methods(["GET", "HEAD", "POST"])
def update_edit(request: HttpRequest, public_id: str) -> HttpResponseBase:
    return _edit(request, _update_or_404(public_id))


@communications_page
@require_http_methods(["GET", "HEAD"])
def update_preview(request: HttpRequest, public_id: str) -> HttpResponseBase:
    """The update as the email will carry it: the body through the email renderer (no images, links
    absolute) and the text part, both from the email's own templates. The unsubscribe link in it is a
    stand-in: no email row exists for a preview."""
    update = _update_or_404(public_id)
    text = render_to_string("comms/email/product-update.txt", preview_context(update))
    return _page(request, "update_preview.html", {"update": update, "email_text": text})


# The email's own HTML, in the preview's sandboxed frame: its inline styles are the email's, so this one
# answer allows them (and nothing else: no script, no image, no request anywhere), and only this site
# may frame it.
EMAIL_FRAME_CSP = {
    "default-src": [CSP.NONE],
    "style-src": [CSP.UNSAFE_INLINE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.NONE],
    "frame-ancestors": [CSP.SELF],
}


@communications_page
@require_http_methods(["GET", "HEAD"])
@xframe_options_sameorigin
@csp_override(EMAIL_FRAME_CSP)
def update_email(request: HttpRequest, public_id: str) -> HttpResponseBase:
    update = _update_or_404(public_id)
    return HttpResponse(render_to_string("comms/email/product-update.html", preview_context(update)))


@communications_page
@require_POST
def update_test(request: HttpRequest, public_id: str) -> HttpResponseBase:
    update = _update_or_404(public_id)
    actions.send_test(update, acting_user=_user(request))
    messages.success(request, "A test copy is on its way to the address of your own account.")
    return redirect("staff:update", public_id=public_id)


@communications_page
@require_http_methods(["GET", "HEAD", "POST"])
def update_send(request: HttpRequest, public_id: str) -> HttpResponseBase:
    """GET: the confirmation (how many accounts, the cap, the rate). POST: start; a second press, or a
    press on an update already sending, starts nothing more (the action makes one row per person)."""
    update = _update_or_404(public_id)
    error = ""
    if request.method == "POST":
        was = update.status
        try:
            actions.start_sending(update, acting_user=_user(request))
        except Refusal as refusal:
            error = refusal.message
        else:
            if was == UpdateStatus.DRAFT:
                messages.success(request, "Sending has started. This page shows how far it has gone.")
            else:
                messages.info(request, "This update was already being sent: nothing more was started.")
            return redirect("staff:update", public_id=public_id)
    audience = actions.audience_count()
    rate = settings.PRODUCT_EMAILS_PER_MINUTE
    context = {
        "update": update,
        "audience": audience,
        "rate": rate,
        "minutes": -(-audience // rate) if audience else 0,
        "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS,
        "error": error,
    }
    return _page(request, "update_send.html", context, 409 if error else 200)


@communications_page
@require_http_methods(["GET", "HEAD"])
def update_detail(request: HttpRequest, public_id: str) -> HttpResponseBase:
    update = _update_or_404(public_id)
    context = {
        "update": update,
        "progress": _progress(update),
        "rate": settings.PRODUCT_EMAILS_PER_MINUTE,
        "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS,
        "may_cancel": update.status in (UpdateStatus.DRAFT, UpdateStatus.SENDING),
    }
    return _page(request, "update.html", context)


@communications_page
@require_POST
def update_cancel(request: HttpRequest, public_id: str) -> HttpResponseBase:
    update = _update_or_404(public_id)
    was = update.status
    actions.cancel_update(update, acting_user=_user(request))
    if was in (UpdateStatus.DRAFT, UpdateStatus.SENDING):
        messages.success(request, "The update is cancelled: nothing more of it will be sent.")
    return redirect("staff:update", public_id=public_id)
