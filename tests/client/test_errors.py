"""The client's refusal table and the words a refused request ends in: no server, no network."""

from __future__ import annotations

import email.utils

import pytest
from candor_client.errors import (
    DEFAULT_EXIT,
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_LATER,
    EXIT_MEANINGS,
    exit_code_for,
    exit_codes_help,
    refused,
    retry_after,
)

from candor.kernel.refusal import Code

SERVER = "https://models.example.org"


def body(code: str, message: str = "", fields: dict[str, list[str]] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def test_every_code_of_the_server_has_an_exit_code() -> None:
    # The client keeps its own copy of the code strings (it imports nothing of the server): a code
    # added to the server must be given its exit code here, and none may linger after being removed.
    assert set(EXIT_CODES) == {code.value for code in Code}
    assert set(EXIT_CODES.values()) <= set(EXIT_MEANINGS)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("invalid_token", 401, EXIT_AUTH),
        ("unauthenticated", 401, EXIT_AUTH),
        ("rate_limited", 429, EXIT_LATER),
        ("busy", 503, EXIT_LATER),
        ("storage_unavailable", 503, EXIT_LATER),
        ("insufficient_scope", 403, EXIT_ERROR),
        ("not_found", 404, EXIT_ERROR),
        # A code this client does not know yet: its status decides, else the default.
        ("a_code_from_a_newer_server", 401, EXIT_AUTH),
        ("a_code_from_a_newer_server", 418, DEFAULT_EXIT),
        # No code at all (a proxy's page): the status alone.
        (None, 429, EXIT_LATER),
        (None, 500, DEFAULT_EXIT),
        (None, None, DEFAULT_EXIT),
    ],
)
def test_exit_code_for(code: str | None, status: int | None, expected: int) -> None:
    assert exit_code_for(code, status) == expected


def test_the_help_lists_every_exit_code() -> None:
    assert all(len(line) <= 105 for line in exit_codes_help().splitlines())
    line = " ".join(exit_codes_help().split())
    assert line.startswith("exit codes: 0 done, 1 failed, 2 bad arguments, 3 server unreachable, ")
    assert all(f"{code} {meaning}" in line for code, meaning in EXIT_MEANINGS.items())


def test_the_servers_message_and_field_errors_are_shown_with_the_codes_exit_code() -> None:
    error = refused(
        422,
        body("invalid_fields", "Some fields are not valid.", {"name": ["Long.", "Odd."], "tags": ["Bad."]}),
        server=SERVER,
        origin="env",
    )
    assert str(error) == (
        "the server refused the request: Some fields are not valid. — name: Long. Odd.; tags: Bad."
    )
    assert (error.exit_code, error.status, error.code) == (EXIT_ERROR, 422, "invalid_fields")


@pytest.mark.parametrize(
    ("status", "answer", "words"),
    [
        (403, body("insufficient_scope", "This token may only read."), "permission denied: This token may"),
        (404, body("not_found", "Not found."), "not found: Not found."),
        (409, body("conflict", "You already have it."), "conflict: You already have it."),
        (413, body("too_large", "Over the limit."), "too large for the server: Over the limit."),
        (400, None, "the server refused the request: status 400"),
        (500, None, "the server failed (status 500): try again later"),
        (503, body("busy", "The database is busy."), "the server failed (status 503): The database is busy."),
        (418, {"detail": "I am a teapot"}, "unexpected answer from the server (status 418): I am a teapot"),
    ],
)
def test_each_status_has_its_words(status: int, answer: object, words: str) -> None:
    assert str(refused(status, answer, server=SERVER, origin="config")).startswith(words)


def test_a_field_error_is_shown_on_any_status() -> None:
    answer = body("username_taken", "That name is taken.", {"username": ["That name is taken."]})
    assert str(refused(409, answer, server=SERVER, origin="config")) == (
        "conflict: That name is taken. — username: That name is taken."
    )


def test_an_expected_404_has_the_callers_words() -> None:
    answer = body("not_found", "Not found.")
    error = refused(404, answer, server=SERVER, origin=None, not_found="no model a/b")
    assert str(error) == "no model a/b" and error.exit_code == EXIT_ERROR


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        ("login", "the server rejected this token"),
        (None, f"not logged in to {SERVER}: run `candor login`"),
        ("env", "the server rejected the token in CANDOR_TOKEN"),
        ("config", f"your token for {SERVER} was rejected"),
    ],
)
def test_a_refused_token_says_what_to_fix_where_it_came_from(origin: str | None, words: str) -> None:
    error = refused(401, body("invalid_token", "This token has expired."), server=SERVER, origin=origin)
    assert str(error).startswith(words) and error.exit_code == EXIT_AUTH


def test_a_limit_says_when_to_retry_and_exits_later() -> None:
    error = refused(429, body("rate_limited", "Slow down."), server=SERVER, origin="env", retry_header="42")
    assert str(error) == "too many requests: retry in 42 seconds" and error.exit_code == EXIT_LATER


def test_a_redirect_names_the_address_to_use() -> None:
    error = refused(301, None, server=SERVER, origin="env", location="https://b.example/\x1b[2J")
    where = "https://b.example/\\x1b[2J"
    assert str(error) == f"the server redirected to {where}: give that address with --server"


def test_odd_error_bodies_do_not_crash() -> None:
    for answer in ([], "text", {"error": "flat"}, {"error": {"message": 3, "fields": ["x"], "code": 7}}):
        error = refused(400, answer, server=SERVER, origin="env")
        assert str(error).startswith("the server refused the request") and error.exit_code == EXIT_ERROR


def test_control_characters_from_the_server_are_not_printed() -> None:
    answer = body("forbidden", "No\x1b]0;pwned\x07.", {"a\nb": ["c\rd"]})
    text = str(refused(403, answer, server=SERVER, origin="env"))
    assert all(c.isprintable() for c in text) and "\\x1b" in text


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("1") == "in 1 second" and retry_after("119") == "in 119 seconds"
    assert retry_after("600") == "in 10 minutes" and retry_after(None) == "later"
    now = 1_800_000_000.0
    assert retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == "in 90 seconds"
    assert retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == "in 0 seconds"
    assert retry_after("not a date") == "later"
