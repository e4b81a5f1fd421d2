from django.urls import include, path

from candor.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("privacy/", core_views.privacy_placeholder, name="privacy"),
    path("-/bare/", core_views.bare, name="bare"),
    path("", include("candor.accounts.urls")),
]

handler404 = "candor.core.views.page_not_found"
handler500 = "candor.core.views.server_error"
