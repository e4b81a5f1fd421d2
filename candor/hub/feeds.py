"""The sitemap, robots.txt and the Atom feed: public models (their public projection) and indexable
profiles only."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_safe

from candor.accounts.models import User
from candor.hub import visibility
from candor.hub.models import PublicModel

FEED_SIZE = 50


class PublicModelSitemap(Sitemap[PublicModel]):
    limit = 10_000

    def items(self) -> QuerySet[PublicModel]:
        return visibility.listed_models().order_by("pk")

    def lastmod(self, item: PublicModel) -> datetime:
        return item.updated_at


class ProfileSitemap(Sitemap[User]):
    limit = 10_000

    def items(self) -> QuerySet[User]:
        return visibility.indexable_profiles().order_by("date_joined", "pk")

    def location(self, item: User) -> str:
        return reverse("hub:profile", args=[item.username])


SITEMAPS = {"models": PublicModelSitemap, "profiles": ProfileSitemap}


class RecentModelsFeed(Feed[PublicModel, None]):
    feed_type = Atom1Feed
    description_template = None

    def title(self) -> str:
        return f"New models on {settings.PLATFORM_NAME}"

    def link(self) -> str:
        return reverse("hub:list")

    def subtitle(self) -> str:
        return f"The most recently published public models on {settings.PLATFORM_NAME}."

    def items(self) -> QuerySet[PublicModel]:
        return (
            visibility.listed_models()
            .filter(published_at__isnull=False)
            .order_by("-published_at")[:FEED_SIZE]
        )

    def item_title(self, item: PublicModel) -> str:
        return f"{item.full_name}: {item.title}"

    def item_description(self, item: PublicModel) -> str:
        return item.summary

    def item_pubdate(self, item: PublicModel) -> datetime | None:
        return item.published_at

    def item_updateddate(self, item: PublicModel) -> datetime:
        return item.updated_at

    def item_author_name(self, item: PublicModel) -> str:
        return item.owner_username


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /settings/",
        "Disallow: /api/",
        "Disallow: /login/",
        "Disallow: /signup/",
        "Disallow: /accounts/",
        "Disallow: /staff/",
        f"Sitemap: {settings.WEBSITE_URL}{reverse('sitemap')}",
        "",
    ]
    return HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
