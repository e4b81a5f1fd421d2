"""The Git LFS batch API and its upload addresses, driven by the real client's LFS functions."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import pytest
from huggingface_hub import lfs
from huggingface_hub.errors import HfHubHTTPError
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub import blobs, largefiles, revisions
from candor.hub.models import Blob, LfsUpload, MLModel
from tests.hf.conftest import e2e, hf
from tests.test_client import new_token

pytestmark = e2e


@pytest.fixture(autouse=True)
def lfs_not_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)


def model_of(owner: User, name: str) -> MLModel:
    return MLModel.objects.named(owner, name).select_related("owner").get()


def batch(
    site: LiveServer, token: str, repo: str, objects: list[tuple[bytes, int]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The real client's batch request (``lfs.post_lfs_batch_info``): actions and errors."""
    infos = [
        lfs.UploadInfo(size=size, sample=data[:512], sha256=hashlib.sha256(data).digest())
        for data, size in objects
    ]
    actions, errors, transfer = lfs.post_lfs_batch_info(
        upload_infos=infos, token=token, repo_type="model", repo_id=repo, revision="main", endpoint=site.url
    )
    assert transfer == "basic"
    return actions, errors


def test_upload_actions_are_capabilities(site: LiveServer, owner: User, write_token: str) -> None:
    hf(site, write_token).create_repo("alice/tiny")
    data = random.Random(1).randbytes(300_000)
    actions, errors = batch(site, write_token, "alice/tiny", [(data, len(data))])
    assert errors == []
    (action,) = actions
    upload = action["actions"]["upload"]
    assert "chunk_size" not in (upload.get("header") or {})  # a single PUT, whatever the size
    href = upload["href"]
    # The address names nothing but a random key: no person, model, token or query string.
    assert "?" not in href and "alice" not in href and "tiny" not in href and write_token not in href
    assert href.startswith(f"{site.url}/lfs/upload/")
    assert LfsUpload.objects.count() == 1
    # The client's PUT carries no Authorization header; the key is enough.
    assert httpx.put(href, content=data).status_code == 200
    assert blobs.find(owner.pk, hashlib.sha256(data).hexdigest()) is not None
    assert LfsUpload.objects.count() == 0  # a grant is used once
    assert httpx.put(href, content=data).status_code == 404
    verify = action["actions"]["verify"]["href"]
    checked = httpx.post(
        verify,
        json={"oid": action["oid"], "size": len(data)},
        headers={"Authorization": f"Bearer {write_token}"},
    )
    assert checked.status_code == 200
    # Held now: a second batch asks for nothing.
    again, _ = batch(site, write_token, "alice/tiny", [(data, len(data))])
    assert again[0].get("actions") is None


def test_wrong_bytes_are_refused_and_nothing_is_kept(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    data = random.Random(2).randbytes(200_000)
    sha = hashlib.sha256(data).hexdigest()
    actions, _ = batch(site, write_token, "alice/tiny", [(data, len(data))])
    href = actions[0]["actions"]["upload"]["href"]
    other = random.Random(3).randbytes(len(data))  # the same size, another SHA-256
    refused = httpx.put(href, content=other)
    assert refused.status_code == 400
    assert "not those announced" in refused.json()["error"]
    assert httpx.put(href, content=data[:-1]).status_code == 400  # fewer bytes
    assert httpx.put(href, content=data + b"!").status_code == 400  # more bytes
    assert not Blob.objects.filter(owner=owner).exists()
    verify = actions[0]["actions"]["verify"]["href"]
    missing = httpx.post(
        verify, json={"oid": sha, "size": len(data)}, headers={"Authorization": f"Bearer {write_token}"}
    )
    assert missing.status_code == 404
    # A commit naming the object is refused, and makes nothing.
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": sha, "size": len(data)}}
    body = b"".join(
        json.dumps(item).encode() + b"\n" for item in ({"key": "header", "value": {"summary": "x"}}, line)
    )
    answer = httpx.post(
        f"{site.url}/api/models/alice/tiny/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {write_token}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 404
    assert model_of(owner, "tiny").head_id is None
    # The grant still works for the right bytes; then a commit whose size differs is refused.
    assert httpx.put(href, content=data).status_code == 200
    wrong_size = {**line, "value": {**line["value"], "size": len(data) + 1}}
    body = b"".join(
        json.dumps(item).encode() + b"\n"
        for item in ({"key": "header", "value": {"summary": "x"}}, wrong_size)
    )
    answer = httpx.post(
        f"{site.url}/api/models/alice/tiny/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {write_token}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 400
    assert model_of(owner, "tiny").head_id is None


def test_unknown_and_expired_addresses(site: LiveServer, owner: User, write_token: str) -> None:
    hf(site, write_token).create_repo("alice/tiny")
    assert httpx.put(f"{site.url}/lfs/upload/{'x' * 43}", content=b"abc").status_code == 404
    data = b"expiring bytes"
    actions, _ = batch(site, write_token, "alice/tiny", [(data, len(data))])
    LfsUpload.objects.update(expires_at=largefiles.timezone.now() - largefiles.GRANT_LIFETIME)
    assert httpx.put(actions[0]["actions"]["upload"]["href"], content=data).status_code == 404
    assert not Blob.objects.filter(owner=owner).exists()


def test_batch_refusals(
    site: LiveServer, owner: User, member: User, write_token: str, read_token: str, settings: Any
) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    api.create_repo("alice/open", private=False)
    data = b"some bytes"
    with pytest.raises(HfHubHTTPError) as reader:
        batch(site, read_token, "alice/tiny", [(data, len(data))])
    assert reader.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as other:
        batch(site, new_token(member), "alice/open", [(data, len(data))])
    assert other.value.response.status_code == 403
    with pytest.raises(huggingface_hub.errors.RepositoryNotFoundError):
        batch(site, new_token(member), "alice/tiny", [(data, len(data))])
    settings.MAX_UPLOAD_BYTES = 5
    with pytest.raises(HfHubHTTPError) as large:
        batch(site, write_token, "alice/tiny", [(data, len(data))])
    assert large.value.response.status_code == 413
    bad = httpx.post(
        f"{site.url}/alice/tiny.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": "not-a-sha", "size": 1}]},
        headers={"Authorization": f"Bearer {write_token}"},
    )
    assert bad.status_code == 400
    assert not LfsUpload.objects.exists()


def test_download_batch_names_only_the_models_own_files(
    site: LiveServer, owner: User, write_token: str
) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/open", private=False)
    api.create_repo("alice/secret")
    shown = random.Random(4).randbytes(1100 * 1024)
    hidden = random.Random(5).randbytes(1100 * 1024)
    api.upload_file(path_or_fileobj=shown, path_in_repo="w.bin", repo_id="alice/open")
    api.upload_file(path_or_fileobj=hidden, path_in_repo="h.bin", repo_id="alice/secret")
    answer = httpx.post(
        f"{site.url}/alice/open.git/info/lfs/objects/batch",
        json={
            "operation": "download",
            "transfers": ["basic"],
            "objects": [
                {"oid": hashlib.sha256(shown).hexdigest(), "size": len(shown)},
                {"oid": hashlib.sha256(hidden).hexdigest(), "size": len(hidden)},
            ],
        },
    )
    assert answer.status_code == 200
    found, missing = answer.json()["objects"]
    head = revisions.resolve(model_of(owner, "open"))
    assert head is not None
    assert found["actions"]["download"]["href"] == f"{site.url}/alice/open/resolve/{head.oid}/w.bin"
    assert missing["error"]["code"] == 404 and "actions" not in missing


def test_a_large_file_streams_through_a_single_put(
    site: LiveServer, owner: User, write_token: str, settings: Any, tmp_path: Path
) -> None:
    """64 MiB through the real client, while Django refuses to read any body over 1 MiB whole: the
    upload passes only because the body is read in pieces (and the commit's lines are too)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    big = tmp_path / "model.safetensors"
    rng = random.Random(9)
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for _ in range(64):
            piece = rng.randbytes(1024 * 1024)
            digest.update(piece)
            out.write(piece)
    api = hf(site, write_token)
    api.create_repo("alice/big")
    api.upload_file(path_or_fileobj=big, path_in_repo="model.safetensors", repo_id="alice/big")
    stored = revisions.file_at(model_of(owner, "big"), "model.safetensors")
    assert stored.size == 64 * 1024 * 1024
    assert stored.sha256 == digest.hexdigest()
    check = hashlib.sha256()
    for piece in blobs.read(stored.blob):
        check.update(piece)
    assert check.hexdigest() == digest.hexdigest()
