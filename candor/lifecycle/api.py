"""The privacy endpoints: the data inventory (GET /api/v1/privacy/inventory), and the person's export of
their data (POST /api/v1/me/export, GET /api/v1/me/exports, GET /api/v1/me/exports/{id}/download)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from ninja import Router, Schema
from ninja.params.functions import Path
from ninja.responses import Status
from pydantic import Field

from candor.api.auth import ANYONE, person
from candor.api.errors import explain_pattern
from candor.api.schemas import openapi, responses
from candor.lifecycle import export
from candor.privacy import inventory
from candor.privacy.models import ExportArchive

router = Router(tags=["privacy"])


class InventoryRow(Schema):
    model: str
    field: str
    category: str
    purpose: str
    retention: str
    correctable: bool
    export: str
    clauses: list[str]
    encrypted: bool = Field(description="Stored encrypted under the account's own data key.")


class Inventory(Schema):
    items: list[InventoryRow]


@router.get(
    "/privacy/inventory",
    auth=ANYONE,
    response=responses({200: Inventory}),
    openapi_extra=openapi(optional_auth=True),
    summary="What personal data the platform stores, why, and for how long",
)
def get_inventory(request: HttpRequest) -> dict[str, Any]:
    return {"items": [asdict(row) for row in inventory.rows()]}


EXPORT_ID = explain_pattern(r"^[A-Za-z0-9_-]+$", "Not an export id.")


class ExportOut(Schema):
    id: str = Field(description="The export's random id.")
    status: Literal["pending", "ready", "failed"]
    created_at: datetime
    expires_at: datetime | None = Field(
        description="When a ready export stops being downloadable (and is deleted)."
    )
    size: int = Field(description="The ZIP's size in bytes (0 until it is ready).")
    download_url: str | None = Field(description="Where to download the ZIP, once it is ready.")


class ExportList(Schema):
    items: list[ExportOut]


def _export_out(archive: ExportArchive) -> dict[str, Any]:
    ready = archive.status == ExportArchive.Status.READY
    address = reverse("api:download_export", args=[archive.public_id])
    return {
        "id": archive.public_id,
        "status": archive.status,
        "created_at": archive.created_at,
        "expires_at": archive.expires_at if ready else None,
        "size": archive.size,
        "download_url": settings.WEBSITE_URL + address if ready else None,
    }


@router.post(
    "/me/export",
    response=responses({202: ExportOut}, 409),
    openapi_extra=openapi(),
    summary="Ask for an export of all your data (a ZIP, built in the background)",
)
def request_export(request: HttpRequest) -> Status[dict[str, Any]]:
    """Answers at once with the pending export; an email says when it is ready. 409 while another one is
    being prepared. A new export replaces the earlier ones once it is ready."""
    user = person(request)
    archive = export.request_export(user, request, acting_user=user)
    return Status(202, _export_out(archive))


@router.get(
    "/me/exports",
    response=responses({200: ExportList}),
    openapi_extra=openapi(),
    summary="Your data exports",
)
def list_exports(request: HttpRequest) -> dict[str, Any]:
    return {"items": [_export_out(archive) for archive in export.archives_of(person(request))]}


_ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/me/exports/{id}/download",
    response=responses({}, 410),
    url_name="download_export",
    openapi_extra=openapi(responses={200: {"description": "The export, a ZIP.", "content": _ZIP}}),
    summary="Download a ready export (410 once it has expired)",
)
def download_export(
    request: HttpRequest, id: str = Path(..., max_length=64, pattern=EXPORT_ID)
) -> HttpResponseBase:
    ready = export.download(person(request), id)  # a Refusal becomes the API's error (404, 410)
    return StreamingHttpResponse(ready.pieces, content_type=ready.content_type, headers=ready.headers())
