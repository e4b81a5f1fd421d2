"""The API's view of the caller's emails: GET /api/v1/me/emails (the record of what we sent them), and
GET and PATCH /api/v1/me/email-preferences (product updates on or off)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Query
from pydantic import ConfigDict, Field

from candor.api.auth import person
from candor.api.errors import explain_pattern
from candor.api.schemas import openapi, responses
from candor.comms import actions, queries
from candor.comms.choices import Via

router = Router(tags=["account"])

# django.core.signing's compressed "payload:time:signature" (a leading dot marks compression).
CURSOR_PATTERN = explain_pattern(
    r"^\.?[A-Za-z0-9_-]{1,100}:[A-Za-z0-9]{1,13}:[A-Za-z0-9_-]{43}$", "Use the 'next' link as given."
)


class EmailOut(Schema):
    id: str = Field(description="A random identifier of the email.")
    category: str = Field(description="account (security and account), policy or product (updates).")
    category_label: str
    kind: str = Field(description="Which email it is, a word from a fixed list (password-reset …).")
    subject: str = Field(description="The subject as sent; before it is sent, what kind of email it is.")
    queued_at: datetime = Field(description="When the email was asked for.")
    sent_at: datetime | None = Field(description="When the mail server took it; null if it did not.")
    status: str = Field(description="queued, sending, sent, undeliverable, failed or skipped.")
    status_label: str
    reason: str = Field(description="Why it was not sent (opted_out, capped …); empty otherwise.")
    reason_label: str
    attempts: int = Field(description="How many times sending was tried.")


class EmailList(Schema):
    items: list[EmailOut]
    next: str | None = Field(description="The next (older) page's address; null on the last one.")
    next_cursor: str | None = Field(description="The 'cursor' parameter of 'next'; null on the last one.")


class PreferencesOut(Schema):
    product_updates: bool = Field(description="Whether you get product updates (account emails always go).")
    changed_at: datetime | None = Field(description="When you last changed it; null if never.")
    changed_via: str = Field(description="settings, api, one_click or mail; empty if never changed.")
    address_refused: bool = Field(
        description="Whether a mail server refused your current address for good (product mail stops)."
    )
    address_refused_at: datetime | None


class PreferencesPatch(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    product_updates: bool = Field(description="true to get product updates, false to stop them.")


def _prefs_out(user: Any) -> dict[str, Any]:
    prefs = actions.preferences_of(user)
    refused = queries.address_refused(user, prefs)
    return {
        "product_updates": prefs.product_updates,
        "changed_at": prefs.changed_at,
        "changed_via": prefs.changed_via,
        "address_refused": refused,
        "address_refused_at": prefs.undeliverable_at if refused else None,
    }


@router.get(
    "/me/emails",
    response=responses({200: EmailList}),
    openapi_extra=openapi(),
    summary="Emails we sent you",
)
def list_emails(
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
    """Every email we sent you, or meant to, in the last CANDOR_EMAIL_RECORD_DAYS, newest first: its
    category, subject, when, and what became of it (and why, when it was not sent). A token with the
    read scope is enough."""
    page = queries.page_of(person(request).pk, limit=limit, cursor=cursor)
    following = None
    if page.next_cursor is not None:
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        following = f"{settings.WEBSITE_URL}{request.path}?{params.urlencode()}"
    return {
        "items": [vars(sent) for sent in page.items],
        "next": following,
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/me/email-preferences",
    response=responses({200: PreferencesOut}),
    openapi_extra=openapi(),
    summary="Your email preferences",
)
def get_preferences(request: HttpRequest) -> dict[str, Any]:
    """Whether you get product updates, and whether your address was refused by a mail server."""
    return _prefs_out(person(request))


@router.patch(
    "/me/email-preferences",
    response=responses({200: PreferencesOut}),
    openapi_extra=openapi(),
    summary="Turn product updates on or off",
)
def update_preferences(request: HttpRequest, payload: PreferencesPatch) -> dict[str, Any]:
    """Account, security and policy emails are always sent; this changes product updates only. Needs a
    token with the write scope (or the session with its CSRF header)."""
    user = person(request)
    actions.set_product_updates(user, payload.product_updates, via=Via.API, acting_user=user)
    return _prefs_out(user)
