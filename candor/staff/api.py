"""The API's view of accesses to the caller's data: GET /api/v1/me/accesses (C23)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Query
from pydantic import Field

from candor.api.auth import person
from candor.api.errors import explain_pattern
from candor.api.schemas import openapi, responses
from candor.staff import notices

router = Router(tags=["account"])

# django.core.signing's "payload:time:signature": the schema refuses what can never be a cursor; one of
# that shape that the server did not sign answers 404.
CURSOR_PATTERN = explain_pattern(
    r"^[A-Za-z0-9_-]{1,100}:[A-Za-z0-9]{1,13}:[A-Za-z0-9_-]{43}$", "Use the 'next' link as given."
)


class CategoryOut(Schema):
    name: str = Field(description="The category of the data inventory, such as contact.email.")
    label: str = Field(description="The category in words.")


class AccessOut(Schema):
    occurred_at: datetime
    held_back_until: datetime | None = Field(
        description="For an access a legal order forbade telling: the order's date, from which it is shown."
    )
    role: str = Field(description="The member of staff's role in the grant, a word from a fixed list.")
    role_label: str
    office_country: str = Field(description="ISO 3166-1 alpha-2 code of the member's office.")
    work_country: str = Field(description="ISO 3166-1 alpha-2 code of where the member works from.")
    purpose: str = Field(description="legal_request, support_case, security_incident or abuse_report.")
    purpose_label: str
    categories: list[CategoryOut] = Field(description="The kinds of data seen; never the values.")
    staff_member: str | None = Field(
        description="The member's username, only where the operator shows staff names; else null."
    )


class AccessList(Schema):
    items: list[AccessOut]
    next: str | None = Field(description="The next (older) page's address; null on the last one.")
    next_cursor: str | None = Field(description="The 'cursor' parameter of 'next'; null on the last one.")


def _out(access: notices.Access) -> dict[str, Any]:
    return {
        "occurred_at": access.occurred_at,
        "held_back_until": access.shown_from,
        "role": access.role,
        "role_label": access.role_label,
        "office_country": access.office_country.code,
        "work_country": access.work_country.code,
        "purpose": access.purpose,
        "purpose_label": access.purpose_label,
        "categories": [{"name": c.name, "label": c.label} for c in access.categories],
        "staff_member": access.staff_name,
    }


@router.get(
    "/me/accesses",
    response=responses({200: AccessList}),
    openapi_extra=openapi(),
    summary="Accesses to your data by staff",
)
def list_accesses(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(
        None,
        max_length=200,
        pattern=CURSOR_PATTERN,
        description="From the 'next' link (or next_cursor) of the page before; one the server did not "
        "give answers 404.",
    ),
) -> dict[str, Any]:
    """Every access to your data that may be told now, newest first: when, the member of staff's role and
    countries, the purpose and the categories seen. An access a legal order forbids telling appears by
    itself once the order's date has passed, with that date. A token with the read scope is enough."""
    page = notices.page_of(person(request).pk, limit=limit, cursor=cursor)
    following = None
    if page.next_cursor is not None:
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        following = f"{settings.WEBSITE_URL}{request.path}?{params.urlencode()}"
    return {
        "items": [_out(access) for access in page.items],
        "next": following,
        "next_cursor": page.next_cursor,
    }
