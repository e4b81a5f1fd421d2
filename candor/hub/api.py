"""The API's models and files, /api/v1/models/…

Every look-up goes through candor.hub.visibility and every change through candor.hub.actions; the
handlers here parse, call one of them and shape the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal, cast

from django.conf import settings
from django.core import signing
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from ninja import Path, Query, Router, Schema
from ninja.responses import NinjaJSONEncoder, Status
from pydantic import ConfigDict, Field

from candor.accounts.validators import USERNAME_MAX, USERNAME_RE
from candor.analytics import popularity
from candor.analytics.capture import DOWNLOAD, mark
from candor.api.auth import ANYONE, caller, person
from candor.api.errors import ApiError, error_response, explain_pattern
from candor.api.schemas import NO_NUL, SOME_TEXT, Encodable, openapi, responses
from candor.hub import actions, downloads, listing_cache, storage, visibility
from candor.hub.choices import LIBRARIES, LICENSES, TASKS
from candor.hub.models import MLModel, ModelFile
from candor.hub.search import ModelQuery
from candor.hub.validators import MAX_PATH, MAX_PATH_DEPTH, MAX_TAGS

router = Router(tags=["models"])

if TYPE_CHECKING:
    type License = str
    type Library = str
    type Task = str
else:
    License = Literal[tuple(value for value, _ in LICENSES)]
    Library = Literal[tuple(value for value, _ in LIBRARIES)]
    Task = Literal[tuple(value for value, _ in TASKS)]
VisibilityName = Literal["public", "unlisted", "private"]
Sort = Literal["updated", "name", "popular"]

# validators.MODEL_NAME_RE, with its "no '..'" rule folded in: schema patterns have no look-arounds.
NAME_PATTERN = explain_pattern(
    r"^[A-Za-z0-9](?:(?:\.?[A-Za-z0-9_-])*\.?[A-Za-z0-9])?$",
    "A model name has letters, digits, dots, hyphens or underscores, starts and ends with a letter or digit, "
    "and has no '..'.",
)
OWNER_PATTERN = explain_pattern(rf"^{USERNAME_RE.pattern}$", "Not a username.")
TAG_PATTERN = explain_pattern(
    r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$", "A tag has up to 40 lower-case letters, digits and hyphens."
)
# The shape of every cursor the server gives (django.core.signing's "payload:time:signature"), so the
# schema refuses what can never be one; one of that shape that the server did not sign, or signed for
# another sort order, names no page: 404.
CURSOR_PATTERN = explain_pattern(
    r"^[A-Za-z0-9_-]{1,900}:[A-Za-z0-9]{1,13}:[A-Za-z0-9_-]{43}$", "Use the 'next' link as given."
)


def _file_path_pattern() -> str:
    """validators.clean_file_path as a pattern, for paths it keeps as they are (no space at either end).

    Spelt without look-arounds, which schema patterns lack: a segment is anything but "", "." and "..";
    the path's first and last characters are not white space; 16 segments at most.
    """
    any_ = r"[^/\\\x00-\x1f]"
    # \x85 (next line) is white space to Python and to the server's validator, but not to JSON Schema's
    # (ECMAScript) \s, so it is named.
    not_space = r"[^/\\\x00-\x1f\x85\s]"
    not_dot = r"[^/\\\x00-\x1f.]"
    neither = r"[^/\\\x00-\x1f\x85.\s]"
    only = rf"{neither}(?:{any_}*{not_space})?|\.{any_}+{not_space}|\.{neither}"
    first = rf"{neither}{any_}*|\.{not_dot}{any_}*|\.\.{any_}+"
    middle = rf"{not_dot}{any_}*|\.{not_dot}{any_}*|\.\.{any_}+"
    last = rf"{neither}|{not_dot}{any_}*{not_space}|\.{any_}+{not_space}|\.{neither}"
    return rf"^(?:{only}|(?:{first})(?:/(?:{middle})){{0,{MAX_PATH_DEPTH - 2}}}/(?:{last}))$"


FILE_PATH_PATTERN = explain_pattern(
    _file_path_pattern(),
    "A file path is relative, with '/' between folders, no empty, '.' or '..' segments, no backslash or "
    "control characters, no space at either end, and at most 16 levels.",
)
CURSOR_SALT = "candor.api.models-cursor"

ModelName = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Title = Annotated[str, Field(max_length=200, pattern=SOME_TEXT), Encodable]
Summary = Annotated[str, Field(max_length=300, pattern=NO_NUL), Encodable]
Card = Annotated[str, Field(max_length=200_000, pattern=NO_NUL), Encodable]
Tags = Annotated[list[Annotated[str, Field(pattern=TAG_PATTERN)]], Field(max_length=MAX_TAGS)]

OWNER = Path(..., min_length=1, max_length=USERNAME_MAX, pattern=OWNER_PATTERN)
NAME = Path(..., min_length=1, max_length=100, pattern=NAME_PATTERN)
FILE_PATH = Path(
    ...,
    min_length=1,
    max_length=MAX_PATH,
    pattern=FILE_PATH_PATTERN,
    description="Relative, '/' between folders, no empty, '.' or '..' segments, at most 16 deep.",
)


class ModelFields(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Title | None = None
    summary: Summary | None = None
    card: Card | None = Field(None, description="The model card, in Markdown.")
    tags: Tags | None = None
    license: License | None = None
    library: Library | None = None
    task: Task | None = None
    visibility: VisibilityName | None = None
    in_popular: bool | None = Field(
        None, description="Whether the model may appear in the popular and trending lists while public."
    )


class ModelIn(ModelFields):
    name: ModelName


class ModelOut(Schema):
    owner: str
    name: str
    full_name: str
    title: str
    summary: str
    card: str
    tags: list[str]
    license: str
    library: str
    task: str
    visibility: VisibilityName
    in_popular: bool = Field(
        description="Whether the owner lets it appear in the popular and trending lists."
    )
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="The model's page on the website.")
    files: int = Field(description="How many files the model has.")


class ModelList(Schema):
    items: list[ModelOut]
    next: str | None = Field(description="The next page, or null on the last one.")
    next_cursor: str | None = Field(
        description="The cursor of the next page (the 'cursor' parameter of 'next'), or null on the last one."
    )


class FileOut(Schema):
    path: str
    size: int
    sha256: str
    updated_at: datetime
    download_url: str


class FileList(Schema):
    items: list[FileOut]


_FILE_COUNT = Coalesce(
    Subquery(
        ModelFile.objects.filter(model=OuterRef("pk"))
        .order_by()
        .values("model")
        .annotate(count=Count("pk"))
        .values("count"),
        output_field=IntegerField(),
    ),
    0,
)
# Keyset pagination: each order ends in (owner, name), which is unique, so a page boundary is exact
# and neither a database id nor an offset appears in the cursor. "popular" is (score, owner, name): the
# score comes from candor.analytics.popularity, which puts the ranked models first.
_ORDER = {
    "updated": ("-updated_at", "owner__username", "name"),
    "name": ("name", "owner__username"),
    "popular": ("owner__username", "name"),
}


def _links(**operations: dict[str, str]) -> dict[str, Any]:
    """OpenAPI links from a response to the operations it leads to (named by their function here), with
    where each of their parameters comes from: clients and the stateful schemathesis tests follow them."""
    return {
        name: {"operationId": f"candor_hub_api_{name}", "parameters": parameters}
        for name, parameters in operations.items()
    }


_CREATED = {"owner": "$response.body#/owner", "name": "$response.body#/name"}
_SAME_MODEL = {"owner": "$request.path.owner", "name": "$request.path.name"}
_STORED = {**_SAME_MODEL, "path": "$response.body#/path"}
_MODEL_LINKS = _links(
    get_model=_CREATED,
    update_model=_CREATED,
    list_files=_CREATED,
    upload_file=_CREATED,
    delete_model=_CREATED,
)
_FILE_LINKS = _links(download_file=_STORED, file_headers=_STORED, delete_file=_STORED)


def _given(schema: Schema) -> dict[str, Any]:
    """The fields the client sent; null means "leave as it is"."""
    return {key: value for key, value in schema.model_dump(exclude_unset=True).items() if value is not None}


def _model_out(model: MLModel, files: int | None = None) -> dict[str, Any]:
    return {
        "owner": model.owner.username,
        "name": model.name,
        "full_name": model.full_name,
        "title": model.title,
        "summary": model.summary,
        "card": model.card,
        "tags": sorted(tag.name for tag in model.tags.all()),
        "license": model.license,
        "library": model.library,
        "task": model.task,
        "visibility": model.visibility,
        "in_popular": model.in_popular,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "url": settings.WEBSITE_URL + model.get_absolute_url(),
        "files": model.files.count() if files is None else files,
    }


def _file_out(model_file: ModelFile, model: MLModel) -> dict[str, Any]:
    address = reverse("api:download_file", args=[model.owner.username, model.name, model_file.path])
    return {
        "path": model_file.path,
        "size": model_file.size,
        "sha256": model_file.sha256,
        "updated_at": model_file.updated_at,
        "download_url": settings.WEBSITE_URL + address,
    }


def _noindex(response: HttpResponseBase, model: MLModel) -> None:
    if not model.is_indexable:
        response["X-Robots-Tag"] = "noindex"


def _cursor_for(model: MLModel, sort: str, score: int = 0) -> str:
    key: list[Any] = [model.updated_at.isoformat()] if sort == "updated" else []
    key += [score] if sort == "popular" else []
    key += [model.name, model.owner.username] if sort == "name" else [model.owner.username, model.name]
    return signing.dumps([sort, *key], salt=CURSOR_SALT)


def _cursor_key(cursor: str, sort: str) -> list[Any]:
    """The cursor's key, after its sort's name. Signed, so only our own cursors parse."""
    try:
        key = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise ApiError(
            "There is no page at this cursor: use the 'next' link as given.",
            code="invalid_cursor",
            status=404,
        ) from None
    if key[0] != sort:
        raise ApiError(
            "There is no page at this cursor in this sort order: it belongs to another one.",
            code="invalid_cursor",
            status=404,
        )
    return list(key[1:])


def _after(cursor: str, sort: str) -> Q:
    """The models that come after the cursor's in this order."""
    key = [sort, *_cursor_key(cursor, sort)]
    if sort == "name":
        name, owner = key[1:]
        return Q(name__gt=name) | Q(name=name, owner__username__gt=owner)
    at, owner, name = parse_datetime(key[1]), key[2], key[3]
    return (
        Q(updated_at__lt=at)
        | Q(updated_at=at, owner__username__gt=owner)
        | Q(updated_at=at, owner__username=owner, name__gt=name)
    )


@router.get(
    "/models",
    auth=ANYONE,
    response=responses({200: ModelList}),
    openapi_extra=openapi(
        optional_auth=True,
        responses={
            200: {
                "links": {
                    "next_page": {
                        "operationId": "candor_hub_api_list_models",
                        "parameters": {
                            "cursor": "$response.body#/next_cursor",
                            "sort": "$request.query.sort",
                        },
                    }
                }
            }
        },
    ),
    summary="List and search public models",
)
def list_models(
    request: HttpRequest,
    q: str = Query(
        "", max_length=200, pattern=NO_NUL, description="Words to find in titles, summaries, tags."
    ),
    task: Task | None = None,
    library: Library | None = None,
    license: License | None = None,
    tag: str | None = Query(None, max_length=40, pattern=NO_NUL),
    sort: Sort = "updated",
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(
        None,
        max_length=1000,
        pattern=CURSOR_PATTERN,
        description="From the 'next' link (or next_cursor) of the page before; one the server did not "
        "give for this sort order answers 404.",
    ),
) -> HttpResponse:
    """Public models only: unlisted and private ones never appear in a list or a search (clause C4)."""
    # The answer is the same for every caller: it comes from the listing cache as ready JSON.
    body = listing_cache.cached(
        "api",
        request,
        lambda public: json.dumps(
            _list_page(public, q, task, library, license, tag, sort, limit, cursor), cls=NinjaJSONEncoder
        ).encode(),
    )
    return HttpResponse(body, content_type="application/json")


def _list_page(
    request: HttpRequest,
    q: str,
    task: str | None,
    library: str | None,
    license: str | None,
    tag: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    query = ModelQuery.from_params(
        {"q": q, "task": task, "library": library, "license": license, "tag": tag, "sort": sort}
    )
    models: QuerySet[MLModel] = query.apply(visibility.listed_models()).order_by(*_ORDER[sort])
    models = models.annotate(file_count=_FILE_COUNT).prefetch_related("tags")
    if sort == "popular":
        after = None
        if cursor:
            score, owner, name = _cursor_key(cursor, sort)
            after = (int(score), str(owner), str(name))
        scored = popularity.in_popular_order(models, limit=limit + 1, after=after)
    else:
        if cursor:
            models = models.filter(_after(cursor, sort))
        scored = [(m, 0) for m in models[: limit + 1]]
    following = following_cursor = None
    if len(scored) > limit:
        scored = scored[:limit]
        last, score = scored[-1]
        params = request.GET.copy()
        following_cursor = params["cursor"] = _cursor_for(last, sort, score)
        following = f"{settings.WEBSITE_URL}{request.path}?{params.urlencode()}"
    return {
        "items": [_model_out(m, getattr(m, "file_count", None)) for m, _ in scored],
        "next": following,
        "next_cursor": following_cursor,
    }


@router.post(
    "/models",
    response=responses({201: ModelOut}, 409),
    openapi_extra=openapi(responses={201: {"links": _MODEL_LINKS}}),
    summary="Create a model",
)
def create_model(request: HttpRequest, payload: ModelIn) -> Status[dict[str, Any]]:
    """It starts private unless a visibility is given; sharing it needs a confirmed email address."""
    model = actions.create_model(person(request), **_given(payload))
    return Status(201, _model_out(model, 0))


@router.get(
    "/models/{owner}/{name}",
    auth=ANYONE,
    response=responses({200: ModelOut}),
    openapi_extra=openapi(optional_auth=True),
    summary="Read a model",
)
def get_model(
    request: HttpRequest, response: HttpResponse, owner: str = OWNER, name: str = NAME
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    mark(request, model)
    _noindex(response, model)
    return _model_out(model)


@router.patch(
    "/models/{owner}/{name}",
    response=responses({200: ModelOut}),
    openapi_extra=openapi(),
    summary="Change a model's metadata or visibility",
)
def update_model(
    request: HttpRequest, payload: ModelFields, owner: str = OWNER, name: str = NAME
) -> dict[str, Any]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    return _model_out(actions.update_model(user, model, **_given(payload)))


@router.delete(
    "/models/{owner}/{name}",
    response=responses({204: None}),
    openapi_extra=openapi(),
    summary="Delete a model and its files",
)
def delete_model(request: HttpRequest, owner: str = OWNER, name: str = NAME) -> Status[None]:
    user = person(request)
    actions.delete_model(user, visibility.get_editable_model(user, owner, name))
    return Status(204, None)


@router.get(
    "/models/{owner}/{name}/files",
    auth=ANYONE,
    response=responses({200: FileList}),
    openapi_extra=openapi(optional_auth=True),
    summary="List a model's files",
)
def list_files(
    request: HttpRequest, response: HttpResponse, owner: str = OWNER, name: str = NAME
) -> dict[str, Any]:
    model = visibility.get_model(caller(request).user, owner, name)
    mark(request, model)
    _noindex(response, model)
    return {"items": [_file_out(f, model) for f in model.files.order_by("path")]}


def _content_length(request: HttpRequest) -> int:
    raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        # The schema requires a body. Without a length there is none to read (RFC 9112, section 6.3),
        # or, chunked, one Django would not read: either would be stored as an empty file. An empty
        # file is sent as "Content-Length: 0".
        raise ApiError(
            "Send the file with a Content-Length header (0 for an empty file).",
            code="length_required",
            status=411,
        )
    # ASCII digits only (str.isdigit() takes other scripts' digits too); the length of the digits is
    # compared before int(), which refuses strings of more than 4,300 digits.
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError("The Content-Length header is not a number.", code="bad_request", status=400)
    digits = raw.lstrip("0") or "0"
    length = (
        int(digits) if len(digits) <= len(str(settings.MAX_UPLOAD_BYTES)) else settings.MAX_UPLOAD_BYTES + 1
    )
    if length > settings.MAX_UPLOAD_BYTES:
        raise ApiError(
            f"The file is larger than the limit of {settings.MAX_UPLOAD_BYTES} bytes.",
            code="too_large",
            status=413,
        )
    return length


def _whole_body(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    """The chunks, then a refusal if fewer bytes came than announced (the client stopped sending, or
    the server could not read the length): a cut file must not replace the one stored."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        yield chunk
    if received < length:
        raise ApiError(
            f"The body ended after {received} of the {length} bytes its Content-Length announced.",
            code="bad_request",
            status=400,
        )


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_NOT_MODIFIED = {"description": "Not modified: the ETag (the file's SHA-256) matched If-None-Match."}


@router.put(
    "/models/{owner}/{name}/files/{path:path}",
    response=responses({200: FileOut, 201: FileOut}, 411, 413),
    openapi_extra=openapi(
        requestBody={"required": True, "content": _BINARY},
        responses={200: {"links": _FILE_LINKS}, 201: {"links": _FILE_LINKS}},
    ),
    summary="Upload a file (the raw bytes as the body); replaces the file at the same path",
)
def upload_file(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> Status[dict[str, Any]]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    length = _content_length(request)
    # Streamed from the socket in chunks, hashed on the way: never request.body, never all in memory.
    chunks = _whole_body(storage.read_chunks(cast("IO[bytes]", request), length), length)
    stored = actions.add_file(user, model, path, chunks)
    return Status(201 if stored.created_at == stored.updated_at else 200, _file_out(stored, model))


@router.get(
    "/models/{owner}/{name}/files/{path:path}",
    auth=ANYONE,
    response=responses({}, 416),
    url_name="download_file",
    openapi_extra=openapi(
        optional_auth=True,
        responses={
            200: {"description": "The file's bytes.", "content": _BINARY},
            206: {"description": "The requested byte range.", "content": _BINARY},
            304: _NOT_MODIFIED,
        },
    ),
    summary="Download a file (byte ranges, ETag)",
)
def download_file(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> HttpResponseBase:
    model_file = visibility.get_file(caller(request).user, owner, name, path)
    mark(request, model_file.model, DOWNLOAD)
    response = downloads.file_response(request, model_file)
    if response.status_code == 416:
        response = error_response(
            416,
            "The requested range is not satisfiable.",
            headers={"Content-Range": response["Content-Range"]},
        )
    _noindex(response, model_file.model)
    return response


@router.api_operation(
    ["HEAD"],
    "/models/{owner}/{name}/files/{path:path}",
    auth=ANYONE,
    response=responses({}, 416),
    url_name="file_headers",
    openapi_extra=openapi(
        optional_auth=True,
        responses={
            200: {"description": "The headers a download would have (Content-Length, ETag), no body."},
            206: {"description": "The headers of the requested byte range, no body."},
            304: _NOT_MODIFIED,
        },
    ),
    summary="A file's size and ETag without its bytes (what a GET would answer, with no body)",
)
def file_headers(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> HttpResponseBase:
    # The download's own answer; HeadMiddleware drops its body, and the file is closed unread with it.
    return download_file(request, owner, name, path)


@router.delete(
    "/models/{owner}/{name}/files/{path:path}",
    response=responses({204: None}),
    openapi_extra=openapi(),
    summary="Delete a file",
)
def delete_file(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> Status[None]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    actions.delete_file(user, model, path)
    return Status(204, None)
