"""The developer portal: documentation pages and token management for the signed-in person."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.api.actions import digest
from candor.api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_portal_explains_the_api_without_an_account(client: Client) -> None:
    page = client.get("/developers/").content.decode()
    for text in ("What the API is for", "Authentication", "curl", "candor push", "Rate limits", "Errors"):
        assert text in page
    assert client.get("/developers/changelog/").status_code == 200
    assert not client.get("/developers/").cookies


def test_api_reference_is_served_by_candor(client: Client) -> None:
    response = client.get("/developers/api/")
    assert response.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', response.content.decode())
    assert scripts and all(src.startswith("/static/") for src in scripts)
    for src in scripts:
        assert client.get(src).status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src
    assert "'unsafe-inline'" not in client.get("/developers/")["Content-Security-Policy"]


def test_tokens_page_needs_login(client: Client) -> None:
    assert client.get("/developers/tokens/")["Location"].startswith("/login/")


def test_create_shows_the_token_once_and_stores_a_hash(owner_client: Client, owner: User) -> None:
    response = owner_client.post(
        "/developers/tokens/", {"name": "laptop", "scopes": ["read", "write"], "expires_in_days": "30"}
    )
    assert response.status_code == 200
    token = re.search(r'value="(cnd_[^"]+)"', response.content.decode()).group(1)  # type: ignore[union-attr]
    row = ApiToken.objects.get(user=owner)
    assert row.secret_hash == digest(token) and token not in str(ApiToken.objects.values().get())
    assert row.scopes == ["read", "write"] and row.expires_at is not None
    again = owner_client.get("/developers/tokens/").content.decode()
    assert token not in again and row.prefix in again
    api = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 200 and api.json()["username"] == owner.username


def test_bad_input_is_explained_and_kept(owner_client: Client, owner: User) -> None:
    response = owner_client.post("/developers/tokens/", {"name": "ci", "scopes": [], "expires_in_days": "30"})
    assert response.status_code == 400
    assert b"This field is required" in response.content and b'value="ci"' in response.content
    assert not ApiToken.objects.exists()


def test_revoke_own_token_only(owner_client: Client, owner: User, member: User) -> None:
    owner_client.post("/developers/tokens/", {"name": "old", "scopes": ["read"], "expires_in_days": ""})
    row = ApiToken.objects.get(user=owner)
    bob = Client()
    bob.force_login(member)
    bob.post("/developers/tokens/", {"revoke": str(row.pk)})
    row.refresh_from_db()
    assert row.revoked_at is None
    owner_client.post("/developers/tokens/", {"revoke": str(row.pk)})
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert "old" not in owner_client.get("/developers/tokens/").content.decode()
