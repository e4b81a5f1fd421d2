"""The one way domain code says no: :class:`Refusal`, with a code from :class:`Code`.

An action, a query or an orchestrator that cannot do what it was asked raises ``Refusal(code, message)``:
the code is stable (clients branch on it), the message is written for the person who asked and never
holds anyone's personal data, and ``fields`` names the inputs at fault. Each entry point renders it its
own way through one table of its own: the API as its JSON error with the status of
``candor.api.errors.STATUS``, a page as the form's errors, the CLI as its message and exit code. Domain
code knows nothing of HTTP: no status lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum


class Code(StrEnum):
    """Every reason Candor refuses something. The values are part of the API: never rename one."""

    # Input
    BAD_REQUEST = "bad_request"
    INVALID = "invalid"
    INVALID_FIELDS = "invalid_fields"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_PATH = "invalid_path"
    INVALID_NAME = "invalid_name"
    INVALID_TAG = "invalid_tag"
    TOO_MANY_TAGS = "too_many_tags"
    TOO_LARGE = "too_large"
    LENGTH_REQUIRED = "length_required"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    # Who is asking
    UNAUTHENTICATED = "unauthenticated"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - a code, not a secret
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    NOT_STAFF = "not_staff"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    NO_AGREEMENT = "no_agreement"
    GRANT_INACTIVE = "grant_inactive"
    OUTSIDE_GRANT = "outside_grant"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a code, not a secret
    INVALID_LOGIN = "invalid_login"
    EMAIL_UNVERIFIED = "email_unverified"
    NOT_CONFIRMED = "not_confirmed"
    CSRF_FAILED = "csrf_failed"
    # What is asked about
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    USERNAME_TAKEN = "username_taken"
    EMAIL_TAKEN = "email_taken"
    SAME_EMAIL = "same_email"
    RESERVED = "reserved"
    ALREADY_VERIFIED = "already_verified"
    TOO_MANY_TOKENS = "too_many_tokens"
    NO_SESSION = "no_session"
    CURRENT_SESSION = "current_session"
    # Links sent by email
    BAD_LINK = "bad_link"
    EXPIRED_LINK = "expired_link"
    STALE_LINK = "stale_link"
    USED_LINK = "used_link"
    # Exports and reports
    EXPORT_PENDING = "export_pending"
    EXPORT_EXPIRED = "export_expired"
    BUDGET_SPENT = "budget_spent"
    # Limits and load
    THROTTLED = "throttled"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"
    # What is stored
    DAMAGED = "damaged"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    # Transport-level answers, raised only by entry points
    METHOD_NOT_ALLOWED = "method_not_allowed"
    SERVER_ERROR = "server_error"


class Refusal(Exception):
    """A request that cannot be carried out, and why.

    ``fields`` maps an input's name to what is wrong with it; ``field`` is a short way to name one.
    ``retry_after`` is the number of seconds after which asking again may succeed (limits, a busy
    database); the entry point decides how to say it.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        field: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message
        merged: dict[str, list[str]] = {name: list(messages) for name, messages in (fields or {}).items()}
        if field is not None:
            merged.setdefault(field, []).append(message)
        self.fields = merged
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        """The one input at fault, when there is exactly one."""
        return next(iter(self.fields)) if len(self.fields) == 1 else None

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Refusal({self.code.value!r}, {self.message!r})"
