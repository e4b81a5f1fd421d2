"""The route walker's machinery: every route of the site (each URL pattern of the resolver, and each
operation of the API's OpenAPI schema), the personas that visit them, the data their paths point at,
and one request of a persona to a route. What each persona may get is the table in tests/test_routes.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from candor.accounts.models import User
from candor.api.urls import api
from tests.conftest import deliver_on_commit, make_user

CRAWLER_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PERSONAS = ("anonymous", "crawler", "outsider", "member", "owner", "staff")
# The three models of the owner that a route with a model in its path is walked against.
TARGETS = ("public", "unlisted", "private")
API_PREFIX = "api/v1/"
# Django routes are walked with both methods: a page that only shows must refuse a POST, and a POST
# that changes something must refuse whoever may not change it.
PAGE_METHODS = ("GET", "POST")

# Names and titles no other text of the site contains: the private models' must reach their owner only.
OWNER_MODELS = {
    "public": ("open-otter", "Openly Published Otter"),
    "unlisted": ("quiet-quail", "Quietly Unlisted Quail"),
    "private": ("hidden-heron", "Secretly Kept Heron"),
}
MEMBER_MODELS = {
    "public": ("bobs-badger", "Badger Of The Member"),
    "private": ("bobs-secret-bat", "Bat The Member Hides"),
}
ABSENT = "absent"  # the target of a model that never existed, to compare a refusal with
FILE_PATH = "weights.bin"
CHART = "visits"
TAG = "v1"  # a tag of each of the owner's models, on its one commit


@dataclass(frozen=True)
class Route:
    """One thing to request: a Django URL pattern (key "GET <pattern>") or an OpenAPI operation (key
    "GET /api/v1/{…}"), and whether its path names one of the owner's models."""

    key: str
    method: str
    template: str  # the pattern or the OpenAPI path, with its parameters still in it
    api: bool
    body: Any = None

    @property
    def has_model(self) -> bool:
        return re.search(r"<(?:\w+:)?name>|\{name\}", self.template) is not None


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def resolver_patterns() -> list[str]:
    """Every URL pattern of the site's resolver, the API's ninja routes included, once each."""
    return sorted(set(_walk(get_resolver().url_patterns)))


def openapi_path(pattern: str) -> str:
    """The OpenAPI path of a pattern of the API's ("api/v1/models/<owner>" -> "/api/v1/models/{owner}")."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


def openapi_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation of the API's schema."""
    paths = api.get_openapi_schema()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


def router_operations() -> list[tuple[str, str]]:
    """The same list read from the API's routers, as ninja builds its schema from them: the walk's
    tests are listed while collecting, and building the schema itself takes far longer (the walk
    checks that the two lists agree)."""
    root = reverse("api:api-root")
    found: set[tuple[str, str]] = set()
    for bound in api._get_bound_routers():
        for path, view in bound.path_operations.items():
            full = re.sub(r"/+", "/", "/".join(part for part in (root, bound.prefix, path) if part))
            full = re.sub(r"\{[^}:]+:", "{", full)  # {path:path} -> {path}
            for operation in view.operations:
                if operation.include_in_schema:
                    found |= {(method.upper(), full) for method in operation.methods}
    return sorted(found)


def all_routes(bodies: dict[str, Any]) -> list[Route]:
    """The API's operations, then every resolver pattern that is not one of them, with each method."""
    operations = router_operations()
    api_paths = {path for _, path in operations}
    routes = [
        Route(f"{method} {path}", method, path, api=True, body=bodies.get(f"{method} {path}"))
        for method, path in operations
    ]
    for pattern in resolver_patterns():
        if pattern.startswith(API_PREFIX) and openapi_path(pattern) in api_paths:
            continue  # walked as its operations, with their methods
        for method in PAGE_METHODS:
            # The Hugging Face protocol's routes (api/models/…, the Xet store) take bearer tokens too.
            api = pattern.startswith((API_PREFIX, "api/", "xet/"))
            routes.append(Route(f"{method} /{pattern}", method, pattern, api=api))
    return routes


@dataclass
class World:
    """The data the walk's paths point at, shared by every test of the module (rolled back after it)."""

    users: dict[str, User]
    tokens: dict[str, str] = field(default_factory=dict)  # persona -> bearer token
    owner_token_id: str = ""
    owner_export_id: str = ""
    commits: dict[str, str] = field(default_factory=dict)  # model name -> its one commit's id


def build_world() -> World:
    """Made through the API as its callers would, so that the walk does not depend on the actions'
    signatures: the owner's three models and the member's two, each with a file, a token per signed-in
    persona, and an export of the owner's that is ready to download."""
    users = {
        "owner": make_user("alice"),
        "member": make_user("bob"),
        "outsider": make_user("carol"),
        "staff": make_user("dana", staff=True),
    }
    world = World(users=users)
    for persona, user in users.items():
        client = Client()
        client.force_login(user)
        made = client.post(
            "/api/v1/tokens", {"name": "walker", "scopes": ["read", "write"]}, content_type="application/json"
        )
        assert made.status_code == 201, made.content
        world.tokens[persona] = made.json()["token"]
        if persona == "owner":
            world.owner_token_id = made.json()["id"]
        models = {"owner": OWNER_MODELS, "member": MEMBER_MODELS}.get(persona, {})
        for visibility, (name, title) in models.items():
            created = client.post(
                "/api/v1/models",
                {"name": name, "title": title, "visibility": visibility},
                content_type="application/json",
            )
            assert created.status_code == 201, created.content
            uploaded = client.put(
                f"/api/v1/models/{user.username}/{name}/files/{FILE_PATH}",
                b"\x00weights" * 8,
                content_type="application/octet-stream",
            )
            assert uploaded.status_code == 201, uploaded.content
            listed = client.get(f"/api/v1/models/{user.username}/{name}/files")
            world.commits[name] = listed.json()["commit"]
            tagged = client.post(
                f"/api/v1/models/{user.username}/{name}/tags", {"name": TAG}, content_type="application/json"
            )
            assert tagged.status_code == 201, tagged.content
        if persona == "owner":
            exported = client.post("/api/v1/me/export")
            assert exported.status_code == 202, exported.content
            world.owner_export_id = exported.json()["id"]
    deliver_on_commit()  # the export is built by a task queued on commit
    return world


def client_for(persona: str, world: World, *, signed_in: bool = True) -> Client:
    """A client as the persona: a crawler's User-Agent, or signed in (unless told not to)."""
    if persona == "crawler":
        return Client(HTTP_USER_AGENT=CRAWLER_UA)
    client = Client()
    if persona != "anonymous" and signed_in:
        client.force_login(world.users[persona])
    return client


def fill(route: Route, target: str | None, world: World) -> str:
    """The route's path with each parameter given a value that exists (the owner's, where it matters)."""
    owner = world.users["owner"]
    model_name = OWNER_MODELS.get(target or "public", ("never-existed", ""))[0]
    values = {
        "username": owner.username,
        "owner": owner.username,
        "name": model_name,
        "path": FILE_PATH,
        # A model that never existed is asked for a commit id of the same shape.
        "oid": world.commits.get(model_name, "0" * 40),
        "revision": world.commits.get(model_name, "0" * 40),
        "tag": TAG,
        "branch": "no-such-branch",
        "key": "no-such-upload-key",
        "chart": CHART,
        "public_id": world.owner_export_id if "export" in route.template else "no-such-confirmation",
        "id": world.owner_export_id if "export" in route.template else world.owner_token_id,
        "token": "not-a-valid-token",
        "uidb64": "bm90LWEtdXNlcg",
        # The staff console's: an account to ask a grant about, a member of staff's number.
        "subject_id": str(owner.pk),
        "pk": "1",
        # A blog post's address (the walk has none: a draft or absent post answers the same 404).
        "slug": "no-such-post",
        # The Xet store's object addresses.
        "prefix": "default",
        "digest": "0" * 64,
    }
    parameter = r"\{(\w+)\}" if route.template.startswith("/") else r"<(?:\w+:)?(\w+)>"
    path = re.sub(parameter, lambda m: values[m.group(1)], route.template)
    return path if path.startswith("/") else "/" + path


@dataclass
class Answer:
    status: int
    body: bytes


def request(route: Route, target: str | None, persona: str, world: World) -> Answer:
    """One persona's request of one route; signed-in personas call the API with their bearer token
    only (the session's way into the API has its tests in tests/api/test_tokens.py)."""
    client = client_for(persona, world, signed_in=not route.api)
    path = fill(route, target, world)
    headers: dict[str, str] = {}
    if route.api and persona in world.tokens:
        headers["Authorization"] = f"Bearer {world.tokens[persona]}"
    if isinstance(route.body, bytes):
        response = client.generic(
            route.method, path, route.body, content_type="application/octet-stream", headers=headers
        )
    elif route.body is not None:
        response = client.generic(
            route.method, path, json.dumps(route.body), content_type="application/json", headers=headers
        )
    else:
        response = client.generic(route.method, path, headers=headers)
    streamed = response.streaming
    body = b"".join(response.streaming_content) if streamed else response.content  # type: ignore[attr-defined]
    return Answer(response.status_code, body)


def secrets_hidden_from(persona: str) -> list[str]:
    """The names and titles of the private models this persona does not own."""
    hidden = []
    if persona != "owner":
        hidden += list(OWNER_MODELS["private"])
    if persona != "member":
        hidden += list(MEMBER_MODELS["private"])
    return hidden
