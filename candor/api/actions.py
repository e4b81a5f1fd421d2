"""Every change to API tokens. The token endpoints, the developer portal's tokens page and the
authentication of each request call these; what cannot be done is refused with a Refusal."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from functools import partial

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from candor.accounts.actions import record_event
from candor.accounts.models import SecurityEvent, User
from candor.api.models import SCOPES, ApiToken
from candor.kernel import locks
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.audit import EventType

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


def _widest_scope(scopes: Sequence[str]) -> str:
    """The scope the audit trail records: what the token could do at most."""
    return "write" if "write" in scopes else "read"


@durable
def create_token(
    owner: User,
    *,
    name: str,
    scopes: Sequence[str],
    expires_in_days: int | None = None,
    request: HttpRequest | None = None,
    acting_user: User,
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
        raise Refusal(Code.INVALID_FIELDS, "Some fields are not valid.", fields=errors)
    # Lock the person's row so two concurrent requests cannot both pass the cap.
    User.objects.select_for_update().filter(pk=owner.pk).first()
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    if live_tokens(owner).filter(unexpired).count() >= MAX_LIVE_TOKENS:
        raise Refusal(
            Code.TOO_MANY_TOKENS,
            f"You have {MAX_LIVE_TOKENS} working tokens already: revoke one you no longer use first.",
        )
    token = _new_token()
    now = timezone.now()
    row = ApiToken.objects.create(
        user=owner,
        name=name,
        scopes=wanted,
        prefix=token[:SHOWN_PREFIX],
        secret_hash=digest(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    record_event(owner, SecurityEvent.Kind.TOKEN_CREATED, request)
    audit.record(
        EventType.TOKEN_CREATED,
        acting_user=acting_user,
        subject=owner,
        extra={"scope": _widest_scope(wanted)},
    )
    return row, token


def authenticate(token: str) -> ApiToken:
    """The live token this string is, its person loaded; Refusal INVALID_TOKEN otherwise. Notes the day of
    use."""
    token = token.strip()
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) == TOKEN_LENGTH:
        row = ApiToken.objects.select_related("user").filter(secret_hash=digest(token)).first()
    if row is None or not row.user.is_active:
        raise Refusal(Code.INVALID_TOKEN, "This token is not valid.")
    if row.revoked_at is not None:
        raise Refusal(Code.INVALID_TOKEN, "This token has been revoked.")
    if row.expires_at is not None and row.expires_at <= timezone.now():
        raise Refusal(Code.INVALID_TOKEN, "This token has expired.")
    today = timezone.now().date()
    # At most one write a day per token, and a conditional one, so concurrent requests write once; and
    # only if the write lock is free now (a read must not wait for a writer): if not, a later request
    # of the day records it.
    if row.last_used_on != today and locks.write_if_free(partial(_mark_used, row.pk, today)) is not None:
        row.last_used_on = today
    return row


def _mark_used(pk: uuid.UUID, today: date) -> int:
    return ApiToken.objects.filter(pk=pk).exclude(last_used_on=today).update(last_used_on=today)


@durable
def revoke_token(owner: User, token_id: str, *, acting_user: User) -> None:
    """Revoke one of the person's own tokens. Anyone else's, or one that does not exist, is NOT_FOUND."""
    try:
        pk = uuid.UUID(token_id)
    except ValueError:
        pk = None
    # Locked, so that two revocations at once write one audit row: the second finds it revoked.
    row = live_tokens(owner).select_for_update().filter(pk=pk).first() if pk is not None else None
    if row is None:
        raise Refusal(Code.NOT_FOUND, "No such token.")
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    audit.record(
        EventType.TOKEN_REVOKED,
        acting_user=acting_user,
        subject=owner,
        extra={"scope": _widest_scope(row.scopes)},
    )
