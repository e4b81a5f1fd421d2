"""The hub's pages: create, edit, publish, upload, download, delete; and hostile model cards."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from typing import ClassVar

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import Client

from candor.accounts.models import User
from candor.core.markdown import render_card
from candor.hub import actions, revisions
from candor.hub.models import MLModel, ModelFile
from tests.conftest import models_named

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_create_starts_private(owner_client: Client, owner: User) -> None:
    response = owner_client.post(
        "/models/new/",
        {
            "name": "tiny-bert",
            "title": "Tiny BERT",
            "summary": "small",
            "tags": "nlp, bert",
            "license": "MIT",
            "library": "transformers",
            "task": "fill-mask",
            "card": "# Tiny",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/alice/tiny-bert/"
    model = models_named("tiny-bert").get()
    assert model.visibility == "private" and model.published_at is None
    assert sorted(model.tag_names) == ["bert", "nlp"]


def test_create_rejects_bad_input_and_keeps_it(owner_client: Client, owner: User) -> None:
    actions.create_model(acting_user=owner, name="taken")
    for data, message in (
        ({"name": "../etc", "title": "x"}, b"model name"),
        ({"name": "TAKEN", "title": "x"}, b"This name is taken"),
        ({"name": "ok", "title": "x", "tags": "Bad Tag!"}, b"is not valid"),
        ({"name": "ok", "title": "x", "license": "WTFPL"}, b"Select a valid choice"),
    ):
        response = owner_client.post(
            "/models/new/", {"license": "MIT", "library": "other", "task": "other", **data}
        )
        assert response.status_code == 400, data
        assert message in response.content, (data, response.content[:2000])
        assert f'value="{data["name"]}"'.encode() in response.content
    assert MLModel.objects.count() == 1


def test_unverified_account_cannot_publish(owner: User) -> None:
    owner.email_verified = False
    owner.save()
    model = actions.create_model(acting_user=owner, name="draft")
    client = Client()
    client.force_login(owner)
    response = client.post(f"/{owner.username}/draft/visibility/", {"visibility": "public"}, follow=True)
    assert b"Confirm your email address" in response.content
    model.refresh_from_db()
    assert model.visibility == "private"


def test_upload_publish_download_and_delete(owner_client: Client, owner: User, media) -> None:
    model = actions.create_model(acting_user=owner, name="m1", title="M1")
    payload = bytes(range(256)) * 5000
    upload = SimpleUploadedFile("weights.bin", payload)
    response = owner_client.post("/alice/m1/upload/", {"file": upload, "path": "ckpt/weights.bin"})
    assert response.status_code == 302
    stored = ModelFile.objects.get(model=model)
    assert stored.path == "ckpt/weights.bin" and stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    name = str(stored.blob.stored.name)
    assert "alice" not in name and "m1" not in name and stored.sha256 not in name  # names are keyed hashes

    owner_client.post("/alice/m1/visibility/", {"visibility": "public"})
    anonymous = Client()
    download = anonymous.get("/alice/m1/files/ckpt/weights.bin")
    assert download.status_code == 200 and body(download) == payload
    assert download["Content-Length"] == str(len(payload)) and download["ETag"] == f'"{stored.sha256}"'
    assert download["Content-Disposition"] == 'attachment; filename="weights.bin"'
    part = anonymous.get("/alice/m1/files/ckpt/weights.bin", HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and body(part) == payload[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(payload)}" and part["Content-Length"] == "10"
    tail = anonymous.get("/alice/m1/files/ckpt/weights.bin", HTTP_RANGE="bytes=-5")
    assert body(tail) == payload[-5:]
    assert (
        anonymous.get("/alice/m1/files/ckpt/weights.bin", HTTP_RANGE=f"bytes={len(payload)}-").status_code
        == 416
    )
    cached = anonymous.get("/alice/m1/files/ckpt/weights.bin", HTTP_IF_NONE_MATCH=f'"{stored.sha256}"')
    assert cached.status_code == 304

    owner_client.post("/alice/m1/files-delete/", {"path": "ckpt/weights.bin"})
    model.refresh_from_db()
    assert not revisions.head_files(model).exists() and model.commits.count() == 2
    assert anonymous.get("/alice/m1/files/ckpt/weights.bin").status_code == 404


def test_upload_refuses_traversal_and_oversize(owner_client: Client, owner: User, media, settings) -> None:
    actions.create_model(acting_user=owner, name="m2", title="M2")
    for path in ("../escape.bin", "/abs.bin", "a//b", "a/./b"):
        response = owner_client.post(
            "/alice/m2/upload/", {"file": SimpleUploadedFile("x", b"x"), "path": path}, follow=True
        )
        assert b"not valid" in response.content, path
    settings.MAX_UPLOAD_BYTES = 10
    response = owner_client.post(
        "/alice/m2/upload/", {"file": SimpleUploadedFile("big", b"x" * 11)}, follow=True
    )
    assert b"larger than the limit" in response.content
    assert not ModelFile.objects.exists()
    staging = media / ".staging"
    assert not staging.exists() or not list(staging.iterdir())  # nothing left half-written


class _Counting(FileUploadHandler):
    """Placed after Candor's own handlers in a test: counts the bytes that reach Django's spooling."""

    received: ClassVar[list[int]] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        _Counting.received.append(len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def test_an_oversize_web_upload_is_dropped_as_it_arrives(
    owner_client: Client, owner: User, media, settings
) -> None:
    actions.create_model(acting_user=owner, name="m3", title="M3")
    settings.MAX_UPLOAD_BYTES = 100 * 1024
    first, *spooling = settings.FILE_UPLOAD_HANDLERS
    settings.FILE_UPLOAD_HANDLERS = [first, f"{__name__}._Counting", *spooling]
    _Counting.received.clear()
    response = owner_client.post(
        "/alice/m3/upload/",
        {"file": SimpleUploadedFile("big.bin", b"x" * (1024 * 1024)), "path": "big.bin"},
        follow=True,
    )
    assert f"larger than the limit of {100 * 1024} bytes".encode() in response.content
    assert not ModelFile.objects.exists()
    # Passed on only until the limit: the remaining 900 KiB were read and dropped, never spooled.
    assert 0 < sum(_Counting.received) <= 100 * 1024

    _Counting.received.clear()
    response = owner_client.post(
        "/alice/m3/upload/", {"file": SimpleUploadedFile("ok.bin", b"y" * 1000)}, follow=True
    )
    assert b"Uploaded ok.bin (1000 bytes)" in response.content
    assert sum(_Counting.received) == 1000


def test_member_may_read_but_not_change(owner: User, member: User) -> None:
    actions.create_model(acting_user=owner, name="shared", title="Shared", visibility="public")
    client = Client()
    client.force_login(member)
    assert client.get("/alice/shared/").status_code == 200
    assert b"Manage" not in client.get("/alice/shared/").content
    assert client.get("/alice/shared/edit/").status_code == 403
    assert client.post("/alice/shared/visibility/", {"visibility": "private"}).status_code == 403
    assert client.post("/alice/shared/delete/", {"confirm_name": "shared"}).status_code == 403
    assert models_named("shared").get().visibility == "public"
    actions.create_model(acting_user=owner, name="secret", title="Secret")
    assert client.get("/alice/secret/edit/").status_code == 404  # private: not even its existence


def test_delete_needs_the_name(owner_client: Client, owner: User) -> None:
    actions.create_model(acting_user=owner, name="keepme", title="K")
    owner_client.post("/alice/keepme/delete/", {"confirm_name": "wrong"})
    assert models_named("keepme").exists()
    owner_client.post("/alice/keepme/delete/", {"confirm_name": "keepme"})
    assert not models_named("keepme").exists()


def test_edit_updates_metadata(owner_client: Client, owner: User) -> None:
    actions.create_model(acting_user=owner, name="ed", title="Old", tags="a")
    response = owner_client.post(
        "/alice/ed/edit/",
        {
            "title": "New title",
            "summary": "s",
            "tags": "b, c",
            "license": "MIT",
            "library": "onnx",
            "task": "translation",
            "card": "**bold**",
        },
    )
    assert response.status_code == 302
    model = models_named("ed").get()
    assert (model.title, model.library, model.task) == ("New title", "onnx", "translation")
    assert sorted(model.tag_names) == ["b", "c"]
    assert b"<strong>bold</strong>" in owner_client.get("/alice/ed/").content


def test_browse_filters_sorts_and_paginates(owner: User, member: User) -> None:
    for i in range(25):
        actions.create_model(
            acting_user=owner,
            name=f"m{i:02d}",
            title=f"Model {i}",
            tags="even" if i % 2 == 0 else "odd",
            task="translation" if i < 5 else "other",
            visibility="public",
        )
    actions.create_model(acting_user=member, name="quiet", title="Quiet", visibility="unlisted")
    client = Client()
    page1 = client.get("/models/?sort=name").content.decode()
    assert "alice/m00" in page1 and "alice/m19" in page1 and "alice/m20" not in page1 and "quiet" not in page1
    assert "alice/m24" in client.get("/models/?sort=name&page=2").content.decode()
    listed = re.findall(
        r'href="/alice/(m\d+)/"', client.get("/models/?task=translation&sort=name").content.decode()
    )
    assert listed == [f"m{i:02d}" for i in range(5)]
    assert "alice/m01" not in client.get("/models/?tag=even").content.decode()
    assert "alice/m03" in client.get("/models/?q=odd").content.decode()
    assert client.get("/models/?page=999&task=bogus&sort=bogus").status_code == 200


def test_feed_and_robots(owner: User) -> None:
    actions.create_model(acting_user=owner, name="fresh", title="Fresh", visibility="public")
    feed = Client().get("/models/feed.atom")
    assert feed["Content-Type"].startswith("application/atom+xml") and b"alice/fresh" in feed.content
    robots = Client().get("/robots.txt").content.decode()
    assert "Disallow: /settings/" in robots and "Sitemap: " in robots and "/sitemap.xml" in robots


HOSTILE = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<iframe src="https://evil.example"></iframe>',
    '<object data="evil.swf"></object><embed src="evil.swf">',
    '<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>',
    "<p onmouseover=alert(1)>hover</p>",
    '<a href="&#106;avascript:alert(1)">entity</a>',
    "<<script>script>alert(1)<</script>/script>",
    '<img src="https://tracker.example/pixel.gif">',
    "![pixel](https://tracker.example/p.png)",
    "![proto](//tracker.example/p.png)",
    '<form action="https://evil.example"><input name=x></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    "<style>body{display:none}</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<details open ontoggle=alert(1)>",
    '<a href="vbscript:msgbox(1)">vb</a>',
    "unterminated <b><i>tags <a href='",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


ALLOWED_URL = re.compile(r"(https?://|mailto:|/(?!/)|#|[a-z0-9._-]+(/|$))", re.IGNORECASE)


@pytest.mark.parametrize("card", HOSTILE)
def test_hostile_markdown_is_neutralised(card: str) -> None:
    html = render_card(card)
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.elements:
        assert tag not in {
            "script",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "form",
            "input",
            "meta",
            "base",
            "style",
            "link",
        }, (card, html)
        for name, value in attrs:
            assert not name.startswith("on") and name != "style", (card, html)
            if name in ("href", "src"):
                assert value is not None and ALLOWED_URL.match(value.strip()), (card, html)
            if tag == "img" and name == "src":
                assert value and value.startswith("/") and not value.startswith("//"), (card, html)
    assert "<script" not in html.lower()


def test_own_images_and_safe_links_survive() -> None:
    html = render_card("![chart](/alice/m/files/chart.png) [docs](https://example.org/docs) <b>ok</b>")
    assert '<img src="/alice/m/files/chart.png" alt="chart">' in html
    assert 'href="https://example.org/docs"' in html and 'rel="nofollow noopener noreferrer"' in html
    assert "<b>ok</b>" in html


def test_the_delete_page_counts_the_files_it_will_remove(owner: User, owner_client: Client) -> None:
    model = actions.create_model(acting_user=owner, name="counted", title="Counted")
    for path in ("a.bin", "b/c.bin"):
        actions.add_file(model, path, [b"x"], acting_user=owner)
    page = owner_client.get("/alice/counted/delete/").content.decode()
    assert "all 2 of its files" in page
