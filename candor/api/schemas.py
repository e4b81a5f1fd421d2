"""What the API's endpoints share: text types that the database can store, and response declarations
that give every error status its schema."""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BeforeValidator

from candor.api.errors import ErrorOut, explain_pattern

# PostgreSQL refuses NUL in text, and neither database takes lone surrogates: both are refused here,
# as invalid fields, before they can reach a query.
NO_NUL = explain_pattern(r"^[^\x00]*$", "NUL characters are not allowed.")
# At least one character that str.strip() keeps (it also strips the separators \x1c-\x1f).
SOME_TEXT = explain_pattern(
    r"^[^\x00]*[^\s\x00\x1c-\x1f][^\x00]*$", "Write at least one visible character, and no NUL characters."
)


def _encodable(value: str) -> str:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("Use valid Unicode text.") from None
    return value


def _whole(value: object) -> object:
    # JSON Schema counts 5.0 as an integer; strict pydantic would not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Encodable = AfterValidator(_encodable)
WholeNumber = BeforeValidator(_whole)

# Statuses any endpoint may answer with: a bad or missing credential, a refused one, a malformed
# request, a limit, an accident.
COMMON_ERRORS = (400, 401, 403, 404, 422, 429, 500)


def responses(ok: dict[int, Any], *errors: int) -> dict[Any, Any]:
    return {**ok, **dict.fromkeys(sorted({*COMMON_ERRORS, *errors}), ErrorOut)}


def openapi(*, optional_auth: bool = False, **extra: Any) -> dict[str, Any]:
    """openapi_extra for an operation: optional credentials, and the Retry-After of its 429s."""
    throttled = {
        "headers": {
            "Retry-After": {
                "description": "Seconds until the rate limit's window ends.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    }
    result: dict[str, Any] = {**extra, "responses": {429: throttled, **extra.get("responses", {})}}
    if optional_auth:
        # OpenAPI's way of saying "credentials are optional": an empty requirement among the others.
        result["security"] = [{}]
    return result
