"""Security headers on every kind of page (clause C18), and cookieless public pages (C11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from candor.accounts.models import User
from tests.conftest import run_candor

pytestmark = pytest.mark.django_db


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_common_headers(response) -> None:
    csp = csp_directives(response["Content-Security-Policy"])
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    # Nothing may be loaded from another origin: every source list is 'self', 'none', a nonce or data:.
    for sources in csp.values():
        assert all(s in ("'self'", "'none'", "data:") or s.startswith("'nonce-") for s in sources)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in (
        "strict-origin-when-cross-origin",
        "same-origin",
        "no-referrer",
        "strict-origin",
    )
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def assert_personal(response) -> None:
    cache_control = {d.strip() for d in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("home", 200),
        ("accounts:signup", 200),
        ("accounts:login", 200),
        ("accounts:password_reset", 200),
        ("privacy", 200),
    ],
)
def test_anonymous_pages(client: Client, name: str, status: int) -> None:
    response = client.get(reverse(name))
    assert response.status_code == status
    assert_common_headers(response)
    if response.cookies:  # a form's CSRF cookie makes the response personal
        assert_personal(response)


@pytest.mark.parametrize(
    "name", ["accounts:settings", "accounts:sessions", "accounts:email_change", "accounts:password_change"]
)
def test_signed_in_pages_are_never_cached(owner_client: Client, name: str) -> None:
    response = owner_client.get(reverse(name))
    assert response.status_code == 200
    assert_common_headers(response)
    assert_personal(response)


def test_signed_in_home_is_personal(owner_client: Client) -> None:
    response = owner_client.get("/")
    assert b"alice" in response.content
    assert_personal(response)


def test_public_home_sets_no_cookie_and_stays_cacheable(client: Client) -> None:
    response = client.get("/")
    assert not response.cookies
    assert "private" not in response.get("Cache-Control", "")


def test_not_found_page(client: Client) -> None:
    response = client.get("/no/such/page/here/")
    assert response.status_code == 404
    assert b"Not found" in response.content
    assert_common_headers(response)


def test_error_page(settings, owner: User) -> None:
    settings.ROOT_URLCONF = "tests.urls_boom"
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert (
        "Something went wrong" in body and settings.PLATFORM_NAME in body and settings.CONTACT_EMAIL in body
    )
    assert "deliberate failure" not in body and "alice" not in body
    assert_common_headers(response)
    assert_personal(response)


def test_static_asset(client: Client) -> None:
    response = client.get("/static/candor/site.css")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_footer_names_platform_policy_and_contact(client: Client, settings) -> None:
    settings.PLATFORM_NAME = "Modelhaus"
    settings.CONTACT_EMAIL = "privacy@modelhaus.example"
    for url in ("/", reverse("accounts:login"), "/no/such/page/"):
        body = client.get(url).content.decode()
        assert "Modelhaus" in body and "privacy@modelhaus.example" in body and 'href="/privacy/"' in body


def test_pages_request_nothing_from_another_origin(client: Client, owner_client: Client) -> None:
    import re

    for c, url in (
        (client, "/"),
        (client, reverse("accounts:signup")),
        (owner_client, reverse("accounts:settings")),
    ):
        body = c.get(url).content.decode()
        for attr in re.findall(r'(?:src|href)="([^"]+)"', body):
            assert (
                not attr.startswith(("http://", "https://", "//"))
                or attr.startswith("http://127.0.0.1:8000")
                or attr.startswith("mailto:")
            ), attr


PRODUCTION_ENV = {
    "CANDOR_PRODUCTION": "1",
    "CANDOR_WEBSITE_URL": "https://models.example.org",
    "CANDOR_EMAIL_URL": "smtp://mailer:secret@mail.example.org:587?starttls",
    "CANDOR_SECRET_KEY": "k" * 20 + "-production-secret-key-for-the-test-suite-0123456789",
    "CANDOR_MASTER_KEYS": "prod1:" + "A" * 43,
    "CANDOR_BLIND_INDEX_KEY": "B" * 43,
    "CANDOR_LOG_SIGNING_KEY": "C" * 43,
}


def test_check_deploy_is_silent_with_production_settings(tmp_path: Path) -> None:
    result = run_candor(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_headers_and_cookies(tmp_path: Path) -> None:
    script = """
import json
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client(HTTP_HOST="models.example.org")
out = {}
for path in ("/", "/login/"):
    r = client.get(path, secure=True)
    cookies = {k: dict(v) | {"secure": v["secure"], "httponly": v["httponly"]} for k, v in r.cookies.items()}
    out[path] = {"headers": dict(r.headers), "cookies": cookies}
plain = client.get("/", secure=False)
out["redirect"] = [plain.status_code, plain.headers.get("Location")]
print(json.dumps(out))
"""
    collected = run_candor(["collectstatic", "--noinput", "-v0"], tmp_path, PRODUCTION_ENV)
    assert collected.returncode == 0, collected.stderr
    migrated = run_candor(["migrate", "-v0"], tmp_path, PRODUCTION_ENV)  # the home page lists popular models
    assert migrated.returncode == 0, migrated.stderr
    result = run_candor(["shell", "-c", script], tmp_path, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    home = out["/"]["headers"]
    hsts = home["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600 and "includeSubDomains" in hsts
    login = out["/login/"]
    assert login["cookies"], "the log-in form sets its CSRF cookie"
    for name, cookie in login["cookies"].items():
        assert name.startswith("__Host-")
        assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert {"private", "no-store"} <= {d.strip() for d in login["headers"]["Cache-Control"].split(",")}
    assert out["redirect"] == [301, "https://models.example.org/"]
