"""Every failure under /api/v1/ answers in one JSON shape with the right status; and the schema says so."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.hub import visibility
from tests.api.conftest import Api, assert_error, publish, token_for
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_400_malformed_json(alice: Api) -> None:
    response = alice.client.post(
        "/api/v1/models", "{not json", content_type="application/json", headers=alice.headers
    )
    assert_error(response, 400, "bad_request")


def test_401_without_credentials(anonymous: Api) -> None:
    response = anonymous.post("/models", {"name": "x"})
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_403_forbidden_where_the_caller_knows_the_model(owner: User, bob: Api) -> None:
    publish(owner, "pub")
    assert_error(bob.delete("/models/alice/pub"), 403, "forbidden")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/nothing-here", "/models/alice/x/y/z", "/", "/docs", "/models/"])
def test_404_unknown_routes(db: None, method: str, path: str) -> None:
    # No CSRF refusal and no HTML page: unknown is unknown, whatever the method.
    response = Client(enforce_csrf_checks=True).generic(method, "/api/v1" + path)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/models", {"GET", "POST"}),
        ("POST", "/models/alice/m", {"GET", "PATCH", "DELETE"}),
        ("PATCH", "/models/alice/m/files", {"GET"}),
        ("POST", "/me", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/tokens", {"GET", "POST"}),
        ("POST", "/openapi.json", {"GET", "HEAD"}),
    ],
)
def test_405_with_allow(alice: Api, method: str, path: str, allowed: set[str]) -> None:
    response = alice.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response["Allow"].split(",")} == allowed


def test_409_conflict(owner: User, alice: Api) -> None:
    publish(owner, "taken")
    assert_error(alice.post("/models", {"name": "taken"}), 409, "conflict")


def test_413_too_large(owner: User, alice: Api, settings: Any) -> None:
    publish(owner, "m")
    settings.MAX_UPLOAD_BYTES = 10
    assert_error(alice.put("/models/alice/m/files/w.bin", b"x" * 11), 413, "too_large")


def test_413_json_body_over_djangos_cap(alice: Api) -> None:
    huge = {"name": "m", "card": "x" * (3 * 1024 * 1024)}
    assert_error(alice.post("/models", huge), 413, "too_large")


def test_422_fields_are_named(alice: Api) -> None:
    error = assert_error(
        alice.post("/models", {"name": "ok", "license": "WTFPL", "tags": "x"}), 422, "invalid_fields"
    )
    assert set(error["fields"]) == {"license", "tags"}
    error = assert_error(alice.get("/models", limit="many"), 422, "invalid_fields")
    assert set(error["fields"]) == {"limit"}
    error = assert_error(alice.post("/models", [1, 2]), 422, "invalid_fields")
    assert error["fields"]


def test_429_too_many(settings: Any, anonymous: Api) -> None:
    settings.API_ANON_RATE_PER_MINUTE = 1
    anonymous.get("/models")
    response = anonymous.get("/models")
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1


def test_500_is_json_and_logs_no_path(
    owner: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a message quoting carol@example.org".upper())

    monkeypatch.setattr(visibility, "get_model", broken)
    with caplog.at_level(logging.INFO):
        response = Api(token_for(owner)).get("/models/alice/secret-project")
    error = assert_error(response, 500, "server_error")
    assert "CAROL" not in error["message"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "API error on GET api/v1/models/<owner>/<name>: RuntimeError" in logged
    assert "secret-project" not in logged and "alice" not in logged and "CAROL@EXAMPLE.ORG" not in logged


def test_the_schema_declares_bearer_auth_and_an_error_body_for_every_error(db: None) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["version"] == "1.5.0"
    assert schema["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "cnd_ token",
        "description": schema["components"]["securitySchemes"]["BearerAuth"]["description"],
    }
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    # models and files 9 (HEAD of a file among them), me and tokens 10, privacy inventory 1, exports 3,
    # popular and trending 2, a model's stats 1, trends 1, revisions 11 (blobs, commits 3, files at a
    # revision 3, history, refs, tags 2), the accesses to my data 1, my emails and email preferences 3,
    # my notices and dismissing one 2
    assert len(operations) == 44
    for path, method, operation in operations:
        assert {"BearerAuth": []} in operation["security"], (path, method)
        statuses = {int(status) for status in operation["responses"]}
        assert {401, 404, 422, 429, 500} <= statuses, (path, method)
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == error_ref, (path, method, status)
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        anonymous_allowed = {} in operation["security"]
        owners_only = path.startswith(("/api/v1/me", "/api/v1/tokens")) or path.endswith("/stats")
        assert anonymous_allowed == (method in ("get", "head") and not owners_only)


def test_no_docs_page(db: None) -> None:
    assert_error(Client().get("/api/v1/docs"), 404)


def test_the_account_endpoints_refusals_keep_their_statuses_and_fields(
    owner: User, alice: Api, settings: Any
) -> None:
    change = "/me/email"
    wrong = assert_error(
        alice.post(change, {"email": "a2@example.org", "password": "nope"}), 403, "wrong_password"
    )
    assert wrong["fields"] == {"password": ["The password is not correct."]}
    same = assert_error(alice.post(change, {"email": owner.email, "password": PASSWORD}), 409, "same_email")
    assert same["fields"] == {"email": ["This is already your address."]}
    unconfirmed = alice.client.delete(
        "/api/v1/me",
        {"password": PASSWORD, "confirm": "bob"},
        content_type="application/json",
        headers=alice.headers,
    )
    assert list(assert_error(unconfirmed, 422, "not_confirmed")["fields"]) == ["confirm"]
    assert User.objects.filter(pk=owner.pk).exists()

    settings.LOGIN_FAILURES_PER_ACCOUNT = 2  # the wrong password above was one
    assert_error(alice.post(change, {"email": "a2@example.org", "password": "nope"}), 403, "wrong_password")
    response = alice.post(change, {"email": "a2@example.org", "password": PASSWORD})
    throttled = assert_error(response, 429, "throttled")
    assert list(throttled["fields"]) == ["password"] and "Too many failed attempts" in throttled["message"]
    assert response["Retry-After"] == str(settings.LOGIN_FAILURE_WINDOW_SECONDS)
