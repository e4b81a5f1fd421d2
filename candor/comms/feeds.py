"""The blog's Atom feed and its section of the sitemap: published posts only (candor.comms.posts)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from candor.comms import posts
from candor.comms.models import Post


class PostSitemap(Sitemap[Post]):
    limit = 10_000

    def items(self) -> QuerySet[Post]:
        return posts.published()

    def location(self, item: Post) -> str:
        return reverse("comms:post", args=[item.slug])

    def lastmod(self, item: Post) -> datetime:
        return item.updated_at


class _AtomFromSite(Atom1Feed):
    """Atom with the site's address as ``xml:base``: a post's own links are relative (/models/…), and a
    feed reader, which shows them away from the site, resolves them against it."""

    def root_attributes(self) -> dict[str, str]:
        return {**super().root_attributes(), "xml:base": f"{settings.WEBSITE_URL.rstrip('/')}/"}


class PostFeed(Feed[Post, None]):
    feed_type = _AtomFromSite
    description_template = None

    def title(self) -> str:
        return f"{settings.PLATFORM_NAME} blog"

    def link(self) -> str:
        return reverse("comms:blog")

    def subtitle(self) -> str:
        return f"News from {settings.PLATFORM_NAME}."

    def items(self) -> QuerySet[Post]:
        return posts.published()[: posts.FEED_SIZE]

    def item_title(self, item: Post) -> str:
        return item.title

    def item_link(self, item: Post) -> str:
        return reverse("comms:post", args=[item.slug])

    def item_description(self, item: Post) -> str:
        # The whole post, through the same sanitiser as its page: a feed reader shows it as HTML.
        return posts.body_html(item)

    def item_pubdate(self, item: Post) -> datetime | None:
        return item.published_at

    def item_updateddate(self, item: Post) -> datetime:
        return item.updated_at

    def item_author_name(self) -> str:
        # Posts are the platform's: the member of staff who wrote one is never named.
        return str(settings.PLATFORM_NAME)
