"""The shared cache of listings holds nothing of the visitor whose request filled it (DESIGN, principle 6).

Each test fills the cache through a visitor carrying as much of their own as they can (a pending flash
message, cookies, a CSRF cookie, headers, a token), then checks that everyone else gets byte for byte
what a visitor with nothing at all gets when the cache is empty.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions, listing_cache
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

MESSAGE = "You are logged out."


@pytest.fixture
def listed(owner: User) -> None:
    actions.create_model(acting_user=owner, name="tiny-bert", title="Tiny BERT", visibility="public")


def forget_expired_cookies(client: Client) -> None:
    # A browser drops a cookie the server expired (the session cookie at log-out); the test client
    # keeps it, empty, and would send it back.
    for name in [n for n, morsel in client.cookies.items() if not morsel.value]:
        del client.cookies[name]


def logged_out_visitor(username: str) -> Client:
    """A browser just logged out: no session any more, and "You are logged out." pending for it."""
    visitor = Client()
    assert visitor.login(username=username, password=PASSWORD)
    assert visitor.post("/logout/").status_code == 302
    forget_expired_cookies(visitor)
    assert settings.SESSION_COOKIE_NAME not in visitor.cookies
    assert visitor.cookies["messages"].value  # the message waits in its cookie
    return visitor


def fresh(url: str, **headers: str) -> bytes:
    """What a visitor with nothing of their own gets while the cache is empty."""
    cache.clear()
    response = Client().get(url, headers=headers)
    assert response.status_code == 200
    return bytes(response.content)


def test_a_pending_message_is_shown_to_its_visitor_and_never_cached(owner: User, listed: None) -> None:
    visitor = logged_out_visitor("alice")
    own = visitor.get("/models/?sort=name")
    assert own.status_code == 200 and MESSAGE in own.content.decode()
    others = [Client().get("/models/?sort=name") for _ in range(2)]
    for other in others:
        assert MESSAGE not in other.content.decode()
    assert others[0].content == others[1].content == fresh("/models/?sort=name")
    # Shown once, the message is gone for its visitor too, who now gets the shared page.
    assert visitor.get("/models/?sort=name").content == others[0].content


LOADED_HEADERS = {
    "Accept-Language": "de-CH,de;q=0.9",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    "Referer": "https://mail.example.org/inbox/secret-thread",
    "X-Forwarded-For": "203.0.113.9",
    "Cookie": "theme=dark; tracking=visitor-4711",
}


@pytest.mark.parametrize("url", ["/models/", "/models/?q=tiny&sort=name", "/models/?page=1&tag=nlp"])
def test_a_page_cached_through_one_visitor_is_identical_for_every_visitor(listed: None, url: str) -> None:
    baseline = fresh(url)
    cache.clear()
    loaded = Client()
    loaded.cookies["candor_csrf"] = "a" * 32  # a CSRF cookie from an earlier form
    filled = loaded.get(url, headers=LOADED_HEADERS)
    assert filled.status_code == 200
    assert not filled.cookies  # nothing was set for them either
    for headers in ({}, {"Accept-Language": "fr"}, {"User-Agent": "curl/8.0"}):
        assert Client().get(url, headers=headers).content == baseline
    assert b"secret-thread" not in baseline and b"visitor-4711" not in baseline


def test_the_api_listing_cached_through_a_token_holder_is_identical_for_everyone(
    owner: User, listed: None
) -> None:
    url = "/api/v1/models?sort=name&limit=1"
    baseline = fresh(url)
    cache.clear()
    _, token = create_token(owner, name="t", scopes=["read"], acting_user=owner)
    filled = Client().get(url, headers={"Authorization": f"Bearer {token}", **LOADED_HEADERS})
    assert filled.status_code == 200 and filled.content == baseline
    assert Client().get(url).content == baseline
    assert token.encode() not in baseline


@pytest.mark.parametrize(
    "visitor",
    [
        pytest.param(lambda: logged_out_visitor("alice"), id="pending message"),
        pytest.param(lambda: _signed_in("alice"), id="signed in"),
    ],
)
def test_visitors_with_something_of_their_own_neither_fill_nor_read_the_cache(
    owner: User, listed: None, visitor: Callable[[], Client]
) -> None:
    cache.clear()
    response = visitor().get("/models/")
    assert response.status_code == 200
    assert cache.get(listing_cache.key("page", "")) is None
    Client().get("/models/")
    assert cache.get(listing_cache.key("page", "")) is not None  # the same address does fill it


def _signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client
