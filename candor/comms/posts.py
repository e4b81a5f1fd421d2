"""The blog's reads: which posts the public may see, in what order, and their rendered bodies.

The one place that decides that a post is public (published, with a date); the public pages, the feed,
the sitemap and the product-update emails all ask here, so a draft cannot reach any of them by a
second road. Staff read drafts through :func:`staff_post`, from the console only.
"""

from __future__ import annotations

from django.db.models import QuerySet

from candor.comms.choices import PostStatus
from candor.comms.models import Post
from candor.core.markdown import render

# The post's title is the page's h1: the body's own headings go one level below it.
HEADING_SHIFT = 1
FEED_SIZE = 20


def published() -> QuerySet[Post]:
    """Published posts, newest first (ties by id, so that pages never overlap)."""
    return Post.objects.filter(status=PostStatus.PUBLISHED, published_at__isnull=False).order_by(
        "-published_at", "-pk"
    )


def published_post(slug: str) -> Post | None:
    return published().filter(slug=slug).first()


def staff_posts() -> QuerySet[Post]:
    """Every post, drafts first then newest change first, for the console's list."""
    return Post.objects.order_by("status", "-updated_at", "-pk")


def staff_post(slug: str) -> Post | None:
    return Post.objects.filter(slug=slug).first()


def body_html(post: Post) -> str:
    """The body as the public page shows it: the model cards' sanitiser, headings under the title."""
    return render(post.body, heading_shift=HEADING_SHIFT)
