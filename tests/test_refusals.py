"""One refusal type, shown by each interface its own way: a page in its form, the API as its one error
body with the status of one table, the command-line client as a line on stderr and an exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.api.errors import STATUS, refusal_response
from candor.hub.models import MLModel
from candor.kernel.forms import show_refusal
from candor.kernel.refusal import Code, Refusal
from tests.api.conftest import Api, assert_error

# --- The table --------------------------------------------------------------------------------------

# What each refusal of accounts, tokens, API authentication and rate limits answered before there was one
# table (each raise site chose its status): the table must keep every one of them.
STATUS_BEFORE = {
    Code.WRONG_PASSWORD: 403,
    Code.SAME_EMAIL: 409,
    Code.NOT_CONFIRMED: 422,
    Code.THROTTLED: 429,
    Code.INVALID_FIELDS: 422,
    Code.TOO_MANY_TOKENS: 409,
    Code.NOT_FOUND: 404,
    Code.INVALID_TOKEN: 401,
    Code.UNAUTHENTICATED: 401,
    Code.INSUFFICIENT_SCOPE: 403,
    Code.CSRF_FAILED: 403,
    Code.RATE_LIMITED: 429,
}


def test_every_code_has_a_status_and_the_old_statuses_are_kept() -> None:
    assert set(STATUS) == set(Code), set(Code) ^ set(STATUS)
    assert all(400 <= status < 600 for status in STATUS.values())
    assert {code: STATUS[code] for code in STATUS_BEFORE} == STATUS_BEFORE


@pytest.mark.parametrize("code", list(Code))
def test_every_code_is_answered_in_the_one_shape_with_its_status(code: Code) -> None:
    response = refusal_response(Refusal(code, "Not now.", field="name"))
    assert response.status_code == STATUS[code]
    assert json.loads(response.content) == {
        "error": {"code": code.value, "message": "Not now.", "fields": {"name": ["Not now."]}}
    }
    # A client that was refused for its credentials is told how to send them.
    assert ("WWW-Authenticate" in response) is (STATUS[code] == 401)


def test_a_refusal_that_says_when_to_come_back_sends_retry_after() -> None:
    response = refusal_response(Refusal(Code.RATE_LIMITED, "Too many requests.", retry_after=17))
    assert response.status_code == 429 and response["Retry-After"] == "17"
    assert "Retry-After" not in refusal_response(Refusal(Code.RATE_LIMITED, "Too many requests."))


# --- Pages: show_refusal ------------------------------------------------------------------------------


class NameForm(forms.Form):
    name = forms.CharField()
    note = forms.CharField(required=False)


def bound_form() -> NameForm:
    form = NameForm({"name": "x", "note": ""})
    assert form.is_valid()
    return form


def test_a_refusal_about_a_field_is_shown_beside_it() -> None:
    form = bound_form()
    show_refusal(form, Refusal(Code.RESERVED, "This name is reserved.", field="name"))
    assert form.errors == {"name": ["This name is reserved."]}


def test_a_refusal_about_no_field_is_shown_above_the_form() -> None:
    form = bound_form()
    show_refusal(form, Refusal(Code.TOO_MANY_TOKENS, "Revoke one first."))
    assert form.non_field_errors() == ["Revoke one first."] and not form.has_error("name")


def test_a_field_the_page_does_not_ask_for_is_shown_above_the_form_not_lost() -> None:
    form = bound_form()
    fields = {"scopes": ["Choose one."], "note": ["Too short."]}
    show_refusal(form, Refusal(Code.INVALID_FIELDS, "Some fields are not valid.", fields=fields))
    assert form.non_field_errors() == ["Choose one."] and form.errors["note"] == ["Too short."]


# --- One refusal end to end in each interface --------------------------------------------------------


@pytest.mark.django_db
def test_a_page_shows_the_refusal_in_its_form(owner_client: Client, owner: User) -> None:
    response = owner_client.post(
        reverse("accounts:email_change"), {"email": "alice.new@example.org", "password": "not-hers"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    # Beside the field at fault, and what was typed is kept.
    assert '<ul class="errorlist" id="id_password_error"><li>The password is not correct.</li></ul>' in page
    assert 'value="alice.new@example.org"' in page


@pytest.mark.django_db
def test_the_api_answers_the_refusal_with_its_code_message_fields_and_status(owner: User) -> None:
    token = create_token(owner, name="t", scopes=["read", "write"], acting_user=owner)[1]
    response = Api(token).post("/me/email", {"email": "alice.new@example.org", "password": "not-hers"})
    error = assert_error(response, 403, "wrong_password")
    assert error == {
        "code": "wrong_password",
        "message": "The password is not correct.",
        "fields": {"password": ["The password is not correct."]},
    }


# Variables of the test process that a user's machine would not have.
SERVER_ONLY = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CANDOR_REDIS_URL",
    "CANDOR_DATA_DIR",
    "CANDOR_TOKEN",
)


@pytest.mark.django_db(transaction=True)
def test_the_cli_prints_the_refusal_and_exits_with_its_code(
    live_server: LiveServer, settings: object, owner: User, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    read_only = create_token(owner, name="cli", scopes=["read"], acting_user=owner)[1]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"weights")
    env = {name: value for name, value in os.environ.items() if name not in SERVER_ONLY}
    env |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env |= {"CANDOR_SERVER": live_server.url, "CANDOR_TOKEN": read_only}
    result = subprocess.run(
        [sys.executable, "-m", "candor", "push", str(folder), "alice/refused"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The API's refusal (insufficient_scope, 403) in the client's words: its message, exit code 1.
    assert result.returncode == 1, result.stderr
    assert (
        "permission denied: This token may only read: create a token with the write scope to make changes."
        in result.stderr
    )
    assert "Traceback" not in result.stderr and read_only not in result.stdout + result.stderr
    assert not MLModel.objects.filter(owner=owner).exists()
