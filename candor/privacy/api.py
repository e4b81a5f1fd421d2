"""GET /api/v1/privacy/inventory: the data inventory, machine-readable."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from candor.api.auth import ANYONE
from candor.api.schemas import openapi, responses
from candor.privacy import inventory

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
