"""The site's URLs plus one view that fails, to exercise the 500 page."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberate failure for the 500 page test")


urlpatterns = [path("boom/", boom), path("", include("candor.urls"))]
handler404 = "candor.web.views.page_not_found"
handler500 = "candor.web.views.server_error"
