"""Candor with its default storage on SeaweedFS: model files through the API and the website, exports
built into the store and downloaded from it, and what happens while the store is down."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from candor.accounts.models import User
from candor.core.dbworker import Worker
from candor.hub import revisions
from candor.hub.models import ModelFile
from candor.kernel import staging
from candor.lifecycle import export
from candor.privacy import sealed
from candor.privacy.models import ExportArchive
from tests.api.conftest import Api, assert_error, body, publish, token_for
from tests.conftest import use_task_backend
from tests.storage.conftest import S3

pytestmark = pytest.mark.django_db

BLOB = random.Random(5).randbytes(2 * 1024 * 1024 + 4321)
URL = "/models/alice/m/files/weights/model.bin"


@pytest.fixture
def alice(owner: User) -> Api:
    return Api(token_for(owner))


def staged_files() -> list[Path]:
    root = staging.root()
    return [p for p in root.iterdir() if p.is_file()] if root.exists() else []


def test_a_model_file_goes_up_to_the_store_and_comes_back_whole_and_in_ranges(
    s3: S3, owner: User, alice: Api, django_capture_on_commit_callbacks: Any
) -> None:
    publish(owner, "m")
    response = alice.put(URL, BLOB)
    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == hashlib.sha256(BLOB).hexdigest()
    row = ModelFile.objects.get()
    name = str(row.blob.stored.name)
    assert s3.stored() == [name]
    stored = s3.body(name)
    # Sealed under the owner's key: no clear run of the file's bytes is in the store.
    assert stored.startswith(b"CNDSEAL1") and BLOB[:4096] not in stored and BLOB[-4096:] not in stored
    assert staged_files() == []

    download = alice.get(URL)
    assert download.status_code == 200 and download["Content-Length"] == str(len(BLOB))
    assert body(download) == BLOB
    part = alice.get(URL, headers={"Range": "bytes=1048570-1048580"})
    assert part.status_code == 206 and body(part) == BLOB[1048570:1048581]
    assert body(alice.get(URL, headers={"Range": "bytes=-7"})) == BLOB[-7:]
    assert_error(alice.get(URL, headers={"Range": f"bytes={len(BLOB)}-"}), 416, "range_not_satisfiable")
    head = alice.request("HEAD", URL)
    assert head.status_code == 200 and head["Content-Length"] == str(len(BLOB))
    # The website's download, from the same object.
    page = Client().get("/alice/m/files/weights/model.bin")
    assert page.status_code == 200 and body(page) == BLOB

    with django_capture_on_commit_callbacks(execute=True):
        assert alice.put(URL, b"replaced").status_code == 200
    model = owner.ml_models.get()
    replaced = revisions.head_files(model).get()
    # The first revision keeps the old version: both objects are in the store.
    assert sorted(s3.stored()) == sorted([str(replaced.blob.stored.name), name])
    assert body(alice.get(URL)) == b"replaced"
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.delete(URL).status_code == 204
    assert_error(alice.get(URL), 404, "not_found")
    with django_capture_on_commit_callbacks(execute=True):
        revisions.purge_path(model, "weights/model.bin", acting_user=owner)
    assert s3.stored() == []


def test_with_the_store_down_an_upload_is_refused_with_503_and_nothing_is_kept(
    s3: S3, owner: User, alice: Api
) -> None:
    publish(owner, "m")
    assert alice.put(URL, b"the first version").status_code == 201
    before = s3.stored()
    with s3.store.down():
        refused = alice.put(URL, BLOB)
        error = assert_error(refused, 503, "storage_unavailable")
        assert "try again" in error["message"] and "127.0.0.1" not in error["message"]
        assert refused["Retry-After"] == "30"
        new = alice.put("/models/alice/m/files/other.bin", BLOB)
        assert_error(new, 503, "storage_unavailable")
        assert [f.path for f in ModelFile.objects.all()] == ["weights/model.bin"]
        assert staged_files() == []  # the staging file was removed
        assert_error(alice.get(URL), 503, "storage_unavailable")  # downloads say so too
        page = Client(raise_request_exception=False).get("/alice/m/files/weights/model.bin")
        assert page.status_code == 503 and page["Retry-After"] == "30"
        assert b"File storage is unreachable" in page.content and b"Nothing was changed" in page.content
    assert s3.stored() == before
    assert body(alice.get(URL)) == b"the first version"


def test_with_the_store_down_the_website_s_upload_form_answers_with_the_storage_page(
    s3: S3, owner: User, owner_client: Client
) -> None:
    publish(owner, "m")
    owner_client.raise_request_exception = False
    with s3.store.down():
        upload = SimpleUploadedFile("model.bin", BLOB, content_type="application/octet-stream")
        page = owner_client.post("/alice/m/upload/", {"file": upload, "path": "model.bin"})
        assert page.status_code == 503 and b"File storage is unreachable" in page.content
        assert ModelFile.objects.count() == 0 and staged_files() == []
    assert s3.stored() == []


def test_an_export_is_built_into_the_store_and_downloaded_from_it(
    s3: S3, owner: User, alice: Api, django_capture_on_commit_callbacks: Any
) -> None:
    publish(owner, "m")
    assert alice.put(URL, BLOB).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        answer = alice.post("/me/export").json()
    archive = ExportArchive.objects.get(public_id=answer["id"])
    assert archive.status == ExportArchive.Status.READY
    assert archive.archive.name in s3.stored() and archive.archive.name.startswith("exports/")
    stored = s3.body(archive.archive.name)
    assert stored.startswith(sealed.MAGIC) and b"README.json" not in stored  # sealed in the store too
    download = alice.get(f"/me/exports/{answer['id']}/download")
    assert download.status_code == 200
    zipped = zipfile.ZipFile(io.BytesIO(body(download)))
    copied = [name for name in zipped.namelist() if name.endswith("model.bin")]
    assert len(copied) == 1 and zipped.read(copied[0]) == BLOB  # the model file, read from the store
    with s3.store.down():
        assert_error(alice.get(f"/me/exports/{answer['id']}/download"), 503, "storage_unavailable")


def test_an_export_build_is_tried_again_by_the_worker_once_the_store_is_back(
    s3: S3, owner: User, settings: Any, transactional_db: None
) -> None:
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["default"],
        interval=0.1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="storage-test",
        excluded_queue_names=[],
    )

    def run_build() -> DBTaskResult:
        row = DBTaskResult.objects.get(task_path="candor.lifecycle.export.builder.build_export")
        row.claim(worker.worker_id)
        worker.run_task(row)
        return DBTaskResult.objects.get(pk=row.pk)

    archive = export.request_export(owner, acting_user=owner)
    with s3.store.down():
        row = run_build()
        assert row.status == "READY" and row.run_after > timezone.now()  # queued again, a little later
        archive.refresh_from_db()
        assert archive.status == ExportArchive.Status.PENDING  # not failed: the store's fault, not its
        assert staged_files() == []
    DBTaskResult.objects.filter(pk=row.pk).update(run_after=timezone.now())
    row = run_build()
    assert row.status == "SUCCESSFUL", row.traceback
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY and s3.stored() == [archive.archive.name]
    assert len(row.worker_ids) == 2


@pytest.mark.django_db(transaction=True)
def test_the_client_s_push_and_pull_go_through_the_store_and_exit_5_while_it_is_down(
    s3: S3, owner: User, live_server: Any, tmp_path: Path
) -> None:
    from tests.test_client import client, make_model_folder, new_token, tree

    token = new_token(owner)
    source, target = tmp_path / "tiny", tmp_path / "pulled"
    source.mkdir()
    files = make_model_folder(source)
    pushed = client(["push", str(source), "alice/tiny"], tmp_path, server=live_server.url, token=token)
    assert pushed.returncode == 0, pushed.stderr
    assert len(s3.stored()) == len(files)
    pulled = client(["pull", "alice/tiny", str(target)], tmp_path, server=live_server.url, token=token)
    assert pulled.returncode == 0, pulled.stderr
    assert tree(target) == files
    (source / "new.bin").write_bytes(b"a new file")
    with s3.store.down():
        refused = client(["push", str(source), "alice/tiny"], tmp_path, server=live_server.url, token=token)
        assert refused.returncode == 5, (refused.stdout, refused.stderr)
        assert "File storage is unreachable" in refused.stderr and token not in refused.stderr
    model = owner.ml_models.get()
    assert len(s3.stored()) == len(files) and revisions.head_files(model).count() == len(files)
