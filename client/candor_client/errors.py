"""How a command fails: :class:`ClientError`, the exit codes, and the server's refusals in words.

Every refusal of the server's API has one shape, ``{"error": {"code", "message", "fields"}}``. The code
decides the exit code through :data:`EXIT_CODES`, the client's one table (keyed by the code strings: the
client imports nothing of the server); the HTTP status decides the words around the server's message.
Nothing here does I/O, so all of it is tested without a server.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from candor_client.output import shown

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_LATER = 5

# What each exit code means, for `candor --help` and the README.
EXIT_MEANINGS: dict[int, str] = {
    EXIT_OK: "done",
    EXIT_ERROR: "failed",
    EXIT_USAGE: "bad arguments",
    EXIT_UNREACHABLE: "server unreachable",
    EXIT_AUTH: "not logged in or token rejected",
    EXIT_LATER: "too many requests or server busy: try again later",
}

# The server's refusal codes and the exit code each ends the command with. Every code the server has
# today is listed, so that adding one there is a decision here too (a test compares the two lists);
# a code this client does not know yet gets the exit code of its HTTP status, else DEFAULT_EXIT.
EXIT_CODES: dict[str, int] = {
    # Input
    "bad_request": EXIT_ERROR,
    "invalid": EXIT_ERROR,
    "invalid_fields": EXIT_ERROR,
    "invalid_cursor": EXIT_ERROR,
    "invalid_path": EXIT_ERROR,
    "invalid_name": EXIT_ERROR,
    "invalid_tag": EXIT_ERROR,
    "too_many_tags": EXIT_ERROR,
    "too_large": EXIT_ERROR,
    "length_required": EXIT_ERROR,
    "range_not_satisfiable": EXIT_ERROR,
    # Who is asking: only a missing or refused token is fixed by `candor login`
    "unauthenticated": EXIT_AUTH,
    "invalid_token": EXIT_AUTH,
    "invalid_login": EXIT_AUTH,
    "insufficient_scope": EXIT_ERROR,
    "forbidden": EXIT_ERROR,
    "not_staff": EXIT_ERROR,
    "second_factor_required": EXIT_ERROR,
    "no_agreement": EXIT_ERROR,
    "grant_inactive": EXIT_ERROR,
    "outside_grant": EXIT_ERROR,
    "wrong_password": EXIT_ERROR,
    "email_unverified": EXIT_ERROR,
    "not_confirmed": EXIT_ERROR,
    "csrf_failed": EXIT_ERROR,
    # What is asked about
    "not_found": EXIT_ERROR,
    "conflict": EXIT_ERROR,
    "username_taken": EXIT_ERROR,
    "email_taken": EXIT_ERROR,
    "same_email": EXIT_ERROR,
    "reserved": EXIT_ERROR,
    "already_verified": EXIT_ERROR,
    "too_many_tokens": EXIT_ERROR,
    "no_session": EXIT_ERROR,
    "current_session": EXIT_ERROR,
    # Links sent by email
    "bad_link": EXIT_ERROR,
    "expired_link": EXIT_ERROR,
    "stale_link": EXIT_ERROR,
    "used_link": EXIT_ERROR,
    # Exports and reports
    "export_pending": EXIT_ERROR,
    "export_expired": EXIT_ERROR,
    "budget_spent": EXIT_ERROR,
    # Limits and load: the same command may succeed later, so a script can tell these apart
    "throttled": EXIT_LATER,
    "rate_limited": EXIT_LATER,
    "busy": EXIT_LATER,
    "damaged": EXIT_ERROR,
    "storage_unavailable": EXIT_LATER,
    # Transport-level answers
    "method_not_allowed": EXIT_ERROR,
    "server_error": EXIT_ERROR,
}
DEFAULT_EXIT = EXIT_ERROR

# The code an answer without one (a proxy's page, an older server) stands for, where its exit code is
# not the default.
STATUS_CODES: dict[int, str] = {401: "unauthenticated", 429: "rate_limited", 503: "busy"}


def exit_code_for(code: str | None, status: int | None = None) -> int:
    """The exit code of a refusal with this code (and HTTP status, for codes this client lacks)."""
    if code in EXIT_CODES:
        return EXIT_CODES[code]
    fallback = STATUS_CODES.get(status) if status is not None else None
    return EXIT_CODES[fallback] if fallback is not None else DEFAULT_EXIT


def exit_codes_help(width: int = 105) -> str:
    """``exit codes: 0 done, 1 failed, …``, wrapped to the width of the rest of ``--help``."""
    items = [f"{code} {meaning}" for code, meaning in EXIT_MEANINGS.items()]
    lines = ["exit codes:"]
    for number, item in enumerate(items):
        piece = item + ("," if number < len(items) - 1 else "")
        # A code is never parted from its meaning: a line breaks only between two of them.
        if len(lines[-1]) + 1 + len(piece) > width:
            lines.append(" ")
        lines[-1] += " " + piece
    return "\n".join(lines)


class ClientError(Exception):
    """An expected failure: a one-line message for stderr and the exit code that goes with it."""

    def __init__(
        self,
        message: str,
        exit_code: int = EXIT_ERROR,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: Mapping[object, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status  # the HTTP status that caused it, if any
        self.code = code  # the server's refusal code, if it gave one
        self.fields = dict(fields or {})  # the server's field errors, if it gave any


def retry_after(header: str | None, now: float | None = None) -> str:
    """Retry-After (seconds or an HTTP date) as words."""
    if not header:
        return "later"
    header = header.strip()
    if header.isdigit():
        seconds = int(header)
    else:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return "later"
        seconds = max(0, int(when.timestamp() - (time.time() if now is None else now)))
    if seconds < 120:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    return f"in {round(seconds / 60)} minutes"


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _parse(body: object) -> tuple[str | None, str, dict[object, object]]:
    """The code, message and field errors of an error answer's JSON, whatever its shape."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code")
        raw_fields = error.get("fields") or {}
        return (
            code if isinstance(code, str) else None,
            shown(error.get("message") or ""),
            raw_fields if isinstance(raw_fields, dict) else {},
        )
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return None, shown(body["detail"]), {}
    return None, "", {}


def explained(message: str, fields: Mapping[object, object]) -> str:
    """The server's message, then each field's errors: ``Message — name: what is wrong``."""
    problems = "; ".join(
        f"{shown(name, 60)}: {' '.join(shown(m, 200) for m in _as_list(messages))}"
        for name, messages in fields.items()
    )
    return " — ".join(part for part in (message, problems) if part)


def refused(
    status: int,
    body: object,
    *,
    server: str,
    origin: str | None,
    not_found: str | None = None,
    retry_header: str | None = None,
    location: str | None = None,
) -> ClientError:
    """The error a command ends in when the server answered ``status`` with ``body`` (decoded JSON, or
    None). ``origin`` is where the token came from ("env", "config", "login", or None for no token): a
    refused token is explained in terms of what to fix there. ``not_found`` words a 404 the caller
    expected (the same for "hidden" and "absent")."""
    code, message, fields = _parse(body)
    exit_code = exit_code_for(code, status)
    words = explained(message, fields)
    detail = f": {words}" if words else ""

    def error(text: str) -> ClientError:
        return ClientError(text, exit_code, status=status, code=code, fields=fields)

    if status == 401:
        if origin == "login":
            return error("the server rejected this token (mistyped, expired or revoked?)")
        if origin is None:
            return error(f"not logged in to {server}: run `candor login` (or set CANDOR_TOKEN)")
        if origin == "env":
            return error(
                "the server rejected the token in CANDOR_TOKEN (expired or revoked?): set another, "
                "or unset it and run `candor login`"
            )
        return error(f"your token for {server} was rejected (expired or revoked?): run `candor login`")
    if status == 403:
        return error(f"permission denied{detail}")
    if status == 404:
        return error(not_found or f"not found{detail}")
    if status == 409:
        return error(f"conflict{detail}")
    if status == 413:
        return error(f"too large for the server{detail}")
    if status in (400, 422):
        return error(f"the server refused the request: {words or f'status {status}'}")
    if status == 429:
        return error(f"too many requests: retry {retry_after(retry_header)}")
    if 300 <= status < 400:
        return error(
            f"the server redirected to {shown(location or 'elsewhere', 200)}: give that address with --server"
        )
    if status >= 500:
        return error(f"the server failed (status {status}){detail or ': try again later'}")
    return error(f"unexpected answer from the server (status {status}){detail}")
