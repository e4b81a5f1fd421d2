"""The Hugging Face protocol's writes, driven by the real ``huggingface_hub`` client against a live Candor.

Large files take the Git LFS path (``HF_HUB_DISABLE_XET``): the Xet server is another part of the
router, tested by its own tests. Bytes are read back through the domain (``revisions.file_at`` and
``blobs.read``), as the read router is another part too.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub import blobs, revisions
from candor.hub.choices import Visibility
from candor.hub.models import Commit, MLModel, Ref
from candor.kernel.refusal import Refusal
from tests.hf.conftest import e2e, hf, run_client
from tests.test_client import new_token

pytestmark = e2e


@pytest.fixture(autouse=True)
def lfs_not_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files through the Git LFS batch API (``is_xet_available`` reads this constant)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)


def model_of(owner: User, name: str) -> MLModel:
    return MLModel.objects.named(owner, name).select_related("owner").get()


def read_back(owner: User, name: str, path: str, revision: str | None = None) -> bytes:
    found = revisions.file_at(model_of(owner, name), path, revision)
    return b"".join(blobs.read(found.blob))


def paths_at(owner: User, name: str, revision: str | None = None) -> set[str]:
    model = model_of(owner, name)
    return {f.path for f in revisions.tree(revisions.resolve(model, revision))}


def head_oid(owner: User, name: str) -> str | None:
    model = model_of(owner, name)
    return None if model.head_id is None else Commit.objects.get(pk=model.head_id).oid


def ndjson(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def raw_commit(
    site: LiveServer, token: str, repo: str, body: bytes, revision: str = "main"
) -> httpx.Response:
    return httpx.post(
        f"{site.url}/api/models/{repo}/commit/{revision}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        timeout=60,
    )


HEADER = {"key": "header", "value": {"summary": "by hand", "description": ""}}


# --- Repositories ----------------------------------------------------------------------------------------


def test_create_repo_and_exist_ok(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    url = api.create_repo("alice/tiny")
    assert str(url) == f"{site.url}/alice/tiny"
    assert url.repo_id == "alice/tiny"
    assert model_of(owner, "tiny").visibility == Visibility.PRIVATE  # Candor publishes only when asked
    # Again, with exist_ok: the client reads the existing repository's url from the 409 answer.
    again = api.create_repo("alice/tiny", exist_ok=True)
    assert str(again) == f"{site.url}/alice/tiny"
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_repo("alice/tiny")
    assert refused.value.response.status_code == 409
    assert MLModel.objects.filter(owner=owner).count() == 1

    api.create_repo("tiny-public", private=False)
    assert model_of(owner, "tiny-public").visibility == Visibility.PUBLIC
    api.create_repo("tiny-private", visibility="private")
    assert model_of(owner, "tiny-private").visibility == Visibility.PRIVATE


def test_create_repo_refusals(site: LiveServer, owner: User, member: User, write_token: str) -> None:
    api = hf(site, write_token)
    with pytest.raises(HfHubHTTPError) as elsewhere:
        api.create_repo("bob/mine")
    assert elsewhere.value.response.status_code == 403
    with pytest.raises(BadRequestError) as bad:
        api.create_repo("alice/_underscored_")  # the client allows it, Candor does not
    assert "name" in str(bad.value).lower()
    with pytest.raises(BadRequestError):
        api.create_repo("alice/data", repo_type="dataset")
    unverified = User.objects.create_user("erin", "erin@example.org", "pw-1234567890", email_verified=False)
    with pytest.raises(HfHubHTTPError) as unconfirmed:
        hf(site, new_token(unverified)).create_repo("erin/open", private=False)
    assert unconfirmed.value.response.status_code == 403
    assert "email" in str(unconfirmed.value).lower()
    assert not MLModel.objects.exclude(owner=owner).exists()
    assert not MLModel.objects.filter(owner=owner).exists()


def test_update_settings_and_delete_repo(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    api.update_repo_settings("alice/tiny", private=False)
    assert model_of(owner, "tiny").visibility == Visibility.PUBLIC
    api.update_repo_settings("alice/tiny", visibility="private")
    assert model_of(owner, "tiny").visibility == Visibility.PRIVATE
    with pytest.raises(BadRequestError):
        api.update_repo_settings("alice/tiny", gated="manual")
    api.delete_repo("alice/tiny")
    assert not MLModel.objects.filter(owner=owner).exists()
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("alice/tiny")
    api.delete_repo("alice/tiny", missing_ok=True)


def test_read_only_token_cannot_write(
    site: LiveServer, owner: User, write_token: str, read_token: str
) -> None:
    hf(site, write_token).create_repo("alice/tiny")
    reader = hf(site, read_token)
    for attempt in (
        lambda: reader.create_repo("alice/other"),
        lambda: reader.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="alice/tiny"),
        lambda: reader.delete_repo("alice/tiny"),
        lambda: reader.update_repo_settings("alice/tiny", private=False),
        lambda: reader.create_branch("alice/tiny", branch="dev"),
    ):
        with pytest.raises(HfHubHTTPError) as refused:
            attempt()
        assert refused.value.response.status_code == 403
    assert MLModel.objects.filter(owner=owner).count() == 1
    assert head_oid(owner, "tiny") is None


def test_another_persons_model(site: LiveServer, owner: User, member: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/open", private=False)
    api.create_repo("alice/secret")
    api.upload_file(path_or_fileobj=b"mine\n", path_in_repo="a.txt", repo_id="alice/open")
    bob = hf(site, new_token(member))
    with pytest.raises(HfHubHTTPError) as readable:
        bob.upload_file(path_or_fileobj=b"his\n", path_in_repo="a.txt", repo_id="alice/open")
    assert readable.value.response.status_code == 403
    with pytest.raises(RepositoryNotFoundError):
        bob.upload_file(path_or_fileobj=b"his\n", path_in_repo="a.txt", repo_id="alice/secret")
    with pytest.raises(RepositoryNotFoundError):
        bob.delete_repo("alice/secret")
    with pytest.raises(HfHubHTTPError) as deleting:
        bob.delete_repo("alice/open")  # his own namespace is named: alice's is not his
    assert deleting.value.response.status_code == 403
    assert read_back(owner, "open", "a.txt") == b"mine\n"
    assert MLModel.objects.filter(owner=owner).count() == 2


# --- Files -----------------------------------------------------------------------------------------------


def test_upload_file_regular_and_lfs_round_trip(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    info = api.upload_file(path_or_fileobj=b'{"a": 1}\n', path_in_repo="config.json", repo_id="alice/tiny")
    assert info.oid == head_oid(owner, "tiny")
    assert info.commit_url == f"{site.url}/alice/tiny/commit/{info.oid}"
    assert info.repo_url.repo_id == "alice/tiny"
    weights = random.Random(3).randbytes(2 * 1024 * 1024 + 5)  # binary and over the regular limit
    api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id="alice/tiny")
    assert read_back(owner, "tiny", "config.json") == b'{"a": 1}\n'
    assert read_back(owner, "tiny", "model.safetensors") == weights
    assert Commit.objects.filter(model=model_of(owner, "tiny")).count() == 2
    # The preupload gives a large file's stored SHA-256 (the client then skips an unchanged file).
    sample = base64.b64encode(weights[:512]).decode()
    answer = httpx.post(
        f"{site.url}/api/models/alice/tiny/preupload/main",
        json={"files": [{"path": "model.safetensors", "sample": sample, "size": len(weights)}]},
        headers={"Authorization": f"Bearer {write_token}"},
    )
    assert answer.json()["files"][0]["oid"] == blobs.hashlib.sha256(weights).hexdigest()


def test_upload_mode_of_preupload(site: LiveServer, owner: User, write_token: str) -> None:
    hf(site, write_token).create_repo("alice/tiny")
    files = [
        {"path": "notes.txt", "sample": base64.b64encode(b"hello").decode(), "size": 5},
        {"path": "bin.dat", "sample": base64.b64encode(b"a\0b").decode(), "size": 3},
        {"path": "big.txt", "sample": base64.b64encode(b"text").decode(), "size": 2 * 1024 * 1024},
    ]
    answer = httpx.post(
        f"{site.url}/api/models/alice/tiny/preupload/main",
        json={"files": files},
        headers={"Authorization": f"Bearer {write_token}"},
    )
    assert answer.status_code == 200
    modes = {f["path"]: f["uploadMode"] for f in answer.json()["files"]}
    assert modes == {"notes.txt": "regular", "bin.dat": "lfs", "big.txt": "lfs"}


def hf_layout(root: Path) -> dict[str, bytes]:
    rng = random.Random(11)
    files = {
        "README.md": b"---\nlicense: mit\n---\n# Tiny\n",
        "config.json": b'{"model_type": "bert", "hidden_size": 64}\n',
        "model.safetensors": rng.randbytes(3 * 1024 * 1024 + 1),
        "tokenizer.json": json.dumps({"version": "1.0", "vocab": {"a": 0, "b": 1}}).encode(),
        "tokenizer_config.json": b'{"do_lower_case": true}\n',
        "special_tokens_map.json": b'{"unk_token": "[UNK]"}\n',
        "vocab.txt": b"[PAD]\n[UNK]\na\nb\n",
        "onnx/model.onnx": rng.randbytes(600 * 1024),
        "onnx/extra/empty.txt": b"",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def test_upload_folder_in_hugging_face_layout(
    site: LiveServer, owner: User, write_token: str, tmp_path: Path
) -> None:
    files = hf_layout(tmp_path / "tiny")
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    info = api.upload_folder(folder_path=tmp_path / "tiny", repo_id="alice/tiny", commit_message="First")
    assert info.oid == head_oid(owner, "tiny")
    assert paths_at(owner, "tiny") == set(files)
    for name, data in files.items():
        assert read_back(owner, "tiny", name) == data, name
    made = Commit.objects.get(oid=info.oid)
    assert made.message == "First"


def test_delete_file_and_folder(site: LiveServer, owner: User, write_token: str, tmp_path: Path) -> None:
    files = hf_layout(tmp_path / "tiny")
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    api.upload_folder(folder_path=tmp_path / "tiny", repo_id="alice/tiny")
    api.delete_file("vocab.txt", repo_id="alice/tiny")
    assert paths_at(owner, "tiny") == set(files) - {"vocab.txt"}
    api.delete_folder("onnx", repo_id="alice/tiny")
    assert paths_at(owner, "tiny") == set(files) - {"vocab.txt", "onnx/model.onnx", "onnx/extra/empty.txt"}
    before = head_oid(owner, "tiny")
    with pytest.raises(RemoteEntryNotFoundError):
        api.delete_file("vocab.txt", repo_id="alice/tiny")
    with pytest.raises(RemoteEntryNotFoundError):
        api.delete_folder("onnx", repo_id="alice/tiny")
    assert head_oid(owner, "tiny") == before


def test_create_commit_with_mixed_operations(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    big = random.Random(5).randbytes(1536 * 1024)
    api.create_commit(
        "alice/tiny",
        [
            CommitOperationAdd("keep.txt", b"keep\n"),
            CommitOperationAdd("gone.txt", b"gone\n"),
            CommitOperationAdd("old/a.txt", b"a\n"),
            CommitOperationAdd("old/deep/b.bin", b"\0b"),
            CommitOperationAdd("weights.bin", big),
        ],
        commit_message="Start",
    )
    first = head_oid(owner, "tiny")
    newer = random.Random(6).randbytes(1100 * 1024)
    info = api.create_commit(
        "alice/tiny",
        [
            CommitOperationAdd("new.txt", b"new\n"),
            CommitOperationAdd("weights.bin", newer),
            CommitOperationDelete("gone.txt"),
            CommitOperationDelete("old/"),
        ],
        commit_message="Mixed",
        commit_description="Adds, replaces and deletes in one commit.",
        parent_commit=first,
    )
    assert paths_at(owner, "tiny") == {"keep.txt", "new.txt", "weights.bin"}
    assert read_back(owner, "tiny", "weights.bin") == newer
    assert read_back(owner, "tiny", "weights.bin", first) == big  # the older revision keeps its bytes
    made = Commit.objects.get(oid=info.oid)
    assert made.parent is not None and made.parent.oid == first
    assert made.message == "Mixed\n\nAdds, replaces and deletes in one commit."


def test_copies_as_the_client_sends_them(site: LiveServer, owner: User, write_token: str) -> None:
    """The client sends a copy as the file's bytes (regular) or as an lfsFile line without a size
    (``_prepare_commit_payload``); Candor also takes a ``copyFile`` line naming the source."""
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    big = random.Random(8).randbytes(1200 * 1024)
    api.upload_file(path_or_fileobj=big, path_in_repo="weights.bin", repo_id="alice/tiny")
    api.upload_file(path_or_fileobj=b"text\n", path_in_repo="a.txt", repo_id="alice/tiny")
    sha = blobs.hashlib.sha256(big).hexdigest()
    answer = raw_commit(
        site,
        write_token,
        "alice/tiny",
        ndjson(
            HEADER,
            {"key": "lfsFile", "value": {"path": "copy/weights.bin", "algo": "sha256", "oid": sha}},
            {"key": "copyFile", "value": {"path": "copy/a.txt", "srcPath": "a.txt"}},
        ),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["commitOid"] == head_oid(owner, "tiny")
    assert answer.json()["pullRequestUrl"] is None
    assert read_back(owner, "tiny", "copy/weights.bin") == big
    assert read_back(owner, "tiny", "copy/a.txt") == b"text\n"


def test_stale_parent_is_refused(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    first = api.upload_file(path_or_fileobj=b"1\n", path_in_repo="a.txt", repo_id="alice/tiny").oid
    api.upload_file(path_or_fileobj=b"2\n", path_in_repo="b.txt", repo_id="alice/tiny")
    tip = head_oid(owner, "tiny")
    with pytest.raises(HfHubHTTPError) as stale:
        api.upload_file(
            path_or_fileobj=b"3\n", path_in_repo="c.txt", repo_id="alice/tiny", parent_commit=first
        )
    assert stale.value.response.status_code == 412  # what the Hub answers, "a commit has happened since"
    assert "commit has happened since" in str(stale.value)
    assert head_oid(owner, "tiny") == tip
    assert paths_at(owner, "tiny") == {"a.txt", "b.txt"}
    with pytest.raises(HfHubHTTPError) as unknown:
        api.upload_file(
            path_or_fileobj=b"3\n", path_in_repo="c.txt", repo_id="alice/tiny", parent_commit="0" * 40
        )
    assert unknown.value.response.status_code == 412
    assert head_oid(owner, "tiny") == tip


@pytest.mark.parametrize("bad", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "", "a//b", "."])
def test_paths_escaping_the_model_are_refused(
    site: LiveServer, owner: User, write_token: str, bad: str
) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    api.upload_file(path_or_fileobj=b"ok\n", path_in_repo="ok.txt", repo_id="alice/tiny")
    tip = head_oid(owner, "tiny")
    content = base64.b64encode(b"evil\n").decode()
    answer = raw_commit(
        site,
        write_token,
        "alice/tiny",
        ndjson(
            HEADER,
            {"key": "file", "value": {"path": "fine.txt", "content": content, "encoding": "base64"}},
            {"key": "file", "value": {"path": bad, "content": content, "encoding": "base64"}},
        ),
    )
    assert answer.status_code == 400, answer.text
    assert "path" in answer.json()["error"]
    assert head_oid(owner, "tiny") == tip
    assert paths_at(owner, "tiny") == {"ok.txt"}


def test_malformed_commits_are_refused(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    api.upload_file(path_or_fileobj=b"ok\n", path_in_repo="ok.txt", repo_id="alice/tiny")
    tip = head_oid(owner, "tiny")
    bodies = [
        b"",
        b"not json\n",
        ndjson({"key": "file", "value": {"path": "a.txt", "content": ""}}),  # no header first
        ndjson(HEADER, {"key": "file", "value": {"path": "a.txt", "content": "***"}}),
        ndjson(HEADER, {"key": "rename", "value": {"path": "a.txt"}}),
        ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "f" * 64}}),
        ndjson(
            HEADER,
            {"key": "deletedFile", "value": {"path": "a.txt"}},
            {"key": "deletedFile", "value": {"path": "a.txt"}},
        ),
        ndjson({"key": "header", "value": {"summary": "x", "parentCommit": "nope"}}),
        b'{"key": "header", "value": {"summary": "x"}}\n' + b"x" * (3 * 1024 * 1024),  # a line too long
    ]
    for body in bodies:
        answer = raw_commit(site, write_token, "alice/tiny", body)
        assert 400 <= answer.status_code < 500, (body[:80], answer.status_code)
        assert "error" in answer.json()
    good = ndjson(HEADER, {"key": "deletedFile", "value": {"path": "ok.txt"}})
    as_pull_request = raw_commit(site, write_token, "alice/tiny", good, revision="main?create_pr=1")
    assert as_pull_request.status_code == 400
    assert "pull request" in as_pull_request.json()["error"].lower()
    assert head_oid(owner, "tiny") == tip
    assert raw_commit(site, write_token, "alice/tiny", good).status_code == 200  # the same, as a commit


def test_missing_revision_and_pull_requests_are_refused(
    site: LiveServer, owner: User, write_token: str
) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x\n", path_in_repo="a.txt", repo_id="alice/tiny", revision="nope")
    with pytest.raises(BadRequestError) as pr:
        api.upload_file(path_or_fileobj=b"x\n", path_in_repo="a.txt", repo_id="alice/tiny", create_pr=True)
    assert "pull request" in str(pr.value).lower()
    assert head_oid(owner, "tiny") is None
    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(path_or_fileobj=b"x\n", path_in_repo="a.txt", repo_id="alice/none")


# --- Branches and tags -----------------------------------------------------------------------------------


def test_branches_and_tags(site: LiveServer, owner: User, write_token: str) -> None:
    api = hf(site, write_token)
    api.create_repo("alice/tiny")
    with pytest.raises(RevisionNotFoundError):
        api.create_branch("alice/tiny", branch="dev")  # nothing to start from yet
    base = api.upload_file(path_or_fileobj=b"main\n", path_in_repo="a.txt", repo_id="alice/tiny").oid
    api.create_branch("alice/tiny", branch="dev")
    api.create_branch("alice/tiny", branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as taken:
        api.create_branch("alice/tiny", branch="dev")
    assert taken.value.response.status_code == 409

    on_dev = api.upload_file(
        path_or_fileobj=random.Random(2).randbytes(1100 * 1024),
        path_in_repo="w.bin",
        repo_id="alice/tiny",
        revision="dev",
    )
    api.upload_file(path_or_fileobj=b"dev\n", path_in_repo="a.txt", repo_id="alice/tiny", revision="dev")
    assert head_oid(owner, "tiny") == base  # main stays where it was
    assert paths_at(owner, "tiny") == {"a.txt"}
    assert paths_at(owner, "tiny", "dev") == {"a.txt", "w.bin"}
    assert read_back(owner, "tiny", "a.txt", "dev") == b"dev\n"
    assert read_back(owner, "tiny", "a.txt") == b"main\n"
    dev_tip = revisions.resolve(model_of(owner, "tiny"), "dev")
    assert dev_tip is not None and dev_tip.parent is not None and dev_tip.parent.oid == on_dev.oid

    api.create_branch("alice/tiny", branch="feature/x", revision=base)  # a branch name with a slash
    api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id="alice/tiny", revision="feature/x")
    assert paths_at(owner, "tiny", "feature/x") == {"a.txt", "x.txt"}

    api.create_tag("alice/tiny", tag="v1", revision="dev")
    assert revisions.resolve(model_of(owner, "tiny"), "v1") == dev_tip
    api.create_tag("alice/tiny", tag="v1", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as tag_taken:
        api.create_tag("alice/tiny", tag="v1")
    assert tag_taken.value.response.status_code == 409
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"t\n", path_in_repo="t.txt", repo_id="alice/tiny", revision="v1")
    with pytest.raises(RevisionNotFoundError):
        api.delete_branch("alice/tiny", branch="v1")  # a tag is not a branch
    api.delete_tag("alice/tiny", tag="v1")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag("alice/tiny", tag="v1")

    api.delete_branch("alice/tiny", branch="dev")
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"y\n", path_in_repo="y.txt", repo_id="alice/tiny", revision="dev")
    assert Ref.objects.filter(model=model_of(owner, "tiny")).count() == 1
    with pytest.raises(Refusal):
        revisions.resolve(model_of(owner, "tiny"), "dev")
    with pytest.raises(BadRequestError):
        api.delete_branch("alice/tiny", branch="main")
    # The older commits of a deleted branch stay readable by their ids.
    assert read_back(owner, "tiny", "a.txt", dev_tip.oid) == b"dev\n"


def test_upload_folder_through_a_fresh_client(
    site: LiveServer, owner: User, write_token: str, tmp_path: Path
) -> None:
    files = hf_layout(tmp_path / "tiny")
    hf(site, write_token).create_repo("alice/tiny")
    code = (
        "from huggingface_hub import HfApi\n"
        f"info = HfApi().upload_folder(folder_path={str(tmp_path / 'tiny')!r}, repo_id='alice/tiny')\n"
        "print(info.oid)\n"
    )
    done = run_client(
        code, endpoint=site.url, token=write_token, home=tmp_path / "home", HF_HUB_DISABLE_XET="1"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == head_oid(owner, "tiny")
    assert paths_at(owner, "tiny") == set(files)
    for name, data in files.items():
        assert read_back(owner, "tiny", name) == data, name
