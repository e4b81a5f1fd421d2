from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import path, register_converter

from candor.hub import views
from candor.hub.api.hf import read as hf_read


class NameConverter:
    """A username or model name segment: what the validators allow, so other paths never match."""

    regex = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NameConverter, "name")

app_name = "hub"


def file_at_revision(
    request: HttpRequest, username: str, name: str, revision: str, path: str
) -> HttpResponseBase:
    """One address, two callers: ``/<owner>/<name>/resolve/<revision>/<path>`` is both the site's link
    to a file at a revision and the Hugging Face protocol's download address. A browser (it asks for
    HTML) keeps the site's answer, its 404 page and noindex rules; every other client, the protocol's.

    A request with the site's session cookie and no bearer token is the site's visitor too (the client
    never sends cookies, so it is never taken for one): a signed-in owner's download link keeps working
    from any tool that carries the cookie.

    Here because only URL configurations may import both entry points. The protocol splits revision and
    path itself (a revision may hold a "/"), so it gets them joined again.
    """
    visitor = settings.SESSION_COOKIE_NAME in request.COOKIES and "Authorization" not in request.headers
    if visitor or "text/html" in request.headers.get("Accept", ""):
        return views.file_at_revision(request, username, name, revision, path)
    return hf_read.resolve(request, username, name, f"{revision}/{path}")


urlpatterns = [
    path("models/", views.model_list, name="list"),
    path("models/new/", views.model_create, name="create"),
    path("settings/models/", views.my_models, name="my_models"),
    path("<name:username>/", views.profile, name="profile"),
    path("<name:username>/<name:name>/", views.model_detail, name="model"),
    path("<name:username>/<name:name>/edit/", views.model_edit, name="edit"),
    path("<name:username>/<name:name>/visibility/", views.model_visibility, name="visibility"),
    path("<name:username>/<name:name>/delete/", views.model_delete, name="delete"),
    path("<name:username>/<name:name>/upload/", views.file_upload, name="upload"),
    path("<name:username>/<name:name>/files-delete/", views.file_delete, name="file_delete"),
    path("<name:username>/<name:name>/files/<path:path>", views.file_download, name="file"),
    path("<name:username>/<name:name>/commits/", views.model_commits, name="commits"),
    path("<name:username>/<name:name>/commit/<str:oid>/", views.commit_detail, name="commit"),
    path(
        "<name:username>/<name:name>/resolve/<str:revision>/<path:path>",
        file_at_revision,
        name="file_at_revision",
    ),
    path(
        "<name:username>/<name:name>/remove-from-history/",
        views.remove_from_history,
        name="remove_from_history",
    ),
]
