"""One Cache-Control policy for every response (candor.web.middleware.SecurityHeadersMiddleware).

Anonymous public answers (pages, API reads, files, sitemap, feed) say ``no-cache`` and carry an ETag,
so a proxy asks again before each use and a model made private or deleted is never served from it;
anything personal, and every answer to a form, says ``private, no-store``.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
from candor.hub.models import MLModel
from tests.conftest import Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(owner: User, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    model = actions.create_model(acting_user=owner, name="m", title="M", summary="s", visibility="public")
    actions.add_file(model, "w.bin", [b"weights" * 10], acting_user=owner)


def directives(response: Any) -> set[str]:
    return {d.strip().lower() for d in response.get("Cache-Control", "").split(",") if d.strip()}


def assert_revalidated(response: Any) -> None:
    assert directives(response) == {"no-cache"}, (response.status_code, response.get("Cache-Control"))


def assert_personal(response: Any) -> None:
    assert directives(response) == {"private", "no-store"}, response.get("Cache-Control")


PUBLIC_SURFACES = [
    "/",
    "/models/",
    "/models/?sort=name&q=m",
    "/models/popular/",
    "/models/trending/",
    "/models/popular.csv",
    "/trends/",
    "/privacy/",
    "/privacy/data/",
    "/developers/",
    "/developers/api/",
    "/alice/",
    "/alice/m/",
    "/alice/m/files/w.bin",
    "/sitemap.xml",
    "/models/feed.atom",
    "/robots.txt",
    "/api/v1/openapi.json",
    "/api/v1/models",
    "/api/v1/models/alice/m",
    "/api/v1/models/alice/m/files",
    "/api/v1/models/alice/m/files/w.bin",
    "/api/v1/models/popular",
    "/api/v1/models/trending",
    "/api/v1/trends",
    "/api/v1/privacy/inventory",
]


@pytest.mark.parametrize("url", PUBLIC_SURFACES)
def test_every_public_surface_says_no_cache_and_can_be_revalidated(published: None, url: str) -> None:
    client = Client()
    response = client.get(url)
    assert response.status_code == 200, url
    assert not response.cookies
    assert_revalidated(response)
    etag = response.get("ETag")
    assert etag, url
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304, url
    assert_revalidated(again)


def test_every_anonymous_read_of_the_api_schema_says_no_cache(published: None) -> None:
    """Every GET operation of the OpenAPI document, as an anonymous caller, on alice's public model."""
    client = Client()
    schema = json.loads(client.get("/api/v1/openapi.json").content)
    values = collections.defaultdict(lambda: "x", {"owner": "alice", "name": "m", "path": "w.bin"})
    seen = 0
    for template, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        url = "/api/v1" + template.format_map(values)
        response = client.get(url)
        if response.status_code == 401:  # a signed-in person's own data: nothing anonymous to cache
            assert_personal(response) if response.cookies else assert_revalidated(response)
            continue
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        assert_revalidated(response)
        seen += 1
    assert seen >= 8


def test_errors_and_redirects_for_anonymous_visitors_say_no_cache(published: None) -> None:
    for url in ("/alice/nothing-here/", "/api/v1/models/alice/nothing", "/settings/models/"):
        response = Client().get(url)
        assert response.status_code in (302, 404), url
        assert_revalidated(response)


def test_a_proxy_revalidating_after_the_model_went_private_gets_a_404(owner: User, published: None) -> None:
    proxy = Client()
    cached = {url: proxy.get(url) for url in ("/alice/m/", "/alice/m/files/w.bin", "/api/v1/models/alice/m")}
    model = MLModel.objects.named(owner, "m").get()
    actions.set_visibility(model, "private", acting_user=owner)
    for url, first in cached.items():
        assert_revalidated(first)
        again = proxy.get(url, headers={"If-None-Match": first["ETag"]})
        assert again.status_code == 404, url


def test_a_changed_page_gets_a_new_etag(owner: User, published: None) -> None:
    first = Client().get("/alice/m/")
    actions.update_model(MLModel.objects.named(owner, "m").get(), acting_user=owner, title="Renamed")
    again = Client().get("/alice/m/", headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 200 and b"Renamed" in again.content
    assert again["ETag"] != first["ETag"]


def test_the_sign_up_confirmation_showing_the_typed_address_is_never_stored(mailbox: Mailbox) -> None:
    response = Client().post(
        "/signup/",
        {"username": "newcomer", "email": "typed.address@example.org", "password": "a-long-pass-phrase-77"},
    )
    assert response.status_code == 200 and b"typed.address@example.org" in response.content
    assert_personal(response)
    assert "ETag" not in response


def test_a_form_sent_back_with_errors_is_never_stored() -> None:
    response = Client().post("/signup/", {"username": "x", "email": "not-an-address", "password": "p"})
    assert response.status_code == 400
    assert_personal(response)


def test_answers_for_a_token_or_a_signed_in_person_are_never_stored(
    owner: User, owner_client: Client, published: None
) -> None:
    _, token = create_token(owner, name="t", scopes=["read"], acting_user=owner)
    for url in ("/api/v1/models", "/api/v1/models/alice/m", "/api/v1/models/alice/m/files/w.bin"):
        response = Client().get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert_personal(response)
        assert "ETag" not in response or url.endswith("w.bin")  # a file's ETag is its SHA-256
    for url in ("/models/", "/alice/m/", "/alice/m/files/w.bin", "/sitemap.xml"):
        assert_personal(owner_client.get(url))
    # A refused token is not a person, but its answer is still no one else's.
    assert_personal(Client().get("/api/v1/models", headers={"Authorization": "Bearer cnd_wrong"}))
