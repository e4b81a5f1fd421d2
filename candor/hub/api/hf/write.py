"""The Hugging Face protocol's writes: repositories, commits, branches and tags.

What the unmodified ``huggingface_hub`` client sends (``hf_api.py``, ``_commit_api.py``):

- ``POST /api/repos/create``, ``DELETE /api/repos/delete`` and ``PUT /api/models/{id}/settings``
  create, delete and change the visibility of a model (through :mod:`candor.hub.actions`);
- ``POST /api/models/{id}/preupload/{revision}`` asks, for each file, whether it goes inside the commit
  (``regular``: small text) or apart from it (``lfs``: everything else, sent through Xet or the Git LFS
  batch API of :mod:`candor.hub.api.hf.lfs`);
- ``POST /api/models/{id}/commit/{revision}`` sends the commit as NDJSON: a header line, then one line
  per file added (``file``, its bytes in base64; ``lfsFile``, a SHA-256 already uploaded), deleted
  (``deletedFile``, ``deletedFolder``) or copied (``copyFile``). The body is read line by line, each
  regular file sealed as soon as its line is decoded, and the whole is ONE commit through
  :func:`candor.hub.revisions.commit`; any refusal commits nothing;
- ``POST``/``DELETE /api/models/{id}/branch/{name}`` and ``/tag/{revision or name}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path

from candor.hub import actions, largefiles, revisions
from candor.hub.api.hf.common import (
    HfError,
    caller,
    endpoint,
    entry_missing,
    find_editable_model,
    require_write,
    revision_missing,
)
from candor.hub.choices import Visibility
from candor.hub.models import MLModel, path_index
from candor.kernel.refusal import Code, Refusal

# A file is sent inside the commit ("regular") only when it is small text: the client reads it whole
# into memory and base64-encodes it into one line of the commit, and so does the server decode it.
REGULAR_LIMIT = 1024 * 1024
# The longest line of a commit: a regular file's base64 (4 bytes per 3), its path and the JSON around.
MAX_LINE = 4 * (REGULAR_LIMIT // 3 + 1) + 64 * 1024
MAX_JSON = 1024 * 1024  # the other requests' bodies (preupload: 256 paths and 512-byte samples)
CHUNK = 64 * 1024
VISIBILITIES = {"public": Visibility.PUBLIC, "private": Visibility.PRIVATE}


def read_json(request: HttpRequest, limit: int = MAX_JSON) -> dict[str, Any]:
    """A small JSON object body, read with a bound (never ``request.body``, whose limit answers with
    an HTML page rather than the protocol's error)."""
    data = request.read(limit + 1)
    if len(data) > limit:
        raise HfError(413, "The request body is too large.")
    if not data.strip():
        return {}
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise HfError(400, "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise HfError(400, "The request body must be a JSON object.")
    return parsed


def site_url() -> str:
    return str(settings.WEBSITE_URL).rstrip("/")


def model_url(model: MLModel) -> str:
    return f"{site_url()}/{model.owner.username}/{model.name}"


def refuse_pull_requests(request: HttpRequest) -> None:
    if request.GET.get("create_pr") not in (None, "", "0", "false"):
        raise HfError(400, "Pull requests are not supported by Candor: commit to a branch instead.")


def branch_of(model: MLModel, revision: str) -> str:
    """The branch a write names; RevisionNotFound unless it is ``main`` or one of the model's branches."""
    if not revisions.is_branch(model, revision):
        raise revision_missing()
    return revision


def clean(path_in_repo: object) -> str:
    """A path of the model, or a 400 that names it (the client raises it as a bad request)."""
    if not isinstance(path_in_repo, str):
        raise HfError(400, "Each file needs a path.")
    try:
        return revisions.clean_path(path_in_repo)
    except Refusal as error:
        reasons = " ".join(message for messages in error.fields.values() for message in messages)
        shown = path_in_repo if len(path_in_repo) <= 200 else path_in_repo[:199] + "…"
        raise HfError(400, f"The file path {shown!r} is not valid. {reasons}".strip()) from None


# --- Repositories ----------------------------------------------------------------------------------------


def _visibility(body: dict[str, Any]) -> str | None:
    """The Candor visibility a body asks for: ``visibility`` ("public"/"private") or the older
    ``private`` flag; None when it names none. Unlisted is Candor's own and is never set from here."""
    value = body.get("visibility")
    if value is None and isinstance(body.get("private"), bool):
        value = "private" if body["private"] else "public"
    if value is None:
        return None
    if value not in VISIBILITIES:
        raise HfError(400, "The visibility must be public or private.")
    return VISIBILITIES[value]


def _own_namespace(request: HttpRequest, body: dict[str, Any]) -> str:
    person = require_write(request)
    if body.get("type") not in (None, "model"):
        raise HfError(400, "Candor holds models only: datasets and spaces cannot be created here.")
    organization = body.get("organization")
    if organization not in (None, "") and str(organization).lower() != person.username.lower():
        raise HfError(403, "You can only create models in your own namespace.")
    return person.username


@endpoint("POST")
def create_repo(request: HttpRequest) -> HttpResponse:
    body = read_json(request)
    _own_namespace(request, body)
    person = caller(request).person
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise HfError(400, "The repository needs a name.")
    visibility = _visibility(body)
    existing = MLModel.objects.named(person, name).select_related("owner").first()
    if existing is not None:
        # The client, with exist_ok=True, reads the url of the existing repository from this answer.
        raise HfError(409, "You already have a model of that name.", url=model_url(existing))
    data = {} if visibility is None else {"visibility": visibility}
    try:
        model = actions.create_model(acting_user=person, name=name, **data)
    except Refusal as refusal:
        if refusal.code is Code.INVALID_FIELDS:
            reasons = " ".join(m for messages in refusal.fields.values() for m in messages)
            raise HfError(400, f"{refusal.message} {reasons}".strip()) from None
        if refusal.code is Code.CONFLICT:  # created a moment ago by a concurrent request
            raced = MLModel.objects.named(person, name).select_related("owner").first()
            raise HfError(409, refusal.message, url=model_url(raced) if raced else "") from None
        raise
    return JsonResponse({"url": model_url(model), "name": f"{person.username}/{model.name}"})


@endpoint("DELETE")
def delete_repo(request: HttpRequest) -> HttpResponse:
    body = read_json(request)
    person = require_write(request)
    if body.get("type") not in (None, "model"):
        raise HfError(400, "Candor holds models only.")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise HfError(400, "Name the repository to delete.")
    # Another person's model: 403 if the caller may read it, the same 404 as a missing one otherwise.
    model = find_editable_model(request, str(body.get("organization") or person.username), name)
    actions.delete_model(model, acting_user=caller(request).person)
    return JsonResponse({})


@endpoint("PUT")
def repo_settings(request: HttpRequest, owner: str, name: str) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    body = read_json(request)
    if body.get("gated") not in (None, False):
        raise HfError(400, "Gated access is not supported by Candor.")
    visibility = _visibility(body)
    if visibility is not None and visibility != model.visibility:
        actions.set_visibility(model, visibility, acting_user=caller(request).person)
    return JsonResponse({})


# --- Commits ---------------------------------------------------------------------------------------------


@endpoint("POST")
def preupload(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    refuse_pull_requests(request)
    branch = branch_of(model, revision)
    files = read_json(request).get("files")
    if not isinstance(files, list) or len(files) > actions.MAX_CHANGES:
        raise HfError(400, "Send a list of files (path, sample, size).")
    modes: list[tuple[str, str]] = []
    for entry in files:
        if not isinstance(entry, dict):
            raise HfError(400, "Each file is an object with a path, a sample and a size.")
        file_path = clean(entry.get("path"))
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise HfError(400, f"The size of {file_path} is not a number of bytes.")
        try:
            sample = base64.b64decode(str(entry.get("sample", "")), validate=True)
        except (binascii.Error, ValueError):
            raise HfError(400, f"The sample of {file_path} is not base64.") from None
        # Small text goes inside the commit; anything larger, or binary (a NUL in its first bytes),
        # apart from it, never read whole into memory.
        modes.append((file_path, "regular" if size <= REGULAR_LIMIT and b"\0" not in sample else "lfs"))
    # For large files already there, the SHA-256 (the client's oid of an LFS file): an unchanged file
    # is then not sent again. Regular files' oids are Git SHA-1s, which Candor does not keep.
    large = [path_index(model.pk, p) for p, mode in modes if mode == "lfs"]
    current = {
        f.path: str(f.blob.sha256)
        for f in revisions.tree(revisions.resolve(model, branch)).filter(path_index__in=large)
    }
    return JsonResponse(
        {
            "files": [
                {
                    "path": p,
                    "uploadMode": mode,
                    "shouldIgnore": False,
                    "oid": current.get(p) if mode == "lfs" else None,
                }
                for p, mode in modes
            ]
        }
    )


def ndjson_lines(request: HttpRequest) -> Iterator[dict[str, Any]]:
    """The body's JSON lines, read as they arrive: at most one line (of at most MAX_LINE bytes) and one
    chunk are held at a time."""
    buffer = bytearray()
    searched = 0
    while True:
        piece = request.read(CHUNK)
        if piece:
            buffer += piece
        while (end := buffer.find(b"\n", searched)) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            searched = 0
            if line.strip():
                yield _parse_line(line)
        searched = len(buffer)
        if len(buffer) > MAX_LINE:
            raise HfError(413, f"A line of the commit is longer than {MAX_LINE} bytes: send big files apart.")
        if not piece:
            break
    if bytes(buffer).strip():
        yield _parse_line(bytes(buffer))


def _parse_line(line: bytes) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise HfError(400, "A line of the commit is not valid JSON.") from None
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise HfError(400, 'Each line of the commit is {"key": ..., "value": {...}}.')
    if not isinstance(item.get("value"), dict):
        raise HfError(400, 'Each line of the commit is {"key": ..., "value": {...}}.')
    return item


def _header(item: dict[str, Any]) -> tuple[str, str | None]:
    """The commit's message and the parent it was made on, from its first line."""
    if item["key"] != "header":
        raise HfError(400, "A commit starts with its header line.")
    value = item["value"]
    summary, description = value.get("summary") or "", value.get("description") or ""
    if not isinstance(summary, str) or not isinstance(description, str):
        raise HfError(400, "The commit's summary and description are text.")
    parent = value.get("parentCommit")
    if parent is not None and (not isinstance(parent, str) or not revisions.OID.fullmatch(parent)):
        raise HfError(400, "The parentCommit is not a commit id.")
    message = summary.strip() + (f"\n\n{description.strip()}" if description.strip() else "")
    return message, parent


def _change(model: MLModel, revision: str, item: dict[str, Any]) -> revisions.Change:
    """The change one line of the commit asks for; a regular file's bytes are sealed and stored now."""
    key, value = item["key"], item["value"]
    raw = value.get("path")
    if key == "deletedFolder" and isinstance(raw, str):
        raw = raw.rstrip("/")  # the client names a folder with its trailing slash
    target = clean(raw)
    if key == "file":
        if value.get("encoding", "base64") != "base64" or not isinstance(value.get("content"), str):
            raise HfError(400, f"The content of {target} must be sent in base64.")
        try:
            data = base64.b64decode(value["content"], validate=True)
        except (binascii.Error, ValueError):
            raise HfError(400, f"The content of {target} is not valid base64.") from None
        return revisions.Put(target, actions.store_blob(model, [data]))
    if key == "lfsFile":
        if value.get("algo", "sha256") != "sha256":
            raise HfError(400, f"The oid of {target} must be a SHA-256.")
        return largefiles.committed_object(model, target, value.get("oid"), value.get("size"))
    if key == "deletedFile":
        return revisions.Delete(target)
    if key == "deletedFolder":
        return revisions.DeleteFolder(target)
    if key == "copyFile":
        source = clean(value.get("srcPath"))
        at = value.get("srcRevision") or revision
        try:
            found = revisions.file_at(model, source, str(at))
        except Refusal as refusal:
            raise entry_missing(f"Cannot copy {source}: {refusal.message}") from None
        return revisions.Put(target, found.blob)
    raise HfError(
        400, f"A commit line's key is file, lfsFile, deletedFile, deletedFolder or copyFile, not {key!r}."
    )


@endpoint("POST")
def commit(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    refuse_pull_requests(request)
    branch = branch_of(model, revision)
    lines = ndjson_lines(request)
    first = next(lines, None)
    if first is None:
        raise HfError(400, "The commit is empty: it needs a header line.")
    message, parent = _header(first)
    changes: list[revisions.Change] = []
    paths: set[str] = set()
    for item in lines:
        if len(changes) >= actions.MAX_CHANGES:
            raise HfError(413, f"A commit changes at most {actions.MAX_CHANGES} files: split it.")
        change = _change(model, branch, item)
        if change.path in paths:
            raise HfError(400, f"The commit names {change.path} more than once.")
        paths.add(change.path)
        changes.append(change)
    try:
        made = revisions.commit(
            model,
            changes,
            acting_user=caller(request).person,
            message=message,
            parent=parent,
            branch=branch,
            exact_parent=True,
        )
    except revisions.StaleParent as stale:
        # The Hub's answer to a parentCommit that is no longer the branch's tip: 412.
        raise HfError(412, stale.message) from None
    except Refusal as refusal:
        if refusal.code is Code.NOT_FOUND:  # a file or folder to delete that is not there
            raise entry_missing(refusal.message) from None
        if refusal.code is Code.INVALID:
            raise HfError(400, refusal.message) from None
        raise
    if made is None:
        raise HfError(400, "The commit changes nothing.")
    return JsonResponse(
        {
            "success": True,
            "commitOid": made.oid,
            "commitUrl": f"{model_url(model)}/commit/{made.oid}",
            "pullRequestUrl": None,
        }
    )


# --- Branches and tags -----------------------------------------------------------------------------------


def _ref_refusal(refusal: Refusal) -> HfError:
    if refusal.code is Code.NOT_FOUND:
        return revision_missing()
    status = {Code.CONFLICT: 409, Code.INVALID_NAME: 400, Code.INVALID: 400}.get(refusal.code)
    if status is None:
        raise refusal
    return HfError(status, refusal.message)


@endpoint("POST", "DELETE")
def branches(request: HttpRequest, owner: str, name: str, branch: str) -> HttpResponse:
    model = find_editable_model(request, owner, name)
    person = caller(request).person
    try:
        if request.method == "DELETE":
            revisions.delete_branch(model, branch, acting_user=person)
        else:
            start = read_json(request).get("startingPoint")
            if start is not None and not isinstance(start, str):
                raise HfError(400, "The startingPoint is a revision.")
            revisions.create_branch(model, branch, start, acting_user=person)
    except Refusal as refusal:
        raise _ref_refusal(refusal) from None
    return JsonResponse({})


@endpoint("POST", "DELETE")
def tags(request: HttpRequest, owner: str, name: str, tag: str) -> HttpResponse:
    """``POST …/tag/{revision}`` with ``{"tag": name}`` tags a revision; ``DELETE …/tag/{name}`` removes
    the tag."""
    model = find_editable_model(request, owner, name)
    person = caller(request).person
    try:
        if request.method == "DELETE":
            revisions.delete_tag(model, tag, acting_user=person)
        else:
            tag_name = read_json(request).get("tag")
            if not isinstance(tag_name, str):
                raise HfError(400, "Name the tag.")
            revisions.tag(model, tag_name, tag, acting_user=person)
    except Refusal as refusal:
        raise _ref_refusal(refusal) from None
    return JsonResponse({})


_MODEL = "api/models/<str:owner>/<str:name>"

urlpatterns: list[URLPattern] = [
    path("api/repos/create", create_repo, name="hf-create-repo"),
    path("api/repos/delete", delete_repo, name="hf-delete-repo"),
    path(f"{_MODEL}/settings", repo_settings, name="hf-repo-settings"),
    path(f"{_MODEL}/preupload/<path:revision>", preupload, name="hf-preupload"),
    path(f"{_MODEL}/commit/<path:revision>", commit, name="hf-commit"),
    path(f"{_MODEL}/branch/<path:branch>", branches, name="hf-branch"),
    # POST names the revision to tag (the tag's name is in the body), DELETE the tag to remove.
    path(f"{_MODEL}/tag/<path:tag>", tags, name="hf-tag"),
]
