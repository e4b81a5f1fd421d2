"""The gate of the Hugging Face protocol: the caller, the model, and the protocol's error answers.

Every view of the protocol is wrapped in :func:`endpoint`, which

- accepts only a Candor bearer token (``Authorization: Bearer cnd_…``): the client never sends cookies,
  so the views are exempt from the CSRF check, and a session cookie is ignored (a page open in a
  browser cannot be made to write through this router);
- refuses a read-only token on any write (403), and a bad token with the exact message the client
  reads as "Invalid credentials" (401);
- counts every request against the API's rate limits (per token, or per address for anonymous reads);
- turns a :class:`Refusal`, an ``Http404`` or a ``PermissionError`` into the protocol's error JSON
  (``{"error": "..."}``) with ``X-Error-Code`` and ``X-Error-Message`` headers, which the client
  raises as its own ``RepositoryNotFoundError``, ``RevisionNotFoundError``, ``EntryNotFoundError``…

A private model answers exactly as a missing one (404, ``RepoNotFound``) to anyone but its owner: the
model is found through :func:`candor.hub.visibility.get_model` and nothing else.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from candor.accounts.models import User
from candor.api import actions as token_actions
from candor.api import ratelimit
from candor.api.errors import STATUS
from candor.api.models import ApiToken
from candor.core.objectstore import RETRY_AFTER_SECONDS, StoreUnavailable
from candor.hub import visibility
from candor.hub.models import MLModel
from candor.kernel.refusal import Refusal
from candor.privacy import crypto

logger = logging.getLogger("candor.hub")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The X-Error-Code values the client branches on (huggingface_hub/utils/_http.py).
REPO_NOT_FOUND = "RepoNotFound"
REVISION_NOT_FOUND = "RevisionNotFound"
ENTRY_NOT_FOUND = "EntryNotFound"
# The client reads exactly this message as "your token is wrong" rather than "no such repository".
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class HfError(Exception):
    """An answer of the protocol other than success: status, message and (optionally) X-Error-Code."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra
        # Headers of the answer besides the error's own (resolve's X-Repo-Commit on a missing file).
        self.headers: dict[str, str] = {}


def error_response(status: int, message: str, code: str | None = None, **extra: Any) -> HttpResponse:
    """The protocol's error: ``{"error": message, ...extra}``, the code and message also as headers
    (a HEAD answer has no body, and the client reads the headers first)."""
    response = JsonResponse({"error": message, **extra}, status=status)
    # Header values must be one line of Latin-1; the messages are Candor's own English sentences.
    response["X-Error-Message"] = " ".join(message.split()).encode("latin-1", "replace").decode("latin-1")
    if code is not None:
        response["X-Error-Code"] = code
    response["Cache-Control"] = "no-store"
    return response


def refusal_status(refusal: Refusal) -> int:
    return STATUS.get(refusal.code, 400)


def _from_refusal(refusal: Refusal) -> HttpResponse:
    status = refusal_status(refusal)
    response = error_response(status, refusal.message)
    if refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


class Caller:
    """Who is calling: a token's person, or nobody."""

    def __init__(self, user: User | AnonymousUser, token: ApiToken | None) -> None:
        self.user, self.token = user, token

    @property
    def person(self) -> User:
        """The signed-in caller; a 401 for an anonymous one (writes, whoami)."""
        if not isinstance(self.user, User):
            raise HfError(401, "Authentication required: set HF_TOKEN to a Candor token.")
        return self.user


def authenticate(request: HttpRequest, *, limited: bool = True) -> Caller:
    """The caller of a protocol request, from its bearer token only. Sets ``request.user`` (the no-store
    rule for personal answers reads it) and ``request.hf_caller``.

    ``limited=False`` (file downloads) counts no request of a valid caller against the API's limits;
    refused credentials are counted all the same, so guessing tokens is limited everywhere."""
    header = request.headers.get("Authorization")
    if header is None:
        if limited:
            ratelimit.check_address(request)
        found = Caller(AnonymousUser(), None)
    else:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            ratelimit.check_address(request)
            raise HfError(401, INVALID_CREDENTIALS)
        try:
            token = token_actions.authenticate(credentials)
        except Refusal:
            ratelimit.check_address(request)
            raise HfError(401, INVALID_CREDENTIALS) from None
        if limited:
            ratelimit.check_caller(f"token:{token.pk}")
        found = Caller(token.user, token)
    request.user = found.user
    crypto.set_viewer(found.user.pk if found.user.is_authenticated else None)
    request.hf_caller = found  # type: ignore[attr-defined]
    return found


def caller(request: HttpRequest) -> Caller:
    found = getattr(request, "hf_caller", None)
    assert isinstance(found, Caller), "a protocol view outside endpoint() asked for its caller"
    return found


def require_write(request: HttpRequest) -> User:
    """The person behind a write: signed in with a token that has the write scope."""
    who = caller(request)
    person = who.person
    if who.token is None or not who.token.can_write:
        raise HfError(403, "This token may only read: create a token with the write scope to make changes.")
    return person


def find_model(request: HttpRequest, owner: str, name: str) -> MLModel:
    """The model ``owner/name`` if the caller may read it; a RepoNotFound 404 otherwise (private and
    missing alike)."""
    try:
        return visibility.get_model(caller(request).user, owner, name)
    except Http404:
        raise HfError(404, "Repository not found.", REPO_NOT_FOUND) from None


def find_editable_model(request: HttpRequest, owner: str, name: str) -> MLModel:
    """The model if the caller may change it: a write token of its owner. Someone who may read it but
    not change it gets 403 (they know it exists); anyone else the same 404 as a missing model."""
    person = require_write(request)
    model = find_model(request, owner, name)
    if not visibility.can_edit(person, model):
        raise HfError(403, "Only the owner may change this model.")
    return model


View = Callable[..., HttpResponseBase]


def endpoint(*methods: str, auth: bool = True, limited: bool = True) -> Callable[[View], View]:
    """Wrap a protocol view: allowed methods, the caller, and every failure as the protocol's error.

    ``limited=False`` is for file downloads (resolve): the client asks twice for every file (HEAD, then
    GET), so the API's per-minute limits would stop a model of a few hundred files half-way; the site's
    own file downloads are not limited either.

    ``auth=False`` leaves the caller to the view: the Xet store's routes take its own short-lived access
    token (``candor.hub.xet.tokens``), never a Candor API token, and check it themselves."""
    allowed = frozenset(m.upper() for m in methods)
    if "GET" in allowed:
        allowed |= {"HEAD"}

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                response = error_response(405, f"{request.method} is not allowed here.")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                if auth:
                    authenticate(request, limited=limited)
                return view(request, *args, **kwargs)
            except HfError as error:
                response = error_response(error.status, error.message, error.code, **error.extra)
                for header, value in error.headers.items():
                    response[header] = value
                return response
            except Refusal as refusal:
                return _from_refusal(refusal)
            except Http404:
                return error_response(404, "Repository not found.", REPO_NOT_FOUND)
            except PermissionError as error:
                return error_response(403, str(error) or "Not allowed.")
            except StoreUnavailable:
                logger.error("the object store is unavailable")
                response = error_response(503, "File storage is unavailable: try again shortly.")
                response["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return response

        return csrf_exempt(wrapped)

    return wrap


def revision_missing() -> HfError:
    return HfError(404, "Revision not found.", REVISION_NOT_FOUND)


def entry_missing(message: str = "Entry not found.") -> HfError:
    return HfError(404, message, ENTRY_NOT_FOUND)
