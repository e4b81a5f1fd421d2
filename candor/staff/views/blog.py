"""The console's blog pages (/staff/blog/…): the list of posts, drafts and published; writing and
changing one, with a preview of the typed text before anything is saved; the stored post's preview as
its public page will show it; publish, unpublish, and delete after a confirmation.

Every page is a console page (:func:`console_page`: signed in, staff, second factor) for members with
the communications or administrator role; other members of staff get the console's "not for your role"
page. The domain's actions (candor.comms.actions) do the work and refuse bad input.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST

from candor.accounts.models import User
from candor.comms import actions, posts
from candor.comms.models import Post
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Refusal
from candor.staff.choices import Role
from candor.staff.forms import PostForm
from candor.staff.models import StaffMember
from candor.staff.views.console import console_page

WRITERS = (Role.COMMUNICATIONS, Role.ADMINISTRATOR)


def _member(request: HttpRequest) -> StaffMember:
    member: StaffMember = request.staff_member  # type: ignore[attr-defined]
    return member


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("member", _member(request))
    return render(request, f"staff/{template}", context, status=status)


def _not_a_writer(request: HttpRequest) -> HttpResponse | None:
    if any(_member(request).has_role(role) for role in WRITERS):
        return None
    reason = "Only members with the communications or administrator role write the blog."
    return _render(request, "forbidden.html", {"reason": reason}, 403)


def _post_or_404(slug: str) -> Post:
    post = posts.staff_post(slug)
    if post is None:
        raise Http404("no such post")
    return post


@console_page()
@require_http_methods(["GET", "HEAD"])
def post_list(request: HttpRequest) -> HttpResponseBase:
    denied = _not_a_writer(request)
    if denied is not None:
        return denied
    return _render(request, "posts.html", {"posts": list(posts.staff_posts())})


def _write(request: HttpRequest, post: Post | None) -> HttpResponseBase:
    """The form for a new post (``post`` None) or a saved one. "Preview" shows the typed text as the
    public page would, and saves nothing; "Save" saves it (a draft stays a draft, a published post
    changes at once)."""
    initial = (
        {"title": post.title, "slug": post.slug, "summary": post.summary, "body": post.body} if post else None
    )
    form = PostForm(request.POST if request.method == "POST" else None, initial=initial)
    preview: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if request.POST.get("action") == "preview":
            shown = Post(
                title=data["title"].strip(),
                summary=data["summary"].strip(),
                body=data["body"],
                published_at=post.published_at if post else None,
            )
            preview = {"post": shown, "body_html": posts.body_html(shown)}
        else:
            try:
                saved = actions.save_post(
                    post,
                    title=data["title"],
                    summary=data["summary"],
                    body=data["body"],
                    slug=data["slug"],
                    acting_user=_user(request),
                )
            except Refusal as refusal:
                show_refusal(form, refusal)
            else:
                messages.success(request, "The post is saved." if post else "The draft is saved.")
                return redirect("staff:post_edit", slug=saved.slug)
    context = {"form": form, "post": post, "preview": preview}
    return _render(request, "post_form.html", context, 400 if form.errors else 200)


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def post_new(request: HttpRequest) -> HttpResponseBase:
    return _not_a_writer(request) or _write(request, None)


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def post_edit(request: HttpRequest, slug: str) -> HttpResponseBase:
    return _not_a_writer(request) or _write(request, _post_or_404(slug))


@console_page()
@require_http_methods(["GET", "HEAD"])
def post_preview(request: HttpRequest, slug: str) -> HttpResponseBase:
    denied = _not_a_writer(request)
    if denied is not None:
        return denied
    post = _post_or_404(slug)
    return _render(request, "post_preview.html", {"post": post, "body_html": posts.body_html(post)})


@console_page()
@require_POST
def post_publish(request: HttpRequest, slug: str) -> HttpResponseBase:
    denied = _not_a_writer(request)
    if denied is not None:
        return denied
    post = actions.publish_post(_post_or_404(slug), acting_user=_user(request))
    when = date_format(post.published_at, "j F Y") if post.published_at else ""
    messages.success(request, f"The post is published, dated {when}.")
    return redirect("staff:post_edit", slug=post.slug)


@console_page()
@require_POST
def post_unpublish(request: HttpRequest, slug: str) -> HttpResponseBase:
    denied = _not_a_writer(request)
    if denied is not None:
        return denied
    post = actions.unpublish_post(_post_or_404(slug), acting_user=_user(request))
    messages.success(request, "The post is a draft again: its address answers 404 to everyone.")
    return redirect("staff:post_edit", slug=post.slug)


@console_page()
@require_http_methods(["GET", "HEAD", "POST"])
def post_delete(request: HttpRequest, slug: str) -> HttpResponseBase:
    denied = _not_a_writer(request)
    if denied is not None:
        return denied
    post = _post_or_404(slug)
    if request.method == "POST":
        actions.delete_post(post, acting_user=_user(request))
        messages.success(request, f"The post “{post.title}” is deleted.")
        return redirect("staff:posts")
    return _render(request, "post_delete.html", {"post": post, "updates": post.updates.count()})
