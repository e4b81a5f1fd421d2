from django.urls import path

from candor.developers import views

app_name = "developers"

urlpatterns = [
    path("", views.portal, name="portal"),
    path("tokens/", views.tokens, name="tokens"),
    path("api/", views.api_docs, name="docs"),
    path("changelog/", views.changelog, name="changelog"),
]
