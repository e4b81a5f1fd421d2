"""What each kind of visitor observes of one model, on every surface that could show it (clause C4), for
the walks through states of tests/hub/test_access_matrix.py (the route walker covers each route once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from django.test import Client

from candor.accounts.models import User
from tests.conftest import PASSWORD

CRAWLER_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PERSONAS = ("owner", "member", "anonymous", "crawler")
SURFACES = ("page", "file", "api_read", "api_files", "api_list", "api_search", "listing", "search",
            "profile", "sitemap", "feed")  # fmt: skip


def client_for(persona: str, owner: User, member: User) -> Client:
    if persona == "crawler":
        return Client(HTTP_USER_AGENT=CRAWLER_UA)
    client = Client()
    if persona == "owner":
        client.force_login(owner)
    elif persona == "member":
        client.force_login(member)
    return client


@dataclass
class Seen:
    status: int
    body: bytes
    noindex: bool


def _fetch(client: Client, url: str) -> Seen:
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    noindex = "noindex" in response.get("X-Robots-Tag", "") or b'name="robots" content="noindex"' in body
    return Seen(response.status_code, body, noindex)


def observe(client: Client, username: str, name: str, title: str, file_path: str) -> dict[str, Any]:
    """For every surface: whether the model shows there (lists) or what the direct address answers."""
    full = f"{username}/{name}"
    out: dict[str, Any] = {}
    out["page"] = _fetch(client, f"/{username}/{name}/")
    out["file"] = _fetch(client, f"/{username}/{name}/files/{file_path}")
    out["api_read"] = _fetch(client, f"/api/v1/models/{username}/{name}")
    out["api_files"] = _fetch(client, f"/api/v1/models/{username}/{name}/files")
    listing = client.get("/api/v1/models?limit=100").json()
    out["api_list"] = any(item["full_name"] == full for item in listing["items"])
    found = client.get(f"/api/v1/models?q={title}&limit=100").json()
    out["api_search"] = any(item["full_name"] == full for item in found["items"])
    out["listing"] = f'href="/{full}/"'.encode() in client.get("/models/?sort=name").content
    out["search"] = f'href="/{full}/"'.encode() in client.get(f"/models/?q={title}").content
    profile = client.get(f"/{username}/")
    out["profile"] = profile.status_code == 200 and f'href="/{full}/"'.encode() in profile.content
    sitemap = ElementTree.fromstring(client.get("/sitemap.xml").content)  # noqa: S314 - our own output
    locs = [el.text or "" for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    out["sitemap"] = any(loc.endswith(f"/{full}/") for loc in locs)
    out["feed"] = f"/{full}/".encode() in client.get("/models/feed.atom").content
    return out


def absent(client: Client, username: str) -> dict[str, Seen]:
    """What the same client gets for a model and a file that never existed."""
    return {
        "page": _fetch(client, f"/{username}/never-existed/"),
        "file": _fetch(client, f"/{username}/never-existed/files/weights.bin"),
        "api_read": _fetch(client, f"/api/v1/models/{username}/never-existed"),
        "api_files": _fetch(client, f"/api/v1/models/{username}/never-existed/files"),
    }


DIRECT = ("page", "file", "api_read", "api_files")
LISTED = ("api_list", "api_search", "listing", "search", "profile", "sitemap", "feed")


def check(persona: str, visibility: str, seen: dict[str, Any], missing: dict[str, Seen]) -> None:
    """The rules of clause C4, for one persona and one state of the model ("deleted" included)."""
    readable = visibility in ("public", "unlisted") or (visibility == "private" and persona == "owner")
    for surface in DIRECT:
        got: Seen = seen[surface]
        if readable:
            assert got.status == 200, (persona, visibility, surface, got.status)
            assert got.noindex == (visibility != "public"), (persona, visibility, surface, "noindex")
        else:
            # Exactly what a model that never existed answers: same status, same bytes.
            assert (got.status, got.body) == (missing[surface].status, missing[surface].body), (
                persona,
                visibility,
                surface,
            )
            assert got.status == 404
    for surface in LISTED:
        shown = visibility == "public" or (
            surface == "profile" and persona == "owner" and visibility != "deleted"
        )
        assert seen[surface] == shown, (persona, visibility, surface)


def login(client: Client, username: str) -> None:
    assert client.login(username=username, password=PASSWORD)
