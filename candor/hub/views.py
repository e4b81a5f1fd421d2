"""Pages of the model hub. Every look-up goes through candor.hub.visibility; every change is an action."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from candor.accounts.models import User
from candor.analytics import charts, popularity
from candor.analytics.capture import DOWNLOAD, mark
from candor.core.markdown import render_card
from candor.hub import actions, cardsync, forms, http, listing_cache, queries, revisions, uploads, visibility
from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.models import MLModel, ModelFile
from candor.kernel.refusal import Code, Refusal

PAGE_SIZE = 20


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _noindex(response: HttpResponseBase) -> HttpResponseBase:
    response["X-Robots-Tag"] = "noindex"
    return response


def _owned(request: HttpRequest, username: str, name: str) -> MLModel | HttpResponse:
    """The model if the visitor owns it; a 403 page if they can read it but not change it (they know it
    exists already); Http404 otherwise."""
    try:
        return visibility.get_editable_model(request.user, username, name)
    except PermissionError:
        return render(request, "hub/forbidden.html", status=403)


@require_safe
def model_list(request: HttpRequest) -> HttpResponse:
    if not listing_cache.shareable(request):
        return _render_model_list(request)
    # Anonymous visitors with nothing of their own to see all get the same page, from the cache.
    content = listing_cache.cached("page", request, lambda public: _render_model_list(public).content)
    return HttpResponse(content)


def _render_model_list(request: HttpRequest) -> HttpResponse:
    query = queries.ModelQuery.from_params(request.GET)
    # The hub's listing, ranked by analytics' popularity when that sort is asked for.
    models = queries.ordered(queries.listing(query), query.sort, popularity.in_popular_order)
    page = queries.offset_page(models, request.GET.get("page", 1), PAGE_SIZE)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "hub/model_list.html",
        {
            "page": page,
            "query": query,
            "querystring": params.urlencode(),
            "tasks": TASKS,
            "libraries": LIBRARIES,
            "licenses": LICENSES,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def model_create(request: HttpRequest) -> HttpResponse:
    form = forms.ModelCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = actions.create_model_with_card(acting_user=_user(request), **form.cleaned_data)
        except Refusal as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Model created. It is private until you publish it.")
            return redirect(model.get_absolute_url())
    return render(
        request, "hub/model_form.html", {"form": form, "creating": True}, status=400 if form.errors else 200
    )


def _form_errors(form: Any, error: Refusal) -> None:
    if not error.fields:
        form.add_error(None, error.message)
    for field_name, field_messages in error.fields.items():
        for message in field_messages:
            form.add_error(field_name if field_name in form.fields else None, message)


@require_safe
def profile(request: HttpRequest, username: str) -> HttpResponseBase:
    person = visibility.get_profile(request.user, username)
    is_self = request.user.is_authenticated and request.user.pk == person.pk
    shown = visibility.profile_models(request.user, person)
    # Its owner sees their own models (any visibility); anyone else the public projection of its public ones.
    models = shown.order_by(*(queries.OWN_ORDER if is_self else queries.ORDERS["updated"]))
    page = queries.offset_page(models, request.GET.get("page", 1), PAGE_SIZE)
    response = render(request, "hub/profile.html", {"person": person, "page": page, "is_self": is_self})
    return response if person.profile_indexable else _noindex(response)


@require_safe
def model_detail(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = visibility.get_model(request.user, username, name)
    mark(request, model)
    can_edit = visibility.can_edit(request.user, model)
    context = {
        "model": model,
        "card_html": render_card(model.card),
        "card_problems": cardsync.problems_of(model) if can_edit else [],
        "files": revisions.sorted_files(revisions.head_files(model)),
        "head": revisions.resolve(model),
        "can_edit": can_edit,
        "profile_linked": visibility.profile_is_shown(model.owner),
        "visibility_form": forms.VisibilityForm(initial={"visibility": model.visibility}),
        "upload_form": forms.UploadForm(),
    }
    if can_edit:
        # The model's own counts per day, for its owner's eyes only.
        series = popularity.owner_series(model)
        views_chart, downloads_chart = charts.per_day(series)
        context |= {
            "owner_views_chart": views_chart,
            "owner_downloads_chart": downloads_chart,
            "owner_days": len(series),
            "owner_note": popularity.OWNER_NOTE,
        }
    response = render(request, "hub/model_detail.html", context)
    return response if model.is_indexable else _noindex(response)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def model_edit(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    initial = {f: getattr(model, f) for f in actions.EDITABLE}
    initial["tags"] = ", ".join(model.tag_names)
    initial["parent"] = model.head.oid if model.head else ""
    form = forms.ModelEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        parent = fields.pop("parent") or None
        try:
            actions.edit_model(model, acting_user=_user(request), parent=parent, **fields)
        except Refusal as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect(model.get_absolute_url())
    response = render(
        request, "hub/model_form.html", {"form": form, "model": model}, status=400 if form.errors else 200
    )
    return _noindex(response)


@login_required
@require_POST
def model_visibility(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    form = forms.VisibilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose public, unlisted or private.")
        return redirect(model.get_absolute_url())
    try:
        actions.set_visibility(model, form.cleaned_data["visibility"], acting_user=_user(request))
    except Refusal as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The model is now {model.get_visibility_display().lower()}.")
    return redirect(model.get_absolute_url())


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def model_delete(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != model.name:
            messages.error(request, "Type the model's name to confirm that you want to delete it.")
            return redirect(reverse("hub:delete", args=[model.owner.username, model.name]))
        actions.delete_model(model, acting_user=_user(request))
        messages.success(request, f"{model.name} is deleted, with all its files.")
        return redirect("hub:my_models")
    context = {"model": model, "file_count": queries.file_count(model)}
    return _noindex(render(request, "hub/model_delete.html", context))


@login_required
@require_POST
def file_upload(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    form = forms.UploadForm(request.POST, request.FILES)
    if uploads.too_large(request):  # the file was dropped while the body was read
        messages.error(request, f"The file is larger than the limit of {settings.MAX_UPLOAD_BYTES} bytes.")
        return redirect(model.get_absolute_url())
    if not form.is_valid():
        messages.error(request, "Choose a file to upload.")
        return redirect(model.get_absolute_url())
    upload = form.cleaned_data["file"]
    path = form.cleaned_data["path"] or upload.name
    try:
        stored = actions.add_file(model, path, upload.chunks(), acting_user=_user(request))
    except Refusal as error:
        detail = "; ".join(m for ms in error.fields.values() for m in ms)
        messages.error(request, f"{error.message} {detail}".strip())
    else:
        messages.success(request, f"Uploaded {stored.path} ({stored.size} bytes).")
    return redirect(model.get_absolute_url())


@require_safe
def file_download(request: HttpRequest, username: str, name: str, path: str) -> HttpResponseBase:
    model_file = visibility.get_file(request.user, username, name, path)
    return _send_file(request, model_file.model, model_file)


def _send_file(request: HttpRequest, model: MLModel, model_file: ModelFile) -> HttpResponseBase:
    mark(request, model, DOWNLOAD)
    try:
        response: HttpResponseBase = http.file_response(request, model_file)
    except Refusal as error:
        status = 500  # DAMAGED: a store that is down is answered 503 by the site's own handler
        context = {"message": error.message, "model": model}
        response = render(request, "hub/file_unavailable.html", context, status=status)
    return response if model.is_indexable else _noindex(response)


def _not_found(request: HttpRequest, model: MLModel, error: Refusal) -> HttpResponseBase:
    """The 404 page with the refusal's words (no such revision; a file only other revisions have)."""
    response = render(request, "404.html", {"message": error.message, "model": model}, status=404)
    return response if model.is_indexable else _noindex(response)


def _commit_rows(commits: Any) -> list[dict[str, Any]]:
    return [{"commit": c, "changes": revisions.changes_of(c)} for c in commits]


@require_safe
def model_commits(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    """The model's history, newest first: each commit with the files it added, modified or deleted."""
    model = visibility.get_model(request.user, username, name)
    page = queries.offset_page(revisions.history(model), request.GET.get("page", 1), PAGE_SIZE)
    context = {"model": model, "page": page, "rows": _commit_rows(page.object_list)}
    response = render(request, "hub/model_commits.html", context)
    return response if model.is_indexable else _noindex(response)


@require_safe
def commit_detail(request: HttpRequest, username: str, name: str, oid: str) -> HttpResponseBase:
    """One commit: what it changed, and the whole tree it left, each file downloadable as it was."""
    model = visibility.get_model(request.user, username, name)
    found = (
        revisions.history(model).select_related("parent").filter(oid=oid).first()
        if revisions.OID.fullmatch(oid)
        else None
    )
    if found is None:
        return _not_found(request, model, Refusal(Code.NOT_FOUND, "This model has no such commit."))
    context = {
        "model": model,
        "commit": found,
        "changes": revisions.changes_of(found),
        "files": revisions.sorted_files(revisions.tree(found)),
        "is_head": found.pk == model.head_id,
        "can_edit": visibility.can_edit(request.user, model),
    }
    response = render(request, "hub/commit_detail.html", context)
    return response if model.is_indexable else _noindex(response)


@require_safe
def file_at_revision(
    request: HttpRequest, username: str, name: str, revision: str, path: str
) -> HttpResponseBase:
    """A file as it is at a revision (main, a commit id or a tag), with the download's own answer."""
    model = visibility.get_model(request.user, username, name)
    try:
        model_file = revisions.file_at(model, path, revision)
    except Refusal as error:
        return _not_found(request, model, error)
    return _send_file(request, model, model_file)


@login_required
@require_POST
def remove_from_history(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    """The owner's "Remove from history": a confirmation page naming the file and how many revisions
    hold it, then (confirmed) the file is removed from every one. The path travels in the form only,
    never in the address."""
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    path = request.POST.get("path", "")
    held = revisions.revisions_holding(model, path) if path else 0
    if held == 0:
        messages.error(request, "No revision of this model has a file at this path.")
        return redirect(model.get_absolute_url())
    if request.POST.get("confirm") != "yes":
        context = {"model": model, "path": path, "held": held}
        return _noindex(render(request, "hub/remove_from_history.html", context))
    try:
        removed = revisions.purge_path(model, path, acting_user=_user(request))
    except Refusal as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{path} is removed from {removed} revision{'s' if removed != 1 else ''}, for good."
        )
    return redirect(model.get_absolute_url())


@login_required
@require_POST
def file_delete(request: HttpRequest, username: str, name: str) -> HttpResponseBase:
    model = _owned(request, username, name)
    if isinstance(model, HttpResponse):
        return model
    try:
        actions.delete_file(model, request.POST.get("path", ""), acting_user=_user(request))
    except Refusal as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "File deleted.")
    return redirect(model.get_absolute_url())


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def my_models(request: HttpRequest) -> HttpResponse:
    """The owner's dashboard: every model with its visibility, bulk visibility, and profile controls."""
    user = _user(request)
    profile_form = forms.ProfileForm(
        initial={"profile_visible": user.profile_visible, "profile_indexable": user.profile_indexable}
    )
    if request.method == "POST":
        if "bulk" in request.POST:
            bulk = forms.VisibilityForm(request.POST)
            if bulk.is_valid():
                try:
                    changed = actions.set_visibility_of_all(bulk.cleaned_data["visibility"], acting_user=user)
                except Refusal as error:
                    messages.error(request, error.message)
                else:
                    messages.success(request, f"{changed} model{'s' if changed != 1 else ''} changed.")
            else:
                messages.error(request, "Choose public, unlisted or private.")
        else:
            profile_form = forms.ProfileForm(request.POST)
            if profile_form.is_valid():
                actions.set_profile(
                    acting_user=user,
                    visible=profile_form.cleaned_data["profile_visible"],
                    indexable=profile_form.cleaned_data["profile_indexable"],
                )
                messages.success(request, "Profile settings saved.")
        return redirect("hub:my_models")
    return render(
        request,
        "hub/my_models.html",
        {
            "models": visibility.own_models(user).order_by(*queries.OWN_ORDER),
            "profile_form": profile_form,
            "visibility_choices": Visibility.choices,
        },
    )
