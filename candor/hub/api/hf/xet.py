"""The Xet upload path of the Hugging Face protocol: the access-token endpoint and the store's routes.

The client (``huggingface_hub`` with ``hf_xet``) uploads every large file this way: it asks
``/api/models/{owner}/{name}/xet-write-token/{revision}`` (with the person's Candor token) for the store's
address and a short-lived access token, then speaks to the store with that token only: it uploads
xorbs (``POST {cas}/v1/xorbs/default/{hash}``), asks about chunks it might not need to send
(``GET {cas}/v1/chunks/default-merkledb/{hash}``: always "not found" here, since dedupe stays within an
owner and must never tell one person what another holds), and uploads shards (``POST {cas}/v1/shards``;
the client tries ``/v2/shards`` first and falls back when told it is not implemented). The store lives
under ``{site}/xet/cas``; nothing here redirects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path

from candor.api import ratelimit
from candor.hub import storage
from candor.hub.api.body import content_length, whole_body
from candor.hub.api.hf.common import HfError, caller, endpoint, find_editable_model
from candor.hub.xet import store, tokens
from candor.hub.xet.tokens import Grant
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto

CAS_PATH = "xet/cas"
_TELEMETRY_LIMIT = 1024 * 1024


def cas_url() -> str:
    return f"{settings.WEBSITE_URL.rstrip('/')}/{CAS_PATH}"


@endpoint("GET")
def write_token(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    """The store's address and an access token for uploads to this model (its owner's write token
    only). The answer is in the body (what ``hf_xet`` reads) and in headers (what ``huggingface_hub``
    reads)."""
    model = find_editable_model(request, owner, name)
    api_token = caller(request).token
    if api_token is None:  # find_editable_model has required a write token already
        raise HfError(401, "Authentication required: set HF_TOKEN to a Candor token.")
    access, expires = tokens.issue(api_token, model)
    response = JsonResponse({"casUrl": cas_url(), "accessToken": access, "exp": expires})
    response["X-Xet-Cas-Url"] = cas_url()
    response["X-Xet-Access-Token"] = access
    response["X-Xet-Token-Expiration"] = str(expires)
    response["Cache-Control"] = "no-store"
    return response


def _grant(request: HttpRequest) -> Grant:
    """The grant of the request's Xet access token; a 401 otherwise (counted against the address, as
    every refused credential is), a 429 past the rate of the API token behind it."""
    scheme, _, credentials = str(request.headers.get("Authorization", "")).strip().partition(" ")
    try:
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Refusal(Code.INVALID_TOKEN, "Send the Xet access token as a bearer token.")
        grant = tokens.check(credentials.strip())
    except Refusal:
        ratelimit.check_address(request)
        raise
    # Counted against the API token the Xet token came from, as that token's own requests are.
    ratelimit.check_caller(f"token:{grant.api_token.pk}")
    request.user = grant.owner
    crypto.set_viewer(grant.owner.pk)
    return grant


def _body(request: HttpRequest, limit: int) -> tuple[int, Iterator[bytes]]:
    length = content_length(str(request.META.get("CONTENT_LENGTH") or ""), limit)
    return length, whole_body(storage.read_chunks(cast("IO[bytes]", request), length), length)


def _drain(request: HttpRequest, limit: int) -> None:
    """Read and drop a body this route does not use, so the connection stays in step."""
    raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
    length = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    for _ in storage.read_chunks(cast("IO[bytes]", request), min(length, limit)):
        pass


@endpoint("POST", auth=False)
def xorb(request: HttpRequest, prefix: str, digest: str) -> HttpResponse:
    grant = _grant(request)
    if prefix != "default":
        raise HfError(400, "Xorbs are uploaded under the prefix 'default'.")
    _, body = _body(request, store.MAX_XORB_BODY)
    inserted = store.receive_xorb(grant.owner, digest, body, acting_user=grant.owner)
    return JsonResponse({"was_inserted": inserted})


@endpoint("POST", auth=False)
def shard(request: HttpRequest) -> HttpResponse:
    grant = _grant(request)
    _, body = _body(request, store.MAX_SHARD_BODY)
    store.receive_shard(grant.owner, body, acting_user=grant.owner)
    # 1: the files were registered (0 would say the shard was known already).
    return JsonResponse({"result": 1})


@endpoint("POST", auth=False)
def shard_v2(request: HttpRequest) -> HttpResponse:
    _grant(request)
    _drain(request, store.MAX_SHARD_BODY)
    # 404 is what the client reads as "no second version here" (and falls back to /v1/shards).
    raise HfError(404, "This store takes shards at /v1/shards.")


@endpoint("GET", auth=False)
def chunk(request: HttpRequest, prefix: str, digest: str) -> HttpResponse:
    """The global-dedupe query: always "not found". Dedupe happens only within one owner's uploads, on
    the server, and this answer must not depend on what anyone holds."""
    _grant(request)
    raise HfError(404, "Not tracked for deduplication.")


@endpoint("POST", auth=False)
def telemetry(request: HttpRequest) -> HttpResponse:
    """The client's transfer statistics: accepted and dropped, never stored or logged."""
    _grant(request)
    _drain(request, _TELEMETRY_LIMIT)
    return HttpResponse(status=200)


urlpatterns: list[URLPattern] = [
    path(
        "api/models/<str:owner>/<str:name>/xet-write-token/<path:revision>",
        write_token,
        name="hf_xet_write_token",
    ),
    path(f"{CAS_PATH}/v1/xorbs/<str:prefix>/<str:digest>", xorb, name="hf_xet_xorb"),
    path(f"{CAS_PATH}/v1/shards", shard, name="hf_xet_shard"),
    path(f"{CAS_PATH}/v2/shards", shard_v2, name="hf_xet_shard_v2"),
    path(f"{CAS_PATH}/v1/chunks/<str:prefix>/<str:digest>", chunk, name="hf_xet_chunk"),
    path(f"{CAS_PATH}/v1/telemetry", telemetry, name="hf_xet_telemetry"),
]
