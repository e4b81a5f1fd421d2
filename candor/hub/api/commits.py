"""The API's revisions of a model: blobs, commits, files at a revision, tags, remove from history.

A client changes many files in one commit: it stores each new file's bytes as a blob (``POST …/blobs``),
then names them in one ``POST …/commits`` with the revision it started from as ``parent``. A revision in
a path (``…/revisions/{revision}/…``) is ``main``, a commit id or a tag: never in a query string, since a
tag's name is the owner's content. Every look-up goes through candor.hub.visibility and every change
through candor.hub.actions or candor.hub.revisions' actions, as in the files' router beside this one.
"""

from __future__ import annotations

from typing import IO, Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Router
from ninja.params.functions import Query
from ninja.responses import Status

from candor.analytics.capture import DOWNLOAD, mark
from candor.api.auth import ANYONE, caller, person
from candor.api.errors import error_response
from candor.api.schemas import openapi, responses
from candor.hub import actions, http, revisions, storage, visibility
from candor.hub.api.body import content_length, whole_body
from candor.hub.api.schemas import (
    BINARY,
    FILE_PATH,
    NAME,
    NOT_MODIFIED,
    OID,
    OID_PATTERN,
    OWNER,
    REVISION,
    TAG,
    BlobOut,
    CommitIn,
    CommitList,
    CommitOut,
    FileList,
    PurgeOut,
    RefList,
    RefOut,
    TagIn,
    file_out,
)
from candor.hub.models import Commit, MLModel, Ref
from candor.kernel.refusal import Code, Refusal

router = Router(tags=["revisions"])


def _noindex(response: HttpResponseBase, model: MLModel) -> None:
    if not model.is_indexable:
        response["X-Robots-Tag"] = "noindex"


def commit_out(commit: Commit) -> dict[str, Any]:
    return {
        "oid": commit.oid,
        "parent": commit.parent.oid if commit.parent is not None else None,
        "message": commit.message,
        "author": commit.author.username if commit.author is not None else None,
        "created_at": commit.created_at,
        "changes": [{"path": c.path, "kind": c.kind} for c in revisions.changes_of(commit)],
    }


@router.post(
    "/models/{owner}/{name}/blobs",
    response=responses({201: BlobOut}, 411, 413),
    openapi_extra=openapi(requestBody={"required": True, "content": BINARY}),
    summary="Store a file's bytes for a coming commit (the raw bytes as the body)",
)
def upload_blob(request: HttpRequest, owner: str = OWNER, name: str = NAME) -> Status[dict[str, Any]]:
    """The bytes belong to no revision until a commit names them by SHA-256; unless one does within an
    hour, they are removed. Bytes the owner stored before are not stored twice."""
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    length = content_length(str(request.META.get("CONTENT_LENGTH") or ""), settings.MAX_UPLOAD_BYTES)
    chunks = whole_body(storage.read_chunks(cast("IO[bytes]", request), length), length)
    blob = actions.store_blob(model, chunks)
    return Status(201, {"sha256": blob.sha256, "size": blob.size})


@router.post(
    "/models/{owner}/{name}/commits",
    response=responses({200: CommitOut, 201: CommitOut}, 409, 413),
    openapi_extra=openapi(),
    summary="Make one commit of many changes (put, delete, rename) on main",
)
def create_commit(
    request: HttpRequest, payload: CommitIn, owner: str = OWNER, name: str = NAME
) -> Status[dict[str, Any]]:
    """A put names a blob of the owner by its SHA-256. Changing nothing makes no commit: the answer is
    then main's head, with status 200."""
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    before = model.head_id
    made = actions.commit_changes(
        model,
        [change.model_dump() for change in payload.changes],
        acting_user=user,
        message=payload.message,
        parent=payload.parent,
    )
    if made is None:  # nothing changed, in a model with no revision yet
        raise Refusal(Code.INVALID, "The commit changes nothing.")
    return Status(201 if made.pk != before else 200, commit_out(made))


@router.get(
    "/models/{owner}/{name}/commits",
    auth=ANYONE,
    response=responses({200: CommitList}),
    openapi_extra=openapi(optional_auth=True),
    summary="List a model's commits, newest first",
)
def list_commits(
    request: HttpRequest,
    response: HttpResponse,
    owner: str = OWNER,
    name: str = NAME,
    limit: int = Query(20, ge=1, le=100),
    after: str | None = Query(
        None, pattern=OID_PATTERN, description="The next_cursor of the page before (a commit id)."
    ),
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    _noindex(response, model)
    commits = revisions.history(model).select_related("parent")
    if after is not None:
        last = Commit.objects.filter(model=model, oid=after).first()
        if last is None:
            raise Refusal(Code.NOT_FOUND, "This model has no such commit.")
        commits = commits.filter(created_at__lte=last.created_at).exclude(
            created_at=last.created_at, pk__gte=last.pk
        )
    page = list(commits[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {"items": [commit_out(c) for c in page], "next_cursor": page[-1].oid if more else None}


@router.get(
    "/models/{owner}/{name}/commits/{oid}",
    auth=ANYONE,
    response=responses({200: CommitOut}),
    openapi_extra=openapi(optional_auth=True),
    summary="Read a commit and the files it changed",
)
def get_commit(
    request: HttpRequest, response: HttpResponse, owner: str = OWNER, name: str = NAME, oid: str = OID
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    _noindex(response, model)
    found = revisions.history(model).select_related("parent").filter(oid=oid).first()
    if found is None:
        raise Refusal(Code.NOT_FOUND, "This model has no such commit.")
    return commit_out(found)


@router.get(
    "/models/{owner}/{name}/revisions/{revision}/files",
    auth=ANYONE,
    response=responses({200: FileList}),
    openapi_extra=openapi(optional_auth=True),
    summary="List a model's files at a revision (main, a commit id or a tag)",
)
def list_revision_files(
    request: HttpRequest,
    response: HttpResponse,
    owner: str = OWNER,
    name: str = NAME,
    revision: str = REVISION,
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    mark(request, model)
    _noindex(response, model)
    commit = revisions.resolve(model, revision)
    files = revisions.sorted_files(revisions.tree(commit))
    oid = commit.oid if commit else None
    return {"commit": oid, "items": [file_out(f, model, oid) for f in files]}


def _revision_file(request: HttpRequest, owner: str, name: str, revision: str, path: str) -> HttpResponseBase:
    model = visibility.get_model(caller(request).user, owner, name)
    model_file = revisions.file_at(model, path, revision)
    mark(request, model, DOWNLOAD)
    response = http.file_response(request, model_file)
    if response.status_code == 416:
        response = error_response(
            416,
            "The requested range is not satisfiable.",
            headers={"Content-Range": response["Content-Range"]},
        )
    _noindex(response, model)
    return response


_DOWNLOAD_RESPONSES = {
    200: {"description": "The file's bytes.", "content": BINARY},
    206: {"description": "The requested byte range.", "content": BINARY},
    304: NOT_MODIFIED,
}


@router.get(
    "/models/{owner}/{name}/revisions/{revision}/files/{path:path}",
    auth=ANYONE,
    response=responses({}, 416),
    url_name="download_revision_file",
    openapi_extra=openapi(optional_auth=True, responses=_DOWNLOAD_RESPONSES),
    summary="Download a file as it is at a revision (byte ranges, ETag)",
)
def download_revision_file(
    request: HttpRequest,
    owner: str = OWNER,
    name: str = NAME,
    revision: str = REVISION,
    path: str = FILE_PATH,
) -> HttpResponseBase:
    """A path that only other revisions have answers 404 with a message saying so."""
    return _revision_file(request, owner, name, revision, path)


@router.api_operation(
    ["HEAD"],
    "/models/{owner}/{name}/revisions/{revision}/files/{path:path}",
    auth=ANYONE,
    response=responses({}, 416),
    url_name="revision_file_headers",
    openapi_extra=openapi(
        optional_auth=True,
        responses={**_DOWNLOAD_RESPONSES, 200: {"description": "The headers a download would have."}},
    ),
    summary="A file's size and ETag at a revision, without its bytes",
)
def revision_file_headers(
    request: HttpRequest,
    owner: str = OWNER,
    name: str = NAME,
    revision: str = REVISION,
    path: str = FILE_PATH,
) -> HttpResponseBase:
    return _revision_file(request, owner, name, revision, path)


@router.delete(
    "/models/{owner}/{name}/history/{path:path}",
    response=responses({200: PurgeOut}),
    openapi_extra=openapi(),
    summary="Remove a file from every revision of the model (remove from history)",
)
def remove_from_history(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> dict[str, Any]:
    """For good: no revision has the file afterwards, and its stored bytes go once nothing else holds
    them. A path no revision has is refused (404)."""
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    return {"revisions": revisions.purge_path(model, path, acting_user=user)}


@router.get(
    "/models/{owner}/{name}/refs",
    auth=ANYONE,
    response=responses({200: RefList}),
    openapi_extra=openapi(optional_auth=True),
    summary="List a model's named revisions: the main branch and its tags",
)
def list_refs(
    request: HttpRequest, response: HttpResponse, owner: str = OWNER, name: str = NAME
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    _noindex(response, model)
    items: list[dict[str, Any]] = []
    head = revisions.resolve(model)
    if head is not None:
        items.append({"name": revisions.MAIN, "kind": "branch", "commit": head.oid})
    named = Ref.objects.filter(model=model).select_related("commit")
    items += sorted(
        ({"name": ref.name, "kind": ref.kind, "commit": ref.commit.oid} for ref in named),
        key=lambda item: item["name"],
    )
    return {"items": items}


@router.post(
    "/models/{owner}/{name}/tags",
    response=responses({201: RefOut}, 409),
    openapi_extra=openapi(),
    summary="Tag a revision (main unless one is given)",
)
def create_tag(
    request: HttpRequest, payload: TagIn, owner: str = OWNER, name: str = NAME
) -> Status[dict[str, Any]]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    made = revisions.tag(model, payload.name, payload.revision, acting_user=user)
    return Status(201, {"name": made.name, "kind": made.kind, "commit": made.commit.oid})


@router.delete(
    "/models/{owner}/{name}/tags/{tag}",
    response=responses({204: None}),
    openapi_extra=openapi(),
    summary="Delete a tag (the revision it named stays)",
)
def delete_tag(request: HttpRequest, owner: str = OWNER, name: str = NAME, tag: str = TAG) -> Status[None]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    revisions.delete_tag(model, tag, acting_user=user)
    return Status(204, None)
