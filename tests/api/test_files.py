"""Files through the API: streamed uploads, downloads with ranges and ETags, paths that try to escape."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import RequestFactory
from django.urls import resolve

from candor.accounts.models import User
from candor.hub import blobs, revisions, storage
from candor.hub.models import MLModel, ModelFile
from tests.api.conftest import Api, assert_error, body, publish, token_for

pytestmark = pytest.mark.django_db

SIZE = 2 * 1024 * 1024 + 12345  # more than two of storage's 1 MiB chunks, more than Django's 2 MiB body cap


@pytest.fixture
def blob() -> bytes:
    return random.Random(7).randbytes(SIZE)


@pytest.fixture
def chunk_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the chunks add_file received, recorded on their way into blobs.seal_upload."""
    sizes: list[int] = []
    real_seal = blobs.seal_upload

    def recording(owner_id: Any, chunks: Any, *, limit: int) -> Any:
        def spy() -> Any:
            for chunk in chunks:
                sizes.append(len(chunk))
                yield chunk

        return real_seal(owner_id, spy(), limit=limit)

    monkeypatch.setattr(blobs, "seal_upload", recording)
    return sizes


@pytest.fixture
def no_request_body(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: HttpRequest) -> bytes:
        raise AssertionError("the upload read request.body")

    monkeypatch.setattr(HttpRequest, "body", property(refuse))


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_upload_and_download_round_trip(
    owner: User, alice: Api, blob: bytes, chunk_sizes: list[int], no_request_body: None
) -> None:
    publish(owner, "big")
    response = alice.put("/models/alice/big/files/weights/model.safetensors", blob)
    assert response.status_code == 201
    made = response.json()
    digest = hashlib.sha256(blob).hexdigest()
    assert (made["path"], made["size"], made["sha256"]) == ("weights/model.safetensors", SIZE, digest)
    assert made["download_url"].endswith("/api/v1/models/alice/big/files/weights/model.safetensors")
    assert len(chunk_sizes) >= 3 and max(chunk_sizes) <= storage.CHUNK and sum(chunk_sizes) == SIZE

    download = alice.get("/models/alice/big/files/weights/model.safetensors")
    assert download.status_code == 200 and download.streaming
    assert body(download) == blob
    assert download["ETag"] == f'"{digest}"' and download["Content-Length"] == str(SIZE)
    assert download["Content-Type"] == "application/octet-stream"
    assert (
        hashlib.sha256(body(Api().get("/models/alice/big/files/weights/model.safetensors"))).hexdigest()
        == digest
    )

    listed = Api().get("/models/alice/big/files").json()["items"]
    assert listed == [made]
    assert Api().get("/models/alice/big").json()["files"] == 1

    replaced = alice.put("/models/alice/big/files/weights/model.safetensors", b"smaller")
    assert replaced.status_code == 200 and replaced.json()["size"] == 7
    assert body(alice.get("/models/alice/big/files/weights/model.safetensors")) == b"smaller"
    model = MLModel.objects.get(pk=owner.ml_models.get().pk)
    # Two revisions: the replaced version stays readable in the first one.
    assert revisions.head_files(model).count() == 1 and model.commits.count() == 2
    assert ModelFile.objects.count() == 2


def test_ranges_and_etags(owner: User, alice: Api) -> None:
    publish(owner, "m")
    data = bytes(range(256)) * 4
    digest = alice.put("/models/alice/m/files/w.bin", data).json()["sha256"]
    url = "/models/alice/m/files/w.bin"

    part = alice.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and body(part) == data[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(data)}" and part["Content-Length"] == "10"
    assert body(alice.get(url, headers={"Range": "bytes=-5"})) == data[-5:]
    assert body(alice.get(url, headers={"Range": "bytes=1000-"})) == data[1000:]

    unsatisfiable = alice.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert_error(unsatisfiable, 416, "range_not_satisfiable")
    assert unsatisfiable["Content-Range"] == f"bytes */{len(data)}"

    cached = alice.get(url, headers={"If-None-Match": f'"{digest}"'})
    assert cached.status_code == 304 and body(cached) == b""
    assert alice.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    stale = alice.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and body(stale) == data


@pytest.mark.parametrize(
    "path", ["../x", "..%2Fx", "%2Fabs", "/abs", "a//b", "a/./b", "a/../../b", "a%5Cb", "a%00b", "%20a", "a/"]
)
def test_paths_that_escape_are_refused_and_nothing_is_stored(
    owner: User, alice: Api, media: Path, path: str
) -> None:
    publish(owner, "m")
    response = alice.put(f"/models/alice/m/files/{path}", b"payload")
    assert response.status_code in (404, 422), response.content
    if response.status_code == 422:
        assert "path" in assert_error(response, 422, "invalid_fields")["fields"]
    else:  # "a/" has nothing after the slash: no such endpoint at all
        assert_error(response, 404)
    assert ModelFile.objects.count() == 0
    assert stored_files(media) == []


def test_traversal_in_the_raw_request_path(owner: User, media: Path) -> None:
    """As an HTTP client that does not tidy dot segments would send it."""
    publish(owner, "m")
    api = Api(token_for(owner))
    for raw in ("/api/v1/models/alice/m/files/../x", "/api/v1/models/alice/m/files/a/../../../etc/passwd"):
        response = api.client.generic(
            "PUT", raw, b"payload", content_type="application/octet-stream", headers=api.headers
        )
        assert_error(response, 422, "invalid_fields")
    assert ModelFile.objects.count() == 0 and stored_files(media) == []


def test_too_large_is_refused_before_reading(
    owner: User, alice: Api, settings: Any, monkeypatch: pytest.MonkeyPatch, media: Path
) -> None:
    publish(owner, "m")
    settings.MAX_UPLOAD_BYTES = 1000

    def must_not_stage(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body was read")

    monkeypatch.setattr(blobs, "seal_upload", must_not_stage)
    assert_error(alice.put("/models/alice/m/files/w.bin", b"x" * 1001), 413, "too_large")
    assert ModelFile.objects.count() == 0 and stored_files(media) == []


def test_a_chunked_upload_without_a_length_is_refused(owner: User) -> None:
    publish(owner, "m")
    request = RequestFactory().generic(
        "PUT", "/api/v1/models/alice/m/files/w.bin", b"", HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}"
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    match = resolve(request.path)
    assert_error(match.func(request, **match.kwargs), 411, "length_required")
    assert ModelFile.objects.count() == 0


def test_an_empty_body_is_an_empty_file(owner: User, alice: Api) -> None:
    publish(owner, "m")
    made = alice.put("/models/alice/m/files/empty.txt", b"", headers={"Content-Length": "0"}).json()
    assert made["size"] == 0 and made["sha256"] == hashlib.sha256(b"").hexdigest()


def test_a_put_without_a_body_is_refused_and_keeps_the_file(owner: User, alice: Api) -> None:
    publish(owner, "m")
    alice.put("/models/alice/m/files/w.bin", b"kept")
    # The test client sends no Content-Length for an empty body: a request without a body.
    assert_error(alice.put("/models/alice/m/files/w.bin", b""), 411, "length_required")
    assert_error(alice.put("/models/alice/m/files/new.bin", b""), 411, "length_required")
    assert body(alice.get("/models/alice/m/files/w.bin")) == b"kept"
    assert [f.path for f in ModelFile.objects.all()] == ["w.bin"]


def test_a_body_shorter_than_its_length_keeps_the_file(owner: User, alice: Api) -> None:
    publish(owner, "m")
    alice.put("/models/alice/m/files/w.bin", b"kept")
    # A client that stops after 3 of the 10 bytes it announced (the test client refuses to send that).
    request = RequestFactory().generic(
        "PUT",
        "/api/v1/models/alice/m/files/w.bin",
        b"",
        CONTENT_LENGTH="10",
        HTTP_AUTHORIZATION=alice.headers["Authorization"],
        **{"wsgi.input": io.BytesIO(b"cut")},
    )
    match = resolve(request.path)
    assert_error(match.func(request, **match.kwargs), 400, "bad_request")
    assert body(alice.get("/models/alice/m/files/w.bin")) == b"kept"


def test_who_may_upload(owner: User, member: User, bob: Api, anonymous: Api, media: Path) -> None:
    publish(owner, "pub")
    publish(owner, "priv", visibility="private")
    assert_error(anonymous.put("/models/alice/pub/files/w.bin", b"x"), 401)
    assert_error(bob.put("/models/alice/pub/files/w.bin", b"x"), 403, "forbidden")
    private, absent = (
        bob.put("/models/alice/priv/files/w.bin", b"x"),
        bob.put("/models/alice/none/files/w.bin", b"x"),
    )
    assert_error(private, 404)
    assert private.content == absent.content
    assert_error(
        Api(token_for(owner, "read")).put("/models/alice/pub/files/w.bin", b"x"), 403, "insufficient_scope"
    )
    assert ModelFile.objects.count() == 0 and stored_files(media) == []


def test_downloads_follow_the_models_visibility(owner: User, alice: Api, bob: Api, anonymous: Api) -> None:
    for visibility in ("public", "unlisted", "private"):
        publish(owner, visibility, visibility=visibility)
        alice.put(f"/models/alice/{visibility}/files/w.bin", b"data")
    for api in (bob, anonymous):
        assert "X-Robots-Tag" not in api.get("/models/alice/public/files/w.bin")
        unlisted = api.get("/models/alice/unlisted/files/w.bin")
        assert unlisted.status_code == 200 and unlisted["X-Robots-Tag"] == "noindex"
        assert api.get("/models/alice/unlisted/files")["X-Robots-Tag"] == "noindex"
        private = api.get("/models/alice/private/files/w.bin")
        absent = api.get("/models/alice/never-existed/files/w.bin")
        assert_error(private, 404)
        assert private.content == absent.content
    assert body(alice.get("/models/alice/private/files/w.bin")) == b"data"
    assert_error(alice.get("/models/alice/public/files/missing.bin"), 404)


def test_deleting_a_file(
    owner: User, alice: Api, bob: Api, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    publish(owner, "m")
    alice.put("/models/alice/m/files/w.bin", b"data")
    assert len(stored_files(media)) == 1
    assert_error(bob.delete("/models/alice/m/files/w.bin"), 403)
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.delete("/models/alice/m/files/w.bin").status_code == 204
    assert_error(alice.delete("/models/alice/m/files/w.bin"), 404, "not_found")
    assert alice.get("/models/alice/m/files").json()["items"] == []
    # The first revision still holds the file; removing it from history removes the stored bytes.
    assert len(stored_files(media)) == 1
    model = owner.ml_models.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert revisions.purge_path(model, "w.bin", acting_user=owner) == 1
    assert stored_files(media) == []


def wsgi(method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A request through the WSGI application itself, as a server would send it: the test client's own
    removal of HEAD bodies does not hide what the application sends."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
    environ = getattr(RequestFactory(), method.lower())(path, **extra).environ
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

    # As Django's test client does, keep the test's database connection: a bare WSGI handler would
    # close it after the request, and the test's transaction with it (on PostgreSQL).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = WSGIHandler()(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], content


def test_head_answers_a_download_s_headers_without_its_bytes(owner: User, alice: Api) -> None:
    from candor.analytics.buffer import flush
    from candor.analytics.models import ModelDaily

    model = publish(owner, "m")
    data = bytes(range(256)) * 8
    digest = alice.put("/models/alice/m/files/w.bin", data).json()["sha256"]
    url = "/api/v1/models/alice/m/files/w.bin"

    status, headers, content = wsgi("HEAD", url)
    got, got_headers, got_content = wsgi("GET", url)
    assert (status, content) == (200, b"") and (got, got_content) == (200, data)
    for name in ("Content-Length", "ETag", "Accept-Ranges", "Content-Type", "Content-Disposition"):
        assert headers[name] == got_headers[name], name
    assert headers["Content-Length"] == str(len(data)) and headers["ETag"] == f'"{digest}"'

    status, headers, content = wsgi("HEAD", url, {"Range": "bytes=10-19"})
    assert (status, content) == (206, b"") and headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert headers["Content-Length"] == "10"
    status, _, content = wsgi("HEAD", url, {"If-None-Match": f'"{digest}"'})
    assert (status, content) == (304, b"")

    publish(owner, "hidden", visibility="private")
    alice.put("/models/alice/hidden/files/w.bin", b"secret")
    status, headers, content = wsgi("HEAD", "/api/v1/models/alice/hidden/files/w.bin")
    assert (status, content) == (404, b"") and headers["Content-Type"].startswith("application/json")

    # A HEAD is no download: only the GET above was counted.
    flush()
    assert list(ModelDaily.objects.filter(model_id=model.pk).values_list("downloads", flat=True)) == [1]


def test_head_on_pages_sends_no_body(owner: User) -> None:
    publish(owner, "shown")
    for path in ("/", "/models/", "/alice/shown/", "/trends/"):
        status, headers, content = wsgi("HEAD", path)
        _, got_headers, got_content = wsgi("GET", path)
        assert (status, content) == (200, b"") and got_content, path
        assert headers["Content-Length"] == str(len(got_content)), path
        assert headers["Content-Type"] == got_headers["Content-Type"]
