"""The caller's notices in the API: GET /api/v1/me/notices and POST /api/v1/me/notices/{id}/dismiss."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Path, Query
from pydantic import Field

from candor.api.auth import person
from candor.api.schemas import openapi, responses
from candor.comms import actions
from candor.comms.models import Notice

router = Router(tags=["account"])


class NoticeOut(Schema):
    id: str = Field(description="The notice's random identifier, for dismissing it.")
    kind: Literal["policy", "security", "undeliverable", "account"] = Field(
        description="policy (a change of the privacy policy), security (a change to how you sign in), "
        "undeliverable (email to your address was refused), account."
    )
    kind_label: str = Field(description="The kind in words.")
    title: str
    body: str = Field(description="Plain text; may be empty.")
    url: str | None = Field(description="The page of the site that tells more, in full; null if none.")
    created_at: datetime
    dismissed_at: datetime | None = Field(description="When you dismissed it; null while it is open.")


class NoticeList(Schema):
    items: list[NoticeOut] = Field(description="Newest first.")


def _out(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.public_id,
        "kind": notice.kind,
        "kind_label": notice.get_kind_display(),
        "title": notice.title,
        "body": notice.body,
        "url": f"{settings.WEBSITE_URL}{notice.link}" if notice.link else None,
        "created_at": notice.created_at,
        "dismissed_at": notice.dismissed_at,
    }


@router.get(
    "/me/notices",
    response=responses({200: NoticeList}),
    openapi_extra=openapi(),
    summary="Your notices (the website's banner)",
)
def list_notices(
    request: HttpRequest,
    include_dismissed: bool = Query(
        False,
        alias="all",
        description="true: also the notices you dismissed that are still kept (CANDOR_NOTICE_KEEP_DAYS, "
        "90 days by default), with their dismissed_at.",
    ),
) -> dict[str, Any]:
    """The notices the website shows you as a banner on every page until you dismiss them: changes of
    the privacy policy, changes to how you sign in, an email address that mail servers refuse. A token
    with the read scope is enough."""
    user = person(request)
    found = actions.kept_notices(user) if include_dismissed else actions.open_notices(user)
    return {"items": [_out(notice) for notice in found]}


@router.post(
    "/me/notices/{id}/dismiss",
    response=responses({200: NoticeOut}),
    openapi_extra=openapi(),
    summary="Dismiss one of your notices",
)
def dismiss_notice(request: HttpRequest, id: str = Path(..., max_length=64)) -> dict[str, Any]:
    """Stop showing a notice, on the website as here. Dismissing it again answers the same, with the
    time of the first dismissal; an id that is not one of your notices answers 404. Needs a token with
    the write scope (or the session and its CSRF header)."""
    user = person(request)
    return _out(actions.dismiss_notice(user, id, acting_user=user))
