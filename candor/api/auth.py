"""Who is calling: a bearer token, the website's session, or nobody.

Each endpoint lists the ways it accepts, in order; ninja tries them one by one and keeps the first
that names a caller. A request that carries an Authorization header is judged by it alone: a bad token
is a 401 even where anonymous callers are welcome, so a client never mistakes a typo for "public data
only". Every path ends in a rate limit: per token or person, or per client address for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from candor.accounts.models import User
from candor.api import actions, ratelimit
from candor.api.models import ApiToken
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    user: User | AnonymousUser
    token: ApiToken | None = None


def caller(request: HttpRequest) -> Caller:
    found = getattr(request, "auth", None)
    assert isinstance(found, Caller), "an endpoint without authentication asked for its caller"
    return found


def person(request: HttpRequest) -> User:
    """The signed-in caller, for endpoints that only accept signed-in callers."""
    user = caller(request).user
    if not isinstance(user, User):
        raise Refusal(Code.UNAUTHENTICATED, "Authentication required.")
    return user


class BearerAuth(HttpBearer):
    openapi_description = "A personal access token (cnd_…), created with POST /api/v1/tokens."
    # ninja copies every openapi_<field> attribute into the security scheme.
    openapi_bearerFormat = "cnd_ token"

    def __call__(self, request: HttpRequest) -> Caller | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            ratelimit.check_address(request)
            raise Refusal(Code.INVALID_TOKEN, "Send the token as 'Authorization: Bearer <token>'.")
        return self.authenticate(request, credentials)

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        try:
            found = actions.authenticate(token)
        except Refusal:
            ratelimit.check_address(request)
            raise
        ratelimit.check_caller(f"token:{found.pk}")
        if request.method not in SAFE_METHODS and not found.can_write:
            raise Refusal(
                Code.INSUFFICIENT_SCOPE,
                "This token may only read: create a token with the write scope to make changes.",
            )
        # The rest of the stack (the no-store rule for personal responses among others) reads request.user.
        request.user = found.user
        crypto.set_viewer(found.user.pk)  # whose values this request may decrypt
        return Caller(user=found.user, token=found)


class SessionAuth(APIKeyCookie):
    """The website's session cookie, with Django's CSRF check on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = "The website's session; unsafe methods also need the X-CSRFToken header."

    def __call__(self, request: HttpRequest) -> Caller | None:
        user = getattr(request, "user", None)
        if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise Refusal(
                Code.CSRF_FAILED, "The CSRF check failed: send the X-CSRFToken header, or use a token."
            )
        ratelimit.check_caller(f"user:{user.pk}")
        return Caller(user=user)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return None  # unused: __call__ does the work


class Anonymous:
    """The last resort: counts the request against its address, then admits it (reads) or not."""

    def __init__(self, *, admit: bool) -> None:
        self.admit = admit

    def __call__(self, request: HttpRequest) -> Caller | None:
        ratelimit.check_address(request)
        return Caller(user=AnonymousUser()) if self.admit else None


_bearer, _session = BearerAuth(), SessionAuth()
# Reading what is public or unlisted needs no account and no cookie (clause C11).
ANYONE: list[Callable[[HttpRequest], Caller | None]] = [_bearer, _session, Anonymous(admit=True)]
SIGNED_IN: list[Callable[[HttpRequest], Caller | None]] = [_bearer, _session, Anonymous(admit=False)]
