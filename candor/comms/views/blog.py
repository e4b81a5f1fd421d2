"""The public blog: /blog/ (published posts, newest first, in pages), /blog/<slug>/ (one post).

A draft, or a slug no post has, is the same 404 for everyone, staff included: staff read drafts in the
console's preview. The pages hold nothing personal, so the site's middleware lets caches keep them for
anonymous visitors (``no-cache``: kept, and asked again before use, so an unpublished post is gone at
once).
"""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from candor.comms import posts


@require_safe
def blog(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(posts.published(), settings.BLOG_POSTS_PER_PAGE)
    raw = request.GET.get("page", "1")
    try:
        page = paginator.page(raw)
    except InvalidPage:
        # A page that does not exist is a 404 that says which ones do, rather than some other page under
        # an address that names this one (a link to page 7 of a shrunken blog must not show page 2).
        pages = paginator.num_pages
        message = (
            f"There is no page {raw[:12]!r} of the blog: it has {pages} page{'s' if pages != 1 else ''}."
        )
        return render(request, "comms/blog_missing.html", {"message": message}, status=404)
    return render(request, "comms/blog.html", {"page": page, "posts": page.object_list})


@require_safe
def post(request: HttpRequest, slug: str) -> HttpResponse:
    found = posts.published_post(slug)
    if found is None:
        raise Http404("no such post")
    return render(request, "comms/post.html", {"post": found, "body_html": posts.body_html(found)})
