"""The API's one error shape, and the handlers that give it to every failure.

Whatever goes wrong under /api/v1/ (a refused action, a validation error from the schema, an unknown
route, a wrong method, a missing token, a limit, a crash) the answer is JSON of one shape, so a client
needs one code path for errors:

    {"error": {"code": "not_found", "message": "No such model.", "fields": {}}}
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from candor.core.objectstore import RETRY_AFTER_SECONDS, StoreUnavailable
from candor.kernel import locks
from candor.kernel.refusal import Code, Refusal

logger = logging.getLogger("candor.api")

# The one table from a refusal's code to the API's HTTP status. Every Code has a row (a test checks it).
STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.INVALID: 400,
    Code.INVALID_FIELDS: 422,
    Code.INVALID_CURSOR: 404,  # a cursor the server did not give names no page
    Code.INVALID_PATH: 400,
    Code.INVALID_NAME: 422,
    Code.INVALID_TAG: 422,
    Code.TOO_MANY_TAGS: 422,
    Code.TOO_LARGE: 413,
    Code.LENGTH_REQUIRED: 411,
    Code.RANGE_NOT_SATISFIABLE: 416,
    Code.UNAUTHENTICATED: 401,
    Code.INVALID_TOKEN: 401,
    Code.INSUFFICIENT_SCOPE: 403,
    Code.FORBIDDEN: 403,
    Code.NOT_STAFF: 403,
    Code.SECOND_FACTOR_REQUIRED: 403,
    Code.NO_AGREEMENT: 403,
    Code.GRANT_INACTIVE: 403,
    Code.OUTSIDE_GRANT: 403,
    Code.WRONG_PASSWORD: 403,
    Code.INVALID_LOGIN: 401,
    Code.EMAIL_UNVERIFIED: 403,
    Code.NOT_CONFIRMED: 422,
    Code.CSRF_FAILED: 403,
    Code.NOT_FOUND: 404,
    Code.CONFLICT: 409,
    Code.USERNAME_TAKEN: 409,
    Code.EMAIL_TAKEN: 409,
    Code.SAME_EMAIL: 409,
    Code.RESERVED: 409,
    Code.ALREADY_VERIFIED: 409,
    Code.TOO_MANY_TOKENS: 409,
    Code.NO_SESSION: 404,
    Code.CURRENT_SESSION: 409,
    Code.BAD_LINK: 400,
    Code.EXPIRED_LINK: 400,
    Code.STALE_LINK: 400,
    Code.USED_LINK: 400,
    Code.EXPORT_PENDING: 409,
    Code.EXPORT_EXPIRED: 410,
    Code.BUDGET_SPENT: 403,
    Code.THROTTLED: 429,
    Code.RATE_LIMITED: 429,
    Code.BUSY: 503,
    Code.DAMAGED: 500,
    Code.STORAGE_UNAVAILABLE: 503,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.SERVER_ERROR: 500,
}

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "too_large",
    416: "range_not_satisfiable",
    422: "invalid_fields",
    429: "rate_limited",
    500: "server_error",
    503: "busy",
}
CONTENT_TYPE = "application/json; charset=utf-8"
NOT_FOUND = "Not found."
# Words for the patterns the schemas use, instead of pydantic's "String should match pattern '…'".
PATTERN_MESSAGES: dict[str, str] = {}


def explain_pattern(pattern: str, message: str) -> str:
    PATTERN_MESSAGES[pattern] = message
    return pattern


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


class ErrorOut(Schema):
    error: ErrorDetail


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message, "fields": fields or {}}}
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _field_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Pydantic's error list as {field: [messages]}. A location is (source, [parameter,] field...)."""
    fields: dict[str, list[str]] = {}
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        source, rest = (location[0], location[1:]) if location else ("body", [])
        if source == "body":
            rest = rest[1:]  # the handler's parameter that holds the body, which a client never sees
        name = ".".join(rest) or source
        message = str(error.get("msg", "Not valid."))
        if error.get("type") == "string_pattern_mismatch":
            message = PATTERN_MESSAGES.get(str(error.get("ctx", {}).get("pattern")), message)
        fields.setdefault(name, []).append(message)
    return fields


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(422, "Some fields are not valid.", fields=_field_errors(exc.errors))


def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401, "Authentication required: send 'Authorization: Bearer <token>', or sign in to the website."
    )


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        return error_response(400, "The request body is not valid JSON.")  # ninja's parser failed
    return error_response(exc.status_code, str(exc))


def refusal_response(exc: Refusal) -> HttpResponse:
    """A refusal in the API's one format, with the status of the one table."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(
        STATUS[exc.code], exc.message, code=exc.code.value, fields=exc.fields, headers=headers
    )


def _refusal(request: HttpRequest, exc: Refusal) -> HttpResponse:
    return refusal_response(exc)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The visibility helper words its 404s to be the same for "private" and "absent"; keep them.
    return error_response(404, str(exc) or NOT_FOUND)


def _forbidden(request: HttpRequest, exc: PermissionError) -> HttpResponse:
    return error_response(403, str(exc) or "You may not do this.")


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(413, "The request body is too large.")


def server_error(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    # The route's pattern, not the path: a path holds usernames and model names.
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None else "?"
    # The exception's class and frames, not its message: a database error's message quotes the values
    # it choked on, which may be someone's email address.
    where = "".join(traceback.format_tb(exc.__traceback__)) if exc is not None else ""
    logger.error("API error on %s %s: %s\n%s", request.method, route, type(exc).__name__, where)
    response = error_response(500, "Something went wrong on our side. Try again later.")
    # Logged above; Django would log it again, with the full path.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def busy_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, for a writer that gave up waiting for the database's lock."""
    seconds = locks.note_busy(request)
    response = error_response(503, locks.BUSY_MESSAGE, code="busy", headers={"Retry-After": str(seconds)})
    response["Cache-Control"] = "no-store"
    # Logged by note_busy without the path; Django would log it again, with it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def store_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, for a request the file store could not serve (nothing was changed)."""
    note_store_unavailable(request)
    response = refusal_response(
        Refusal(Code.STORAGE_UNAVAILABLE, str(StoreUnavailable()), retry_after=RETRY_AFTER_SECONDS)
    )
    response["Cache-Control"] = "no-store"
    # Logged without the path; Django would log it again, with it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def note_store_unavailable(request: HttpRequest) -> None:
    """Log a request answered "storage unavailable": its route's pattern, never the path."""
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None else "?"
    logger.warning("file store unreachable: %s %s answered 503", request.method, route)


def _store_unavailable(request: HttpRequest, exc: StoreUnavailable) -> HttpResponse:
    return store_unavailable_response(request)


def _database_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    if locks.is_lock_timeout(exc):
        return busy_response(request)
    return server_error(request, exc)


def install(api: NinjaAPI) -> None:
    handlers: list[tuple[type[Exception], Any]] = [
        (ValidationError, _validation),
        (AuthenticationError, _unauthenticated),
        (HttpError, _http_error),
        (Refusal, _refusal),
        (Http404, _not_found),
        (PermissionError, _forbidden),
        (RequestDataTooBig, _too_big),
        (OperationalError, _database_error),
        (StoreUnavailable, _store_unavailable),
        (Exception, server_error),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
