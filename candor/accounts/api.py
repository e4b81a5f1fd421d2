"""The API's account endpoints: /api/v1/me and /api/v1/tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Path
from ninja.responses import Status
from pydantic import ConfigDict, Field

from candor.accounts import actions as account_actions
from candor.api import actions as token_actions
from candor.api.auth import person
from candor.api.models import ApiToken
from candor.api.schemas import SOME_TEXT, Encodable, WholeNumber, openapi, responses
from candor.hub import actions as hub_actions
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle import erasure

router = Router(tags=["account"])

Scope = Literal["read", "write"]


class MeOut(Schema):
    username: str
    email: str
    email_verified: bool
    date_joined: datetime
    profile_visible: bool = Field(description="Whether others may see the profile page /<username>/.")
    profile_indexable: bool = Field(description="Whether search engines are invited to index it.")


class MePatch(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    profile_visible: bool | None = None
    profile_indexable: bool | None = None


class VisibilityIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    visibility: Literal["public", "unlisted", "private"]


class ChangedOut(Schema):
    changed: int = Field(description="How many models changed visibility.")


class TokenIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(max_length=100, pattern=SOME_TEXT), Encodable]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=2)] = Field(
        description="'read' tokens may only use GET; 'write' tokens may also change things."
    )
    expires_in_days: Annotated[int, Field(ge=1, le=365), WholeNumber] | None = Field(
        None, description="Days until the token stops working; null for a token that does not expire."
    )


class TokenOut(Schema):
    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_on: date | None = Field(description="The last day the token was used (the day only).")


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. It is shown this once and never again.")


class TokenList(Schema):
    items: list[TokenOut]


def _me(request: HttpRequest) -> dict[str, Any]:
    user = person(request)
    return {
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "date_joined": user.date_joined,
        "profile_visible": user.profile_visible,
        "profile_indexable": user.profile_indexable,
    }


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "scopes": token.scopes,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_on": token.last_used_on,
    }


@router.get("/me", response=responses({200: MeOut}), openapi_extra=openapi(), summary="Your account")
def get_me(request: HttpRequest) -> dict[str, Any]:
    return _me(request)


@router.patch(
    "/me",
    response=responses({200: MeOut}),
    openapi_extra=openapi(),
    summary="Change your profile's visibility",
)
def update_me(request: HttpRequest, payload: MePatch) -> dict[str, Any]:
    hub_actions.set_profile(
        acting_user=person(request), visible=payload.profile_visible, indexable=payload.profile_indexable
    )
    return _me(request)


# Django's email validator, for plain ASCII addresses, as a pattern (the schema then promises only what
# the server accepts): a dot-atom local part, and host labels ending in a 2 to 63 letter top level.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = (
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}$"
)


class EmailChangeIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
    password: Annotated[str, Field(min_length=1, max_length=4096)]


class AcceptedOut(Schema):
    message: str


@router.post(
    "/me/email",
    response=responses({202: AcceptedOut}),
    openapi_extra=openapi(),
    summary="Change your email address (confirmed by a link sent to the new address)",
)
def change_email(request: HttpRequest, payload: EmailChangeIn) -> Status[dict[str, str]]:
    """The same rules as the settings page: the password again, then a link to the new address; the old
    address is told. The account keeps its address until the link is opened."""
    user = person(request)
    try:
        validate_email(payload.email)
    except ValidationError:
        raise Refusal(
            Code.INVALID_FIELDS,
            "Some fields are not valid.",
            fields={"email": ["Enter a valid email address."]},
        ) from None
    account_actions.request_email_change(
        user, password=payload.password, new_email=payload.email, request=request, acting_user=user
    )
    return Status(202, {"message": "A confirmation link is on its way to the new address."})


class DeleteIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    password: Annotated[str, Field(min_length=1, max_length=4096)]
    confirm: Annotated[str, Field(min_length=1, max_length=39)] = Field(
        description="Your username, typed again: the explicit confirmation."
    )


class DeletedOut(Schema):
    deleted: bool
    records: int = Field(description="How many stored records of the account were deleted.")
    message: str


@router.delete(
    "/me",
    response=responses({200: DeletedOut}),
    openapi_extra=openapi(),
    summary="Delete your account permanently (needs the password and your username)",
)
def delete_me(request: HttpRequest, payload: DeleteIn) -> dict[str, Any]:
    """At once and for good: the account's data key is destroyed, then every row and file of it. A
    receipt goes to the address the account had. The token used for this call stops working with it."""
    user = person(request)
    outcome = erasure.delete_own_account(
        user, password=payload.password, confirm=payload.confirm, request=request
    )
    return {
        "deleted": True,
        "records": sum(outcome.rows.values()),
        "message": "The account is deleted. A receipt is on its way to the address it had.",
    }


class SecurityEventOut(Schema):
    kind: str = Field(
        description="sign_in, sign_in_failed, password_changed, password_reset, "
        "email_change_requested, email_changed, token_created or export_requested."
    )
    created_at: datetime
    ip_address: str = Field(description="The client address seen (stored encrypted); empty if none.")
    browser_family: str = Field(description="The browser's family only, never the user-agent string.")


class SecurityEventList(Schema):
    items: list[SecurityEventOut]


@router.get(
    "/me/security-events",
    response=responses({200: SecurityEventList}),
    openapi_extra=openapi(),
    summary="Your recent security events (kept 30 days by default)",
)
def list_security_events(request: HttpRequest) -> dict[str, Any]:
    events = account_actions.security_events(person(request), limit=200)
    return {
        "items": [
            {
                "kind": event.kind,
                "created_at": event.created_at,
                "ip_address": event.ip_address or "",
                "browser_family": event.browser_family,
            }
            for event in events
        ]
    }


@router.post(
    "/me/models/visibility",
    response=responses({200: ChangedOut}),
    openapi_extra=openapi(),
    summary="Set the visibility of all your models at once",
)
def set_all_visibility(request: HttpRequest, payload: VisibilityIn) -> dict[str, int]:
    return {"changed": hub_actions.set_visibility_of_all(payload.visibility, acting_user=person(request))}


@router.post(
    "/tokens",
    response=responses({201: TokenCreated}, 409),
    openapi_extra=openapi(),
    summary="Create a token (needs the session or a write token)",
)
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    """The answer holds the token itself, once: only its SHA-256 is kept."""
    user = person(request)
    token, secret = token_actions.create_token(
        user,
        name=payload.name,
        scopes=payload.scopes,
        expires_in_days=payload.expires_in_days,
        request=request,
        acting_user=user,
    )
    return Status(201, {**_token_out(token), "token": secret})


@router.get("/tokens", response=responses({200: TokenList}), openapi_extra=openapi(), summary="Your tokens")
def list_tokens(request: HttpRequest) -> dict[str, Any]:
    return {"items": [_token_out(token) for token in token_actions.live_tokens(person(request))]}


@router.delete(
    "/tokens/{id}", response=responses({204: None}), openapi_extra=openapi(), summary="Revoke a token"
)
def revoke_token(request: HttpRequest, id: str = Path(..., max_length=64)) -> Status[None]:
    user = person(request)
    token_actions.revoke_token(user, id, acting_user=user)
    return Status(204, None)
