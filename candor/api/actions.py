"""Every change to API tokens. The token endpoints, the authentication of each request and (later) the
settings page call these."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from functools import partial

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from candor.accounts.actions import record_event
from candor.accounts.models import SecurityEvent, User
from candor.api.errors import ApiError
from candor.api.models import SCOPES, ApiToken
from candor.kernel import locks

# A recognisable prefix lets secret scanners (GitHub's, gitleaks) find tokens pasted where they should
# not be; 30 random bytes make the 40 characters after it.
TOKEN_PREFIX = "cnd_"  # noqa: S105 - a label, not a secret
TOKEN_LENGTH = len(TOKEN_PREFIX) + 40
SHOWN_PREFIX = 12
MAX_LIVE_TOKENS = 100
MAX_DAYS = 365


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def live_tokens(user: User) -> QuerySet[ApiToken]:
    """The tokens a person may still revoke: not revoked (expired ones stay listed, marked by their date)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


@transaction.atomic
def create_token(
    actor: User,
    *,
    name: str,
    scopes: Sequence[str],
    expires_in_days: int | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token itself, which is shown this once and never stored."""
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name or len(name) > 100:
        errors["name"] = ["A name has 1 to 100 characters."]
    wanted = [scope for scope in SCOPES if scope in scopes]
    if not wanted or len(wanted) != len(set(scopes)):
        errors["scopes"] = [f"Choose one or more of: {', '.join(SCOPES)}."]
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
        errors["expires_in_days"] = [f"From 1 to {MAX_DAYS} days, or null for a token that does not expire."]
    if errors:
        raise ApiError("Some fields are not valid.", code="invalid_fields", status=422, fields=errors)
    # Lock the person's row so two concurrent requests cannot both pass the cap.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    if live_tokens(actor).filter(unexpired).count() >= MAX_LIVE_TOKENS:
        raise ApiError(
            f"You have {MAX_LIVE_TOKENS} working tokens already: revoke one you no longer use first.",
            code="too_many_tokens",
            status=409,
        )
    token = _new_token()
    now = timezone.now()
    row = ApiToken.objects.create(
        user=actor,
        name=name,
        scopes=wanted,
        prefix=token[:SHOWN_PREFIX],
        secret_hash=digest(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    record_event(actor, SecurityEvent.Kind.TOKEN_CREATED, request)
    return row, token


def authenticate(token: str) -> ApiToken:
    """The live token this string is, its person loaded; ApiError 401 otherwise. Notes the day of use."""
    token = token.strip()
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) == TOKEN_LENGTH:
        row = ApiToken.objects.select_related("user").filter(secret_hash=digest(token)).first()
    if row is None or not row.user.is_active:
        raise ApiError("This token is not valid.", code="invalid_token", status=401)
    if row.revoked_at is not None:
        raise ApiError("This token has been revoked.", code="invalid_token", status=401)
    if row.expires_at is not None and row.expires_at <= timezone.now():
        raise ApiError("This token has expired.", code="invalid_token", status=401)
    today = timezone.now().date()
    # At most one write a day per token, and a conditional one, so concurrent requests write once; and
    # only if the write lock is free now (a read must not wait for a writer): if not, a later request
    # of the day records it.
    if row.last_used_on != today and locks.write_if_free(partial(_mark_used, row.pk, today)) is not None:
        row.last_used_on = today
    return row


def _mark_used(pk: uuid.UUID, today: date) -> int:
    return ApiToken.objects.filter(pk=pk).exclude(last_used_on=today).update(last_used_on=today)


@transaction.atomic
def revoke_token(actor: User, token_id: str) -> None:
    """Revoke one of the person's own tokens. Anyone else's, or one that does not exist, is a 404."""
    try:
        pk = uuid.UUID(token_id)
    except ValueError:
        pk = None
    revoked = 0
    if pk is not None:
        revoked = live_tokens(actor).filter(pk=pk).update(revoked_at=timezone.now())
    if not revoked:
        raise ApiError("No such token.", code="not_found", status=404)
