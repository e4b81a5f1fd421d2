"""The API's models and files on main, /api/v1/models/… (revisions, commits and tags: :mod:`.commits`)

Every look-up goes through candor.hub.visibility, every listing through candor.hub.queries and every
change through candor.hub.actions; the handlers here parse, call one of them and shape the answer with
candor.hub.schemas. The popular sort's ranking comes from candor.analytics, put together with the
hub's listing here, above both. Handlers stay in this module: their names make the operation ids.
"""

from __future__ import annotations

import json
from typing import IO, Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Router
from ninja.params.functions import Query
from ninja.responses import NinjaJSONEncoder, Status

from candor.analytics import popularity
from candor.analytics.capture import DOWNLOAD, mark
from candor.api.auth import ANYONE, caller, person
from candor.api.errors import error_response
from candor.api.schemas import NO_NUL, openapi, responses
from candor.hub import actions, http, listing_cache, queries, revisions, storage, visibility
from candor.hub.api.body import content_length, whole_body
from candor.hub.api.schemas import (
    BINARY,
    CURSOR_PATTERN,
    FILE_LINKS,
    FILE_PATH,
    LANGUAGE_PATTERN,
    MODEL_LINKS,
    NAME,
    NEXT_PAGE_LINKS,
    NOT_MODIFIED,
    OWNER,
    FileList,
    FileOut,
    Library,
    License,
    ModelFields,
    ModelIn,
    ModelList,
    Sort,
    Task,
    file_out,
    given,
)
from candor.hub.models import MLModel
from candor.hub.schemas import ModelOut, model_out, models_out

router = Router(tags=["models"])


def _noindex(response: HttpResponseBase, model: MLModel) -> None:
    if not model.is_indexable:
        response["X-Robots-Tag"] = "noindex"


@router.get(
    "/models",
    auth=ANYONE,
    response=responses({200: ModelList}),
    openapi_extra=openapi(optional_auth=True, responses={200: {"links": NEXT_PAGE_LINKS}}),
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
    language: str | None = Query(
        None, max_length=20, pattern=LANGUAGE_PATTERN, description="An ISO 639 code, as model cards give it."
    ),
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
    query = queries.ModelQuery.from_params(
        {
            "q": q,
            "task": task,
            "library": library,
            "license": license,
            "tag": tag,
            "language": language,
            "sort": sort,
        }
    )

    def build(public: HttpRequest) -> bytes:
        page = queries.keyset_page(
            queries.listing(query), sort, limit=limit, cursor=cursor, ranker=popularity.in_popular_order
        )
        following = None
        if page.next_cursor is not None:
            params = public.GET.copy()
            params["cursor"] = page.next_cursor
            following = f"{settings.WEBSITE_URL}{public.path}?{params.urlencode()}"
        body = {
            "items": models_out([model for model, _ in page.items]),
            "next": following,
            "next_cursor": page.next_cursor,
        }
        return json.dumps(body, cls=NinjaJSONEncoder).encode()

    # The answer is the same for every caller: it comes from the listing cache as ready JSON.
    return HttpResponse(listing_cache.cached("api", request, build), content_type="application/json")


@router.post(
    "/models",
    response=responses({201: ModelOut}, 409),
    openapi_extra=openapi(responses={201: {"links": MODEL_LINKS}}),
    summary="Create a model",
)
def create_model(request: HttpRequest, payload: ModelIn) -> Status[dict[str, Any]]:
    """It starts private unless a visibility is given; sharing it needs a confirmed email address."""
    model = actions.create_model_with_card(acting_user=person(request), **given(payload))
    return Status(201, model_out(model, owner_view=True))


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
    return model_out(model, owner_view=visibility.can_edit(caller(request).user, model))


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
    return model_out(actions.edit_model(model, acting_user=user, **given(payload)), owner_view=True)


@router.delete(
    "/models/{owner}/{name}",
    response=responses({204: None}),
    openapi_extra=openapi(),
    summary="Delete a model and its files",
)
def delete_model(request: HttpRequest, owner: str = OWNER, name: str = NAME) -> Status[None]:
    user = person(request)
    actions.delete_model(visibility.get_editable_model(user, owner, name), acting_user=user)
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
    head = revisions.resolve(model)
    files = revisions.sorted_files(revisions.tree(head))
    return {"commit": head.oid if head else None, "items": [file_out(f, model) for f in files]}


@router.put(
    "/models/{owner}/{name}/files/{path:path}",
    response=responses({200: FileOut, 201: FileOut}, 411, 413),
    openapi_extra=openapi(
        requestBody={"required": True, "content": BINARY},
        responses={200: {"links": FILE_LINKS}, 201: {"links": FILE_LINKS}},
    ),
    summary="Upload a file (the raw bytes as the body); replaces the file at the same path",
)
def upload_file(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> Status[dict[str, Any]]:
    user = person(request)
    model = visibility.get_editable_model(user, owner, name)
    length = content_length(str(request.META.get("CONTENT_LENGTH") or ""), settings.MAX_UPLOAD_BYTES)
    # Streamed from the socket in chunks, hashed on the way: never request.body, never all in memory.
    chunks = whole_body(storage.read_chunks(cast("IO[bytes]", request), length), length)
    stored = actions.add_file(model, path, chunks, acting_user=user)
    return Status(201 if stored.created_at == stored.updated_at else 200, file_out(stored, model))


@router.get(
    "/models/{owner}/{name}/files/{path:path}",
    auth=ANYONE,
    response=responses({}, 416),
    url_name="download_file",
    openapi_extra=openapi(
        optional_auth=True,
        responses={
            200: {"description": "The file's bytes.", "content": BINARY},
            206: {"description": "The requested byte range.", "content": BINARY},
            304: NOT_MODIFIED,
        },
    ),
    summary="Download a file (byte ranges, ETag)",
)
def download_file(
    request: HttpRequest, owner: str = OWNER, name: str = NAME, path: str = FILE_PATH
) -> HttpResponseBase:
    model_file = visibility.get_file(caller(request).user, owner, name, path)
    mark(request, model_file.model, DOWNLOAD)
    response = http.file_response(request, model_file)
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
            304: NOT_MODIFIED,
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
    actions.delete_file(model, path, acting_user=user)
    return Status(204, None)
