"""The Xet upload path against the real client: ``huggingface_hub`` with ``hf_xet``, a live Candor.

The commit endpoint is built apart, so the tests drive the client's Xet upload alone
(``_commit_api._upload_xet_files``, what ``upload_file`` and ``create_commit`` call for every large file)
in a fresh interpreter, with its Xet cache in the test's folder, then look for the blob the commit would
find: the owner's, by SHA-256, whose decrypted bytes are the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub import actions, blobs
from candor.hub.models import Blob, XetXorb
from candor.hub.xet import format
from tests.hf.conftest import e2e, run_client
from tests.hub.test_xet_format import DATA, XORB_HEX, _files
from tests.test_client import new_token

UPLOAD = """
import json, sys
from huggingface_hub import CommitOperationAdd
from huggingface_hub._commit_api import _upload_xet_files
from huggingface_hub.utils import build_hf_headers
import os
paths = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.loads(os.environ["XET_PATHS"])
ops = [CommitOperationAdd(path_in_repo=os.path.basename(p), path_or_fileobj=p) for p in paths]
try:
    _upload_xet_files(
        additions=ops, repo_type="model", repo_id=os.environ["XET_REPO"],
        headers=build_hf_headers(token=os.environ["HF_TOKEN"]), endpoint=os.environ["HF_ENDPOINT"],
        revision="main",
    )
except Exception as error:
    print("FAILED", type(error).__name__, error)
    sys.exit(3)
print(json.dumps([op.upload_info.sha256.hex() for op in ops]))
"""


def upload(site: LiveServer, token: str, home: Path, repo: str, *files: Path) -> Any:
    return run_client(
        UPLOAD,
        endpoint=site.url,
        token=token,
        home=home,
        XET_REPO=repo,
        XET_PATHS=json.dumps([str(f) for f in files]),
        HF_XET_CACHE=str(home / "xet"),
        RUST_LOG=os.environ.get("RUST_LOG", "warn"),
    )


def stored_bytes(blob: Blob) -> bytes:
    return b"".join(blobs.read(blob))


@pytest.fixture
def model(owner: User) -> Any:
    return actions.create_model(acting_user=owner, name="m", title="M", summary="s", visibility="public")


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _uploaded(site: LiveServer, user: User, tmp_path: Path, repo: str, files: dict[str, bytes]) -> list[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    result = upload(site, new_token(user), tmp_path, repo, *paths)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    shas: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return shas


@e2e
@pytest.mark.parametrize("size", [0, 1, 200 * 1024, 3 * 1024 * 1024 + 7])
def test_files_of_every_size_become_the_owners_blobs(
    site: LiveServer, owner: User, model: Any, tmp_path: Path, size: int
) -> None:
    data = _random(size, size)
    (announced,) = _uploaded(site, owner, tmp_path, "alice/m", {"w.bin": data})
    sha = hashlib.sha256(data).hexdigest()
    # hf_xet reports zeros for an empty file (so the preupload should call empty files "regular"); the
    # server stores the empty file under its true SHA-256 all the same.
    assert announced == (sha if size else "0" * 64)
    blob = blobs.find(owner.pk, sha)
    assert blob is not None and blob.owner_id == owner.pk and blob.size == size
    assert stored_bytes(blob) == data


@e2e
def test_a_file_larger_than_one_xorb(site: LiveServer, owner: User, model: Any, tmp_path: Path) -> None:
    data = _random(70 * 1024 * 1024, 1)
    (sha,) = _uploaded(site, owner, tmp_path, "alice/m", {"big.bin": data})
    assert XetXorb.objects.filter(owner=owner).count() >= 2
    blob = blobs.find(owner.pk, sha)
    assert blob is not None
    digest = hashlib.sha256()
    for piece in blobs.read(blob):
        digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == sha


@e2e
def test_shared_content_is_stored_once_per_owner_and_apart_for_another(
    site: LiveServer, owner: User, member: User, model: Any, tmp_path: Path
) -> None:
    actions.create_model(acting_user=member, name="m", title="M", visibility="public")
    common = _random(2 * 1024 * 1024, 5)
    first, second = common + b"one", b"two" + common
    shas = _uploaded(site, owner, tmp_path, "alice/m", {"a.bin": first, "b.bin": second, "c.bin": first})
    assert shas[0] == shas[2]
    # The same bytes twice: one blob of the owner.
    assert Blob.objects.filter(owner=owner, address=blobs.address(owner.pk, shas[0])).count() == 1
    for sha, data in zip(shas, (first, second, first), strict=True):
        blob = blobs.find(owner.pk, sha)
        assert blob is not None and stored_bytes(blob) == data
    # The same file by another owner: their own xorbs and blob, nothing shared, nothing found across.
    (theirs,) = _uploaded(site, member, tmp_path / "bob", "bob/m", {"a.bin": first})
    mine, their_blob = blobs.find(owner.pk, theirs), blobs.find(member.pk, theirs)
    assert mine is not None and their_blob is not None and mine.pk != their_blob.pk
    assert not (
        set(XetXorb.objects.filter(owner=owner).values_list("blob_id", flat=True))
        & set(XetXorb.objects.filter(owner=member).values_list("blob_id", flat=True))
    )


@e2e
def test_a_later_upload_may_name_xorbs_of_an_earlier_one(
    site: LiveServer, owner: User, model: Any, tmp_path: Path
) -> None:
    common = _random(3 * 1024 * 1024, 9)
    _uploaded(site, owner, tmp_path, "alice/m", {"v1.bin": common})
    before = _held(owner)
    # The same cache folder: the client remembers what it sent and sends only the new part, naming the
    # earlier upload's xorbs in its shard; the server rebuilds the file from both.
    (sha,) = _uploaded(site, owner, tmp_path, "alice/m", {"v2.bin": common + _random(100_000, 10)})
    blob = blobs.find(owner.pk, sha)
    assert blob is not None and stored_bytes(blob) == common + _random(100_000, 10)
    assert before <= _held(owner) < before + len(common) // 2


def _held(user: User) -> int:
    return sum(row.blob.size for row in XetXorb.objects.filter(owner=user).select_related("blob"))


# --- refusals, by the real client and by hand ---


def _token_answer(site: LiveServer, token: str | None, repo: str = "alice/m") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{site.url}/api/models/{repo}/xet-write-token/main", headers=headers)


@e2e
def test_the_token_endpoint_answers_the_store_and_a_short_lived_token(
    site: LiveServer, owner: User, model: Any
) -> None:
    answer = _token_answer(site, new_token(owner))
    assert answer.status_code == 200
    body = answer.json()
    assert body["casUrl"] == f"{site.url}/xet/cas" == answer.headers["X-Xet-Cas-Url"]
    assert body["accessToken"] == answer.headers["X-Xet-Access-Token"]
    assert int(answer.headers["X-Xet-Token-Expiration"]) == body["exp"]
    assert 0 < body["exp"] - time.time() <= 3600
    assert "no-store" in answer.headers["Cache-Control"]


@e2e
def test_the_token_endpoint_refuses_whoever_may_not_write(
    site: LiveServer, owner: User, member: User, model: Any
) -> None:
    actions.create_model(acting_user=owner, name="hidden", title="H", visibility="private")
    cases = [
        (None, "alice/m", 401),
        ("cnd_not_a_token", "alice/m", 401),
        (new_token(owner, scopes=("read",)), "alice/m", 403),
        (new_token(member), "alice/m", 403),  # public: they know it exists
        (new_token(member), "alice/hidden", 404),  # private: as if missing
        (new_token(owner), "alice/missing", 404),
    ]
    for token, repo, status in cases:
        answer = _token_answer(site, token, repo)
        assert answer.status_code == status, (token, repo, answer.text)
        assert answer.json()["error"]
        assert "accessToken" not in answer.text


@e2e
def test_the_real_client_reports_a_read_only_token(
    site: LiveServer, owner: User, model: Any, tmp_path: Path
) -> None:
    (tmp_path / "w.bin").write_bytes(b"x" * 100)
    result = upload(site, new_token(owner, scopes=("read",)), tmp_path, "alice/m", tmp_path / "w.bin")
    assert result.returncode == 3 and "403" in result.stdout
    assert not Blob.objects.exists()


def _access(site: LiveServer, user: User, repo: str = "alice/m") -> str:
    answer = _token_answer(site, new_token(user), repo)
    assert answer.status_code == 200
    token: str = answer.json()["accessToken"]
    return token


def _cas(site: LiveServer, access: str | None, method: str, path: str, body: bytes = b"") -> httpx.Response:
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    return httpx.request(method, f"{site.url}/xet/cas{path}", headers=headers, content=body)


@e2e
def test_the_store_refuses_a_bad_token_a_corrupted_xorb_and_a_shard_naming_an_unsent_xorb(
    site: LiveServer, owner: User, member: User, model: Any
) -> None:
    xorb = (DATA / f"{XORB_HEX}.xorb").read_bytes()
    shard = (DATA / "two-files.shard").read_bytes()
    for bad in (None, "cxt1_nonsense", new_token(owner)):  # a Candor API token is not a Xet token
        answer = _cas(site, bad, "POST", f"/v1/xorbs/default/{XORB_HEX}", xorb)
        assert answer.status_code == 401 and answer.json()["error"]
    access = _access(site, owner)
    corrupted = bytearray(xorb)
    corrupted[5000] ^= 0xFF
    answer = _cas(site, access, "POST", f"/v1/xorbs/default/{XORB_HEX}", bytes(corrupted))
    assert answer.status_code == 400 and "xorb was refused" in answer.json()["error"]
    answer = _cas(site, access, "POST", "/v1/shards", shard)
    assert answer.status_code == 400 and "has not uploaded" in answer.json()["error"]
    assert not Blob.objects.exists() and not XetXorb.objects.exists()
    # Sent whole, the xorb and then the shard are taken.
    answer = _cas(site, access, "POST", f"/v1/xorbs/default/{XORB_HEX}", xorb)
    assert answer.status_code == 200 and answer.json() == {"was_inserted": True}
    assert _cas(site, access, "POST", f"/v1/xorbs/default/{XORB_HEX}", xorb).json() == {"was_inserted": False}
    assert _cas(site, access, "POST", "/v1/shards", shard).json() == {"result": 1}
    # Nothing of alice's is found through bob's token, on his own model.
    actions.create_model(acting_user=member, name="m", title="M", visibility="public")
    theirs = _access(site, member, "bob/m")
    answer = _cas(site, theirs, "POST", "/v1/shards", shard)
    assert answer.status_code == 400 and "has not uploaded" in answer.json()["error"]
    assert not Blob.objects.filter(owner=member).exists()


@e2e
def test_the_dedupe_query_never_finds_anything(site: LiveServer, owner: User, model: Any) -> None:
    access = _access(site, owner)
    _cas(site, access, "POST", f"/v1/xorbs/default/{XORB_HEX}", (DATA / f"{XORB_HEX}.xorb").read_bytes())
    chunk = format.to_hex(format.chunk_hash(b"".join(reversed(_files()))[:29464]))
    assert _cas(site, access, "GET", f"/v1/chunks/default-merkledb/{chunk}").status_code == 404
    assert _cas(site, None, "GET", f"/v1/chunks/default-merkledb/{chunk}").status_code == 401
    assert _cas(site, access, "POST", "/v2/shards", b"x" * 10).status_code == 404
    assert _cas(site, access, "POST", "/v1/telemetry", b"{}").status_code == 200
    assert _cas(site, access, "GET", f"/v1/xorbs/default/{XORB_HEX}").status_code == 405


@e2e
def test_the_store_counts_requests_against_the_token_behind_the_grant(
    site: LiveServer, owner: User, model: Any, settings: Any
) -> None:
    access = _access(site, owner)
    settings.API_RATE_PER_MINUTE = 3
    statuses = [_cas(site, access, "POST", "/v1/telemetry", b"{}").status_code for _ in range(5)]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
