"""C14 and C9: every path that could give one person's data to someone else, or many people's data at
once, is listed here with the reason it does not, or with the way it passes the gate.

Every URL pattern of the resolver, every operation of API v1 and every management command (with its
sub-commands) must be in a table below, or the test fails by name: a new page, endpoint or command is
classified before it ships. What a table says is held by the code, not only by this file: the
decryption rule (candor.privacy.crypto, tests/privacy/test_reveal_rule.py) fails any request that
decrypts another person's value outside the gate or what its owner published, and the route walker
(tests/test_routes.py) requests every route as every persona with that rule on.

The only paths allowed to give a person's data out in bulk are the person's own export
(candor.lifecycle.export), the staff gate's pages (URL names staff:…, through candor.staff.gate.reveal),
and the legal disclosure package and platform transfer, not built yet (ALLOWED_BULK_NAMES).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.sites import AdminSite
from django.core.management import get_commands, load_command_class
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from candor.accounts import actions as account_actions
from candor.accounts.models import SecurityEvent, User
from candor.api import actions as token_actions
from candor.kernel.refusal import Code, Refusal
from candor.staff import actions as staff_actions
from candor.staff.choices import ONLY_FOR, Purpose
from tests.conftest import PASSWORD, make_user
from tests.routes_walk import openapi_path, router_operations
from tests.staff.factory import make_staff

# How a path may answer someone who is not the person whose data it holds.
NOTHING = "nothing personal: a static page, a form, a redirect or an aggregate of counts (C7)"
OWN = "only the signed-in person's (or the token owner's) own data"
PUBLISHED = "what owners published (public or unlisted models, shown profiles), handed by hub.visibility"
OWNER_WRITES = "a change by the model's owner only (visibility.can_edit); the answer shows only their own"
EXPORT = "the person's own export (candor.lifecycle.export): all of one person's data, to that person"
GATE = "the staff app: console pages reveal only through candor.staff.gate.reveal and its log"
PLATFORM = "the platform's own work on stored rows: decrypts nothing for anyone, or writes only"

# The only names that may give a person's data out in bulk. The last two are not built yet.
ALLOWED_BULK_NAMES = ("own export", "staff gate", "legal disclosure package", "platform transfer")
BULK = {EXPORT: "own export", GATE: "staff gate"}

ROUTES: dict[str, str] = {
    "": NOTHING,  # the home page: the public projection's listings
    "-/bare/": NOTHING,
    "<name:username>/": PUBLISHED,  # visibility.get_profile, then the profile's public models
    "<name:username>/<name:name>/": PUBLISHED,
    "<name:username>/<name:name>/commit/<str:oid>/": PUBLISHED,
    "<name:username>/<name:name>/commits/": PUBLISHED,
    "<name:username>/<name:name>/files/<path:path>": PUBLISHED,
    "<name:username>/<name:name>/resolve/<str:revision>/<path:path>": PUBLISHED,
    "<str:username>/<str:name>/stats.csv": PUBLISHED,  # counts of a model the viewer may read
    "<name:username>/<name:name>/delete/": OWNER_WRITES,
    "<name:username>/<name:name>/edit/": OWNER_WRITES,
    "<name:username>/<name:name>/files-delete/": OWNER_WRITES,
    "<name:username>/<name:name>/remove-from-history/": OWNER_WRITES,
    "<name:username>/<name:name>/upload/": OWNER_WRITES,
    "<name:username>/<name:name>/visibility/": OWNER_WRITES,
    # Git LFS and the Hugging Face protocol: reads through hub.visibility, writes by the owner's token.
    "<str:owner>/<str:name>.git/info/lfs/objects/batch": PUBLISHED,
    "<str:owner>/<str:name>.git/info/lfs/objects/verify": OWNER_WRITES,
    "lfs/upload/<str:key>": OWNER_WRITES,
    "api/models": PUBLISHED,
    "api/models/<str:owner>/<str:name>": PUBLISHED,
    "api/models/<str:owner>/<str:name>/commits/<path:revision>": PUBLISHED,
    "api/models/<str:owner>/<str:name>/paths-info/<path:revision>": PUBLISHED,
    "api/models/<str:owner>/<str:name>/refs": PUBLISHED,
    "api/models/<str:owner>/<str:name>/revision/<path:revision>": PUBLISHED,
    "api/models/<str:owner>/<str:name>/tree/<path:revision>": PUBLISHED,
    "api/models/<str:owner>/<str:name>/branch/<path:branch>": OWNER_WRITES,
    "api/models/<str:owner>/<str:name>/commit/<path:revision>": OWNER_WRITES,
    "api/models/<str:owner>/<str:name>/preupload/<path:revision>": OWNER_WRITES,
    "api/models/<str:owner>/<str:name>/settings": OWNER_WRITES,
    "api/models/<str:owner>/<str:name>/tag/<path:tag>": OWNER_WRITES,
    "api/models/<str:owner>/<str:name>/xet-write-token/<path:revision>": OWNER_WRITES,
    "api/repos/create": OWNER_WRITES,
    "api/repos/delete": OWNER_WRITES,
    "api/validate-yaml": NOTHING,
    "api/whoami-v2": OWN,
    "xet/cas/v1/chunks/<str:prefix>/<str:digest>": OWNER_WRITES,  # the Xet token's owner's own chunks
    "xet/cas/v1/shards": OWNER_WRITES,
    "xet/cas/v1/telemetry": NOTHING,
    "xet/cas/v1/xorbs/<str:prefix>/<str:digest>": OWNER_WRITES,
    "xet/cas/v2/shards": OWNER_WRITES,
    "accounts/password-reset/": NOTHING,  # the same answer whether or not the address has an account
    "accounts/password-reset/<uidb64>/<token>/": OWN,
    "accounts/password-reset/done/": NOTHING,
    "accounts/password-reset/sent/": NOTHING,
    "accounts/verify/<str:public_id>/<str:token>/": OWN,
    "api/v1/": NOTHING,
    "api/v1/openapi.json": NOTHING,
    "developers/": NOTHING,
    "developers/api/": NOTHING,
    "developers/changelog/": NOTHING,
    "developers/tokens/": OWN,
    "login/": NOTHING,
    "logout/": OWN,
    "signup/": NOTHING,
    "models/": PUBLISHED,  # the public projection only (visibility.listed_models)
    "models/feed.atom": PUBLISHED,
    "models/new/": OWNER_WRITES,
    "models/popular.csv": PUBLISHED,
    "models/popular/": PUBLISHED,
    "models/trending.csv": PUBLISHED,
    "models/trending/": PUBLISHED,
    "privacy/": NOTHING,
    "privacy/data/": NOTHING,  # the inventory: fields and reasons, no values
    "robots.txt": NOTHING,
    "sitemap.xml": PUBLISHED,  # public models and indexable profiles (visibility.indexable_profiles)
    "trends/": NOTHING,
    "trends/<slug:chart>.csv": NOTHING,
    "blog/": NOTHING,  # the platform's own writing; drafts are never shown (comms.posts.published)
    "blog/feed.atom": NOTHING,
    "blog/<slug:slug>/": NOTHING,
    "settings/": OWN,  # the person's own security events, addresses included (C9)
    "settings/delete/": OWN,
    "settings/email/": OWN,
    "settings/emails/": OWN,  # the person's own record of emails, and their preferences
    "settings/email/cancel/": OWN,
    "settings/models/": OWN,
    "settings/password/": OWN,
    "settings/sessions/": OWN,
    "settings/sessions/end/": OWN,
    "settings/verify/": OWN,
    # Turns product updates off for the one person the token was made for; shows nothing of them.
    "-/unsubscribe/<str:token>/": NOTHING,
    "settings/export/": EXPORT,
    "settings/export/<str:public_id>/download/": EXPORT,
    "notices/<str:public_id>/dismiss/": OWN,  # the signed-in person's own notice (404 for any other)
}

# API v1, by operation. Its URL patterns are covered by these (checked below).
OPERATIONS: dict[str, str] = {
    "GET /api/v1/models": PUBLISHED,
    "GET /api/v1/models/popular": PUBLISHED,
    "GET /api/v1/models/trending": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/commits": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/commits/{oid}": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/files": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/files/{path}": PUBLISHED,
    "HEAD /api/v1/models/{owner}/{name}/files/{path}": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/refs": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/revisions/{revision}/files": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/revisions/{revision}/files/{path}": PUBLISHED,
    "HEAD /api/v1/models/{owner}/{name}/revisions/{revision}/files/{path}": PUBLISHED,
    "GET /api/v1/models/{owner}/{name}/stats": PUBLISHED,
    "GET /api/v1/privacy/inventory": NOTHING,
    "GET /api/v1/trends": NOTHING,
    "POST /api/v1/models": OWNER_WRITES,
    "PATCH /api/v1/models/{owner}/{name}": OWNER_WRITES,
    "DELETE /api/v1/models/{owner}/{name}": OWNER_WRITES,
    "DELETE /api/v1/models/{owner}/{name}/files/{path}": OWNER_WRITES,
    "PUT /api/v1/models/{owner}/{name}/files/{path}": OWNER_WRITES,
    "DELETE /api/v1/models/{owner}/{name}/history/{path}": OWNER_WRITES,
    "POST /api/v1/models/{owner}/{name}/blobs": OWNER_WRITES,
    "POST /api/v1/models/{owner}/{name}/commits": OWNER_WRITES,
    "POST /api/v1/models/{owner}/{name}/tags": OWNER_WRITES,
    "DELETE /api/v1/models/{owner}/{name}/tags/{tag}": OWNER_WRITES,
    "POST /api/v1/me/models/visibility": OWNER_WRITES,
    "GET /api/v1/me": OWN,
    "PATCH /api/v1/me": OWN,
    "DELETE /api/v1/me": OWN,
    "POST /api/v1/me/email": OWN,
    "GET /api/v1/me/security-events": OWN,  # the token owner's own events, addresses included (C9)
    "GET /api/v1/me/emails": OWN,
    "GET /api/v1/me/email-preferences": OWN,
    "PATCH /api/v1/me/email-preferences": OWN,
    "GET /api/v1/tokens": OWN,
    "POST /api/v1/tokens": OWN,
    "DELETE /api/v1/tokens/{id}": OWN,
    "POST /api/v1/me/export": EXPORT,
    "GET /api/v1/me/exports": EXPORT,
    "GET /api/v1/me/exports/{id}/download": EXPORT,
    "GET /api/v1/me/notices": OWN,
    "POST /api/v1/me/notices/{id}/dismiss": OWN,
}
# Being written alongside (issue 14): classified now so that they are not unknown when they arrive.
PLANNED_OPERATIONS = {"GET /api/v1/me/accesses": OWN}

COMMANDS: dict[str, str] = {
    "analytics status": NOTHING,
    "analytics rollup": NOTHING,
    "backup": PLATFORM,  # the rows as stored, encrypted; neither master keys nor data keys
    "restore": PLATFORM,
    "demo": PLATFORM,  # makes the demo personas; prints their own sign-in names
    "privacy sweep": PLATFORM,
    "privacy rewrap": PLATFORM,  # re-wraps data keys; decrypts no value
    "privacy verify-keys": PLATFORM,
    "privacy rebuild-projection": PLATFORM,  # the public projection of public models only
    "privacy rewrite": PLATFORM,
    "serve": PLATFORM,
    "worker": PLATFORM,  # runs tasks: the platform's own work (a person's own email, their export)
    "comms unsubscribe-mail": PLATFORM,  # reads a token from the subject; prints nothing of anyone
}
# Being written alongside (issue 14): the access log's verification and the staff administration.
PLANNED_COMMANDS = {"audit": PLATFORM, "staff": PLATFORM}


def _named_patterns(patterns: list[Any], prefix: str = "", space: str = "") -> Iterator[tuple[str, str]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (space, entry.namespace or "") if part)
            yield from _named_patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), space


def site_routes() -> dict[str, str]:
    """Every URL pattern (API v1's left to the operations), with its namespace."""
    found: dict[str, str] = {}
    for pattern, space in _named_patterns(get_resolver().url_patterns):
        found.setdefault(pattern, space)
    return found


def _command_names() -> list[str]:
    names = []
    for name, app in sorted(get_commands().items()):
        if not app.startswith("candor"):
            continue
        parser = load_command_class(app, name).create_parser("candor", name)
        subs = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
        names += [f"{name} {sub}" for action in subs for sub in action.choices] or [name]
    return names


def test_every_route_is_classified() -> None:
    operations = {f"{method} {path}" for method, path in router_operations()}
    api_paths = {path for _, path in router_operations()}
    unknown, gate_routes = [], []
    for pattern, space in site_routes().items():
        if space.split(":")[0] == "staff":
            gate_routes.append(pattern)
        elif pattern in ROUTES:
            continue
        elif pattern.startswith("api/v1/") and openapi_path(pattern) in api_paths:
            continue  # one of the operations below
        else:
            unknown.append(pattern)
    assert unknown == [], f"classify these routes in ROUTES (what they reveal, to whom): {unknown}"
    stale = sorted(set(ROUTES) - set(site_routes()))
    assert stale == [], f"no longer routes: {stale}"
    new = sorted(operations - set(OPERATIONS) - set(PLANNED_OPERATIONS))
    assert new == [], f"classify these API operations in OPERATIONS: {new}"
    assert sorted(set(OPERATIONS) - operations) == []


def test_every_command_is_classified() -> None:
    names = _command_names()
    unknown = [name for name in names if name not in COMMANDS and name.split()[0] not in PLANNED_COMMANDS]
    assert unknown == [], f"classify these commands in COMMANDS: {unknown}"
    assert sorted(set(COMMANDS) - set(names)) == []


def test_only_the_allowed_paths_give_a_persons_data_in_bulk() -> None:
    kinds = {NOTHING, OWN, PUBLISHED, OWNER_WRITES, EXPORT, GATE, PLATFORM}
    tables = {**ROUTES, **OPERATIONS, **PLANNED_OPERATIONS, **COMMANDS, **PLANNED_COMMANDS}
    assert set(tables.values()) <= kinds
    assert set(BULK.values()) <= set(ALLOWED_BULK_NAMES)
    bulk = sorted(key for key, kind in tables.items() if kind in BULK)
    # The export's routes only, and those are the person's own (lifecycle.export checks the owner).
    assert all("export" in key for key in bulk), bulk
    assert GATE not in tables.values()  # only the staff: namespace is the gate, never a table entry


@pytest.mark.django_db
@pytest.mark.parametrize("purpose", [purpose for purpose in Purpose if purpose != Purpose.SECURITY_INCIDENT])
def test_network_addresses_are_granted_for_a_security_incident_only(purpose: str) -> None:
    assert ONLY_FOR["network.ip"] == frozenset({Purpose.SECURITY_INCIDENT})
    subject = make_user("erin")
    agent = make_staff("sam", ["support", "trust_and_safety", "legal", "on_call"])
    role = {"support_case": "support", "abuse_report": "trust_and_safety", "legal_request": "legal"}[purpose]
    with pytest.raises(Refusal) as refused:
        staff_actions.request_grant(
            acting_user=agent,
            subject=subject,
            role=role,
            purpose=purpose,
            case_reference="CASE-9",
            categories=["network.ip"],
        )
    assert refused.value.code is Code.FORBIDDEN and "security incident only" in refused.value.message
    granted = staff_actions.request_grant(
        acting_user=agent,
        subject=subject,
        role="on_call",
        purpose=Purpose.SECURITY_INCIDENT,
        case_reference="INC-9",
        categories=["network.ip"],
    )
    assert granted.categories == ["network.ip"]


@pytest.mark.django_db
def test_the_settings_page_and_the_api_show_a_person_only_their_own_events() -> None:
    erin, mallory = make_user("erin"), make_user("mallory")
    for person, address in ((erin, "203.0.113.7"), (mallory, "198.51.100.44")):
        signing_in = RequestFactory().get("/", REMOTE_ADDR=address)
        account_actions.record_event(person, SecurityEvent.Kind.SIGN_IN, signing_in)
    client = Client()
    assert client.login(username="erin", password=PASSWORD)
    page = client.get("/settings/").content.decode()
    assert "203.0.113.7" in page and "198.51.100.44" not in page


@pytest.mark.django_db
def test_the_api_shows_a_person_only_their_own_events() -> None:
    erin, mallory = make_user("erin"), make_user("mallory")
    for person, address in ((erin, "203.0.113.7"), (mallory, "198.51.100.44")):
        signing_in = RequestFactory().get("/", REMOTE_ADDR=address)
        account_actions.record_event(person, SecurityEvent.Kind.SIGN_IN, signing_in)
    _, secret = token_actions.create_token(erin, name="cli", scopes=["read"], acting_user=erin)
    answer = Client().get("/api/v1/me/security-events", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    addresses = {item["ip_address"] for item in answer.json()["items"]}
    assert "203.0.113.7" in addresses and "198.51.100.44" not in addresses


# --- Django's admin stays out (issue 14 lets us choose): no admin page can show a personal value. ---


def _resolvers(patterns: list[Any]) -> Iterator[URLResolver | URLPattern]:
    for entry in patterns:
        yield entry
        if isinstance(entry, URLResolver):
            yield from _resolvers(entry.url_patterns)


def test_django_admin_is_not_installed() -> None:
    assert "django.contrib.admin" not in settings.INSTALLED_APPS
    assert not any(app.startswith("django.contrib.admin") for app in settings.INSTALLED_APPS)


def test_no_url_pattern_includes_an_admin_site() -> None:
    for entry in _resolvers(get_resolver().url_patterns):
        if isinstance(entry, URLResolver):
            assert entry.app_name != "admin" and entry.namespace != "admin", entry
            assert not str(entry.pattern).startswith("admin"), entry
        else:
            module = getattr(entry.callback, "__module__", "") or ""
            assert not module.startswith("django.contrib.admin"), entry
            assert not isinstance(getattr(entry.callback, "admin_site", None), AdminSite), entry


@pytest.mark.django_db
def test_admin_answers_404_to_anyone() -> None:
    superuser = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    signed_in = Client()
    signed_in.force_login(superuser)
    for client in (Client(), signed_in):
        assert client.get("/admin/").status_code == 404
        assert client.get("/admin/login/").status_code == 404
