"""The route walker (STYLE habit 13): every URL pattern of the resolver and every operation of the
OpenAPI schema, requested by each persona. TABLE below says what each persona may get; a route that is
not in it fails by name, so that no new page or endpoint skips the visibility and privacy checks.

Personas: anonymous; crawler (anonymous, a search engine's User-Agent); outsider (signed in, owns
nothing); member (signed in, owns models of their own); owner (owns the public, unlisted and private
models that routes with a model in their path are walked against); staff (is_staff, owns nothing, and
no staff record: the console finds nothing for it, tests/staff/test_console.py walks it as a member).
Every answer to anyone but its owner is checked for the private models' names and titles.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings

from tests.conftest import use_task_backend
from tests.routes_walk import (
    ABSENT,
    PERSONAS,
    TARGETS,
    Route,
    World,
    all_routes,
    build_world,
    openapi_operations,
    openapi_path,
    request,
    resolver_patterns,
    router_operations,
    secrets_hidden_from,
)

Codes = int | frozenset[int]


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Built once for the module inside a block that is rolled back after it; each test runs in a
    savepoint of that block (pytest-django's own), so what a test changes is undone before the next."""
    media = tmp_path_factory.mktemp("walk-media")
    fast = override_settings(MEDIA_ROOT=media, API_RATE_PER_MINUTE=10**9, API_ANON_RATE_PER_MINUTE=10**9)
    with django_db_blocker.unblock(), fast:  # type: ignore[attr-defined]
        # Set inside the override, so that it ends with it (the tests' own fixture sets it per test).
        use_task_backend(django_settings, "django.tasks.backends.immediate.ImmediateBackend")
        block = transaction.atomic()
        # What Django's TestCase marks its blocks with, so that the actions' durable blocks may open in it.
        block._from_testcase = True  # type: ignore[attr-defined]
        block.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)


Expect = dict[str, frozenset[int]]
VISITORS = ("anonymous", "crawler")
OTHERS = ("outsider", "member", "staff")  # signed in, and not the owner of what the route names


def answers(
    default: Codes, *, visitors: Codes | None = None, others: Codes | None = None, **persona: Codes
) -> Expect:
    """What each persona may get: `default`, except for the groups and personas named."""

    def codes(value: Codes) -> frozenset[int]:
        return value if isinstance(value, frozenset) else frozenset({value})

    unknown = set(persona) - set(PERSONAS)
    assert not unknown, f"no such persona: {unknown}"
    out = {name: codes(default) for name in PERSONAS}
    for group, value in ((VISITORS, visitors), (OTHERS, others)):
        if value is not None:
            out |= dict.fromkeys(group, codes(value))
    return out | {name: codes(value) for name, value in persona.items()}


def by_target(*, public: Expect, unlisted: Expect, private: Expect) -> dict[str, Expect]:
    """For a route with a model in its path: what each persona may get of each of the owner's models."""
    return {"public": public, "unlisted": unlisted, "private": private}


# What the API's writes are sent (the rest are sent no body). Those that would end an account or change
# its address are sent a wrong password: the walk checks who may reach them, not what they do.
BODIES = {
    "POST /api/v1/models": {"name": "walked-model", "title": "Walked"},
    "PATCH /api/v1/models/{owner}/{name}": {"title": "Walked over"},
    "PUT /api/v1/models/{owner}/{name}/files/{path}": b"walked",
    "POST /api/v1/models/{owner}/{name}/blobs": b"walked",
    "POST /api/v1/models/{owner}/{name}/commits": {"changes": [{"op": "delete", "path": "weights.bin"}]},
    "POST /api/v1/models/{owner}/{name}/tags": {"name": "walked"},
    "PATCH /api/v1/me": {},
    "DELETE /api/v1/me": {"password": "not-the-password-0", "confirm": "nobody"},
    "POST /api/v1/me/email": {"email": "walker@example.org", "password": "not-the-password-0"},
    "PATCH /api/v1/me/email-preferences": {"product_updates": True},
    "POST /api/v1/me/models/visibility": {"visibility": "private"},
    "POST /api/v1/tokens": {"name": "walked", "scopes": ["read"]},
}

# Visitors (anonymous and crawler) are sent to the login page (302) by the pages that need an account
# and refused with 401 by the API; a model the caller may see but not change answers 403, one they may
# not see 404, exactly like one that never existed (checked below).
TABLE: dict[str, Expect | dict[str, Expect]] = {
    "DELETE /api/v1/me": answers(403, visitors=401),
    "GET /api/v1/me": answers(200, visitors=401),
    "GET /api/v1/me/accesses": answers(200, visitors=401),
    # Notices: one's own; an id that is not one of the caller's answers 404 (the walk sends a token's).
    "GET /api/v1/me/notices": answers(200, visitors=401),
    "POST /api/v1/me/notices/{id}/dismiss": answers(404, visitors=401),
    "PATCH /api/v1/me": answers(200, visitors=401),
    "POST /api/v1/me/email": answers(403, visitors=401),
    "GET /api/v1/me/emails": answers(200, visitors=401),
    "GET /api/v1/me/email-preferences": answers(200, visitors=401),
    "PATCH /api/v1/me/email-preferences": answers(200, visitors=401),
    "POST /api/v1/me/export": answers(202, visitors=401),
    "GET /api/v1/me/exports": answers(200, visitors=401),
    "GET /api/v1/me/exports/{id}/download": answers(404, visitors=401, owner=200),
    "POST /api/v1/me/models/visibility": answers(200, visitors=401),
    "GET /api/v1/me/security-events": answers(200, visitors=401),
    "GET /api/v1/models": answers(200),
    "POST /api/v1/models": answers(201, visitors=401),
    "GET /api/v1/models/popular": answers(200),
    "GET /api/v1/models/trending": answers(200),
    "DELETE /api/v1/models/{owner}/{name}": by_target(
        public=answers(403, visitors=401, owner=204),
        unlisted=answers(403, visitors=401, owner=204),
        private=answers(404, visitors=401, owner=204),
    ),
    "GET /api/v1/models/{owner}/{name}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "PATCH /api/v1/models/{owner}/{name}": by_target(
        public=answers(403, visitors=401, owner=200),
        unlisted=answers(403, visitors=401, owner=200),
        private=answers(404, visitors=401, owner=200),
    ),
    "GET /api/v1/models/{owner}/{name}/files": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "DELETE /api/v1/models/{owner}/{name}/files/{path}": by_target(
        public=answers(403, visitors=401, owner=204),
        unlisted=answers(403, visitors=401, owner=204),
        private=answers(404, visitors=401, owner=204),
    ),
    "GET /api/v1/models/{owner}/{name}/files/{path}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "HEAD /api/v1/models/{owner}/{name}/files/{path}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "PUT /api/v1/models/{owner}/{name}/files/{path}": by_target(
        public=answers(403, visitors=401, owner=200),
        unlisted=answers(403, visitors=401, owner=200),
        private=answers(404, visitors=401, owner=200),
    ),
    "GET /api/v1/models/{owner}/{name}/stats": answers(404, visitors=401, owner=200),
    "POST /api/v1/models/{owner}/{name}/blobs": by_target(
        public=answers(403, visitors=401, owner=201),
        unlisted=answers(403, visitors=401, owner=201),
        private=answers(404, visitors=401, owner=201),
    ),
    "GET /api/v1/models/{owner}/{name}/commits": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/v1/models/{owner}/{name}/commits": by_target(
        public=answers(403, visitors=401, owner=201),
        unlisted=answers(403, visitors=401, owner=201),
        private=answers(404, visitors=401, owner=201),
    ),
    "GET /api/v1/models/{owner}/{name}/commits/{oid}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "GET /api/v1/models/{owner}/{name}/revisions/{revision}/files": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "GET /api/v1/models/{owner}/{name}/revisions/{revision}/files/{path}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "HEAD /api/v1/models/{owner}/{name}/revisions/{revision}/files/{path}": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "DELETE /api/v1/models/{owner}/{name}/history/{path}": by_target(
        public=answers(403, visitors=401, owner=200),
        unlisted=answers(403, visitors=401, owner=200),
        private=answers(404, visitors=401, owner=200),
    ),
    "GET /api/v1/models/{owner}/{name}/refs": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/v1/models/{owner}/{name}/tags": by_target(
        public=answers(403, visitors=401, owner=201),
        unlisted=answers(403, visitors=401, owner=201),
        private=answers(404, visitors=401, owner=201),
    ),
    "DELETE /api/v1/models/{owner}/{name}/tags/{tag}": by_target(
        public=answers(403, visitors=401, owner=204),
        unlisted=answers(403, visitors=401, owner=204),
        private=answers(404, visitors=401, owner=204),
    ),
    "GET /api/v1/privacy/inventory": answers(200),
    "GET /api/v1/tokens": answers(200, visitors=401),
    "POST /api/v1/tokens": answers(201, visitors=401),
    "DELETE /api/v1/tokens/{id}": answers(404, visitors=401, owner=204),
    "GET /api/v1/trends": answers(200),
    "GET /": answers(200),
    "POST /": answers(405),
    "GET /-/bare/": answers(200),
    "POST /-/bare/": answers(405),
    "GET /<name:username>/": answers(200),
    "POST /<name:username>/": answers(405),
    "GET /<name:username>/<name:name>/": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /<name:username>/<name:name>/": answers(405),
    "GET /<name:username>/<name:name>/delete/": by_target(
        public=answers(403, visitors=302, owner=200),
        unlisted=answers(403, visitors=302, owner=200),
        private=answers(404, visitors=302, owner=200),
    ),
    "POST /<name:username>/<name:name>/delete/": by_target(
        public=answers(302, others=403), unlisted=answers(302, others=403), private=answers(302, others=404)
    ),
    "GET /<name:username>/<name:name>/edit/": by_target(
        public=answers(403, visitors=302, owner=200),
        unlisted=answers(403, visitors=302, owner=200),
        private=answers(404, visitors=302, owner=200),
    ),
    "POST /<name:username>/<name:name>/edit/": by_target(
        public=answers(403, visitors=302, owner=200),
        unlisted=answers(403, visitors=302, owner=200),
        private=answers(404, visitors=302, owner=200),
    ),
    "GET /<name:username>/<name:name>/files-delete/": answers(405, visitors=302),
    "POST /<name:username>/<name:name>/files-delete/": by_target(
        public=answers(302, others=403), unlisted=answers(302, others=403), private=answers(302, others=404)
    ),
    "GET /<name:username>/<name:name>/files/<path:path>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /<name:username>/<name:name>/files/<path:path>": answers(405),
    "GET /<name:username>/<name:name>/commits/": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /<name:username>/<name:name>/commits/": answers(405),
    "GET /<name:username>/<name:name>/commit/<str:oid>/": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /<name:username>/<name:name>/commit/<str:oid>/": answers(405),
    "GET /<name:username>/<name:name>/resolve/<str:revision>/<path:path>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /<name:username>/<name:name>/resolve/<str:revision>/<path:path>": answers(405),
    "GET /<name:username>/<name:name>/remove-from-history/": answers(405, visitors=302),
    "POST /<name:username>/<name:name>/remove-from-history/": by_target(
        public=answers(302, others=403), unlisted=answers(302, others=403), private=answers(302, others=404)
    ),
    "GET /<name:username>/<name:name>/upload/": answers(405, visitors=302),
    "POST /<name:username>/<name:name>/upload/": by_target(
        public=answers(302, others=403), unlisted=answers(302, others=403), private=answers(302, others=404)
    ),
    "GET /<name:username>/<name:name>/visibility/": answers(405, visitors=302),
    "POST /<name:username>/<name:name>/visibility/": by_target(
        public=answers(302, others=403), unlisted=answers(302, others=403), private=answers(302, others=404)
    ),
    "GET /<str:username>/<str:name>/stats.csv": answers(404, owner=200),
    "POST /<str:username>/<str:name>/stats.csv": answers(405),
    # The Hugging Face protocol takes bearer tokens only: the walk sends each signed-in persona's token
    # (tests/routes_walk.py), and a private model is as missing as an absent one to all but its owner.
    "GET /api/models": answers(200),
    "POST /api/models": answers(405),
    "GET /api/models/<str:owner>/<str:name>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/models/<str:owner>/<str:name>": answers(405),
    "GET /api/models/<str:owner>/<str:name>/revision/<path:revision>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/models/<str:owner>/<str:name>/revision/<path:revision>": answers(405),
    "GET /api/models/<str:owner>/<str:name>/tree/<path:revision>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/models/<str:owner>/<str:name>/tree/<path:revision>": answers(405),
    "GET /api/models/<str:owner>/<str:name>/paths-info/<path:revision>": answers(405),
    "POST /api/models/<str:owner>/<str:name>/paths-info/<path:revision>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "GET /api/models/<str:owner>/<str:name>/refs": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/models/<str:owner>/<str:name>/refs": answers(405),
    "GET /api/models/<str:owner>/<str:name>/commits/<path:revision>": by_target(
        public=answers(200), unlisted=answers(200), private=answers(404, owner=200)
    ),
    "POST /api/models/<str:owner>/<str:name>/commits/<path:revision>": answers(405),
    "GET /api/whoami-v2": answers(200, visitors=401),
    "POST /api/whoami-v2": answers(405),
    # The staff console: visitors are sent to log in; anyone signed in who is not a member of staff
    # (the staff persona is is_staff without a staff record) finds nothing there.
    "GET /staff/": answers(404, visitors=302),
    "POST /staff/": answers(404, visitors=302),
    "GET /staff/agreement/": answers(404, visitors=302),
    "POST /staff/agreement/": answers(404, visitors=302),
    "GET /staff/find/": answers(404, visitors=302),
    "POST /staff/find/": answers(404, visitors=302),
    "GET /staff/grants/": answers(404, visitors=302),
    "POST /staff/grants/": answers(404, visitors=302),
    "GET /staff/grants/new/<uuid:subject_id>/": answers(404, visitors=302),
    "POST /staff/grants/new/<uuid:subject_id>/": answers(404, visitors=302),
    "GET /staff/grants/<str:public_id>/": answers(404, visitors=302),
    "POST /staff/grants/<str:public_id>/": answers(404, visitors=302),
    "GET /staff/grants/<str:public_id>/decide/": answers(404, visitors=302),
    "POST /staff/grants/<str:public_id>/decide/": answers(404, visitors=302),
    "GET /staff/grants/<str:public_id>/end/": answers(404, visitors=302),
    "POST /staff/grants/<str:public_id>/end/": answers(404, visitors=302),
    "GET /staff/grants/<str:public_id>/reveal/": answers(404, visitors=302),
    "POST /staff/grants/<str:public_id>/reveal/": answers(404, visitors=302),
    "GET /staff/members/": answers(404, visitors=302),
    "POST /staff/members/": answers(404, visitors=302),
    "GET /staff/members/<int:pk>/": answers(404, visitors=302),
    "POST /staff/members/<int:pk>/": answers(404, visitors=302),
    "GET /staff/second-factor/": answers(404, visitors=302),
    "POST /staff/second-factor/": answers(404, visitors=302),
    "GET /staff/second-factor/codes/": answers(404, visitors=302),
    "POST /staff/second-factor/codes/": answers(404, visitors=302),
    "GET /staff/verify/": answers(404, visitors=302),
    "POST /staff/verify/": answers(404, visitors=302),
    # The blog's pages in the console (communications or administrator role; walked as such in
    # tests/staff/test_console_blog.py), and the public blog: the walk has no post, so a slug is a 404.
    "GET /staff/blog/": answers(404, visitors=302),
    "POST /staff/blog/": answers(404, visitors=302),
    "GET /staff/blog/new/": answers(404, visitors=302),
    "POST /staff/blog/new/": answers(404, visitors=302),
    "GET /staff/blog/posts/<slug:slug>/": answers(404, visitors=302),
    "POST /staff/blog/posts/<slug:slug>/": answers(404, visitors=302),
    "GET /staff/blog/posts/<slug:slug>/preview/": answers(404, visitors=302),
    "POST /staff/blog/posts/<slug:slug>/preview/": answers(404, visitors=302),
    "GET /staff/blog/posts/<slug:slug>/publish/": answers(404, visitors=302),
    "POST /staff/blog/posts/<slug:slug>/publish/": answers(404, visitors=302),
    "GET /staff/blog/posts/<slug:slug>/unpublish/": answers(404, visitors=302),
    "POST /staff/blog/posts/<slug:slug>/unpublish/": answers(404, visitors=302),
    "GET /staff/blog/posts/<slug:slug>/delete/": answers(404, visitors=302),
    "POST /staff/blog/posts/<slug:slug>/delete/": answers(404, visitors=302),
    "GET /blog/": answers(200),
    "POST /blog/": answers(405),
    "GET /blog/feed.atom": answers(200),
    "POST /blog/feed.atom": answers(405),
    "GET /blog/<slug:slug>/": answers(404),
    "POST /blog/<slug:slug>/": answers(405),
    # Product updates (issue 15): the console's pages, as the rest of the console; the one-click
    # unsubscribe address refuses the walk's token (not one of ours) with its 400 page.
    "GET /-/unsubscribe/<str:token>/": answers(400),
    "POST /-/unsubscribe/<str:token>/": answers(400),
    "GET /staff/updates/": answers(404, visitors=302),
    "POST /staff/updates/": answers(404, visitors=302),
    "GET /staff/updates/new/": answers(404, visitors=302),
    "POST /staff/updates/new/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/edit/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/edit/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/preview/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/preview/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/email.html": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/email.html": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/test/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/test/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/send/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/send/": answers(404, visitors=302),
    "GET /staff/updates/<str:public_id>/cancel/": answers(404, visitors=302),
    "POST /staff/updates/<str:public_id>/cancel/": answers(404, visitors=302),
    "GET /accounts/password-reset/": answers(200),
    "POST /accounts/password-reset/": answers(200),
    "GET /accounts/password-reset/<uidb64>/<token>/": answers(200),
    "POST /accounts/password-reset/<uidb64>/<token>/": answers(200),
    "GET /accounts/password-reset/done/": answers(200),
    "POST /accounts/password-reset/done/": answers(405),
    "GET /accounts/password-reset/sent/": answers(200),
    "POST /accounts/password-reset/sent/": answers(405),
    "GET /accounts/verify/<str:public_id>/<str:token>/": answers(400),
    "POST /accounts/verify/<str:public_id>/<str:token>/": answers(400),
    "GET /api/v1/": answers(404),
    "POST /api/v1/": answers(404),
    "GET /api/v1/openapi.json": answers(200),
    # The Hugging Face client's card check: anyone may ask (it reveals nothing stored); the walk sends
    # no body, which is refused (tests/hf/test_cardcheck.py checks the answers to real ones).
    "GET /api/validate-yaml": answers(405),
    "POST /api/validate-yaml": answers(400),
    "POST /api/v1/openapi.json": answers(405),
    "GET /developers/": answers(200),
    "POST /developers/": answers(405),
    "GET /developers/api/": answers(200),
    "POST /developers/api/": answers(405),
    "GET /developers/changelog/": answers(200),
    "POST /developers/changelog/": answers(405),
    "GET /developers/tokens/": answers(200, visitors=302),
    "POST /developers/tokens/": answers(200, visitors=302),
    "GET /login/": answers(302, visitors=200),
    "POST /login/": answers(302, visitors=200),
    "GET /logout/": answers(200, visitors=302),
    "POST /logout/": answers(302),
    "GET /models/": answers(200),
    "POST /models/": answers(405),
    "GET /models/feed.atom": answers(200),
    "POST /models/feed.atom": answers(200),
    "GET /models/new/": answers(200, visitors=302),
    "POST /models/new/": answers(200, visitors=302),
    "GET /models/popular.csv": answers(200),
    "POST /models/popular.csv": answers(405),
    "GET /models/popular/": answers(200),
    "POST /models/popular/": answers(405),
    "GET /models/trending.csv": answers(200),
    "POST /models/trending.csv": answers(405),
    "GET /models/trending/": answers(200),
    "POST /models/trending/": answers(405),
    "GET /privacy/": answers(200),
    "POST /privacy/": answers(405),
    "GET /privacy/data/": answers(200),
    "POST /privacy/data/": answers(405),
    "GET /robots.txt": answers(200),
    "POST /robots.txt": answers(405),
    "GET /settings/": answers(200, visitors=302),
    "POST /settings/": answers(405, visitors=302),
    "GET /settings/accesses/": answers(200, visitors=302),
    "POST /settings/accesses/": answers(405, visitors=302),
    # Dismissing a notice of the banner: a POST of its person only (the walk's id is nobody's).
    "GET /notices/<str:public_id>/dismiss/": answers(405, visitors=302),
    "POST /notices/<str:public_id>/dismiss/": answers(404, visitors=302),
    "GET /settings/delete/": answers(200, visitors=302),
    "POST /settings/delete/": answers(200, visitors=302),
    "GET /settings/email/": answers(200, visitors=302),
    "POST /settings/email/": answers(200, visitors=302),
    "GET /settings/email/cancel/": answers(405, visitors=302),
    "POST /settings/email/cancel/": answers(302),
    "GET /settings/emails/": answers(200, visitors=302),
    "POST /settings/emails/": answers(302),  # nothing chosen: told so, and sent back to the page
    "GET /settings/export/": answers(200, visitors=302),
    "POST /settings/export/": answers(302),
    "GET /settings/export/<str:public_id>/download/": answers(404, visitors=302, owner=200),
    "POST /settings/export/<str:public_id>/download/": answers(405, visitors=302),
    "GET /settings/models/": answers(200, visitors=302),
    "POST /settings/models/": answers(302),
    "GET /settings/password/": answers(200, visitors=302),
    "POST /settings/password/": answers(200, visitors=302),
    "GET /settings/sessions/": answers(200, visitors=302),
    "POST /settings/sessions/": answers(405, visitors=302),
    "GET /settings/sessions/end/": answers(405, visitors=302),
    "POST /settings/sessions/end/": answers(302),
    "GET /settings/verify/": answers(405, visitors=302),
    "POST /settings/verify/": answers(302),
    "GET /signup/": answers(302, visitors=200),
    "POST /signup/": answers(302, visitors=200),
    "GET /sitemap.xml": answers(200),
    "POST /sitemap.xml": answers(200),
    "GET /transparency/log/": answers(200),
    "POST /transparency/log/": answers(405),
    "GET /transparency/log/checkpoints": answers(200),
    "POST /transparency/log/checkpoints": answers(405),
    "GET /trends/": answers(200),
    "POST /trends/": answers(405),
    "GET /trends/<slug:chart>.csv": answers(200),
    "POST /trends/<slug:chart>.csv": answers(405),
    # The Hugging Face protocol's writes, with each persona's bearer token (sent no body: a repository
    # without a name is a 400; the walked revision does not exist, so the owner's commit is a 404).
    "GET /api/repos/create": answers(405),
    "POST /api/repos/create": answers(400, visitors=401),
    "GET /api/repos/delete": answers(405),
    "POST /api/repos/delete": answers(405),
    "GET /api/models/<str:owner>/<str:name>/settings": answers(405),
    "POST /api/models/<str:owner>/<str:name>/settings": answers(405),
    "GET /api/models/<str:owner>/<str:name>/preupload/<path:revision>": answers(405),
    "POST /api/models/<str:owner>/<str:name>/preupload/<path:revision>": by_target(
        public=answers(403, visitors=401, owner=404),
        unlisted=answers(403, visitors=401, owner=404),
        private=answers(404, visitors=401, owner=404),
    ),
    "GET /api/models/<str:owner>/<str:name>/commit/<path:revision>": answers(405),
    "POST /api/models/<str:owner>/<str:name>/commit/<path:revision>": by_target(
        public=answers(403, visitors=401, owner=404),
        unlisted=answers(403, visitors=401, owner=404),
        private=answers(404, visitors=401, owner=404),
    ),
    "GET /api/models/<str:owner>/<str:name>/branch/<path:branch>": answers(405),
    "POST /api/models/<str:owner>/<str:name>/branch/<path:branch>": by_target(
        public=answers(403, visitors=401, owner=200),
        unlisted=answers(403, visitors=401, owner=200),
        private=answers(404, visitors=401, owner=200),
    ),
    "GET /api/models/<str:owner>/<str:name>/tag/<path:tag>": answers(405),
    "POST /api/models/<str:owner>/<str:name>/tag/<path:tag>": by_target(
        public=answers(403, visitors=401, owner=400),
        unlisted=answers(403, visitors=401, owner=400),
        private=answers(404, visitors=401, owner=400),
    ),
    "GET /<str:owner>/<str:name>.git/info/lfs/objects/batch": answers(405),
    "POST /<str:owner>/<str:name>.git/info/lfs/objects/batch": answers(400),  # no operation named
    "GET /<str:owner>/<str:name>.git/info/lfs/objects/verify": answers(405),
    "POST /<str:owner>/<str:name>.git/info/lfs/objects/verify": answers(401),
    "GET /lfs/upload/<str:key>": answers(405),
    "POST /lfs/upload/<str:key>": answers(405),
    # The Xet upload path: a Xet access token for the owner's write token; a session is not a way in.
    "GET /api/models/<str:owner>/<str:name>/xet-write-token/<path:revision>": by_target(
        public=answers(403, visitors=401, owner=200),
        unlisted=answers(403, visitors=401, owner=200),
        private=answers(404, visitors=401, owner=200),
    ),
    "POST /api/models/<str:owner>/<str:name>/xet-write-token/<path:revision>": answers(405),
    # The Xet store takes its own access tokens only: a Candor token is refused like none.
    "GET /xet/cas/v1/xorbs/<str:prefix>/<str:digest>": answers(405),
    "POST /xet/cas/v1/xorbs/<str:prefix>/<str:digest>": answers(401),
    "GET /xet/cas/v1/shards": answers(405),
    "POST /xet/cas/v1/shards": answers(401),
    "GET /xet/cas/v2/shards": answers(405),
    "POST /xet/cas/v2/shards": answers(401),
    "GET /xet/cas/v1/chunks/<str:prefix>/<str:digest>": answers(401),
    "POST /xet/cas/v1/chunks/<str:prefix>/<str:digest>": answers(405),
    "GET /xet/cas/v1/telemetry": answers(405),
    "POST /xet/cas/v1/telemetry": answers(401),
}

ROUTES = all_routes(BODIES)


def _cases() -> Iterator[object]:
    for route in ROUTES:
        for target in TARGETS if route.has_model else (None,):
            for persona in PERSONAS:
                name = f"{route.key}[{target}]" if target else route.key
                yield pytest.param(route, target, persona, id=f"{name}-{persona}")


def _expected(route: Route, target: str | None) -> Expect:
    entry = TABLE.get(route.key)
    if entry is None:
        pytest.fail(
            f"add {route.key!r} to the table in tests/test_routes.py: what each persona may get of it "
            f"({', '.join(PERSONAS)})"
        )
    if set(entry) == set(TARGETS):
        assert target is not None, f"{route.key} names no model, but its entry is by_target()"
        return entry[target]  # type: ignore[return-value]
    return entry  # type: ignore[return-value]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "target", "persona"), list(_cases()))
def test_each_persona_gets_what_the_table_allows(
    route: Route, target: str | None, persona: str, world: World
) -> None:
    allowed = _expected(route, target)[persona]
    answer = request(route, target, persona, world)
    assert answer.status in allowed, (
        f"{persona} got {answer.status} from {route.key}, expected {set(allowed)}"
    )
    leaked = [secret for secret in secrets_hidden_from(persona) if secret.encode() in answer.body]
    assert not leaked, f"{route.key} showed {persona} a private model's name or title: {leaked}"
    if target is not None and answer.status == 404 and persona != "owner":
        # A model the persona may not see answers exactly what one that never existed does. (The owner
        # sees every model of theirs: a 404 of theirs is about something else, such as a revision.)
        missing = request(route, ABSENT, persona, world)
        assert (answer.status, answer.body) == (missing.status, missing.body)


def test_the_table_names_only_routes_that_exist() -> None:
    stale = set(TABLE) - {route.key for route in ROUTES}
    assert not stale, (
        f"remove from the table in tests/test_routes.py, no such route any more: {sorted(stale)}"
    )


def test_the_walk_covers_every_resolver_pattern_and_api_operation() -> None:
    """The walk is only as good as its list: each pattern of the resolver and each OpenAPI operation
    is in it, and the API's patterns are walked as their operations, with the schema's methods."""
    assert router_operations() == openapi_operations()
    walked = {route.template for route in ROUTES}
    api_paths = {path for _, path in openapi_operations()}
    for pattern in resolver_patterns():
        assert pattern in walked or openapi_path(pattern) in api_paths, pattern
    assert {f"{method} {path}" for method, path in openapi_operations()} <= {r.key for r in ROUTES if r.api}
    assert len(ROUTES) > 100  # about 80 patterns (with both methods) and 27 operations today
