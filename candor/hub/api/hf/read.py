"""The protocol's reads: what ``model_info``, ``list_repo_tree``, ``get_paths_info``, ``list_repo_refs``,
``list_repo_commits``, ``whoami``, ``list_models``, ``hf_hub_download`` and ``snapshot_download`` of the
unmodified ``huggingface_hub`` client ask for (each address checked against the client's ``hf_api.py``,
``file_download.py`` and ``utils/_pagination.py``).

Every model is found through :func:`common.find_model` (a private model answers exactly as a missing
one), every revision through :func:`candor.hub.revisions.resolve`. Paths are stored encrypted, so trees
are put in order here (:func:`revisions.sorted_files`), and long listings are paged with an opaque,
signed offset in the ``Link: <…>; rel="next"`` header the client follows.

Every file is announced as stored by its SHA-256 (as Git LFS would): the tree's ``lfs`` block, the
resolve answer's ``ETag`` and ``X-Linked-Etag`` all carry that digest, so the client's cache keys each
file on its content whatever its size. Downloads are plain HTTP from ``resolve``; no answer names an Xet
hash, so the client never tries to fetch through Xet.

``resolve`` is declared in ``candor/hub/urls.py`` (it shares its address with the site's page for a file
at a revision, which a browser still gets); every other address is in :data:`urlpatterns` below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import URLPattern, path
from django.utils.encoding import escape_uri_path

from candor.analytics import popularity
from candor.analytics.capture import DOWNLOAD, mark
from candor.hub import card, cardsync, http, queries, revisions, visibility
from candor.hub.api.hf import common
from candor.hub.api.hf.common import HfError
from candor.hub.choices import Visibility
from candor.hub.models import Blob, Commit, MLModel, ModelFile, PublicModel, path_index
from candor.kernel.refusal import Refusal

# Entries in one page of a tree or of a history; the Hub pages trees by 1,000 too, and the client asks
# for nothing else (tests make it small to see several pages).
PAGE_SIZE = 1000
# Models in one page of a search when the client names no limit, and the most it may ask for.
MODELS_PAGE = 100
MAX_MODELS_PAGE = 1000
# The most paths one paths-info request may name, and the largest JSON body it may send.
MAX_PATHS = 1000
MAX_PATHS_BODY = 1024 * 1024
_CURSOR_SALT = "candor.hf.page"
_LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"


# --- Revisions, paths and pages -------------------------------------------------------------------------


def _commit(model: MLModel, revision: str) -> Commit | None:
    """The commit ``revision`` names (None for ``main`` of a model with no commit yet); RevisionNotFound
    for a name nothing has."""
    try:
        return revisions.resolve(model, revision)
    except Refusal:
        raise common.revision_missing() from None


def split_revision(model: MLModel, rest: str) -> tuple[Commit | None, str, str]:
    """``rest`` is ``{revision}/{path}`` with the revision decoded (the client quotes it whole, but the
    server hands views the decoded path, so a revision holding a "/" arrives as several segments): the
    longest leading run of segments that names a revision is the revision. Returns (commit, revision,
    path); RevisionNotFound if no prefix names one."""
    segments = rest.split("/")
    for cut in range(len(segments), 0, -1):
        revision = "/".join(segments[:cut])
        try:
            commit = revisions.resolve(model, revision)
        except Refusal:
            continue
        return commit, revision, "/".join(segments[cut:])
    raise common.revision_missing()


def _cursor_offset(request: HttpRequest, scope: str) -> int:
    """The offset a ``cursor`` of this listing stands for (0 without one). The cursor holds the offset
    only, signed under a salt that names the listing (``scope``: which tree or history, which search
    order), so a client can follow only the links it was given, and one listing's cursor never pages
    another."""
    cursor = request.GET.get("cursor")
    if not cursor:
        return 0
    try:
        found = signing.loads(cursor, salt=f"{_CURSOR_SALT}:{scope}")
    except signing.BadSignature:
        found = None
    if not isinstance(found, int) or found < 0:
        raise HfError(400, "There is no page at this cursor: follow the next link as it was given.")
    return found


def _with_next_page(
    response: HttpResponse, request: HttpRequest, scope: str, offset: int, more: bool
) -> HttpResponse:
    """Add the ``Link: <…>; rel="next"`` header when there is a page after this one."""
    if more:
        params = [(key, value) for key, values in request.GET.lists() if key != "cursor" for value in values]
        params.append(("cursor", signing.dumps(offset, salt=f"{_CURSOR_SALT}:{scope}")))
        address = f"{settings.WEBSITE_URL}{escape_uri_path(request.path)}?{urlencode(params)}"
        response["Link"] = f'<{address}>; rel="next"'
    return response


def _json(data: Any, model: MLModel | None = None) -> JsonResponse:
    response = JsonResponse(data, safe=False)
    if model is not None and not model.is_indexable:
        response["X-Robots-Tag"] = "noindex"
    return response


def _flag(request: HttpRequest, name: str) -> bool:
    return request.GET.get(name, "").strip().lower() in {"1", "true", "yes"}


# --- What the client reads about files ------------------------------------------------------------------


def _lfs(model_file: ModelFile) -> dict[str, Any]:
    pointer = _LFS_POINTER.format(sha256=model_file.sha256, size=model_file.size)
    return {"oid": model_file.sha256, "size": model_file.size, "pointerSize": len(pointer)}


def _blob_id(model_file: ModelFile) -> str:
    """The Git object id the Hub gives a file stored in LFS: the SHA-1 of its pointer as a Git blob.
    Made from the SHA-256 and the size, so no byte of the file is read for it."""
    pointer = _LFS_POINTER.format(sha256=model_file.sha256, size=model_file.size).encode()
    return hashlib.sha1(b"blob %d\x00" % len(pointer) + pointer, usedforsecurity=False).hexdigest()


def _file_entry(model_file: ModelFile) -> dict[str, Any]:
    return {
        "type": "file",
        "path": model_file.path,
        "size": model_file.size,
        "oid": _blob_id(model_file),
        "lfs": _lfs(model_file),
    }


def _folder_entry(path: str, files: Iterable[ModelFile]) -> dict[str, Any]:
    """A folder, with an id that changes exactly when a file under it does."""
    digest = hashlib.sha1(usedforsecurity=False)
    for model_file in files:
        digest.update(f"{model_file.path}\x00{model_file.sha256}\n".encode())
    return {"type": "directory", "path": path, "oid": digest.hexdigest()}


def _entries(files: Sequence[ModelFile], under: str, recursive: bool) -> list[dict[str, Any]]:
    """The files and folders below the folder ``under`` ("" for the top), in path order: its direct
    children only, or everything under it when ``recursive``. EntryNotFound if no file is under it."""
    prefix = f"{under}/" if under else ""
    inside = [f for f in files if f.path.startswith(prefix)]
    if under and not inside:
        raise common.entry_missing("There is no folder at this path in this revision.")
    folders: dict[str, list[ModelFile]] = {}
    found: list[tuple[str, dict[str, Any] | None]] = []
    for model_file in inside:
        parts = model_file.path[len(prefix) :].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            folder = prefix + "/".join(parts[:depth])
            if folder not in folders:
                folders[folder] = []
                found.append((folder, None))
            folders[folder].append(model_file)
        if recursive or len(parts) == 1:
            found.append((model_file.path, _file_entry(model_file)))
    found.sort(key=lambda item: item[0])
    return [entry if entry is not None else _folder_entry(path, folders[path]) for path, entry in found]


def _card_of(model: MLModel, commit: Commit | None) -> card.Card:
    """The card of the revision asked for: its README.md read and judged as on main (an empty card for
    a revision without one). The client's ``cardData`` is the front-matter as written."""
    blob_id = cardsync.readme_blob_id(model, commit.pk if commit is not None else None)
    if blob_id is None:
        return card.Card()
    return cardsync.read_readme(Blob.objects.get(pk=blob_id))


def _used_storage(model: MLModel) -> int:
    """Bytes the model's files take in every revision, each stored blob once."""
    sizes = dict(ModelFile.objects.filter(model=model).values_list("blob_id", "blob__size").distinct())
    return sum(int(size) for size in sizes.values())


def _model_json(model: MLModel, commit: Commit | None, *, blobs: bool) -> dict[str, Any]:
    files = revisions.sorted_files(revisions.tree(commit))
    siblings: list[dict[str, Any]] = []
    for model_file in files:
        sibling: dict[str, Any] = {"rfilename": model_file.path}
        if blobs:
            lfs = _lfs(model_file)
            sibling |= {
                "size": model_file.size,
                "blobId": _blob_id(model_file),
                # model_info names the digest "sha256" where the tree names it "oid".
                "lfs": {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]},
            }
        siblings.append(sibling)
    found = _card_of(model, commit)
    return {
        "_id": model.storage_key,
        "id": model.full_name,
        "modelId": model.full_name,
        "author": model.owner.username,
        "sha": commit.oid if commit is not None else None,
        "private": model.visibility == Visibility.PRIVATE,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "library_name": found.library,
        "pipeline_tag": found.task,
        "tags": list(found.tags),
        "createdAt": _when(model.created_at),
        "lastModified": _when(commit.created_at if commit is not None else model.updated_at),
        "siblings": siblings,
        "cardData": found.data,
        "usedStorage": _used_storage(model),
    }


def _when(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- The views --------------------------------------------------------------------------------------------


@common.endpoint("GET")
def model_info(request: HttpRequest, owner: str, name: str, revision: str = revisions.MAIN) -> HttpResponse:
    """``GET /api/models/{owner}/{name}[/revision/{revision}]``; ``?blobs=true`` adds each file's size
    and digests (``files_metadata=True``)."""
    model = common.find_model(request, owner, name)
    commit = _commit(model, revision)
    return _json(_model_json(model, commit, blobs=_flag(request, "blobs")), model)


@common.endpoint("GET")
def tree(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    """``GET /api/models/{owner}/{name}/tree/{revision}[/{path}]``, ``?recursive=true``, in pages
    (``revision`` is what follows tree/: the revision and the folder)."""
    model = common.find_model(request, owner, name)
    commit, _, under = split_revision(model, revision)
    files = revisions.sorted_files(revisions.tree(commit))
    folder, recursive = under.strip("/"), _flag(request, "recursive")
    entries = _entries(files, folder, recursive)
    # The folder is in the cursor's salt only, never in the cursor: no path travels in an address.
    scope = f"tree:{model.pk}:{commit.oid if commit else ''}:{int(recursive)}:{folder}"
    offset = _cursor_offset(request, scope)
    page = entries[offset : offset + PAGE_SIZE]
    following = offset + PAGE_SIZE
    return _with_next_page(_json(page, model), request, scope, following, following < len(entries))


@common.endpoint("POST")
def paths_info(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    """``POST /api/models/{owner}/{name}/paths-info/{revision}`` with ``paths`` (form fields, or a JSON
    list under "paths"): an entry for each path that is a file or a folder; other paths are left out."""
    model = common.find_model(request, owner, name)
    commit = _commit(model, revision)
    wanted = _wanted_paths(request)
    files = revisions.sorted_files(revisions.tree(commit))
    by_path = {f.path: f for f in files}
    answer: list[dict[str, Any]] = []
    for asked in dict.fromkeys(p.strip("/") for p in wanted):
        if asked in by_path:
            answer.append(_file_entry(by_path[asked]))
        elif asked:
            under = [f for f in files if f.path.startswith(f"{asked}/")]
            if under:
                answer.append(_folder_entry(asked, under))
    return _json(answer, model)


def _wanted_paths(request: HttpRequest) -> list[str]:
    if request.content_type == "application/json":
        # A JSON body is read whole: it is bounded (MAX_PATHS_BODY), unlike an upload.
        raw = request.read(MAX_PATHS_BODY + 1)
        if len(raw) > MAX_PATHS_BODY:
            raise HfError(413, "The list of paths is too long.")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise HfError(400, "The body is not valid JSON.") from None
        paths = body.get("paths") if isinstance(body, dict) else None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise HfError(400, 'Send "paths" as a list of strings.')
    else:
        paths = request.POST.getlist("paths")
    if len(paths) > MAX_PATHS:
        raise HfError(400, f"Ask for at most {MAX_PATHS} paths at once.")
    return paths


@common.endpoint("GET")
def refs(request: HttpRequest, owner: str, name: str) -> HttpResponse:
    """``GET /api/models/{owner}/{name}/refs``: ``main`` and the other branches, and the tags."""
    model = common.find_model(request, owner, name)
    branches: list[dict[str, str]] = []
    tags: list[dict[str, str]] = []
    if model.head is not None:
        branches.append(_ref(revisions.MAIN, "heads", model.head.oid))
    for ref in sorted(model.refs.select_related("commit"), key=lambda r: str(r.name)):
        if ref.kind == ref.Kind.BRANCH:
            branches.append(_ref(str(ref.name), "heads", ref.commit.oid))
        else:
            tags.append(_ref(str(ref.name), "tags", ref.commit.oid))
    body: dict[str, Any] = {"branches": branches, "converts": [], "tags": tags}
    if _flag(request, "include_prs"):
        body["pullRequests"] = []
    return _json(body, model)


def _ref(name: str, kind: str, oid: str) -> dict[str, str]:
    return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}


@common.endpoint("GET")
def commits(request: HttpRequest, owner: str, name: str, revision: str) -> HttpResponse:
    """``GET /api/models/{owner}/{name}/commits/{revision}``: the revision and its ancestors, newest
    first, in pages."""
    model = common.find_model(request, owner, name)
    head = _commit(model, revision)
    lineage: list[int] = []
    if head is not None:
        # One query for the model's whole graph, walked here, rather than one query per ancestor.
        parents = dict(Commit.objects.filter(model=model).values_list("pk", "parent_id"))
        at: int | None = head.pk
        while at is not None and at in parents:
            lineage.append(at)
            at = parents[at]
    scope = f"commits:{model.pk}:{head.oid if head else ''}"
    offset = _cursor_offset(request, scope)
    chosen = lineage[offset : offset + PAGE_SIZE]
    found = {c.pk: c for c in Commit.objects.filter(pk__in=chosen).select_related("author")}
    page = [_commit_json(found[pk]) for pk in chosen]
    following = offset + PAGE_SIZE
    return _with_next_page(_json(page, model), request, scope, following, following < len(lineage))


def _commit_json(commit: Commit) -> dict[str, Any]:
    title, _, message = str(commit.message).partition("\n")
    author = commit.author.username if commit.author is not None else ""
    return {
        "id": commit.oid,
        "authors": [{"user": author}] if author else [],
        "date": _when(commit.created_at),
        "title": title,
        "message": message.strip(),
    }


@common.endpoint("GET")
def whoami(request: HttpRequest) -> HttpResponse:
    """``GET /api/whoami-v2``: the caller's username and the token's role, nothing more (no email)."""
    who = common.caller(request)
    person = who.person
    role = "write" if who.token is not None and who.token.can_write else "read"
    response = JsonResponse(
        {
            "type": "user",
            "name": person.username,
            "auth": {"type": "access_token", "accessToken": {"role": role}},
        }
    )
    response["Cache-Control"] = "no-store"
    return response


# The client's sort names (hf_api.py: list_models), and the order of the public projection each means,
# descending; every order ends in (owner, name), which is unique, so pages never overlap.
_SORTS: dict[str, tuple[str, ...]] = {
    "lastModified": ("updated_at",),
    "createdAt": ("created_at",),
    "id": ("owner_username", "name"),
}
# What Candor counts is views and downloads together, over the last 30 days (the popular ranking): the
# sorts by downloads, likes or trend all read that ranking, best first.
_RANKED = {"downloads", "likes", "trendingScore", "trending_score"}


@common.endpoint("GET")
def list_models(request: HttpRequest) -> HttpResponse:
    """``GET /api/models``: public models only (the public projection, through the visibility helper),
    narrowed by ``search``, ``author``, ``pipeline_tag`` and ``filter`` (a tag), sorted by ``sort`` and
    ``direction``, ``limit`` a page, in pages."""
    params = request.GET
    limit = _limit(params.get("limit"))
    tags = [t for t in params.getlist("filter") if t]
    query = queries.ModelQuery.from_params(
        {
            "q": params.get("search", ""),
            "task": params.get("pipeline_tag", ""),
            "tag": tags[0] if tags else "",
        }
    )
    models = query.apply(visibility.listed_models())
    for tag in tags[1:]:  # every tag asked for, each cleaned as the listing cleans one
        models = queries.ModelQuery.from_params({"tag": tag}).apply(models)
    author = params.get("author", "").strip()
    if author:
        models = models.filter(owner_username__iexact=author)
    sort = params.get("sort", "") or "lastModified"
    if sort not in _SORTS and sort not in _RANKED:
        raise HfError(400, f"Sort by one of: {', '.join([*_SORTS, *sorted(_RANKED)])}.")
    descending = params.get("direction", "-1").strip() != "1"
    scope = f"models:{sort}:{int(descending)}"
    offset = _cursor_offset(request, scope)
    page: list[PublicModel]
    if sort in _RANKED:
        ranked = popularity.in_popular_order(models, limit=limit + 1, offset=offset)
        page = [model for model, _ in ranked]
    else:
        fields = _SORTS[sort]
        order = [f"-{f}" if descending else f for f in fields]
        order += [f for f in ("owner_username", "name") if f not in fields]
        page = list(models.order_by(*order)[offset : offset + limit + 1])
    more = len(page) > limit
    body = [_listed_json(model) for model in page[:limit]]
    return _with_next_page(_json(body), request, scope, offset + limit, more)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return MODELS_PAGE
    try:
        wanted = int(raw)
    except ValueError:
        raise HfError(400, "The limit must be a whole number.") from None
    return min(max(1, wanted), MAX_MODELS_PAGE)


def _listed_json(model: PublicModel) -> dict[str, Any]:
    return {
        "_id": f"{model.owner_username}/{model.name}",
        "id": model.full_name,
        "modelId": model.full_name,
        "author": model.owner_username,
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "library_name": model.library if model.library != "other" else None,
        "pipeline_tag": model.task if model.task != "other" else None,
        "tags": model.tag_names,
        "createdAt": _when(model.created_at),
        "lastModified": _when(model.updated_at),
    }


# --- resolve ----------------------------------------------------------------------------------------------


@common.endpoint("GET", limited=False)
def _resolve(request: HttpRequest, owner: str, name: str, rest: str) -> HttpResponseBase:
    model = common.find_model(request, owner, name)
    try:
        response = _file_of(request, model, rest)
    except HfError as error:
        if not model.is_indexable:  # the site's rule for every answer about such a model
            error.headers["X-Robots-Tag"] = "noindex"
        raise
    if not model.is_indexable:
        response["X-Robots-Tag"] = "noindex"
    return response


def _file_of(request: HttpRequest, model: MLModel, rest: str) -> HttpResponseBase:
    commit, _, file_path = split_revision(model, rest)
    if commit is None or not file_path:
        raise common.entry_missing("There is no file at this path.")
    found = revisions.tree(commit).filter(path_index=path_index(model.pk, file_path)).first()
    if found is None:
        error = common.entry_missing("There is no file at this path in this revision.")
        # The client remembers a missing file per commit (its ".no_exist" cache) by this header.
        error.headers["X-Repo-Commit"] = commit.oid
        raise error
    mark(request, model, DOWNLOAD)  # counted by the middleware: a GET of a public model from byte 0
    headers = {
        "X-Repo-Commit": commit.oid,
        "X-Linked-Etag": f'"{found.sha256}"',
        "X-Linked-Size": str(found.size),
    }
    return http.file_response(request, found, headers)


def resolve(request: HttpRequest, owner: str, name: str, rest: str) -> HttpResponseBase:
    """``GET``/``HEAD /{owner}/{name}/resolve/{revision}/{path}``: the file's bytes (or a range), with
    the headers the client relies on: ``X-Repo-Commit`` (the commit the revision named), ``ETag`` and
    ``X-Linked-Etag`` (the content's SHA-256), ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``
    and ``Content-Disposition``. A HEAD, errors included, has the headers and no body."""
    response = _resolve(request, owner, name, rest)
    if request.method == "HEAD" and not response.streaming:
        assert isinstance(response, HttpResponse)
        response.content = b""
        response["Content-Length"] = "0"
    return response


# Plain segments for the account and the model: a name no account or model can have finds nothing, and
# answers as a missing model does.
_MODEL = "api/models/<str:owner>/<str:name>"

urlpatterns: list[URLPattern] = [
    path(_MODEL, model_info, name="hf_model_info"),
    path(f"{_MODEL}/revision/<path:revision>", model_info, name="hf_model_info_at"),
    # The revision, then (optionally) a folder: split by split_revision.
    path(f"{_MODEL}/tree/<path:revision>", tree, name="hf_tree"),
    path(f"{_MODEL}/paths-info/<path:revision>", paths_info, name="hf_paths_info"),
    path(f"{_MODEL}/refs", refs, name="hf_refs"),
    path(f"{_MODEL}/commits/<path:revision>", commits, name="hf_commits"),
    path("api/whoami-v2", whoami, name="hf_whoami"),
    path("api/models", list_models, name="hf_list_models"),
]
