from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from candor.comms.feeds import PostSitemap
from candor.hub.feeds import SITEMAPS, RecentModelsFeed, robots_txt
from candor.lifecycle import views as privacy_views
from candor.web import views as core_views

urlpatterns = [
    path("api/v1/", include("candor.api.urls")),
    # The Hugging Face Hub protocol (/api/models/…, /api/repos/…, /<owner>/<name>/resolve/…).
    path("", include("candor.hub.api.hf.urls")),
    path("", core_views.home, name="home"),
    path("privacy/", core_views.privacy_placeholder, name="privacy"),
    path("privacy/data/", privacy_views.data_inventory, name="privacy_data"),
    path("settings/export/", privacy_views.export_page, name="privacy_export"),
    path(
        "settings/export/<str:public_id>/download/",
        privacy_views.export_download,
        name="privacy_export_download",
    ),
    path("-/bare/", core_views.bare, name="bare"),
    path("robots.txt", robots_txt, name="robots"),
    # The hub's sections (models, profiles) and the blog's posts: hub cannot import comms' entry points.
    path("sitemap.xml", sitemap, {"sitemaps": {**SITEMAPS, "posts": PostSitemap}}, name="sitemap"),
    path("models/feed.atom", RecentModelsFeed(), name="feed"),
    path("developers/", include("candor.developers.urls")),
    path("", include("candor.staff.urls")),
    path("", include("candor.comms.urls")),
    path("", include("candor.accounts.urls")),
    path("", include("candor.analytics.urls")),
    # Last: /<username>/ and /<username>/<model>/ take whatever the paths above did not.
    path("", include("candor.hub.urls")),
]

handler404 = "candor.web.views.page_not_found"
handler500 = "candor.web.views.server_error"
