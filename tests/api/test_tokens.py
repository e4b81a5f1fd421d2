"""API tokens: shown once, stored hashed, scoped, dated by the day, expiring, revocable; and the
session's CSRF rule."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.api.models import ApiToken
from candor.kernel.refusal import Code, Refusal
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from tests.api.conftest import Api, assert_error, publish, token_for
from tests.audit_rows import no_rows, only_row

pytestmark = pytest.mark.django_db

NEW_TOKEN = {"name": "laptop", "scopes": ["read", "write"], "expires_in_days": 30}


def test_a_token_is_shown_once_and_stored_only_as_its_hash(owner: User, owner_client: Client) -> None:
    response = Api(client=owner_client).post("/tokens", NEW_TOKEN)
    assert response.status_code == 201
    created = response.json()
    token = created["token"]
    assert token.startswith("cnd_") and len(token) == 44
    assert created["prefix"] == token[:12]
    assert created["scopes"] == ["read", "write"] and created["name"] == "laptop"
    assert created["last_used_on"] is None
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=29, hours=23) < expires - timezone.now() <= timedelta(days=30)

    row = ApiToken.objects.get(pk=created["id"])
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.filter(pk=row.pk).values().get().values()]
    assert not any(token in value or token[12:] in value for value in stored)

    listed = Api(client=owner_client).get("/tokens")
    assert listed.status_code == 200
    assert token.encode() not in listed.content
    (item,) = listed.json()["items"]
    assert "token" not in item and item["id"] == created["id"] and item["prefix"] == token[:12]


def test_a_token_authenticates_and_notes_the_day_only_once_a_day(owner: User) -> None:
    token = token_for(owner)
    api = Api(token)
    assert api.get("/me").json()["username"] == "alice"
    row = ApiToken.objects.get()
    assert row.last_used_on == timezone.now().date()
    assert type(row.last_used_on) is date  # the day, not a moment
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/me").status_code == 200
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]

    ApiToken.objects.update(last_used_on=timezone.now().date() - timedelta(days=3))
    assert api.get("/me").status_code == 200
    assert ApiToken.objects.get().last_used_on == timezone.now().date()


def test_expired_and_revoked_tokens_are_refused(owner: User) -> None:
    token = token_for(owner, expires_in_days=1)
    api = Api(token)
    assert api.get("/me").status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(api.get("/me"), 401, "invalid_token")
    assert "expired" in error["message"]
    # Refused even where anonymous callers are welcome: a bad token is never read as "no token".
    assert_error(api.get("/models"), 401, "invalid_token")

    other = token_for(owner)
    other_id = ApiToken.objects.get(prefix=other[:12]).pk
    assert Api(other).delete(f"/tokens/{other_id}").status_code == 204
    assert "revoked" in assert_error(Api(other).get("/me"), 401, "invalid_token")["message"]
    assert ApiToken.objects.get(pk=other_id).revoked_at is not None


def test_revoking_lists_and_404s(owner: User, member: User) -> None:
    alice, bob = Api(token_for(owner)), Api(token_for(member))
    spare = token_for(owner)
    spare_id = str(ApiToken.objects.get(prefix=spare[:12]).pk)
    bobs_id = str(ApiToken.objects.get(user=member).pk)

    # Someone else's token is a token that does not exist.
    missing = assert_error(alice.delete(f"/tokens/{bobs_id}"), 404, "not_found")
    assert alice.delete("/tokens/8e6f1f0e-0000-4000-8000-000000000000").json()["error"] == missing
    assert alice.delete("/tokens/not-a-uuid").json()["error"] == missing
    assert bob.get("/me").status_code == 200

    assert alice.delete(f"/tokens/{spare_id}").status_code == 204
    assert spare_id not in [item["id"] for item in alice.get("/tokens").json()["items"]]
    assert_error(alice.delete(f"/tokens/{spare_id}"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/models", {"name": "new-model"}),
        ("patch", "/models/alice/kept", {"title": "Changed"}),
        ("delete", "/models/alice/kept", None),
        ("put", "/models/alice/kept/files/w.bin", b"bytes"),
        ("delete", "/models/alice/kept/files/w.bin", None),
        ("patch", "/me", {"profile_visible": False}),
        ("post", "/me/models/visibility", {"visibility": "private"}),
        ("post", "/tokens", NEW_TOKEN),
        ("delete", "/tokens/8e6f1f0e-0000-4000-8000-000000000000", None),
    ],
)
def test_a_read_token_may_not_change_anything(owner: User, method: str, path: str, data: object) -> None:
    publish(owner, "kept")
    api = Api(token_for(owner, "read"))
    response = getattr(api, method)(path, data) if data is not None else getattr(api, method)(path)
    assert_error(response, 403, "insufficient_scope")
    assert api.get("/models/alice/kept").json()["title"] == "Kept"
    assert api.get("/me").status_code == 200


def test_a_write_token_may_create_tokens_and_anonymous_callers_may_not(owner: User) -> None:
    created = Api(token_for(owner, "write")).post("/tokens", {"name": "ci", "scopes": ["read"]})
    assert created.status_code == 201 and created.json()["expires_at"] is None
    assert_error(Api().post("/tokens", NEW_TOKEN), 401, "unauthenticated")
    assert_error(Api().get("/tokens"), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"]}, "scopes.0"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 366}, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": "7"}, "expires_in_days"),
        ({"name": "   ", "scopes": ["read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "admin": True}, "admin"),
    ],
)
def test_token_fields_are_checked(owner: User, data: dict[str, object], field: str) -> None:
    error = assert_error(Api(token_for(owner)).post("/tokens", data), 422, "invalid_fields")
    assert field in error["fields"], error
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("header", ["Bearer cnd_nonsense", "Bearer ", "Basic YWxpY2U6cGFzcw==", "cnd_abc"])
def test_a_malformed_or_unknown_credential_is_a_401(db: None, header: str) -> None:
    response = Client().get("/api/v1/models", headers={"Authorization": header})
    assert_error(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_inactive_persons_tokens_stop_working(owner: User) -> None:
    api = Api(token_for(owner))
    owner.is_active = False
    owner.save()
    assert_error(api.get("/me"), 401, "invalid_token")


def test_the_session_works_and_needs_csrf_for_changes(owner: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get("/api/v1/me").json()["username"] == "alice"
    response = browser.post("/api/v1/tokens", NEW_TOKEN, content_type="application/json")
    assert_error(response, 403, "csrf_failed")

    secret = _get_new_csrf_string()
    browser.cookies[settings.CSRF_COOKIE_NAME] = secret
    response = browser.post(
        "/api/v1/tokens", NEW_TOKEN, content_type="application/json", headers={"X-CSRFToken": secret}
    )
    assert response.status_code == 201


def test_a_bearer_token_needs_no_csrf(owner: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = Api(token_for(owner), client=client).post("/models", {"name": "no-csrf-needed"})
    assert response.status_code == 201


def test_a_token_outranks_the_session(owner: User, member: User) -> None:
    client = Client()
    client.force_login(member)
    assert Api(token_for(owner), client=client).get("/me").json()["username"] == "alice"
    assert_error(Api("cnd_" + "x" * 40, client=client).get("/me"), 401, "invalid_token")


def test_email_change_through_the_api_needs_the_password_and_a_link(owner, mailbox) -> None:
    from candor.accounts.models import User
    from tests.api.conftest import Api, token_for
    from tests.conftest import PASSWORD

    api = Api(token_for(owner, "read", "write"))
    wrong = api.client.post(
        "/api/v1/me/email",
        {"email": "alice.api@example.org", "password": "nope"},
        content_type="application/json",
        headers=api.headers,
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["fields"]["password"]
    bad = api.client.post(
        "/api/v1/me/email",
        {"email": "not@an@address", "password": PASSWORD},
        content_type="application/json",
        headers=api.headers,
    )
    assert bad.status_code == 422
    ok = api.client.post(
        "/api/v1/me/email",
        {"email": "alice.api@example.org", "password": PASSWORD},
        content_type="application/json",
        headers=api.headers,
    )
    assert ok.status_code == 202
    assert User.objects.get(pk=owner.pk).email == "alice@example.org"  # until the link is opened
    link = mailbox.link_to("alice.api@example.org")
    assert "/accounts/verify/" in link
    assert "new email address" in mailbox.body(mailbox.last_to("alice@example.org"))


def test_creating_a_token_writes_one_audit_row_with_its_scope(owner: User, owner_client: Client) -> None:
    response = Api(client=owner_client).post("/tokens", {"name": "alice's laptop", "scopes": ["read"]})
    assert response.status_code == 201
    personal = ["alice", response.json()["token"], response.json()["prefix"], "laptop"]
    row = only_row(EventType.TOKEN_CREATED, acting=owner, subject=owner, personal=personal)
    assert row.extra == {"scope": "read"}


def test_revoking_a_token_writes_one_audit_row(owner: User, member: User) -> None:
    secret = token_for(owner, "read", "write")
    AuditEvent.objects.all().delete()
    token_id = ApiToken.objects.get(user=owner).pk
    assert Api(token_for(member)).delete(f"/tokens/{token_id}").status_code == 404  # not bob's to revoke
    AuditEvent.objects.all().delete()  # bob's own new token's row
    assert Api(secret).delete(f"/tokens/{token_id}").status_code == 204
    row = only_row(EventType.TOKEN_REVOKED, acting=owner, subject=owner, personal=["alice", secret])
    assert row.extra == {"scope": "write"}
    assert_error(Api(token_for(owner)).delete(f"/tokens/{token_id}"), 404, "not_found")
    assert AuditEvent.objects.filter(event_type=EventType.TOKEN_REVOKED).count() == 1


def test_a_refused_token_writes_no_audit_row(owner: User, owner_client: Client) -> None:
    assert_error(
        Api(client=owner_client).post("/tokens", {"name": " ", "scopes": ["read"]}), 422, "invalid_fields"
    )
    with pytest.raises(Refusal) as refused:  # past the schema, the action itself refuses
        create_token(owner, name="  ", scopes=["read", "admin"], acting_user=owner)
    assert refused.value.code is Code.INVALID_FIELDS and set(refused.value.fields) == {"name", "scopes"}
    no_rows()
