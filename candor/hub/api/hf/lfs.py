"""The Git LFS batch API of the Hugging Face protocol: how large files reach Candor without Xet.

``POST /{owner}/{name}.git/info/lfs/objects/batch`` (the client's ``lfs.post_lfs_batch_info``, and
``git lfs``) announces objects by SHA-256 and size. For an upload, an object the model's owner already
holds gets no actions; any other one an ``upload`` action (a single PUT: the answer never has the
``chunk_size`` header that would make the client choose the multipart transfer) and a ``verify``
action. The client PUTs the bytes without any Authorization header, so the upload address carries the
capability itself: ``/lfs/upload/{key}``, a random key of a short-lived grant
(:mod:`candor.hub.largefiles`), never a name, an id or a token, and never in a query string. The body is
read in pieces and sealed as it arrives: a file of many GiB never sits in memory, nor in clear on disk.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path

from candor.hub import largefiles
from candor.hub.api.hf.common import HfError, caller, endpoint, find_editable_model, find_model
from candor.hub.api.hf.write import model_url, read_json, site_url
from candor.kernel.refusal import Code, Refusal

LFS_JSON = "application/vnd.git-lfs+json"
CHUNK = 1024 * 1024
EXPIRES_IN = int(largefiles.GRANT_LIFETIME.total_seconds())


def lfs_response(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status, content_type=LFS_JSON)
    response["Cache-Control"] = "no-store"
    return response


def _announced(body: dict[str, Any]) -> list[tuple[str, int]]:
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise HfError(400, "The batch names no objects.")
    found = []
    for item in objects:
        if not isinstance(item, dict):
            raise HfError(400, "Each object is {oid, size}.")
        found.append(largefiles.checked_object(item.get("oid"), item.get("size")))
    return found


@endpoint("POST")
def batch(request: HttpRequest, owner: str, name: str) -> HttpResponse:
    body = read_json(request)
    if body.get("hash_algo", "sha256") != "sha256":
        raise HfError(400, "Objects are named by their SHA-256.")
    transfers = body.get("transfers") or ["basic"]
    if not isinstance(transfers, list) or "basic" not in transfers:
        raise HfError(400, "Candor offers the basic transfer only.")
    operation = body.get("operation")
    if operation == "upload":
        return _upload_batch(request, owner, name, body)
    if operation == "download":
        return _download_batch(request, owner, name, body)
    raise HfError(400, "The operation is upload or download.")


def _upload_batch(request: HttpRequest, owner: str, name: str, body: dict[str, Any]) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    objects = _announced(body)
    keys = largefiles.grant_uploads(model, objects, acting_user=caller(request).person)
    verify = f"{model_url(model)}.git/info/lfs/objects/verify"
    answers: list[dict[str, Any]] = []
    for (sha256, size), key in zip(objects, keys, strict=True):
        if key is None:
            answers.append({"oid": sha256, "size": size})
            continue
        answers.append(
            {
                "oid": sha256,
                "size": size,
                "authenticated": True,
                "actions": {
                    "upload": {"href": f"{site_url()}/lfs/upload/{key}", "expires_in": EXPIRES_IN},
                    "verify": {"href": verify, "expires_in": EXPIRES_IN},
                },
            }
        )
    return lfs_response({"transfer": "basic", "objects": answers, "hash_algo": "sha256"})


def _download_batch(request: HttpRequest, owner: str, name: str, body: dict[str, Any]) -> HttpResponse:
    model = find_model(request, owner, name)
    answers: list[dict[str, Any]] = []
    for sha256, size in _announced(body):
        source = largefiles.download_source(model, sha256, size)
        if source is None:
            missing = {"code": 404, "message": "Object does not exist."}
            answers.append({"oid": sha256, "size": size, "error": missing})
            continue
        # The file's address at the revision that holds it, served by the protocol's resolve route.
        href = f"{model_url(model)}/resolve/{source.commit.oid}/{source.path}"
        answers.append(
            {"oid": sha256, "size": size, "actions": {"download": {"href": href, "expires_in": EXPIRES_IN}}}
        )
    return lfs_response({"transfer": "basic", "objects": answers, "hash_algo": "sha256"})


@endpoint("POST")
def verify(request: HttpRequest, owner: str, name: str) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    body = read_json(request)
    sha256, size = largefiles.checked_object(body.get("oid"), body.get("size"))
    try:
        largefiles.verify(model, sha256, size)
    except Refusal as refusal:
        raise HfError(404, refusal.message) from None
    return lfs_response({})


def _body(request: HttpRequest) -> Any:
    """The request's body in pieces, as they arrive (``request.read``): never the whole of it."""
    while piece := request.read(CHUNK):
        yield piece


@endpoint("PUT")
def upload(request: HttpRequest, key: str) -> HttpResponse:
    """The bytes of one object, sent to the address its grant names (no token: the key is the grant)."""
    length = request.headers.get("Content-Length")
    announced = int(length) if length and length.isdigit() else None
    try:
        largefiles.receive(key, _body(request), announced_length=announced)
    except Refusal as refusal:
        if refusal.code is Code.NOT_FOUND:
            raise HfError(404, refusal.message) from None
        raise HfError(400, refusal.message) from None
    return HttpResponse(status=200)


_REPO = "<str:owner>/<str:name>.git/info/lfs/objects"

urlpatterns: list[URLPattern] = [
    path(f"{_REPO}/batch", batch, name="hf-lfs-batch"),
    path(f"{_REPO}/verify", verify, name="hf-lfs-verify"),
    path("lfs/upload/<str:key>", upload, name="hf-lfs-upload"),
]
