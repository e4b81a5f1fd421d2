"""The hub router's inputs (path parameters, request bodies) and its file answers.

A model's own answer shape is :mod:`candor.hub.schemas`, shared with the analytics router.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from django.conf import settings
from django.urls import reverse
from ninja import Schema
from ninja.params.functions import Path
from pydantic import ConfigDict, Field

from candor.api.errors import explain_pattern
from candor.api.schemas import NO_NUL, SOME_TEXT, Encodable
from candor.hub import validators
from candor.hub.choices import LIBRARIES, LICENSES, TASKS
from candor.hub.models import MLModel, ModelFile
from candor.hub.schemas import ModelOut, VisibilityName

if TYPE_CHECKING:
    type License = str
    type Library = str
    type Task = str
else:
    License = Literal[tuple(value for value, _ in LICENSES)]
    Library = Literal[tuple(value for value, _ in LIBRARIES)]
    Task = Literal[tuple(value for value, _ in TASKS)]
Sort = Literal["updated", "name", "popular"]

NAME_PATTERN = explain_pattern(validators.NAME_PATTERN, validators.NAME_PATTERN_MESSAGE)
OWNER_PATTERN = explain_pattern(validators.OWNER_PATTERN, validators.OWNER_PATTERN_MESSAGE)
TAG_PATTERN = explain_pattern(validators.TAG_PATTERN, validators.TAG_PATTERN_MESSAGE)
LANGUAGE_PATTERN = explain_pattern(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", "An ISO 639 code, e.g. en or pt-BR.")
FILE_PATH_PATTERN = explain_pattern(validators.FILE_PATH_PATTERN, validators.FILE_PATH_PATTERN_MESSAGE)
# The shape of every cursor the server gives (django.core.signing's "payload:time:signature"), so the
# schema refuses what can never be one; one of that shape that the server did not sign, or signed for
# another sort order, names no page: 404.
CURSOR_PATTERN = explain_pattern(
    r"^[A-Za-z0-9_-]{1,900}:[A-Za-z0-9]{1,13}:[A-Za-z0-9_-]{43}$", "Use the 'next' link as given."
)

ModelName = Annotated[str, Field(min_length=1, max_length=validators.NAME_MAX, pattern=NAME_PATTERN)]
Title = Annotated[str, Field(max_length=200, pattern=SOME_TEXT), Encodable]
Summary = Annotated[str, Field(max_length=300, pattern=NO_NUL), Encodable]
Card = Annotated[str, Field(max_length=200_000, pattern=NO_NUL), Encodable]
Tags = Annotated[list[Annotated[str, Field(pattern=TAG_PATTERN)]], Field(max_length=validators.MAX_TAGS)]

OWNER = Path(..., min_length=1, max_length=validators.OWNER_MAX, pattern=OWNER_PATTERN)
NAME = Path(..., min_length=1, max_length=validators.NAME_MAX, pattern=NAME_PATTERN)
FILE_PATH = Path(
    ...,
    min_length=1,
    max_length=validators.MAX_PATH,
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
    commit: str | None = Field(
        description="The id of the revision listed (null for a model with no file yet): send it as the "
        "parent of a commit made on it."
    )
    items: list[FileOut]


# --- Revisions -------------------------------------------------------------------------------------

SHA256_PATTERN = explain_pattern(r"^[0-9a-f]{64}$", "64 lowercase hexadecimal digits.")
OID_PATTERN = explain_pattern(r"^[0-9a-f]{40}$", "A commit id: 40 lowercase hexadecimal digits.")
# A revision in a path: main, a commit id or a tag's name (no slash, no white space).
REVISION_PATTERN = explain_pattern(r"^[^\x00-\x20\x7f/\\]{1,100}$", "main, a commit id or a tag.")
REVISION = Path(
    ...,
    min_length=1,
    max_length=100,
    pattern=REVISION_PATTERN,
    description="main, a commit id (40 hexadecimal digits) or a tag's name.",
)
OID = Path(..., min_length=40, max_length=40, pattern=OID_PATTERN, description="A commit id.")
TAG = Path(..., min_length=1, max_length=100, pattern=REVISION_PATTERN, description="A tag's name.")
RepoPath = Annotated[
    str, Field(min_length=1, max_length=validators.MAX_PATH, pattern=FILE_PATH_PATTERN), Encodable
]


class BlobOut(Schema):
    sha256: str
    size: int


class PutChange(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    op: Literal["put"]
    path: RepoPath
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] = Field(
        description="The SHA-256 of a file stored with POST …/blobs (or already in the model)."
    )


class DeleteChange(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    op: Literal["delete"]
    path: RepoPath


class RenameChange(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    op: Literal["rename"]
    path: RepoPath
    to: RepoPath


ChangeIn = Annotated[PutChange | DeleteChange | RenameChange, Field(discriminator="op")]


class CommitIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    message: Annotated[str, Field(max_length=2000, pattern=NO_NUL), Encodable] = ""
    parent: Annotated[str, Field(pattern=OID_PATTERN)] | None = Field(
        None,
        description="The commit the changes were made on (the 'commit' of the file list). When main "
        "moved on since, the commit is rebased if it touches no file changed meanwhile, else refused "
        "with 409. Null: on main as it is.",
    )
    changes: list[ChangeIn] = Field(min_length=1, max_length=10_000)


class FileChangeOut(Schema):
    path: str
    kind: Literal["added", "modified", "deleted"]


class CommitOut(Schema):
    oid: str
    parent: str | None
    message: str
    author: str | None = Field(description="The username of who made it (null once their account is gone).")
    created_at: datetime
    changes: list[FileChangeOut]


class CommitList(Schema):
    items: list[CommitOut]
    next_cursor: str | None = Field(
        description="Send as 'after' for the next (older) page; null on the last one."
    )


class TagIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=REVISION_PATTERN), Encodable]
    revision: Annotated[str, Field(min_length=1, max_length=100, pattern=REVISION_PATTERN)] | None = None


class RefOut(Schema):
    name: str
    kind: Literal["branch", "tag"]
    commit: str


class RefList(Schema):
    items: list[RefOut]


class PurgeOut(Schema):
    revisions: int = Field(description="How many revisions held the file (none holds it now).")


def given(schema: Schema) -> dict[str, Any]:
    """The fields the client sent; null means "leave as it is"."""
    return {key: value for key, value in schema.model_dump(exclude_unset=True).items() if value is not None}


def file_out(model_file: ModelFile, model: MLModel, revision: str | None = None) -> dict[str, Any]:
    """A file's answer; its download address is on main, or at ``revision`` (a commit id) if given."""
    if revision is None:
        address = reverse("api:download_file", args=[model.owner.username, model.name, model_file.path])
    else:
        address = reverse(
            "api:download_revision_file", args=[model.owner.username, model.name, revision, model_file.path]
        )
    return {
        "path": model_file.path,
        "size": model_file.size,
        "sha256": model_file.sha256,
        "updated_at": model_file.updated_at,
        "download_url": settings.WEBSITE_URL + address,
    }


def _links(**operations: dict[str, str]) -> dict[str, Any]:
    """OpenAPI links from a response to the operations it leads to (named by their function in the
    router), with where each of their parameters comes from: clients and the stateful schemathesis
    tests follow them."""
    return {
        name: {"operationId": f"candor_hub_api_{name}", "parameters": parameters}
        for name, parameters in operations.items()
    }


_CREATED = {"owner": "$response.body#/owner", "name": "$response.body#/name"}
_SAME_MODEL = {"owner": "$request.path.owner", "name": "$request.path.name"}
_STORED = {**_SAME_MODEL, "path": "$response.body#/path"}
MODEL_LINKS = _links(
    get_model=_CREATED,
    update_model=_CREATED,
    list_files=_CREATED,
    upload_file=_CREATED,
    delete_model=_CREATED,
)
FILE_LINKS = _links(download_file=_STORED, file_headers=_STORED, delete_file=_STORED)
NEXT_PAGE_LINKS = {
    "next_page": {
        "operationId": "candor_hub_api_list_models",
        "parameters": {"cursor": "$response.body#/next_cursor", "sort": "$request.query.sort"},
    }
}
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
NOT_MODIFIED = {"description": "Not modified: the ETag (the file's SHA-256) matched If-None-Match."}
